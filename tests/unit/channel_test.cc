// Tests of the pool-executor channel: frames carry several descriptors in order, at most
// kMaxPassedFds, and none is ever left open by a frame refused; requests carry preopens.
#include "runtime/channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/executor.h"
#include "test_util.h"

namespace velum {
namespace {

// Descriptors open in this process now.
size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n++;
  return n;
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_), 0); }
  void TearDown() override {
    close(sv_[0]);
    close(sv_[1]);
  }
  int sv_[2] = {-1, -1};
};

// Pipes whose read ends travel: what arrives reads what was written to the matching pipe.
TEST_F(ChannelTest, SeveralDescriptorsArriveInOrderWithTheirFrame) {
  int pipes[3][2];
  std::vector<int> ends;
  for (auto& p : pipes) {
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    ends.push_back(p[0]);
  }
  ASSERT_TRUE(WriteFrame(sv_[0], {1, 2, 3}, ends));
  ASSERT_TRUE(WriteFrame(sv_[0], {4}));  // the next frame brings none
  for (int i = 0; i < 3; i++) {
    char c = static_cast<char>('a' + i);
    ASSERT_EQ(write(pipes[i][1], &c, 1), 1);
    close(pipes[i][0]);
    close(pipes[i][1]);
  }
  std::vector<uint8_t> frame;
  std::vector<int> got;
  ASSERT_TRUE(ReadFrame(sv_[1], &frame, &got));
  EXPECT_EQ(frame, (std::vector<uint8_t>{1, 2, 3}));
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; i++) {
    char c = 0;
    EXPECT_EQ(read(got[i], &c, 1), 1);
    EXPECT_EQ(c, 'a' + i) << "descriptor " << i << " is not the pipe sent in that place";
    EXPECT_EQ(fcntl(got[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(got[i]);
  }
  ASSERT_TRUE(ReadFrame(sv_[1], &frame, &got));
  EXPECT_EQ(frame, std::vector<uint8_t>{4});
  EXPECT_TRUE(got.empty());
}

TEST_F(ChannelTest, NoMoreThanTheLimitIsSent) {
  std::vector<int> many(kMaxPassedFds + 1, 0);  // stdin, 66 times
  EXPECT_FALSE(WriteFrame(sv_[0], {1}, many));
  many.pop_back();
  ASSERT_TRUE(WriteFrame(sv_[0], {1}, many));
  size_t before = OpenFds();
  std::vector<uint8_t> frame;
  std::vector<int> got;
  ASSERT_TRUE(ReadFrame(sv_[1], &frame, &got));
  EXPECT_EQ(got.size(), kMaxPassedFds);
  for (int fd : got) close(fd);
  EXPECT_EQ(OpenFds(), before);
}

// A reader that expects no descriptor closes those that come.
TEST_F(ChannelTest, UnexpectedDescriptorsAreClosed) {
  size_t before = OpenFds();
  ASSERT_TRUE(WriteFrame(sv_[0], {7}, {0, 1, 2}));
  std::vector<uint8_t> frame;
  ASSERT_TRUE(ReadFrame(sv_[1], &frame));
  EXPECT_EQ(frame, std::vector<uint8_t>{7});
  EXPECT_EQ(OpenFds(), before);
}

// A peer that sends more than kMaxPassedFds, by hand: the frame is refused and every
// descriptor it brought is closed.
TEST_F(ChannelTest, AFrameWithTooManyDescriptorsIsRefusedAndLeaksNone) {
  const size_t count = kMaxPassedFds + 6;
  std::vector<int> fds(count, 0);
  uint8_t bytes[5] = {1, 0, 0, 0, 9};  // a frame of one byte
  std::vector<char> control(CMSG_SPACE(sizeof(int) * count));
  iovec iov{bytes, sizeof bytes};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * count);
  ASSERT_EQ(sendmsg(sv_[0], &msg, 0), static_cast<ssize_t>(sizeof bytes));
  size_t before = OpenFds();
  std::vector<uint8_t> frame;
  std::vector<int> got;
  EXPECT_FALSE(ReadFrame(sv_[1], &frame, &got));
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(OpenFds(), before);
}

TEST(ExecRequest, PreopensTravelWithTheRequest) {
  ExecRequest req;
  req.module_attached = true;
  req.module_hash = "ab";
  req.wasi = true;
  req.wasi_preopens = {{"/data", false}, {".", true}};
  EXPECT_EQ(req.PassedFds(), 3u);
  ExecRequest back;
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  ASSERT_EQ(back.wasi_preopens.size(), 2u);
  EXPECT_EQ(back.wasi_preopens[0].guest_path, "/data");
  EXPECT_FALSE(back.wasi_preopens[0].read_only);
  EXPECT_EQ(back.wasi_preopens[1].guest_path, ".");
  EXPECT_TRUE(back.wasi_preopens[1].read_only);
  EXPECT_EQ(back.PassedFds(), 3u);
  // More than fit beside a module in one frame, or a flag that is not one: malformed.
  req.wasi_preopens.assign(kMaxPreopens + 1, {"/x", false});
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back));
  req.wasi_preopens = {{"/x", true}};
  std::vector<uint8_t> frame = req.Encode();
  // The last preopen's flag comes before the stdin fields (a flag byte and an empty string),
  // the streaming flag and the stdin-file flag.
  uint8_t& flag = frame[frame.size() - 1 - 1 - 1 - 4 - 1];
  ASSERT_EQ(flag, 1);
  flag = 2;
  EXPECT_FALSE(ExecRequest::Decode(frame, &back));
}

