// The C API's failures: the kernel's error kinds as VELUM_ERR_* codes, the message of each
// thread's last failure (velum_last_error) and the words of each code (velum_strerror).
#include <cstdio>
#include <string>

#include "api/api_internal.h"

namespace velum::api {

namespace {

// Per thread, as errno: a failure on one thread never overwrites another's message.
thread_local std::string t_error;
thread_local int t_code = VELUM_OK;

}  // namespace

int Fail(int code, std::string message) {
  t_code = code;
  t_error = std::move(message);
  return code;
}

int CodeOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidModule:
    case ErrorKind::kUnlinkable:
      return VELUM_ERR_INVALID_MODULE;
    case ErrorKind::kExportNotFound:
      return VELUM_ERR_EXPORT_NOT_FOUND;
    case ErrorKind::kBadArguments:
      return VELUM_ERR_INVALID_ARGUMENT;
    case ErrorKind::kTrap:
      return VELUM_ERR_TRAP;
    case ErrorKind::kDeadlineExceeded:
      return VELUM_ERR_DEADLINE;
    case ErrorKind::kMemoryLimitExceeded:
      return VELUM_ERR_MEMORY_LIMIT;
    case ErrorKind::kExecutorCrashed:
      return VELUM_ERR_EXECUTOR;
    case ErrorKind::kIo:
      return VELUM_ERR_IO;
    case ErrorKind::kCancelled:
      return VELUM_ERR_CANCELLED;
    case ErrorKind::kUnavailable:
      return VELUM_ERR_UNAVAILABLE;
    case ErrorKind::kLimitExceeded:
      return VELUM_ERR_LIMIT;
    case ErrorKind::kCompilerUnavailable:
    case ErrorKind::kCompilerFailed:
    case ErrorKind::kInternal:
      return VELUM_ERR_INTERNAL;
  }
  return VELUM_ERR_INTERNAL;
}

int Fail(const Error& error) { return Fail(CodeOf(error.kind), error.ToString()); }

const std::string& LastErrorText() { return t_error; }

velum_result EmptyResult() {
  velum_result r;
  std::memset(&r, 0, sizeof r);
  r.detection_ms = -1;
  return r;
}

velum_result FailedResult(int code, const std::string& message) {
  Fail(code, message);
  velum_result r = EmptyResult();
  r.code = code;
  std::snprintf(r.error, sizeof r.error, "%s", message.c_str());
  return r;
}

velum_result FailedResult(const Error& error) {
  return FailedResult(CodeOf(error.kind), error.ToString());
}

}  // namespace velum::api

extern "C" {

const char* velum_strerror(int code) {
  switch (code) {
    case VELUM_OK:
      return "ok";
    case VELUM_PENDING:
      return "not finished yet";
    case VELUM_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case VELUM_ERR_NOT_INITIALIZED:
      return "not initialized";
    case VELUM_ERR_ALREADY_INITIALIZED:
      return "already initialized";
    case VELUM_ERR_IO:
      return "i/o error";
    case VELUM_ERR_INVALID_MODULE:
      return "invalid module";
    case VELUM_ERR_EXPORT_NOT_FOUND:
      return "export not found";
    case VELUM_ERR_TRAP:
      return "trap";
    case VELUM_ERR_DEADLINE:
      return "deadline exceeded";
    case VELUM_ERR_MEMORY_LIMIT:
      return "memory limit exceeded";
    case VELUM_ERR_EXECUTOR:
      return "executor crashed";
    case VELUM_ERR_UNAVAILABLE:
      return "unavailable";
    case VELUM_ERR_LIMIT:
      return "limit exceeded";
    case VELUM_ERR_CANCELLED:
      return "cancelled";
    case VELUM_ERR_JOB_FAILED:
      return "job failed";
    case VELUM_ERR_TIMEOUT:
      return "timed out";
    case VELUM_ERR_INTERNAL:
      return "internal error";
  }
  return "unknown code";
}

const char* velum_last_error(void) { return velum::api::t_error.c_str(); }

int velum_last_error_code(void) { return velum::api::t_code; }

}  // extern "C"
