// What a node needs of a module store: modules by their hash, checked on every read, kept
// durably. The disk store (disk_module_store.h) is the real one; the simulator has its own.
#ifndef VELUM_RUNTIME_MODULE_STORE_H_
#define VELUM_RUNTIME_MODULE_STORE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace velum {

class ModuleStore {
 public:
  static constexpr uint64_t kDefaultMaxBytes = Module::kDefaultMaxBytes;

  // max_bytes: the largest module accepted (0: no limit).
  explicit ModuleStore(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  virtual ~ModuleStore() = default;
  ModuleStore(const ModuleStore&) = delete;
  ModuleStore& operator=(const ModuleStore&) = delete;

  // The module with this hash, or null if this node does not have it (a stored copy whose
  // bytes hash differently, damaged or planted, counts as missing). May read a disk: not on
  // the event loop. Thread-safe.
  virtual ModulePtr Find(const ModuleHash& hash) = 0;
  // The module from memory, never touching a disk (safe on the loop); null if not there.
  virtual ModulePtr Cached(const ModuleHash& hash) = 0;
  // Makes `module` durable in the store. A copy this process has not checked yet is read back
  // and replaced if damaged; one it read or kept is taken as good while its file is there.
  // An error (kIo) when it cannot be written.
  virtual Status Keep(const ModulePtr& module) = 0;

  // Validates and keeps module bytes (from a peer); the hash comes from the bytes.
  Result<ModulePtr> Add(std::vector<uint8_t> bytes);
  // Reads and keeps a module the user named, never reading past the limit.
  Result<ModulePtr> Load(const std::filesystem::path& file);

  uint64_t max_bytes() const { return max_bytes_; }
  // "64 MiB": limits in messages.
  static std::string Size(uint64_t bytes);
  // "module 0123456789ab is not in this node's store (...)": what a node says when it lacks a
  // module it should have, whichever path found it missing.
  static std::string Missing(const ModuleHash& hash);

 private:
  const uint64_t max_bytes_;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_MODULE_STORE_H_
