// A job's chunks over time, per worker: what the dashboard draws as one lane per worker (in the
// spirit of Dask's task stream). The coordinator records each attempt when it ends; bounded.
#ifndef VELUM_CORE_TIMELINE_H_
#define VELUM_CORE_TIMELINE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "core/job_types.h"
#include "core/types.h"

namespace velum::core {

// How an attempt on a chunk ended (kRunning: it has not, in a snapshot).
enum class SpanOutcome : uint8_t {
  kRunning,
  kDone,     // it completed its chunk
  kLost,     // its worker was lost or went silent: the remainder was handed on
  kFailed,   // it reported an error
  kStopped,  // the job ended around it, or another attempt (a backup, a `first`) won
};
const char* SpanOutcomeName(SpanOutcome outcome);

// One attempt: a worker ran items [begin, end) of a chunk, reaching `done`, over
// [started_ms, ended_ms) after the job's submission (the coordinator's clock).
struct ChunkSpan {
  NodeId worker = kNoNode;
  int64_t begin = 0, end = 0, done = 0;
  uint64_t started_ms = 0, ended_ms = 0;
  SpanOutcome outcome = SpanOutcome::kRunning;
  bool backup = false;
};

// The ended attempts of one job, oldest first. At most `max_spans`: past that the oldest are
// dropped and counted, so a job of a million chunks costs a bounded few hundred KiB.
class SpanLog {
 public:
  static constexpr size_t kDefaultMaxSpans = 20000;
  void Add(const ChunkSpan& span, size_t max_spans);
  // Lets every span go (counted as dropped), with the memory they held.
  void Release();
  const std::deque<ChunkSpan>& spans() const { return spans_; }
  uint64_t dropped() const { return dropped_; }

 private:
  std::deque<ChunkSpan> spans_;
  uint64_t dropped_ = 0;
};

}  // namespace velum::core

#endif  // VELUM_CORE_TIMELINE_H_
