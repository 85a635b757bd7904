// Unit tests of large-module compiles: wasm2c's C split into units (aot_split.h) compiled
// apart and linked into one object that runs as the whole file does; one failing unit fails all.
#include "runtime/aot_split.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <optional>

#include "runtime/aot_compiler.h"
#include "runtime/aot_engine.h"
#include "runtime/interp_engine.h"
#include "runtime/wasi.h"
#include "test_util.h"

namespace velum {
namespace {

namespace fs = std::filesystem;

// The shape of wasm2c 1.0.32's output, in miniature (it wraps long parameter lists, as w2c_f2).
const char kWasm2cShape[] =
    "#include \"m0.h\"\n"
    "static inline u32 helper(u32 x) {\n  return x;\n}\n"
    "static bool s_module_initialized = false;\n"
    "static u32 func_types[2];\n"
    "static void init_func_types(void) {\n  func_types[0] = 1;\n}\n"
    "static u32 w2c_f0(Z_m0_instance_t*, u32);\n"
    "static void w2c_e0(Z_m0_instance_t*);\n"
    "static void w2c_f2(Z_m0_instance_t*, u32, \n"
    "    u64);\n"
    "\n"
    "static const u8 data_segment_data_w2c_d0[] = {\n  0x01,\n};\n"
    "static void init_memories(Z_m0_instance_t* instance) {\n}\n"
    "\n"
    "static u32 w2c_f0(Z_m0_instance_t* instance, u32 w2c_p0) {\n"
    "  return helper(w2c_p0) + func_types[0];\n"
    "}\n"
    "\n"
    "static void w2c_e0(Z_m0_instance_t* instance) {\n"
    "  w2c_f0(instance, 1);\n"
    "}\n"
    "\n"
    "static void w2c_f2(Z_m0_instance_t* instance, u32 w2c_p0, \n"
    "    u64 w2c_p1) {\n"
    "}\n"
    "\n"
    "void Z_m0Z_e0(Z_m0_instance_t* instance) {\n  w2c_e0(instance);\n}\n";

TEST(AotSplit, DefinitionsMoveToUnitsAsHiddenSymbols) {
  auto split = SplitWasm2cSource(kWasm2cShape, "m0", 1, 64);
  ASSERT_TRUE(split.ok()) << split.error().ToString();
  ASSERT_EQ(split->units.size(), 3u);  // an aim of 1 byte: one definition per unit
  const std::string hidden = "__attribute__((visibility(\"hidden\"))) ";
  for (const std::string* text :
       {&split->main, &split->units[0], &split->units[1], &split->units[2]}) {
    EXPECT_NE(text->find("#define w2c_f0 velum_m0_w2c_f0\n" + hidden +
                         "u32 w2c_f0(Z_m0_instance_t*, u32);\n"),
              std::string::npos)
        << *text;
    EXPECT_NE(text->find("#define func_types velum_m0_func_types\n"), std::string::npos);
    EXPECT_EQ(text->find("static u32 func_types"), std::string::npos);
  }
  // main defines func_types and keeps data, init code and exports; units only declare it.
  EXPECT_NE(split->main.find("\n" + hidden + "u32 func_types[2];\n"), std::string::npos);
  EXPECT_NE(split->main.find("data_segment_data_w2c_d0"), std::string::npos);
  EXPECT_NE(split->main.find("void Z_m0Z_e0("), std::string::npos);
  EXPECT_EQ(split->main.find("u32 w2c_f0(Z_m0_instance_t* instance"), std::string::npos);
  EXPECT_NE(split->units[0].find("extern " + hidden + "u32 func_types[2];\n"), std::string::npos);
  EXPECT_NE(split->units[0].find("\nu32 w2c_f0(Z_m0_instance_t* instance, u32 w2c_p0) {\n"),
            std::string::npos);
  EXPECT_NE(split->units[1].find("\nvoid w2c_e0(Z_m0_instance_t* instance) {\n"),
            std::string::npos);
  EXPECT_NE(split->units[2].find("\nvoid w2c_f2(Z_m0_instance_t* instance, u32 w2c_p0, \n"
                                 "    u64 w2c_p1) {\n}\n"),
            std::string::npos)
      << split->units[2];
  EXPECT_NE(split->units[2].find("#define w2c_f2 velum_m0_w2c_f2\n" + hidden +
                                 "void w2c_f2(Z_m0_instance_t*, u32, \n    u64);\n"),
            std::string::npos);
  EXPECT_EQ(split->units[0].find("data_segment_data_w2c_d0"), std::string::npos);

  auto one = SplitWasm2cSource(kWasm2cShape, "m0", 1u << 20, 64);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->units.size(), 1u);
  auto bounded = SplitWasm2cSource(kWasm2cShape, "m0", 1, 1);
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->units.size(), 1u) << "max_units bounds the units";
}

