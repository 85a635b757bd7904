// velum: run one export of a module in the sandbox, or inspect a module.
// Results go to stdout one per line; any error is one line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/aot_budget.h"
#include "runtime/engine.h"
#include "runtime/executor_pool.h"
#include "runtime/home.h"
#include "runtime/module.h"
#include "runtime/wasi.h"
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
  // A WASI command (the module exports _start and no --invoke was given): every word after
  // FILE is the program's, its argv after FILE's name; velum exits with its exit code.
  bool command = false;
  std::vector<std::string> program_args;
  std::vector<std::string> env;  // --env NAME=VALUE: the program's whole environment
  // --dir and --ro-dir HOST[::GUEST], in the order given: the program's directories.
  std::vector<velum::CallSpec::Wasi::Preopen> preopens;
  std::string invoke;
  velum::ModulePtr module;  // FILE, when it was loaded to read the command line (not again)
  double timeout_s = velum::shell::kDefaultCallTimeoutS;
  uint32_t max_memory_mib = velum::shell::kDefaultCallMemoryMib;
  bool time = false;
};

// The separator of --dir HOST::GUEST (wasmtime's): a path may hold a single colon.
constexpr char kGuestSeparator[] = "::";

// `--dir` or `--ro-dir` HOST[::GUEST]: GUEST is the program's name for the directory HOST,
// HOST as written when there is none (`--dir .` is "."). HOST must be a directory now.
velum::Result<velum::CallSpec::Wasi::Preopen> ParsePreopen(const std::string& option,
                                                           const std::string& word,
                                                           bool read_only) {
  velum::CallSpec::Wasi::Preopen p;
  size_t sep = word.find(kGuestSeparator);
  std::string host = word.substr(0, sep);
  p.guest = sep == std::string::npos ? host : word.substr(sep + 2);
  p.host = host;
  p.read_only = read_only;
  auto refuse = [&](const std::string& why) {
    return velum::MakeError(velum::ErrorKind::kBadArguments, option + " " + word + ": " + why);
  };
  if (host.empty()) return refuse("no directory before '::'");
  if (p.guest.empty()) return refuse("no name for the program after '::'");
  if (p.guest.size() > velum::kMaxPreopenGuestPath)
    return refuse("the program's name for it is over " +
                  std::to_string(velum::kMaxPreopenGuestPath) + " bytes");
  std::error_code ec;
  auto status = std::filesystem::status(p.host, ec);
  if (!std::filesystem::exists(status)) return refuse("no such directory");
  if (!std::filesystem::is_directory(status)) return refuse("not a directory");
  return p;
}

int Run(const RunOptions& o) {
  auto engine = velum::ParseEngineKind(o.engine);
  if (!engine.ok()) return Fail(engine.error());
  velum::Result<velum::ModulePtr> module =
      o.module ? velum::Result<velum::ModulePtr>(o.module)
               : velum::Module::FromFile(velum::shell::ResolveModule(o.file));
  if (!module.ok()) return Fail(module.error());
  if (o.preopens.size() > velum::kMaxPreopens)
    return Fail(velum::MakeError(velum::ErrorKind::kBadArguments,
                                 std::to_string(o.preopens.size()) +
                                     " directories: --dir and --ro-dir at most " +
                                     std::to_string(velum::kMaxPreopens) + " times in all"));
  for (const std::string& e : o.env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || e.find('\0') != std::string::npos)
      return Fail(velum::MakeError(velum::ErrorKind::kBadArguments,
                                   "--env wants NAME=VALUE, not '" + e + "'"));
  }
  const std::string func = o.command ? "_start" : o.func;
  auto exported = (*module)->FindFunction(func);
  if (!exported.ok()) return Fail(exported.error());
  auto args = velum::ParseArgs(o.command ? std::vector<std::string>{} : o.args, (*exported)->sig);
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
  spec.func = func;
  spec.args = *args;
  if (o.command || (*module)->ImportsWasi()) {
    velum::CallSpec::Wasi wasi;
    wasi.args.push_back(std::filesystem::path(o.file).filename().string());
    wasi.args.insert(wasi.args.end(), o.program_args.begin(), o.program_args.end());
    wasi.env = o.env;
    wasi.preopens = o.preopens;
    // The program's writes reach velum's stdout and stderr as it makes them, unbuffered.
    wasi.on_output = [](int stream, const std::string& data) {
      std::FILE* to = stream == 1 ? stdout : stderr;
      std::fwrite(data.data(), 1, data.size(), to);
      std::fflush(to);
    };
    spec.wasi = std::move(wasi);
  } else if (!o.preopens.empty()) {
    return Fail(velum::MakeError(
        velum::ErrorKind::kBadArguments,
        "--dir and --ro-dir are for WASI programs; " + o.file + " imports nothing of WASI"));
  }
  spec.engine = *engine;
  spec.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  spec.max_memory_pages = o.max_memory_mib * 16;
  auto outcome = pool.Call(spec);
  if (!outcome.ok()) return Fail(outcome.error());
  std::fwrite(outcome->stdout_data.data(), 1, outcome->stdout_data.size(), stdout);
  std::fflush(stdout);
  std::fwrite(outcome->stderr_data.data(), 1, outcome->stderr_data.size(), stderr);
  if (outcome->output_truncated)
    std::fprintf(stderr, "velum: the program's output was cut at its cap\n");
  if (outcome->failure) return Fail(*outcome->failure);
  for (const auto& v : outcome->values) std::printf("%s\n", velum::FormatValue(v).c_str());
  // The results first, then the time on a line of its own, even when both go to one pipe.
  std::fflush(stdout);
  if (o.time)
    std::fprintf(stderr, "velum: time: %s in %.3f ms on the %s engine%s%s\n", func.c_str(),
                 outcome->elapsed.count() / 1e6, velum::EngineKindName(outcome->engine),
                 outcome->note.empty() ? "" : "; ", outcome->note.c_str());
  else if (!outcome->note.empty())
    std::fprintf(stderr, "velum: note: %s\n", outcome->note.c_str());
  if (!spec.wasi) return 0;
  if (outcome->exit_code > 255) {  // a process's status holds 8 bits: 256 must not read as 0
    std::fprintf(stderr, "velum: the program exited with %u, which does not fit an exit status\n",
                 outcome->exit_code);
    return kExitFailure;
  }
  return static_cast<int>(outcome->exit_code);
}

