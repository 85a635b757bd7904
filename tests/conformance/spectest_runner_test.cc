// Unit tests of the spec runner against a scripted fake engine: every command kind, named
// modules and registration, trap matching, failure messages and crash isolation.
#include "conformance/spectest_runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "conformance/script_process.h"

namespace velum::conformance {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What the fake instances answer, shared by all instances of one engine.
struct Script {
  std::map<std::string, Result<std::vector<Value>>> calls;
  std::map<int, Error> instantiate_errors;  // by instantiation number, from 0
  std::map<std::string, int> registered;    // name -> instance id (instances die with the run)
  int instantiations = 0;
  int call_count = 0;
};

class FakeInstance : public Instance {
 public:
  FakeInstance(Script* script, ModulePtr module, int id)
      : script_(script), module_(std::move(module)), id_(id) {}
  Result<std::vector<Value>> Call(const std::string& name, const std::vector<Value>&) override {
    script_->call_count++;
    if (name == "id") return std::vector<Value>{Value::I32(id_)};
    if (name == "crash") std::abort();
    if (name == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
    auto it = script_->calls.find(name);
    if (it == script_->calls.end()) return MakeError(ErrorKind::kExportNotFound, name);
    return it->second;
  }
  Result<Value> GetGlobal(const std::string& name) override {
    if (name == "g") return Value::I32(7);
    return MakeError(ErrorKind::kExportNotFound, name);
  }
  const Module& module() const override { return *module_; }
  InstanceLimits& limits() override { return limits_; }
  int id() const { return id_; }

 private:
  Script* script_;
  ModulePtr module_;
  int id_;
  InstanceLimits limits_;
};

class FakeEngine : public Engine {
 public:
  explicit FakeEngine(Script* script) : script_(script) {}
  EngineKind kind() const override { return EngineKind::kInterp; }
  Result<std::unique_ptr<Instance>> Instantiate(const ModulePtr& module,
                                                const InstanceLimits&) override {
    int id = script_->instantiations++;
    auto error = script_->instantiate_errors.find(id);
    if (error != script_->instantiate_errors.end()) return error->second;
    return std::unique_ptr<Instance>(new FakeInstance(script_, module, id));
  }
  void Register(const std::string& name, Instance* instance) override {
    script_->registered[name] = static_cast<FakeInstance*>(instance)->id();
  }

 private:
  Script* script_;
};

const std::string kEmptyModule("\0asm\x01\0\0\0", 8);
const std::string kOtherModule("\0asm\x01\0\0\0\0\x02\x01x", 12);  // with a custom section
const std::string kTruncatedModule("\0asm\x01\0\0\0\x01\x05", 10);

class SpecRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("velum-runner-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    Write("m.wasm", kEmptyModule);
    Write("other.wasm", kOtherModule);
    Write("bad.wasm", kTruncatedModule);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }

  EngineFactory Factory() {
    return [this](const std::vector<ModulePtr>& modules) -> Result<std::unique_ptr<Engine>> {
      preloaded_ = modules.size();
      return std::unique_ptr<Engine>(new FakeEngine(&script_));
    };
  }

  // Writes a script as wast2json would, from the text of its command list.
  fs::path WriteScript(const char* commands) {
    json script = {{"source_filename", "t.wast"}, {"commands", json::parse(commands)}};
    std::ofstream(dir_ / "t.json") << script;
    return dir_ / "t.json";
  }

  ScriptResult Run(const char* commands, RunOptions options = {}) {
    return RunScript(WriteScript(commands), Factory(), options);
  }

  std::vector<int> FailedLines(const ScriptResult& result) {
    std::vector<int> lines;
    for (const auto& f : result.failures) lines.push_back(f.line);
    return lines;
  }

