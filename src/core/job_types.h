// The vocabulary of distributed jobs: numbers and partial results, reducers, job specs, and
// the messages between a job's coordinator and its workers. Plain values; no I/O.
#ifndef VELUM_CORE_JOB_TYPES_H_
#define VELUM_CORE_JOB_TYPES_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/types.h"

namespace velum::core {

// A limit asked of this node (a call's timeout, an instance's memory pages): 0 asks for the
// node's own, anything else gets the smaller of the two. Every call this node runs, a slice, a
// peer's call or its own shell's, is clamped by this one rule.
inline uint32_t ClampToOwnLimit(uint32_t asked, uint32_t own) {
  return asked != 0 && asked < own ? asked : own;
}

// Items in [lo, hi), lo <= hi. Unsigned: the whole int64 range holds 2^64 - 1 of them, more
// than an int64 difference can.
inline uint64_t ItemsIn(int64_t lo, int64_t hi) {
  return static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
}

// The one way a planned figure (a rate times a time: floating point) becomes an item count:
// a count in [1, max] (max >= 1). NaN and anything below 1 give 1; anything at or past max
// gives max. Comparing in double and converting afterwards would not do: a double holds
// integers exactly only up to 2^53, and rounds 2^63 - 1 and 2^64 - 1 up, past the range.
inline uint64_t CountFromPlan(double want, uint64_t max) {
  if (!(want >= 1.0) || max <= 1) return max == 0 ? 0 : 1;
  if (want >= 18446744073709551616.0) return max;  // 2^64: beyond every uint64
  uint64_t n = static_cast<uint64_t>(want);        // exact truncation: want < 2^64
  return n < max ? n : max;
}

// a * b, or UINT64_MAX when that does not fit: item counts grow by factors, never wrap.
inline uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  uint64_t product;
  return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}

// A job is numbered by its coordinator; (coordinator id, JobId) names it in the whole mesh.
using JobId = uint64_t;
// One try at the remainder of one chunk by one worker. Unique per coordinator across its
// restarts (the high bits are the coordinator's epoch), so a report can never be mistaken
// for one of a later attempt.
using AttemptId = uint64_t;
using ModuleDigest = std::array<uint8_t, 32>;  // BLAKE2b-256 of the module's bytes

// Limits every message obeys (checked by wire/job_codec before anything reaches the core).
constexpr size_t kMaxResultValues = 16;  // results of one export call
constexpr size_t kMaxFuncName = 255;     // export names
constexpr size_t kMaxErrorMessage = 1024;
constexpr size_t kMaxLabel = 255;  // a module's label (its file name): a WASI slice's argv[0]
// Output of the slices of a WASI export. Each stream of one slice is captured up to
// kMaxSliceOutputBytes on its worker (past it the program's writes fail with EIO); a job's
// coordinator keeps up to kMaxJobOutputBytes of every slice's output, then only marks the rest
// as dropped. A report carries one slice's output, so its frame stays far below a module piece.
constexpr size_t kMaxSliceOutputBytes = 64 << 10;
constexpr size_t kMaxJobOutputBytes = 1 << 20;

// One result value on its way to a reduction. Integers (i32 sign-extended, i64) are kept as
// int64; f32 values stay f32 (held exactly in a double) except in sums, which use f64.
enum class NumKind : uint8_t { kInt, kF32, kF64 };
const char* NumKindName(NumKind kind);

struct Num {
  NumKind kind = NumKind::kInt;
  int64_t i = 0;  // kInt
  double f = 0;   // kF32, kF64

  static Num Int(int64_t v) { return {NumKind::kInt, v, 0}; }
  static Num F32(float v) { return {NumKind::kF32, 0, v}; }
  static Num F64(double v) { return {NumKind::kF64, 0, v}; }
  bool is_float() const { return kind != NumKind::kInt; }
  bool is_zero() const { return is_float() ? f == 0.0 : i == 0; }
  // Bitwise equality: NaN equals the same NaN, 0.0 differs from -0.0 (exactness checks).
  bool operator==(const Num& o) const {
    return kind == o.kind && i == o.i && std::memcmp(&f, &o.f, sizeof f) == 0;
  }
};

// How a job's per-range results combine into one answer. Every reducer is associative and is
// applied in range order, so the answer does not depend on how the range was cut (for integer
// results; floating-point exports round differently on different cuts by their own nature).
enum class ReducerKind : uint8_t {
  kSum,    // element-wise; integers wrap modulo 2^64, floats add in f64
  kMin,    // element-wise minimum (NaN wins, as in Wasm's f64.min)
  kMax,    // element-wise maximum
  kFirst,  // the result of the lowest sub-range whose result is not all zeros (a search)
  // An export of the module, (T..., T...) -> (T...) where T... are the range export's results:
  // combine(lower, upper). Associative, perhaps not commutative, and run only as wasm: workers
  // fold their slices through it in their executors, the coordinator's driver folds the chunks'
  // partials in range order when the job's ledger is done. The core never combines these.
  kModule,
};
const char* ReducerName(ReducerKind kind);
bool ParseReducer(const std::string& text, ReducerKind* out);

