// The one bounded reader of whole files: open without blocking on a FIFO, read at most the
// cap + 1 bytes with read(2), and turn every failure into an Error (no iostream exceptions).
#include "runtime/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace velum {

std::string FormatBytes(uint64_t bytes) {
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1ull << 20)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
    return buf;
  }
  return std::to_string(bytes) + " bytes";
}

namespace {

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

Result<std::vector<uint8_t>> ReadFileBounded(const std::filesystem::path& path, uint64_t max_bytes,
                                             const std::string& limit_name) {
  // O_NONBLOCK: opening a FIFO without a writer must not hang here; reads block again below.
  Fd f{open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0)
    return MakeError(ErrorKind::kIo, "cannot open " + path.string() + ": " + strerror(errno));
  struct stat st {};
  if (fstat(f.fd, &st) != 0)
    return MakeError(ErrorKind::kIo, "cannot read " + path.string() + ": " + strerror(errno));
  if (S_ISDIR(st.st_mode))
    return MakeError(ErrorKind::kIo, "cannot read " + path.string() + ": it is a directory");
  int flags = fcntl(f.fd, F_GETFL);
  if (flags >= 0) fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK);
  // "is 2.0 MiB" when the size is known, "is more than 64 MiB" when reading had to stop.
  auto too_large = [&](const std::string& size) {
    return MakeError(ErrorKind::kLimitExceeded, path.string() + " is " + size + ", over " +
                                                    limit_name + " of " + FormatBytes(max_bytes));
  };
  // A regular file announces its size: refuse before reading a byte. Others (/dev/zero, a
  // pipe, /proc files that claim 0 bytes) are read up to the cap + 1.
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes)
    return too_large(FormatBytes(static_cast<uint64_t>(st.st_size)));
  std::vector<uint8_t> bytes;
  uint64_t want = max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1;
  if (S_ISREG(st.st_mode))
    bytes.reserve(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), want));
  constexpr size_t kStep = 1 << 16;
  while (bytes.size() < want) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kStep, want - bytes.size()));
    size_t old = bytes.size();
    bytes.resize(old + n);
    ssize_t got = read(f.fd, bytes.data() + old, n);
    if (got < 0 && errno == EINTR) {
      bytes.resize(old);
      continue;
    }
    if (got < 0) {
      int err = errno;
      return MakeError(ErrorKind::kIo, "cannot read " + path.string() + ": " + strerror(err));
    }
    bytes.resize(old + static_cast<size_t>(got));
    if (got == 0) break;
  }
  if (bytes.size() > max_bytes) return too_large("more than " + FormatBytes(max_bytes));
  return bytes;
}

}  // namespace velum
