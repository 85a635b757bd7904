// Access to a WASI program's memory for the host (wasi.cc, wasi_files.cc): every pointer and
// length from the guest is checked here before it is used; an out-of-bounds one is EFAULT.
#ifndef VELUM_RUNTIME_WASI_GUEST_H_
#define VELUM_RUNTIME_WASI_GUEST_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "runtime/wasi.h"

namespace velum::wasi_guest {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "WASI memory is little-endian");

constexpr uint32_t kMaxIovecs = 1024;  // IOV_MAX: more in one call is EINVAL

inline bool InBounds(const WasiMemory& m, uint64_t ptr, uint64_t len) {
  return ptr <= m.size && len <= m.size - ptr;
}

template <typename V>
bool Store(const WasiMemory& m, uint64_t ptr, V value) {
  if (!InBounds(m, ptr, sizeof(V))) return false;
  std::memcpy(m.data + ptr, &value, sizeof(V));
  return true;
}

template <typename V>
bool Load(const WasiMemory& m, uint64_t ptr, V* value) {
  if (!InBounds(m, ptr, sizeof(V))) return false;
  std::memcpy(value, m.data + ptr, sizeof(V));
  return true;
}

inline uint32_t Arg32(const uint64_t* args, size_t i) { return static_cast<uint32_t>(args[i]); }

struct Iovec {
  uint32_t ptr = 0, len = 0;
};

// The guest's iovec array, every entry checked against the memory before any I/O is done
// (a bad entry later in the array must not leave earlier ones half done).
inline std::optional<std::vector<Iovec>> LoadIovecs(const WasiMemory& m, uint32_t iovs,
                                                    uint32_t count) {
  std::vector<Iovec> out(count);
  for (uint32_t i = 0; i < count; i++) {
    if (!Load(m, iovs + 8ull * i, &out[i].ptr) || !Load(m, iovs + 8ull * i + 4, &out[i].len) ||
        !InBounds(m, out[i].ptr, out[i].len))
      return std::nullopt;
  }
  return out;
}

// A path argument: its bytes, or nullopt when they are out of bounds.
inline std::optional<std::string> LoadString(const WasiMemory& m, uint32_t ptr, uint32_t len) {
  if (!InBounds(m, ptr, len)) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(m.data + ptr), len);
}

}  // namespace velum::wasi_guest

#endif  // VELUM_RUNTIME_WASI_GUEST_H_
