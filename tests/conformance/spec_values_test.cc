// Unit tests of spec value handling: argument parsing, v128 lane layout and the matching
// rules (exact bits, canonical and arithmetic NaNs, per-lane patterns, references).
#include "conformance/spec_values.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace velum::conformance {
namespace {

using nlohmann::json;

json Scalar(const char* type, const char* value) { return {{"type", type}, {"value", value}}; }

json Vector(const char* lane_type, std::vector<std::string> lanes) {
  return {{"type", "v128"}, {"lane_type", lane_type}, {"value", lanes}};
}

bool Matches(const json& expected, const Value& actual) {
  return !MatchResult(expected, actual).has_value();
}

TEST(SpecValues, ParsesScalarsAsUnsignedBits) {
  EXPECT_EQ(ParseArgument(Scalar("i32", "4294967295")), Value::I32(-1));
  EXPECT_EQ(ParseArgument(Scalar("i64", "18446744073709551615")), Value::I64(-1));
  EXPECT_EQ(ParseArgument(Scalar("f32", "1069547520")), Value::F32(1.5f));
  EXPECT_EQ(ParseArgument(Scalar("f64", "4609434218613702656")), Value::F64(1.5));
  EXPECT_THROW(ParseArgument(Scalar("i32", "12x")), ScriptFormatError);
  EXPECT_THROW(ParseArgument(Scalar("i31", "1")), ScriptFormatError);
}

TEST(SpecValues, PutsLaneZeroInTheLowBits) {
  Value v = ParseArgument(Vector("i8", {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
                                        "12", "13", "14", "15", "255"}));
  EXPECT_EQ(v.type, ValType::kV128);
  EXPECT_EQ(v.lo, 0x0807060504030201u);
  EXPECT_EQ(v.hi, 0xff0f0e0d0c0b0a09u);
  Value w = ParseArgument(Vector("i64", {"1", "18446744073709551615"}));
  EXPECT_EQ(w.lo, 1u);
  EXPECT_EQ(w.hi, ~uint64_t{0});
  EXPECT_THROW(ParseArgument(Vector("i32", {"1", "2"})), ScriptFormatError);
}

TEST(SpecValues, ParsesReferences) {
  Value null_ref = ParseArgument(Scalar("externref", "null"));
  EXPECT_EQ(null_ref.hi, 0u);
  Value ext = ParseArgument(Scalar("externref", "42"));
  EXPECT_EQ(ext.type, ValType::kExternRef);
  EXPECT_EQ(ext.lo, 42u);
  EXPECT_EQ(ext.hi, 1u);
}

TEST(SpecValues, IntegersAndFloatsCompareBitForBit) {
  EXPECT_TRUE(Matches(Scalar("i32", "4294967295"), Value::I32(-1)));
  EXPECT_FALSE(Matches(Scalar("i32", "1"), Value::I32(2)));
  EXPECT_FALSE(Matches(Scalar("f32", "0"), Value::F32(-0.0f)));  // +0 is not -0
  EXPECT_TRUE(Matches(Scalar("f32", "2143289345"), Value{ValType::kF32, 0x7fc00001, 0}));
  EXPECT_FALSE(Matches(Scalar("f32", "2143289344"), Value{ValType::kF32, 0x7fc00001, 0}));
}

TEST(SpecValues, NanPatterns) {
  json canonical32 = Scalar("f32", "nan:canonical");
  json arithmetic32 = Scalar("f32", "nan:arithmetic");
  EXPECT_TRUE(Matches(canonical32, Value{ValType::kF32, 0x7fc00000, 0}));
  EXPECT_TRUE(Matches(canonical32, Value{ValType::kF32, 0xffc00000, 0}));  // any sign
  EXPECT_FALSE(Matches(canonical32, Value{ValType::kF32, 0x7fc00001, 0}));
  EXPECT_TRUE(Matches(arithmetic32, Value{ValType::kF32, 0x7fc00001, 0}));
  EXPECT_TRUE(Matches(arithmetic32, Value{ValType::kF32, 0xffe00000, 0}));
  EXPECT_FALSE(Matches(arithmetic32, Value{ValType::kF32, 0x7f800001, 0}));  // signalling
  EXPECT_FALSE(Matches(arithmetic32, Value::F32(1.0f)));
  json canonical64 = Scalar("f64", "nan:canonical");
  EXPECT_TRUE(Matches(canonical64, Value{ValType::kF64, 0xfff8000000000000, 0}));
  EXPECT_FALSE(Matches(canonical64, Value{ValType::kF64, 0x7ff8000000000001, 0}));
  EXPECT_TRUE(
      Matches(Scalar("f64", "nan:arithmetic"), Value{ValType::kF64, 0x7ffc000000000000, 0}));
}

TEST(SpecValues, VectorLanesEachFollowTheirPattern) {
  json expected = Vector("f32", {"nan:canonical", "1065353216", "nan:arithmetic", "0"});
  Value actual{ValType::kV128, 0x3f8000007fc00000, 0x000000007fc00001};
  EXPECT_TRUE(Matches(expected, actual));
  actual.hi = 0x800000007fc00001;  // lane 3 is -0, not +0
  auto mismatch = MatchResult(expected, actual);
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_NE(mismatch->find("f32x4"), std::string::npos) << *mismatch;
  EXPECT_TRUE(Matches(Vector("i16", {"65535", "1", "0", "0", "0", "0", "0", "2"}),
                      Value{ValType::kV128, 0x000000000001ffff, 0x0002000000000000}));
}

TEST(SpecValues, References) {
  Value null_func{ValType::kFuncRef, 0, 0};
  Value some_func{ValType::kFuncRef, 17, 1};
  EXPECT_TRUE(Matches(Scalar("funcref", "null"), null_func));
  EXPECT_FALSE(Matches(Scalar("funcref", "null"), some_func));
  EXPECT_TRUE(Matches(json{{"type", "funcref"}}, some_func));  // (ref.func): any non-null
  EXPECT_FALSE(Matches(json{{"type", "funcref"}}, null_func));
  EXPECT_TRUE(Matches(Scalar("externref", "42"), Value{ValType::kExternRef, 42, 1}));
  EXPECT_FALSE(Matches(Scalar("externref", "42"), Value{ValType::kExternRef, 43, 1}));
  EXPECT_FALSE(Matches(Scalar("externref", "0"), Value{ValType::kExternRef, 0, 0}));
  EXPECT_FALSE(Matches(Scalar("externref", "null"), null_func));  // wrong reference type
}

TEST(SpecValues, MismatchMessagesShowBothSides) {
  auto mismatch = MatchResult(Scalar("f32", "nan:canonical"), Value::F32(1.5f));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(*mismatch, "got f32:1.5 (0x3fc00000), expected f32:nan:canonical");
  mismatch = MatchResult(Scalar("i64", "1"), Value::I32(1));
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(*mismatch, "got i32:1, expected i64:1");
}

}  // namespace
}  // namespace velum::conformance
