// Listing, hashing and moving the files of remote WASI commands (command_files.h). Every
// path that comes from a peer was checked by the codec (wire::CommandPathOk) before it gets
// here; folders the user names are read as they are.
#include "node/command_files.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/assert.h"
#include "runtime/module_store.h"
#include "wire/job_codec.h"

namespace velum {

namespace fs = std::filesystem;

namespace {

constexpr size_t kReadPiece = 1 << 20;

Error IoError(const std::string& what, const fs::path& path, int err) {
  return MakeError(ErrorKind::kIo, what + " " + path.string() + ": " + std::strerror(err));
}

// Whether `path` is `root` or beneath it (both canonical).
bool Within(const fs::path& root, const fs::path& path) {
  auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return r == root.end();
}

// Opens a regular file to read: never through a link at its last component, never a FIFO
// or a device (which could block or never end), whatever the name held when it was listed.
Result<int> OpenRegular(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return IoError("cannot open", file, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return MakeError(ErrorKind::kIo, file.string() + " is not a regular file");
  }
  return fd;
}

}  // namespace

Result<std::vector<TreeFile>> ListTree(const fs::path& dir, size_t max_files, uint64_t max_bytes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return MakeError(ErrorKind::kIo, dir.string() + " is not a directory");
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return IoError("cannot list", dir, ec.value());
  std::vector<TreeFile> files;
  uint64_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return IoError("cannot list", dir, ec.value());
  for (; it != end; it.increment(ec)) {
    if (ec) return IoError("cannot list", dir, ec.value());
    TreeFile f;
    f.where = it->path();
    if (it->is_symlink(ec)) {
      // A link is its target only when that stays beneath `dir`, as in the sandbox: one that
      // leads out would send (or hand back from a worker's /out) a file nobody named. A link
      // to a folder is not entered (it could loop); one that leads nowhere is no file.
      it.disable_recursion_pending();
      fs::path target = fs::canonical(it->path(), ec);
      if (ec) {
        ec.clear();
        continue;
      }
      if (!Within(root, target))
        return MakeError(ErrorKind::kIo, it->path().string() +
                                             " is a symbolic link that leads out of " +
                                             dir.string() + ": refused");
      if (!fs::is_regular_file(target, ec)) continue;
      f.where = target;
    } else if (!it->is_regular_file(ec)) {
      continue;  // folders are entered; FIFOs, sockets and devices are not files to send
    }
    f.path = it->path().lexically_relative(dir).generic_string();
    f.size = it->file_size(ec);
    if (ec) return IoError("cannot read", it->path(), ec.value());
    if (!wire::CommandPathOk(f.path))
      return MakeError(ErrorKind::kLimitExceeded, "a path under " + dir.string() +
                                                      " is longer than " +
                                                      std::to_string(wire::kMaxCommandPathBytes) +
                                                      " bytes: " + f.path.substr(0, 80) + "...");
    if (files.size() >= max_files)
      return MakeError(ErrorKind::kLimitExceeded,
                       dir.string() + " holds more than " + std::to_string(max_files) + " files");
    if (f.size > max_bytes - total)
      return MakeError(ErrorKind::kLimitExceeded,
                       "the files sent are larger than " + ModuleStore::Size(max_bytes));
    total += f.size;
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(),
            [](const TreeFile& a, const TreeFile& b) { return a.path < b.path; });
  VELUM_ASSERT(files.size() <= max_files && total <= max_bytes);
  return files;
}

Result<ModuleHash> HashFile(const fs::path& file, uint64_t* size) {
  auto opened = OpenRegular(file);
  if (!opened.ok()) return opened.error();
  const int fd = *opened;
  crypto_generichash_state state;
  ModuleHash hash{};
  crypto_generichash_init(&state, nullptr, 0, hash.size());
  std::string buf(kReadPiece, '\0');
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return IoError("cannot read", file, err);
    }
    if (n == 0) break;
    crypto_generichash_update(&state, reinterpret_cast<const uint8_t*>(buf.data()),
                              static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  crypto_generichash_final(&state, hash.data(), hash.size());
  if (size) *size = total;
  return hash;
}

Status HashTree(std::vector<TreeFile>* files) {
  for (TreeFile& f : *files) {
    uint64_t size = 0;
    auto hash = HashFile(f.where, &size);
    if (!hash.ok()) return hash.error();
    // The size sent is the size hashed: a file that grew since it was listed is sent as read.
    f.size = size;
    f.hash = *hash;
  }
  return {};
}

Result<std::string> ReadPiece(const fs::path& file, uint64_t offset, size_t max) {
  auto opened = OpenRegular(file);
  if (!opened.ok()) return opened.error();
  const int fd = *opened;
  std::string out(max, '\0');
  size_t got = 0;
  while (got < max) {
    ssize_t n = ::pread(fd, out.data() + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return IoError("cannot read", file, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

Status MakeParents(const fs::path& root, const std::string& relative) {
  VELUM_ASSERT(wire::CommandPathOk(relative));
  // Folder by folder, each a real folder: a link on the way (made by whoever else writes
  // under root) is refused, never followed out of root.
  fs::path at = root;
  const fs::path parent = fs::path(relative).parent_path();
  size_t depth = 0;
  for (const fs::path& part : parent) {
    VELUM_ASSERT(++depth <= wire::kMaxCommandPathBytes);
    at /= part;
    std::error_code ec;
    fs::file_status st = fs::symlink_status(at, ec);
    if (st.type() == fs::file_type::not_found) {
      if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST)
        return IoError("cannot create", at, errno);
      st = fs::symlink_status(at, ec);
    }
    if (st.type() != fs::file_type::directory)
      return MakeError(ErrorKind::kIo, at.string() +
                                           " is not a folder (a link or a file is in "
                                           "the way)");
  }
  return {};
}

BlobCache::BlobCache(fs::path dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  VELUM_ASSERT(!dir_.empty());
  std::error_code ec;
  fs::create_directories(dir_, ec);
  // Temporary files of a node that died while receiving are of no use.
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind("tmp-", 0) == 0) fs::remove(it->path(), ec);
}

std::optional<fs::path> BlobCache::Find(const ModuleHash& hash) {
  fs::path p = dir_ / HashToHex(hash);
  std::lock_guard<std::mutex> lock(mu_);
  if (::utimensat(AT_FDCWD, p.c_str(), nullptr, 0) != 0) return std::nullopt;  // touched: used
  return p;
}

Result<fs::path> BlobCache::TempFile() {
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  fs::path p = dir_ / ("tmp-" + std::to_string(::getpid()) + "-" + std::to_string(next_temp_++));
  fs::remove(p, ec);  // left by an earlier process of the same pid
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", p, errno);
  ::close(fd);
  return p;
}

Result<fs::path> BlobCache::Adopt(const fs::path& temp, const ModuleHash& hash) {
  std::error_code ec;
  auto got = HashFile(temp, nullptr);
  if (!got.ok() || *got != hash) {
    fs::remove(temp, ec);
    if (!got.ok()) return got.error();
    return MakeError(ErrorKind::kIo, "a file arrived with other contents than announced");
  }
  fs::path p = dir_ / HashToHex(hash);
  ::chmod(temp.c_str(), 0444);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (::rename(temp.c_str(), p.c_str()) != 0) {
      int err = errno;
      fs::remove(temp, ec);
      return IoError("cannot keep", p, err);
    }
  }
  Evict();
  return p;
}

void BlobCache::Evict() {
  std::lock_guard<std::mutex> lock(mu_);
  struct Entry {
    fs::file_time_type used;
    fs::path path;
    uint64_t size;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind("tmp-", 0) == 0) continue;
    uint64_t size = it->file_size(ec);
    if (ec) continue;
    entries.push_back({it->last_write_time(ec), it->path(), size});
    total += size;
  }
  if (total <= max_bytes_) return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  // A file placed in a running command is a hard link: removing it here leaves that copy.
  for (const Entry& e : entries) {
    if (total <= max_bytes_) break;
    if (fs::remove(e.path, ec)) total -= e.size;
  }
}

Status BlobCache::Place(const fs::path& cached, const fs::path& to) {
  if (::link(cached.c_str(), to.c_str()) == 0) return {};
  // Never over a file that is there: it could be a link to another cached blob.
  std::error_code ec;
  if (!fs::copy_file(cached, to, fs::copy_options::none, ec))
    return IoError("cannot place", to, ec.value());
  return {};
}

}  // namespace velum
