// Tests that no name chosen by a module's author reaches the C compiler: hostile import and export
// names (every byte value, comment closers, directives, trigraphs, 100 KB) run on both engines.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "runtime/aot_compiler.h"
#include "runtime/aot_engine.h"
#include "runtime/aot_rewrite.h"
#include "runtime/interp_engine.h"
#include "test_util.h"

namespace velum {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using test::LebS;
using test::LebU;
using test::Section;
using test::WasmModule;

// Every hostile name starts with this, so a generated file holding any of them, raw or
// mangled by wasm2c (which keeps letters and digits), contains it.
const std::string kMarker = "VelumHostileName";

void Append(Bytes* out, const Bytes& more) { out->insert(out->end(), more.begin(), more.end()); }

Bytes Name(const std::string& name) {
  Bytes out = LebU(name.size());
  out.insert(out.end(), name.begin(), name.end());
  return out;
}

// UTF-8 of a code point below U+0100 (Wasm names must be valid UTF-8).
std::string Utf8(unsigned cp) {
  if (cp < 0x80) return std::string(1, static_cast<char>(cp));
  return {static_cast<char>(0xc0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3f))};
}

std::string AllCodePoints() {
  std::string s;
  for (unsigned cp = 0; cp <= 0xff; cp++) s += Utf8(cp);
  return s;
}

// Payloads that break out of a C comment, string or line, or are merely huge (the longest
// within ModuleBounds::max_name_bytes, 100,000, the JS API limit).
std::vector<std::string> Payloads() {
  return {AllCodePoints(),
          "*/",
          "/*",
          "x */ __asm__(\"int3\") ; /*",
          "\n#include \"/etc/passwd\"\n",
          "*/\n#error injected\n/*",
          "\\",
          "\\\n#error continued",
          "\"",
          "'",
          "' '",
          "?\?/",
          "?\?/\n#error trigraph",
          "\r\n#error cr\r\n",
          std::string(1, '\0') + "*/ #error nul",
          kMarker + std::string(90 * 1024, 'L') + "*/"};
}

// Export j: every code point alone, then every payload.
std::vector<std::string> ExportNames() {
  std::vector<std::string> names;
  for (unsigned cp = 0; cp <= 0xff; cp++)
    names.push_back(kMarker + "-cp" + std::to_string(cp) + ":" + Utf8(cp));
  for (const auto& p : Payloads())
    names.push_back(kMarker + "-e" + std::to_string(names.size()) + p);
  return names;
}

struct HostileImport {
  std::string module, field;
  int32_t add;  // what the provider's function adds to its argument
};

std::vector<HostileImport> Imports() {
  std::vector<std::string> p = Payloads();
  std::vector<HostileImport> imports;
  for (size_t k = 0; k < p.size(); k++)
    imports.push_back({kMarker + "-mod" + std::to_string(k) + p[k],
                       kMarker + "-field" + std::to_string(k) + p[(k + 3) % p.size()],
                       static_cast<int32_t>(1000 * (k + 1))});
  return imports;
}

// The module that provides the global (77) and memory (byte 0 is 5) every consumer imports.
const std::string kStateModule = kMarker + "-state */\n#error state\n/*";
const std::string kStateGlobal = kMarker + "-global" + AllCodePoints();
const std::string kStateMemory = kMarker + "-memory?\?/\n#error memory";
constexpr int32_t kGlobalValue = 77, kMemoryByte = 5;

const Bytes kI32ToI32 = {0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f};

// A custom section and a name section full of hostile names: both must be dropped.
Bytes HostileCustomSections(size_t functions) {
  Bytes name_payload = Name("name");
  Bytes module_name = Name(kMarker + "-module */\n#error module name\n/*");
  name_payload.push_back(0);
  Append(&name_payload, LebU(module_name.size()));
  Append(&name_payload, module_name);
  Bytes funcs = LebU(functions), locals = LebU(functions);
  for (size_t i = 0; i < functions; i++) {
    Append(&funcs, LebU(i));
    Append(&funcs, Name(kMarker + "-func" + std::to_string(i) + " */\n#error func name\n/*"));
    Append(&locals, LebU(i));
    Append(&locals, {0x01, 0x00});
    Append(&locals, Name(kMarker + "-local */\n#error local name\n/*"));
  }
  name_payload.push_back(1);
  Append(&name_payload, LebU(funcs.size()));
  Append(&name_payload, funcs);
  name_payload.push_back(2);
  Append(&name_payload, LebU(locals.size()));
  Append(&name_payload, locals);
  Bytes other = Name(kMarker + "-custom */\n#error custom\n/*");
  Append(&other, Bytes(64, '*'));
  Bytes out = Section(0, other);
  Append(&out, Section(0, name_payload));
  return out;
}

