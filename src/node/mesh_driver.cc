// MeshDriver (mesh_driver.h): membership outputs to datagrams, dials and peer facts; link
// frames to round trips and job messages; woken at the membership's deadline and the heartbeat.
#include "node/mesh_driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/assert.h"
#include "wire/codec.h"

namespace velum {

MeshDriver::MeshDriver(core::NodeId self, core::NodeMeta meta, core::Config config, uint64_t seed,
                       Hooks hooks)
    : self_(self),
      hooks_(std::move(hooks)),
      meta_(std::move(meta)),
      membership_(std::make_unique<core::Membership>(self, meta_, config, seed)),
      started_ms_(hooks_.now_ms()),
      next_heartbeat_ms_(started_ms_ + kHeartbeatMs) {
  VELUM_ASSERT(self_ != core::kNoNode);
  VELUM_ASSERT(hooks_.send_datagram && hooks_.dial && hooks_.forget && hooks_.send_link &&
               hooks_.link_up && hooks_.wake_at && hooks_.now_ms && hooks_.now_us &&
               hooks_.refused && hooks_.notice);
}

void MeshDriver::Start(const std::vector<std::string>& seeds) {
  uint64_t now = hooks_.now_ms();
  Dispatch(membership_->Tick(now));
  for (const auto& seed : seeds) Dispatch(membership_->Join(seed, now));
  ScheduleWake();
}

void MeshDriver::Dispatch(core::Output out) {
  if (halted_) return;
  for (auto& envelope : out.messages) {
    std::string payload(1, kMessageTag);
    payload += wire::Encode(envelope.msg);
    hooks_.send_datagram(envelope.to_addr, std::move(payload));
  }
  for (const auto& event : out.events) {
    spdlog::info("member {} {} (incarnation {})", event.id, core::EventName(event.kind),
                 event.incarnation);
    auto it = membership_->members().find(event.id);
    if (it == membership_->members().end()) continue;
    const core::Member& m = it->second;
    const bool live = core::IsLive(m.state);
    if (live) {
      if (IdSettled()) {
        Dial(m);
      } else {
        dials_deferred_ = true;
      }
    } else {
      hooks_.forget(m.id);
    }
    if (listener_ && event.id != self_) listener_->OnMember(event.id, live, m.meta.slots);
  }
  for (const auto& notice : out.notices) hooks_.notice(notice);
  if (membership_->refused()) {
    halted_ = true;
    hooks_.refused();
    return;
  }
  if (dials_deferred_ && IdSettled()) {
    dials_deferred_ = false;
    for (const auto& [id, m] : membership_->members())
      if (id != self_ && core::IsLive(m.state)) Dial(m);
  }
  ScheduleWake();
}

bool MeshDriver::IdSettled() const {
  return !halted_ && !membership_->checking_id() &&
         (membership_->joined() || hooks_.now_ms() - started_ms_ >= kIdSettleMs);
}

void MeshDriver::Dial(const core::Member& m) {
  // One link per pair: the lower id dials, the higher one accepts.
  if (self_ < m.id) hooks_.dial(m.id, m.meta.addr);
}

void MeshDriver::ScheduleWake() {
  if (halted_) return;
  uint64_t next = std::min(membership_->NextDeadlineMs(), next_heartbeat_ms_);
  // Dials wait for the id to settle: at the latest kIdSettleMs after the start (after that,
  // an id check in flight ends at a membership deadline, which wakes them).
  const uint64_t now = hooks_.now_ms();
  if (dials_deferred_ && started_ms_ + kIdSettleMs > now)
    next = std::min(next, started_ms_ + kIdSettleMs);
  // A deadline already past runs a millisecond on: a core whose deadline a tick did not move
  // must not spin the loop.
  next = std::max(next, now + 1);
  if (wake_.BringForward(next)) hooks_.wake_at(next);
}

void MeshDriver::OnWake(uint64_t at_ms) {
  // Halted, or a wake asked for later than a sooner one that replaced it: that one runs.
  if (halted_ || !wake_.Arrived(at_ms)) return;
  uint64_t now = hooks_.now_ms();
  if (now >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = now + kHeartbeatMs;
    for (const auto& [id, m] : membership_->members())
      if (id != self_ && hooks_.link_up(id)) SendLinkPing(id);
  }
  Dispatch(membership_->Tick(now));  // and asks for the next wake
}

void MeshDriver::OnDatagram(core::NodeId sender, std::string_view payload, bool beacon) {
  if (halted_ || payload.empty()) return;
  uint64_t now = hooks_.now_ms();
  // The sealed kind says how the datagram travelled: a beacon is only read from a broadcast
  // datagram, a membership message only from one bound to this node's address.
  // From our own id: a looped-back broadcast, or another process with our id (a duplicate, or
  // an earlier run of ours): the membership core tells them apart by address.
  if (payload[0] == kBeaconTag && beacon) {
    wire::Beacon b;
    if (!wire::DecodeBeacon(payload.substr(1), &b) || b.id != sender) {
      undecodable_++;
      return;
    }
    Dispatch(membership_->OnBeacon(b.id, b.meta, b.incarnation, now));
  } else if (payload[0] == kMessageTag && !beacon) {
    core::Message msg;
    // The MAC proved the sender holds the key; the message must also speak for itself.
    if (!wire::Decode(payload.substr(1), &msg) || msg.from.id != sender) {
      undecodable_++;
      return;
    }
    Dispatch(membership_->OnMessage(msg, now));
  } else {
    undecodable_++;
  }
}

void MeshDriver::OnLinkUp(core::NodeId peer) {
  if (halted_) return;
  spdlog::info("link to {} up", peer);
  SendLinkPing(peer);
  if (listener_) listener_->OnLink(peer, true);
}

void MeshDriver::OnLinkDown(core::NodeId peer) {
  spdlog::info("link to {} down", peer);
  rtt_us_.erase(peer);
  if (halted_ || membership_->left()) return;
  Dispatch(membership_->OnLinkDown(peer, hooks_.now_ms()));
  if (listener_) listener_->OnLink(peer, false);
}

void MeshDriver::SendLinkPing(core::NodeId peer) {
  wire::LinkFrame ping{wire::LinkFrame::Kind::kPing, ++heartbeat_seq_, hooks_.now_us()};
  hooks_.send_link(peer, wire::EncodeLink(ping));
}

void MeshDriver::OnLinkFrame(core::NodeId peer, std::string frame) {
  if (halted_) return;
  wire::LinkMessage decoded;
  if (!wire::DecodeLink(frame, &decoded)) {
    undecodable_++;  // authenticated but not a frame we know: a newer peer, or a bug
    return;
  }
  if (auto* f = std::get_if<wire::LinkFrame>(&decoded)) {
    if (listener_) listener_->OnHeard(peer);
    uint64_t now_us = hooks_.now_us();
    if (f->kind == wire::LinkFrame::Kind::kPing) {
      f->kind = wire::LinkFrame::Kind::kPong;
      hooks_.send_link(peer, wire::EncodeLink(*f));
    } else if (f->sent_us <= now_us && hooks_.link_up(peer)) {
      rtt_us_[peer] = now_us - f->sent_us;
    }
    return;
  }
  if (listener_) listener_->OnMessage(peer, std::move(decoded), frame.size());
}

void MeshDriver::Leave() {
  if (halted_ || membership_->left()) return;
  Dispatch(membership_->Leave(hooks_.now_ms()));
  halted_ = true;
}

void MeshDriver::PublishLoad(uint32_t load) {
  if (halted_) return;
  meta_.load = load;
  membership_->UpdateLocalMeta(meta_);
  ScheduleWake();  // published at the membership's next tick
}

bool MeshDriver::HeldGone(core::NodeId peer) const {
  auto it = membership_->members().find(peer);
  return it != membership_->members().end() && !core::IsLive(it->second.state);
}

int64_t MeshDriver::rtt_us(core::NodeId peer) const {
  auto it = rtt_us_.find(peer);
  return it == rtt_us_.end() ? -1 : static_cast<int64_t>(it->second);
}

std::string MeshDriver::BeaconPayload() const {
  wire::Beacon beacon{self_, membership_->self().incarnation, membership_->self().meta};
  std::string payload(1, kBeaconTag);
  payload += wire::EncodeBeacon(beacon);
  return payload;
}

core::NodeId MeshDriver::PickTarget(const std::vector<core::NodeId>& tried) const {
  core::NodeId best = core::kNoNode;
  int64_t best_free = 0;
  uint32_t best_load = 0;
  uint64_t best_rtt = 0;
  for (const auto& [id, m] : membership_->members()) {
    if (id == self_ || m.state != core::MemberState::kAlive || m.meta.slots == 0) continue;
    if (!hooks_.link_up(id) || std::count(tried.begin(), tried.end(), id)) continue;
    int64_t free = static_cast<int64_t>(m.meta.slots) - static_cast<int64_t>(m.meta.load);
    auto rit = rtt_us_.find(id);
    uint64_t rtt = rit == rtt_us_.end() ? UINT64_MAX : rit->second;
    bool better =
        best == core::kNoNode || free > best_free ||
        (free == best_free &&
         (m.meta.load < best_load ||
          (m.meta.load == best_load && (rtt < best_rtt || (rtt == best_rtt && id < best)))));
    if (better) {
      best = id;
      best_free = free;
      best_load = m.meta.load;
      best_rtt = rtt;
    }
  }
  return best != core::kNoNode ? best : self_;
}

}  // namespace velum
