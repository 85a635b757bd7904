// Following a job and waiting for peers from outside the node's loop: polling in short
// slices, because the callers' stop conditions (Ctrl-C, velum_shutdown) are plain flags.
#include "node/node_waits.h"

#include <algorithm>
#include <thread>

namespace velum {

using std::chrono::milliseconds;

FollowResult FollowJob(Node& node, uint64_t id, const FollowOptions& options) {
  bool cancelled = false;
  for (;;) {
    milliseconds slice(100);  // short enough for a flag set by Ctrl-C or velum_shutdown
    if (options.deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(*options.deadline - WaitClock::now());
      slice = std::clamp(left, milliseconds(0), slice);
    }
    std::optional<JobSummary> s = node.WaitJob(id, slice);
    if (!s) return {std::nullopt, FollowEnd::kUnknownJob};
    if (s->finished()) return {std::move(s), FollowEnd::kFinished};
    if (options.on_slice) options.on_slice(*s);
    if (options.should_detach && options.should_detach())
      return {std::move(s), FollowEnd::kDetached};
    if (!cancelled && options.should_cancel && options.should_cancel()) {
      cancelled = true;
      node.CancelJob(id);
      continue;  // a cancelled job ends within a slice or two: its final summary is wanted
    }
    if (options.deadline && WaitClock::now() >= *options.deadline)
      return {std::move(s), FollowEnd::kDeadline};
  }
}

size_t ReadyPeers(Node& node) {
  size_t ready = 0;
  for (const auto& peer : node.Peers())
    if (peer.state == core::MemberState::kAlive && peer.link_up) ready++;
  return ready;
}

PeerWaitResult WaitForPeers(Node& node, size_t n, std::optional<WaitClock::time_point> deadline,
                            const std::function<bool()>& should_stop) {
  for (;;) {
    size_t ready = ReadyPeers(node);
    if (ready >= n) return {ready, PeerWaitEnd::kReached};
    if (should_stop && should_stop()) return {ready, PeerWaitEnd::kStopped};
    if (deadline && WaitClock::now() >= *deadline) return {ready, PeerWaitEnd::kDeadline};
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace velum
