// Parsing and printing of Wasm values for the command line and the executor protocol.
// Integers accept decimal and 0x hex, signed or unsigned; floats use the C library's parser.
#include "runtime/value.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace velum {

const char* ValTypeName(ValType type) {
  switch (type) {
    case ValType::kI32:
      return "i32";
    case ValType::kI64:
      return "i64";
    case ValType::kF32:
      return "f32";
    case ValType::kF64:
      return "f64";
    case ValType::kV128:
      return "v128";
    case ValType::kFuncRef:
      return "funcref";
    case ValType::kExternRef:
      return "externref";
  }
  return "?";
}

std::string FuncSig::ToString() const {
  auto list = [](const std::vector<ValType>& types) {
    std::string out;
    for (size_t i = 0; i < types.size(); i++) {
      if (i) out += ", ";
      out += ValTypeName(types[i]);
    }
    return out;
  };
  std::string out = "(" + list(params) + ") -> ";
  if (results.size() == 1) return out + ValTypeName(results[0]);
  return out + "(" + list(results) + ")";
}

namespace {

// Parses an integer that must fit in `bits` bits, signed or unsigned.
bool ParseInteger(std::string_view text, int bits, uint64_t* out) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return false;
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), magnitude, base);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  uint64_t max_unsigned = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
  uint64_t max_negative = uint64_t{1} << (bits - 1);
  if (negative) {
    if (magnitude > max_negative) return false;
    *out = (0 - magnitude) & max_unsigned;
  } else {
    if (magnitude > max_unsigned) return false;
    *out = magnitude;
  }
  return true;
}

bool ParseDouble(std::string_view text, double* out) {
  std::string s(text);
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

}  // namespace

Result<Value> ParseValue(std::string_view text, ValType type) {
  auto bad = [&] {
    return MakeError(ErrorKind::kBadArguments,
                     "'" + std::string(text) + "' is not a valid " + ValTypeName(type));
  };
  uint64_t bits = 0;
  double d = 0;
  switch (type) {
    case ValType::kI32:
      if (!ParseInteger(text, 32, &bits)) return bad();
      return Value{ValType::kI32, bits, 0};
    case ValType::kI64:
      if (!ParseInteger(text, 64, &bits)) return bad();
      return Value{ValType::kI64, bits, 0};
    case ValType::kF32:
      if (!ParseDouble(text, &d)) return bad();
      return Value::F32(static_cast<float>(d));
    case ValType::kF64:
      if (!ParseDouble(text, &d)) return bad();
      return Value::F64(d);
    default:
      return MakeError(ErrorKind::kBadArguments,
                       std::string(ValTypeName(type)) + " arguments cannot be given as text");
  }
}

Result<std::vector<Value>> ParseArgs(const std::vector<std::string>& args, const FuncSig& sig) {
  if (args.size() != sig.params.size()) {
    return MakeError(ErrorKind::kBadArguments,
                     "expected " + std::to_string(sig.params.size()) + " argument" +
                         (sig.params.size() == 1 ? "" : "s") + " " + sig.ToString() + ", got " +
                         std::to_string(args.size()));
  }
  std::vector<Value> values;
  for (size_t i = 0; i < args.size(); i++) {
    auto v = ParseValue(args[i], sig.params[i]);
    if (!v.ok()) {
      Error e = v.error();
      e.message = "argument " + std::to_string(i + 1) + ": " + e.message;
      return e;
    }
    values.push_back(*v);
  }
  return values;
}

namespace {
template <typename F>
std::string FormatFloat(F v) {
  if (std::isnan(v)) return std::signbit(v) ? "-nan" : "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ptr);
}
}  // namespace

std::string FormatValue(const Value& value) {
  switch (value.type) {
    case ValType::kI32:
      return std::to_string(value.i32());
    case ValType::kI64:
      return std::to_string(value.i64());
    case ValType::kF32:
      return FormatFloat(value.f32());
    case ValType::kF64:
      return FormatFloat(value.f64());
    case ValType::kV128: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "v128:0x%016llx%016llx", (unsigned long long)value.hi,
                    (unsigned long long)value.lo);
      return buf;
    }
    case ValType::kFuncRef:
    case ValType::kExternRef:
      return value.hi ? std::string(ValTypeName(value.type)) + ":" + std::to_string(value.lo)
                      : "null";
  }
  return "?";
}

}  // namespace velum
