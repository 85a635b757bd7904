// The local channel between the pool and an executor: length-prefixed frames on a socket.
// Encoding is a few fixed-width fields; only the node's own processes speak it.
#ifndef VELUM_RUNTIME_CHANNEL_H_
#define VELUM_RUNTIME_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/value.h"

namespace velum {

constexpr uint32_t kMaxChannelFrame = 16 << 20;  // modules travel by path, not in frames
// Descriptors one frame may carry: a module, a call's preopened directories and its stdin
// file (ExecRequest). A frame that arrives with more is refused, and every descriptor it
// brought is closed.
constexpr size_t kMaxPassedFds = 65;

class FrameWriter {
 public:
  void U8(uint8_t v) { buf_.push_back(v); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  void Val(const Value& v) {
    U8(static_cast<uint8_t>(v.type));
    U64(v.lo);
    U64(v.hi);
  }
  const std::vector<uint8_t>& bytes() const { return buf_; }

 private:
  void Raw(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  std::vector<uint8_t> buf_;
};

// Reads fields in order; any overrun sets failed() and yields zeros.
class FrameReader {
 public:
  explicit FrameReader(const std::vector<uint8_t>& buf) : buf_(buf) {}
  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, 1);
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, 4);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, 8);
    return v;
  }
  std::string Str() {
    uint32_t n = U32();
    if (n > buf_.size() - pos_) {
      failed_ = true;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(buf_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  Value Val() {
    Value v;
    uint8_t t = U8();
    if (t > static_cast<uint8_t>(ValType::kExternRef)) failed_ = true;
    v.type = static_cast<ValType>(t);
    v.lo = U64();
    v.hi = U64();
    return v;
  }
  bool failed() const { return failed_; }

 private:
  void Raw(void* p, size_t n) {
    if (n > buf_.size() - pos_) {
      failed_ = true;
      return;
    }
    std::memcpy(p, buf_.data() + pos_, n);
    pos_ += n;
  }
  const std::vector<uint8_t>& buf_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Blocking frame I/O on a stream socket. False on EOF or error.
// `pass_fds` (at most kMaxPassedFds) travel with the frame, in order (SCM_RIGHTS): how a
// confined executor, which cannot open files, receives a module and directories; the caller
// keeps its own copies. `received_fds` gets them in the same order, the caller owning them
// (null: any that come are closed). On false nothing is left open: a frame that came with more
// than kMaxPassedFds, or whose descriptors the kernel had to drop (MSG_CTRUNC: over this
// process's RLIMIT_NOFILE), is refused.
bool WriteFrame(int fd, const std::vector<uint8_t>& frame, const std::vector<int>& pass_fds = {});
bool ReadFrame(int fd, std::vector<uint8_t>* frame, std::vector<int>* received_fds = nullptr);

}  // namespace velum

#endif  // VELUM_RUNTIME_CHANNEL_H_
