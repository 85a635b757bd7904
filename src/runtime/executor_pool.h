// The executor pool: one child process per slot runs untrusted code for the node.
// It picks the engine (auto: interpreter now, native once compiled), enforces deadlines by
// killing, and replaces any executor that dies, so the caller only ever sees typed errors.
#ifndef VELUM_RUNTIME_EXECUTOR_POOL_H_
#define VELUM_RUNTIME_EXECUTOR_POOL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/aot_compiler.h"
#include "runtime/disk_cache.h"
#include "runtime/engine.h"
#include "runtime/executor.h"
#include "runtime/module.h"
#include "runtime/sandbox.h"

namespace velum {

struct PoolOptions {
  size_t slots = 2;
  std::filesystem::path home;   // empty: $VELUM_HOME or ~/.velum
  std::string executor_path;    // empty: $VELUM_EXECUTOR, beside this program, the installed
                                // PREFIX/libexec/velum (from libvelum.so's or the program's
                                // directory), or the build's
  AotOptions aot;               // cache_dir defaults to <home>/aot
  uint64_t max_data_bytes = 0;  // RLIMIT_DATA of each executor (0: none); a backstop only
  // RLIMIT_CPU of each executor over its life; it is restarted after using half (sandbox.h).
  uint64_t executor_cpu_seconds = SandboxLimits{}.cpu_seconds;
  // The compile queue: at most compile_jobs compiles (wasm2c then cc) run at once, in the
  // background, each with up to aot.units.max_parallel_units cc of its own (a large module's
  // units, aot_budget.h); at most max_queued_compiles more wait. A module asked for while the queue
  // is full is not queued: its call runs on the interpreter and a later call asks again.
  size_t compile_jobs = 1;
  size_t max_queued_compiles = 64;
  // Modules whose compile failed (or that are over the AOT budget) are remembered, this many
  // at most (the oldest forgotten first), and never compiled again by this pool.
  size_t max_failed_compiles = 1024;
  // <home>/modules and <home>/aot together stay under this (0: no bound), evicting the least
  // recently used entries that no call of this pool uses and nobody used within cache_grace.
  uint64_t max_cache_bytes = 1024ull << 20;
  std::chrono::seconds cache_grace{600};
  // Told once per module when its compile fails or it is over the budget (e.g. to log it);
  // called from a compile thread or the caller's, never with the pool's lock held.
  std::function<void(const ModulePtr&, const Error&)> on_compile_failed;
};

struct CallSpec {
  ModulePtr module;
  std::string func;
  std::vector<Value> args;
  EngineKind engine = EngineKind::kAuto;
  std::chrono::milliseconds timeout{60000};
  uint32_t max_memory_pages = 4096;
  // Set by another thread to stop the call: the executor is killed and replaced, and the
  // call returns kCancelled within about 20 ms.
  const std::atomic<bool>* cancel = nullptr;
  // Run as a WASI command (wasi.h): its wasi_snapshot_preview1 imports link to a host with
  // these arguments and environment, reading stdin_data or else the executors' stdin (the
  // pool owner's); its stdout and stderr come back in the outcome when it ends, alike on
  // either engine. With kAuto it is never raced: it runs natively once compiled, on the
  // interpreter until then.
  struct Wasi {
    std::vector<std::string> args, env;
    uint64_t max_output_bytes = 0;  // per stream; 0 or more: kMaxWasiOutputBytes (6 MiB)
    // Directories the program may reach, and nothing else of the file system (fds 3, 4, ...
    // in order; at most kMaxPreopens). The pool opens each `host` (an error, before anything
    // runs, if it cannot) and runs the call in a files executor of its own (sandbox.h,
    // ExecutorMode::kFiles), confined to them by Landlock; that executor ends with the call.
    struct Preopen {
      std::filesystem::path host;
      std::string guest;  // the program's name for it: "/data", "."; not empty
      bool read_only = false;
    };
    std::vector<Preopen> preopens;
    // The program's stdin: these bytes then end of file (at most kMaxWasiStdinBytes; more is
    // refused with kLimitExceeded before anything runs). nullopt: the executors' own stdin,
    // which they inherit from the pool's owner (velum run passes its terminal or pipe on).
    std::optional<std::string> stdin_data;
    // Or this file, of any size, read front to back (opened here, a regular file, passed to
    // the executor as a descriptor). Not with stdin_data.
    std::optional<std::filesystem::path> stdin_file;
    // Set: every write of the program is given here as it happens (stream 1 or 2, on the
    // caller's thread, in order), and the outcome holds no output; also the writes of a run
    // that is then killed at its deadline. Unset: the output comes in the outcome at the end.
    std::function<void(int stream, const std::string& data)> on_output;
  };
  std::optional<Wasi> wasi;
  // A fold through a combining export (a scatter's module reducer), in the call's instance:
  // the tuples of `arity` values in `values`, then the call's results (none if func is
  // empty), left to right: acc = the first; acc = func(acc..., next...). The outcome's values
  // are the fold; a trap in the combining export names it. At most kMaxFoldValues values.
  struct Fold {
    std::string func;
    uint32_t arity = 0;
    std::vector<Value> values;
  };
  std::optional<Fold> fold;
};

struct CallOutcome {
  std::vector<Value> values;
  EngineKind engine = EngineKind::kInterp;  // the engine whose answer this is
  std::chrono::nanoseconds elapsed{0};      // wall time of the whole call, as the caller saw it
  std::string note;                         // e.g. why AOT was not used
  // A WASI command: its exit code (0 when _start returned), and whether output hit the cap.
  uint32_t exit_code = 0;
  bool output_truncated = false;
  std::string stdout_data, stderr_data;
  // A WASI command that failed (a trap) after writing output: the error, with that output
  // above. Only for WASI calls; any other failure is the call's error.
  std::optional<Error> failure;
};

struct PoolStats {
  uint64_t executors_started = 0;
  uint64_t executors_replaced = 0;  // after a crash, a deadline kill or a lost race
  // Restarted to load another compiled module: a confined executor cannot open a file, so
  // each is bound at start to one AOT object (or none).
  uint64_t executors_rebound = 0;
  uint64_t executors_retired = 0;  // restarted after using half of their CPU budget
  // Started for one call with preopened directories; each ends with its call, and its slot
  // gets a new executor when it is next used.
  uint64_t files_executors = 0;
  uint64_t compiles = 0;          // started by the compile queue
  uint64_t compiles_failed = 0;   // remembered, not retried (over the budget included)
  uint64_t compiles_refused = 0;  // asked for while the queue was full
  uint64_t cache_evictions = 0;   // files removed from modules/ and aot/ to stay under the cap
};

class ExecutorPool {
 public:
  explicit ExecutorPool(PoolOptions options = {});
  ~ExecutorPool();  // drops queued compiles, waits for running ones, ends every executor
  ExecutorPool(const ExecutorPool&) = delete;
  ExecutorPool& operator=(const ExecutorPool&) = delete;

