// The WASI preview 1 host (wasi_snapshot_preview1), shared by both engines: the functions'
// signatures by name, and their implementation over a guest memory the engine lends per call.
#ifndef VELUM_RUNTIME_WASI_H_
#define VELUM_RUNTIME_WASI_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace velum {

// WASI's errno values (wasi_snapshot_preview1's `errno`), those this host returns.
enum class WasiErrno : uint16_t {
  kSuccess = 0,
  k2big = 1,
  kAcces = 2,
  kAgain = 6,
  kBadf = 8,
  kBusy = 10,
  kDquot = 19,
  kExist = 20,
  kFault = 21,
  kFbig = 22,
  kIntr = 27,
  kInval = 28,
  kIo = 29,
  kIsdir = 31,
  kLoop = 32,
  kMfile = 33,
  kMlink = 34,
  kNametoolong = 37,
  kNfile = 41,
  kNodev = 43,
  kNoent = 44,
  kNomem = 48,
  kNospc = 51,
  kNosys = 52,
  kNotdir = 54,
  kNotempty = 55,
  kNotsock = 57,
  kNotsup = 58,
  kNotty = 59,
  kNxio = 60,
  kOverflow = 61,
  kPerm = 63,
  kPipe = 64,
  kRange = 68,
  kRofs = 69,
  kSpipe = 70,
  kTxtbsy = 74,
  kXdev = 75,
  kNotcapable = 76,
};

// A function of wasi_snapshot_preview1: all 46 of them (WasiFunctions() gives their types).
enum class WasiFunc : uint8_t {
  kArgsGet,
  kArgsSizesGet,
  kEnvironGet,
  kEnvironSizesGet,
  kClockResGet,
  kClockTimeGet,
  kFdAdvise,
  kFdAllocate,
  kFdClose,
  kFdDatasync,
  kFdFdstatGet,
  kFdFdstatSetFlags,
  kFdFdstatSetRights,
  kFdFilestatGet,
  kFdFilestatSetSize,
  kFdFilestatSetTimes,
  kFdPread,
  kFdPrestatGet,
  kFdPrestatDirName,
  kFdPwrite,
  kFdRead,
  kFdReaddir,
  kFdRenumber,
  kFdSeek,
  kFdSync,
  kFdTell,
  kFdWrite,
  kPathCreateDirectory,
  kPathFilestatGet,
  kPathFilestatSetTimes,
  kPathLink,
  kPathOpen,
  kPathReadlink,
  kPathRemoveDirectory,
  kPathRename,
  kPathSymlink,
  kPathUnlinkFile,
  kPollOneoff,
  kProcExit,
  kProcRaise,
  kRandomGet,
  kSchedYield,
  kSockAccept,
  kSockRecv,
  kSockSend,
  kSockShutdown,
};

// A parameter or result type of a WASI function: every one is i32 or i64.
enum class WasiType : uint8_t { kI32, kI64 };

// The most parameters a WASI function takes (path_open): the engines' argument arrays.
inline constexpr size_t kMaxWasiParams = 9;

struct WasiSignature {
  WasiFunc func;
  const char* name;
  std::vector<WasiType> params;
  bool returns_errno;  // one i32 result; false only for proc_exit (no result)
};

// The signature of `name`, or nullopt: a function this host does not provide (yet).
const WasiSignature* FindWasiFunction(const std::string& name);
const std::vector<WasiSignature>& WasiFunctions();

// The guest's linear memory as the engine sees it during one host call (it can move between
// calls when memory grows: the engine gives it again for each).
struct WasiMemory {
  uint8_t* data = nullptr;
  uint64_t size = 0;
};

// A directory the program may reach, and nothing outside it: descriptors 3, 4, ... in order.
struct WasiPreopen {
  int fd = -1;             // an open directory; the host owns it from then on (closes it)
  std::string guest_path;  // the name the program sees (fd_prestat_dir_name): "/", "/data"
  bool read_only = false;  // nothing under it is written, created, removed or renamed
};

struct WasiConfig {
  std::vector<std::string> args;  // argv, argv[0] included
  std::vector<std::string> env;   // "NAME=VALUE", only these: never the host's
  // Bytes of stdout and of stderr a run may write; past it, writes fail with EIO (the program
  // sees an error) and the run is marked truncated.
  uint64_t max_output_bytes = 64ull << 20;
  // Where output goes: fd 1 or 2 and the bytes. Returns false if it could not be delivered.
  std::function<bool(int fd, const uint8_t* data, size_t size)> output;
  // Reads stdin into [data, data + size): the bytes read (0 at the end), or nullopt on error.
  // Unset: stdin is empty.
  std::function<std::optional<size_t>(uint8_t* data, size_t size)> input;
  std::vector<WasiPreopen> preopens;
  // When the call must end: poll_oneoff never sleeps past it (it returns EINTR there and the
  // engine's own deadline ends the run). Unset: no deadline.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

class WasiFiles;

// What one call of a WASI function did: its errno (for functions that return one), or the
// program's exit (proc_exit: the engine ends the run, and the exit code is its result).
struct WasiOutcome {
  uint32_t errno_value = 0;
  std::optional<uint32_t> exit_code;
};

// One program's WASI state: its arguments, environment and output counters. Not thread-safe:
// one instance runs one call at a time.
class WasiHost {
 public:
  explicit WasiHost(WasiConfig config);
  ~WasiHost();  // closes every descriptor it holds, the preopened ones included
  WasiHost(const WasiHost&) = delete;
  WasiHost& operator=(const WasiHost&) = delete;

  // `args` holds the call's arguments in signature order (an i32 zero-extended).
  WasiOutcome Call(WasiFunc func, const uint64_t* args, WasiMemory memory);

  bool truncated() const { return truncated_; }
  // The code the program passed to proc_exit, once it did: its run ends there.
  std::optional<uint32_t> exit_code() const { return exit_code_; }
  uint64_t written(int fd) const { return fd == 1 ? stdout_bytes_ : stderr_bytes_; }

 private:
  WasiErrno ArgsOrEnvGet(const std::vector<std::string>& list, uint32_t ptrs, uint32_t buf,
                         WasiMemory m);
  WasiErrno SizesGet(const std::vector<std::string>& list, uint32_t count_out, uint32_t size_out,
                     WasiMemory m);
  // stdout (1) or stderr (2), whatever descriptor the program writes them through.
  WasiErrno WriteOutput(int stream, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten_out,
                        WasiMemory m);
  WasiErrno ReadInput(uint32_t iovs, uint32_t iovs_len, uint32_t nread_out, WasiMemory m);
  WasiErrno ClockTimeGet(uint32_t id, uint32_t out, WasiMemory m);
  WasiErrno ClockResGet(uint32_t id, uint32_t out, WasiMemory m);
  WasiErrno RandomGet(uint32_t buf, uint32_t len, WasiMemory m);

  WasiConfig config_;
  std::unique_ptr<WasiFiles> files_;  // the descriptor table: stdio, preopens, opened files
  uint64_t stdout_bytes_ = 0, stderr_bytes_ = 0;
  bool truncated_ = false;
  bool stdin_closed_ = false;
  std::optional<uint32_t> exit_code_;
};

// The message of the trap an engine raises to end a run at proc_exit (not a failure).
inline constexpr char kWasiExitTrap[] = "wasi proc_exit";
inline constexpr char kWasiModule[] = "wasi_snapshot_preview1";

}  // namespace velum

#endif  // VELUM_RUNTIME_WASI_H_
