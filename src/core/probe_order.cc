// The round is a vector and a cursor; insertion swaps the new member into a random slot of the
// unprobed part in O(1); removals are compacted once per round, keeping every step O(1) amortised.
#include "core/probe_order.h"

#include "core/assert.h"

namespace velum::core {

void ProbeOrder::Add(NodeId id, Rng* rng) {
  VELUM_ASSERT(id != kNoNode);
  auto it = present_.find(id);
  if (it != present_.end()) {
    // Still in order_ from before its removal: revive it where it stands.
    if (!it->second) {
      it->second = true;
      ++live_;
    }
    return;
  }
  present_.emplace(id, true);
  ++live_;
  order_.push_back(id);
  const size_t pos = next_ + rng->Uniform(order_.size() - next_);
  std::swap(order_[pos], order_.back());
  VELUM_ASSERT(live_ <= order_.size() && order_.size() == present_.size());
}

void ProbeOrder::Remove(NodeId id) {
  auto it = present_.find(id);
  if (it == present_.end() || !it->second) return;
  it->second = false;
  VELUM_ASSERT(live_ > 0);
  --live_;
  VELUM_ASSERT(!Contains(id) && live_ < order_.size());
}

bool ProbeOrder::Contains(NodeId id) const {
  VELUM_ASSERT(live_ <= present_.size());
  auto it = present_.find(id);
  return it != present_.end() && it->second;
}

NodeId ProbeOrder::Next(Rng* rng) {
  VELUM_ASSERT(live_ <= order_.size() && next_ <= order_.size());
  if (live_ == 0) return kNoNode;
  // Bounded: at most the rest of this round, then one full fresh round.
  for (size_t steps = 0; steps <= 2 * order_.size() + 1; ++steps) {
    if (next_ >= order_.size()) NewRound(rng);
    const NodeId id = order_[next_++];
    if (present_.at(id)) return id;
  }
  VELUM_ASSERT(false && "live member not found in probe order");
  return kNoNode;
}

NodeId ProbeOrder::Random(Rng* rng, NodeId a, NodeId b) const {
  if (order_.empty()) return kNoNode;
  for (int tries = 0; tries < 16; ++tries) {
    const NodeId id = order_[rng->Uniform(order_.size())];
    if (id != a && id != b && present_.at(id)) return id;
  }
  VELUM_ASSERT(order_.size() == present_.size());
  return kNoNode;
}

void ProbeOrder::NewRound(Rng* rng) {
  size_t kept = 0;
  for (NodeId id : order_) {
    if (present_.at(id)) {
      order_[kept++] = id;
    } else {
      present_.erase(id);
    }
  }
  order_.resize(kept);
  VELUM_ASSERT(kept == live_ && present_.size() == live_);
  rng->Shuffle(&order_);
  next_ = 0;
}

}  // namespace velum::core
