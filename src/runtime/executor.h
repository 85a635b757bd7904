// The executor: a child process that runs Wasm calls for the pool, one at a time.
// A trap is an answer; a crash, a kill at the deadline or an overrun costs only this process.
#ifndef VELUM_RUNTIME_EXECUTOR_H_
#define VELUM_RUNTIME_EXECUTOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/channel.h"
#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/value.h"

namespace velum {

// Modules an executor holds in memory at most; the pool mirrors the set (ExecutorPool::Slot).
constexpr size_t kExecutorModuleCache = 64;
// A WASI command's stdout and stderr travel back in its response frame (16 MiB at most), so
// each is capped here; a confined executor cannot write to the caller's files itself.
constexpr uint64_t kMaxWasiOutputBytes = 6ull << 20;
// A WASI command's stdin, when the caller gives it as bytes, travels in the request frame
// (16 MiB at most) beside arguments and environment, so it is capped well below that.
constexpr uint64_t kMaxWasiStdinBytes = 4ull << 20;
// A fold through a combining export (a scatter's module reducer, ExecRequest::fold_func)
// carries at most this many values in one request: a longer fold (a coordinator's, of many
// chunks' partials) is several requests, each folding onto the last one's answer.
constexpr size_t kMaxFoldValues = 1 << 16;
// The message of an error of the combining export opens with this and its name, for the
// caller to say so (ReducerErrorText).
inline constexpr char kReducerErrorPrefix[] = "the reducer ";
// "the reducer NAME: trap: unreachable" for an error of the fold through NAME (the prefix
// above), else error.ToString().
std::string ReducerErrorText(const Error& error, const std::string& name);
// Directories one WASI call may be given: they travel as descriptors beside the request,
// after the module's and before a stdin file's, so together they fit in one frame's
// kMaxPassedFds.
constexpr size_t kMaxPreopens = kMaxPassedFds - 2;
// The longest name a preopened directory may have in the program (fd_prestat_dir_name).
constexpr size_t kMaxPreopenGuestPath = 4096;

// A directory a WASI command may reach, as the request names it; its descriptor travels
// beside the frame.
struct ExecPreopen {
  std::string guest_path;  // the name the program sees: "/", "/data", "."
  bool read_only = false;
};

// One call, as sent over the channel. A confined executor cannot open files: the module
// travels as a descriptor of its module-store entry passed with the frame (checked against
// its hash) the first time an executor needs it, so frames stay small whatever its size.
// The descriptors beside a frame are, in order: the module's if module_attached, then one
// directory per entry of wasi_preopens, then the stdin file's if wasi_stdin_attached; any
// other count makes the request malformed.
struct ExecRequest {
  bool module_attached = false;             // a descriptor of the module comes with the frame
  bool reset_module_cache = false;          // forget every held module first (the pool's LRU)
  std::string module_hash;                  // hex BLAKE2b-256
  EngineKind engine = EngineKind::kInterp;  // kInterp or kAot, never kAuto here
  std::string shared_object;                // AOT: the object this executor was bound to
  std::string func;
  std::vector<Value> args;
  uint32_t max_memory_pages = 4096;
  uint64_t timeout_ms = 0;  // 0: none; the interpreter stops itself, the pool kills AOT
  // A WASI command (wasi.h): its imports link to a host with these arguments and environment,
  // reading wasi_stdin or else this executor's stdin; its stdout and stderr come back in the
  // response, each capped at wasi_max_output_bytes (at most kMaxWasiOutputBytes).
  bool wasi = false;
  std::vector<std::string> wasi_args, wasi_env;
  uint64_t wasi_max_output_bytes = 0;
  // Stream the output: each write comes to the pool at once in an output frame (ExecOutput)
  // before the response, which then holds none; else it is collected into the response.
  bool wasi_stream = false;
  // Directories the program may reach (fds 3, 4, ... in order): only a files executor
  // (ExecutorSetup::files) takes a request with any, and runs no other call after it.
  std::vector<ExecPreopen> wasi_preopens;
  // The program's stdin: these bytes, then end of file, when given (at most
  // kMaxWasiStdinBytes); else this executor's own stdin, inherited from the pool's owner.
  bool wasi_stdin_given = false;
  std::string wasi_stdin;
  // Or a file of any size, read front to back: its descriptor comes last beside the frame
  // (the caller opened it; the executor never opens a path). Not with wasi_stdin_given.
  bool wasi_stdin_attached = false;
  // A fold, in the call's instance: the tuples of fold_arity values in fold_values, then the
  // results of `func` unless it is empty, left to right through fold_func (acc = the first;
  // acc = fold_func(acc..., next...)); the response's values are the fold. fold_func empty:
  // a plain call of `func`.
  std::string fold_func;
  uint32_t fold_arity = 0;
  std::vector<Value> fold_values;

