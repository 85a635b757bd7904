// Tests of the parse limits: hostile but valid modules (deep nesting, many functions, wide
// signatures) get one clear error without crashing or ballooning; real modules still load.
#include "runtime/module_bounds.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "runtime/module.h"
#include "test_util.h"

namespace velum {
namespace {

using Bytes = std::vector<uint8_t>;
using test::LebU;
using test::Section;
using test::WasmModule;

void Append(Bytes* out, const Bytes& more) { out->insert(out->end(), more.begin(), more.end()); }

// One type () -> (), `bodies.size()` functions (each body given without its size prefix),
// function 0 exported as "f".
Bytes FunctionsModule(const std::vector<Bytes>& bodies, uint64_t count = 0,
                      const Bytes& types = {0x01, 0x60, 0x00, 0x00}) {
  if (count == 0) count = bodies.size();
  Bytes funcs = LebU(count);
  funcs.insert(funcs.end(), count, 0x00);
  Bytes code = LebU(count);
  for (uint64_t i = 0; i < count; i++) {
    const Bytes& body = bodies[i < bodies.size() ? i : bodies.size() - 1];
    Append(&code, LebU(body.size()));
    Append(&code, body);
  }
  return WasmModule({Section(1, types), Section(3, funcs),
                     Section(7, {0x01, 0x01, 'f', 0x00, 0x00}), Section(10, code)});
}

// A function of `depth` nested empty blocks.
Bytes NestModule(uint64_t depth) {
  Bytes body = {0x00};
  body.reserve(3 * depth + 2);
  for (uint64_t i = 0; i < depth; i++) body.insert(body.end(), {0x02, 0x40});
  body.insert(body.end(), depth + 1, 0x0b);
  return FunctionsModule({body});
}

// `count` functions of an empty body.
Bytes TinyFunctionsModule(uint64_t count) { return FunctionsModule({{0x00, 0x0b}}, count); }

// The growth of this process's peak resident memory while `work` runs, in KiB, measured in a
// forked child (peak reset through /proc/self/clear_refs) so earlier tests do not hide it.
// -1 if the child crashed or could not measure.
long PeakGrowthKib(const std::function<void()>& work) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto status_kib = [](const char* key) {
      std::ifstream in("/proc/self/status");
      std::string line;
      while (std::getline(in, line))
        if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
      return -1L;
    };
    std::ofstream("/proc/self/clear_refs") << "5";  // peak RSS := current RSS
    long before = status_kib("VmRSS:");
    work();
    long growth = status_kib("VmHWM:") - before;
    if (write(fds[1], &growth, sizeof growth) != sizeof growth) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  long growth = -1;
  if (read(fds[0], &growth, sizeof growth) != sizeof growth) growth = -1;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? growth : -1;
}

void ExpectTooComplex(const Result<ModulePtr>& m, const std::string& what) {
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
  EXPECT_EQ(m.error().message.rfind("module too complex: ", 0), 0u) << m.error().message;
  EXPECT_NE(m.error().message.find(what), std::string::npos) << m.error().message;
  EXPECT_EQ(m.error().message.find('\n'), std::string::npos);
}

// Before the pre-pass, wabt freed the IR of this nest recursively and overflowed the stack.
TEST(ModuleBounds, MillionNestedBlocksGetOneClearError) {
  auto m = Module::FromBytes(NestModule(1000000));
  ExpectTooComplex(m, "nesting depth in function 0 10001 exceeds the limit of 10000");
}

TEST(ModuleBounds, TenMillionNestedBlocksGetOneClearError) {
  auto m = Module::FromBytes(NestModule(10000000));
  ExpectTooComplex(m, "nesting depth in function 0 10001 exceeds the limit of 10000");
}

struct ThreadParse {
  const Bytes* bytes;
  bool ok = false;
};

void* ParseOnThread(void* arg) {
  auto* p = static_cast<ThreadParse*>(arg);
  p->ok = Module::FromBytes(*p->bytes).ok();
  return nullptr;
}

// The deepest nest allowed loads, even on a thread of 512 KiB (a quarter of the smallest
// stack a node thread gets): the depth limit leaves the stack a wide margin.
TEST(ModuleBounds, DeepestAllowedNestLoadsOnASmallStack) {
  Bytes bytes = NestModule(ModuleBounds().max_nesting_depth);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 512 << 10), 0);
  ThreadParse parse{&bytes};
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attr, ParseOnThread, &parse), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_TRUE(parse.ok);
}

