// The engine interface: instantiate a module and call its exports, whatever runs the code.
// Two engines implement it: the metered wabt interpreter and the wasm2c ahead-of-time tier.
#ifndef VELUM_RUNTIME_ENGINE_H_
#define VELUM_RUNTIME_ENGINE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/module.h"
#include "runtime/value.h"

namespace velum {

class WasiHost;

enum class EngineKind : uint8_t { kAuto, kInterp, kAot };
const char* EngineKindName(EngineKind kind);
Result<EngineKind> ParseEngineKind(const std::string& text);

// Limits of one instance. The executor pool adds process-level ones (deadline kill, rlimits).
struct InstanceLimits {
  static constexpr uint32_t kPageSize = 65536;
  uint32_t max_memory_pages = 4096;  // 256 MiB of linear memory per instance by default
  // Checked between instruction batches by the interpreter; the AOT tier relies on the pool.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;  // set to stop an interpreted call early
  // A WASI program's host (wasi.h), owned by the caller: the module's wasi_snapshot_preview1
  // imports link to it. Null: such imports are unknown, as any other.
  WasiHost* wasi = nullptr;
};

// An instantiated module. Not thread-safe: one call at a time.
class Instance {
 public:
  virtual ~Instance() = default;
  virtual Result<std::vector<Value>> Call(const std::string& name,
                                          const std::vector<Value>& args) = 0;
  // The current value of an exported global (the spec tests' `get` action).
  virtual Result<Value> GetGlobal(const std::string& name) = 0;
  virtual const Module& module() const = 0;
  virtual InstanceLimits& limits() = 0;
};

// Creates instances. An engine also acts as the linker of its instances: an instance
// registered under a name satisfies later imports from that module name, and the
// spec tests' "spectest" host module is always available.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual EngineKind kind() const = 0;
  virtual Result<std::unique_ptr<Instance>> Instantiate(const ModulePtr& module,
                                                        const InstanceLimits& limits) = 0;
  // Makes `instance` (owned by the caller, which keeps it alive) importable as `name`.
  virtual void Register(const std::string& name, Instance* instance) = 0;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_ENGINE_H_
