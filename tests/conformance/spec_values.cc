// Spec script values: JSON to Value, expected-result matching and readable renderings.
// wast2json writes every number as the unsigned decimal of its bits, floats included.
#include "conformance/spec_values.h"

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace velum::conformance {

namespace {

using nlohmann::json;

constexpr const char* kCanonicalNan = "nan:canonical";
constexpr const char* kArithmeticNan = "nan:arithmetic";

uint64_t ParseBits(const std::string& text) {
  uint64_t bits = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bits);
  if (ec != std::errc() || end != text.data() + text.size())
    throw ScriptFormatError("bad number '" + text + "'");
  return bits;
}

ValType ParseType(const std::string& name) {
  static const std::map<std::string, ValType> kTypes = {{"i32", ValType::kI32},
                                                        {"i64", ValType::kI64},
                                                        {"f32", ValType::kF32},
                                                        {"f64", ValType::kF64},
                                                        {"v128", ValType::kV128},
                                                        {"funcref", ValType::kFuncRef},
                                                        {"externref", ValType::kExternRef}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) throw ScriptFormatError("unknown value type '" + name + "'");
  return it->second;
}

bool IsReference(ValType type) { return type == ValType::kFuncRef || type == ValType::kExternRef; }

bool IsFloatLane(const std::string& lane_type) { return lane_type == "f32" || lane_type == "f64"; }

int LaneBits(const std::string& lane_type) {
  static const std::map<std::string, int> kBits = {{"i8", 8},   {"i16", 16}, {"i32", 32},
                                                   {"i64", 64}, {"f32", 32}, {"f64", 64}};
  auto it = kBits.find(lane_type);
  if (it == kBits.end()) throw ScriptFormatError("unknown lane type '" + lane_type + "'");
  return it->second;
}

uint64_t Mask(int bits) { return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

int ScalarBits(ValType type) { return type == ValType::kI32 || type == ValType::kF32 ? 32 : 64; }

// Lane `index` of a v128 whose lanes are `bits` wide; lane 0 is the lowest.
uint64_t GetLane(const Value& v, int bits, int index) {
  int offset = bits * index;
  uint64_t word = offset < 64 ? v.lo : v.hi;
  return (word >> (offset % 64)) & Mask(bits);
}

void SetLane(Value* v, int bits, int index, uint64_t lane) {
  int offset = bits * index;
  uint64_t& word = offset < 64 ? v->lo : v->hi;
  word &= ~(Mask(bits) << (offset % 64));
  word |= (lane & Mask(bits)) << (offset % 64);
}

std::string LaneTypeOf(const json& expected) {
  return expected.contains("lane_type") ? expected.at("lane_type").get<std::string>() : "i32";
}

std::vector<std::string> LaneTexts(const json& expected, int bits) {
  auto lanes = expected.at("value").get<std::vector<std::string>>();
  if (lanes.size() != static_cast<size_t>(128 / bits))
    throw ScriptFormatError("v128 with " + std::to_string(lanes.size()) + " lanes");
  return lanes;
}

// Whether the float bits of a `bits`-wide lane or scalar satisfy the expected text: a NaN
// pattern or an exact bit pattern. Canonical NaN: only the quiet bit set in the payload, any
// sign; arithmetic NaN: the quiet bit set, any other payload and sign.
bool FloatMatches(uint64_t actual, int bits, const std::string& expected) {
  uint64_t quiet_nan = bits == 32 ? 0x7fc00000 : 0x7ff8000000000000;
  uint64_t sign = uint64_t{1} << (bits - 1);
  actual &= Mask(bits);
  if (expected == kCanonicalNan) return (actual & ~sign) == quiet_nan;
  if (expected == kArithmeticNan) return (actual & quiet_nan) == quiet_nan;
  return actual == ParseBits(expected);
}

bool LaneMatches(uint64_t actual, const std::string& lane_type, const std::string& expected) {
  int bits = LaneBits(lane_type);
  if (IsFloatLane(lane_type)) return FloatMatches(actual, bits, expected);
  return (actual & Mask(bits)) == (ParseBits(expected) & Mask(bits));
}

std::string Hex(uint64_t bits, int width) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%0*" PRIx64, width / 4, bits);
  return buf;
}

// One lane as text: signed decimal for integers, the float and its bits for NaNs.
std::string FormatLane(uint64_t bits, const std::string& lane_type) {
  int width = LaneBits(lane_type);
  if (IsFloatLane(lane_type)) {
    Value v{width == 32 ? ValType::kF32 : ValType::kF64, bits, 0};
    std::string text = FormatValue(v);
    return text.find("nan") == std::string::npos ? text : text + ":" + Hex(bits, width);
  }
  uint64_t sign = uint64_t{1} << (width - 1);
  int64_t value = static_cast<int64_t>((bits ^ sign) & Mask(width)) - static_cast<int64_t>(sign);
  return std::to_string(value);
}

std::string LaneShape(const std::string& lane_type) {
  return lane_type + "x" + std::to_string(128 / LaneBits(lane_type));
}

// The expected value as text, in the same form DescribeValue gives the actual one.
std::string DescribeExpected(const json& expected) {
  ValType type = ParseType(expected.at("type"));
  std::string name = ValTypeName(type);
  if (IsReference(type)) {
    if (!expected.contains("value")) return name + ":non-null";
    return name + ":" + expected.at("value").get<std::string>();
  }
  if (type == ValType::kV128) {
    std::string lane_type = LaneTypeOf(expected);
    std::string out = "v128:" + LaneShape(lane_type) + "[";
    auto lanes = LaneTexts(expected, LaneBits(lane_type));
    for (size_t i = 0; i < lanes.size(); i++) {
      if (i) out += " ";
      bool pattern = lanes[i].rfind("nan:", 0) == 0;
      out += pattern ? lanes[i] : FormatLane(ParseBits(lanes[i]), lane_type);
    }
    return out + "]";
  }
  std::string text = expected.at("value");
  if (text.rfind("nan:", 0) == 0) return name + ":" + text;
  return DescribeValue(ParseArgument(expected));
}

bool ScalarMatches(const json& expected, const Value& actual) {
  int bits = ScalarBits(actual.type);
  std::string text = expected.at("value");
  if (actual.type == ValType::kF32 || actual.type == ValType::kF64)
    return FloatMatches(actual.lo, bits, text);
  return (actual.lo & Mask(bits)) == ParseBits(text);
}

bool VectorMatches(const json& expected, const Value& actual) {
  std::string lane_type = LaneTypeOf(expected);
  int bits = LaneBits(lane_type);
  auto lanes = LaneTexts(expected, bits);
  for (size_t i = 0; i < lanes.size(); i++) {
    if (!LaneMatches(GetLane(actual, bits, static_cast<int>(i)), lane_type, lanes[i])) return false;
  }
  return true;
}

bool ReferenceMatches(const json& expected, const Value& actual) {
  if (!expected.contains("value")) return actual.hi != 0;
  std::string text = expected.at("value");
  if (text == "null") return actual.hi == 0;
  if (actual.type == ValType::kFuncRef) return actual.hi != 0;
  return actual.hi != 0 && actual.lo == ParseBits(text);
}

}  // namespace