// What the split cannot prove safe, it refuses (and the compiler compiles the file whole).
// `text` with its first `from` replaced by `to`.
std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(AotSplit, UnrecognisedOutputIsRefused) {
  const std::string shape = kWasm2cShape;
  auto refused = [](const std::string& text, const std::string& prefix = "m0") {
    auto r = SplitWasm2cSource(text, prefix, 1, 64);
    return !r.ok() && r.error().kind == ErrorKind::kCompilerFailed;
  };
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused(shape, "m0; int x"));
  // A function using a static of main (a passive data segment for memory.init, say).
  EXPECT_TRUE(
      refused(Replaced(shape, "  w2c_f0(instance, 1);", "  (void)data_segment_data_w2c_d0;")));
  // A static variable of the prelude the units would each get a copy of.
  EXPECT_TRUE(refused(Replaced(shape, "static u32 func_types[2];",
                               "static u32 counter;\nstatic u32 func_types[2];")));
  // A definition that was not declared, or whose body has no closing brace at column 0.
  EXPECT_TRUE(refused(Replaced(shape, "static void w2c_e0(Z_m0_instance_t*);\n", "")));
  std::string unclosed = shape.substr(0, shape.rfind("}\n\nvoid Z_m0Z_e0"));
  EXPECT_TRUE(refused(unclosed));
  EXPECT_FALSE(refused(shape));
}

// Forces wasi_probe (wasi-libc: printf, atexit handlers called through the table, data)
// through the split: many small units compiled apart, linked, then run against the
// interpreter. The wrapper cc logs each run's source files.
class AotSplitCompile : public ::testing::Test {
 protected:
  AotSplitCompile() {
    std::ofstream out(cc_);
    out << "#!/bin/sh\n"
        << "echo \"$*\" >> '" << log_.string() << "'\n"
        << "case \"$*\" in *" << fail_unit_ << "*) [ -e '" << fail_.string()
        << "' ] && { echo 'unit failed' >&2; exit 1; };; esac\n"
        << "exec cc \"$@\"\n";
    out.close();
    fs::permissions(cc_, fs::perms::owner_all);
  }
  AotOptions Options() const {
    AotOptions options;
    options.cache_dir = dir_.path() / "aot";
    options.cc = cc_.string();
    options.units.split_above_c_bytes = 0;
    options.units.unit_c_bytes = 16 << 10;
    options.units.max_units = 6;
    return options;
  }
  int Runs(const std::string& containing) const {
    std::ifstream in(log_);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(containing) != line.npos;
    return n;
  }

  test::TempDir dir_;
  fs::path cc_ = dir_.path() / "cc-wrapper", log_ = dir_.path() / "cc.log";
  fs::path fail_ = dir_.path() / "fail";
  const std::string fail_unit_ = "m0_unit1.c";
};

// stdout of one run of `args` on `engine`, and its exit code.
std::pair<std::string, std::optional<uint32_t>> RunCommand(Engine& engine, const ModulePtr& module,
                                                           const std::vector<std::string>& args) {
  std::string out;
  WasiConfig config;
  config.args = args;
  config.output = [&out](int fd, const uint8_t* data, size_t size) {
    if (fd == 1) out.append(reinterpret_cast<const char*>(data), size);
    return true;
  };
  config.input = [](uint8_t*, size_t) -> std::optional<size_t> { return 0; };
  WasiHost host(config);
  InstanceLimits limits;
  limits.wasi = &host;
  auto instance = engine.Instantiate(module, limits);
  EXPECT_TRUE(instance.ok()) << instance.error().ToString();
  if (!instance.ok()) return {};
  auto result = (*instance)->Call("_start", {});
  EXPECT_TRUE(result.ok()) << result.error().ToString();
  return {out, host.exit_code()};
}

