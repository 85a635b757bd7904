// A validated WebAssembly module: its bytes, content hash and typed exports and imports.
// Modules are immutable and shared; the hash (BLAKE2b-256 of the bytes) is their identity.
#ifndef VELUM_RUNTIME_MODULE_H_
#define VELUM_RUNTIME_MODULE_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/module_bounds.h"
#include "runtime/value.h"

namespace velum {

enum class ExternKind : uint8_t { kFunc, kTable, kMemory, kGlobal, kTag };
const char* ExternKindName(ExternKind kind);

// The declared type of an extern, enough to check that an import can be satisfied.
struct ExternType {
  FuncSig sig;                         // functions
  ValType value_type = ValType::kI32;  // globals: value type; tables: element type
  bool is_mutable = false;             // globals
  uint64_t initial = 0, max = 0;       // memories (pages) and tables (elements)
  bool has_max = false;
};

struct ExportInfo {
  std::string name;
  ExternKind kind = ExternKind::kFunc;
  FuncSig sig;  // functions only
  ExternType type;
};

struct ImportInfo {
  std::string module;
  std::string field;
  ExternKind kind = ExternKind::kFunc;
  FuncSig sig;  // functions only
  ExternType type;
};

using ModuleHash = std::array<uint8_t, 32>;
std::string HashToHex(const ModuleHash& hash);
ModuleHash HashBytes(const uint8_t* data, size_t size);

class Module {
 public:
  // The largest module accepted by default, from users and peers (--max-module-mib).
  static constexpr uint64_t kDefaultMaxBytes = 64ull << 20;

  // Reads, validates (wabt, WebAssembly 2.0 features) and hashes a module. The bytes are first
  // checked against `bounds` in one linear pass, so wabt never parses a module that could
  // exhaust the stack or memory of this process.
  static Result<std::shared_ptr<const Module>> FromBytes(std::vector<uint8_t> bytes,
                                                         const ModuleBounds& bounds = {});
  // The file is read through ReadFileBounded: never more than max_bytes + 1 bytes, and a file
  // that cannot be read (a directory, /proc/self/mem) is one error, not an exception.
  static Result<std::shared_ptr<const Module>> FromFile(const std::filesystem::path& path,
                                                        uint64_t max_bytes = kDefaultMaxBytes);

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  const ModuleHash& hash() const { return hash_; }
  std::string hash_hex() const { return HashToHex(hash_); }
  const std::vector<ExportInfo>& exports() const { return exports_; }
  const std::vector<ImportInfo>& imports() const { return imports_; }

  // The exported function `name`, or kExportNotFound listing the function exports.
  Result<const ExportInfo*> FindFunction(const std::string& name) const;
  // Imports anything of WASI (wasi_snapshot_preview1): a call must link the WASI host.
  bool ImportsWasi() const;

 private:
  Module() = default;
  std::vector<uint8_t> bytes_;
  ModuleHash hash_{};
  std::vector<ExportInfo> exports_;
  std::vector<ImportInfo> imports_;
};

using ModulePtr = std::shared_ptr<const Module>;

}  // namespace velum

#endif  // VELUM_RUNTIME_MODULE_H_
