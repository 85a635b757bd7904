// Tests of the home directory's checks (runtime/home) and of the bounded file reader
// (runtime/file_reader): private creation, refused owners and modes, no /tmp fallback, and
// module files that are devices, /proc files or directories.
#include "runtime/home.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "runtime/file_reader.h"
#include "runtime/module.h"

namespace velum {
namespace {

namespace fs = std::filesystem;

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// A fresh directory per test, removed afterwards; HOME and VELUM_HOME restored.
class HomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/velum-home-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* name : {"HOME", "VELUM_HOME"})
      if (const char* v = std::getenv(name)) saved_[name] = v;
  }
  void TearDown() override {
    for (const char* name : {"HOME", "VELUM_HOME"}) {
      if (saved_.count(name))
        setenv(name, saved_[name].c_str(), 1);
      else
        unsetenv(name);
    }
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::map<std::string, std::string> saved_;
};

TEST_F(HomeTest, CreatedPrivateWithItsParents) {
  umask(022);
  fs::path home = dir_ / "a" / "b" / "home";
  ASSERT_TRUE(PrepareHome(home).ok());
  EXPECT_EQ(ModeOf(home), 0700u);
  EXPECT_EQ(ModeOf(dir_ / "a"), 0700u);
  EXPECT_EQ(ModeOf(dir_ / "a" / "b"), 0700u);
  ASSERT_TRUE(EnsureDirectory(home / "x" / "y"));
  EXPECT_EQ(ModeOf(home / "x"), 0700u);
  EXPECT_EQ(ModeOf(home / "x" / "y"), 0700u);
  EXPECT_TRUE(PrepareHome(home).ok());  // again: nothing changes
}

TEST_F(HomeTest, RefusedWhenWritableByOthersOrNotADirectory) {
  fs::path home = dir_ / "home";
  ASSERT_TRUE(PrepareHome(home).ok());
  chmod(home.c_str(), 0775);
  Status s = PrepareHome(home);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("writable by others"), std::string::npos) << s.error().message;
  chmod(home.c_str(), 0755);  // readable by others is the user's choice
  EXPECT_TRUE(PrepareHome(home).ok());
  std::ofstream(dir_ / "file") << "x";
  s = PrepareHome(dir_ / "file");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("not a directory"), std::string::npos) << s.error().message;
  s = PrepareHome("");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("VELUM_HOME"), std::string::npos);
}

TEST_F(HomeTest, AnotherUsersHomeAndKeyAreRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another user needs root";
  fs::path home = dir_ / "home";
  ASSERT_TRUE(PrepareHome(home).ok());
  fs::path key = home / "cluster.key";
  std::ofstream(key) << std::string(32, 'k');
  chmod(key.c_str(), 0600);
  EXPECT_TRUE(CheckPrivateFile(key).ok());
  ASSERT_EQ(chown(key.c_str(), 65534, 65534), 0);
  Status s = CheckPrivateFile(key);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("belongs to uid 65534"), std::string::npos) << s.error().message;
  ASSERT_EQ(chown(home.c_str(), 65534, 65534), 0);
  s = PrepareHome(home);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("belongs to uid 65534"), std::string::npos) << s.error().message;
}

TEST_F(HomeTest, AKeyOpenToOthersIsRefused) {
  fs::path key = dir_ / "cluster.key";
  EXPECT_TRUE(CheckPrivateFile(key).ok());  // missing: it will be created private
  std::ofstream(key) << std::string(32, 'k');
  chmod(key.c_str(), 0640);
  Status s = CheckPrivateFile(key);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("chmod 600"), std::string::npos) << s.error().message;
}

TEST_F(HomeTest, ReadOnlyHomeIsRefused) {
  // Root passes permission bits, so this needs an unprivileged user; the e2e test covers
  // root with a read-only bind mount.
  if (geteuid() == 0) GTEST_SKIP() << "root writes through mode 0500";
  fs::path home = dir_ / "home";
  ASSERT_TRUE(PrepareHome(home).ok());
  chmod(home.c_str(), 0500);
  Status s = PrepareHome(home);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("not writable"), std::string::npos) << s.error().message;
}

TEST_F(HomeTest, NoHomeVariableUsesTheAccountsHomeNeverTmp) {
  unsetenv("VELUM_HOME");
  unsetenv("HOME");
  fs::path home = DefaultHome();
  passwd* pw = getpwuid(geteuid());
  if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
    EXPECT_EQ(home, fs::path(pw->pw_dir) / ".velum");
  else
    EXPECT_TRUE(home.empty());
  EXPECT_NE(home.string().rfind("/tmp", 0), 0u) << home;
  setenv("HOME", dir_.c_str(), 1);
  EXPECT_EQ(DefaultHome(), dir_ / ".velum");
  setenv("VELUM_HOME", (dir_ / "v").c_str(), 1);
  EXPECT_EQ(DefaultHome(), dir_ / "v");
}

TEST(FileReaderTest, ProcSelfMemIsAnErrorNotAnException) {
  auto r = ReadFileBounded("/proc/self/mem", 1 << 20, "the limit");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kIo);
  auto m = Module::FromFile("/proc/self/mem");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("/proc/self/mem"), std::string::npos);
}

TEST(FileReaderTest, DevZeroStopsAtTheCap) {
  auto r = ReadFileBounded("/dev/zero", 1 << 20, "the module size limit");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(r.error().message.find("more than 1 MiB"), std::string::npos) << r.error().message;
  auto m = Module::FromFile("/dev/zero");  // the default cap, 64 MiB
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kLimitExceeded);
}

TEST(FileReaderTest, DirectoriesAndMissingFiles) {
  auto r = ReadFileBounded("/tmp", 1 << 20, "the limit");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("directory"), std::string::npos);
  r = ReadFileBounded("/nonexistent/x.wasm", 1 << 20, "the limit");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot open"), std::string::npos);
}

TEST(FileReaderTest, RegularFilesUpToTheCapExactly) {
  char tmpl[] = "/tmp/velum-reader-test.XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  std::string bytes(1000, 'a');
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), 1000);
  close(fd);
  auto r = ReadFileBounded(tmpl, 1000, "the limit");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1000u);
  r = ReadFileBounded(tmpl, 999, "the limit");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is 1000 bytes, over the limit of 999 bytes"), std::string::npos)
      << r.error().message;
  unlink(tmpl);
}

}  // namespace
}  // namespace velum
