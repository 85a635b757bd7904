// Least-recently-used eviction over the cache directories. One pass lists the files, the
// oldest evictable ones go first; a file that vanished meanwhile (another node) is skipped.
#include "runtime/disk_cache.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

namespace velum {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

DiskCache::DiskCache(DiskCacheOptions options) : options_(std::move(options)) {}

void DiskCache::Touch(const fs::path& path) {
  if (path.empty()) return;
  auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = touched_.find(path.string());
    if (it != touched_.end() && now - it->second < options_.grace / 4) return;
    if (touched_.size() >= kMaxTouchesRemembered) touched_.clear();  // a miss costs a syscall
    touched_[path.string()] = now;
  }
  utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // a file gone meanwhile: nothing to mark
}

void DiskCache::Pin(const fs::path& path) {
  std::lock_guard<std::mutex> lock(mu_);
  pins_[path.string()]++;
}

void DiskCache::Unpin(const fs::path& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(path.string());
  if (it != pins_.end() && --it->second <= 0) pins_.erase(it);
}

namespace {

struct Entry {
  fs::path path;
  uint64_t bytes = 0;
  fs::file_time_type used;
  bool evictable = false;  // a cache entry (.wasm, .so), not a lock or a temporary
};

std::vector<Entry> ListEntries(const std::vector<fs::path>& dirs) {
  std::vector<Entry> out;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code entry_ec;
      if (!it->is_regular_file(entry_ec)) continue;
      Entry e;
      e.path = it->path();
      e.bytes = it->file_size(entry_ec);
      e.used = it->last_write_time(entry_ec);
      if (entry_ec) continue;  // removed meanwhile
      std::string ext = e.path.extension().string();
      e.evictable = ext == ".wasm" || ext == ".so";
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace

uint64_t DiskCache::Usage() const {
  uint64_t total = 0;
  for (const auto& e : ListEntries(options_.dirs)) total += e.bytes;
  return total;
}

std::vector<fs::path> DiskCache::Trim() {
  std::vector<fs::path> removed;
  if (options_.max_bytes == 0) return removed;
  std::vector<Entry> entries = ListEntries(options_.dirs);
  uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  if (total <= options_.max_bytes) return removed;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  auto recent = fs::file_time_type::clock::now() - options_.grace;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries) {
    if (total <= options_.max_bytes) break;
    if (!e.evictable || e.used > recent || pins_.count(e.path.string())) continue;
    std::error_code ec;
    // unlink, not truncate: an executor that mapped a .so or opened a .wasm keeps its copy.
    if (fs::remove(e.path, ec) && !ec) {
      total -= e.bytes;
      touched_.erase(e.path.string());
      removed.push_back(e.path);
    }
  }
  return removed;
}

CachePin::CachePin(DiskCache* cache, fs::path path) : cache_(cache), path_(std::move(path)) {
  if (cache_ && !path_.empty()) {
    cache_->Pin(path_);
    cache_->Touch(path_);
  } else {
    cache_ = nullptr;
  }
}

CachePin::~CachePin() {
  if (cache_) cache_->Unpin(path_);
}

}  // namespace velum
