// Tests of HOME/http.token: made once at mode 0600, read back the same, refused when others
// may read it or it is no usable file; and the bearer check, which takes nothing but the exact
// header.
#include "http/http_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace velum::http {
namespace {

namespace fs = std::filesystem;

class TokenTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/velum-token-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    home_ = tmpl;
  }
  void TearDown() override { fs::remove_all(home_); }
  void Write(const std::string& text, fs::perms mode) {
    std::ofstream(home_ / "http.token") << text;
    fs::permissions(home_ / "http.token", mode);
  }
  fs::path home_;
};

TEST_F(TokenTest, MadeOnceAtMode600AndReadBackTheSame) {
  auto first = LoadOrCreateToken(home_);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(stat((home_ / "http.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = LoadOrCreateToken(home_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  // Another home: another token.
  fs::path other = home_ / "other";
  fs::create_directory(other);
  auto third = LoadOrCreateToken(other);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(*first, *third);
}

TEST_F(TokenTest, ATokenSetByHandIsTakenWithoutItsNewline) {
  Write("my-own-token-of-enough-length\n", fs::perms::owner_read | fs::perms::owner_write);
  auto t = LoadOrCreateToken(home_);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(*t, "my-own-token-of-enough-length");
}

TEST_F(TokenTest, AFileOthersMayReadIsRefusedWithTheFix) {
  Write(std::string(40, 'a'), fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
  auto t = LoadOrCreateToken(home_);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("chmod 600"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("644"), std::string::npos) << t.error().message;
}

TEST_F(TokenTest, UnusableFilesAreRefused) {
  const auto mode = fs::perms::owner_read | fs::perms::owner_write;
  for (const std::string& text : {std::string(""), std::string("\n"), std::string("short\n"),
                                  std::string("has a space in it somewhere"), std::string(600, 'x'),
                                  std::string("token\x01with-a-control-char")}) {
    fs::remove(home_ / "http.token");
    Write(text, mode);
    auto t = LoadOrCreateToken(home_);
    EXPECT_FALSE(t.ok()) << "accepted '" << text << "'";
    if (!t.ok()) {
      EXPECT_NE(t.error().message.find("no usable token"), std::string::npos) << t.error().message;
    }
  }
  // A folder in its place, and a symbolic link (even to a good file) are refused too.
  fs::remove(home_ / "http.token");
  fs::create_directory(home_ / "http.token");
  EXPECT_FALSE(LoadOrCreateToken(home_).ok());
  fs::remove(home_ / "http.token");
  std::ofstream(home_ / "real") << std::string(40, 'b');
  fs::permissions(home_ / "real", mode);
  fs::create_symlink(home_ / "real", home_ / "http.token");
  auto linked = LoadOrCreateToken(home_);
  EXPECT_FALSE(linked.ok());
}

TEST_F(TokenTest, AHomeThatCannotBeWrittenIsAnError) {
  auto t = LoadOrCreateToken(home_ / "missing" / "deeper");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("cannot create"), std::string::npos) << t.error().message;
}

TEST(Bearer, OnlyTheExactHeaderMatches) {
  const std::string token(64, 'f');
  EXPECT_TRUE(BearerMatches(token, "Bearer " + token));
  EXPECT_FALSE(BearerMatches(token, ""));
  EXPECT_FALSE(BearerMatches(token, "Bearer"));
  EXPECT_FALSE(BearerMatches(token, "Bearer "));
  EXPECT_FALSE(BearerMatches(token, token));
  EXPECT_FALSE(BearerMatches(token, "bearer " + token));
  EXPECT_FALSE(BearerMatches(token, "Basic " + token));
  EXPECT_FALSE(BearerMatches(token, "Bearer  " + token));
  EXPECT_FALSE(BearerMatches(token, "Bearer " + token + " "));
  EXPECT_FALSE(BearerMatches(token, "Bearer " + token.substr(1)));
  EXPECT_FALSE(BearerMatches(token, "Bearer " + token.substr(0, 63) + "e"));
  EXPECT_FALSE(BearerMatches(token, std::string("Bearer ") + std::string(64, '\0')));
}

}  // namespace
}  // namespace velum::http
