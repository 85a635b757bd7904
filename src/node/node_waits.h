// Blocking waits on a running Node from another thread: following a job to its end and
// waiting for peers. One copy for the node program, its shell and the C API.
#ifndef VELUM_NODE_NODE_WAITS_H_
#define VELUM_NODE_NODE_WAITS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "node/node.h"

namespace velum {

using WaitClock = std::chrono::steady_clock;

struct FollowOptions {
  std::optional<WaitClock::time_point> deadline;  // nullopt: follow until the job ends
  // Checked between slices (every 100 ms at most). Once true, the job is cancelled (once)
  // and followed on until it ends, so the caller sees its final summary.
  std::function<bool()> should_cancel;
  // Checked between slices: true stops following and leaves the job running.
  std::function<bool()> should_detach;
  // Each summary of the job while it runs, e.g. to draw a progress line.
  std::function<void(const JobSummary&)> on_slice;
};

enum class FollowEnd {
  kFinished,    // the job ended (done, failed or cancelled)
  kDeadline,    // the deadline passed with the job still running
  kDetached,    // should_detach said so, with the job still running
  kUnknownJob,  // the node does not know the job (no summary)
};

struct FollowResult {
  std::optional<JobSummary> summary;  // the last one seen; nullopt only with kUnknownJob
  FollowEnd end = FollowEnd::kUnknownJob;
};

// Follows job `id` of `node` in slices of WaitJob, so the predicates are heard within a slice
// of being set.
FollowResult FollowJob(Node& node, uint64_t id, const FollowOptions& options);

// Peers that calls and job chunks can go to now: alive in the membership (a suspect may be
// dead) and with their link up (frames travel on it).
size_t ReadyPeers(Node& node);

enum class PeerWaitEnd { kReached, kDeadline, kStopped };

struct PeerWaitResult {
  size_t ready = 0;  // ReadyPeers at the last look
  PeerWaitEnd end = PeerWaitEnd::kReached;
  bool ok() const { return end == PeerWaitEnd::kReached; }
};

// Waits until ReadyPeers(node) >= n, polling every 20 ms (membership and links change on the
// node's loop, which has no event to wait on from outside), until `deadline` (nullopt: none)
// or until `should_stop` says so. Each caller words its own failure.
PeerWaitResult WaitForPeers(Node& node, size_t n, std::optional<WaitClock::time_point> deadline,
                            const std::function<bool()>& should_stop = {});

}  // namespace velum

#endif  // VELUM_NODE_NODE_WAITS_H_
