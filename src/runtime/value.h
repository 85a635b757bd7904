// Wasm values and function signatures, plus their text forms for the command line.
// Values are raw bits tagged with their type so they cross process boundaries unchanged.
#ifndef VELUM_RUNTIME_VALUE_H_
#define VELUM_RUNTIME_VALUE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.h"

namespace velum {

enum class ValType : uint8_t { kI32, kI64, kF32, kF64, kV128, kFuncRef, kExternRef };

const char* ValTypeName(ValType type);  // "i32", ...

struct Value {
  ValType type = ValType::kI32;
  uint64_t lo = 0;  // scalar bits (zero-extended), low half of v128, or reference payload
  uint64_t hi = 0;  // high half of v128; for references 1 = non-null

  static Value I32(int32_t v) { return {ValType::kI32, static_cast<uint32_t>(v), 0}; }
  static Value I64(int64_t v) { return {ValType::kI64, static_cast<uint64_t>(v), 0}; }
  static Value F32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return {ValType::kF32, bits, 0};
  }
  static Value F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return {ValType::kF64, bits, 0};
  }
  int32_t i32() const { return static_cast<int32_t>(static_cast<uint32_t>(lo)); }
  int64_t i64() const { return static_cast<int64_t>(lo); }
  float f32() const {
    uint32_t bits = static_cast<uint32_t>(lo);
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  double f64() const {
    double v;
    std::memcpy(&v, &lo, 8);
    return v;
  }
  bool operator==(const Value& o) const { return type == o.type && lo == o.lo && hi == o.hi; }
};

struct FuncSig {
  std::vector<ValType> params;
  std::vector<ValType> results;
  std::string ToString() const;  // "(i32, i32) -> i32"
  bool operator==(const FuncSig& o) const { return params == o.params && results == o.results; }
};

// An integer as users type it, in every program and command: 500000, -5, +7, 0x10, 2e9,
// 1.5e6, 1_000_000 (underscores between digits). Exact: 3.5 and 1e-3 are refused, never
// rounded. False if malformed or if the magnitude exceeds 2^64 - 1.
bool ParseIntegerText(std::string_view text, uint64_t* magnitude, bool* negative);

// Parses a command-line argument as a value of `type`: "-5", "0x10", "2e9", "3.5", "inf",
// "nan". An integer that does not fit `type` is refused with its range in the message.
Result<Value> ParseValue(std::string_view text, ValType type);

// Parses a list of arguments against a signature, with clear arity and type errors.
Result<std::vector<Value>> ParseArgs(const std::vector<std::string>& args, const FuncSig& sig);

// Shortest text that reads back to the same value: "60", "-1", "3.5", "nan".
std::string FormatValue(const Value& value);

}  // namespace velum

#endif  // VELUM_RUNTIME_VALUE_H_
