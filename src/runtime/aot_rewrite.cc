// The section-level rewrite that keeps module authors' names out of wasm2c's C output.
// wabt 1.0.32 copies import, export and function names into C comments and identifiers.
#include "runtime/aot_rewrite.h"

#include <algorithm>

namespace velum {

namespace {

enum SectionId : uint8_t { kCustomSection = 0, kImportSection = 2, kExportSection = 7 };
constexpr uint8_t kLastKnownSection = 13;  // tag (exceptions); 12 is data count
// The descriptor codes of imports and exports (the binary format shares them).
enum ExternCode : uint8_t { kFuncExtern, kTableExtern, kMemoryExtern, kGlobalExtern, kTagExtern };
constexpr size_t kMaxLebBytes32 = 5, kMaxLebBytes64 = 10;
constexpr uint8_t kLimitsHasMax = 1, kLimitsAllFlags = 7;  // has max, shared, 64-bit

// A bounds-checked cursor over a byte range: every read fails instead of running past `end`.
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end) : p_(begin), end_(end) {}
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }

  bool Byte(uint8_t* out) {
    if (p_ == end_) return false;
    *out = *p_++;
    return true;
  }
  bool U32(uint32_t* out) {
    uint64_t value = 0;
    for (size_t i = 0; i < kMaxLebBytes32; i++) {
      uint8_t b;
      if (!Byte(&b)) return false;
      value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) {
        if (value > UINT32_MAX) return false;
        *out = static_cast<uint32_t>(value);
        return true;
      }
    }
    return false;
  }
  // Any LEB128 of at most `max_bytes` bytes (a limit of a 64-bit memory, say), unchecked value.
  bool SkipLeb(size_t max_bytes) {
    for (size_t i = 0; i < max_bytes; i++) {
      uint8_t b;
      if (!Byte(&b)) return false;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool Skip(size_t n) {
    if (n > left()) return false;
    p_ += n;
    return true;
  }
  bool SkipName() {
    uint32_t size;
    return U32(&size) && Skip(size);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

void PutU32(std::vector<uint8_t>* out, uint32_t value) {
  do {
    uint8_t b = value & 0x7f;
    value >>= 7;
    out->push_back(value ? b | 0x80 : b);
  } while (value);
}

void PutName(std::vector<uint8_t>* out, const std::string& name) {
  PutU32(out, static_cast<uint32_t>(name.size()));
  out->insert(out->end(), name.begin(), name.end());
}

void PutBytes(std::vector<uint8_t>* out, const uint8_t* begin, const uint8_t* end) {
  out->insert(out->end(), begin, end);
}

bool IsValueType(uint8_t type) {
  switch (type) {
    case 0x7f:  // i32
    case 0x7e:  // i64
    case 0x7d:  // f32
    case 0x7c:  // f64
    case 0x7b:  // v128
    case 0x70:  // funcref
    case 0x6f:  // externref
      return true;
  }
  return false;
}

bool SkipLimits(Reader* in) {
  uint8_t flags;
  if (!in->Byte(&flags) || flags > kLimitsAllFlags) return false;
  if (!in->SkipLeb(kMaxLebBytes64)) return false;
  return !(flags & kLimitsHasMax) || in->SkipLeb(kMaxLebBytes64);
}

// Skips one import descriptor (what follows the two names), which is then copied verbatim.
bool SkipImportDesc(Reader* in) {
  uint8_t kind, byte;
  uint32_t index;
  if (!in->Byte(&kind)) return false;
  switch (kind) {
    case kFuncExtern:
      return in->U32(&index);
    case kTableExtern:
      return in->Byte(&byte) && (byte == 0x70 || byte == 0x6f) && SkipLimits(in);
    case kMemoryExtern:
      return SkipLimits(in);
    case kGlobalExtern:
      return in->Byte(&byte) && IsValueType(byte) && in->Byte(&byte) && byte <= 1;
    case kTagExtern:
      return in->Byte(&byte) && byte == 0 && in->U32(&index);
  }
  return false;
}

Error Malformed(const std::string& why) {
  return MakeError(ErrorKind::kCompilerFailed, "cannot rewrite the module for wasm2c: " + why);
}

// The import section's payload with generated names; descriptors copied verbatim.
Result<std::vector<uint8_t>> RewriteImports(Reader in, size_t* count_out) {
  uint32_t count;
  if (!in.U32(&count)) return Malformed("bad import count");
  std::vector<uint8_t> out;
  PutU32(&out, count);
  for (uint32_t i = 0; i < count; i++) {
    if (!in.SkipName() || !in.SkipName()) return Malformed("bad import name");
    const uint8_t* desc = in.position();
    if (!SkipImportDesc(&in)) return Malformed("bad import descriptor");
    PutName(&out, kAotImportModule);
    PutName(&out, AotImportField(i));
    PutBytes(&out, desc, in.position());
  }
  if (in.left() != 0) return Malformed("trailing bytes in the import section");
  *count_out = count;
  return out;
}

// The export section's payload with generated names; kinds and indices copied verbatim.
Result<std::vector<uint8_t>> RewriteExports(Reader in, size_t* count_out) {
  uint32_t count, index;
  if (!in.U32(&count)) return Malformed("bad export count");
  std::vector<uint8_t> out;
  PutU32(&out, count);
  for (uint32_t i = 0; i < count; i++) {
    uint8_t kind;
    if (!in.SkipName()) return Malformed("bad export name");
    const uint8_t* desc = in.position();
    if (!in.Byte(&kind) || kind > kTagExtern || !in.U32(&index))
      return Malformed("bad export descriptor");
    PutName(&out, AotExportName(i));
    PutBytes(&out, desc, in.position());
  }
  if (in.left() != 0) return Malformed("trailing bytes in the export section");
  *count_out = count;
  return out;
}

}  // namespace

std::string AotImportField(size_t index) { return "i" + std::to_string(index); }
std::string AotExportName(size_t index) { return "e" + std::to_string(index); }

Result<RewrittenModule> RewriteForWasm2c(const std::vector<uint8_t>& wasm) {
  static const uint8_t kHeader[8] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  Reader in(wasm.data(), wasm.data() + wasm.size());
  if (wasm.size() < sizeof kHeader || !std::equal(kHeader, kHeader + sizeof kHeader, wasm.data()))
    return Malformed("not a WebAssembly 1.0 binary");
  in.Skip(sizeof kHeader);

  RewrittenModule result;
  result.bytes.reserve(wasm.size());
  PutBytes(&result.bytes, kHeader, kHeader + sizeof kHeader);
  bool seen_imports = false, seen_exports = false;
  while (in.left() > 0) {
    const uint8_t* section = in.position();
    uint8_t id;
    uint32_t size;
    if (!in.Byte(&id) || !in.U32(&size) || size > in.left())
      return Malformed("truncated section header");
    Reader payload(in.position(), in.position() + size);
    in.Skip(size);
    if (id > kLastKnownSection) return Malformed("unknown section id " + std::to_string(id));
    if (id == kCustomSection) continue;  // names, producers, debug info: never needed to run
    if (id != kImportSection && id != kExportSection) {
      PutBytes(&result.bytes, section, in.position());
      continue;
    }
    bool& seen = id == kImportSection ? seen_imports : seen_exports;
    if (seen) return Malformed("a second section of id " + std::to_string(id));
    seen = true;
    auto rewritten = id == kImportSection ? RewriteImports(payload, &result.num_imports)
                                          : RewriteExports(payload, &result.num_exports);
    if (!rewritten.ok()) return rewritten.error();
    if (rewritten->size() > UINT32_MAX) return Malformed("section too large");
    result.bytes.push_back(id);
    PutU32(&result.bytes, static_cast<uint32_t>(rewritten->size()));
    PutBytes(&result.bytes, rewritten->data(), rewritten->data() + rewritten->size());
  }
  return result;
}

}  // namespace velum
