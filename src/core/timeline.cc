// The span log of a job's attempts (core/timeline.h): words for outcomes, and the bound.
#include "core/timeline.h"

#include "core/assert.h"

namespace velum::core {

const char* SpanOutcomeName(SpanOutcome outcome) {
  switch (outcome) {
    case SpanOutcome::kRunning:
      return "running";
    case SpanOutcome::kDone:
      return "done";
    case SpanOutcome::kLost:
      return "lost";
    case SpanOutcome::kFailed:
      return "failed";
    case SpanOutcome::kStopped:
      return "stopped";
  }
  return "unknown";
}

void SpanLog::Add(const ChunkSpan& span, size_t max_spans) {
  VELUM_ASSERT(max_spans > 0 && span.outcome != SpanOutcome::kRunning);
  VELUM_ASSERT(span.started_ms <= span.ended_ms);
  while (spans_.size() >= max_spans) {
    spans_.pop_front();
    dropped_++;
  }
  spans_.push_back(span);
  VELUM_ASSERT(spans_.size() <= max_spans);
}

void SpanLog::Release() {
  dropped_ += spans_.size();
  std::deque<ChunkSpan>().swap(spans_);
  VELUM_ASSERT(spans_.empty());
}

}  // namespace velum::core
