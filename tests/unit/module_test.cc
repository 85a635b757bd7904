// Unit tests of module loading: content hash, typed exports and imports, and the errors for
// files that are not wasm, truncated, or fail validation (reported with wabt's message).
#include "runtime/module.h"

#include <sodium.h>

#include "test_util.h"

namespace velum {
namespace {

using test::LoadWasm;
using test::ReadBytes;
using test::WasmPath;

const ExportInfo* FindExport(const Module& m, const std::string& name) {
  for (const auto& e : m.exports())
    if (e.name == name) return &e;
  return nullptr;
}

TEST(Module, HashIsBlake2b256OfTheBytes) {
  ASSERT_GE(sodium_init(), 0);
  std::vector<uint8_t> bytes = ReadBytes(WasmPath("sum"));
  ASSERT_FALSE(bytes.empty());
  ModulePtr m = LoadWasm("sum");
  ASSERT_NE(m, nullptr);
  uint8_t expected[32];
  crypto_generichash(expected, sizeof expected, bytes.data(), bytes.size(), nullptr, 0);
  EXPECT_EQ(std::vector<uint8_t>(m->hash().begin(), m->hash().end()),
            std::vector<uint8_t>(expected, expected + 32));
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, expected, sizeof expected);
  EXPECT_EQ(m->hash_hex(), hex);
  EXPECT_EQ(m->hash_hex().size(), 64u);
  EXPECT_EQ(m->bytes(), bytes);
  // FromBytes of the same bytes has the same identity; other bytes do not.
  auto again = Module::FromBytes(bytes);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ((*again)->hash(), m->hash());
  ModulePtr add = LoadWasm("add");
  ASSERT_NE(add, nullptr);
  EXPECT_NE(add->hash(), m->hash());
}

TEST(Module, HashOfEmptyInput) {
  ASSERT_GE(sodium_init(), 0);
  // BLAKE2b-256("") is a published test vector.
  EXPECT_EQ(HashToHex(HashBytes(nullptr, 0)),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST(Module, SumExportsAndSignatures) {
  ModulePtr m = LoadWasm("sum");
  ASSERT_NE(m, nullptr);
  const ExportInfo* sum = FindExport(*m, "sum");
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->kind, ExternKind::kFunc);
  EXPECT_EQ(sum->sig, (FuncSig{{ValType::kI32, ValType::kI32, ValType::kI32}, {ValType::kI32}}));
  EXPECT_EQ(sum->sig.ToString(), "(i32, i32, i32) -> i32");
  const ExportInfo* sum64 = FindExport(*m, "sum64");
  ASSERT_NE(sum64, nullptr);
  EXPECT_EQ(sum64->sig.ToString(), "(i64, i64) -> i64");
  const ExportInfo* mean3 = FindExport(*m, "mean3");
  ASSERT_NE(mean3, nullptr);
  EXPECT_EQ(mean3->sig.ToString(), "(f64, f64, f64) -> f64");
  const ExportInfo* memory = FindExport(*m, "memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->kind, ExternKind::kMemory);
  EXPECT_GE(memory->type.initial, 1u);
  EXPECT_TRUE(m->imports().empty());
}

TEST(Module, Range64ExportsAndSignatures) {
  ModulePtr m = LoadWasm("range64");
  ASSERT_NE(m, nullptr);
  auto sum_squares = m->FindFunction("sum_squares");
  ASSERT_TRUE(sum_squares.ok()) << sum_squares.error().ToString();
  EXPECT_EQ((*sum_squares)->sig, (FuncSig{{ValType::kI64, ValType::kI64}, {ValType::kI64}}));
  auto harmonic = m->FindFunction("harmonic");
  ASSERT_TRUE(harmonic.ok());
  EXPECT_EQ((*harmonic)->sig, (FuncSig{{ValType::kI64, ValType::kI64}, {ValType::kF64}}));
  auto scale = m->FindFunction("scale");
  ASSERT_TRUE(scale.ok());
  EXPECT_EQ((*scale)->sig.ToString(), "(f32, f32) -> f32");
}

TEST(Module, TrapsModuleMultiValueSignature) {
  ModulePtr m = LoadWasm("traps");
  ASSERT_NE(m, nullptr);
  auto multi = m->FindFunction("multi");
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ((*multi)->sig.ToString(), "(i64, f32) -> (i64, f32, f64)");
  const ExportInfo* spin = FindExport(*m, "spin");
  ASSERT_NE(spin, nullptr);
  EXPECT_EQ(spin->sig.ToString(), "() -> i32");
}

TEST(Module, Imports) {
  auto m = Module::FromBytes(test::ImportingModule());
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  ASSERT_EQ((*m)->imports().size(), 1u);
  const ImportInfo& imp = (*m)->imports()[0];
  EXPECT_EQ(imp.module, "env");
  EXPECT_EQ(imp.field, "log");
  EXPECT_EQ(imp.kind, ExternKind::kFunc);
  EXPECT_EQ(imp.sig.ToString(), "(i32) -> ()");
  auto main = (*m)->FindFunction("main");
  ASSERT_TRUE(main.ok());
  EXPECT_EQ((*main)->sig.ToString(), "() -> ()");
}

TEST(Module, NotWasmBadMagic) {
  std::string text = "#!/bin/sh\necho this is not wasm\n";
  auto m = Module::FromBytes(std::vector<uint8_t>(text.begin(), text.end()));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
  EXPECT_NE(m.error().message.find("bad magic"), std::string::npos) << m.error().message;
}

TEST(Module, TooShort) {
  for (std::vector<uint8_t> bytes : {std::vector<uint8_t>{}, std::vector<uint8_t>{0, 'a', 's'},
                                     std::vector<uint8_t>{0, 'a', 's', 'm', 1}}) {
    auto m = Module::FromBytes(bytes);
    ASSERT_FALSE(m.ok()) << bytes.size() << " bytes accepted";
    EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
    EXPECT_FALSE(m.error().message.empty());
  }
}

TEST(Module, WrongVersion) {
  std::vector<uint8_t> bytes = {0, 'a', 's', 'm', 2, 0, 0, 0};
  auto m = Module::FromBytes(bytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
  EXPECT_NE(m.error().message.find("version"), std::string::npos) << m.error().message;
}

TEST(Module, TruncatedFile) {
  std::vector<uint8_t> bytes = ReadBytes(WasmPath("sum"));
  ASSERT_GT(bytes.size(), 20u);
  bytes.resize(20);
  auto m = Module::FromBytes(bytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
  // wabt's own words, on one line.
  EXPECT_NE(m.error().message.find("error:"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("past end"), std::string::npos) << m.error().message;
  EXPECT_EQ(m.error().message.find('\n'), std::string::npos) << m.error().message;
}

TEST(Module, InvalidModuleFailsValidation) {
  auto m = Module::FromBytes(test::InvalidReturnTypeModule());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalidModule);
  EXPECT_NE(m.error().message.find("type mismatch"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("expected [i32] but got [i64]"), std::string::npos)
      << m.error().message;
  EXPECT_EQ(m.error().message.find('\n'), std::string::npos) << m.error().message;
}

TEST(Module, FromFileErrors) {
  test::TempDir dir;
  auto missing = Module::FromFile(dir.path() / "missing.wasm");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kIo);
  EXPECT_NE(missing.error().message.find("missing.wasm"), std::string::npos);

  test::WriteBytes(dir.path() / "notes.txt", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'a', 's', 'm'});
  auto text = Module::FromFile(dir.path() / "notes.txt");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().kind, ErrorKind::kInvalidModule);
  // The file name leads the message so the user knows which file is wrong.
  EXPECT_EQ(text.error().message.rfind("notes.txt: ", 0), 0u) << text.error().message;
}

TEST(Module, FindFunctionListsExports) {
  ModulePtr m = LoadWasm("sum");
  ASSERT_NE(m, nullptr);
  auto found = m->FindFunction("sum");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->name, "sum");

  auto missing = m->FindFunction("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kExportNotFound);
  const std::string& msg = missing.error().message;
  EXPECT_NE(msg.find("'nope'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sum(i32, i32, i32) -> i32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sum64(i64, i64) -> i64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mean3(f64, f64, f64) -> f64"), std::string::npos) << msg;
  // Only functions are listed, and a memory is not a function.
  EXPECT_EQ(msg.find("memory"), std::string::npos) << msg;
  auto memory = m->FindFunction("memory");
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.error().kind, ErrorKind::kExportNotFound);
}

TEST(Module, FindFunctionWithoutExports) {
  std::vector<uint8_t> empty = test::WasmModule({});
  auto m = Module::FromBytes(empty);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  auto f = (*m)->FindFunction("main");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("(none)"), std::string::npos) << f.error().message;
}

TEST(Module, FiftyMegabyteModule) {
  constexpr size_t kBytes = 50u << 20;
  auto data = Module::FromBytes(test::BigDataModule(kBytes));
  ASSERT_TRUE(data.ok()) << data.error().ToString();
  EXPECT_GT((*data)->bytes().size(), kBytes);
  auto probe = (*data)->FindFunction("probe");
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ((*probe)->sig.ToString(), "() -> i32");
  // The hash covers every byte: one changed byte in the data is another module.
  std::vector<uint8_t> other = (*data)->bytes();
  other[other.size() / 2] ^= 1;
  EXPECT_NE(HashBytes(other.data(), other.size()), (*data)->hash());
}

}  // namespace
}  // namespace velum
