// Locating, creating and checking the node's home directory.
// $VELUM_HOME wins; otherwise ~/.velum, with ~ from HOME or the password database, never /tmp.
#include "runtime/home.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <vector>

namespace velum {

namespace fs = std::filesystem;

namespace {

std::string Mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Who owns a path, for messages: "uid 65534 (nobody)".
std::string Owner(uid_t uid) {
  std::string out = "uid " + std::to_string(uid);
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name)
    out += std::string(" (") + found->pw_name + ")";
  return out;
}

}  // namespace

fs::path DefaultHome() {
  if (const char* env = std::getenv("VELUM_HOME"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".velum";
  // No HOME (a service, env -i): the account's home, never a shared and guessable /tmp path.
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir &&
      found->pw_dir[0] == '/')
    return fs::path(found->pw_dir) / ".velum";
  return {};
}

bool EnsureDirectory(const fs::path& dir) {
  if (dir.empty()) return false;
  // Each missing component is made private at once: create_directories would leave the
  // parents at 0777 minus the umask.
  fs::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return true;
}

Status PrepareHome(const fs::path& home) {
  if (home.empty())
    return MakeError(ErrorKind::kIo,
                     "no home directory: HOME is unset and this user has none in the password "
                     "database; set VELUM_HOME or --home");
  struct stat st {};
  if (stat(home.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return MakeError(ErrorKind::kIo, "cannot use home " + home.string() + ": " + strerror(errno));
    fs::path prefix;
    for (const auto& part : home) {
      prefix /= part;
      if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
        return MakeError(ErrorKind::kIo,
                         "cannot create home " + prefix.string() + ": " + strerror(errno));
    }
    if (stat(home.c_str(), &st) != 0)
      return MakeError(ErrorKind::kIo, "cannot use home " + home.string() + ": " + strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return MakeError(ErrorKind::kIo, "home " + home.string() + " is not a directory");
  if (st.st_uid != geteuid())
    return MakeError(ErrorKind::kIo, "home " + home.string() + " belongs to " + Owner(st.st_uid) +
                                         ", not to this user (" + Owner(geteuid()) +
                                         "); use a home of your own");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return MakeError(ErrorKind::kIo, "home " + home.string() + " is writable by others (mode " +
                                         Mode(st.st_mode) + "); chmod 700 it");
  // Root passes permission checks, not a read-only mount: AT_EACCESS asks for both.
  if (faccessat(AT_FDCWD, home.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
    return MakeError(ErrorKind::kIo,
                     "home " + home.string() + " is not writable: " + strerror(errno));
  return {};
}

Status CheckPrivateFile(const fs::path& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return MakeError(ErrorKind::kIo, "cannot use " + file.string() + ": " + strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return MakeError(ErrorKind::kIo, file.string() + " is not a regular file");
  if (st.st_uid != geteuid())
    return MakeError(ErrorKind::kIo, file.string() + " belongs to " + Owner(st.st_uid) +
                                         ", not to this user (" + Owner(geteuid()) + ")");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return MakeError(ErrorKind::kIo, file.string() + " is open to group or others (mode " +
                                         Mode(st.st_mode) + "); chmod 600 it");
  return {};
}

}  // namespace velum
