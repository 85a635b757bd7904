// PeerGate: a peer's two facts (link, membership) folded into up and down. See peer_gate.h;
// the node's job driver is the only caller, the simulator checks its alternation.
#include "core/peer_gate.h"

#include "core/assert.h"

namespace velum::core {

PeerGate::PeerGate(NodeId self, size_t max_peers) : self_(self), max_peers_(max_peers) {
  VELUM_ASSERT(self != kNoNode);
  VELUM_ASSERT(max_peers > 0);
}

PeerGate::Peer* PeerGate::Find(NodeId id) {
  auto it = peers_.find(id);
  if (it != peers_.end()) return &it->second;
  if (peers_.size() >= max_peers_) {
    refused_++;
    return nullptr;
  }
  return &peers_[id];
}

std::optional<PeerChange> PeerGate::OnLink(NodeId id, bool up) {
  if (id == self_ || id == kNoNode) return std::nullopt;
  if (!up && !peers_.count(id)) return std::nullopt;  // nothing known: nothing to lose
  Peer* peer = Find(id);
  if (!peer) return std::nullopt;
  const bool lost_while_down = !up && peer->link && !peer->up;
  peer->link = up;
  auto change = Settle(id, peer, peer->slots);
  if (lost_while_down) {
    VELUM_ASSERT(!change);
    change = PeerChange{PeerChangeKind::kLinkLost, id, 0};
  }
  return change;
}

std::optional<PeerChange> PeerGate::OnMember(NodeId id, bool live, uint32_t slots) {
  if (id == self_ || id == kNoNode) return std::nullopt;
  if (!live && !peers_.count(id)) return std::nullopt;
  Peer* peer = Find(id);
  if (!peer) return std::nullopt;
  const uint32_t old_slots = peer->slots;
  peer->live = live;
  if (live) peer->slots = slots;
  return Settle(id, peer, old_slots);
}

std::optional<PeerChange> PeerGate::Settle(NodeId id, Peer* peer, uint32_t old_slots) {
  const bool up = peer->link && peer->live;
  std::optional<PeerChange> change;
  if (up && !peer->up) {
    change = PeerChange{PeerChangeKind::kUp, id, peer->slots};
    up_count_++;
  } else if (!up && peer->up) {
    change = PeerChange{PeerChangeKind::kDown, id, 0};
    VELUM_ASSERT(up_count_ > 0);
    up_count_--;
  } else if (up && peer->slots != old_slots) {
    change = PeerChange{PeerChangeKind::kSlotsChanged, id, peer->slots};
  }
  peer->up = up;
  if (!peer->link && !peer->live) peers_.erase(id);  // bounded: only peers with a fact stay
  VELUM_ASSERT(up_count_ <= peers_.size());
  return change;
}

std::vector<PeerChange> PeerGate::DownAll() {
  std::vector<PeerChange> out;
  for (const auto& [id, peer] : peers_)
    if (peer.up) out.push_back(PeerChange{PeerChangeKind::kDown, id, 0});
  VELUM_ASSERT(out.size() == up_count_);
  peers_.clear();
  up_count_ = 0;
  return out;
}

bool PeerGate::HasLink(NodeId id) const {
  auto it = peers_.find(id);
  return it != peers_.end() && it->second.link;
}

bool PeerGate::IsUp(NodeId id) const {
  auto it = peers_.find(id);
  return it != peers_.end() && it->second.up;
}

}  // namespace velum::core
