// The module store on disk: what it keeps is found again by a new process, a damaged file is
// missing to Find and replaced by Keep, and what it cannot write is an error, not an abort.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "runtime/disk_module_store.h"
#include "tests/unit/test_util.h"
#include "tests/unit/wasm_bytes.h"

namespace velum {
namespace {

// () -> i32 returning `value`: modules that differ by their bytes.
ModulePtr ConstModule(int32_t value) {
  std::vector<uint8_t> body = {0x41};
  test::Append(&body, test::LebS(value));
  body.push_back(0x0b);
  auto module = Module::FromBytes(test::WasmModule(
      {test::Section(1, {0x01, 0x60, 0x00, 0x01, 0x7f}), test::Section(3, {0x01, 0x00}),
       test::ExportFunc("f", 0), test::CodeSection(body)}));
  // Hand-assembled and valid: anything else is a broken test, not a case to go on with.
  if (!module.ok()) {
    std::fprintf(stderr, "ConstModule: %s\n", module.error().ToString().c_str());
    std::abort();
  }
  return *module;
}

void Overwrite(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

TEST(DiskModuleStore, KeptModuleIsFoundByANewStore) {
  test::TempDir dir;
  ModulePtr m = ConstModule(7);
  {
    DiskModuleStore store(dir.path() / "modules");
    ASSERT_TRUE(store.Keep(m).ok());
    EXPECT_NE(store.Cached(m->hash()), nullptr);
  }
  DiskModuleStore again(dir.path() / "modules");
  EXPECT_EQ(again.Cached(m->hash()), nullptr);
  ModulePtr found = again.Find(m->hash());
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->bytes(), m->bytes());
  EXPECT_EQ(again.Find(ConstModule(8)->hash()), nullptr);  // never kept
}

TEST(DiskModuleStore, DamagedFileIsMissingAndReplacedByKeep) {
  test::TempDir dir;
  ModulePtr m = ConstModule(7);
  DiskModuleStore first(dir.path() / "modules");
  ASSERT_TRUE(first.Keep(m).ok());
  std::filesystem::path path = first.PathOf(m->hash());
  std::vector<uint8_t> damaged = m->bytes();
  damaged.back() ^= 0x01;
  Overwrite(path, damaged);

  DiskModuleStore second(dir.path() / "modules");
  EXPECT_EQ(second.Find(m->hash()), nullptr);
  // Another valid module planted under this hash's name is missing too.
  Overwrite(path, ConstModule(9)->bytes());
  EXPECT_EQ(second.Find(m->hash()), nullptr);
  ASSERT_TRUE(second.Keep(m).ok());

  DiskModuleStore third(dir.path() / "modules");
  ModulePtr found = third.Find(m->hash());
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->bytes(), m->bytes());
}

TEST(DiskModuleStore, RemovedFileIsWrittenAgainByKeep) {
  test::TempDir dir;
  ModulePtr m = ConstModule(7);
  DiskModuleStore store(dir.path() / "modules");
  ASSERT_TRUE(store.Keep(m).ok());
  ASSERT_TRUE(std::filesystem::remove(store.PathOf(m->hash())));
  ASSERT_TRUE(store.Keep(m).ok());  // in the cache, but not on disk any more
  EXPECT_TRUE(std::filesystem::exists(store.PathOf(m->hash())));
}

// A FIFO planted under a module's name is neither read (a read could block forever) nor
// taken for the module: Find says missing, Keep replaces it with the module's file.
TEST(DiskModuleStore, PlantedFifoIsMissingAndReplaced) {
  test::TempDir dir;
  ModulePtr m = ConstModule(7);
  DiskModuleStore store(dir.path() / "modules");
  std::filesystem::create_directories(dir.path() / "modules");
  ASSERT_EQ(mkfifo(store.PathOf(m->hash()).c_str(), 0600), 0);
  EXPECT_EQ(store.Find(m->hash()), nullptr);
  ASSERT_TRUE(store.Keep(m).ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(store.PathOf(m->hash())));
  DiskModuleStore again(dir.path() / "modules");
  ASSERT_NE(again.Find(m->hash()), nullptr);
}

// Kept and then damaged while this process holds it: Keep trusts what it checked (a stat),
// so the damage is found by the next process to read it, which replaces it when it keeps it.
TEST(DiskModuleStore, DamageAfterKeepIsFoundByTheNextReader) {
  test::TempDir dir;
  ModulePtr m = ConstModule(7);
  DiskModuleStore store(dir.path() / "modules");
  ASSERT_TRUE(store.Keep(m).ok());
  std::vector<uint8_t> damaged = m->bytes();
  damaged[damaged.size() / 2] ^= 0x10;
  Overwrite(store.PathOf(m->hash()), damaged);
  ASSERT_TRUE(store.Keep(m).ok());
  EXPECT_NE(store.Find(m->hash()), nullptr);  // from memory
  DiskModuleStore next(dir.path() / "modules");
  EXPECT_EQ(next.Find(m->hash()), nullptr);
  ASSERT_TRUE(next.Keep(m).ok());
  DiskModuleStore third(dir.path() / "modules");
  EXPECT_NE(third.Find(m->hash()), nullptr);
}

TEST(DiskModuleStore, AddChecksTheLimitAndTheBytes) {
  test::TempDir dir;
  ModulePtr m = ConstModule(7);
  DiskModuleStore small(dir.path() / "modules", m->bytes().size() - 1);
  auto over = small.Add(m->bytes());
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().kind, ErrorKind::kLimitExceeded);
  EXPECT_EQ(small.Find(m->hash()), nullptr);

  DiskModuleStore store(dir.path() / "modules");
  auto bad = store.Add({0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidModule);
  auto added = store.Add(m->bytes());
  ASSERT_TRUE(added.ok()) << added.error().ToString();
  EXPECT_EQ((*added)->hash(), m->hash());
}

TEST(DiskModuleStore, UnwritableStoreIsAnError) {
  test::TempDir dir;
  Overwrite(dir.path() / "modules", {1, 2, 3});  // a file where the folder should be
  DiskModuleStore store(dir.path() / "modules");
  Status kept = store.Keep(ConstModule(7));
  ASSERT_FALSE(kept.ok());
  EXPECT_EQ(kept.error().kind, ErrorKind::kIo);
  EXPECT_EQ(store.Cached(ConstModule(7)->hash()), nullptr);
}

}  // namespace
}  // namespace velum
