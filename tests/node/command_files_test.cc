// The files of remote WASI commands (src/node/command_files.h) against hostile trees: links
// that lead out of a folder, FIFOs, links in the way of a folder, a file already in place.
#include "node/command_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace velum {
namespace {

namespace fs = std::filesystem;

class CommandFiles : public testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "velum-command-files-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
    fs::create_directories(root_ / "dir" / "sub");
    Write(root_ / "dir" / "a.txt", "alpha\n");
    Write(root_ / "dir" / "sub" / "b.txt", "beta\n");
    Write(root_ / "secret", "the cluster key\n");
  }
  void TearDown() override { fs::remove_all(root_); }
  static void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  std::vector<std::string> Paths() {
    auto files = ListTree(root_ / "dir", 100, 1 << 20);
    EXPECT_TRUE(files.ok()) << files.error().ToString();
    std::vector<std::string> out;
    if (files.ok())
      for (const TreeFile& f : *files) out.push_back(f.path);
    return out;
  }
  fs::path root_;
};

TEST_F(CommandFiles, ListsRegularFilesSorted) {
  EXPECT_EQ(Paths(), (std::vector<std::string>{"a.txt", "sub/b.txt"}));
}

TEST_F(CommandFiles, ALinkThatLeadsOutIsRefused) {
  fs::create_symlink("../secret", root_ / "dir" / "key");
  auto files = ListTree(root_ / "dir", 100, 1 << 20);
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.error().message.find("leads out of"), std::string::npos) << files.error().message;
  fs::remove(root_ / "dir" / "key");
  fs::create_symlink(root_ / "secret", root_ / "dir" / "sub" / "abs");  // absolute, same
  EXPECT_FALSE(ListTree(root_ / "dir", 100, 1 << 20).ok());
  fs::remove(root_ / "dir" / "sub" / "abs");
  fs::create_directory_symlink(root_, root_ / "dir" / "up");  // a folder above: refused too
  EXPECT_FALSE(ListTree(root_ / "dir", 100, 1 << 20).ok());
}

TEST_F(CommandFiles, ALinkWithinIsItsTargetAndADanglingOneIsNoFile) {
  fs::create_symlink("sub/b.txt", root_ / "dir" / "link.txt");
  fs::create_symlink("nowhere", root_ / "dir" / "dangling");
  fs::create_directory_symlink("sub", root_ / "dir" / "loop");  // not entered
  auto files = ListTree(root_ / "dir", 100, 1 << 20);
  ASSERT_TRUE(files.ok()) << files.error().ToString();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[1].path, "link.txt");
  EXPECT_EQ((*files)[1].where, fs::canonical(root_ / "dir" / "sub" / "b.txt"));
}

TEST_F(CommandFiles, FifosAreNotFilesAndNeverBlock) {
  ASSERT_EQ(::mkfifo((root_ / "dir" / "pipe").c_str(), 0600), 0);
  EXPECT_EQ(Paths(), (std::vector<std::string>{"a.txt", "sub/b.txt"}));
  // Swapped in after listing: opening it neither blocks nor reads it.
  EXPECT_FALSE(HashFile(root_ / "dir" / "pipe", nullptr).ok());
  EXPECT_FALSE(ReadPiece(root_ / "dir" / "pipe", 0, 10).ok());
  // Nor is a link at the name followed.
  fs::create_symlink(root_ / "secret", root_ / "dir" / "swapped");
  EXPECT_FALSE(ReadPiece(root_ / "dir" / "swapped", 0, 10).ok());
}

TEST_F(CommandFiles, MakeParentsRefusesALinkInTheWay) {
  EXPECT_TRUE(MakeParents(root_ / "dir", "new/deeper/file.txt").ok());
  EXPECT_TRUE(fs::is_directory(root_ / "dir" / "new" / "deeper"));
  fs::create_directory_symlink(root_, root_ / "dir" / "out");
  Status s = MakeParents(root_ / "dir", "out/x/file.txt");
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(root_ / "x"));                            // nothing made through the link
  EXPECT_FALSE(MakeParents(root_ / "dir", "a.txt/file.txt").ok());  // a file in the way
}

TEST_F(CommandFiles, PlaceNeverWritesOverAFileThatIsThere) {
  Write(root_ / "blob", "cached contents\n");
  fs::path to = root_ / "dir" / "placed";
  ASSERT_TRUE(BlobCache::Place(root_ / "blob", to).ok());
  EXPECT_FALSE(BlobCache::Place(root_ / "secret", to).ok());  // a second file at one path
  std::ifstream in(root_ / "blob");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "cached contents\n");
}

}  // namespace
}  // namespace velum
