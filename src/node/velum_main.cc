// velum: run one export of a module in the sandbox, or inspect a module.
// Results go to stdout one per line; any error is one line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "runtime/aot_budget.h"
#include "runtime/engine.h"
#include "runtime/executor_pool.h"
#include "runtime/home.h"
#include "runtime/module.h"
#include "shell/cli_options.h"
#include "shell/module_lookup.h"

namespace {

// Exit codes as the node's: 2 when the arguments are wrong, 1 when the work fails.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Fail(const velum::Error& error) {
  std::fprintf(stderr, "velum: %s\n", error.ToString().c_str());
  return error.kind == velum::ErrorKind::kBadArguments ? kExitUsage : kExitFailure;
}

int Inspect(const std::string& name, bool all) {
  std::string file = velum::shell::ResolveModule(name).string();
  auto module = velum::Module::FromFile(file);
  if (!module.ok()) return Fail(module.error());
  const auto& m = **module;
  std::printf("file    %s\nhash    %s\nsize    %zu bytes\n", file.c_str(), m.hash_hex().c_str(),
              m.bytes().size());
  std::printf("exports (scatter: can be scattered over a range by the node's shell)\n");
  std::vector<std::string> hidden;
  for (const auto& e : m.exports()) {
    if (!all && velum::shell::IsToolchainExport(e.name)) {
      hidden.push_back(e.name);
      continue;
    }
    bool wide;
    bool scatter = velum::shell::RangeExportProblem(e, &wide).empty();
    if (e.kind == velum::ExternKind::kFunc)
      std::printf("  func    %s%s%s\n", e.name.c_str(), e.sig.ToString().c_str(),
                  scatter ? "  scatter" : "");
    else
      std::printf("  %-7s %s\n", velum::ExternKindName(e.kind), e.name.c_str());
  }
  if (!hidden.empty()) {
    std::string names;
    for (size_t i = 0; i < hidden.size() && i < 4; i++) names += (i ? ", " : "") + hidden[i];
    if (hidden.size() > 4) names += ", ...";
    std::printf("  (%zu toolchain export%s hidden: %s; --all shows them)\n", hidden.size(),
                hidden.size() == 1 ? "" : "s", names.c_str());
  }
  if (!m.imports().empty()) {
    std::printf("imports\n");
    for (const auto& i : m.imports())
      std::printf("  %-7s %s.%s\n", velum::ExternKindName(i.kind), i.module.c_str(),
                  i.field.c_str());
  }
  // What the AOT budget measures, and whether this node would compile the module at all.
  if (auto code = velum::MeasureCode(m.bytes()); code.ok())
    std::printf("code    %llu functions, %llu bytes, at most %llu locals in one function\n",
                static_cast<unsigned long long>(code->functions),
                static_cast<unsigned long long>(code->code_bytes),
                static_cast<unsigned long long>(code->max_locals));
  velum::Status budget = velum::CheckAotBudget(m.bytes(), velum::AotBudget{});
  std::printf("aot     %s\n",
              budget.ok() ? "within the compile budget" : budget.error().message.c_str());
  return 0;
}

struct RunOptions {
  std::string file, func, engine = "auto";
  std::vector<std::string> args;
  double timeout_s = velum::shell::kDefaultCallTimeoutS;
  uint32_t max_memory_mib = velum::shell::kDefaultCallMemoryMib;
  bool time = false;
};

int Run(const RunOptions& o) {
  auto engine = velum::ParseEngineKind(o.engine);
  if (!engine.ok()) return Fail(engine.error());
  auto module = velum::Module::FromFile(velum::shell::ResolveModule(o.file));
  if (!module.ok()) return Fail(module.error());
  auto exported = (*module)->FindFunction(o.func);
  if (!exported.ok()) return Fail(exported.error());
  auto args = velum::ParseArgs(o.args, (*exported)->sig);
  if (!args.ok()) return Fail(args.error());
  // The home holds the compiled-module cache: private, ours, writable, or a clear refusal.
  std::filesystem::path home = velum::DefaultHome();
  if (velum::Status s = velum::PrepareHome(home); !s.ok()) return Fail(s.error());

  velum::PoolOptions pool_options;
  pool_options.slots = 2;
  pool_options.home = home;
  velum::ExecutorPool pool(pool_options);
  velum::CallSpec spec;
  spec.module = *module;
  spec.func = o.func;
  spec.args = *args;
  spec.engine = *engine;
  spec.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  spec.max_memory_pages = o.max_memory_mib * 16;
  auto outcome = pool.Call(spec);
  if (!outcome.ok()) return Fail(outcome.error());
  for (const auto& v : outcome->values) std::printf("%s\n", velum::FormatValue(v).c_str());
  // The results first, then the time on a line of its own, even when both go to one pipe.
  std::fflush(stdout);
  if (o.time)
    std::fprintf(stderr, "velum: time: %s in %.3f ms on the %s engine%s%s\n", o.func.c_str(),
                 outcome->elapsed.count() / 1e6, velum::EngineKindName(outcome->engine),
                 outcome->note.empty() ? "" : "; ", outcome->note.c_str());
  else if (!outcome->note.empty())
    std::fprintf(stderr, "velum: note: %s\n", outcome->note.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace limits = velum::shell;
  CLI::App app{"velum: run WebAssembly exports in the VelumOS sandbox"};
  app.require_subcommand(1);
  app.footer(limits::kExitCodesHelp);
  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run FUNC of FILE with ARGS; print the results");
  run_cmd
      ->add_option("file", run.file,
                   "the .wasm module: a path, or a name like primes looked up in "
                   "$VELUM_WASM_PATH and build/wasm (as the node's shell does)")
      ->required();
  run_cmd->add_option("func", run.func, "the exported function")->required();
  run_cmd->add_option("args", run.args,
                      "arguments, typed by the export's signature: -5, 0x10, 2e9, 1_000_000, "
                      "3.5, inf, nan (integers exact)");
  run_cmd->add_option("--engine", run.engine, "auto (default), interp or aot");
  run_cmd
      ->add_option("--timeout", run.timeout_s,
                   "wall-clock deadline in seconds (default " +
                       std::to_string(static_cast<int>(limits::kDefaultCallTimeoutS)) +
                       ", as the shell's wasm and scatter)")
      ->transform(limits::InRange(limits::kCallTimeout));
  run_cmd
      ->add_option("--max-memory", run.max_memory_mib,
                   "linear memory limit in MiB (default " +
                       std::to_string(limits::kDefaultCallMemoryMib) +
                       ", as the shell's wasm and scatter)")
      ->transform(limits::InRange(limits::kRunMemory));
  run_cmd->add_flag("--time", run.time,
                    "after the results, one line on stderr: the engine used and the time taken");
  // Negative numbers are arguments, not options.
  run_cmd->allow_extras(false);
  run_cmd->positionals_at_end(false);
  std::string inspect_file;
  bool inspect_all = false;
  auto* inspect_cmd = app.add_subcommand(
      "inspect", "Print a module's hash, size and exports (marking those scatter can run)");
  inspect_cmd->add_option("file", inspect_file, "the .wasm module: a path or a name like primes")
      ->required();
  inspect_cmd->add_flag("--all", inspect_all,
                        "also the toolchain's exports (__wasm_call_ctors, __data_end, ...)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "velum: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  // Nothing the user gives may abort the program: an exception that escapes the checks
  // above is still one line and a non-zero exit.
  try {
    if (*inspect_cmd) return Inspect(inspect_file, inspect_all);
    return Run(run);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "velum: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
