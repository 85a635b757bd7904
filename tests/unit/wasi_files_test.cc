// The WASI host's files (runtime/wasi_files.h) against a real folder: nothing outside a preopen
// is reachable by any path, a read-only preopen changes nothing, and every table is bounded.
#include "runtime/wasi_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace velum {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kOk = 0, kBadf = 8, kExist = 20, kFault = 21, kIntr = 27, kInval = 28,
                   kIsdir = 31, kLoop = 32, kMfile = 33, kNoent = 44, kPerm = 63, kNotcapable = 76;
// WASI rights and flags the tests use.
constexpr uint64_t kRightRead = 1ull << 1, kRightWrite = 1ull << 6;
constexpr uint32_t kCreat = 1, kODirectory = 2, kFollow = 1;

struct Guest {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(1 << 16);
  WasiMemory memory() { return WasiMemory{bytes.data(), bytes.size()}; }
  uint32_t U32(uint32_t at) const {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  }
  // Puts `s` at `at` and returns its length, for a (pointer, length) argument pair.
  uint32_t Put(uint32_t at, const std::string& s) {
    std::memcpy(bytes.data() + at, s.data(), s.size());
    return static_cast<uint32_t>(s.size());
  }
};

// A folder holding `root` (preopened) beside `secret` (which no guest path may reach).
class WasiFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/velum-wasi-files-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    fs::create_directories(base_ / "root" / "sub");
    std::ofstream(base_ / "secret") << "secret";
    std::ofstream(base_ / "root" / "file") << "hello";
    fs::create_symlink("../secret", base_ / "root" / "out");
    fs::create_symlink("file", base_ / "root" / "in");
  }
  void TearDown() override { fs::remove_all(base_); }

  WasiHost Host(bool read_only = false) {
    WasiConfig c;
    int fd = open((base_ / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    c.preopens.push_back({fd, "/", read_only});
    return WasiHost(std::move(c));
  }

  uint32_t Call(WasiHost& host, WasiFunc f, std::vector<uint64_t> args) {
    args.resize(kMaxWasiParams);
    return host.Call(f, args.data(), g_.memory()).errno_value;
  }
  // path_open beneath the preopen (fd 3); the new descriptor is at 8 in guest memory.
  uint32_t Open(WasiHost& host, const std::string& path, uint32_t oflags = 0,
                uint64_t rights = kRightRead, uint32_t lookup = kFollow) {
    uint32_t len = g_.Put(1024, path);
    return Call(host, WasiFunc::kPathOpen, {3, lookup, 1024, len, oflags, rights, rights, 0, 8});
  }
  uint32_t OnPath(WasiHost& host, WasiFunc f, const std::string& path) {
    uint32_t len = g_.Put(1024, path);
    return Call(host, f, {3, 1024, len});
  }

  fs::path base_;
  Guest g_;
};

TEST_F(WasiFilesTest, NoPathLeadsOutOfThePreopen) {
  WasiHost host = Host();
  EXPECT_EQ(Open(host, "file"), kOk);
  EXPECT_EQ(Open(host, "in"), kOk);  // a symlink that stays inside is followed
  for (const char* escape :
       {"../secret", "/etc/passwd", "sub/../../secret", "out", "/", "//", "sub/../../root/file"})
    EXPECT_EQ(Open(host, escape), kNotcapable) << escape;
  EXPECT_EQ(Open(host, "out", 0, kRightRead, 0), kLoop);  // not followed: a symlink is no file
  EXPECT_EQ(Open(host, std::string("file\0x", 6)), kInval);
  uint32_t len = g_.Put(1024, "../secret");
  EXPECT_EQ(Call(host, WasiFunc::kPathFilestatGet, {3, kFollow, 1024, len, 2048}), kNotcapable);
  len = g_.Put(1024, "out");
  EXPECT_EQ(Call(host, WasiFunc::kPathFilestatGet, {3, kFollow, 1024, len, 2048}), kNotcapable);
  // Renamed, linked or removed out of the preopen: refused before the kernel sees the path.
  uint32_t to = g_.Put(1100, "../moved");
  EXPECT_EQ(Call(host, WasiFunc::kPathRename, {3, 1024, len, 3, 1100, to}), kNotcapable);
  len = g_.Put(1024, "file");
  EXPECT_EQ(Call(host, WasiFunc::kPathLink, {3, 0, 1024, len, 3, 1100, to}), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathUnlinkFile, "../secret"), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathRemoveDirectory, "/tmp"), kNotcapable);
  // A link to an absolute path is refused; one pointing out is made, never followed.
  uint32_t target = g_.Put(1200, "/etc/passwd");
  len = g_.Put(1024, "abs");
  EXPECT_EQ(Call(host, WasiFunc::kPathSymlink, {1200, target, 3, 1024, len}), kPerm);
  EXPECT_TRUE(fs::exists(base_ / "secret"));
  EXPECT_FALSE(fs::exists(base_ / "moved"));
}