  fs::path dir_;
  Script script_;
  size_t preloaded_ = 0;
};

TEST_F(SpecRunnerTest, ChecksEachCommandKind) {
  script_.calls.emplace("answer", std::vector<Value>{Value::I32(42)});
  script_.calls.emplace("div", MakeTrap(TrapKind::kIntegerDivideByZero));
  script_.calls.emplace("oob", MakeTrap(TrapKind::kOutOfBoundsMemory));
  script_.calls.emplace("deep", MakeTrap(TrapKind::kStackExhausted));
  const char* commands = R"([
    {"type": "module", "line": 1, "filename": "m.wasm"},
    {"type": "assert_return", "line": 2,
     "action": {"type": "invoke", "field": "answer", "args": []},
     "expected": [{"type": "i32", "value": "42"}]},
    {"type": "assert_return", "line": 3,
     "action": {"type": "invoke", "field": "answer", "args": []},
     "expected": [{"type": "i32", "value": "43"}]},
    {"type": "assert_trap", "line": 4, "action": {"type": "invoke", "field": "div", "args": []},
     "text": "integer divide by zero", "expected": [{"type": "i32"}]},
    {"type": "assert_trap", "line": 5, "action": {"type": "invoke", "field": "oob", "args": []},
     "text": "out of bounds table access", "expected": [{"type": "i32"}]},
    {"type": "assert_trap", "line": 6, "action": {"type": "invoke", "field": "answer", "args": []},
     "text": "unreachable", "expected": [{"type": "i32"}]},
    {"type": "assert_exhaustion", "line": 7,
     "action": {"type": "invoke", "field": "deep", "args": []},
     "text": "call stack exhausted", "expected": []},
    {"type": "assert_malformed", "line": 8, "filename": "x.wat", "text": "unknown operator",
     "module_type": "text"},
    {"type": "assert_malformed", "line": 9, "filename": "bad.wasm", "text": "unexpected end",
     "module_type": "binary"},
    {"type": "assert_invalid", "line": 10, "filename": "m.wasm", "text": "type mismatch",
     "module_type": "binary"},
    {"type": "action", "line": 11, "action": {"type": "invoke", "field": "answer", "args": []},
     "expected": [{"type": "i32"}]},
    {"type": "assert_return", "line": 12, "action": {"type": "get", "field": "g"},
     "expected": [{"type": "i32", "value": "7"}]}
  ])";
  ScriptResult result = Run(commands);
  EXPECT_EQ(FailedLines(result), (std::vector<int>{3, 5, 6, 10}));
  EXPECT_EQ(result.total.passed, 7);
  EXPECT_EQ(result.total.failed, 4);
  EXPECT_EQ(result.total.skipped, 1);
  EXPECT_EQ(result.by_command["assert_trap"].failed, 2);
  EXPECT_EQ(result.skip_reasons.size(), 1u);
  EXPECT_EQ(result.failures[0].message, "invoke \"answer\"(): got i32:42, expected i32:43");
  EXPECT_NE(result.failures[1].message.find("expected 'out of bounds table access'"),
            std::string::npos)
      << result.failures[1].message;
}

TEST_F(SpecRunnerTest, AnyTrapAcceptsAnotherKind) {
  script_.calls.emplace("oob", MakeTrap(TrapKind::kOutOfBoundsMemory));
  const char* commands = R"([
    {"type": "module", "line": 1, "filename": "m.wasm"},
    {"type": "assert_trap", "line": 2, "action": {"type": "invoke", "field": "oob", "args": []},
     "text": "out of bounds table access", "expected": []}
  ])";
  RunOptions options;
  options.trap_check = TrapCheck::kAnyTrap;
  EXPECT_EQ(Run(commands, options).total.failed, 0);
}

TEST_F(SpecRunnerTest, NamedModulesRegistrationAndLinkErrors) {
  script_.instantiate_errors[2] = MakeError(ErrorKind::kUnlinkable, "unknown import");
  script_.instantiate_errors[3] = MakeTrap(TrapKind::kUnreachable);
  const char* commands = R"([
    {"type": "module", "line": 1, "name": "$a", "filename": "m.wasm"},
    {"type": "module", "line": 2, "filename": "m.wasm"},
    {"type": "register", "line": 3, "name": "$a", "as": "lib"},
    {"type": "assert_return", "line": 4,
     "action": {"type": "invoke", "module": "$a", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "0"}]},
    {"type": "assert_return", "line": 5, "action": {"type": "invoke", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "1"}]},
    {"type": "assert_unlinkable", "line": 6, "filename": "m.wasm", "text": "unknown import",
     "module_type": "binary"},
    {"type": "assert_uninstantiable", "line": 7, "filename": "other.wasm", "text": "unreachable",
     "module_type": "binary"},
    {"type": "assert_return", "line": 8,
     "action": {"type": "invoke", "module": "$b", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "0"}]}
  ])";
  ScriptResult result = Run(commands);
  EXPECT_EQ(FailedLines(result), (std::vector<int>{8}));  // no module named $b
  ASSERT_EQ(script_.registered.count("lib"), 1u);
  EXPECT_EQ(script_.registered["lib"], 0);
  EXPECT_EQ(preloaded_, 2u);  // each module the script instantiates once, for an AOT batch
}

