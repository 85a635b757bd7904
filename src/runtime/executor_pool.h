// The executor pool: one child process per slot runs untrusted code for the node.
// It picks the engine (auto: interpreter now, native once compiled), enforces deadlines by
// killing, and replaces any executor that dies, so the caller only ever sees typed errors.
#ifndef VELUM_RUNTIME_EXECUTOR_POOL_H_
#define VELUM_RUNTIME_EXECUTOR_POOL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/aot_compiler.h"
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
};

struct CallOutcome {
  std::vector<Value> values;
  EngineKind engine = EngineKind::kInterp;  // the engine whose answer this is
  std::chrono::nanoseconds elapsed{0};      // wall time of the whole call, as the caller saw it
  std::string note;                         // e.g. why AOT was not used
};

struct PoolStats {
  uint64_t executors_started = 0;
  uint64_t executors_replaced = 0;  // after a crash, a deadline kill or a lost race
  // Restarted to load another compiled module: a confined executor cannot open a file, so
  // each is bound at start to one AOT object (or none).
  uint64_t executors_rebound = 0;
  uint64_t executors_retired = 0;  // restarted after using half of their CPU budget
  uint64_t compiles = 0;
};

class ExecutorPool {
 public:
  explicit ExecutorPool(PoolOptions options = {});
  ~ExecutorPool();  // waits for background compiles, then ends every executor
  ExecutorPool(const ExecutorPool&) = delete;
  ExecutorPool& operator=(const ExecutorPool&) = delete;

  // Fails only if no executor can be started at all.
  Status Start();

  // Runs one call. Thread-safe; blocks while every slot is busy.
  Result<CallOutcome> Call(const CallSpec& spec);

  // Starts compiling `module` in the background unless it is compiled or compiling.
  void PrepareAot(const ModulePtr& module);
  // Compiles now (or finds in the cache): the path of the shared object.
  Result<std::filesystem::path> CompileNow(const ModulePtr& module);
  bool AotReady(const ModulePtr& module) const;

  size_t slots() const { return options_.slots; }
  PoolStats stats() const;
  const std::string& executor_path() const { return options_.executor_path; }
  // Process ids of the executors, for tests and status output.
  std::vector<int> pids() const;
  // What the executors' confinement achieved, for the log (known once Start succeeded).
  const std::string& confinement() const { return confinement_; }
  bool namespaces() const { return namespaces_; }

  struct Slot;

 private:
  // A free executor; for native code (`object` not empty) one bound to `object`, restarted
  // bound to it if no free one is.
  Slot* Acquire(bool wait, const std::string& object = {});
  void Release(Slot* slot);
  bool Spawn(Slot* slot, bool report = false);
  // Ends the slot's executor and starts another, bound to the slot's object.
  void Respawn(Slot* slot);
  void Replace(Slot* slot);
  // Sends `req` to the slot's executor with the module's descriptor if it does not hold it.
  Status Send(Slot* slot, ExecRequest req, const ModulePtr& module);
  // Reads the --report frame of a freshly started executor.
  Status ReadConfinementReport(Slot* slot);
  Result<std::string> StoreModule(const ModulePtr& module);
  // compiler_.Cached, remembered: a call should not cost a hash and a stat of the cache.
  std::optional<std::filesystem::path> CachedObject(const ModulePtr& module);
  void Forget(const ModuleHash& hash);  // drops what StoreModule and CachedObject remember

  PoolOptions options_;
  AotCompiler compiler_;
  mutable std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::map<ModuleHash, std::shared_future<Result<std::filesystem::path>>> compiles_;
  std::map<ModuleHash, std::string> stored_;              // written to the module store
  std::map<ModuleHash, std::filesystem::path> compiled_;  // found in the AOT cache
  PoolStats stats_;
  std::string confinement_;
  bool namespaces_ = false;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_EXECUTOR_POOL_H_