TEST_F(AotSplitCompile, SplitModuleRunsAsTheInterpreterDoes) {
  ModulePtr probe = test::LoadWasm("wasi_probe");
  ASSERT_TRUE(probe);
  AotCompiler compiler(Options());
  auto so = compiler.Compile({probe});
  ASSERT_TRUE(so.ok()) << so.error().ToString();
  EXPECT_GE(Runs("_unit"), 3) << "not split";
  EXPECT_EQ(Runs("_unit6.c"), 0) << "max_units bounds the units";
  EXPECT_EQ(Runs(" -O1 "), Runs(" -c ")) << "every unit of a split module at -O1";
  EXPECT_EQ(Runs("-shared"), 1) << "one link";

  AotEngine aot(&compiler);
  ASSERT_TRUE(aot.Load(*so, {probe}).ok());
  auto interp = NewInterpEngine();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"probe"},
                                             {"probe", "args", "two words"},
                                             {"probe", "exit", "3"},
                                             {"probe", "deep", "50", "4"},
                                             {"probe", "clock"}}) {
    SCOPED_TRACE(args.back());
    auto want = RunCommand(*interp, probe, args);
    EXPECT_FALSE(want.first.empty());
    EXPECT_EQ(RunCommand(aot, probe, args), want);
  }

  // How the C is split is part of the cache key: other units, another object.
  AotOptions other = Options();
  other.units.unit_c_bytes = 32 << 10;
  EXPECT_FALSE(AotCompiler(other).Cached({probe}).has_value());
  EXPECT_EQ(AotCompiler(Options()).Cached({probe}), std::optional<fs::path>(*so));
}

// Two split modules in one shared object: their hidden symbols are renamed per module, so the
// link finds no duplicate (both define w2c_f0 and func_types in wasm2c's own names).
TEST_F(AotSplitCompile, TwoSplitModulesLinkIntoOneObject) {
  ModulePtr probe = test::LoadWasm("wasi_probe"), wc = test::LoadWasm("wasi_wc");
  ASSERT_TRUE(probe && wc);
  AotCompiler compiler(Options());
  auto so = compiler.Compile({probe, wc});
  ASSERT_TRUE(so.ok()) << so.error().ToString();
  EXPECT_GE(Runs("m1_unit"), 2) << "the second module was not split";
  AotEngine aot(&compiler);
  ASSERT_TRUE(aot.Load(*so, {probe, wc}).ok());
  auto interp = NewInterpEngine();
  EXPECT_EQ(RunCommand(aot, probe, {"probe"}), RunCommand(*interp, probe, {"probe"}));
  EXPECT_EQ(RunCommand(aot, wc, {"wc"}), RunCommand(*interp, wc, {"wc"}));
}

TEST_F(AotSplitCompile, OneFailingUnitFailsTheWholeCompile) {
  ModulePtr probe = test::LoadWasm("wasi_probe");
  ASSERT_TRUE(probe);
  std::ofstream(fail_) << "on\n";
  AotCompiler compiler(Options());
  auto so = compiler.Compile({probe});
  ASSERT_FALSE(so.ok());
  EXPECT_EQ(so.error().kind, ErrorKind::kCompilerFailed);
  EXPECT_NE(so.error().message.find("unit failed"), std::string::npos) << so.error().message;
  EXPECT_EQ(Runs("-shared"), 0) << "linked despite a failed unit";
  // Nothing half-made is left in the cache: no object, no scratch folder.
  EXPECT_FALSE(compiler.Cached({probe}).has_value());
  for (const auto& entry : fs::directory_iterator(dir_.path() / "aot"))
    EXPECT_EQ(entry.path().extension(), ".lock") << entry.path();

  // The next compile, with the unit healthy again, succeeds.
  fs::remove(fail_);
  auto again = compiler.Compile({probe});
  ASSERT_TRUE(again.ok()) << again.error().ToString();
}

}  // namespace
}  // namespace velum
