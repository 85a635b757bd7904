// Reading and writing the module store. The hash in the file name is never trusted: a file
// whose bytes hash differently (corrupt, or planted) is treated as missing.
#include "runtime/module_store.h"

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
}  // namespace

ModuleStore::ModuleStore(fs::path dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {}

std::string ModuleStore::Size(uint64_t bytes) { return FormatBytes(bytes); }

fs::path ModuleStore::PathOf(const ModuleHash& hash) const {
  return dir_ / (HashToHex(hash) + ".wasm");
}

void ModuleStore::Remember(const ModulePtr& module) {
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

bool ModuleStore::InCache(const ModuleHash& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.count(hash) > 0;
}

ModulePtr ModuleStore::Find(const ModuleHash& hash) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(hash); it != cache_.end()) return it->second;
  }
  std::error_code ec;
  fs::path path = PathOf(hash);
  if (!fs::exists(path, ec)) return nullptr;
  auto module = Module::FromFile(path);
  if (!module.ok() || (*module)->hash() != hash) return nullptr;
  Remember(*module);
  return *module;
}

Result<ModulePtr> ModuleStore::Add(std::vector<uint8_t> bytes) {
  if (max_bytes_ && bytes.size() > max_bytes_)
    return MakeError(
        ErrorKind::kLimitExceeded,
        "module of " + Size(bytes.size()) + " exceeds this node's limit of " + Size(max_bytes_));
  auto module = Module::FromBytes(std::move(bytes));
  if (!module.ok()) return module.error();
  if (auto kept = Keep(*module); !kept.ok()) return kept.error();
  return *module;
}

Result<ModulePtr> ModuleStore::Load(const fs::path& file) {
  auto module = Module::FromFile(file, max_bytes_ ? max_bytes_ : UINT64_MAX);
  if (!module.ok()) {
    Error e = module.error();
    if (e.kind == ErrorKind::kLimitExceeded) e.message += " (--max-module-mib)";
    return e;
  }
  if (auto kept = Keep(*module); !kept.ok()) return kept.error();
  return *module;
}

Result<fs::path> ModuleStore::Keep(const ModulePtr& module) {
  auto path = WriteFile(dir_, module);
  if (path.ok()) Remember(module);
  return path;
}

Result<fs::path> ModuleStore::WriteFile(const fs::path& dir, const ModulePtr& module) {
  fs::path path = dir / (module->hash_hex() + ".wasm");
  std::error_code ec;
  if (fs::exists(path, ec)) return path;
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

void ModuleStore::RemoveLeftovers(const fs::path& dir, std::chrono::seconds age) {
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