TEST_F(SpecRunnerTest, FailedModuleFailsTheActionsOnIt) {
  script_.instantiate_errors[0] = MakeError(ErrorKind::kUnlinkable, "unknown import");
  const char* commands = R"([
    {"type": "module", "line": 1, "filename": "m.wasm"},
    {"type": "assert_return", "line": 2, "action": {"type": "invoke", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "0"}]}
  ])";
  ScriptResult result = Run(commands);
  EXPECT_EQ(FailedLines(result), (std::vector<int>{1, 2}));
  EXPECT_NE(result.failures[1].message.find("module at line 1 failed"), std::string::npos);
}

TEST_F(SpecRunnerTest, DoNotRunLinesFailWithoutRunning) {
  const char* commands = R"([
    {"type": "module", "line": 1, "filename": "m.wasm"},
    {"type": "assert_return", "line": 2, "action": {"type": "invoke", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "0"}]},
    {"type": "assert_return", "line": 3, "action": {"type": "invoke", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "0"}]}
  ])";
  RunOptions options;
  options.do_not_run[2] = "crashed the process: Segmentation fault";
  std::vector<int> progress;
  options.on_progress = [&progress](int line) { progress.push_back(line); };
  ScriptResult result = Run(commands, options);
  EXPECT_EQ(FailedLines(result), (std::vector<int>{2}));
  EXPECT_EQ(result.failures[0].message, "crashed the process: Segmentation fault");
  EXPECT_EQ(script_.call_count, 1);
  EXPECT_EQ(progress, (std::vector<int>{1, 0, 3, 0}));
}

TEST_F(SpecRunnerTest, ResultSurvivesJson) {
  const char* commands = R"([
    {"type": "module", "line": 1, "filename": "m.wasm"},
    {"type": "assert_return", "line": 2, "action": {"type": "invoke", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "5"}]}
  ])";
  ScriptResult result = Run(commands);
  ScriptResult copy = ScriptResultFromJson(ScriptResultToJson(result));
  EXPECT_EQ(ScriptResultToJson(copy), ScriptResultToJson(result));
  EXPECT_EQ(copy.failures.at(0).line, 2);
}

TEST_F(SpecRunnerTest, IsolationTurnsCrashesAndHangsIntoFailedCommands) {
  const char* commands = R"([
    {"type": "module", "line": 1, "filename": "m.wasm"},
    {"type": "action", "line": 2, "action": {"type": "invoke", "field": "crash", "args": []},
     "expected": []},
    {"type": "action", "line": 3, "action": {"type": "invoke", "field": "hang", "args": []},
     "expected": []},
    {"type": "assert_return", "line": 4, "action": {"type": "invoke", "field": "id", "args": []},
     "expected": [{"type": "i32", "value": "0"}]}
  ])";
  ScriptResult result =
      RunScriptIsolated(WriteScript(commands), Factory(), {}, std::chrono::seconds(1));
  EXPECT_EQ(FailedLines(result), (std::vector<int>{2, 3}));
  EXPECT_EQ(result.total.passed, 2);
  EXPECT_EQ(result.failures.at(0).message, "crashed the process: Aborted");
  EXPECT_EQ(result.failures.at(1).message, "hung: killed after 1 s");
}

TEST_F(SpecRunnerTest, UnreadableScriptIsFatal) {
  auto factory = [](const std::vector<ModulePtr>&) -> Result<std::unique_ptr<Engine>> {
    return MakeError(ErrorKind::kInternal, "unused");
  };
  ScriptResult result = RunScript(dir_ / "missing.json", factory, {});
  EXPECT_FALSE(result.fatal.empty());
  EXPECT_EQ(result.total.failed, 1);
}

}  // namespace
}  // namespace velum::conformance
