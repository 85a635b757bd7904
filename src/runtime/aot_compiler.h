// The AOT compiler: wasm2c plus the system C compiler turn modules into a shared object.
// Results are cached on disk by module hash, compiler and flags: compiled once per machine.
#ifndef VELUM_RUNTIME_AOT_COMPILER_H_
#define VELUM_RUNTIME_AOT_COMPILER_H_

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runtime/aot_budget.h"
#include "runtime/error.h"
#include "runtime/module.h"
#include "runtime/process.h"

namespace velum {

struct AotOptions {
  std::string cc;  // empty: $CC, else "cc"
  std::string wasm2c = "wasm2c";
  std::vector<std::string> cflags = {"-O2"};
  std::chrono::milliseconds timeout{120000};  // per tool invocation
  std::filesystem::path cache_dir;            // empty: <home>/aot
  // rlimits of wasm2c and of cc (each of cc's own children gets them too). cc -O2 on the
  // 14 MB of C of a 1-2 MB program peaks at about 0.9 GB and takes well under a minute.
  ProcessLimits tool_limits{1536ull << 20, 120};
  AotBudget budget;  // a module over it is not compiled (kLimitExceeded)
  AotUnits units;    // large modules: C split into units compiled in parallel (aot_budget.h)
};

class AotCompiler {
 public:
  explicit AotCompiler(AotOptions options = {});

  // Whether wasm2c and the C compiler can be run at all.
  Status Available() const;

  // A shared object defining velum_module_m0 .. velum_module_m<N-1> for `modules`, in order.
  // Cached: a second call with the same modules compiles nothing.
  Result<std::filesystem::path> Compile(const std::vector<ModulePtr>& modules);

  // Whether wasm2c can translate `module` (it cannot translate SIMD in wabt 1.0.32).
  Status Translatable(const ModulePtr& module);

  // Whether `module` is within the complexity budget (kLimitExceeded says which limit not).
  Status WithinBudget(const ModulePtr& module) const;

  // Start-up: removes what a killed compile left in the cache: build-* scratch folders whose
  // lock is free (or, without one, older than two tool timeouts) and *.so.lock files nobody
  // holds. A compile running now in another process sharing the home keeps both.
  void RemoveLeftovers() const;

  // The cached shared object for `modules`, if it was compiled before.
  std::optional<std::filesystem::path> Cached(const std::vector<ModulePtr>& modules) const;

  static std::string SymbolFor(size_t index) { return "velum_module_m" + std::to_string(index); }
  const AotOptions& options() const { return options_; }

 private:
  std::filesystem::path CachePath(const std::vector<ModulePtr>& modules) const;

  AotOptions options_;
  // Compiler path, size and mtime; wabt version; flags; ABI version; how C is split in units.
  std::string identity_;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_AOT_COMPILER_H_