// A symbolic link the program makes that points out ("../secret") is never followed, also
// when named with a trailing slash (which the kernel follows by itself at the last step), nor
// is a last ".." that leaves the preopen: no error tells what exists outside.
TEST_F(WasiFilesTest, NoErrorTellsWhatExistsOutside) {
  fs::create_directories(base_ / "outside_dir");
  WasiHost host = Host();
  uint32_t target = g_.Put(1200, "../outside_dir");
  uint32_t len = g_.Put(1024, "probe");
  ASSERT_EQ(Call(host, WasiFunc::kPathSymlink, {1200, target, 3, 1024, len}), kOk);
  len = g_.Put(1024, "probe/");
  EXPECT_EQ(Call(host, WasiFunc::kPathReadlink, {3, 1024, len, 2000, 100, 16}), kNotcapable);
  uint32_t to = g_.Put(1100, "x");
  EXPECT_EQ(Call(host, WasiFunc::kPathLink, {3, 0, 1024, len, 3, 1100, to}), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathRemoveDirectory, "probe/"), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathUnlinkFile, ".."), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathRemoveDirectory, "sub/../.."), kNotcapable);
  EXPECT_TRUE(fs::is_directory(base_ / "outside_dir"));
}

// A FIFO planted in the folder is refused at once: opening it would block the host.
TEST_F(WasiFilesTest, SpecialFilesAreRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((base_ / "root" / "fifo").c_str(), 0644), 0);
  WasiHost host = Host();
  EXPECT_EQ(Open(host, "fifo"), 58u /* ENOTSUP */);
  EXPECT_NE(Open(host, "fifo", 0, kRightWrite), kOk);  // ENXIO: no reader, and no wait for one
}

// Directory listings kept for fd_readdir count against one budget across descriptors.
TEST_F(WasiFilesTest, ListingsAreBoundedAcrossDescriptors) {
  std::string pad(200, 'n');
  for (int i = 0; i < 2000; i++) std::ofstream(base_ / "root" / "sub" / (pad + std::to_string(i)));
  WasiHost host = Host();
  uint32_t r = kOk;
  int listed = 0;
  for (; listed < 400 && r == kOk; listed++) {
    ASSERT_EQ(Open(host, "sub", kODirectory, 1ull << 14), kOk);
    r = Call(host, WasiFunc::kFdReaddir, {g_.U32(8), 4096, 64, 0, 16});
  }
  EXPECT_EQ(r, 48u /* ENOMEM */);
  EXPECT_GT(listed, 10);
}

