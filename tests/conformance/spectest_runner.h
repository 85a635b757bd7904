// The spec conformance runner: runs one converted core test script (wast2json's JSON) on an
// Engine and checks every command the way the reference interpreter does, line by line.
#ifndef VELUM_TESTS_CONFORMANCE_SPECTEST_RUNNER_H_
#define VELUM_TESTS_CONFORMANCE_SPECTEST_RUNNER_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/module.h"

namespace velum::conformance {

// Makes a fresh engine for one script. `modules` are the valid modules the script will try
// to instantiate, in script order and each once, so an ahead-of-time engine can compile them
// all in one batch before the first command runs; the interpreter ignores them.
using EngineFactory =
    std::function<Result<std::unique_ptr<Engine>>(const std::vector<ModulePtr>& modules)>;

// How an expected trap is matched. kExact requires the TrapKind named by the script's text
// ("out of bounds table access" -> kOutOfBoundsTable); kAnyTrap accepts any trap, for an
// engine whose traps are coarser (wasm2c folds table and indirect-call traps together).
enum class TrapCheck { kExact, kAnyTrap };

struct RunOptions {
  TrapCheck trap_check = TrapCheck::kExact;
  std::chrono::milliseconds call_timeout{60000};  // per invocation, so a hang fails one line
  uint32_t max_memory_pages = 65536;              // the spec's own limit: 4 GiB
  // Commands not to run, by line, each recorded as failed with its message: an isolating
  // caller lists here the commands that crashed or hung an earlier attempt.
  std::map<int, std::string> do_not_run;
  // Told the line of each command before it runs and 0 once it is done: where a crash
  // happened, for an isolating caller.
  std::function<void(int line)> on_progress;
};

// One failed command: the script line and what went wrong.
struct Failure {
  int line = 0;
  std::string command;  // "assert_return", "module", ...
  std::string message;
  bool allowed = false;  // listed in an allow-failures file (set by the caller)
};

struct Tally {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};

// The outcome of one script. Every command counts once: module definitions, registrations
// and actions as well as assertions, since each of them can fail.
struct ScriptResult {
  std::string name;
  Tally total;
  std::map<std::string, Tally> by_command;  // per command type
  std::map<std::string, int> skip_reasons;  // reason -> commands skipped for it
  std::vector<Failure> failures;            // in script order
  std::string fatal;  // set when the script could not run at all (counted as one failure)
  double seconds = 0;
};

// Runs the script `json_path` (its .wasm files sit beside it) on an engine from `factory`.
ScriptResult RunScript(const std::filesystem::path& json_path, const EngineFactory& factory,
                       const RunOptions& options);

// The result as JSON (for reports and to cross a process boundary) and back.
nlohmann::json ScriptResultToJson(const ScriptResult& result);
ScriptResult ScriptResultFromJson(const nlohmann::json& json);

}  // namespace velum::conformance

#endif  // VELUM_TESTS_CONFORMANCE_SPECTEST_RUNNER_H_
