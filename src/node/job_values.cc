// Value, error and argument conversions between the runtime, the job cores and the wire
// (job_values.h).
#include "node/job_values.h"

#include <algorithm>
#include <string>

namespace velum {

uint32_t PagesOf(uint32_t mib) { return std::max<uint32_t>(mib, 1) * 16; }

core::NumKind KindOf(ValType t) {
  return t == ValType::kF32   ? core::NumKind::kF32
         : t == ValType::kF64 ? core::NumKind::kF64
                              : core::NumKind::kInt;
}

core::Num NumOf(const Value& v) {
  switch (v.type) {
    case ValType::kI32:
      return core::Num::Int(v.i32());
    case ValType::kI64:
      return core::Num::Int(v.i64());
    case ValType::kF32:
      return core::Num::F32(v.f32());
    default:
      return core::Num::F64(v.f64());
  }
}

Value ValueOf(const core::Num& n, ValType t) {
  switch (t) {
    case ValType::kI32:
      return Value::I32(static_cast<int32_t>(n.i));
    case ValType::kI64:
      return Value::I64(n.i);
    case ValType::kF32:
      return Value::F32(static_cast<float>(n.f));
    default:
      return Value::F64(n.f);
  }
}

bool Retryable(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kExecutorCrashed:
    case ErrorKind::kIo:
    case ErrorKind::kInternal:
    case ErrorKind::kCancelled:
    case ErrorKind::kUnavailable:
    case ErrorKind::kLimitExceeded:
      return true;
    default:
      return false;
  }
}

core::TaskError TaskErrorOf(const Error& e) {
  return core::TaskError{static_cast<uint32_t>(e.kind), e.ToString(), Retryable(e.kind)};
}

std::vector<Value> ValuesOf(const std::vector<wire::WireValue>& ws) {
  std::vector<Value> out;
  for (const auto& w : ws) out.push_back(Value{static_cast<ValType>(w.type), w.bits, 0});
  return out;
}

std::vector<wire::WireValue> WireOf(const std::vector<Value>& vs) {
  std::vector<wire::WireValue> out;
  for (const auto& v : vs) out.push_back({static_cast<uint32_t>(v.type), v.lo});
  return out;
}

velum::Status CheckArgs(const ExportInfo& e, const std::vector<Value>& args) {
  if (args.size() != e.sig.params.size())
    return MakeError(ErrorKind::kBadArguments, e.name + " takes " +
                                                   std::to_string(e.sig.params.size()) +
                                                   " arguments " + e.sig.ToString());
  for (size_t i = 0; i < args.size(); i++) {
    if (args[i].type != e.sig.params[i] || static_cast<int>(args[i].type) > 3)
      return MakeError(ErrorKind::kBadArguments, "argument " + std::to_string(i + 1) + " of " +
                                                     e.name + " must be " +
                                                     ValTypeName(e.sig.params[i]));
  }
  return {};
}

}  // namespace velum
