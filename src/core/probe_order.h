// SWIM's randomized round robin: every live member is probed once per round, in an order
// reshuffled each round, so a failed member is found within bounded time (not just on average).
#ifndef VELUM_CORE_PROBE_ORDER_H_
#define VELUM_CORE_PROBE_ORDER_H_

#include <cstddef>
#include <unordered_map>
#include <vector>

#include "core/random.h"
#include "core/types.h"

namespace velum::core {

class ProbeOrder {
 public:
  // A new member goes to a random position of the rest of the round (SWIM section 4.3).
  void Add(NodeId id, Rng* rng);
  // Lazy: the entry is skipped and compacted away at the end of the round.
  void Remove(NodeId id);

  // The next member to probe, or kNoNode if there is none.
  NodeId Next(Rng* rng);
  // A uniformly random member other than `a` and `b`, or kNoNode after a few tries.
  NodeId Random(Rng* rng, NodeId a, NodeId b) const;

  size_t size() const { return live_; }
  bool Contains(NodeId id) const;

 private:
  void NewRound(Rng* rng);

  std::vector<NodeId> order_;
  std::unordered_map<NodeId, bool> present_;  // id -> live (false: removed, still in order_)
  size_t next_ = 0;
  size_t live_ = 0;
};

}  // namespace velum::core

#endif  // VELUM_CORE_PROBE_ORDER_H_
