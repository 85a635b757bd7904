// A node's figures for monitoring (Node::Metrics): one snapshot, each figure read from the one
// part of the node where its fact happens, never counted twice. Rendered by src/http/metrics.
#ifndef VELUM_NODE_NODE_METRICS_H_
#define VELUM_NODE_NODE_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/coordinator.h"
#include "core/types.h"

namespace velum {

// Why traffic was refused or dropped. Each reason is counted where it is decided: the
// datagram seal (net/datagram_auth), the transport's links, the mesh driver's decoder, the
// job driver's held frames and peer gate.
enum class DropReason : uint8_t {
  kDatagramMalformed,    // not a sealed datagram of this protocol
  kDatagramMisdirected,  // sealed for another destination (a replay elsewhere)
  kDatagramBadMac,       // fails authentication: another cluster key, or tampered
  kDatagramStale,        // outside the time window
  kDatagramReplayed,     // seen before within the window
  kUndecodable,          // authenticated but not a valid message (datagram or link frame)
  kHandshakeTimedOut,    // a TCP connection gave no hello and proof in time
  kHandshakeEvicted,     // the oldest pending connection, to make room for a newcomer
  kHandshakeFailed,      // wrong key, not a peer, an unexpected id
  kLinkBadFrame,         // an established link sent a frame that fails authentication
  kSendQueueFull,        // a peer too slow to read: its link dropped
  kHeldFrameDropped,     // job frames of a peer held dead that went stale or overflowed
  kPeerTableFull,        // a fact about a peer beyond the peer gate's bound
};
inline constexpr size_t kDropReasons = static_cast<size_t>(DropReason::kPeerTableFull) + 1;
const char* DropReasonName(DropReason reason);  // "datagram_bad_mac", ...

// How an executor call ended, as its caller saw it.
enum class CallResult : uint8_t {
  kOk,         // values (a WASI command: it ran, whatever its exit code)
  kTrap,       // the code trapped (or a WASI command failed after its output)
  kTimeout,    // past its deadline: killed
  kLimit,      // a memory or other configured limit
  kCancelled,  // the caller gave up
  kCrashed,    // the executor died
  kError,      // refused before running (bad arguments, no export, a module or I/O error)
};
inline constexpr size_t kCallResults = static_cast<size_t>(CallResult::kError) + 1;
const char* CallResultName(CallResult result);  // "ok", "trap", ...

// The engine that answered; kUnknown: the call failed before one was known.
enum class CallEngine : uint8_t { kInterp, kAot, kUnknown };
inline constexpr size_t kCallEngines = static_cast<size_t>(CallEngine::kUnknown) + 1;
const char* CallEngineName(CallEngine engine);  // "interp", "aot", "unknown"

// Upper bounds (seconds) of the call latency histogram's buckets; +Inf is implied.
inline constexpr std::array<double, 12> kCallSecondsBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30};

// Executor calls of this node, by engine and result, with their wall time. Counted by the
// node's executors (node/executors.cc) on the calling threads: relaxed atomics, read from any
// thread. A snapshot is not one instant across figures, only each figure on its own.
class CallFigures {
 public:
  void Record(CallEngine engine, CallResult result, std::chrono::nanoseconds elapsed);

  struct Snapshot {
    std::array<std::array<uint64_t, kCallResults>, kCallEngines> calls{};
    // Per engine: calls in each bucket (not cumulative; the last is past every bound).
    std::array<std::array<uint64_t, kCallSecondsBuckets.size() + 1>, kCallEngines> buckets{};
    std::array<uint64_t, kCallEngines> micros{};  // summed wall time
  };
  Snapshot Read() const;

 private:
  std::array<std::array<std::atomic<uint64_t>, kCallResults>, kCallEngines> calls_{};
  std::array<std::array<std::atomic<uint64_t>, kCallSecondsBuckets.size() + 1>, kCallEngines>
      buckets_{};
  std::array<std::atomic<uint64_t>, kCallEngines> micros_{};
};

// Map jobs' figures since the node started, counted by the map service (its threads).
struct MapFigures {
  uint64_t running = 0;
  std::array<uint64_t, 4> ended{};  // by core::JobState (kRunning's slot stays 0)
  uint64_t items_ok = 0, items_failed = 0;
  uint64_t reruns = 0;  // runs handed back after a loss or a failure
};

// The executor pool and its AOT compiler and cache.
struct PoolFigures {
  uint32_t slots = 0;
  uint64_t compiles = 0, compiles_failed = 0, compiles_refused = 0;
  uint64_t cache_bytes = 0;  // <home>/modules and <home>/aot now
  uint64_t cache_evictions = 0;
  uint64_t executors_started = 0, executors_replaced = 0;
};

struct NodeMetrics {
  uint32_t id = 0;
  double uptime_seconds = 0;
  // Membership (this node included), by core::MemberState.
  std::array<uint64_t, 4> members{};
  uint64_t probes = 0, suspicions = 0, declared_dead = 0, refutations = 0;
  // Links: up now, and the last heartbeat round trip of each peer with a link (bounded by
  // the membership).
  uint64_t links_up = 0;
  struct PeerRtt {
    uint32_t peer = 0;
    double seconds = 0;
  };
  std::vector<PeerRtt> rtt;
  // The transport: sealed datagrams and link frames, with their bytes.
  uint64_t datagrams_in = 0, datagrams_out = 0;
  uint64_t frames_in = 0, frames_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  std::array<uint64_t, kDropReasons> dropped{};  // by DropReason
  // Scatter jobs this node coordinates (core::Coordinator::totals) since it started.
  uint64_t jobs_running = 0;
  core::CoordinatorTotals scatter;
  MapFigures maps;
  // Work this node did for coordinators and callers (a slice, a peer's call, a command).
  uint64_t slices_run = 0, calls_served = 0, commands_served = 0;
  // Executor slots: busy now, and all of them.
  uint32_t slots_busy = 0, slots = 0;
  CallFigures::Snapshot calls;
  PoolFigures pool;
  // Module transfers: fetched from peers (with bytes), and served to them.
  uint64_t modules_in = 0, module_bytes_in = 0, modules_out = 0;
};

}  // namespace velum

#endif  // VELUM_NODE_NODE_METRICS_H_
