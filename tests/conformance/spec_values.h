// Values of the spec scripts: wast2json's JSON form to runtime Values and back to text, and
// result matching by the suite's rules (bit-exact floats, NaN patterns, v128 lanes, refs).
#ifndef VELUM_TESTS_CONFORMANCE_SPEC_VALUES_H_
#define VELUM_TESTS_CONFORMANCE_SPEC_VALUES_H_

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/value.h"

namespace velum::conformance {

// A command whose JSON is not what wast2json writes; the command fails with this message.
class ScriptFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An argument of an action: {"type": "i32", "value": "4294967295"}, v128 with lane_type and a
// list of lanes, "null" or an extern payload for references.
Value ParseArgument(const nlohmann::json& arg);

// Nothing when `actual` satisfies `expected`, otherwise "got X, expected Y". Integers and
// floats compare bit for bit, "nan:canonical" and "nan:arithmetic" follow the spec's rules
// (per lane for v128), a reference without a value must be non-null, and a non-null funcref
// matches any non-null result since function identity is not observable from outside.
std::optional<std::string> MatchResult(const nlohmann::json& expected, const Value& actual);

// "i32:42", "f32:1.5 (0x3fc00000)", "v128:i16x8[1 2 3 4 5 6 7 8]", "externref:null".
std::string DescribeValue(const Value& value, const std::string& lane_type = "i32");
std::string DescribeValues(const std::vector<Value>& values);

}  // namespace velum::conformance

#endif  // VELUM_TESTS_CONFORMANCE_SPEC_VALUES_H_
