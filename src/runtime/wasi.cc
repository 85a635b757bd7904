// The WASI preview 1 functions over a lent guest memory. Every pointer and length from the
// guest is checked against the memory before it is used; an out-of-bounds one is EFAULT.
#include "runtime/wasi.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <thread>

#include "core/assert.h"
#include "runtime/wasi_files.h"
#include "runtime/wasi_guest.h"

namespace velum {

using namespace wasi_guest;  // NOLINT: the guest memory helpers are this file's vocabulary

namespace {
using T = WasiType;
}  // namespace

const std::vector<WasiSignature>& WasiFunctions() {
  static const std::vector<WasiSignature> functions = {
      {WasiFunc::kArgsGet, "args_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kArgsSizesGet, "args_sizes_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kEnvironGet, "environ_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kEnvironSizesGet, "environ_sizes_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kClockResGet, "clock_res_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kClockTimeGet, "clock_time_get", {T::kI32, T::kI64, T::kI32}, true},
      {WasiFunc::kFdAdvise, "fd_advise", {T::kI32, T::kI64, T::kI64, T::kI32}, true},
      {WasiFunc::kFdAllocate, "fd_allocate", {T::kI32, T::kI64, T::kI64}, true},
      {WasiFunc::kFdClose, "fd_close", {T::kI32}, true},
      {WasiFunc::kFdDatasync, "fd_datasync", {T::kI32}, true},
      {WasiFunc::kFdFdstatGet, "fd_fdstat_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdFdstatSetFlags, "fd_fdstat_set_flags", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdFdstatSetRights, "fd_fdstat_set_rights", {T::kI32, T::kI64, T::kI64}, true},
      {WasiFunc::kFdFilestatGet, "fd_filestat_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdFilestatSetSize, "fd_filestat_set_size", {T::kI32, T::kI64}, true},
      {WasiFunc::kFdFilestatSetTimes,
       "fd_filestat_set_times",
       {T::kI32, T::kI64, T::kI64, T::kI32},
       true},
      {WasiFunc::kFdPread, "fd_pread", {T::kI32, T::kI32, T::kI32, T::kI64, T::kI32}, true},
      {WasiFunc::kFdPrestatGet, "fd_prestat_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdPrestatDirName, "fd_prestat_dir_name", {T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kFdPwrite, "fd_pwrite", {T::kI32, T::kI32, T::kI32, T::kI64, T::kI32}, true},
      {WasiFunc::kFdRead, "fd_read", {T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kFdReaddir, "fd_readdir", {T::kI32, T::kI32, T::kI32, T::kI64, T::kI32}, true},
      {WasiFunc::kFdRenumber, "fd_renumber", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdSeek, "fd_seek", {T::kI32, T::kI64, T::kI32, T::kI32}, true},
      {WasiFunc::kFdSync, "fd_sync", {T::kI32}, true},
      {WasiFunc::kFdTell, "fd_tell", {T::kI32, T::kI32}, true},
      {WasiFunc::kFdWrite, "fd_write", {T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kPathCreateDirectory, "path_create_directory", {T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kPathFilestatGet,
       "path_filestat_get",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32},
       true},
      {WasiFunc::kPathFilestatSetTimes,
       "path_filestat_set_times",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI64, T::kI64, T::kI32},
       true},
      {WasiFunc::kPathLink,
       "path_link",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32, T::kI32, T::kI32},
       true},
      {WasiFunc::kPathOpen,
       "path_open",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32, T::kI64, T::kI64, T::kI32, T::kI32},
       true},
      {WasiFunc::kPathReadlink,
       "path_readlink",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32, T::kI32},
       true},
      {WasiFunc::kPathRemoveDirectory, "path_remove_directory", {T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kPathRename,
       "path_rename",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32, T::kI32},
       true},
      {WasiFunc::kPathSymlink, "path_symlink", {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kPathUnlinkFile, "path_unlink_file", {T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kPollOneoff, "poll_oneoff", {T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kProcExit, "proc_exit", {T::kI32}, false},
      {WasiFunc::kProcRaise, "proc_raise", {T::kI32}, true},
      {WasiFunc::kRandomGet, "random_get", {T::kI32, T::kI32}, true},
      {WasiFunc::kSchedYield, "sched_yield", {}, true},
      {WasiFunc::kSockAccept, "sock_accept", {T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kSockRecv,
       "sock_recv",
       {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32, T::kI32},
       true},
      {WasiFunc::kSockSend, "sock_send", {T::kI32, T::kI32, T::kI32, T::kI32, T::kI32}, true},
      {WasiFunc::kSockShutdown, "sock_shutdown", {T::kI32, T::kI32}, true},
  };
  VELUM_ASSERT(functions.size() == static_cast<size_t>(WasiFunc::kSockShutdown) + 1);
  for (const WasiSignature& s : functions) VELUM_ASSERT(s.params.size() <= kMaxWasiParams);
  return functions;
}

const WasiSignature* FindWasiFunction(const std::string& name) {
  for (const WasiSignature& s : WasiFunctions())
    if (name == s.name) return &s;
  return nullptr;
}

WasiHost::WasiHost(WasiConfig config)
    : config_(std::move(config)),
      files_(std::make_unique<WasiFiles>(std::move(config_.preopens), config_.deadline)) {}

WasiHost::~WasiHost() = default;

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
    case WasiFunc::kFdRead:
    case WasiFunc::kFdWrite: {
      // stdio is served here, captured and capped; files by the descriptor table.
      uint32_t fd = Arg32(args, 0);
      bool write = func == WasiFunc::kFdWrite;
      WasiFiles::Kind kind = files_->KindOf(fd);
      if (kind == WasiFiles::Kind::kStdin || kind == WasiFiles::Kind::kStdout ||
          kind == WasiFiles::Kind::kStderr) {
        e = files_->CheckStdio(fd, write);
        if (e != WasiErrno::kSuccess) break;
        if (write && kind != WasiFiles::Kind::kStdin)
          e = WriteOutput(kind == WasiFiles::Kind::kStdout ? 1 : 2, Arg32(args, 1), Arg32(args, 2),
                          Arg32(args, 3), m);
        else if (!write && kind == WasiFiles::Kind::kStdin)
          e = ReadInput(Arg32(args, 1), Arg32(args, 2), Arg32(args, 3), m);
        else
          e = WasiErrno::kBadf;
        break;
      }
      e = files_->Call(func, args, m);
      break;
    }
    default:
      e = files_->Call(func, args, m);
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

WasiErrno WasiHost::WriteOutput(int stream, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten_out,
                                WasiMemory m) {
  VELUM_ASSERT(stream == 1 || stream == 2);
  if (iovs_len > kMaxIovecs) return WasiErrno::kInval;
  auto vecs = LoadIovecs(m, iovs, iovs_len);
  if (!vecs || !InBounds(m, nwritten_out, 4)) return WasiErrno::kFault;
  uint64_t& written = stream == 1 ? stdout_bytes_ : stderr_bytes_;
  uint64_t total = 0;
  for (const Iovec& v : *vecs) {
    uint64_t room = config_.max_output_bytes - std::min(written, config_.max_output_bytes);
    uint64_t n = std::min<uint64_t>(v.len, room);
    if (n < v.len) truncated_ = true;
    if (n > 0 && config_.output && !config_.output(stream, m.data + v.ptr, n)) break;
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

WasiErrno WasiHost::ReadInput(uint32_t iovs, uint32_t iovs_len, uint32_t nread_out, WasiMemory m) {
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
