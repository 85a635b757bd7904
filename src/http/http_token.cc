// The bearer token file: created with O_EXCL at mode 0600 so no other user ever sees it, read
// back with O_NOFOLLOW and checked (owner, mode, contents) before the server starts.
#include "http/http_token.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace velum::http {

namespace {

constexpr size_t kTokenBytes = 32;      // random bytes of a new token (64 hex digits)
constexpr size_t kMinTokenChars = 16;   // a token set by hand may be shorter, not this short
constexpr size_t kMaxTokenChars = 512;  // nor longer than this

Result<std::string> CreateToken(const std::filesystem::path& file) {
  if (sodium_init() < 0) return MakeError(ErrorKind::kInternal, "libsodium failed to initialise");
  unsigned char bytes[kTokenBytes];
  randombytes_buf(bytes, sizeof bytes);
  char hex[kTokenBytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  std::string token(hex);
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return MakeError(ErrorKind::kIo,
                     "cannot create " + file.string() + ": " + std::strerror(errno));
  std::string line = token + "\n";
  bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  bool synced = fsync(fd) == 0;
  close(fd);
  if (!written || !synced) {
    unlink(file.c_str());
    return MakeError(ErrorKind::kIo, "cannot write " + file.string());
  }
  return token;
}

}  // namespace

Result<std::string> LoadOrCreateToken(const std::filesystem::path& home) {
  const std::filesystem::path file = home / "http.token";
  int fd = open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return CreateToken(file);
  if (fd < 0)
    return MakeError(ErrorKind::kIo, "cannot open " + file.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return MakeError(ErrorKind::kBadArguments, file.string() + " is not a regular file");
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return MakeError(ErrorKind::kBadArguments,
                     file.string() + " may be read by others (mode " + mode +
                         (st.st_uid != geteuid() ? ", another user's" : "") +
                         "): make it this user's with mode 600 (chmod 600), or delete it for a "
                         "new one");
  }
  char buf[kMaxTokenChars + 2];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) return MakeError(ErrorKind::kIo, "cannot read " + file.string());
  std::string token(buf, static_cast<size_t>(n));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  bool printable = true;
  for (unsigned char c : token) printable = printable && std::isgraph(c);
  if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars || !printable)
    return MakeError(ErrorKind::kBadArguments,
                     file.string() + " holds no usable token (" + std::to_string(kMinTokenChars) +
                         " to " + std::to_string(kMaxTokenChars) +
                         " printable characters without spaces); delete it for a new one");
  return token;
}

bool BearerMatches(const std::string& token, std::string_view header) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() != kScheme.size() + token.size()) return false;
  if (header.substr(0, kScheme.size()) != kScheme) return false;
  return sodium_memcmp(header.data() + kScheme.size(), token.data(), token.size()) == 0;
}

}  // namespace velum::http
