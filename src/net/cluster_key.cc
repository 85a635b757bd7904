// Creating and reading the cluster key file, atomically and with private permissions.
// Two nodes starting at once on a fresh home agree on one key (link(2) decides the race).
#include "net/cluster_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "runtime/home.h"

namespace velum::net {

namespace fs = std::filesystem;

Result<ClusterKey> LoadClusterKey(const fs::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeError(ErrorKind::kIo, "cannot open cluster key " + path.string());
  struct stat st {};
  fstat(fd, &st);
  ClusterKey key{};
  ssize_t n = read(fd, key.data(), key.size());
  char extra;
  ssize_t more = read(fd, &extra, 1);
  close(fd);
  if (n != static_cast<ssize_t>(key.size()) || more != 0)
    return MakeError(ErrorKind::kIo, "cluster key " + path.string() + " must be exactly 32 bytes");
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return MakeError(ErrorKind::kIo,
                     "cluster key " + path.string() + " is readable by others; chmod 600 it");
  return key;
}

Result<ClusterKey> LoadOrCreateClusterKey(const fs::path& path) {
  if (sodium_init() < 0) return MakeError(ErrorKind::kInternal, "libsodium failed to initialise");
  if (fs::exists(path)) return LoadClusterKey(path);
  if (!EnsureDirectory(path.parent_path()))
    return MakeError(ErrorKind::kIo, "cannot create " + path.parent_path().string());
  ClusterKey key;
  randombytes_buf(key.data(), key.size());
  std::string tmp = path.string() + ".tmp" + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(ErrorKind::kIo, "cannot create " + tmp);
  bool ok = write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && fsync(fd) == 0;
  close(fd);
  // link() fails if another node created the key first: then both use that one.
  if (ok) link(tmp.c_str(), path.c_str());
  unlink(tmp.c_str());
  if (!ok) return MakeError(ErrorKind::kIo, "cannot write " + path.string());
  return LoadClusterKey(path);
}

}  // namespace velum::net
