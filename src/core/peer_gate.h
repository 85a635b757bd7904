// The one place a peer is declared up or down for work: up while its link is up and the
// membership holds it live, down as soon as either stops. The node feeds it both facts.
#ifndef VELUM_CORE_PEER_GATE_H_
#define VELUM_CORE_PEER_GATE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "core/types.h"

namespace velum::core {

enum class PeerChangeKind : uint8_t {
  kUp,            // link up and live: the peer takes work from here on
  kSlotsChanged,  // still up, advertising another number of slots
  kDown,          // the link or the membership lost it: what is in flight with it has ended
  // The link of a peer that was not up went down (one still joining, or already dead): it
  // was never a worker here, but whatever came over that link has ended all the same.
  kLinkLost,
};

struct PeerChange {
  PeerChangeKind kind = PeerChangeKind::kDown;
  NodeId id = kNoNode;
  uint32_t slots = 0;  // kUp and kSlotsChanged: the peer's advertised slots
};

// Sans-I/O, like the other cores: each fact returns the change it caused, if any. Up and down
// strictly alternate for each peer, starting with up, and a peer is up exactly while both of
// its facts say so; kLinkLost comes only while a peer is down. The node never passes itself.
class PeerGate {
 public:
  // Peers tracked at once (link up or live), as membership's own bound: a fact about a
  // further peer is refused (counted) and leaves it down.
  PeerGate(NodeId self, size_t max_peers);

  std::optional<PeerChange> OnLink(NodeId id, bool up);
  // Membership's view: live (alive or suspected) with `slots`, or not (dead, left, reaped).
  std::optional<PeerChange> OnMember(NodeId id, bool live, uint32_t slots);
  // The node stops: every peer that is up goes down, in id order, and the gate forgets all.
  std::vector<PeerChange> DownAll();

  bool IsUp(NodeId id) const;
  bool HasLink(NodeId id) const;  // the last link fact about `id` was "up"
  size_t up_count() const { return up_count_; }
  size_t tracked() const { return peers_.size(); }
  uint64_t refused() const { return refused_; }

 private:
  struct Peer {
    bool link = false;
    bool live = false;
    bool up = false;
    uint32_t slots = 0;
  };
  // Finds or makes the entry for `id`; null when the table is full.
  Peer* Find(NodeId id);
  // Turns the peer's facts into at most one change, and drops an entry with no fact left.
  std::optional<PeerChange> Settle(NodeId id, Peer* peer, uint32_t old_slots);

  NodeId self_;
  size_t max_peers_;
  std::map<NodeId, Peer> peers_;
  size_t up_count_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace velum::core

#endif  // VELUM_CORE_PEER_GATE_H_
