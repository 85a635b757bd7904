// The ahead-of-time tier: modules compiled by AotCompiler, loaded with dlopen, run natively.
// Traps are recovered with the wasm2c runtime; the process may run one AOT call at a time.
#ifndef VELUM_RUNTIME_AOT_ENGINE_H_
#define VELUM_RUNTIME_AOT_ENGINE_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runtime/aot_compiler.h"
#include "runtime/engine.h"

namespace velum {

class AotEngine : public Engine {
 public:
  // Instantiating a module that is not loaded compiles it (or finds it in the cache).
  explicit AotEngine(AotCompiler* compiler);
  ~AotEngine() override;

  EngineKind kind() const override { return EngineKind::kAot; }
  Result<std::unique_ptr<Instance>> Instantiate(const ModulePtr& module,
                                                const InstanceLimits& limits) override;
  void Register(const std::string& name, Instance* instance) override;

  // Compiles all `modules` into one shared object (one compiler run) and loads it, so their
  // later instantiations compile nothing. The spec suite uses one per script.
  Status Preload(const std::vector<ModulePtr>& modules);
  // Loads modules from a shared object made by AotCompiler::Compile for exactly `modules`.
  Status Load(const std::filesystem::path& shared_object, const std::vector<ModulePtr>& modules);
  // Load, for an object opened already (`handle` from dlopen; `name` for messages): how a
  // confined executor, which can no longer open files, uses the object it was bound to.
  Status Adopt(void* handle, const std::string& name, const std::vector<ModulePtr>& modules);
  bool IsLoaded(const Module& module) const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_AOT_ENGINE_H_
