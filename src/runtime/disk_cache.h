// The bound on the home's caches: modules/*.wasm and aot/*.so, evicted least recently used
// first once their total passes a cap, never while in use here or recently used anywhere.
#ifndef VELUM_RUNTIME_DISK_CACHE_H_
#define VELUM_RUNTIME_DISK_CACHE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace velum {

struct DiskCacheOptions {
  std::vector<std::filesystem::path> dirs;  // e.g. <home>/modules and <home>/aot
  uint64_t max_bytes = 1024ull << 20;       // for all dirs together; 0: no bound
  // An entry used (touched) this recently is never evicted: other processes sharing the home
  // (a second node, velum run) mark what they use by its mtime, not by a pin of this one.
  std::chrono::seconds grace{600};
};

class DiskCache {
 public:
  explicit DiskCache(DiskCacheOptions options);

  // Marks `path` as used now. Its mtime is the LRU clock, so every process sharing the home
  // sees it; set at most once per grace/4 per path (one syscall, remembered in a bounded map).
  void Touch(const std::filesystem::path& path);
  // A pinned entry is never evicted (a call or an executor uses it); counted, so pins nest.
  void Pin(const std::filesystem::path& path);
  void Unpin(const std::filesystem::path& path);

  // Removes the least recently used .wasm and .so entries until the dirs' regular files total
  // at most max_bytes, skipping pinned and recently used ones. Returns what it removed.
  std::vector<std::filesystem::path> Trim();
  // Bytes of the regular files in the dirs now.
  uint64_t Usage() const;
  const DiskCacheOptions& options() const { return options_; }

 private:
  static constexpr size_t kMaxTouchesRemembered = 4096;
  const DiskCacheOptions options_;
  std::mutex mu_;
  std::map<std::string, int> pins_;
  std::map<std::string, std::chrono::steady_clock::time_point> touched_;
};

// Pins `path` in `cache` for the guard's lifetime (nothing if the cache or path is empty).
class CachePin {
 public:
  CachePin() = default;
  CachePin(DiskCache* cache, std::filesystem::path path);
  ~CachePin();
  CachePin(const CachePin&) = delete;
  CachePin& operator=(const CachePin&) = delete;

 private:
  DiskCache* cache_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_DISK_CACHE_H_