  // How many descriptors come with this request's frame.
  size_t PassedFds() const {
    return (module_attached ? 1 : 0) + wasi_preopens.size() + (wasi_stdin_attached ? 1 : 0);
  }
  std::vector<uint8_t> Encode() const;
  static bool Decode(const std::vector<uint8_t>& frame, ExecRequest* out);
};

// A write of a streaming WASI command (ExecRequest::wasi_stream), sent while it runs. Its
// frame opens with kOutputFrameTag, which no response frame does (theirs opens with `ok`).
struct ExecOutput {
  static constexpr uint8_t kOutputFrameTag = 0xF0;
  uint8_t stream = 1;  // 1 stdout, 2 stderr
  std::string data;

  std::vector<uint8_t> Encode() const;
  static bool IsOutput(const std::vector<uint8_t>& frame) {
    return !frame.empty() && frame[0] == kOutputFrameTag;
  }
  static bool Decode(const std::vector<uint8_t>& frame, ExecOutput* out);
};

struct ExecResponse {
  bool ok = false;
  std::vector<Value> values;
  Error error;
  uint64_t run_ns = 0;       // time inside the engine (instantiate + call)
  bool module_held = false;  // the executor holds the module now (the next call sends none)
  bool retiring = false;     // the executor exits after this answer (its CPU budget is spent)
  // A WASI command's exit code (0 when _start returned), its output, and whether it hit the cap.
  uint32_t exit_code = 0;
  bool output_truncated = false;
  std::string stdout_data, stderr_data;

  std::vector<uint8_t> Encode() const;
  static bool Decode(const std::vector<uint8_t>& frame, ExecResponse* out);
};

// What an executor does before it serves its first request.
struct ExecutorSetup {
  // AOT: the shared object this executor runs native code from, opened (`bound_fd`) before
  // confinement and loaded under it (sandbox.h, FilterStage::kLoading). Empty: interpreter
  // only. `bound_fd` < 0 with a name: it could not be opened, for `bound_error`.
  std::string bound_object;
  int bound_fd = -1;
  std::string bound_error;
  // Confines the process for loading (sandbox.h); false: exit.
  std::function<bool()> confine;
  // Tightens the confinement once the object is loaded, before the first request; false: exit.
  std::function<bool()> seal;
  // Answer, then exit, once the process has used this much CPU time (0: never).
  uint64_t retire_after_cpu_seconds = 0;
  // A files executor (velum-executor --files): its system-call filter allows the file
  // system calls of a WASI host (sandbox.h, ExecutorMode::kFiles), so before its one call it
  // confines itself to that call's preopened directories by a Landlock layer
  // (RestrictToPreopens), which cannot be lifted; it answers that call and exits. Never bound
  // to an object: no code but its own may run before the layer is in place.
  bool files = false;
  // Tests only (velum-executor --try-forbidden escape): called in a files executor once the
  // layer is in place, with the received directories, instead of running the call.
  std::function<void(const std::vector<ExecPreopen>&, const std::vector<int>& fds)> after_landlock;
};

// Serves requests on `fd` until it closes. Returns the process exit code.
int RunExecutor(int fd, const ExecutorSetup& setup);

}  // namespace velum

#endif  // VELUM_RUNTIME_EXECUTOR_H_
