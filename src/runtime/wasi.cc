// The WASI preview 1 functions over a lent guest memory. Every pointer and length from the
// guest is checked against the memory before it is used; an out-of-bounds one is EFAULT.
#include "runtime/wasi.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <thread>

#include <unistd.h>

namespace velum {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "WASI memory is little-endian");

namespace {

using T = WasiType;

constexpr uint32_t kMaxIovecs = 1024;  // IOV_MAX: more in one call is EINVAL
// Stdio is captured or a pipe, not the user's terminal: its type is unknown (a character
// device would make wasi-libc's isatty true, and programs would print for a terminal).
constexpr uint8_t kFiletypeUnknown = 0;
constexpr uint64_t kRightFdRead = 1ull << 1, kRightFdWrite = 1ull << 6;

bool InBounds(const WasiMemory& m, uint64_t ptr, uint64_t len) {
  return ptr <= m.size && len <= m.size - ptr;
}

template <typename V>
bool Store(const WasiMemory& m, uint64_t ptr, V value) {
  if (!InBounds(m, ptr, sizeof(V))) return false;
  std::memcpy(m.data + ptr, &value, sizeof(V));
  return true;
}

template <typename V>
bool Load(const WasiMemory& m, uint64_t ptr, V* value) {
  if (!InBounds(m, ptr, sizeof(V))) return false;
  std::memcpy(value, m.data + ptr, sizeof(V));
  return true;
}

uint32_t Arg32(const uint64_t* args, size_t i) { return static_cast<uint32_t>(args[i]); }

bool IsStdio(uint32_t fd) { return fd <= 2; }

}  // namespace

