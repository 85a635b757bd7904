// Reading and writing the module store on disk. The hash in the file name is never trusted: a
// file whose bytes hash differently (corrupt, or planted) is missing to Find, replaced by Keep.
#include "runtime/disk_module_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "runtime/file_reader.h"
#include "runtime/home.h"

namespace velum {

namespace fs = std::filesystem;

namespace {
constexpr size_t kCacheEntries = 32;
constexpr uint64_t kCacheBytes = 256ull << 20;

bool IsRegularFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(fs::symlink_status(path, ec));
}

// Whether the file at `path` holds exactly the module's bytes (a damaged copy does not, nor
// anything but a regular file, which a read could block on).
bool IsCopyOf(const fs::path& path, const Module& module) {
  if (!IsRegularFile(path)) return false;
  auto bytes = ReadFileBounded(path, module.bytes().size(), "the module's size");
  return bytes.ok() && bytes->size() == module.bytes().size() &&
         HashBytes(bytes->data(), bytes->size()) == module.hash();
}
}  // namespace

DiskModuleStore::DiskModuleStore(fs::path dir, uint64_t max_bytes)
    : ModuleStore(max_bytes), dir_(std::move(dir)) {}

fs::path DiskModuleStore::PathOf(const ModuleHash& hash) const {
  return dir_ / (HashToHex(hash) + ".wasm");
}

void DiskModuleStore::Remember(const ModulePtr& module) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.count(module->hash())) return;
  cache_[module->hash()] = module;
  order_.push_back(module->hash());
  cached_bytes_ += module->bytes().size();
  while (order_.size() > 1 && (order_.size() > kCacheEntries || cached_bytes_ > kCacheBytes)) {
    auto it = cache_.find(order_.front());
    cached_bytes_ -= it->second->bytes().size();
    cache_.erase(it);
    order_.pop_front();
  }
}

ModulePtr DiskModuleStore::Cached(const ModuleHash& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(hash);
  return it == cache_.end() ? nullptr : it->second;
}

ModulePtr DiskModuleStore::Find(const ModuleHash& hash) {
  if (ModulePtr cached = Cached(hash)) return cached;
  fs::path path = PathOf(hash);
  if (!IsRegularFile(path)) return nullptr;  // absent, or a FIFO or device planted there
  auto module = Module::FromFile(path, max_bytes() ? max_bytes() : UINT64_MAX);
  if (!module.ok() || (*module)->hash() != hash) return nullptr;
  Remember(*module);
  return *module;
}

Status DiskModuleStore::Keep(const ModulePtr& module) {
  // Checked when this process read or kept it: a file still there is taken as good (a stat,
  // not a read); a file removed meanwhile is written again.
  if (Cached(module->hash()) && IsRegularFile(PathOf(module->hash()))) return {};
  auto path = WriteFile(dir_, module);
  if (!path.ok()) return path.error();
  Remember(module);
  return {};
}

Result<fs::path> DiskModuleStore::WriteFile(const fs::path& dir, const ModulePtr& module) {
  fs::path path = dir / (module->hash_hex() + ".wasm");
  std::error_code ec;
  if (IsCopyOf(path, *module)) return path;
  if (!EnsureDirectory(dir)) return MakeError(ErrorKind::kIo, "cannot create " + dir.string());
  std::string tmp = path.string() + ".XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return MakeError(ErrorKind::kIo, "cannot create " + tmp);
  const auto& bytes = module->bytes();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (done != bytes.size()) {
    unlink(tmp.c_str());
    return MakeError(ErrorKind::kIo, "cannot write " + tmp + " (disk full?)");
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    unlink(tmp.c_str());
    return MakeError(ErrorKind::kIo, "cannot store module: " + ec.message());
  }
  return path;
}

void DiskModuleStore::RemoveLeftovers(const fs::path& dir, std::chrono::seconds age) {
  auto stale_before = fs::file_time_type::clock::now() - age;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    size_t dot = name.find(".wasm.");
    std::error_code entry_ec;
    if (dot == std::string::npos || name.size() != dot + 6 + 6 || !it->is_regular_file(entry_ec))
      continue;
    auto written = it->last_write_time(entry_ec);
    if (!entry_ec && written < stale_before) fs::remove(it->path(), entry_ec);
  }
}

}  // namespace velum
