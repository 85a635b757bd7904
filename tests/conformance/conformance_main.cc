// velum-conformance: runs the official WebAssembly core test suite through one engine.
// Each .wast script is converted by wast2json into a temporary folder, run and reported.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "conformance/script_process.h"
#include "conformance/spectest_runner.h"
#include "runtime/aot_engine.h"
#include "runtime/interp_engine.h"
#include "runtime/process.h"

namespace velum::conformance {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Options {
  std::string engine = "interp";
  fs::path suite;
  std::vector<std::string> scripts;  // names without ".wast"; empty: all of the suite
  std::string shard;                 // "K/N": the K-th of N round-robin shards
  fs::path json_out;
  fs::path allow_failures;
  std::string wast2json = "wast2json";
  int call_timeout_s = 60;
  int script_timeout_s = 1800;
  bool any_trap = false;
  bool isolate = true;
  bool keep_temp = false;
  bool verbose = false;
  fs::path aot_cache;  // compiled scripts, reused by later runs; empty: a temporary folder
};

// Known failures an engine is excused from, with the reason, from an allow-failures file.
// Lines: "SCRIPT REASON..." excludes a whole script (not run); "SCRIPT:LINE REASON..."
// excuses one command. '#' starts a comment.
struct Allowances {
  std::map<std::string, std::string> scripts;
  std::map<std::pair<std::string, int>, std::string> commands;
};

std::string StripWast(std::string name) {
  if (name.size() > 5 && name.ends_with(".wast")) name.resize(name.size() - 5);
  return name;
}

bool ParseAllowanceLine(const std::string& raw, Allowances* out) {
  std::string line = raw.substr(0, raw.find('#'));
  std::istringstream in(line);
  std::string key, reason, word;
  if (!(in >> key)) return true;  // blank or comment
  while (in >> word) reason += (reason.empty() ? "" : " ") + word;
  if (reason.empty()) return false;
  size_t colon = key.find(':');
  if (colon == std::string::npos) {
    out->scripts[StripWast(key)] = reason;
    return true;
  }
  char* end = nullptr;
  long number = std::strtol(key.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || number <= 0) return false;
  out->commands[{StripWast(key.substr(0, colon)), static_cast<int>(number)}] = reason;
  return true;
}

Result<Allowances> ReadAllowances(const fs::path& path) {
  Allowances allowances;
  if (path.empty()) return allowances;
  std::ifstream in(path);
  if (!in) return MakeError(ErrorKind::kIo, "cannot read " + path.string());
  std::string line;
  for (int number = 1; std::getline(in, line); number++) {
    if (!ParseAllowanceLine(line, &allowances)) {
      return MakeError(ErrorKind::kBadArguments, path.string() + ":" + std::to_string(number) +
                                                     ": expected SCRIPT[:LINE] REASON");
    }
  }
  return allowances;
}

// The scripts to run, sorted, restricted to --script names and to the --shard.
Result<std::vector<std::string>> SelectScripts(const Options& options) {
  std::vector<std::string> all;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options.suite, ec)) {
    if (entry.path().extension() == ".wast") all.push_back(entry.path().stem().string());
  }
  if (ec) return MakeError(ErrorKind::kIo, "cannot list " + options.suite.string());
  std::sort(all.begin(), all.end());
  std::vector<std::string> chosen;
  for (const auto& wanted : options.scripts) {
    std::string name = StripWast(wanted);
    if (!std::binary_search(all.begin(), all.end(), name))
      return MakeError(ErrorKind::kBadArguments, "no script " + name + ".wast in the suite");
    chosen.push_back(name);
  }
  if (options.scripts.empty()) chosen = all;
  if (options.shard.empty()) return chosen;
  int k = 0, n = 0;
  if (std::sscanf(options.shard.c_str(), "%d/%d", &k, &n) != 2 || n < 1 || k < 1 || k > n)
    return MakeError(ErrorKind::kBadArguments, "--shard wants K/N with 1 <= K <= N");
  std::vector<std::string> shard;
  for (size_t i = 0; i < chosen.size(); i++)
    if (static_cast<int>(i % n) == k - 1) shard.push_back(chosen[i]);
  return shard;
}

