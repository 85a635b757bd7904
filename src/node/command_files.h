// The files of remote WASI commands: folders listed and hashed for sending, the worker's
// cache of received files by content, and the pieces both sides read and write.
#ifndef VELUM_NODE_COMMAND_FILES_H_
#define VELUM_NODE_COMMAND_FILES_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/module.h"

namespace velum {

// A regular file found under a folder: its path there ('/'-separated), where it is, its size.
struct TreeFile {
  std::string path;
  std::filesystem::path where;
  uint64_t size = 0;
  ModuleHash hash{};  // set by HashTree
  // Set: the file's bytes are these, held in memory (a map item's line), not `where`.
  std::shared_ptr<const std::string> bytes;
};

// The regular files under `dir`, recursively, sorted by path. Directory symlinks are not
// followed (no loops); a symlink to a file counts as that file; sockets, FIFOs and devices
// are left out. More than `max_files` files or `max_bytes` bytes, or a path longer than
// wire::kMaxCommandPathBytes, is kLimitExceeded naming the folder.
Result<std::vector<TreeFile>> ListTree(const std::filesystem::path& dir, size_t max_files,
                                       uint64_t max_bytes);
// BLAKE2b-256 of a file's contents, read in pieces; its size as read.
Result<ModuleHash> HashFile(const std::filesystem::path& file, uint64_t* size);
Status HashTree(std::vector<TreeFile>* files);

// Up to `max` bytes of `file` from `offset` (fewer at its end).
Result<std::string> ReadPiece(const std::filesystem::path& file, uint64_t offset, size_t max);
// Creates `file`'s parent directories (mode 0755) below `root` and nothing above it.
Status MakeParents(const std::filesystem::path& root, const std::string& relative);

// Received files by content (BLAKE2b-256), under <home>/blobs, bounded: past max_bytes the
// least recently used go. A file enters only whole and checked against its hash. Thread-safe.
class BlobCache {
 public:
  BlobCache(std::filesystem::path dir, uint64_t max_bytes);
  // The cached file with these contents, touched as used; nullopt if absent.
  std::optional<std::filesystem::path> Find(const ModuleHash& hash);
  // A fresh temporary file in the cache's folder to receive a file into.
  Result<std::filesystem::path> TempFile();
  // Checks `temp` against `hash` and moves it in (read-only); removes it on any error.
  Result<std::filesystem::path> Adopt(const std::filesystem::path& temp, const ModuleHash& hash);
  // Places a cached file at `to` (a hard link, else a copy).
  static Status Place(const std::filesystem::path& cached, const std::filesystem::path& to);

 private:
  void Evict();
  const std::filesystem::path dir_;
  const uint64_t max_bytes_;
  std::mutex mu_;
  uint64_t next_temp_ = 0;
};

}  // namespace velum

#endif  // VELUM_NODE_COMMAND_FILES_H_
