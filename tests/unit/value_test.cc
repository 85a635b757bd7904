// Unit tests of value parsing and printing (the command line's typed arguments and results),
// signatures' text form, error rendering and engine names.
#include "runtime/value.h"

#include <cmath>
#include <limits>

#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/executor.h"
#include "test_util.h"

namespace velum {
namespace {

Value Parse(const char* text, ValType type) {
  auto v = ParseValue(text, type);
  EXPECT_TRUE(v.ok()) << "'" << text << "' as " << ValTypeName(type) << ": "
                      << v.error().ToString();
  return v.ok() ? *v : Value{};
}

void ExpectRejected(const char* text, ValType type) {
  auto v = ParseValue(text, type);
  ASSERT_FALSE(v.ok()) << "'" << text << "' as " << ValTypeName(type) << " was accepted as "
                       << FormatValue(*v);
  EXPECT_EQ(v.error().kind, ErrorKind::kBadArguments);
  // The message names the offending text and the wanted type.
  EXPECT_NE(v.error().message.find(std::string("'") + text + "'"), std::string::npos)
      << v.error().message;
  EXPECT_NE(v.error().message.find(ValTypeName(type)), std::string::npos) << v.error().message;
}

TEST(ParseValue, I32Decimal) {
  EXPECT_EQ(Parse("0", ValType::kI32), Value::I32(0));
  EXPECT_EQ(Parse("60", ValType::kI32), Value::I32(60));
  EXPECT_EQ(Parse("-5", ValType::kI32), Value::I32(-5));
  EXPECT_EQ(Parse("+7", ValType::kI32), Value::I32(7));
  EXPECT_EQ(Parse("2147483647", ValType::kI32), Value::I32(2147483647));
  EXPECT_EQ(Parse("-2147483648", ValType::kI32), Value::I32(std::numeric_limits<int32_t>::min()));
}

TEST(ParseValue, I32Hex) {
  EXPECT_EQ(Parse("0x10", ValType::kI32), Value::I32(16));
  EXPECT_EQ(Parse("0X1f", ValType::kI32), Value::I32(31));
  EXPECT_EQ(Parse("-0x10", ValType::kI32), Value::I32(-16));
  EXPECT_EQ(Parse("0xffffffff", ValType::kI32), Value::I32(-1));
  EXPECT_EQ(Parse("-0x80000000", ValType::kI32), Value::I32(std::numeric_limits<int32_t>::min()));
}

TEST(ParseValue, I32UnsignedRangeWraps) {
  Value v = Parse("4294967295", ValType::kI32);
  EXPECT_EQ(v.i32(), -1);
  EXPECT_EQ(v.lo, 0xffffffffu);  // zero-extended bits
  EXPECT_EQ(Parse("2147483648", ValType::kI32).i32(), std::numeric_limits<int32_t>::min());
}

TEST(ParseValue, I32OutOfRangeRejected) {
  ExpectRejected("4294967296", ValType::kI32);
  ExpectRejected("-2147483649", ValType::kI32);
  ExpectRejected("0x100000000", ValType::kI32);
  ExpectRejected("99999999999999999999999", ValType::kI32);
}

TEST(ParseValue, I32Malformed) {
  ExpectRejected("abc", ValType::kI32);
  ExpectRejected("", ValType::kI32);
  ExpectRejected("-", ValType::kI32);
  ExpectRejected("0x", ValType::kI32);
  ExpectRejected("12abc", ValType::kI32);
  ExpectRejected("3.5", ValType::kI32);
  ExpectRejected("1 2", ValType::kI32);
  ExpectRejected("--5", ValType::kI32);
}

TEST(ParseValue, I64) {
  EXPECT_EQ(Parse("-5", ValType::kI64), Value::I64(-5));
  EXPECT_EQ(Parse("0x10", ValType::kI64), Value::I64(16));
  EXPECT_EQ(Parse("9223372036854775807", ValType::kI64),
            Value::I64(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(Parse("-9223372036854775808", ValType::kI64),
            Value::I64(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(Parse("18446744073709551615", ValType::kI64).i64(), -1);
  EXPECT_EQ(Parse("4294967296", ValType::kI64), Value::I64(4294967296LL));
  ExpectRejected("18446744073709551616", ValType::kI64);
  ExpectRejected("-9223372036854775809", ValType::kI64);
  ExpectRejected("abc", ValType::kI64);
}

TEST(ParseValue, Floats) {
  EXPECT_EQ(Parse("3.5", ValType::kF64), Value::F64(3.5));
  EXPECT_EQ(Parse("-0.25", ValType::kF64), Value::F64(-0.25));
  EXPECT_EQ(Parse("1e3", ValType::kF64), Value::F64(1000.0));
  EXPECT_EQ(Parse("7", ValType::kF64), Value::F64(7.0));
  EXPECT_EQ(Parse("3.5", ValType::kF32), Value::F32(3.5f));
  EXPECT_EQ(Parse("0.1", ValType::kF32), Value::F32(0.1f));  // rounded once, to float
  EXPECT_EQ(Parse("inf", ValType::kF64), Value::F64(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(Parse("-inf", ValType::kF64), Value::F64(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ(Parse("inf", ValType::kF32), Value::F32(std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(std::isnan(Parse("nan", ValType::kF64).f64()));
  EXPECT_TRUE(std::isnan(Parse("nan", ValType::kF32).f32()));
  EXPECT_EQ(Parse("nan", ValType::kF32).type, ValType::kF32);
  ExpectRejected("abc", ValType::kF64);
  ExpectRejected("abc", ValType::kF32);
  ExpectRejected("", ValType::kF64);
  ExpectRejected("3.5x", ValType::kF64);
}

TEST(ParseValue, ReferenceTypesCannotBeText) {
  auto v = ParseValue("0", ValType::kV128);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::kBadArguments);
  EXPECT_NE(v.error().message.find("v128"), std::string::npos) << v.error().message;
}

FuncSig SumSig() { return FuncSig{{ValType::kI32, ValType::kI32, ValType::kI32}, {ValType::kI32}}; }

TEST(ParseArgs, TypedBySignature) {
  FuncSig sig{{ValType::kI32, ValType::kI64, ValType::kF32, ValType::kF64}, {}};
  auto args = ParseArgs({"-5", "0x10", "2.5", "inf"}, sig);
  ASSERT_TRUE(args.ok()) << args.error().ToString();
  ASSERT_EQ(args->size(), 4u);
  EXPECT_EQ((*args)[0], Value::I32(-5));
  EXPECT_EQ((*args)[1], Value::I64(16));
  EXPECT_EQ((*args)[2], Value::F32(2.5f));
  EXPECT_EQ((*args)[3], Value::F64(std::numeric_limits<double>::infinity()));
}

TEST(ParseArgs, ArityErrorText) {
  auto few = ParseArgs({"1", "2"}, SumSig());
  ASSERT_FALSE(few.ok());
  EXPECT_EQ(few.error().kind, ErrorKind::kBadArguments);
  EXPECT_EQ(few.error().message, "expected 3 arguments (i32, i32, i32) -> i32, got 2");
  EXPECT_EQ(few.error().ToString(),
            "bad arguments: expected 3 arguments (i32, i32, i32) -> i32, got 2");

  auto many = ParseArgs({"1", "2", "3", "4"}, SumSig());
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().message, "expected 3 arguments (i32, i32, i32) -> i32, got 4");

  auto one = ParseArgs({}, FuncSig{{ValType::kI32}, {ValType::kI32}});
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.error().message, "expected 1 argument (i32) -> i32, got 0");

  auto none = ParseArgs({"1"}, FuncSig{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "expected 0 arguments () -> (), got 1");
}

TEST(ParseArgs, BadArgumentIsNamed) {
  auto args = ParseArgs({"1", "abc", "3"}, SumSig());
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.error().kind, ErrorKind::kBadArguments);
  EXPECT_EQ(args.error().message, "argument 2: 'abc' is not a valid i32");
  EXPECT_EQ(args.error().ToString(), "bad arguments: argument 2: 'abc' is not a valid i32");

  auto range = ParseArgs({"4294967296", "0", "0"}, SumSig());
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.error().message.find("argument 1"), std::string::npos) << range.error().message;
}

TEST(FormatValue, Integers) {
  EXPECT_EQ(FormatValue(Value::I32(60)), "60");
  EXPECT_EQ(FormatValue(Value::I32(-1)), "-1");
  EXPECT_EQ(FormatValue(Value::I32(std::numeric_limits<int32_t>::min())), "-2147483648");
  EXPECT_EQ(FormatValue(Value::I64(-5)), "-5");
  EXPECT_EQ(FormatValue(Value::I64(std::numeric_limits<int64_t>::max())), "9223372036854775807");
}

TEST(FormatValue, Floats) {
  EXPECT_EQ(FormatValue(Value::F64(3.5)), "3.5");
  EXPECT_EQ(FormatValue(Value::F64(2.0)), "2");
  EXPECT_EQ(FormatValue(Value::F64(0.1)), "0.1");  // shortest round trip
  EXPECT_EQ(FormatValue(Value::F32(0.1f)), "0.1");
  EXPECT_EQ(FormatValue(Value::F32(2.5f)), "2.5");
  EXPECT_EQ(FormatValue(Value::F64(std::numeric_limits<double>::infinity())), "inf");
  EXPECT_EQ(FormatValue(Value::F64(-std::numeric_limits<double>::infinity())), "-inf");
  EXPECT_EQ(FormatValue(Value::F64(std::numeric_limits<double>::quiet_NaN())), "nan");
  EXPECT_EQ(FormatValue(Value::F32(std::numeric_limits<float>::quiet_NaN())), "nan");
}

TEST(FormatValue, RoundTripsThroughParse) {
  const struct {
    const char* text;
    ValType type;
  } cases[] = {
      {"60", ValType::kI32},  {"-1", ValType::kI32},  {"-9223372036854775808", ValType::kI64},
      {"3.5", ValType::kF64}, {"0.1", ValType::kF64}, {"1e+300", ValType::kF64},
      {"0.3", ValType::kF32}, {"inf", ValType::kF64}, {"-inf", ValType::kF32},
      {"nan", ValType::kF64}};
  for (const auto& c : cases) {
    Value v = Parse(c.text, c.type);
    EXPECT_EQ(FormatValue(v), c.text) << ValTypeName(c.type);
    EXPECT_EQ(Parse(FormatValue(v).c_str(), c.type), v) << c.text;
  }
}

TEST(FuncSig, ToString) {
  EXPECT_EQ(SumSig().ToString(), "(i32, i32, i32) -> i32");
  EXPECT_EQ(FuncSig{}.ToString(), "() -> ()");
  FuncSig multi{{ValType::kI64, ValType::kF32}, {ValType::kI64, ValType::kF32, ValType::kF64}};
  EXPECT_EQ(multi.ToString(), "(i64, f32) -> (i64, f32, f64)");
}

TEST(ErrorText, OneLine) {
  EXPECT_EQ(MakeTrap(TrapKind::kIntegerDivideByZero, "integer divide by zero").ToString(),
            "trap: integer divide by zero");
  EXPECT_EQ(MakeTrap(TrapKind::kOther, "odd").ToString(), "trap: other (odd)");
  EXPECT_EQ(MakeError(ErrorKind::kDeadlineExceeded, "late").ToString(), "deadline exceeded: late");
  EXPECT_EQ(MakeError(ErrorKind::kInvalidModule, "").ToString(), "invalid module");
}

TEST(ErrorKindFromNumber, OnlyKindsThatExist) {
  EXPECT_EQ(ErrorKindFromNumber(0), ErrorKind::kInvalidModule);
  EXPECT_EQ(ErrorKindFromNumber(static_cast<uint64_t>(kLastErrorKind)), kLastErrorKind);
  EXPECT_FALSE(ErrorKindFromNumber(static_cast<uint64_t>(kLastErrorKind) + 1).has_value());
  EXPECT_FALSE(ErrorKindFromNumber(UINT64_MAX).has_value());
  EXPECT_EQ(TrapKindFromNumber(static_cast<uint64_t>(kLastTrapKind)), kLastTrapKind);
  EXPECT_FALSE(TrapKindFromNumber(static_cast<uint64_t>(kLastTrapKind) + 1).has_value());
}

// An executor runs untrusted code: an answer naming a kind that does not exist is malformed.
TEST(ExecResponse, AKindThatDoesNotExistIsMalformed) {
  ExecResponse r;
  r.error = MakeTrap(TrapKind::kUnreachable, "unreachable");
  std::vector<uint8_t> frame = r.Encode();
  ExecResponse back;
  ASSERT_TRUE(ExecResponse::Decode(frame, &back));
  EXPECT_EQ(back.error.kind, ErrorKind::kTrap);
  EXPECT_EQ(back.error.trap, TrapKind::kUnreachable);
  const size_t kind_at = 1 + 8 + 1 + 1;  // ok, run_ns, module_held, retiring
  ASSERT_EQ(frame[kind_at], static_cast<uint8_t>(ErrorKind::kTrap));
  std::vector<uint8_t> bad_kind = frame, bad_trap = frame;
  bad_kind[kind_at] = static_cast<uint8_t>(kLastErrorKind) + 1;
  bad_trap[kind_at + 1] = 0xff;
  EXPECT_FALSE(ExecResponse::Decode(bad_kind, &back));
  EXPECT_FALSE(ExecResponse::Decode(bad_trap, &back));
}

TEST(EngineKind, Parse) {
  EXPECT_EQ(*ParseEngineKind("auto"), EngineKind::kAuto);
  EXPECT_EQ(*ParseEngineKind("interp"), EngineKind::kInterp);
  EXPECT_EQ(*ParseEngineKind("aot"), EngineKind::kAot);
  auto bad = ParseEngineKind("bogus");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kBadArguments);
  EXPECT_NE(bad.error().message.find("'bogus'"), std::string::npos);
  EXPECT_STREQ(EngineKindName(EngineKind::kAot), "aot");
}

}  // namespace
}  // namespace velum
