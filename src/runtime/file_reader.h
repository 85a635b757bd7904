// Reading a whole file named by a user or found in the home, with a size cap. Devices, pipes
// and /proc files are read like any file but never past the cap; no read error throws.
#ifndef VELUM_RUNTIME_FILE_READER_H_
#define VELUM_RUNTIME_FILE_READER_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace velum {

// "64 MiB", "1.5 MiB" or "812 bytes": sizes in messages about limits.
std::string FormatBytes(uint64_t bytes);

// The bytes of `path`, or kIo (cannot open or read: a directory, /proc/self/mem) or
// kLimitExceeded (more than max_bytes; at most max_bytes + 1 bytes are read to know it).
// `limit_name` names the cap in that message, e.g. "the module size limit (--max-module-mib)".
Result<std::vector<uint8_t>> ReadFileBounded(const std::filesystem::path& path, uint64_t max_bytes,
                                             const std::string& limit_name);

}  // namespace velum

#endif  // VELUM_RUNTIME_FILE_READER_H_
