// Measuring a module's code for the AOT budget: the section headers and counts and each
// function body's size and local declarations, without decoding instructions. Every read is
// bounds-checked.
#include "runtime/aot_budget.h"

#include <string>

namespace velum {

namespace {

constexpr uint8_t kImportSectionId = 2;
constexpr uint8_t kExportSectionId = 7;
constexpr uint8_t kElemSectionId = 9;
constexpr uint8_t kCodeSectionId = 10;
constexpr uint8_t kDataSectionId = 11;

// A cursor over the module bytes; a read past the end makes it fail for good.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : pos_(data), end_(data + size) {}
  bool ok() const { return ok_; }
  size_t left() const { return static_cast<size_t>(end_ - pos_); }
  const uint8_t* pos() const { return pos_; }

  uint8_t Byte() {
    if (!ok_ || pos_ == end_) return Fail();
    return *pos_++;
  }
  // An unsigned LEB128 of at most 32 bits (the only kind sections and counts use).
  uint64_t U32() {
    uint64_t value = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      uint8_t b = Byte();
      if (!ok_) return 0;
      value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return value <= UINT32_MAX ? value : Fail();
    }
    return Fail();
  }
  void Skip(uint64_t n) {
    if (!ok_ || n > left()) {
      Fail();
      return;
    }
    pos_ += n;
  }

 private:
  uint8_t Fail() {
    ok_ = false;
    pos_ = end_;
    return 0;
  }
  const uint8_t* pos_;
  const uint8_t* end_;
  bool ok_ = true;
};

Error Malformed(const std::string& what) {
  return MakeError(ErrorKind::kInvalidModule, "malformed code section: " + what);
}

}  // namespace

Result<CodeStats> MeasureCode(const std::vector<uint8_t>& bytes) {
  CodeStats stats;
  if (bytes.size() < 8) return Malformed("no module header");
  Reader module(bytes.data() + 8, bytes.size() - 8);
  while (module.ok() && module.left() > 0) {
    uint8_t id = module.Byte();
    uint64_t size = module.U32();
    if (!module.ok() || size > module.left()) return Malformed("a section runs past the end");
    if (id != kCodeSectionId) {
      // Sections that are a vector: their count is the first number.
      uint64_t* count = id == kImportSectionId   ? &stats.imports
                        : id == kExportSectionId ? &stats.exports
                        : id == kElemSectionId   ? &stats.elem_segments
                        : id == kDataSectionId   ? &stats.data_segments
                                                 : nullptr;
      if (count) {
        Reader vec(module.pos(), size);
        *count = vec.U32();
        if (!vec.ok()) return Malformed("a section without its count");
      }
      if (id == kDataSectionId) stats.data_bytes = size;
      module.Skip(size);
      continue;
    }
    Reader code(module.pos(), size);
    module.Skip(size);
    stats.functions = code.U32();
    for (uint64_t f = 0; f < stats.functions && code.ok(); f++) {
      uint64_t body_size = code.U32();
      if (!code.ok() || body_size > code.left()) return Malformed("a body runs past the end");
      Reader body(code.pos(), body_size);
      code.Skip(body_size);
      uint64_t locals = 0;
      for (uint64_t groups = body.U32(), g = 0; g < groups && body.ok(); g++) {
        locals += body.U32();  // at most 2^32 groups of 2^32: no overflow in 64 bits
        body.Byte();           // the value type
      }
      if (!body.ok()) return Malformed("bad local declarations");
      stats.code_bytes += body_size;
      if (body_size > stats.max_function_bytes) stats.max_function_bytes = body_size;
      if (locals > stats.max_locals) {
        stats.max_locals = locals;
        stats.max_locals_function = f;
      }
    }
    if (!code.ok()) return Malformed("truncated");
  }
  if (!module.ok()) return Malformed("truncated sections");
  return stats;
}

Status CheckAotBudget(const std::vector<uint8_t>& bytes, const AotBudget& budget) {
  auto stats = MeasureCode(bytes);
  if (!stats.ok()) return stats.error();
  auto over = [](uint64_t value, const std::string& what, uint64_t limit) {
    return MakeError(ErrorKind::kLimitExceeded, std::to_string(value) + " " + what +
                                                    " (AOT budget " + std::to_string(limit) +
                                                    "): not compiled");
  };
  if (stats->functions > budget.max_functions)
    return over(stats->functions, "functions", budget.max_functions);
  if (stats->max_locals > budget.max_locals_per_function)
    return over(stats->max_locals,
                "locals in function " + std::to_string(stats->max_locals_function),
                budget.max_locals_per_function);
  if (stats->max_function_bytes > budget.max_function_bytes)
    return over(stats->max_function_bytes, "bytes in one function body", budget.max_function_bytes);
  if (stats->code_bytes > budget.max_code_bytes)
    return over(stats->code_bytes, "bytes of code", budget.max_code_bytes);
  if (stats->imports > budget.max_imports)
    return over(stats->imports, "imports", budget.max_imports);
  if (stats->exports > budget.max_exports)
    return over(stats->exports, "exports", budget.max_exports);
  if (stats->data_segments > budget.max_data_segments)
    return over(stats->data_segments, "data segments", budget.max_data_segments);
  if (stats->elem_segments > budget.max_elem_segments)
    return over(stats->elem_segments, "element segments", budget.max_elem_segments);
  if (stats->data_bytes > budget.max_data_bytes)
    return over(stats->data_bytes, "bytes of data", budget.max_data_bytes);
  return {};
}

}  // namespace velum