// Before: 300,000 empty functions (1.2 MB) took about 250 MiB to parse.
TEST(ModuleBounds, ManyTinyFunctionsAreRefusedBeforeTheyCostMemory) {
  Bytes bytes = TinyFunctionsModule(300000);
  // Measured first: memory a parse of this process freed could hide a second one's growth.
  long growth_kib = PeakGrowthKib([&] { (void)Module::FromBytes(bytes); });
  ASSERT_GE(growth_kib, 0);
  EXPECT_LT(growth_kib, 16 << 10) << "refusing took " << growth_kib << " KiB";
  ExpectTooComplex(Module::FromBytes(bytes), "(at functions), over the budget of 256 MiB");
}

// A module under the budget loads, and the estimate covers what the parse really took.
TEST(ModuleBounds, EstimateCoversTheMeasuredPeak) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Their allocators add redzones and quarantine: the peak measures the sanitizer, not wabt.
  GTEST_SKIP() << "memory figures are not comparable under ASan/TSan";
#endif
  for (const Bytes& bytes : {TinyFunctionsModule(20000), NestModule(5000)}) {
    ModuleCounts counts;
    ASSERT_TRUE(CheckModuleBounds(bytes.data(), bytes.size(), ModuleBounds(), &counts).ok());
    long growth_kib = PeakGrowthKib([&] {
      if (!Module::FromBytes(bytes).ok()) _exit(1);
    });
    ASSERT_GE(growth_kib, 0);
    EXPECT_LE(static_cast<uint64_t>(growth_kib) << 10, counts.parse_bytes);
  }
}

// 1,000 i32 parameters copied into every function: 41 KB of module took 314 MiB.
TEST(ModuleBounds, WideSignaturesAreChargedPerUser) {
  Bytes wide = {0x01, 0x60};
  Append(&wide, LebU(1000));
  wide.insert(wide.end(), 1000, 0x7f);
  wide.push_back(0x00);
  auto m = Module::FromBytes(FunctionsModule({{0x00, 0x0b}}, 10000, wide));
  ExpectTooComplex(m, "(at signature fields), over the budget of 256 MiB");
}

TEST(ModuleBounds, LocalsAreSummedOverTheirGroups) {
  // Two groups of 30,000 i32: each under the limit, together over it.
  Bytes body = {0x02};
  Append(&body, LebU(30000));
  body.push_back(0x7f);
  Append(&body, LebU(30000));
  body.push_back(0x7f);
  body.push_back(0x0b);
  ExpectTooComplex(Module::FromBytes(FunctionsModule({body})),
                   "locals in function 0 60000 exceeds the limit of 50000");
  // A group of 2^32-2 (the most wabt's reader lets through) is refused by its count.
  Bytes huge = {0x02};
  Append(&huge, LebU(0xfffffffeu));
  huge.push_back(0x7f);
  Append(&huge, LebU(0xfffffffeu));
  huge.push_back(0x7f);
  huge.push_back(0x0b);
  ExpectTooComplex(Module::FromBytes(FunctionsModule({huge})),
                   "locals in function 0 4294967294 exceeds the limit of 50000");
}