// The engine for each script. To add the AOT tier, return a factory that compiles the
// script's modules in one batch before the first command (runtime/aot_engine.h):
//   auto compiler = std::make_shared<AotCompiler>();
//   if (Status s = compiler->Available(); !s.ok()) return s.error();
//   return EngineFactory([compiler](const std::vector<ModulePtr>& modules)
//                            -> Result<std::unique_ptr<Engine>> {
//     auto engine = std::make_unique<AotEngine>(compiler.get());
//     if (Status s = engine->Preload(modules); !s.ok()) return s.error();
//     return std::unique_ptr<Engine>(std::move(engine));
//   });
// then link velum-conformance like velum-executor (velum_wasm_rt, ENABLE_EXPORTS) so the
// compiled modules find the wasm2c runtime, and add "aot" to VELUM_CONFORMANCE_ENGINES.
Result<EngineFactory> MakeEngineFactory(const std::string& engine, const fs::path& aot_cache) {
  if (engine == "interp") {
    return EngineFactory([](const std::vector<ModulePtr>&) -> Result<std::unique_ptr<Engine>> {
      return NewInterpEngine();
    });
  }
  if (engine == "aot") {
    // One compiler (and cache) for the run; one shared object per script, so that the
    // suite's thousands of small modules cost one C compiler run per script.
    AotOptions aot_options;
    aot_options.cache_dir = aot_cache;
    auto compiler = std::make_shared<AotCompiler>(aot_options);
    if (Status s = compiler->Available(); !s.ok()) return s.error();
    return EngineFactory(
        [compiler](const std::vector<ModulePtr>& modules) -> Result<std::unique_ptr<Engine>> {
          auto engine = std::make_unique<AotEngine>(compiler.get());
          // A module wasm2c cannot translate is left out of the batch and reported as
          // kCompilerFailed when instantiated; the runner skips it with the reason.
          if (Status s = engine->Preload(modules); !s.ok()) return s.error();
          return std::unique_ptr<Engine>(std::move(engine));
        });
  }
  return MakeError(ErrorKind::kBadArguments, "unknown engine '" + engine + "' (interp|aot)");
}

Result<fs::path> MakeTempRoot() {
  std::string pattern = (fs::temp_directory_path() / "velum-conformance-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr)
    return MakeError(ErrorKind::kIo, "cannot create a temporary folder in /tmp");
  return fs::path(pattern);
}

// wast2json NAME.wast -o WORK/NAME/NAME.json, then the script itself.
ScriptResult ConvertAndRun(const std::string& name, const Options& options, const fs::path& work,
                           const EngineFactory& factory, const RunOptions& run_options) {
  fs::path dir = work / name;
  fs::create_directories(dir);
  fs::path json_path = dir / (name + ".json");
  ProcessResult converted = RunProcess(
      {options.wast2json, (options.suite / (name + ".wast")).string(), "-o", json_path.string()},
      std::chrono::minutes(2));
  ScriptResult result;
  if (!converted.ok()) {
    result.name = name;
    result.fatal = "wast2json failed: " + converted.output;
    result.total.failed = 1;
  } else {
    result = options.isolate ? RunScriptIsolated(json_path, factory, run_options,
                                                 std::chrono::seconds(options.script_timeout_s))
                             : RunScript(json_path, factory, run_options);
  }
  if (!options.keep_temp) fs::remove_all(dir);
  return result;
}

// Marks the failures the allow-failures file excuses; returns how many are not excused.
int ApplyAllowances(ScriptResult* result, const Allowances& allowances) {
  int unexcused = result->fatal.empty() ? 0 : 1;
  for (auto& failure : result->failures) {
    failure.allowed = allowances.commands.count({result->name, failure.line}) > 0;
    if (!failure.allowed) unexcused++;
  }
  return unexcused;
}

// Allowances of `script` whose command passed: the entry can go.
void PrintStaleAllowances(const ScriptResult& r, const Allowances& allowances) {
  for (const auto& entry : allowances.commands) {
    const auto& [script, line] = entry.first;
    if (script != r.name) continue;
    int allowed_line = line;
    bool failed = std::any_of(r.failures.begin(), r.failures.end(),
                              [allowed_line](const Failure& f) { return f.line == allowed_line; });
    if (!failed) std::printf("      line %d is allowed to fail but passed\n", line);
  }
}

void PrintScript(const ScriptResult& r, int unexcused, bool verbose) {
  const char* status = unexcused ? "FAIL" : r.total.failed ? "XFAIL" : "PASS";
  std::printf("%-5s %-36s %6d passed %4d failed %5d n/a %8.2fs\n", status, r.name.c_str(),
              r.total.passed, r.total.failed, r.total.skipped, r.seconds);
  if (!r.fatal.empty()) std::printf("      %s\n", r.fatal.c_str());
  size_t shown = 0;
  for (const auto& f : r.failures) {
    if (!verbose && shown == 20) {
      std::printf("      ... %zu more (use --verbose)\n", r.failures.size() - shown);
      break;
    }
    std::printf("      line %d %s%s: %s\n", f.line, f.command.c_str(),
                f.allowed ? " (allowed)" : "", f.message.c_str());
    shown++;
  }
  if (!verbose) return;
  for (const auto& [reason, count] : r.skip_reasons)
    std::printf("      n/a %d: %s\n", count, reason.c_str());
}

struct Summary {
  Tally total;
  int scripts = 0;
  int failed_scripts = 0;
  int unexcused = 0;
  double seconds = 0;
  std::map<std::string, int> skip_reasons;
  json report = json::array();
};

void AddToSummary(const ScriptResult& r, int unexcused, Summary* s) {
  s->total.passed += r.total.passed;
  s->total.failed += r.total.failed;
  s->total.skipped += r.total.skipped;
  s->scripts++;
  s->failed_scripts += unexcused ? 1 : 0;
  s->unexcused += unexcused;
  s->seconds += r.seconds;
  for (const auto& [reason, count] : r.skip_reasons) s->skip_reasons[reason] += count;
  s->report.push_back(ScriptResultToJson(r));
}

void PrintSummary(const Summary& s) {
  std::printf(
      "TOTAL %d scripts (%d failing): %d passed, %d failed (%d not excused), %d n/a; %.1fs\n",
      s.scripts, s.failed_scripts, s.total.passed, s.total.failed, s.unexcused, s.total.skipped,
      s.seconds);
  for (const auto& [reason, count] : s.skip_reasons)
    std::printf("      n/a %d: %s\n", count, reason.c_str());
}

bool WriteJson(const fs::path& path, const Options& options, const Summary& s) {
  json total = {
      {"passed", s.total.passed}, {"failed", s.total.failed}, {"skipped", s.total.skipped}};
  json out = {{"engine", options.engine},
              {"suite", options.suite.string()},
              {"total", total},
              {"not_excused", s.unexcused},
              {"scripts", s.report}};
  std::ofstream file(path);
  file << out.dump(2) << "\n";
  return static_cast<bool>(file);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "velum-conformance: %s\n", message.c_str());
  return 2;
}