// `velum run [OPTIONS] FILE ...`: where FILE is (the first word that is not an option or an
// option's value), or 0. Words after it belong to the program when FILE is a WASI command.
int FileIndex(int argc, char** argv) {
  static const std::vector<std::string> with_value = {
      "--engine", "--timeout", "--max-memory", "--env", "--invoke", "--dir", "--ro-dir"};
  for (int i = 2; i < argc; i++) {
    std::string w = argv[i];
    if (w == "--") return i + 1 < argc ? i + 1 : 0;
    if (w.rfind("--", 0) != 0 || w.size() == 2) return i;
    if (w.find('=') != std::string::npos) continue;  // --opt=value
    for (const auto& o : with_value)
      if (w == o) i++;
  }
  return 0;
}

// Whether velum's own options (those before FILE, or all when FILE was not found) ask for
// --invoke: the program's words after FILE are its own.
bool GivesInvoke(char** argv, int end) {
  for (int i = 2; i < end; i++) {
    std::string w = argv[i];
    if (w == "--") break;
    if (w == "--invoke" || w.rfind("--invoke=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  namespace limits = velum::shell;
  CLI::App app{"velum: run WebAssembly exports in the VelumOS sandbox"};
  app.require_subcommand(1);
  app.footer(limits::kExitCodesHelp);
  RunOptions run;
  // A WASI command takes every word after FILE as its own: those are set aside before the
  // options are parsed, so that the program's -v or --out never reach velum's parser.
  std::vector<char*> args(argv, argv + argc);
  bool invoking = false;
  if (argc > 2 && std::string(argv[1]) == "run") {
    const int f = FileIndex(argc, argv);
    invoking = GivesInvoke(argv, f > 0 ? f : argc);
    if (f > 0 && !invoking) {
      // FILE decides how the words after it are read: a module that cannot be loaded is said
      // here, not as a confusing complaint about the words that follow it.
      auto module = velum::Module::FromFile(velum::shell::ResolveModule(argv[f]));
      if (!module.ok()) return Fail(module.error());
      run.module = *module;
      auto start = (*module)->FindFunction("_start");
      if (start.ok() && (*start)->sig.params.empty()) {  // a WASI command
        run.command = true;
        run.program_args.assign(argv + f + 1, argv + argc);
        args.assign(argv, argv + f + 1);
      }
    }
  }
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run FUNC of FILE with ARGS and print the results; or run FILE as a WASI command (it "
      "exports _start): every word after FILE is the program's, velum exits with its code");
  run_cmd
      ->add_option("file", run.file,
                   "the .wasm module: a path, or a name like primes looked up in "
                   "$VELUM_WASM_PATH and build/wasm (as the node's shell does)")
      ->required();
  auto* func_option = run_cmd->add_option("func", run.func, "the exported function");
  if (!run.command && !invoking) func_option->required();
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
  // Repeatable options take one value each time: left to CLI11, a list would also take the
  // words after it (FILE, ARGS) while positionals are left to fill.
  run_cmd
      ->add_option("--env", run.env,
                   "NAME=VALUE for a WASI program's environment (repeatable; it sees no "
                   "other variable, never velum's own)")
      ->allow_extra_args(false);
  std::vector<std::string> dirs, ro_dirs;
  auto* dir_option =
      run_cmd
          ->add_option("--dir", dirs,
                       "HOST[::GUEST]: a directory the WASI program may read and write, and all "
                       "beneath it, named GUEST in the program (default: HOST as written); it "
                       "reaches no other file (repeatable)")
          ->allow_extra_args(false);
  auto* ro_dir_option =
      run_cmd
          ->add_option("--ro-dir", ro_dirs,
                       "HOST[::GUEST]: as --dir, but the program may only read it (repeatable)")
          ->allow_extra_args(false);
  run_cmd->add_option("--invoke", run.invoke,
                      "call this export of a WASI command instead of running it (its ARGS "
                      "follow FILE)");
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
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "velum: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  // Nothing the user gives may abort the program: an exception that escapes the checks
  // above is still one line and a non-zero exit.
  try {
    if (*inspect_cmd) return Inspect(inspect_file, inspect_all);
    // The program's descriptors 3, 4, ... in the order the options were given.
    size_t next_dir = 0, next_ro_dir = 0;
    for (const CLI::Option* option : run_cmd->parse_order()) {
      bool read_only = option == ro_dir_option;
      if (option != dir_option && !read_only) continue;
      const auto& words = read_only ? ro_dirs : dirs;
      size_t& next = read_only ? next_ro_dir : next_dir;
      if (next >= words.size()) continue;
      auto preopen = ParsePreopen(read_only ? "--ro-dir" : "--dir", words[next++], read_only);
      if (!preopen.ok()) return Fail(preopen.error());
      run.preopens.push_back(std::move(*preopen));
    }
    if (!run.invoke.empty()) {  // FILE then the export's ARGS: FUNC is --invoke's
      if (!run.func.empty()) run.args.insert(run.args.begin(), run.func);
      run.func = run.invoke;
    }
    return Run(run);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "velum: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
