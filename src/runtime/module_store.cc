// What every module store shares: the size limit and validation of what it accepts, in front
// of the store's own Keep.
#include "runtime/module_store.h"

#include "runtime/file_reader.h"

namespace velum {

std::string ModuleStore::Size(uint64_t bytes) { return FormatBytes(bytes); }

std::string ModuleStore::Missing(const ModuleHash& hash) {
  return "module " + HashToHex(hash).substr(0, 12) +
         " is not in this node's store (removed, or damaged on disk)";
}

Result<ModulePtr> ModuleStore::Add(std::vector<uint8_t> bytes) {
  if (max_bytes_ && bytes.size() > max_bytes_)
    return MakeError(
        ErrorKind::kLimitExceeded,
        "module of " + Size(bytes.size()) + " exceeds this node's limit of " + Size(max_bytes_));
  auto module = Module::FromBytes(std::move(bytes));
  if (!module.ok()) return module.error();
  if (Status kept = Keep(*module); !kept.ok()) return kept.error();
  return *module;
}

Result<ModulePtr> ModuleStore::Load(const std::filesystem::path& file) {
  auto module = Module::FromFile(file, max_bytes_ ? max_bytes_ : UINT64_MAX);
  if (!module.ok()) {
    Error e = module.error();
    if (e.kind == ErrorKind::kLimitExceeded) e.message += " (--max-module-mib)";
    return e;
  }
  if (Status kept = Keep(*module); !kept.ok()) return kept.error();
  return *module;
}

}  // namespace velum
