// The kernel's answers as the C API's velum_result: a call's values and where it ran, a job's
// reduced values and figures, or its end as a code and a message.
#include <algorithm>
#include <cstdio>
#include <string>

#include "api/api_internal.h"

namespace velum::api {

namespace {

void CopyText(char* out, size_t size, const std::string& text) {
  std::snprintf(out, size, "%s", text.c_str());
}

velum_value ValueOf(const Value& v) {
  velum_value out;
  std::memset(&out, 0, sizeof out);
  switch (v.type) {
    case ValType::kI64:
      out.type = VELUM_I64;
      out.as.i64 = v.i64();
      break;
    case ValType::kF32:
      out.type = VELUM_F32;
      out.as.f32 = v.f32();
      break;
    case ValType::kF64:
      out.type = VELUM_F64;
      out.as.f64 = v.f64();
      break;
    default:  // i32; other types are refused before the call
      out.type = VELUM_I32;
      out.as.i32 = v.i32();
      break;
  }
  return out;
}

velum_value ValueOf(const core::Num& n) {
  velum_value out;
  std::memset(&out, 0, sizeof out);
  switch (n.kind) {
    case core::NumKind::kInt:
      out.type = VELUM_I64;
      out.as.i64 = n.i;
      break;
    case core::NumKind::kF32:
      out.type = VELUM_F32;
      out.as.f32 = static_cast<float>(n.f);
      break;
    case core::NumKind::kF64:
      out.type = VELUM_F64;
      out.as.f64 = n.f;
      break;
  }
  return out;
}

}  // namespace

velum_result CallResult(const CallReply& reply) {
  velum_result r = EmptyResult();
  r.code = VELUM_OK;
  r.nvalues = std::min<size_t>(reply.values.size(), VELUM_MAX_VALUES);
  for (size_t i = 0; i < r.nvalues; i++) r.values[i] = ValueOf(reply.values[i]);
  r.node = reply.node;
  CopyText(r.engine, sizeof r.engine, reply.engine);
  r.elapsed_ms = reply.elapsed_ms;
  return r;
}

velum_result JobResult(const JobSummary& s) {
  velum_result r = EmptyResult();
  r.job = s.id;
  r.elapsed_ms = s.elapsed_ms;
  r.workers = static_cast<uint32_t>(s.workers.size());
  r.chunks = s.chunks;
  r.items_done = s.items_done;
  r.items_total = s.items_total;
  r.reassigned = s.reassigned;
  r.recomputed = s.recomputed;
  r.stale_reports = s.stale_reports;
  r.detection_ms = s.detection_ms;
  std::string what = "job " + std::to_string(s.id);
  if (!s.finished()) {
    r.code = VELUM_PENDING;
  } else if (s.state == core::JobState::kDone) {
    r.code = VELUM_OK;
    r.nvalues = std::min<size_t>(s.result.size(), VELUM_MAX_VALUES);
    for (size_t i = 0; i < r.nvalues; i++) r.values[i] = ValueOf(s.result[i]);
  } else if (s.state == core::JobState::kCancelled) {
    r.code = VELUM_ERR_CANCELLED;
    CopyText(
        r.error, sizeof r.error,
        what + " cancelled" + (s.error.empty() || s.error == "cancelled" ? "" : ": " + s.error));
  } else {
    r.code = VELUM_ERR_JOB_FAILED;
    CopyText(r.error, sizeof r.error, what + " " + core::JobStateName(s.state) + ": " + s.error);
  }
  if (r.code < 0) Fail(r.code, r.error);
  return r;
}

}  // namespace velum::api