// A module reducer's fold travels in the request: tuples of fold_arity values, bounded.
TEST(ExecRequest, FoldTravelsWholeAndBounded) {
  ExecRequest req;
  req.module_hash = "ab";
  req.func = "prod2";
  req.args = {Value::I64(-5), Value::I64(5)};
  req.fold_func = "matmul2";
  req.fold_arity = 2;
  req.fold_values = {Value::I64(1), Value::I64(-1)};
  ExecRequest back;
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  EXPECT_EQ(back.fold_func, "matmul2");
  EXPECT_EQ(back.fold_arity, 2u);
  ASSERT_EQ(back.fold_values.size(), 2u);
  EXPECT_EQ(back.fold_values[1].i64(), -1);
  EXPECT_EQ(back.args.size(), 2u);
  req.func.clear();  // a fold alone (a coordinator's): at least one tuple
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  req.fold_values.clear();
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back)) << "nothing to fold";
  req.fold_values.assign(kMaxFoldValues, Value::I64(7));
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  req.fold_values.resize(kMaxFoldValues + 2, Value::I64(7));
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back)) << "over kMaxFoldValues";
  req.fold_values = {Value::I64(1), Value::I64(2), Value::I64(3)};
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back)) << "not whole tuples";
  req.fold_arity = 0;
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back)) << "tuples of no values";
  req.fold_func.clear();
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back)) << "values without a reducer";
}

// An executor runs untrusted code: an output frame it sends is checked before the pool hands
// it on, and no output frame reads as a response or the reverse.
TEST(ExecOutput, OnlyWellFormedOutputFramesAreTaken) {
  ExecOutput out;
  out.stream = 2;
  out.data = std::string("line\n\0with a nul", 16);
  std::vector<uint8_t> frame = out.Encode();
  ExecOutput back;
  ASSERT_TRUE(ExecOutput::IsOutput(frame) && ExecOutput::Decode(frame, &back));
  EXPECT_EQ(back.stream, 2);
  EXPECT_EQ(back.data, out.data);
  ExecResponse resp;
  EXPECT_FALSE(ExecResponse::Decode(frame, &resp));
  EXPECT_FALSE(ExecOutput::IsOutput(ExecResponse{}.Encode()));
  std::vector<uint8_t> bad = frame;
  bad[1] = 3;  // a stream that is not stdout or stderr
  EXPECT_FALSE(ExecOutput::Decode(bad, &back));
  bad = frame;
  bad.resize(bad.size() - 1);  // cut short
  EXPECT_FALSE(ExecOutput::Decode(bad, &back));
  bad = {ExecOutput::kOutputFrameTag, 1, 0xFF, 0xFF, 0xFF, 0xFF};  // a 4 GiB length
  EXPECT_FALSE(ExecOutput::Decode(bad, &back));
  EXPECT_FALSE(ExecOutput::Decode({}, &back));
}