// Each structural limit, with the bound lowered so the module stays small.
TEST(ModuleBounds, EachLimitNamesItselfAndTheValue) {
  Bytes two_exports = WasmModule({Section(1, {0x01, 0x60, 0x00, 0x00}), Section(3, {0x01, 0x00}),
                                  Section(7, {0x02, 0x01, 'a', 0x00, 0x00, 0x01, 'b', 0x00, 0x00}),
                                  Section(10, {0x01, 0x02, 0x00, 0x0b})});
  Bytes import =
      WasmModule({Section(1, {0x01, 0x60, 0x00, 0x00}),
                  Section(2, {0x01, 0x03, 'e', 'n', 'v', 0x03, 'l', 'o', 'g', 0x00, 0x00})});
  Bytes table = WasmModule({Section(4, {0x01, 0x70, 0x00, 0xe9, 0x07})});  // 1001 elements
  struct Case {
    const Bytes* bytes;
    std::function<void(ModuleBounds*)> lower;
    std::string message;
  };
  std::vector<Case> cases = {
      {&two_exports, [](ModuleBounds* b) { b->max_exports = 1; },
       "module too complex: exports 2 exceeds the limit of 1"},
      {&two_exports, [](ModuleBounds* b) { b->max_functions = 0; },
       "module too complex: functions 1 exceeds the limit of 0"},
      {&two_exports, [](ModuleBounds* b) { b->max_types = 0; },
       "module too complex: types 1 exceeds the limit of 0"},
      {&import, [](ModuleBounds* b) { b->max_imports = 0; },
       "module too complex: imports 1 exceeds the limit of 0"},
      {&import, [](ModuleBounds* b) { b->max_name_bytes = 2; },
       "module too complex: bytes in an import module name 3 exceeds the limit of 2"},
      {&table, [](ModuleBounds* b) { b->max_table_elements = 1000; },
       "module too complex: initial table elements 1001 exceeds the limit of 1000"},
  };
  for (const Case& c : cases) {
    ModuleBounds bounds;
    c.lower(&bounds);
    auto m = Module::FromBytes(*c.bytes, bounds);
    ASSERT_FALSE(m.ok()) << c.message;
    EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
    EXPECT_EQ(m.error().message, c.message);
    EXPECT_TRUE(Module::FromBytes(*c.bytes).ok()) << c.message;  // within the defaults
  }
}

// A malformed module is reported by the pre-pass with wabt's own message, as before.
TEST(ModuleBounds, MalformedBytesKeepWabtsMessage) {
  Bytes truncated = NestModule(3);
  truncated.resize(truncated.size() - 2);
  Status s = CheckModuleBounds(truncated.data(), truncated.size(), ModuleBounds());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalidModule);
  EXPECT_EQ(s.error().message.find("module too complex"), std::string::npos);
  EXPECT_NE(s.error().message.find("error:"), std::string::npos) << s.error().message;
}

// A real 2 MB module (a Rust program with its standard library, from wasi-testsuite) loads
// with the default bounds, well inside each of them.
TEST(ModuleBounds, RealRustModuleLoads) {
  std::string path = std::string(VELUM_SHARED_DIR) + "/wasi-testsuite/rust/fd_readdir.wasm";
  Bytes bytes = test::ReadBytes(path);
  if (bytes.empty()) GTEST_SKIP() << path << " is not there";
  ModuleCounts counts;
  ASSERT_TRUE(CheckModuleBounds(bytes.data(), bytes.size(), ModuleBounds(), &counts).ok());
  EXPECT_GT(counts.functions, 100u);
  EXPECT_LT(counts.max_depth, ModuleBounds().max_nesting_depth / 10);
  EXPECT_LT(counts.parse_bytes, ModuleBounds().max_parse_bytes / 10);
  auto m = Module::FromBytes(bytes);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_TRUE((*m)->FindFunction("_start").ok());
}

// Initialisers (global init, data and element offsets) hold constant instructions only. wabt
// 1.0.32 builds its IR before it validates, and a `block` in a global's initialiser made
// BinaryReaderIR::OnEndExpr assert (SIGABRT in velum and the node): the pre-pass refuses any
// other instruction there, with the spec validator's words.
Bytes GlobalModule(const Bytes& init) {
  Bytes globals = {0x01, 0x7f, 0x00};
  Append(&globals, init);
  return WasmModule({Section(6, globals)});
}
Bytes DataModule(const Bytes& offset) {
  Bytes data = {0x01, 0x00};
  Append(&data, offset);
  Append(&data, {0x01, 'x'});
  return WasmModule({Section(5, {0x01, 0x00, 0x01}), Section(11, data)});
}
Bytes ElemModule(const Bytes& offset) {
  Bytes elems = {0x01, 0x00};
  Append(&elems, offset);
  elems.push_back(0x00);  // no functions
  return WasmModule({Section(4, {0x01, 0x70, 0x00, 0x01}), Section(9, elems)});
}

