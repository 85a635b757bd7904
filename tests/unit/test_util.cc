// Implementation of the unit tests' helpers: temp dirs, file I/O, wasm assembly, pool setup.
// The wasm builders emit the binary format directly so invalid and huge modules need no tools.
#include "test_util.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace velum {

void PrintTo(const Value& value, std::ostream* os) {
  *os << ValTypeName(value.type) << ":" << FormatValue(value);
}

void PrintTo(const Error& error, std::ostream* os) { *os << error.ToString(); }
void PrintTo(ErrorKind kind, std::ostream* os) { *os << ErrorKindName(kind); }
void PrintTo(TrapKind kind, std::ostream* os) { *os << TrapKindName(kind); }
void PrintTo(EngineKind kind, std::ostream* os) { *os << EngineKindName(kind); }

namespace test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "velum-unit-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path WasmPath(const std::string& name) { return fs::path(VELUM_WASM_DIR) / (name + ".wasm"); }

ModulePtr LoadWasm(const std::string& name) {
  auto module = Module::FromFile(WasmPath(name));
  if (!module.ok()) {
    ADD_FAILURE() << "cannot load " << WasmPath(name) << ": " << module.error().ToString();
    return nullptr;
  }
  return *module;
}

std::vector<uint8_t> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

void WriteBytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

namespace {

// Type section with one type () -> i32 (index 0), function section with one function of it.
std::vector<uint8_t> TypeSection(const std::vector<uint8_t>& types_payload) {
  return Section(1, types_payload);
}

}  // namespace

std::vector<uint8_t> InvalidReturnTypeModule() {
  return WasmModule({
      TypeSection({0x01, 0x60, 0x00, 0x01, 0x7f}),  // () -> i32
      Section(3, {0x01, 0x00}), ExportFunc("f", 0),
      CodeSection({0x42, 0x00, 0x0b}),  // i64.const 0; end
  });
}

std::vector<uint8_t> BigDataModule(size_t bytes) {
  const uint64_t pages = (bytes + 65535) / 65536;
  std::vector<uint8_t> memory = {0x01, 0x00};  // one memory, min only
  Append(&memory, LebU(pages));
  std::vector<uint8_t> body;
  body.push_back(0x41);  // i32.const bytes-1
  Append(&body, LebS(static_cast<int64_t>(bytes) - 1));
  Append(&body, {0x2d, 0x00, 0x00});                           // i32.load8_u align=0 offset=0
  Append(&body, {0x41, 0x00});                                 // i32.const 0
  Append(&body, {0x2d, 0x00, 0x00});                           // i32.load8_u
  Append(&body, {0x6a, 0x0b});                                 // i32.add; end
  std::vector<uint8_t> data = {0x01, 0x00, 0x41, 0x00, 0x0b};  // one active segment at 0
  Append(&data, LebU(bytes));
  size_t start = data.size();
  data.resize(start + bytes, 0xAB);
  data[start] = 7;
  data[start + bytes - 1] = 35;
  return WasmModule({
      TypeSection({0x01, 0x60, 0x00, 0x01, 0x7f}),
      Section(3, {0x01, 0x00}),
      Section(5, memory),
      ExportFunc("probe", 0),
      CodeSection(body),
      Section(11, data),
  });
}

std::vector<uint8_t> BigCustomSectionModule(size_t bytes) {
  std::vector<uint8_t> custom = Name("velum.padding");
  custom.resize(custom.size() + bytes, 0x5A);
  return WasmModule({
      TypeSection({0x01, 0x60, 0x00, 0x01, 0x7f}),
      Section(3, {0x01, 0x00}),
      ExportFunc("answer", 0),
      CodeSection({0x41, 42, 0x0b}),  // i32.const 42; end
      Section(0, custom),
  });
}

std::vector<uint8_t> ManyLocalsModule(uint32_t locals, int32_t answer) {
  std::vector<uint8_t> body = {0x01};  // one group of locals ...
  Append(&body, LebU(locals));
  body.push_back(0x7f);  // ... of i32
  body.push_back(0x41);  // i32.const answer; end
  Append(&body, LebS(answer));
  body.push_back(0x0b);
  std::vector<uint8_t> code = {0x01};
  Append(&code, LebU(body.size()));
  Append(&code, body);
  return WasmModule({
      TypeSection({0x01, 0x60, 0x00, 0x01, 0x7f}),
      Section(3, {0x01, 0x00}),
      ExportFunc("f", 0),
      Section(10, code),
  });
}

std::vector<uint8_t> ImportingModule() {
  std::vector<uint8_t> imports = {0x01};
  Append(&imports, Name("env"));
  Append(&imports, Name("log"));
  Append(&imports, {0x00, 0x00});  // func of type 0
  return WasmModule({
      TypeSection({0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00}),  // (i32)->(), ()->()
      Section(2, imports), Section(3, {0x01, 0x01}), ExportFunc("main", 1),
      CodeSection({0x41, 0x05, 0x10, 0x00, 0x0b}),  // i32.const 5; call 0; end
  });
}

PoolOptions TestPoolOptions(const fs::path& home, size_t slots) {
  PoolOptions options;
  options.slots = slots;
  options.home = home;
  options.executor_path = VELUM_EXECUTOR_PATH;
  return options;
}

CallSpec Spec(const ModulePtr& module, const std::string& func, std::vector<Value> args,
              EngineKind engine, std::chrono::milliseconds timeout) {
  CallSpec spec;
  spec.module = module;
  spec.func = func;
  spec.args = std::move(args);
  spec.engine = engine;
  spec.timeout = timeout;
  return spec;
}

void ExpectSumWorks(ExecutorPool& pool, EngineKind engine) {
  ModulePtr sum = LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  auto outcome = pool.Call(Spec(sum, "sum", I32s({1, 2, 3}), engine));
  ASSERT_TRUE(outcome.ok()) << "the next call failed: " << outcome.error().ToString();
  ASSERT_EQ(outcome->values.size(), 1u);
  EXPECT_EQ(outcome->values[0], Value::I32(6));
}

int ParentOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  char state = 0;
  int ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

bool KillChild(int pid) {
  if (pid <= 1 || ParentOf(pid) != getpid()) {
    ADD_FAILURE() << "refusing to kill " << pid << ": not a child of this test";
    return false;
  }
  return kill(pid, SIGKILL) == 0;
}

char ProcessState(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // "pid (comm) S ...": the state follows the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return 0;
  return line[close + 2];
}

bool WaitForProcessState(int pid, bool (*pred)(char), std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred(ProcessState(pid))) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::vector<Value> I32s(std::initializer_list<int32_t> values) {
  std::vector<Value> out;
  for (int32_t v : values) out.push_back(Value::I32(v));
  return out;
}

}  // namespace test
}  // namespace velum
