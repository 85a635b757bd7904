// The node's content-addressed module store: <home>/modules/<hash>.wasm, verified against its
// hash on every read, with a bounded in-memory cache and a size limit on what it accepts.
#ifndef VELUM_RUNTIME_MODULE_STORE_H_
#define VELUM_RUNTIME_MODULE_STORE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace velum {

class ModuleStore {
 public:
  static constexpr uint64_t kDefaultMaxBytes = Module::kDefaultMaxBytes;

  // dir: created on first write. max_bytes: the largest module accepted (0: no limit).
  explicit ModuleStore(std::filesystem::path dir, uint64_t max_bytes = kDefaultMaxBytes);

  // The module with this hash from the cache or the disk (re-validated, hash checked), or
  // null if this node does not have it. Thread-safe.
  ModulePtr Find(const ModuleHash& hash);
  bool InCache(const ModuleHash& hash);
  // Validates and stores module bytes (from a peer); the hash comes from the bytes.
  Result<ModulePtr> Add(std::vector<uint8_t> bytes);
  // Reads a module the user named, never past the limit (ReadFileBounded).
  Result<ModulePtr> Load(const std::filesystem::path& file);
  // Makes `module` durable in the store (a no-op if present).
  Result<std::filesystem::path> Keep(const ModulePtr& module);

  uint64_t max_bytes() const { return max_bytes_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path PathOf(const ModuleHash& hash) const;
  // "64 MiB": limits in messages.
  static std::string Size(uint64_t bytes);

  // Writes `module` to dir/<hash>.wasm atomically (a private temporary, then a rename), so
  // concurrent writers each write a whole copy and readers only ever see complete files.
  static Result<std::filesystem::path> WriteFile(const std::filesystem::path& dir,
                                                 const ModulePtr& module);
  // Removes the temporaries of writes that never finished (the writer was killed): files
  // named <hash>.wasm.XXXXXX last written more than `age` ago.
  static void RemoveLeftovers(const std::filesystem::path& dir, std::chrono::seconds age);

 private:
  void Remember(const ModulePtr& module);

  const std::filesystem::path dir_;
  const uint64_t max_bytes_;
  std::mutex mu_;
  std::map<ModuleHash, ModulePtr> cache_;
  std::list<ModuleHash> order_;  // least recently added first
  uint64_t cached_bytes_ = 0;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_MODULE_STORE_H_
