// The node's module store on disk: <home>/modules/<hash>.wasm, verified against its hash on
// every read, written atomically, with a bounded in-memory cache of what was read or kept.
#ifndef VELUM_RUNTIME_DISK_MODULE_STORE_H_
#define VELUM_RUNTIME_DISK_MODULE_STORE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>

#include "runtime/module_store.h"

namespace velum {

class DiskModuleStore : public ModuleStore {
 public:
  // dir: created on first write.
  explicit DiskModuleStore(std::filesystem::path dir, uint64_t max_bytes = kDefaultMaxBytes);

  ModulePtr Find(const ModuleHash& hash) override;
  ModulePtr Cached(const ModuleHash& hash) override;
  // A module this process read or kept is only looked for (written again if removed); else
  // an existing file is read back and replaced if its bytes are not the module's.
  Status Keep(const ModulePtr& module) override;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path PathOf(const ModuleHash& hash) const;

  // Writes `module` to dir/<hash>.wasm atomically (a private temporary, then a rename), so
  // concurrent writers each write a whole copy and readers only ever see complete files. A
  // file already there is kept if its bytes are the module's, else replaced.
  static Result<std::filesystem::path> WriteFile(const std::filesystem::path& dir,
                                                 const ModulePtr& module);
  // Removes the temporaries of writes that never finished (the writer was killed): files
  // named <hash>.wasm.XXXXXX last written more than `age` ago.
  static void RemoveLeftovers(const std::filesystem::path& dir, std::chrono::seconds age);

 private:
  void Remember(const ModulePtr& module);

  const std::filesystem::path dir_;
  std::mutex mu_;
  std::map<ModuleHash, ModulePtr> cache_;
  std::list<ModuleHash> order_;  // least recently added first
  uint64_t cached_bytes_ = 0;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_DISK_MODULE_STORE_H_
