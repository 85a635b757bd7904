// The dissemination queue (memberlist's TransmitLimitedQueue): at most one pending update
// per member, sent least-transmitted first, dropped after a retransmit limit or an age.
#ifndef VELUM_CORE_GOSSIP_QUEUE_H_
#define VELUM_CORE_GOSSIP_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/types.h"

namespace velum::core {

class GossipQueue {
 public:
  explicit GossipQueue(size_t capacity) : capacity_(capacity) {}

  // Replaces any queued update about the same member: only the newest claim is worth sending.
  void Enqueue(const Update& update, uint64_t now_ms);

  // Appends up to `max` updates to *out, fewest transmissions (then newest) first, skipping
  // updates about `to` (it knows its own state; the caller adds a buddy update if needed).
  // Each selected update counts a transmission; at `limit` it leaves the queue.
  void Select(size_t max, uint32_t limit, NodeId to, uint64_t now_ms, uint64_t max_age_ms,
              std::vector<Update>* out);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void Clear();

 private:
  // (transmits, -order, id): std::set iterates in sending priority.
  using Key = std::tuple<uint32_t, int64_t, NodeId>;
  struct Entry {
    Update update;
    uint32_t transmits;
    int64_t order;
    uint64_t enqueued_ms;
  };
  void CheckInvariants() const;

  size_t capacity_;
  int64_t next_order_ = 0;
  std::set<Key> by_priority_;
  std::unordered_map<NodeId, Entry> entries_;
};

}  // namespace velum::core

#endif  // VELUM_CORE_GOSSIP_QUEUE_H_