TEST_F(WasiFilesTest, AReadOnlyPreopenChangesNothing) {
  WasiHost host = Host(/*read_only=*/true);
  EXPECT_EQ(Open(host, "file"), kOk);
  EXPECT_EQ(Open(host, "file", 0, kRightRead | kRightWrite), kNotcapable);
  EXPECT_EQ(Open(host, "new", kCreat), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathCreateDirectory, "d"), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathUnlinkFile, "file"), kNotcapable);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathRemoveDirectory, "sub"), kNotcapable);
  EXPECT_TRUE(fs::exists(base_ / "root" / "file"));
  EXPECT_FALSE(fs::exists(base_ / "root" / "new"));
}

TEST_F(WasiFilesTest, FilesAreCreatedReadAndWrittenBeneathThePreopen) {
  WasiHost host = Host();
  ASSERT_EQ(Open(host, "sub/new", kCreat, kRightRead | kRightWrite), kOk);
  uint32_t fd = g_.U32(8);
  uint32_t n = g_.Put(3000, "data");
  uint32_t iov[2] = {3000, n};
  std::memcpy(g_.bytes.data() + 2000, iov, 8);
  ASSERT_EQ(Call(host, WasiFunc::kFdWrite, {fd, 2000, 1, 16}), kOk);
  EXPECT_EQ(g_.U32(16), 4u);
  EXPECT_EQ(Call(host, WasiFunc::kFdClose, {fd}), kOk);
  EXPECT_EQ(Call(host, WasiFunc::kFdClose, {fd}), kBadf);
  std::ifstream in(base_ / "root" / "sub" / "new");
  std::string got;
  in >> got;
  EXPECT_EQ(got, "data");
  EXPECT_EQ(Open(host, "sub/new", kCreat | 4 /* excl */), kExist);
  EXPECT_EQ(Open(host, "missing"), kNoent);
  EXPECT_EQ(Open(host, "sub", kODirectory, kRightRead | kRightWrite), kIsdir);
  EXPECT_EQ(OnPath(host, WasiFunc::kPathCreateDirectory, "sub/d"), kOk);
  EXPECT_TRUE(fs::is_directory(base_ / "root" / "sub" / "d"));
}

TEST_F(WasiFilesTest, GuestPointersAreChecked) {
  WasiHost host = Host();
  uint64_t size = g_.bytes.size();
  EXPECT_EQ(Call(host, WasiFunc::kPathOpen, {3, 0, size - 2, 4, 0, kRightRead, 0, 0, 8}), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kPathOpen, {3, 0, 1024, 1, 0, kRightRead, 0, 0, size}), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kFdPrestatDirName, {3, size, 1}), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kFdReaddir, {3, size - 10, 100, 0, 8}), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kPollOneoff, {0, size - 8, 1, 8}), kFault);
}

TEST_F(WasiFilesTest, DescriptorsAreBounded) {
  WasiHost host = Host();
  std::vector<uint32_t> fds;
  uint32_t r = kOk;
  for (uint32_t i = 0; i <= kMaxWasiDescriptors && r == kOk; i++) {
    r = Open(host, "file");
    if (r == kOk) fds.push_back(g_.U32(8));
  }
  EXPECT_EQ(r, kMfile);
  EXPECT_EQ(fds.size(), kMaxWasiDescriptors - 4);  // stdio and the preopen hold 4
  ASSERT_EQ(Call(host, WasiFunc::kFdClose, {fds[10]}), kOk);
  ASSERT_EQ(Open(host, "file"), kOk);
  EXPECT_EQ(g_.U32(8), fds[10]);  // the lowest free number, as POSIX
}

