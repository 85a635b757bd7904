// Runs one wast2json script: modules are loaded and linked as the script says, actions go to
// the current or a named instance, and each assertion is checked with the spec's rules.
#include "conformance/spectest_runner.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "conformance/spec_values.h"

namespace velum::conformance {

namespace {

using nlohmann::json;

// The verdict on one command.
struct Outcome {
  enum Status { kPass, kFail, kSkip };
  Status status = kPass;
  std::string message;  // why it failed or was skipped
};

Outcome Pass() { return {}; }
Outcome Fail(std::string message) { return {Outcome::kFail, std::move(message)}; }
Outcome Skip(std::string message) { return {Outcome::kSkip, std::move(message)}; }

// A module the engine cannot compile (wasm2c 1.0.32 has no SIMD, for one) is excluded with
// every command that needs it: skipped with the reason, never counted as a pass.
// Only wasm2c's refusals count: a C compiler failure on translated code is a defect.
bool Unsupported(const Error& error) {
  return error.kind == ErrorKind::kCompilerFailed && error.message.rfind("wasm2c", 0) == 0;
}
Outcome SkipUnsupported(const Error& error) {
  std::string why = error.message;
  // wasm2c's message names the first construct it cannot translate; keep one short line.
  if (why.size() > 120) why = why.substr(0, 120) + "...";
  return Skip("engine cannot compile the module: " + why);
}

constexpr const char* kTextModuleReason =
    "text-format module: the runtime loads binary modules only";

// The trap kind the suite means by an expected trap text, or kNone for a text it does not
// classify (any trap then matches). Texts are matched by prefix ("uninitialized element 2").
TrapKind ExpectedTrapKind(const std::string& text) {
  static const struct {
    const char* prefix;
    TrapKind kind;
  } kTable[] = {
      {"unreachable", TrapKind::kUnreachable},
      {"integer divide by zero", TrapKind::kIntegerDivideByZero},
      {"integer overflow", TrapKind::kIntegerOverflow},
      {"invalid conversion to integer", TrapKind::kInvalidConversion},
      {"out of bounds memory access", TrapKind::kOutOfBoundsMemory},
      {"out of bounds table access", TrapKind::kOutOfBoundsTable},
      {"undefined element", TrapKind::kOutOfBoundsTable},  // call_indirect past the table end
      {"uninitialized element", TrapKind::kUninitializedElement},
      {"indirect call type mismatch", TrapKind::kIndirectCallMismatch},
      {"call stack exhausted", TrapKind::kStackExhausted},
      {"null", TrapKind::kNullReference},
  };
  for (const auto& row : kTable)
    if (text.rfind(row.prefix, 0) == 0) return row.kind;
  return TrapKind::kNone;
}

std::string Quote(const std::string& text) { return "'" + text + "'"; }

class ScriptRunner {
 public:
  ScriptRunner(std::filesystem::path dir, const RunOptions& options)
      : dir_(std::move(dir)), options_(options) {}

  // The valid modules the script instantiates, each once, for the engine factory.
  std::vector<ModulePtr> ModulesToInstantiate(const json& commands);
  void SetEngine(std::unique_ptr<Engine> engine) { engine_ = std::move(engine); }
  Outcome Run(const json& command);

 private:
  Outcome DefineModule(const json& command);
  Outcome RegisterInstance(const json& command);
  Outcome PerformAction(const json& command);
  Outcome AssertReturn(const json& command);
  Outcome AssertTrap(const json& command);
  Outcome AssertExhaustion(const json& command);
  Outcome AssertRejected(const json& command);
  Outcome AssertUninstantiable(const json& command);
  Outcome AssertUnlinkable(const json& command);

  Result<ModulePtr> Load(const std::string& filename);
  Result<std::unique_ptr<Instance>> Instantiate(const ModulePtr& module);
  Result<Instance*> Target(const json& action);
  Result<std::vector<Value>> Invoke(const json& action);
  std::optional<std::string> CheckTrap(const Error& error, const std::string& text) const;
  std::string Describe(const json& action) const;