const std::vector<WasiSignature>& WasiFunctions() {
  static const std::vector<WasiSignature> functions = {
      {WasiFunc::kArgsGet, "args_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kArgsSizesGet, "args_sizes_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kEnvironGet, "environ_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kEnvironSizesGet, "environ_sizes_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kClockResGet, "clock_res_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kClockTimeGet, "clock_time_get", {T::kI32, T::kI64, T::kI32}, true},
      {WasiFunc::kFdClose, "fd_close", {T::kI32}, true},
      {WasiFunc::kFdFdstatGet, "fd_fdstat_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdPrestatGet, "fd_prestat_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdPrestatDirName, "fd_prestat_dir_name", {T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kFdRead, "fd_read", {T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kFdSeek, "fd_seek", {T::kI32, T::kI64, T::kI32, T::kI32}, true},
      {WasiFunc::kFdWrite, "fd_write", {T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kProcExit, "proc_exit", {T::kI32}, false},
      {WasiFunc::kRandomGet, "random_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kSchedYield, "sched_yield", {}, true},
  };
  return functions;
}

const WasiSignature* FindWasiFunction(const std::string& name) {
  for (const WasiSignature& s : WasiFunctions())
    if (name == s.name) return &s;
  return nullptr;
}

WasiHost::WasiHost(WasiConfig config) : config_(std::move(config)) {}

WasiHost::~WasiHost() {
  for (const WasiPreopen& p : config_.preopens)
    if (p.fd >= 0) close(p.fd);
}

WasiOutcome WasiHost::Call(WasiFunc func, const uint64_t* args, WasiMemory m) {
  WasiErrno e = WasiErrno::kNosys;
  switch (func) {
    case WasiFunc::kArgsGet:
      e = ArgsOrEnvGet(config_.args, Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kArgsSizesGet:
      e = SizesGet(config_.args, Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kEnvironGet:
      e = ArgsOrEnvGet(config_.env, Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kEnvironSizesGet:
      e = SizesGet(config_.env, Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kClockResGet:
      e = ClockResGet(Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kClockTimeGet:
      e = ClockTimeGet(Arg32(args, 0), Arg32(args, 2), m);  // the precision is a hint
      break;
    case WasiFunc::kFdClose:
      e = IsStdio(Arg32(args, 0)) ? WasiErrno::kSuccess : WasiErrno::kBadf;
      break;
    case WasiFunc::kFdFdstatGet:
      e = FdFdstatGet(Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kFdPrestatGet:
    case WasiFunc::kFdPrestatDirName:
      e = WasiErrno::kBadf;  // no directory is preopened (yet): the guest's scan ends here
      break;
    case WasiFunc::kFdRead:
      e = FdRead(Arg32(args, 0), Arg32(args, 1), Arg32(args, 2), Arg32(args, 3), m);
      break;
    case WasiFunc::kFdSeek:
      e = IsStdio(Arg32(args, 0)) ? WasiErrno::kSpipe : WasiErrno::kBadf;
      break;
    case WasiFunc::kFdWrite:
      e = FdWrite(Arg32(args, 0), Arg32(args, 1), Arg32(args, 2), Arg32(args, 3), m);
      break;
    case WasiFunc::kProcExit:
      exit_code_ = Arg32(args, 0);
      return WasiOutcome{0, exit_code_};
    case WasiFunc::kRandomGet:
      e = RandomGet(Arg32(args, 0), Arg32(args, 1), m);
      break;
    case WasiFunc::kSchedYield:
      std::this_thread::yield();
      e = WasiErrno::kSuccess;
      break;
  }
  return WasiOutcome{static_cast<uint32_t>(e), std::nullopt};
}

WasiErrno WasiHost::ArgsOrEnvGet(const std::vector<std::string>& list, uint32_t ptrs, uint32_t buf,
                                 WasiMemory m) {
  uint64_t at = buf;
  for (size_t i = 0; i < list.size(); i++) {
    const std::string& s = list[i];
    if (!InBounds(m, at, s.size() + 1) || !Store<uint32_t>(m, ptrs + 4ull * i, uint32_t(at)))
      return WasiErrno::kFault;
    std::memcpy(m.data + at, s.c_str(), s.size() + 1);
    at += s.size() + 1;
  }
  return WasiErrno::kSuccess;
}

WasiErrno WasiHost::SizesGet(const std::vector<std::string>& list, uint32_t count_out,
                             uint32_t size_out, WasiMemory m) {
  uint64_t bytes = 0;
  for (const std::string& s : list) bytes += s.size() + 1;
  if (bytes > UINT32_MAX) return WasiErrno::kInval;
  if (!Store<uint32_t>(m, count_out, static_cast<uint32_t>(list.size())) ||
      !Store<uint32_t>(m, size_out, static_cast<uint32_t>(bytes)))
    return WasiErrno::kFault;
  return WasiErrno::kSuccess;
}

namespace {
struct Iovec {
  uint32_t ptr = 0, len = 0;
};

// The guest's iovec array, every entry checked against the memory before any I/O is done
// (a bad entry later in the array must not leave earlier ones half done). Empty: a fault.
std::optional<std::vector<Iovec>> LoadIovecs(const WasiMemory& m, uint32_t iovs, uint32_t count) {
  std::vector<Iovec> out(count);
  for (uint32_t i = 0; i < count; i++) {
    if (!Load(m, iovs + 8ull * i, &out[i].ptr) || !Load(m, iovs + 8ull * i + 4, &out[i].len) ||
        !InBounds(m, out[i].ptr, out[i].len))
      return std::nullopt;
  }
  return out;
}
}  // namespace

WasiErrno WasiHost::FdWrite(uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten_out,
                            WasiMemory m) {
  if (fd != 1 && fd != 2) return WasiErrno::kBadf;
  if (iovs_len > kMaxIovecs) return WasiErrno::kInval;
  auto vecs = LoadIovecs(m, iovs, iovs_len);
  if (!vecs || !InBounds(m, nwritten_out, 4)) return WasiErrno::kFault;
  uint64_t& written = fd == 1 ? stdout_bytes_ : stderr_bytes_;
  uint64_t total = 0;
  for (const Iovec& v : *vecs) {
    uint64_t room = config_.max_output_bytes - std::min(written, config_.max_output_bytes);
    uint64_t n = std::min<uint64_t>(v.len, room);
    if (n < v.len) truncated_ = true;
    if (n > 0 && config_.output && !config_.output(static_cast<int>(fd), m.data + v.ptr, n)) break;
    written += n;
    total += n;
    if (n < v.len) break;
  }
  // Nothing written although something was asked: the cap or the sink refused it.
  bool asked = false;
  for (const Iovec& v : *vecs) asked = asked || v.len > 0;
  if (asked && total == 0) return WasiErrno::kIo;
  Store<uint32_t>(m, nwritten_out, static_cast<uint32_t>(total));
  return WasiErrno::kSuccess;
}

WasiErrno WasiHost::FdRead(uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nread_out,
                           WasiMemory m) {
  if (fd != 0) return WasiErrno::kBadf;
  if (iovs_len > kMaxIovecs) return WasiErrno::kInval;
  auto vecs = LoadIovecs(m, iovs, iovs_len);
  if (!vecs || !InBounds(m, nread_out, 4)) return WasiErrno::kFault;
  uint64_t total = 0;
  for (const Iovec& v : *vecs) {
    if (stdin_closed_) break;
    if (v.len == 0) continue;
    if (!config_.input) {
      stdin_closed_ = true;
      break;
    }
    std::optional<size_t> got = config_.input(m.data + v.ptr, v.len);
    if (!got) {
      if (total == 0) return WasiErrno::kIo;
      break;  // what was read so far is the answer; the error comes again next time
    }
    if (*got == 0) stdin_closed_ = true;
    total += *got;
    if (*got < v.len) break;  // what is there now: the guest asks again
  }
  Store<uint32_t>(m, nread_out, static_cast<uint32_t>(total));
  return WasiErrno::kSuccess;
}

WasiErrno WasiHost::FdFdstatGet(uint32_t fd, uint32_t out, WasiMemory m) {
  if (!IsStdio(fd)) return WasiErrno::kBadf;
  if (!InBounds(m, out, 24)) return WasiErrno::kFault;
  std::memset(m.data + out, 0, 24);
  Store<uint8_t>(m, out, kFiletypeUnknown);
  Store<uint64_t>(m, out + 8ull, fd == 0 ? kRightFdRead : kRightFdWrite);
  return WasiErrno::kSuccess;
}

namespace {
std::optional<clockid_t> ClockOf(uint32_t id) {
  switch (id) {
    case 0:
      return CLOCK_REALTIME;
    case 1:
      return CLOCK_MONOTONIC;
    case 2:
      return CLOCK_PROCESS_CPUTIME_ID;
    case 3:
      return CLOCK_THREAD_CPUTIME_ID;
    default:
      return std::nullopt;
  }
}
}  // namespace

namespace {
// A clock's time or resolution (`read`: clock_gettime or clock_getres), in nanoseconds at `out`.
WasiErrno StoreClock(uint32_t id, uint32_t out, WasiMemory m, int (*read)(clockid_t, timespec*)) {
  auto clock = ClockOf(id);
  if (!clock) return WasiErrno::kInval;
  timespec ts{};
  if (read(*clock, &ts) != 0) return WasiErrno::kIo;
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
  return Store<uint64_t>(m, out, ns) ? WasiErrno::kSuccess : WasiErrno::kFault;
}
}  // namespace

WasiErrno WasiHost::ClockTimeGet(uint32_t id, uint32_t out, WasiMemory m) {
  return StoreClock(id, out, m, clock_gettime);
}

WasiErrno WasiHost::ClockResGet(uint32_t id, uint32_t out, WasiMemory m) {
  return StoreClock(id, out, m, clock_getres);
}

WasiErrno WasiHost::RandomGet(uint32_t buf, uint32_t len, WasiMemory m) {
  if (!InBounds(m, buf, len)) return WasiErrno::kFault;
  randombytes_buf(m.data + buf, len);
  return WasiErrno::kSuccess;
}

}  // namespace velum
