// Priority by transmit count gives new updates a fast start and spreads the budget of a busy
// queue evenly; the capacity bound evicts the most-transmitted update first.
#include "core/gossip_queue.h"

#include "core/assert.h"

namespace velum::core {

void GossipQueue::Enqueue(const Update& update, uint64_t now_ms) {
  VELUM_ASSERT(update.id != kNoNode);
  auto it = entries_.find(update.id);
  if (it != entries_.end()) {
    by_priority_.erase(Key{it->second.transmits, -it->second.order, update.id});
    entries_.erase(it);
  } else if (entries_.size() >= capacity_) {
    // Full: the most-transmitted update has done most of its work already.
    auto last = std::prev(by_priority_.end());
    entries_.erase(std::get<2>(*last));
    by_priority_.erase(last);
  }
  const int64_t order = next_order_++;
  entries_.emplace(update.id, Entry{update, 0, order, now_ms});
  by_priority_.insert(Key{0, -order, update.id});
  VELUM_ASSERT(entries_.size() <= capacity_);
  VELUM_ASSERT(entries_.size() == by_priority_.size());
}

void GossipQueue::Select(size_t max, uint32_t limit, NodeId to, uint64_t now_ms,
                         uint64_t max_age_ms, std::vector<Update>* out) {
  VELUM_ASSERT(limit > 0);
  const size_t before = out->size();
  std::vector<NodeId> picked;
  std::vector<NodeId> expired;
  // Bounded by the queue's size: every step either picks, skips `to`, or expires an entry.
  for (auto it = by_priority_.begin(); it != by_priority_.end() && picked.size() < max; ++it) {
    const NodeId id = std::get<2>(*it);
    const Entry& e = entries_.at(id);
    if (now_ms >= e.enqueued_ms + max_age_ms) {
      expired.push_back(id);
      continue;
    }
    if (id == to) continue;
    out->push_back(e.update);
    picked.push_back(id);
  }
  for (NodeId id : expired) {
    const Entry& e = entries_.at(id);
    by_priority_.erase(Key{e.transmits, -e.order, id});
    entries_.erase(id);
  }
  for (NodeId id : picked) {
    Entry& e = entries_.at(id);
    by_priority_.erase(Key{e.transmits, -e.order, id});
    if (++e.transmits >= limit) {
      entries_.erase(id);
    } else {
      by_priority_.insert(Key{e.transmits, -e.order, id});
    }
  }
  VELUM_ASSERT(out->size() - before == picked.size() && picked.size() <= max);
  CheckInvariants();
}

void GossipQueue::Clear() {
  entries_.clear();
  by_priority_.clear();
  CheckInvariants();
}

void GossipQueue::CheckInvariants() const {
  VELUM_ASSERT(entries_.size() == by_priority_.size());
  VELUM_ASSERT(entries_.size() <= capacity_);
}

}  // namespace velum::core