Value ParseArgument(const json& arg) {
  Value v{ParseType(arg.at("type")), 0, 0};
  if (v.type == ValType::kV128) {
    std::string lane_type = LaneTypeOf(arg);
    int bits = LaneBits(lane_type);
    auto lanes = LaneTexts(arg, bits);
    for (size_t i = 0; i < lanes.size(); i++)
      SetLane(&v, bits, static_cast<int>(i), ParseBits(lanes[i]));
    return v;
  }
  std::string text = arg.at("value");
  if (IsReference(v.type)) {
    if (text != "null") v = Value{v.type, ParseBits(text), 1};
    return v;
  }
  v.lo = ParseBits(text) & Mask(ScalarBits(v.type));
  return v;
}

std::optional<std::string> MatchResult(const json& expected, const Value& actual) {
  ValType type = ParseType(expected.at("type"));
  std::string lane_type = type == ValType::kV128 ? LaneTypeOf(expected) : "i32";
  bool same_type = actual.type == type;
  bool matches = false;
  if (same_type && IsReference(type)) {
    matches = ReferenceMatches(expected, actual);
  } else if (same_type && type == ValType::kV128) {
    matches = VectorMatches(expected, actual);
  } else if (same_type) {
    matches = ScalarMatches(expected, actual);
  }
  if (matches) return std::nullopt;
  return "got " + DescribeValue(actual, lane_type) + ", expected " + DescribeExpected(expected);
}

std::string DescribeValue(const Value& value, const std::string& lane_type) {
  std::string name = ValTypeName(value.type);
  switch (value.type) {
    case ValType::kI32:
    case ValType::kI64:
      return name + ":" + FormatValue(value);
    case ValType::kF32:
    case ValType::kF64: {
      int bits = ScalarBits(value.type);
      return name + ":" + FormatValue(value) + " (" + Hex(value.lo & Mask(bits), bits) + ")";
    }
    case ValType::kV128: {
      int bits = LaneBits(lane_type);
      std::string out = "v128:" + LaneShape(lane_type) + "[";
      for (int i = 0; i < 128 / bits; i++) {
        if (i) out += " ";
        out += FormatLane(GetLane(value, bits, i), lane_type);
      }
      return out + "]";
    }
    case ValType::kFuncRef:
    case ValType::kExternRef:
      return name + ":" + (value.hi ? std::to_string(value.lo) : std::string("null"));
  }
  return name;
}

std::string DescribeValues(const std::vector<Value>& values) {
  std::string out = "(";
  for (size_t i = 0; i < values.size(); i++) {
    if (i) out += ", ";
    out += DescribeValue(values[i]);
  }
  return out + ")";
}

}  // namespace velum::conformance