  std::filesystem::path dir_;
  RunOptions options_;
  std::map<std::string, Result<ModulePtr>> loaded_;  // by file name
  // Declared before the instances so that it outlives them: they live in its store.
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::map<std::string, Instance*> named_;
  Instance* current_ = nullptr;
  std::optional<Error> current_unsupported_;        // why the current module could not compile
  std::map<std::string, Error> named_unsupported_;  // the same for named modules
  int current_line_ = 0;  // of the last module command, for "no module" messages
};

std::vector<ModulePtr> ScriptRunner::ModulesToInstantiate(const json& commands) {
  std::vector<ModulePtr> modules;
  for (const json& command : commands) {
    std::string type = command.value("type", "");
    bool instantiated = type == "module" || type == "assert_uninstantiable" ||
                        type == "assert_unlinkable" || type == "assert_trap";
    if (!instantiated || !command.contains("filename")) continue;
    if (command.value("module_type", "binary") != "binary") continue;
    auto module = Load(command.at("filename"));
    if (!module.ok()) continue;
    auto same = [&](const ModulePtr& m) { return m->hash() == (*module)->hash(); };
    if (std::none_of(modules.begin(), modules.end(), same)) modules.push_back(*module);
  }
  return modules;
}

Outcome ScriptRunner::Run(const json& command) {
  const std::string type = command.at("type");
  if (type == "module") return DefineModule(command);
  if (type == "register") return RegisterInstance(command);
  if (type == "action") return PerformAction(command);
  if (type == "assert_return") return AssertReturn(command);
  if (type == "assert_trap") return AssertTrap(command);
  if (type == "assert_exhaustion") return AssertExhaustion(command);
  if (type == "assert_invalid" || type == "assert_malformed") return AssertRejected(command);
  if (type == "assert_uninstantiable") return AssertUninstantiable(command);
  if (type == "assert_unlinkable") return AssertUnlinkable(command);
  return Fail("unsupported command type " + Quote(type));
}

Result<ModulePtr> ScriptRunner::Load(const std::string& filename) {
  auto cached = loaded_.find(filename);
  if (cached != loaded_.end()) return cached->second;
  std::ifstream in(dir_ / filename, std::ios::binary);
  Result<ModulePtr> module = MakeError(ErrorKind::kIo, "cannot read " + filename);
  if (in) {
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    module = Module::FromBytes(std::move(bytes));
  }
  loaded_.emplace(filename, module);
  return module;
}

Result<std::unique_ptr<Instance>> ScriptRunner::Instantiate(const ModulePtr& module) {
  InstanceLimits limits;
  limits.max_memory_pages = options_.max_memory_pages;
  limits.deadline = std::chrono::steady_clock::now() + options_.call_timeout;
  return engine_->Instantiate(module, limits);
}

Outcome ScriptRunner::DefineModule(const json& command) {
  current_ = nullptr;
  current_unsupported_.reset();
  current_line_ = command.at("line");
  auto module = Load(command.at("filename"));
  if (!module.ok()) return Fail("module rejected: " + module.error().ToString());
  auto instance = Instantiate(*module);
  if (!instance.ok() && Unsupported(instance.error())) {
    current_unsupported_ = instance.error();
    if (command.contains("name")) named_unsupported_[command.at("name")] = instance.error();
    return SkipUnsupported(instance.error());
  }
  if (!instance.ok()) return Fail("module not instantiated: " + instance.error().ToString());
  current_ = instance->get();
  instances_.push_back(std::move(*instance));
  if (command.contains("name")) named_[command.at("name")] = current_;
  return Pass();
}

Outcome ScriptRunner::RegisterInstance(const json& command) {
  auto target = Target(command);
  if (!target.ok() && Unsupported(target.error())) return SkipUnsupported(target.error());
  if (!target.ok()) return Fail(target.error().message);
  engine_->Register(command.at("as"), *target);
  return Pass();
}

// The instance an action (or register command) names, else the current one.
Result<Instance*> ScriptRunner::Target(const json& action) {
  if (action.contains("name") || action.contains("module")) {
    std::string name = action.contains("module") ? action.at("module") : action.at("name");
    auto it = named_.find(name);
    if (auto u = named_unsupported_.find(name); it == named_.end() && u != named_unsupported_.end())
      return u->second;
    if (it == named_.end()) return MakeError(ErrorKind::kInternal, "no module named " + name);
    return it->second;
  }
  if (current_ == nullptr && current_unsupported_) return *current_unsupported_;
  if (current_ == nullptr) {
    return MakeError(ErrorKind::kInternal, "no current module (the module at line " +
                                               std::to_string(current_line_) + " failed)");
  }
  return current_;
}

Result<std::vector<Value>> ScriptRunner::Invoke(const json& action) {
  auto target = Target(action);
  if (!target.ok()) return target.error();
  Instance* instance = *target;
  const std::string type = action.at("type");
  const std::string field = action.at("field");
  if (type == "get") {
    auto value = instance->GetGlobal(field);
    if (!value.ok()) return value.error();
    return std::vector<Value>{*value};
  }
  if (type != "invoke") throw ScriptFormatError("unknown action type " + Quote(type));
  std::vector<Value> args;
  for (const json& arg : action.at("args")) args.push_back(ParseArgument(arg));
  instance->limits().deadline = std::chrono::steady_clock::now() + options_.call_timeout;
  return instance->Call(field, args);
}

// "invoke "add"(i32:1, i32:2)" or "get "g"", for failure messages.
std::string ScriptRunner::Describe(const json& action) const {
  std::string out =
      action.at("type").get<std::string>() + " \"" + action.at("field").get<std::string>() + "\"";
  if (!action.contains("args")) return out;
  std::vector<Value> args;
  for (const json& arg : action.at("args")) args.push_back(ParseArgument(arg));
  return out + DescribeValues(args);
}

Outcome ScriptRunner::PerformAction(const json& command) {
  const json& action = command.at("action");
  auto results = Invoke(action);
  if (!results.ok() && Unsupported(results.error())) return SkipUnsupported(results.error());
  if (!results.ok()) return Fail(Describe(action) + " failed: " + results.error().ToString());
  return Pass();
}

Outcome ScriptRunner::AssertReturn(const json& command) {
  const json& action = command.at("action");
  auto results = Invoke(action);
  if (!results.ok() && Unsupported(results.error())) return SkipUnsupported(results.error());
  if (!results.ok()) return Fail(Describe(action) + " failed: " + results.error().ToString());
  const json& expected = command.at("expected");
  if (results->size() != expected.size()) {
    return Fail(Describe(action) + " returned " + std::to_string(results->size()) +
                " values, expected " + std::to_string(expected.size()));
  }
  for (size_t i = 0; i < expected.size(); i++) {
    auto mismatch = MatchResult(expected[i], (*results)[i]);
    if (!mismatch) continue;
    std::string which = expected.size() > 1 ? " result " + std::to_string(i + 1) : "";
    return Fail(Describe(action) + which + ": " + *mismatch);
  }
  return Pass();
}

// Nothing when `error` is the trap `text` names (any trap under TrapCheck::kAnyTrap).
std::optional<std::string> ScriptRunner::CheckTrap(const Error& error,
                                                   const std::string& text) const {
  if (error.kind != ErrorKind::kTrap)
    return "failed with " + Quote(error.ToString()) + ", expected trap " + Quote(text);
  TrapKind expected = ExpectedTrapKind(text);
  if (options_.trap_check == TrapCheck::kAnyTrap || expected == TrapKind::kNone ||
      error.trap == expected) {
    return std::nullopt;
  }
  return "trapped with " + Quote(error.ToString()) + ", expected " + Quote(text);
}

Outcome ScriptRunner::AssertTrap(const json& command) {
  if (!command.contains("action")) return AssertUninstantiable(command);
  const json& action = command.at("action");
  auto results = Invoke(action);
  if (!results.ok() && Unsupported(results.error())) return SkipUnsupported(results.error());
  if (results.ok()) {
    return Fail(Describe(action) + " returned " + DescribeValues(*results) + ", expected trap " +
                Quote(command.at("text")));
  }
  auto mismatch = CheckTrap(results.error(), command.at("text"));
  return mismatch ? Fail(Describe(action) + " " + *mismatch) : Pass();
}

Outcome ScriptRunner::AssertExhaustion(const json& command) {
  return AssertTrap(command);  // "call stack exhausted" names TrapKind::kStackExhausted
}

// assert_invalid and assert_malformed: the module must be refused when it is loaded.
Outcome ScriptRunner::AssertRejected(const json& command) {
  if (command.at("module_type") != "binary") return Skip(kTextModuleReason);
  const std::string text = command.at("text");
  auto module = Load(command.at("filename"));
  if (module.ok()) return Fail("module accepted, expected it rejected as " + Quote(text));
  if (module.error().kind != ErrorKind::kInvalidModule) {
    return Fail("module refused with " + Quote(module.error().ToString()) +
                ", expected invalid module " + Quote(text));
  }
  return Pass();
}

Outcome ScriptRunner::AssertUninstantiable(const json& command) {
  if (command.value("module_type", "binary") != "binary") return Skip(kTextModuleReason);
  const std::string text = command.at("text");
  auto module = Load(command.at("filename"));
  if (!module.ok()) return Fail("module rejected: " + module.error().ToString());
  auto instance = Instantiate(*module);
  if (!instance.ok() && Unsupported(instance.error())) return SkipUnsupported(instance.error());
  if (instance.ok()) return Fail("module instantiated, expected trap " + Quote(text));
  auto mismatch = CheckTrap(instance.error(), text);
  return mismatch ? Fail("instantiation " + *mismatch) : Pass();
}

Outcome ScriptRunner::AssertUnlinkable(const json& command) {
  if (command.value("module_type", "binary") != "binary") return Skip(kTextModuleReason);
  const std::string text = command.at("text");
  auto module = Load(command.at("filename"));
  if (!module.ok()) return Fail("module rejected: " + module.error().ToString());
  auto instance = Instantiate(*module);
  if (!instance.ok() && Unsupported(instance.error())) return SkipUnsupported(instance.error());
  if (instance.ok()) return Fail("module instantiated, expected unlinkable " + Quote(text));
  if (instance.error().kind != ErrorKind::kUnlinkable) {
    return Fail("instantiation failed with " + Quote(instance.error().ToString()) +
                ", expected unlinkable " + Quote(text));
  }
  return Pass();
}

void Record(ScriptResult* result, const std::string& type, int line, const Outcome& outcome) {
  Tally& tally = result->by_command[type];
  switch (outcome.status) {
    case Outcome::kPass:
      tally.passed++;
      result->total.passed++;
      break;
    case Outcome::kFail:
      tally.failed++;
      result->total.failed++;
      result->failures.push_back({line, type, outcome.message});
      break;
    case Outcome::kSkip:
      tally.skipped++;
      result->total.skipped++;
      result->skip_reasons[outcome.message]++;
      break;
  }
}

// Runs every command, so that one failure never hides the verdict on the next.
void RunCommands(ScriptRunner* runner, const json& commands, const RunOptions& options,
                 ScriptResult* result) {
  for (const json& command : commands) {
    std::string type = command.value("type", "?");
    int line = command.value("line", 0);
    auto excluded = options.do_not_run.find(line);
    if (excluded != options.do_not_run.end()) {
      Record(result, type, line, Fail(excluded->second));
      continue;
    }
    if (options.on_progress) options.on_progress(line);
    Outcome outcome;
    try {
      outcome = runner->Run(command);
    } catch (const std::exception& e) {  // a command not in wast2json's format
      outcome = Fail(std::string("malformed command: ") + e.what());
    }
    if (options.on_progress) options.on_progress(0);
    Record(result, type, line, outcome);
  }
}

std::optional<json> ReadScript(const std::filesystem::path& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path.string();
    return std::nullopt;
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    *error = path.filename().string() + ": " + e.what();
    return std::nullopt;
  }
}

void SetFatal(ScriptResult* result, std::string message) {
  result->fatal = std::move(message);
  result->total.failed++;
}

}  // namespace

