// Conversions between the runtime's values and errors and what the job cores and the wire
// carry, shared by the job driver and the call service. Plain functions; no state.
#ifndef VELUM_NODE_JOB_VALUES_H_
#define VELUM_NODE_JOB_VALUES_H_

#include <cstdint>
#include <vector>

#include "core/job_types.h"
#include "runtime/error.h"
#include "runtime/module.h"
#include "runtime/value.h"
#include "wire/job_codec.h"

namespace velum {

uint32_t PagesOf(uint32_t mib);  // 64 KiB pages in `mib` MiB (at least 1 MiB)
core::NumKind KindOf(ValType t);
core::Num NumOf(const Value& v);
// A reduced number back as a value of `t` (a module reducer's argument); the kinds agree
// (KindOf(t) == n.kind, checked by the caller).
Value ValueOf(const core::Num& n, ValType t);
// Errors that another attempt elsewhere would hit too fail a job at once; the others (a
// crashed executor, a busy or lost node) are retried.
bool Retryable(ErrorKind kind);
core::TaskError TaskErrorOf(const Error& e);
std::vector<Value> ValuesOf(const std::vector<wire::WireValue>& ws);
std::vector<wire::WireValue> WireOf(const std::vector<Value>& vs);
// Arguments must match the export's parameters exactly (they come typed from the caller).
Status CheckArgs(const ExportInfo& e, const std::vector<Value>& args);

}  // namespace velum

#endif  // VELUM_NODE_JOB_VALUES_H_