// Exports imports[k].field = x + imports[k].add for every k; registered under every
// imports[k].module, it satisfies them all.
Bytes ProviderModule(const std::vector<HostileImport>& imports) {
  Bytes funcs = LebU(imports.size()), exports = LebU(imports.size()), code = LebU(imports.size());
  for (size_t k = 0; k < imports.size(); k++) {
    funcs.push_back(0x00);
    Append(&exports, Name(imports[k].field));
    exports.push_back(0x00);
    Append(&exports, LebU(k));
    Bytes body = {0x00, 0x20, 0x00, 0x41};  // no locals; local.get 0; i32.const add
    Append(&body, LebS(imports[k].add));
    Append(&body, {0x6a, 0x0b});  // i32.add; end
    Append(&code, LebU(body.size()));
    Append(&code, body);
  }
  return WasmModule(
      {Section(1, kI32ToI32), Section(3, funcs), Section(7, exports), Section(10, code)});
}

Bytes StateModule() {
  Bytes exports = {0x02};
  Append(&exports, Name(kStateGlobal));
  Append(&exports, {0x03, 0x00});
  Append(&exports, Name(kStateMemory));
  Append(&exports, {0x02, 0x00});
  Bytes global = {0x01, 0x7f, 0x00, 0x41};  // immutable i32 = i32.const 77
  Append(&global, LebS(kGlobalValue));
  global.push_back(0x0b);
  Bytes data = {0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, kMemoryByte};  // active, at 0: one byte
  return WasmModule(
      {Section(5, {0x01, 0x00, 0x01}), Section(6, global), Section(7, exports), Section(11, data)});
}

// Imports every hostile import, the state global and memory; export j (of ExportNames())
// returns x + j + imports[j % K].add + 77 + 5. It also re-exports the global and memory.
Bytes ConsumerModule(const std::vector<HostileImport>& imports,
                     const std::vector<std::string>& exports) {
  const size_t k = imports.size(), e = exports.size();
  Bytes imp = LebU(k + 2);
  for (const auto& i : imports) {
    Append(&imp, Name(i.module));
    Append(&imp, Name(i.field));
    Append(&imp, {0x00, 0x00});
  }
  Append(&imp, Name(kStateModule));
  Append(&imp, Name(kStateGlobal));
  Append(&imp, {0x03, 0x7f, 0x00});
  Append(&imp, Name(kStateModule));
  Append(&imp, Name(kStateMemory));
  Append(&imp, {0x02, 0x00, 0x01});
  Bytes funcs = LebU(e), exp = LebU(e + 2), code = LebU(e);
  for (size_t j = 0; j < e; j++) {
    funcs.push_back(0x00);
    Append(&exp, Name(exports[j]));
    exp.push_back(0x00);
    Append(&exp, LebU(k + j));
    Bytes body = {0x00, 0x20, 0x00, 0x41};  // local.get 0; i32.const j; i32.add
    Append(&body, LebS(static_cast<int64_t>(j)));
    Append(&body, {0x6a, 0x10});  // call import j % K
    Append(&body, LebU(j % k));
    // global.get 0; i32.add; i32.const 0; i32.load8_u; i32.add; end
    Append(&body, {0x23, 0x00, 0x6a, 0x41, 0x00, 0x2d, 0x00, 0x00, 0x6a, 0x0b});
    Append(&code, LebU(body.size()));
    Append(&code, body);
  }
  Append(&exp, Name(kMarker + "-reexported global */\n#error g\n/*"));
  Append(&exp, {0x03, 0x00});
  Append(&exp, Name(kMarker + "-reexported memory ?\?/ */"));
  Append(&exp, {0x02, 0x00});
  Bytes out = WasmModule({Section(1, kI32ToI32), Section(2, imp), Section(3, funcs),
                          Section(7, exp), Section(10, code)});
  Append(&out, HostileCustomSections(k + e));
  return out;
}

int32_t Expected(size_t j, int32_t x, const std::vector<HostileImport>& imports) {
  return x + static_cast<int32_t>(j) + imports[j % imports.size()].add + kGlobalValue + kMemoryByte;
}

