// The metrics' names for their enums, and the call figures' relaxed counting (node_metrics.h).
#include "node/node_metrics.h"

#include <algorithm>

namespace velum {

const char* DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kDatagramMalformed:
      return "datagram_malformed";
    case DropReason::kDatagramMisdirected:
      return "datagram_misdirected";
    case DropReason::kDatagramBadMac:
      return "datagram_bad_mac";
    case DropReason::kDatagramStale:
      return "datagram_stale";
    case DropReason::kDatagramReplayed:
      return "datagram_replayed";
    case DropReason::kUndecodable:
      return "undecodable";
    case DropReason::kHandshakeTimedOut:
      return "handshake_timed_out";
    case DropReason::kHandshakeEvicted:
      return "handshake_evicted";
    case DropReason::kHandshakeFailed:
      return "handshake_failed";
    case DropReason::kLinkBadFrame:
      return "link_bad_frame";
    case DropReason::kSendQueueFull:
      return "send_queue_full";
    case DropReason::kHeldFrameDropped:
      return "held_frame_dropped";
    case DropReason::kPeerTableFull:
      return "peer_table_full";
  }
  return "unknown";
}

const char* CallResultName(CallResult result) {
  switch (result) {
    case CallResult::kOk:
      return "ok";
    case CallResult::kTrap:
      return "trap";
    case CallResult::kTimeout:
      return "timeout";
    case CallResult::kLimit:
      return "limit";
    case CallResult::kCancelled:
      return "cancelled";
    case CallResult::kCrashed:
      return "crashed";
    case CallResult::kError:
      return "error";
  }
  return "unknown";
}

const char* CallEngineName(CallEngine engine) {
  switch (engine) {
    case CallEngine::kInterp:
      return "interp";
    case CallEngine::kAot:
      return "aot";
    case CallEngine::kUnknown:
      return "unknown";
  }
  return "unknown";
}

void CallFigures::Record(CallEngine engine, CallResult result, std::chrono::nanoseconds elapsed) {
  const size_t e = static_cast<size_t>(engine), r = static_cast<size_t>(result);
  if (e >= kCallEngines || r >= kCallResults) return;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  // The first bucket whose bound holds the call; past every bound: the last (+Inf).
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kCallSecondsBuckets.begin(), kCallSecondsBuckets.end(), seconds) -
      kCallSecondsBuckets.begin());
  calls_[e][r].fetch_add(1, std::memory_order_relaxed);
  buckets_[e][bucket].fetch_add(1, std::memory_order_relaxed);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  micros_[e].fetch_add(micros > 0 ? static_cast<uint64_t>(micros) : 0, std::memory_order_relaxed);
}

CallFigures::Snapshot CallFigures::Read() const {
  Snapshot s;
  for (size_t e = 0; e < kCallEngines; e++) {
    for (size_t r = 0; r < kCallResults; r++)
      s.calls[e][r] = calls_[e][r].load(std::memory_order_relaxed);
    for (size_t b = 0; b < s.buckets[e].size(); b++)
      s.buckets[e][b] = buckets_[e][b].load(std::memory_order_relaxed);
    s.micros[e] = micros_[e].load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace velum