TEST_F(WasiFilesTest, ReaddirPagesThroughASmallBuffer) {
  for (int i = 0; i < 50; i++) std::ofstream(base_ / "root" / "sub" / ("f" + std::to_string(i)));
  WasiHost host = Host();
  ASSERT_EQ(Open(host, "sub", kODirectory, 1ull << 14 /* fd_readdir */), kOk);
  uint32_t dir = g_.U32(8);
  std::set<std::string> names;
  uint64_t cookie = 0;
  for (int calls = 0; calls < 1000; calls++) {
    const uint32_t buf = 4096, len = 100;
    ASSERT_EQ(Call(host, WasiFunc::kFdReaddir, {dir, buf, len, cookie, 16}), kOk);
    uint32_t used = g_.U32(16);
    uint32_t at = 0;
    // Whole entries only; a cut one is asked for again from its cookie.
    while (at + 24 <= used) {
      uint64_t next;
      uint32_t namlen;
      std::memcpy(&next, g_.bytes.data() + buf + at, 8);
      std::memcpy(&namlen, g_.bytes.data() + buf + at + 16, 4);
      if (at + 24 + namlen > used) break;
      names.insert(std::string(reinterpret_cast<char*>(g_.bytes.data() + buf + at + 24), namlen));
      cookie = next;
      at += 24 + namlen;
    }
    if (used < len) break;
  }
  EXPECT_EQ(names.size(), 52u);  // f0..f49, "." and ".."
  EXPECT_TRUE(names.count("f49"));
}

TEST_F(WasiFilesTest, PollSleepsForAClockButNeverPastTheDeadline) {
  WasiConfig c;
  c.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  WasiHost host(std::move(c));
  // One clock subscription: userdata 7, relative, 10 s.
  uint8_t sub[48] = {};
  uint64_t userdata = 7, timeout = 10'000'000'000ull;
  std::memcpy(sub, &userdata, 8);
  std::memcpy(sub + 24, &timeout, 8);
  std::memcpy(g_.bytes.data() + 100, sub, 48);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(host, WasiFunc::kPollOneoff, {100, 200, 1, 8}), kIntr);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(Call(host, WasiFunc::kPollOneoff, {100, 200, 0, 8}), kInval);

  WasiHost free_host{WasiConfig{}};
  timeout = 1'000'000;  // 1 ms
  std::memcpy(g_.bytes.data() + 100 + 24, &timeout, 8);
  ASSERT_EQ(Call(free_host, WasiFunc::kPollOneoff, {100, 200, 1, 8}), kOk);
  EXPECT_EQ(g_.U32(8), 1u);
  EXPECT_EQ(g_.U32(200), 7u);
  // stdout is always ready to write.
  sub[8] = 2;
  uint32_t one = 1;
  std::memcpy(sub + 16, &one, 4);
  std::memcpy(g_.bytes.data() + 100, sub, 48);
  ASSERT_EQ(Call(free_host, WasiFunc::kPollOneoff, {100, 200, 1, 8}), kOk);
  EXPECT_EQ(g_.U32(8), 1u);
}

TEST_F(WasiFilesTest, APreopenCanBeClosedAndRenumbered) {
  WasiHost host = Host();
  ASSERT_EQ(Open(host, "file"), kOk);
  uint32_t fd = g_.U32(8);
  EXPECT_EQ(Call(host, WasiFunc::kFdPrestatGet, {3, 8}), kOk);
  EXPECT_EQ(Call(host, WasiFunc::kFdPrestatGet, {fd, 8}), kBadf);
  EXPECT_EQ(Call(host, WasiFunc::kFdRenumber, {3, fd}), kOk);
  EXPECT_EQ(Call(host, WasiFunc::kFdPrestatGet, {fd, 8}), kOk);
  EXPECT_EQ(Call(host, WasiFunc::kFdPrestatGet, {3, 8}), kBadf);
  EXPECT_EQ(Call(host, WasiFunc::kFdClose, {fd}), kOk);
  EXPECT_EQ(Call(host, WasiFunc::kFdRenumber, {fd, 1}), kBadf);
  // Sockets: none here; a descriptor that is not one says so.
  EXPECT_EQ(Call(host, WasiFunc::kSockShutdown, {1, 0}), 57u);
  EXPECT_EQ(Call(host, WasiFunc::kSockShutdown, {99, 0}), kBadf);
}

}  // namespace
}  // namespace velum
