// What the files of the C API (include/velum/velum.h) share: failures as codes and messages,
// the lease on the process-wide node, results as C structs, and the job handle.
#ifndef VELUM_API_API_INTERNAL_H_
#define VELUM_API_API_INTERNAL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "node/node.h"
#include "velum/velum.h"

// A scatter job's handle. velum_shutdown records the final summary of every handle alive, so a
// handle still answers once its node is gone.
struct velum_job {
  std::mutex mu;
  uint64_t generation = 0;  // of the node that coordinates it
  uint64_t id = 0;
  std::optional<velum::JobSummary> final;  // once it has ended (or at velum_shutdown)
};

// Hidden in libvelum.so (-fvisibility=hidden, libvelum.map): only the velum_* functions are
// exported.
namespace velum::api {

using Clock = std::chrono::steady_clock;

inline constexpr char kNotInitialized[] = "the node is not running: call velum_init first";

// An enum field of a caller's struct as the integer it holds. C lets any int sit in an enum
// variable; in C++ loading an out-of-range value as the enum type is undefined, so the
// checks read the bytes instead.
template <class E>
std::underlying_type_t<E> RawEnum(const E& field) {
  std::underlying_type_t<E> raw;
  static_assert(sizeof raw == sizeof field);
  std::memcpy(&raw, &field, sizeof raw);
  return raw;
}

// nullopt for a negative timeout: the C API's "no limit".
inline std::optional<Clock::time_point> DeadlineOf(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

// ---- Errors (api_errors.cc) ------------------------------------------------------------

// Records a failure for velum_last_error on this thread; returns `code`.
int Fail(int code, std::string message);
int Fail(const Error& error);
int CodeOf(ErrorKind kind);
// The message of this thread's last failure (velum_last_error's).
const std::string& LastErrorText();

// Records a failure; returns a null handle.
template <typename Handle>
Handle* FailNull(int code, std::string message) {
  Fail(code, std::move(message));
  return nullptr;
}

// A list the caller gave as pointer and count, copied: a NULL entry, or a NULL array with a
// count, is refused by name (`what`: "args", "env").
int CopyStrings(const char* what, const char* const* items, size_t n,
                std::vector<std::string>* out);
// Each NAME=VALUE, NAME not empty.
int CheckEnv(const std::vector<std::string>& env);

velum_result EmptyResult();
// A result holding the failure, recorded by Fail too.
velum_result FailedResult(int code, const std::string& message);
velum_result FailedResult(const Error& error);

// ---- The process-wide node (api_runtime.cc) --------------------------------------------

// Use of the node by one operation; velum_shutdown waits until no lease is held, so the node
// outlives every operation that started before it. Null node: not initialized or stopping.
class Lease {
 public:
  Lease();
  Lease(Lease&& other) noexcept : node_(other.node_), generation_(other.generation_) {
    other.node_ = nullptr;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();
  Node* node() const { return node_; }
  uint64_t generation() const { return generation_; }

 private:
  Node* node_ = nullptr;
  uint64_t generation_ = 0;
};

// Registers a call's cancel flag, so velum_shutdown can stop the call.
class CancelScope {
 public:
  explicit CancelScope(std::atomic<bool>* flag);
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  ~CancelScope();

 private:
  std::atomic<bool>* flag_;
};

bool ShuttingDown();  // velum_shutdown is under way: waits stop, followed jobs are cancelled
// Job handles alive, whose final summaries velum_shutdown records.
void TrackJob(velum_job* job);
void UntrackJob(velum_job* job);

// ---- Results (api_results.cc) ----------------------------------------------------------

velum_result CallResult(const CallReply& reply);
// The result of a job so far: VELUM_PENDING while it runs; a failure is recorded by Fail.
velum_result JobResult(const JobSummary& s);

}  // namespace velum::api

#endif  // VELUM_API_API_INTERNAL_H_