// The reduction of a contiguous sub-range. Empty is the identity: no item reduced yet (sum,
// min, max) or nothing found yet (first).
struct Partial {
  std::vector<Num> values;

  bool empty() const { return values.empty(); }
  bool operator==(const Partial&) const = default;
};

// The streams a slice's output is captured from, indexing SliceOutput::streams.
enum class OutputStream : uint8_t { kStdout, kStderr };
constexpr size_t kOutputStreams = 2;
const char* OutputStreamName(OutputStream stream);  // "stdout", "stderr"

// What one slice of a WASI export wrote: [lo, hi) are the slice's items.
struct SliceOutput {
  int64_t lo = 0, hi = 0;
  std::array<std::string, kOutputStreams> streams;  // by OutputStream
  bool truncated = false;  // a stream reached kMaxSliceOutputBytes: the program wrote more

  const std::string& text(OutputStream s) const { return streams[static_cast<size_t>(s)]; }
  size_t bytes() const { return streams[0].size() + streams[1].size(); }
  bool empty() const { return bytes() == 0 && !truncated; }
  bool operator==(const SliceOutput&) const = default;
};

// What a coordinator asks of the mesh: run `func` over [start, end) and reduce.
struct JobSpec {
  ModuleDigest module{};
  uint64_t module_size = 0;
  std::string func;
  int64_t start = 0, end = 0;  // [start, end), start < end
  ReducerKind reducer = ReducerKind::kSum;
  std::string reduce_func;            // kModule: the combining export; else empty
  bool wide = false;                  // the export takes (i64, i64), else (i32, i32)
  std::vector<NumKind> result_kinds;  // of the reduced values, one per export result
  uint64_t chunk_items = 0;           // fixed chunk size; 0: sized from measured throughput
  bool exclude_self = false;          // the coordinator does not work on its own job
  uint32_t timeout_ms = 60000;        // per export call (one slice); workers may lower it
  uint32_t max_memory_pages = 4096;   // per instance; workers may lower it
  std::string label;                  // for people: the module's file name

  bool operator==(const JobSpec&) const = default;
};

// Why a slice or a call failed, as a worker reports it. Deterministic failures (a trap, a
// missing export) fail the job; others (a crashed executor, a busy worker) are retried.
struct TaskError {
  uint32_t kind = 0;  // velum::ErrorKind of the runtime, as a number
  std::string message;
  bool retryable = false;

  bool operator==(const TaskError&) const = default;
};
// TaskError::kind of a worker refusing an attempt (too many held, malformed): not one of the
// runtime's error kinds, and always retryable elsewhere.
constexpr uint32_t kTaskErrorWorkerBusy = 0x10000;

// Coordinator -> worker: run [start, end) of a chunk as one attempt, slice by slice.
struct Assign {
  JobId job = 0;
  AttemptId attempt = 0;
  ModuleDigest module{};
  uint64_t module_size = 0;
  std::string func;
  int64_t start = 0, end = 0;
  ReducerKind reducer = ReducerKind::kSum;
  // kModule: the combining export, and the chunk's committed partial of [chunk begin, start)
  // (empty at the chunk's beginning). The worker folds its slices onto `base`, so its reports'
  // partials are of [chunk begin, upto): one value per chunk, never a list for the core to
  // combine. Both empty for the built-in reducers.
  std::string reduce_func;
  Partial base;
  bool wide = false;
  uint32_t timeout_ms = 60000;
  uint32_t max_memory_pages = 4096;
  uint32_t slice_ms = 150;  // the time one slice should take; each slice ends in a report
  std::string label;        // the job's label, at most kMaxLabel bytes: a WASI slice's argv[0]

  bool operator==(const Assign&) const = default;
};

// Coordinator -> worker: stop (and forget) an attempt, or with attempt 0 every attempt of the
// job. Also the acknowledgement of an attempt's final report.
struct Cancel {
  JobId job = 0;
  AttemptId attempt = 0;

  bool operator==(const Cancel&) const = default;
};

// Worker -> coordinator: a checkpoint of one attempt. [start, upto) is done and reduces to
// `partial` (with a module reducer: [start, upto) folded onto the assignment's base, so the
// partial of [chunk begin, upto)) (cumulative, so a lost or reordered report is superseded by the
// next one); [upto, running_to) is the slice in progress. A report with an error ends the attempt.
struct Report {
  JobId job = 0;
  AttemptId attempt = 0;
  int64_t upto = 0;
  int64_t running_to = 0;
  Partial partial;
  uint64_t busy_us = 0;  // executor time spent on this attempt so far
  bool has_error = false;
  TaskError error;
  // A WASI export's output of the slice this report is the first to account for: the one
  // that ended at `upto`, or with an error the one that failed, [upto, running_to). Sent once:
  // heartbeats and repeated final reports carry none.
  std::optional<SliceOutput> output;

  bool operator==(const Report&) const = default;
};

using ToWorker = std::variant<Assign, Cancel>;

}  // namespace velum::core

#endif  // VELUM_CORE_JOB_TYPES_H_