ModulePtr Load(const Bytes& bytes) {
  auto m = Module::FromBytes(bytes);
  EXPECT_TRUE(m.ok()) << m.error().ToString();
  return m.ok() ? *m : nullptr;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A shell script standing in for `program` (wasm2c or cc): copies everything in the build
// directory of its first `pattern` argument into a fresh folder of `keep`, then runs it.
// wasm2c's scratch files are removed after each compile, so this is how the test sees them.
std::string KeepingWrapper(const fs::path& dir, const std::string& program,
                           const std::string& pattern, const fs::path& keep, bool after) {
  fs::path script = dir / ("keep-" + program);
  std::string copy = "d=$(mktemp -d '" + keep.string() + "/" + program +
                     "-XXXXXX')\n"
                     "for a in \"$@\"; do case \"$a\" in " +
                     pattern + ") cp \"$(dirname \"$a\")\"/* \"$d\"/; break;; esac; done\n";
  std::ofstream out(script);
  out << "#!/bin/sh\n";
  if (after)
    out << program << " \"$@\" || exit $?\n" << copy << "exit 0\n";
  else
    out << copy << "exec " << program << " \"$@\"\n";
  out.close();
  fs::permissions(script, fs::perms::owner_all);
  return script.string();
}

struct ScanResult {
  // Distinct file names: each wrapper run copies the whole build directory.
  std::set<std::string> sources, headers, glue, wasm;
  std::vector<std::string> leaks;  // "file: what"
};

// Every file the wrappers kept: no .c/.h holds a hostile name or payload, no .wasm given to
// wasm2c holds a hostile name.
ScanResult Scan(const fs::path& keep) {
  // (wasm2c's own output uses __asm__, so that payload is found by its marker instead.)
  const std::vector<std::string> needles = {kMarker, "injected", "passwd", "trigraph", "#error"};
  ScanResult r;
  for (const auto& entry : fs::recursive_directory_iterator(keep)) {
    if (!entry.is_regular_file()) continue;
    const fs::path& p = entry.path();
    std::string text = ReadText(p), name = p.filename().string(), ext = p.extension().string();
    if (ext == ".wasm") {
      r.wasm.insert(name);
      if (text.find(kMarker) != std::string::npos) r.leaks.push_back(p.string() + ": a name");
      continue;
    }
    if (ext != ".c" && ext != ".h") continue;
    (ext == ".h"                               ? r.headers
     : name.find("_glue") != std::string::npos ? r.glue
                                               : r.sources)
        .insert(name);
    for (const auto& n : needles)
      if (text.find(n) != std::string::npos) r.leaks.push_back(p.string() + ": " + n);
  }
  return r;
}

// The hostile modules, instantiated and linked by their real names on `engine`.
void ExpectHostileNamesWork(Engine& engine, const ModulePtr& provider, const ModulePtr& state,
                            const ModulePtr& consumer) {
  const auto imports = Imports();
  const auto exports = ExportNames();
  auto p = engine.Instantiate(provider, InstanceLimits{});
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  for (const auto& imp : imports) engine.Register(imp.module, p->get());
  auto s = engine.Instantiate(state, InstanceLimits{});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  engine.Register(kStateModule, s->get());
  auto c = engine.Instantiate(consumer, InstanceLimits{});
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  for (size_t j = 0; j < exports.size(); j++) {
    auto r = (*c)->Call(exports[j], test::I32s({int32_t(10 * j)}));
    ASSERT_TRUE(r.ok()) << "export " << j << ": " << r.error().ToString();
    EXPECT_EQ(*r, std::vector<Value>{Value::I32(Expected(j, 10 * j, imports))}) << "export " << j;
  }
  auto g = (*c)->GetGlobal(kMarker + "-reexported global */\n#error g\n/*");
  ASSERT_TRUE(g.ok()) << g.error().ToString();
  EXPECT_EQ(*g, Value::I32(kGlobalValue));
  auto direct = (*p)->Call(imports[2].field, test::I32s({1}));
  ASSERT_TRUE(direct.ok()) << direct.error().ToString();
  EXPECT_EQ(*direct, std::vector<Value>{Value::I32(1 + imports[2].add)});
  // A generated name is not a way in: only real names are exports.
  EXPECT_FALSE((*c)->Call(AotExportName(0), test::I32s({1})).ok());
}

class HostileNames : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = Load(ProviderModule(Imports()));
    state_ = Load(StateModule());
    consumer_ = Load(ConsumerModule(Imports(), ExportNames()));
    ASSERT_NE(state_, nullptr);
    ASSERT_NE(consumer_, nullptr);
    ASSERT_NE(provider_, nullptr);
    ASSERT_EQ(consumer_->exports().size(), ExportNames().size() + 2);
    fs::create_directories(keep());
  }
  fs::path keep() const { return dir_.path() / "kept"; }
  AotOptions Options() const {
    AotOptions options;
    options.cache_dir = dir_.path() / "aot";
    options.wasm2c = KeepingWrapper(dir_.path(), "wasm2c", "*.wasm", keep(), true);
    options.cc = KeepingWrapper(dir_.path(), "cc", "*_glue.c", keep(), false);
    return options;
  }
  std::vector<ModulePtr> all() const { return {provider_, state_, consumer_}; }

  test::TempDir dir_;
  ModulePtr provider_, state_, consumer_;
};

