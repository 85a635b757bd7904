// Parsing and printing of Wasm values for the command line and the executor protocol.
// Integers accept decimal, 0x hex and exact 2e9 forms, signed or unsigned; floats use the C
// library's parser.
#include "runtime/value.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

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

// Digits of one base with underscores allowed only between two digits: "1_000" but not
// "_1", "1_" or "1__0". The digits alone go to *out.
bool StripSeparators(std::string_view text, bool hex, std::string* out) {
  auto digit = [hex](char c) {
    return hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0 : c >= '0' && c <= '9';
  };
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '_') {
      if (i == 0 || i + 1 == text.size() || !digit(text[i - 1]) || !digit(text[i + 1]))
        return false;
      continue;
    }
    if (!digit(text[i])) return false;
    *out += text[i];
  }
  return !out->empty();
}

// The decimal forms with a fraction or an exponent ("2e9", "1.5e6", "2000e-3"), exactly:
// the digits are shifted as text, so no double rounding can creep in.
bool ParseScientific(std::string_view text, uint64_t* out) {
  size_t e = text.find_first_of("eE");
  std::string_view mantissa = text.substr(0, e);
  int64_t exponent = 0;
  if (e != std::string_view::npos) {
    std::string_view exp = text.substr(e + 1);
    bool neg_exp = !exp.empty() && exp[0] == '-';
    if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.remove_prefix(1);
    std::string exp_digits;
    if (!StripSeparators(exp, false, &exp_digits) || exp_digits.size() > 4) return false;
    exponent = std::stoll(exp_digits) * (neg_exp ? -1 : 1);
  }
  size_t dot = mantissa.find('.');
  std::string digits, fraction;
  if (!StripSeparators(mantissa.substr(0, dot), false, &digits)) return false;
  if (dot != std::string_view::npos &&
      (dot + 1 == mantissa.size() || !StripSeparators(mantissa.substr(dot + 1), false, &fraction)))
    return false;
  digits += fraction;
  exponent -= static_cast<int64_t>(fraction.size());
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
  if (exponent < 0) {
    size_t drop = static_cast<size_t>(-exponent);
    if (drop >= digits.size()) {
      if (digits.find_first_not_of('0') != std::string::npos) return false;  // a fraction
      digits = "0";
    } else {
      if (digits.find_first_not_of('0', digits.size() - drop) != std::string::npos) return false;
      digits.resize(digits.size() - drop);
    }
  } else if (digits != "0") {
    if (digits.size() + static_cast<size_t>(exponent) > 20) return false;  // beyond 2^64
    digits.append(static_cast<size_t>(exponent), '0');
  }
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *out);
  return ec == std::errc() && ptr == digits.data() + digits.size();
}

// Parses an integer that must fit in `bits` bits, signed or unsigned.
bool ParseInteger(std::string_view text, int bits, uint64_t* out) {
  bool negative = false;
  uint64_t magnitude = 0;
  if (!ParseIntegerText(text, &magnitude, &negative)) return false;
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

bool ParseIntegerText(std::string_view text, uint64_t* magnitude, bool* negative) {
  *negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    *negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.size() > 64) return false;  // no integer needs more: refuse before any work
  std::string digits;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    if (!StripSeparators(text.substr(2), true, &digits)) return false;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *magnitude, 16);
    return ec == std::errc() && ptr == digits.data() + digits.size();
  }
  if (text.find_first_of(".eE") != std::string_view::npos) return ParseScientific(text, magnitude);
  if (!StripSeparators(text, false, &digits)) return false;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *magnitude);
  return ec == std::errc() && ptr == digits.data() + digits.size();
}

Result<Value> ParseValue(std::string_view text, ValType type) {
  auto bad = [&] {
    std::string shown =
        text.size() > 40 ? std::string(text.substr(0, 40)) + "..." : std::string(text);
    uint64_t magnitude;
    bool negative;
    if ((type == ValType::kI32 || type == ValType::kI64) &&
        ParseIntegerText(text, &magnitude, &negative))
      return MakeError(ErrorKind::kBadArguments,
                       "'" + shown + "' does not fit in " + ValTypeName(type) +
                           (type == ValType::kI32 ? " (-2147483648 to 4294967295)"
                                                  : " (-9223372036854775808 to "
                                                    "18446744073709551615)"));
    return MakeError(ErrorKind::kBadArguments,
                     "'" + shown + "' is not a valid " + ValTypeName(type));
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
