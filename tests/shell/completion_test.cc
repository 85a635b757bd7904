// Tab completion (src/shell/completion.h): commands, flags and their choices, files and
// folders (a folder ends with /), bare module names, a module's exports and job ids.
#include "shell/completion.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace velum::shell {
namespace {

namespace fs = std::filesystem;
using Words = std::vector<std::string>;

// Runs each test in a fresh folder, with VELUM_WASM_PATH at the built example modules.
class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    char pattern[] = "/tmp/velum-complete-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    fs::current_path(dir_);
    setenv("VELUM_WASM_PATH", VELUM_WASM_DIR, 1);
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }
  fs::path old_cwd_, dir_;
};

TEST_F(CompletionTest, CommandNames) {
  EXPECT_EQ(Complete("sc").candidates, Words{"scatter"});
  EXPECT_EQ(Complete("s").candidates, (Words{"scatter", "status"}));
  EXPECT_EQ(Complete("w").candidates, (Words{"wait", "wasm"}));
  EXPECT_EQ(Complete("zz").candidates, Words{});
  EXPECT_EQ(Complete("").candidates.size(), 11u);  // every command
  EXPECT_EQ(Complete("help sc").candidates, Words{"scatter"});
  EXPECT_EQ(Complete("nosuch x").candidates, Words{});
}

TEST_F(CompletionTest, FlagsAndChoices) {
  EXPECT_EQ(Complete("scatter primes count_primes 0 10 --re").candidates, Words{"--reduce"});
  EXPECT_EQ(Complete("scatter primes count_primes 0 10 --reduce m").candidates,
            (Words{"max", "min"}));
  EXPECT_EQ(Complete("scatter primes count_primes 0 10 --reduce ").candidates,
            (Words{"first", "max", "min", "sum"}));
  EXPECT_EQ(Complete("wasm primes count_primes --l").candidates, Words{"--local"});
  EXPECT_EQ(Complete("jobs --").candidates, (Words{"--all", "--json"}));
  EXPECT_EQ(Complete("status --").candidates, Words{});
  EXPECT_EQ(Complete("r").candidates, Words{"result"});
}

TEST_F(CompletionTest, FilesFoldersEndWithSlash) {
  fs::create_directory("mods");
  fs::create_directory("mods/inner");
  std::ofstream("mods/one.wasm") << "x";
  std::ofstream("mods/.hidden") << "x";
  std::ofstream("modest.txt") << "x";
  Completion c = Complete("wasm mo");
  EXPECT_EQ(c.word, "mo");
  EXPECT_EQ(c.candidates, (Words{"modest.txt", "mods/"}));
  EXPECT_EQ(Complete("wasm mods/").candidates, (Words{"mods/inner/", "mods/one.wasm"}));
  EXPECT_EQ(Complete("wasm mods/.").candidates, Words{"mods/.hidden"});
  EXPECT_EQ(Complete("wasm nowhere/x").candidates, Words{});
}

TEST_F(CompletionTest, BareModuleNamesAndExports) {
  Completion c = Complete("scatter pri");
  EXPECT_EQ(c.candidates, Words{"primes"});  // primes.wasm in VELUM_WASM_PATH
  c = Complete("scatter primes cou");
  EXPECT_EQ(c.candidates, Words{"count_primes"});
  // Exports of a module given by path too; the toolchain's __ names are not offered.
  c = Complete(std::string("wasm ") + VELUM_WASM_DIR + "/primes.wasm ");
  ASSERT_FALSE(c.candidates.empty());
  for (const auto& name : c.candidates) EXPECT_NE(name.rfind("__", 0), 0u) << name;
  // A module that is not one: no exports, no crash.
  std::ofstream("junk.wasm") << "not wasm at all";
  EXPECT_EQ(Complete("wasm junk.wasm ").candidates, Words{});
  // Past FUNC, the arguments are numbers: nothing to offer.
  EXPECT_EQ(Complete("scatter primes count_primes 1").candidates, Words{});
}

TEST_F(CompletionTest, JobIds) {
  CompletionSources sources;
  sources.job_ids = [] { return std::vector<uint64_t>{3, 12, 13}; };
  EXPECT_EQ(Complete("wait 1", sources).candidates, (Words{"12", "13"}));
  EXPECT_EQ(Complete("cancel ", sources).candidates, (Words{"12", "13", "3"}));
  EXPECT_EQ(Complete("cancel 3 ", sources).candidates, Words{});
}

TEST(CommonPrefix, OfCandidates) {
  EXPECT_EQ(CommonPrefix({}), "");
  EXPECT_EQ(CommonPrefix({"mods/inner/", "mods/one.wasm"}), "mods/");
  EXPECT_EQ(CommonPrefix({"wait", "wasm"}), "wa");
  EXPECT_EQ(CommonPrefix({"scatter"}), "scatter");
}

}  // namespace
}  // namespace velum::shell