  // Fails only if no executor can be started at all.
  Status Start();

  // Runs one call. Thread-safe; blocks while every slot is busy.
  Result<CallOutcome> Call(const CallSpec& spec);

  // Queues `module` for a background compile unless it is compiled, queued, failed before,
  // over the AOT budget or the queue is full.
  void PrepareAot(const ModulePtr& module);
  // Waits for the compile through the queue (or finds it in the cache): the shared object's
  // path, or why there is none (the remembered failure, the budget, a full queue).
  Result<std::filesystem::path> CompileNow(const ModulePtr& module);
  bool AotReady(const ModulePtr& module) const;
  // Why `module` is not compiled and will not be by this pool, if that is known.
  std::optional<Error> CompileFailure(const ModulePtr& module) const;

  size_t slots() const { return options_.slots; }
  PoolStats stats() const;
  // Bytes of <home>/modules and <home>/aot now (reads the directories: off the event loop).
  uint64_t CacheBytes() const { return disk_->Usage(); }
  const std::string& executor_path() const { return options_.executor_path; }
  // Process ids of the executors, for tests and status output.
  std::vector<int> pids() const;
  // What the executors' confinement achieved, for the log (known once Start succeeded).
  const std::string& confinement() const { return confinement_; }
  bool namespaces() const { return namespaces_; }

  struct Slot;

 private:
  // A free executor; for native code (`object` not empty) one bound to `object`, restarted
  // bound to it if no free one is; for a call with preopened directories (`files`), a files
  // executor started for it (a vacant slot's, or in place of the one idle the longest).
  Slot* Acquire(bool wait, const std::string& object = {}, bool files = false);
  void Release(Slot* slot);
  // Starts the slot's executor: a files one if slot->files, else bound to slot->bound_object.
  bool Spawn(Slot* slot, bool report = false);
  // Ends the slot's executor and starts another: a files one if `files`, else one bound to the
  // slot's object.
  void Respawn(Slot* slot, bool files = false);
  void Replace(Slot* slot);
  // Ends the slot's executor and leaves the slot vacant (after a files executor's one call).
  void Vacate(Slot* slot);
  // Sends `req` to the slot's executor with the module's descriptor if it does not hold it,
  // then `dirs`, the descriptors of req.wasi_preopens.
  Status Send(Slot* slot, ExecRequest req, const ModulePtr& module,
              const std::vector<int>& dirs = {});
  // Reads the --report frame of a freshly started executor.
  Status ReadConfinementReport(Slot* slot);
  Result<std::string> StoreModule(const ModulePtr& module);
  // compiler_.Cached, remembered: a call should not cost a hash and a stat of the cache.
  std::optional<std::filesystem::path> CachedObject(const ModulePtr& module);
  void Forget(const ModuleHash& hash);  // drops what StoreModule and CachedObject remember
  void CompileLoop();                   // one thread of the compile queue
  // With mu_ held; false if it was already remembered.
  bool RememberFailure(const ModuleHash& hash, const Error& error);
  void TrimCache();  // evicts beyond max_cache_bytes, forgetting what it removed

  struct QueuedCompile {
    ModulePtr module;
    std::shared_ptr<std::promise<Result<std::filesystem::path>>> done;
  };

  PoolOptions options_;
  AotCompiler compiler_;
  mutable std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  // Queued or running compiles; an entry leaves when its compile ends (into compiled_ or
  // failed_), so both maps stay bounded.
  std::map<ModuleHash, std::shared_future<Result<std::filesystem::path>>> compiles_;
  std::deque<QueuedCompile> compile_queue_;
  std::vector<std::thread> compile_threads_;
  std::condition_variable compile_cv_;
  bool stopping_ = false;
  std::map<ModuleHash, Error> failed_;
  std::deque<ModuleHash> failed_order_;  // oldest first
  std::unique_ptr<DiskCache> disk_;
  std::map<ModuleHash, std::string> stored_;              // written to the module store
  std::map<ModuleHash, std::filesystem::path> compiled_;  // found in the AOT cache
  PoolStats stats_;
  std::string confinement_;
  bool namespaces_ = false;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_EXECUTOR_POOL_H_