TEST_F(HostileNames, InterpreterLinksAndCallsByRealNames) {
  auto engine = NewInterpEngine();
  ExpectHostileNamesWork(*engine, provider_, state_, consumer_);
}

TEST_F(HostileNames, AotLinksAndCallsByRealNamesAndNoNameReachesC) {
  AotCompiler compiler(Options());
  ASSERT_TRUE(compiler.Available().ok()) << compiler.Available().error().ToString();
  AotEngine engine(&compiler);
  Status preload = engine.Preload(all());
  ASSERT_TRUE(preload.ok()) << preload.error().ToString();
  for (const auto& m : all()) ASSERT_TRUE(engine.IsLoaded(*m));
  ExpectHostileNamesWork(engine, provider_, state_, consumer_);

  ScanResult scan = Scan(keep());
  const size_t modules = all().size();
  EXPECT_EQ(scan.sources.size(), modules);  // wasm2c's .c files
  EXPECT_EQ(scan.headers.size(), modules);
  EXPECT_EQ(scan.glue.size(), modules);
  EXPECT_EQ(scan.wasm.size(), modules);
  for (const auto& leak : scan.leaks) ADD_FAILURE() << "leaked into generated code: " << leak;
}

TEST_F(HostileNames, TranslatableSeesOnlyGeneratedNames) {
  AotCompiler compiler(Options());
  Status t = compiler.Translatable(consumer_);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  ScanResult scan = Scan(keep());
  EXPECT_EQ(scan.wasm.size(), 1u);
  EXPECT_EQ(scan.sources.size(), 1u);
  EXPECT_EQ(scan.headers.size(), 1u);
  for (const auto& leak : scan.leaks) ADD_FAILURE() << "leaked into generated code: " << leak;
}

// The regression: an export name that closes wasm2c's comment and adds assembly run at load
// time (an .init_array entry that creates a file): with the old code it ran in the process that
// loaded the compiled module. The name appears twice in one unit, so the payload only uses
// numeric local labels, which may repeat.
TEST(AotNames, InjectedAssemblyNeverRuns) {
  test::TempDir dir;
  const fs::path marker = dir.path() / "injected-marker";
  const std::string name = R"X(answer */ __asm__(".pushsection .text\n1: lea 2f(%rip), %rdi\n)X"
                           R"X(mov $384, %esi\njmp creat@PLT\n.popsection\n)X"
                           R"X(.pushsection .rodata\n2: .asciz \")X" +
                           marker.string() +
                           R"X(\"\n.popsection\n.pushsection .init_array, \"aw\"\n)X"
                           R"X(.quad 1b\n.popsection"); /*)X";
  Bytes exports = {0x01};
  Append(&exports, Name(name));
  Append(&exports, {0x00, 0x00});
  ModulePtr m =
      Load(WasmModule({Section(1, {0x01, 0x60, 0x00, 0x01, 0x7f}), Section(3, {0x01, 0x00}),
                       Section(7, exports), Section(10, {0x01, 0x04, 0x00, 0x41, 42, 0x0b})}));
  ASSERT_NE(m, nullptr);
  AotOptions options;
  options.cache_dir = dir.path() / "aot";
  AotCompiler compiler(options);
  AotEngine engine(&compiler);
  auto instance = engine.Instantiate(m, InstanceLimits{});
  ASSERT_TRUE(instance.ok()) << instance.error().ToString();
  auto r = (*instance)->Call(name, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, std::vector<Value>{Value::I32(42)});
  EXPECT_FALSE(fs::exists(marker)) << "the module's name ran as native code";
}

// The same with a preprocessor line: the old code failed to compile ("#error injected").
TEST(AotNames, InjectedDirectiveIsNotCompiled) {
  test::TempDir dir;
  const std::string name = "*/\n#error injected\n/*";
  Bytes exports = {0x01};
  Append(&exports, Name(name));
  Append(&exports, {0x00, 0x00});
  ModulePtr m =
      Load(WasmModule({Section(1, {0x01, 0x60, 0x00, 0x01, 0x7f}), Section(3, {0x01, 0x00}),
                       Section(7, exports), Section(10, {0x01, 0x04, 0x00, 0x41, 7, 0x0b})}));
  ASSERT_NE(m, nullptr);
  AotOptions options;
  options.cache_dir = dir.path() / "aot";
  AotCompiler compiler(options);
  AotEngine engine(&compiler);
  auto instance = engine.Instantiate(m, InstanceLimits{});
  ASSERT_TRUE(instance.ok()) << instance.error().ToString();
  auto r = (*instance)->Call(name, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, std::vector<Value>{Value::I32(7)});
}