// The 106-byte module velum-fuzz-module found (tests/fuzz/regressions/global-init-block.wasm).
const Bytes kGlobalInitBlock = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60,
    0x01, 0x7f, 0x00, 0x03, 0x04, 0x03, 0x00, 0x00, 0x01, 0x06, 0x0c, 0x02, 0x7f, 0x00, 0x41, 0x2a,
    0x0b, 0x7f, 0x01, 0x41, 0x0c, 0x02, 0x0b, 0x07, 0x2d, 0x05, 0x04, 0x67, 0x6c, 0x6f, 0x62, 0x03,
    0x00, 0x03, 0x67, 0x65, 0x74, 0x00, 0x00, 0x08, 0x65, 0x75, 0x74, 0x5f, 0x67, 0x6c, 0x6f, 0x62,
    0x03, 0x01, 0x07, 0x67, 0x65, 0x74, 0x5f, 0x6d, 0x75, 0x74, 0x00, 0x01, 0x07, 0x73, 0x65, 0x74,
    0x5f, 0x6d, 0x75, 0x74, 0x00, 0x02, 0x0a, 0x12, 0x03, 0x04, 0x00, 0x23, 0x00, 0x0b, 0x04, 0x00,
    0x23, 0x01, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x24, 0x01, 0x0b,
};

TEST(ModuleBounds, InitialisersHoldConstantInstructionsOnly) {
  struct Case {
    Bytes bytes;
    std::string opcode;
  };
  std::vector<Case> cases = {
      {kGlobalInitBlock, "block"},
      {GlobalModule({0x02, 0x40, 0x0b, 0x41, 0x00, 0x0b}), "block"},
      {GlobalModule({0x41, 0x00, 0x02, 0x40, 0x0b, 0x0b}), "block"},
      {GlobalModule({0x01, 0x41, 0x00, 0x0b}), "nop"},
      {GlobalModule({0x41, 0x00, 0x04, 0x40, 0x0b, 0x0b}), "if"},
      {DataModule({0x03, 0x40, 0x0b, 0x41, 0x00, 0x0b}), "loop"},
      {DataModule({0x41, 0x00, 0x41, 0x01, 0x6a, 0x0b}), "i32.add"},
      {ElemModule({0x41, 0x00, 0x02, 0x40, 0x0b, 0x0b}), "block"},
      {ElemModule({0x41, 0x00, 0x1a, 0x41, 0x00, 0x0b}), "drop"},
  };
  for (const Case& c : cases) {
    auto m = Module::FromBytes(c.bytes);
    ASSERT_FALSE(m.ok()) << c.opcode;
    EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
    EXPECT_EQ(m.error().message,
              "constant expression required (" + c.opcode + " in an initialiser)");
  }
}

// Initialisers the pre-pass lets through reach wabt's validator, which refuses the wrong ones
// with one line (no assert: nothing nests); the constant ones load.
TEST(ModuleBounds, ConstantInitialisersAreValidatedNotAborted) {
  for (const Bytes& bad : {GlobalModule({0x0b}), GlobalModule({0x41, 0x00, 0x41, 0x01, 0x0b}),
                           GlobalModule({0x42, 0x00, 0x0b}), GlobalModule({0x23, 0x05, 0x0b}),
                           DataModule({0x0b}), ElemModule({0x41, 0x00, 0x41, 0x00, 0x0b})}) {
    auto m = Module::FromBytes(bad);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
    EXPECT_EQ(m.error().ToString().find('\n'), std::string::npos) << m.error().ToString();
  }
  for (const Bytes& good : {GlobalModule({0x41, 0x2a, 0x0b}), DataModule({0x41, 0x00, 0x0b}),
                            ElemModule({0x41, 0x00, 0x0b})}) {
    auto m = Module::FromBytes(good);
    EXPECT_TRUE(m.ok()) << m.error().ToString();
  }
}

}  // namespace
}  // namespace velum