ScriptResult RunScript(const std::filesystem::path& json_path, const EngineFactory& factory,
                       const RunOptions& options) {
  auto start = std::chrono::steady_clock::now();
  ScriptResult result;
  result.name = json_path.stem().string();
  std::string error;
  std::optional<json> script = ReadScript(json_path, &error);
  if (!script || !script->contains("commands")) {
    SetFatal(&result, script ? "no commands in " + json_path.string() : error);
    return result;
  }
  const json& commands = script->at("commands");
  ScriptRunner runner(json_path.parent_path(), options);
  auto engine = factory(runner.ModulesToInstantiate(commands));
  if (!engine.ok()) {
    SetFatal(&result, "no engine: " + engine.error().ToString());
  } else {
    runner.SetEngine(std::move(*engine));
    RunCommands(&runner, commands, options, &result);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

namespace {

json TallyToJson(const Tally& t) {
  return {{"passed", t.passed}, {"failed", t.failed}, {"skipped", t.skipped}};
}

Tally TallyFromJson(const json& j) {
  return {j.at("passed").get<int>(), j.at("failed").get<int>(), j.at("skipped").get<int>()};
}

}  // namespace

json ScriptResultToJson(const ScriptResult& r) {
  json failures = json::array();
  for (const auto& f : r.failures) {
    failures.push_back(
        {{"line", f.line}, {"command", f.command}, {"message", f.message}, {"allowed", f.allowed}});
  }
  json by_command = json::object();
  for (const auto& [type, tally] : r.by_command) by_command[type] = TallyToJson(tally);
  return {{"script", r.name},         {"total", TallyToJson(r.total)},
          {"by_command", by_command}, {"skip_reasons", r.skip_reasons},
          {"failures", failures},     {"fatal", r.fatal},
          {"seconds", r.seconds}};
}

ScriptResult ScriptResultFromJson(const json& j) {
  ScriptResult r;
  r.name = j.at("script");
  r.total = TallyFromJson(j.at("total"));
  for (const auto& [type, tally] : j.at("by_command").items())
    r.by_command[type] = TallyFromJson(tally);
  r.skip_reasons = j.at("skip_reasons").get<std::map<std::string, int>>();
  for (const json& f : j.at("failures")) {
    r.failures.push_back({f.at("line").get<int>(), f.at("command").get<std::string>(),
                          f.at("message").get<std::string>(), f.at("allowed").get<bool>()});
  }
  r.fatal = j.at("fatal");
  r.seconds = j.at("seconds");
  return r;
}

}  // namespace velum::conformance