// The rewritten module is valid, has no custom section, and keeps kinds and types in order.
TEST(AotRewrite, GeneratedNamesKeepOrderKindsAndTypes) {
  ModulePtr original = Load(ConsumerModule(Imports(), ExportNames()));
  ASSERT_NE(original, nullptr);
  auto rewritten = RewriteForWasm2c(original->bytes());
  ASSERT_TRUE(rewritten.ok()) << rewritten.error().ToString();
  EXPECT_EQ(rewritten->num_imports, original->imports().size());
  EXPECT_EQ(rewritten->num_exports, original->exports().size());
  ModulePtr m = Load(rewritten->bytes);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->imports().size(), original->imports().size());
  ASSERT_EQ(m->exports().size(), original->exports().size());
  for (size_t i = 0; i < m->imports().size(); i++) {
    EXPECT_EQ(m->imports()[i].module, kAotImportModule);
    EXPECT_EQ(m->imports()[i].field, AotImportField(i));
    EXPECT_EQ(m->imports()[i].kind, original->imports()[i].kind);
    EXPECT_EQ(m->imports()[i].sig.ToString(), original->imports()[i].sig.ToString());
  }
  for (size_t j = 0; j < m->exports().size(); j++) {
    EXPECT_EQ(m->exports()[j].name, AotExportName(j));
    EXPECT_EQ(m->exports()[j].kind, original->exports()[j].kind);
    EXPECT_EQ(m->exports()[j].sig.ToString(), original->exports()[j].sig.ToString());
  }
  const std::string text(rewritten->bytes.begin(), rewritten->bytes.end());
  EXPECT_EQ(text.find(kMarker), std::string::npos);
  EXPECT_EQ(text.find("name"), std::string::npos) << "the name section is still there";
  // Small: the hostile names were most of the module.
  EXPECT_LT(rewritten->bytes.size(), 8 * 1024u);
}

// Garbage never makes the rewrite read out of bounds (run under ASan by `make sanitize`):
// every truncation of a valid module, random bytes after a valid header, huge LEBs.
TEST(AotRewrite, MalformedInputIsAnError) {
  ModulePtr m = Load(ConsumerModule({{"a", "b", 1}, {"c", "d", 2}}, {"x", "y", "z"}));
  ASSERT_NE(m, nullptr);
  const Bytes& good = m->bytes();
  for (size_t n = 0; n < good.size(); n++) {
    Bytes cut(good.begin(), good.begin() + n);
    auto r = RewriteForWasm2c(cut);
    if (r.ok()) {
      EXPECT_LE(r->bytes.size(), good.size());  // a cut at a section boundary
    } else {
      EXPECT_EQ(r.error().kind, ErrorKind::kCompilerFailed);
    }
  }
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; round++) {
    Bytes garbage(good.begin(), good.begin() + 8);
    size_t len = rng() % 64;
    for (size_t i = 0; i < len; i++) garbage.push_back(static_cast<uint8_t>(rng()));
    // Bias towards the rewritten sections so their parsers get exercised.
    if (len > 0 && round % 2) garbage[8] = round % 4 == 1 ? 2 : 7;
    auto r = RewriteForWasm2c(garbage);
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kCompilerFailed);
    }
  }
  const Bytes huge_size = {0x00, 'a', 's', 'm', 1, 0, 0, 0, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f};
  EXPECT_FALSE(RewriteForWasm2c(huge_size).ok());
  const Bytes huge_count = {0x00, 'a',  's',  'm',  1,    0,    0,   0,
                            0x07, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f};
  EXPECT_FALSE(RewriteForWasm2c(huge_count).ok());
  const Bytes long_leb = {0x00, 'a',  's',  'm',  1,    0,    0,   0,
                          0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  EXPECT_FALSE(RewriteForWasm2c(long_leb).ok());
  EXPECT_FALSE(RewriteForWasm2c({}).ok());
  EXPECT_FALSE(RewriteForWasm2c({0x00, 'a', 's', 'm', 2, 0, 0, 0}).ok());
}

}  // namespace
}  // namespace velum