TEST(ExecRequest, StdinBytesTravelBoundedAndFlagged) {
  ExecRequest req;
  req.wasi = true;
  ExecRequest back;
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  EXPECT_FALSE(back.wasi_stdin_given);  // the executor's own stdin, as velum run wants
  EXPECT_FALSE(back.wasi_stream);
  std::vector<uint8_t> streaming = req.Encode();
  uint8_t& stream = streaming[streaming.size() - 2];  // before the stdin-file flag
  stream = 1;
  ASSERT_TRUE(ExecRequest::Decode(streaming, &back));
  EXPECT_TRUE(back.wasi_stream);
  stream = 2;  // a flag that is not one
  EXPECT_FALSE(ExecRequest::Decode(streaming, &back));
  req.wasi_stdin_given = true;  // given and empty: end of file at once
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  EXPECT_TRUE(back.wasi_stdin_given);
  EXPECT_EQ(back.wasi_stdin, "");
  req.wasi_stdin = std::string("a\0b\n", 4);
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  EXPECT_EQ(back.wasi_stdin, std::string("a\0b\n", 4));
  req.wasi_stdin.assign(kMaxWasiStdinBytes, 'x');
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  EXPECT_EQ(back.wasi_stdin.size(), kMaxWasiStdinBytes);
  // Over the cap, bytes without the flag, or a flag that is not one: malformed.
  req.wasi_stdin.push_back('x');
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back));
  req.wasi_stdin = "x";
  req.wasi_stdin_given = false;
  EXPECT_FALSE(ExecRequest::Decode(req.Encode(), &back));
  req.wasi_stdin.clear();
  std::vector<uint8_t> frame = req.Encode();
  uint8_t& flag = frame[frame.size() - 1 - 4];
  ASSERT_EQ(flag, 0);
  flag = 2;
  EXPECT_FALSE(ExecRequest::Decode(frame, &back));
  // A truncated frame is malformed, never a crash.
  frame = req.Encode();
  frame.resize(frame.size() - 2);
  EXPECT_FALSE(ExecRequest::Decode(frame, &back));
}

TEST(ExecRequest, StdinFileTravelsAsTheLastDescriptor) {
  ExecRequest req;
  req.wasi = true;
  req.module_attached = true;
  req.wasi_preopens = {{"/data", true}};
  req.wasi_stdin_attached = true;
  EXPECT_EQ(req.PassedFds(), 3u);  // module, the directory, then stdin
  ExecRequest back;
  ASSERT_TRUE(ExecRequest::Decode(req.Encode(), &back));
  EXPECT_TRUE(back.wasi_stdin_attached);
  EXPECT_EQ(back.PassedFds(), 3u);
  // Not beside stdin bytes, not for a call that is not WASI, and a flag is 0 or 1.
  ExecRequest both = req;
  both.wasi_stdin_given = true;
  EXPECT_FALSE(ExecRequest::Decode(both.Encode(), &back));
  ExecRequest plain = req;
  plain.wasi = false;
  plain.wasi_preopens.clear();
  EXPECT_FALSE(ExecRequest::Decode(plain.Encode(), &back));
  std::vector<uint8_t> frame = req.Encode();
  frame.back() = 2;
  EXPECT_FALSE(ExecRequest::Decode(frame, &back));
}

}  // namespace
}  // namespace velum