int Run(const Options& options) {
  auto scripts = SelectScripts(options);
  if (!scripts.ok()) return Usage(scripts.error().message);
  auto allowances = ReadAllowances(options.allow_failures);
  if (!allowances.ok()) return Usage(allowances.error().message);
  fs::path aot_cache = options.aot_cache.empty()
                           ? fs::temp_directory_path() / "velum-conformance-aot"
                           : options.aot_cache;
  auto factory = MakeEngineFactory(options.engine, aot_cache);
  if (!factory.ok()) return Usage(factory.error().message);
  if (!ProgramExists(options.wast2json)) return Usage(options.wast2json + " not found (wabt)");
  auto work = MakeTempRoot();
  if (!work.ok()) return Usage(work.error().message);

  RunOptions run_options;
  run_options.trap_check = options.any_trap ? TrapCheck::kAnyTrap : TrapCheck::kExact;
  run_options.call_timeout = std::chrono::seconds(options.call_timeout_s);
  Summary summary;
  for (const auto& name : *scripts) {
    auto excluded = allowances->scripts.find(name);
    if (excluded != allowances->scripts.end()) {
      std::printf("EXCL  %-36s %s\n", name.c_str(), excluded->second.c_str());
      continue;
    }
    ScriptResult result = ConvertAndRun(name, options, *work, *factory, run_options);
    int unexcused = ApplyAllowances(&result, *allowances);
    PrintScript(result, unexcused, options.verbose);
    PrintStaleAllowances(result, *allowances);
    std::fflush(stdout);
    AddToSummary(result, unexcused, &summary);
  }
  if (!options.keep_temp) fs::remove_all(*work);
  if (options.keep_temp) std::printf("converted scripts kept in %s\n", work->c_str());
  PrintSummary(summary);
  if (!options.json_out.empty() && !WriteJson(options.json_out, options, summary))
    return Usage("cannot write " + options.json_out.string());
  return summary.unexcused ? 1 : 0;
}

}  // namespace
}  // namespace velum::conformance

int main(int argc, char** argv) {
  velum::conformance::Options options;
  CLI::App app{"Runs the WebAssembly core spec test suite through a VelumOS engine."};
  app.add_option("--engine", options.engine, "interp or aot")->capture_default_str();
  app.add_option("--suite", options.suite, "folder of .wast scripts")->required();
  app.add_option("--script", options.scripts, "run only this script (repeatable)");
  app.add_option("--shard", options.shard, "run the K-th of N round-robin shards: K/N");
  app.add_option("--json", options.json_out, "write a JSON report here");
  app.add_option("--allow-failures", options.allow_failures,
                 "file of excused scripts and SCRIPT:LINE commands, each with a reason");
  app.add_option("--wast2json", options.wast2json, "the converter")->capture_default_str();
  app.add_option("--timeout", options.call_timeout_s, "seconds per call")->capture_default_str();
  app.add_option("--script-timeout", options.script_timeout_s, "seconds per script")
      ->capture_default_str();
  app.add_flag("--any-trap", options.any_trap, "accept any trap kind for assert_trap");
  app.add_flag("!--no-isolate", options.isolate,
               "run scripts in this process (for a debugger) instead of in children");
  app.add_flag("--keep-temp", options.keep_temp, "keep the converted scripts");
  app.add_option("--aot-cache", options.aot_cache, "where compiled scripts are cached (aot)");
  app.add_flag("--verbose,-v", options.verbose, "every failure and skip reason");
  CLI11_PARSE(app, argc, argv);
  return velum::conformance::Run(options);
}
