// SWIM (Das et al., 2002) with the Lifeguard refinements (Dadgar et al., 2018) as a pure state
// machine: failure detection by probing, dissemination by piggybacked gossip, joins by paging.
#include "core/membership.h"

#include <algorithm>

#include "core/assert.h"

namespace velum::core {

namespace {
constexpr size_t kMaxRelays = 64;
constexpr size_t kMaxFastProbes = 16;
constexpr size_t kMaxSeeds = 16;
constexpr uint32_t kSyncAttempts = 3;  // per page, then another peer is tried
constexpr size_t kMaxIdChecks = 4;     // addresses claiming our id, checked at once
// Per call: gossip fanout + k PingReqs + Leave fanout + fast probes + relays, with room.
constexpr size_t kMaxEnvelopesPerCall = 4 * kMaxRelays + 2 * kMaxFastProbes + 512;
constexpr uint64_t kNever = UINT64_MAX;

uint64_t SatAdd(uint64_t a, uint64_t b) { return a > kNever - b ? kNever : a + b; }
}  // namespace

const char* EventName(EventKind kind) {
  switch (kind) {
    case EventKind::kJoined:
      return "joined";
    case EventKind::kSuspected:
      return "suspected";
    case EventKind::kAlive:
      return "alive";
    case EventKind::kDead:
      return "dead";
    case EventKind::kLeft:
      return "left";
    case EventKind::kMetaChanged:
      return "meta_changed";
  }
  return "?";
}

Membership::Membership(NodeId self, NodeMeta meta, Config config, uint64_t seed)
    : config_(config), self_(self), rng_(seed), gossip_(config.max_members) {
  VELUM_ASSERT(self != kNoNode);
  CheckConfig(config_);
  Member& me = members_[self];
  me.id = self;
  me.incarnation = config.initial_incarnation;
  me.state = MemberState::kAlive;
  me.meta = std::move(meta);
  me_ = &me;
  VELUM_ASSERT(members_.size() == 1 && live_count_ == 1);
}

// ---------------------------------------------------------------------------------------------
// Entry points.

Output Membership::OnMessage(const Message& msg, uint64_t now_ms) {
  Begin(now_ms);
  const NodeId from = msg.from.id;
  const size_t type = msg.body.index();
  VELUM_ASSERT(type < kMessageTypes);
  stats_.received[type]++;
  if (refused_) return Finish();
  // Our id from another address: another process holds it (see OnOwnIdMessage).
  if (from == self_ && !left_ && (msg.to == kNoNode || msg.to == self_) &&
      !msg.from.meta.gossip_addr.empty() && msg.from.meta.gossip_addr != me_->meta.gossip_addr) {
    OnOwnIdMessage(msg);
    return Finish();
  }
  // Our own datagram looped back, a message for a previous owner of our address, or garbage
  // that the codec let through: none of it is evidence about anybody.
  if (from == kNoNode || from == self_ || (msg.to != kNoNode && msg.to != self_)) {
    stats_.dropped++;
    return Finish();
  }
  if (left_) {
    // Answer probes so that prober learns from our sender record that we left.
    if (const Ping* ping = std::get_if<Ping>(&msg.body)) {
      Send(from, msg.from.meta.gossip_addr, Ack{ping->seq});
    } else {
      stats_.dropped++;
    }
    return Finish();
  }

  // The sender's record first: it is the freshest claim about the sender, made by itself.
  // Unless it claims the id of a live member from another address: then it is not the member
  // we know, and hearing it says nothing about that one.
  auto known = members_.find(from);
  const bool claimant = known != members_.end() && ClaimsOtherAddress(known->second, msg.from);
  Apply(msg.from, Source::kDirect);
  if (auto it = members_.find(from); it != members_.end() && !claimant) {
    it->second.last_heard_ms = now_ms;
  }
  const size_t gossip = std::min(msg.gossip.size(), kMaxGossipPerMessage);
  for (size_t i = 0; i < gossip; ++i) Apply(msg.gossip[i], Source::kGossip, from);

  const std::string& reply_addr = msg.from.meta.gossip_addr;
  if (const Ping* ping = std::get_if<Ping>(&msg.body)) {
    Send(from, reply_addr, Ack{ping->seq});
  } else if (const Ack* ack = std::get_if<Ack>(&msg.body)) {
    HandleAck(msg, *ack);
  } else if (const PingReq* req = std::get_if<PingReq>(&msg.body)) {
    HandlePingReq(msg, *req);
  } else if (const IndirectAck* ind = std::get_if<IndirectAck>(&msg.body)) {
    if (probe_.active && ind->seq == probe_.seq && ind->target == probe_.target) {
      FinishProbe(true);
    }
  } else if (const Nack* nack = std::get_if<Nack>(&msg.body)) {
    if (probe_.active && nack->seq == probe_.seq && nack->target == probe_.target) {
      probe_.nacks++;
    }
  } else if (const core::Join* join = std::get_if<core::Join>(&msg.body)) {
    HandleJoin(msg, *join);
  } else if (const JoinAck* jack = std::get_if<JoinAck>(&msg.body)) {
    HandleJoinAck(msg, *jack);
  }
  // Leave and Gossip carry everything in the sender record and the piggybacked updates.
  return Finish();
}

Output Membership::Tick(uint64_t now_ms) {
  Begin(now_ms);
  if (left_ || refused_) return Finish();
  TickIdChecks();
  TickRelays();
  TickFastProbes();
  TickProbe();
  // After probing: a failed probe can confirm a suspicion and pull its deadline to now.
  TickSuspicions();
  TickGossip();
  TickSync();
  TickHousekeeping();
  PublishMeta();
  // Everything due has been handled, so the next deadline is in the future.
  VELUM_ASSERT(RawDeadlineMs() > now_ms);
  return Finish();
}

Output Membership::OnBeacon(NodeId from, const NodeMeta& meta, uint64_t incarnation,
                            uint64_t now_ms) {
  Begin(now_ms);
  if (from == self_ && !left_ && !refused_ && !meta.gossip_addr.empty() &&
      meta.gossip_addr != me_->meta.gossip_addr && incarnation < me_->incarnation &&
      InProbation()) {
    // Our id broadcast from elsewhere by a process that started before us (incarnations
    // start at the wall clock): check whether it is alive. An older run's replayed beacon
    // gets no answer; a newer process's beacon is its problem, not ours.
    StartIdCheck(meta.gossip_addr, incarnation);
    return Finish();
  }
  if (from == kNoNode || from == self_ || left_ || refused_) return Finish();
  // A beacon is broadcast: it proves the member's broadcasts get out, not that it answers
  // probes, and anyone on the segment can capture it and send it again to another node
  // within the freshness window. So it introduces a member we do not know, and for a known
  // one it is only a hint: it never refutes a suspicion (probes keep confirming it while the
  // member's unicast traffic is lost), never revives a dead or left member, never moves an
  // incarnation. Only the member's own messages and gossip do that.
  auto it = members_.find(from);
  if (it != members_.end() && IsLive(it->second.state) &&
      meta.gossip_addr != it->second.meta.gossip_addr) {
    // A live member's id beaconed from another address: a duplicate id, or a restart elsewhere
    // before the old process is found dead. Nothing about the member we know changes.
    stats_.id_claims_held++;
    out_.notices.push_back(Notice{NoticeKind::kIdClaimedElsewhere, from, meta.gossip_addr,
                                  it->second.meta.gossip_addr});
    return Finish();
  }
  if (it == members_.end()) {
    Update u;
    u.id = from;
    u.incarnation = incarnation;
    u.state = MemberState::kAlive;
    u.meta = meta;
    Apply(u, Source::kBeacon);
    it = members_.find(from);
    if (it == members_.end()) return Finish();
  } else if (it->second.state == MemberState::kAlive && incarnation == it->second.incarnation &&
             !(it->second.meta == meta)) {
    // Load rides in beacons without a new incarnation, as in sender records.
    it->second.meta = meta;
    Emit(EventKind::kMetaChanged, it->second);
  }
  Member& m = it->second;
  VELUM_ASSERT(m.id == from);
  m.last_heard_ms = now_ms;
  if (m.state == MemberState::kDead) {
    // It may be running while we hold it dead (a healed partition, a restart): a ping carries
    // the buddy update "you are dead", which a live member refutes in its ack. A replayed
    // beacon of a member that is really gone gets no answer.
    SendTo(m, Ping{++seq_});
  } else if (IsLive(m.state) && !joined_ && !sync_.active) {
    StartSync(true, from, m.meta.gossip_addr);
  }
  return Finish();
}

Output Membership::Join(std::string_view addr, uint64_t now_ms) {
  Begin(now_ms);
  if (left_ || addr.empty() || addr.size() > kMaxMetaString) return Finish();
  const std::string a(addr);
  if (std::find(seeds_.begin(), seeds_.end(), a) == seeds_.end() && seeds_.size() < kMaxSeeds) {
    seeds_.push_back(a);
  }
  if (!sync_.active || !sync_.full) StartSync(true, kNoNode, a);
  VELUM_ASSERT(sync_.active && seeds_.size() <= kMaxSeeds);
  return Finish();
}

Output Membership::Leave(uint64_t now_ms) {
  Begin(now_ms);
  if (left_) return Finish();
  std::vector<NodeId> peers;
  for (const auto& [id, m] : members_) {
    if (id != self_ && IsLive(m.state)) peers.push_back(id);
  }
  std::sort(peers.begin(), peers.end());  // hash order is no source of randomness
  // A fresh incarnation makes kLeft override every claim of our being alive or suspect.
  Transition(me_, MemberState::kLeft, me_->incarnation + 1);
  left_ = true;
  live_count_--;
  rng_.Shuffle(&peers);
  if (peers.size() > config_.leave_fanout) peers.resize(config_.leave_fanout);
  for (NodeId id : peers) SendTo(members_.at(id), core::Leave{});
  probe_ = Probe{};
  relays_.clear();
  fast_probes_.clear();
  sync_ = Sync{};
  gossip_.Clear();
  VELUM_ASSERT(me_->state == MemberState::kLeft && !probe_.active);
  VELUM_ASSERT(out_.messages.size() <= config_.leave_fanout);
  return Finish();
}

Output Membership::OnLinkDown(NodeId peer, uint64_t now_ms) {
  Begin(now_ms);
  if (left_ || peer == self_) return Finish();
  auto it = members_.find(peer);
  if (it == members_.end() || !IsLive(it->second.state)) return Finish();
  Member& m = it->second;
  Suspect(&m, self_, Source::kLocal);
  VELUM_ASSERT(IsLive(m.state));  // a suspicion, or a confirmation of the one it was under
  if (m.state != MemberState::kSuspect) return Finish();
  auto s = suspicions_.find(peer);
  VELUM_ASSERT(s != suspicions_.end());
  s->second.Cap(now_ms + config_.link_down_timeout_ms);
  Reschedule(peer, s->second);
  // Ping now and again every probe timeout: an alive peer hears the buddy update and refutes.
  auto fp = std::find_if(fast_probes_.begin(), fast_probes_.end(),
                         [&](const FastProbe& f) { return f.peer == peer; });
  if (fp == fast_probes_.end() && fast_probes_.size() < kMaxFastProbes) {
    fast_probes_.push_back(FastProbe{peer, now_ms, now_ms + config_.link_down_timeout_ms});
  }
  TickFastProbes();
  VELUM_ASSERT(fast_probes_.size() <= kMaxFastProbes);
  return Finish();
}

void Membership::UpdateLocalMeta(const NodeMeta& meta) {
  if (left_ || meta == me_->meta) return;
  NodeMeta without_load = meta;
  without_load.load = me_->meta.load;
  if (!(without_load == me_->meta)) meta_needs_bump_ = true;
  me_->meta = meta;  // sender records carry it from now on
  meta_pending_ = true;
  VELUM_ASSERT(me_->state == MemberState::kAlive && me_->id == self_);
}

uint64_t Membership::NextDeadlineMs() const {
  if (!started_) return 0;
  // Never before the last call: an overdue timer is due now, and the pause guard measures
  // lateness against this promise.
  return std::max(RawDeadlineMs(), now_ms_);
}

uint64_t Membership::RawDeadlineMs() const {
  if (left_ || refused_) return kNever;
  uint64_t t = next_probe_ms_;
  if (probe_.active) t = std::min(t, probe_.indirect ? probe_.end_ms : probe_.direct_deadline_ms);
  if (!gossip_.empty()) t = std::min(t, next_gossip_ms_);
  if (!deadlines_.empty()) t = std::min(t, deadlines_.begin()->first);
  if (!relays_.empty()) t = std::min(t, relays_.front().deadline_ms);
  for (const FastProbe& f : fast_probes_) t = std::min(t, std::min(f.next_ping_ms, f.until_ms));
  if (sync_.active) {
    t = std::min(t, sync_.deadline_ms);
  } else {
    t = std::min(t, NeedJoin() ? next_join_ms_ : next_sync_ms_);
  }
  t = std::min(t, next_housekeeping_ms_);
  for (const IdCheck& c : id_checks_) t = std::min(t, c.deadline_ms);
  if (meta_pending_) t = std::min(t, meta_needs_bump_ ? now_ms_ : next_load_bump_ms_);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Call framing and time.

void Membership::Begin(uint64_t now_ms) {
  VELUM_ASSERT(out_.messages.empty() && out_.events.empty());
  if (!started_) {
    started_ = true;
    now_ms_ = now_ms;
    started_ms_ = now_ms;
    me_->state_since_ms = now_ms;
    me_->last_heard_ms = now_ms;
    // A random phase, so that nodes started together do not probe in lockstep.
    next_probe_ms_ = now_ms + rng_.Uniform(config_.probe_interval_ms);
    next_gossip_ms_ = now_ms;
    next_join_ms_ = now_ms;
    next_sync_ms_ = now_ms + config_.sync_interval_ms;
    next_housekeeping_ms_ = now_ms + config_.housekeeping_ms;
    VELUM_ASSERT(next_probe_ms_ >= now_ms && next_sync_ms_ > now_ms);
    return;
  }
  // The driver's clock must be monotonic (steady_clock); a step back is a bug in the driver.
  VELUM_ASSERT(now_ms >= now_ms_);
  const uint64_t promised = NextDeadlineMs();
  now_ms_ = now_ms;
  if (!left_ && now_ms > SatAdd(promised, config_.pause_guard_ms)) OnTimeJump(now_ms - promised);
}

Output Membership::Finish() {
  VELUM_ASSERT(out_.messages.size() <= kMaxEnvelopesPerCall);
  // At most a joined and a suspected event per member touched: the table, or one message.
  VELUM_ASSERT(out_.events.size() <= 2 * members_.size() + 4 * kMaxJoinAckMembers);
  VELUM_ASSERT(live_count_ >= (left_ ? 0u : 1u) && live_count_ <= members_.size());
  VELUM_ASSERT(members_.size() <= config_.max_members);
  VELUM_ASSERT(live_count_ + tombstones_.size() + (left_ ? 1 : 0) == members_.size());
  VELUM_ASSERT(suspicions_.size() == deadlines_.size() && scheduled_.size() == deadlines_.size());
  VELUM_ASSERT(relays_.size() <= kMaxRelays && fast_probes_.size() <= kMaxFastProbes);
  VELUM_ASSERT(id_checks_.size() <= kMaxIdChecks);
  // At most one per claim handled: a message's records, or a page.
  VELUM_ASSERT(out_.notices.size() <= 2 + kMaxGossipPerMessage + kMaxJoinAckMembers);
  VELUM_ASSERT(me_->state == (left_ ? MemberState::kLeft : MemberState::kAlive));
  Output out = std::move(out_);
  out_ = Output{};
  return out;
}

void Membership::OnTimeJump(uint64_t gap_ms) {
  // We were asleep (SIGSTOP, swap, a stalled event loop): our timers ran without us gathering
  // evidence. Declaring every suspect dead now would be our fault, not theirs: shift instead.
  stats_.time_jumps++;
  std::vector<NodeId> ids;
  for (auto& [id, s] : suspicions_) {
    s.Shift(gap_ms);
    ids.push_back(id);
  }
  for (NodeId id : ids) Reschedule(id, suspicions_.at(id));
  probe_ = Probe{};
  next_probe_ms_ = now_ms_;
  relays_.clear();
  fast_probes_.clear();
  if (sync_.active) sync_.deadline_ms = now_ms_;
  // An id check that expired while we slept proves nothing: ask again.
  for (IdCheck& c : id_checks_) {
    c.deadline_ms = now_ms_ + config_.id_check_ms;
    Send(self_, c.addr, Ping{c.seq});
  }
  local_health_ = std::min(local_health_ + 1, config_.max_local_health);
  VELUM_ASSERT(!probe_.active && relays_.empty() && fast_probes_.empty());
  VELUM_ASSERT(suspicions_.size() == ids.size());
}

uint64_t Membership::ProbeIntervalMs() const {
  VELUM_ASSERT(local_health_ <= config_.max_local_health);
  return uint64_t{config_.probe_interval_ms} * (1 + local_health_);
}

uint64_t Membership::ProbeTimeoutMs() const {
  VELUM_ASSERT(local_health_ <= config_.max_local_health);
  return uint64_t{config_.probe_timeout_ms} * (1 + local_health_);
}

// ---------------------------------------------------------------------------------------------
// The rules. A claim about a member overrides ours when its incarnation is newer, or when it is
// equally new but more severe (alive < suspect < dead/left). Only the member itself raises its
// incarnation, so "alive" can only win with a higher number: that is a refutation.

// What is worth gossiping: a page holds old news to the mesh, and a beacon was heard by the
// whole segment (the rest learns it from the member's own messages and anti-entropy).
bool Membership::IsNews(Source src) { return src != Source::kSync && src != Source::kBeacon; }

void Membership::Apply(const Update& u, Source src, NodeId via) {
  if (u.id == kNoNode) return;
  if (u.id == self_) {
    ApplyAboutSelf(u);
    return;
  }
  auto it = members_.find(u.id);
  if (it == members_.end()) {
    // Bad news about a stranger is no use without its address, except in a full-state page,
    // where a tombstone stops stale gossip from resurrecting a member we never met.
    if (!IsLive(u.state) && src != Source::kSync) return;
    if (u.state == MemberState::kSuspect && src != Source::kSync) return;
    if (u.meta.gossip_addr.empty()) return;
    if (!MakeRoom()) {
      stats_.member_overflow++;
      return;
    }
    Member& m = members_[u.id];
    VELUM_ASSERT(members_.size() <= config_.max_members);
    m.id = u.id;
    m.incarnation = u.incarnation;
    m.state = u.state;
    m.meta = u.meta;
    m.state_since_ms = now_ms_;
    ids_dirty_ = true;
    if (!IsLive(m.state)) tombstones_.insert({now_ms_, m.id});
    if (IsLive(m.state)) {
      live_count_++;
      probe_order_.Add(m.id, &rng_);
      Emit(EventKind::kJoined, m);
    }
    if (m.state == MemberState::kSuspect) {
      StartSuspicion(m, u.suspecter != kNoNode ? u.suspecter : self_);
      Emit(EventKind::kSuspected, m);
    }
    if (IsNews(src)) Enqueue(m);
    return;
  }

  Member& m = it->second;
  if (ClaimsOtherAddress(m, u)) {
    // Two processes claim one id (or a member restarted elsewhere and its old process is not
    // yet found dead): the member we know stays, with its address. Ours is the view peers
    // share, so the claimant learns from our answers where the id lives (see Send), and a
    // restart is accepted as soon as the failure detector declares the old process dead.
    stats_.id_claims_held++;
    out_.notices.push_back(
        Notice{NoticeKind::kIdClaimedElsewhere, m.id, u.meta.gossip_addr, m.meta.gossip_addr});
    return;
  }
  // A page is another member's memory, not evidence: it may hold stale verdicts from the far
  // side of a healed partition. Only a newer incarnation in it changes what we know.
  if (src == Source::kSync && u.incarnation <= m.incarnation) return;
  const MemberState prev = m.state;
  switch (u.state) {
    case MemberState::kAlive: {
      if (u.incarnation > m.incarnation) {
        const bool meta_changed = !(m.meta == u.meta);
        Transition(&m, MemberState::kAlive, u.incarnation);
        m.meta = u.meta;
        if (prev == MemberState::kSuspect) {
          StopSuspicion(m.id);
          Emit(EventKind::kAlive, m);
        } else if (!IsLive(prev)) {
          live_count_++;
          probe_order_.Add(m.id, &rng_);
          Emit(EventKind::kJoined, m);
        } else if (meta_changed) {
          Emit(EventKind::kMetaChanged, m);
        }
        if (IsNews(src)) Enqueue(m);
      } else if (u.incarnation == m.incarnation &&
                 (src == Source::kDirect || src == Source::kBeacon) &&
                 prev == MemberState::kAlive && !(m.meta == u.meta)) {
        // Load changes ride in sender records without a new incarnation; only the member
        // itself is trusted with them.
        m.meta = u.meta;
        Emit(EventKind::kMetaChanged, m);
      }
      return;
    }
    case MemberState::kSuspect: {
      const bool newer = u.incarnation > m.incarnation;
      if ((prev == MemberState::kAlive && u.incarnation >= m.incarnation) ||
          (prev != MemberState::kAlive && newer)) {
        if (!IsLive(prev)) {
          // Back at a newer incarnation (we missed its "alive"), and already suspected again.
          live_count_++;
          probe_order_.Add(m.id, &rng_);
          Transition(&m, MemberState::kAlive, u.incarnation);
          if (!u.meta.gossip_addr.empty()) m.meta = u.meta;
          Emit(EventKind::kJoined, m);
        }
        Transition(&m, MemberState::kSuspect, u.incarnation);
        StartSuspicion(m, u.suspecter != kNoNode ? u.suspecter : self_);
        Emit(EventKind::kSuspected, m);
        if (IsNews(src)) Enqueue(m);
      } else if (prev == MemberState::kSuspect && u.incarnation == m.incarnation) {
        // An independent confirmation shortens our timer; passing it on shortens others'.
        auto s = suspicions_.find(m.id);
        VELUM_ASSERT(s != suspicions_.end());
        const NodeId who = u.suspecter != kNoNode ? u.suspecter : self_;
        if (s->second.Confirm(who)) {
          Reschedule(m.id, s->second);
          if (IsNews(src)) {
            Update c = RecordOf(m, false);
            c.suspecter = who;
            gossip_.Enqueue(c, now_ms_);
          }
        }
      }
      return;
    }
    case MemberState::kDead:
    case MemberState::kLeft: {
      // A relayed death verdict at the incarnation we hold alive may be stale: after a
      // partition heals, the far side still gossips verdicts about our side. Hearsay alone
      // does not kill a member we believed alive: we suspect it (so it hears and can refute)
      // and let our own timer decide; further verdicts only confirm. When we suspected it
      // already, the verdict is the expected end of that suspicion and is accepted.
      if (u.state == MemberState::kDead && src == Source::kGossip &&
          u.incarnation == m.incarnation) {
        const NodeId who = via != kNoNode ? via : self_;
        if (prev == MemberState::kAlive) {
          Transition(&m, MemberState::kSuspect, u.incarnation);
          StartSuspicion(m, who, /*contested=*/true);
          Emit(EventKind::kSuspected, m);
          Enqueue(m);
          return;
        }
        auto s = suspicions_.find(m.id);
        if (prev == MemberState::kSuspect && s != suspicions_.end() && s->second.contested()) {
          if (s->second.Confirm(who)) Reschedule(m.id, s->second);
          return;
        }
      }
      const bool accept =
          IsLive(prev) ? u.incarnation >= m.incarnation : u.incarnation > m.incarnation;
      if (!accept) return;
      if (prev == MemberState::kSuspect) StopSuspicion(m.id);
      if (IsLive(prev)) {
        VELUM_ASSERT(live_count_ > 1);
        live_count_--;
        probe_order_.Remove(m.id);
      }
      Transition(&m, u.state, u.incarnation);
      VELUM_ASSERT(!suspicions_.count(m.id) && !probe_order_.Contains(m.id));
      if (prev != u.state)
        Emit(u.state == MemberState::kDead ? EventKind::kDead : EventKind::kLeft, m);
      if (IsNews(src)) Enqueue(m);
      return;
    }
  }
}

void Membership::ApplyAboutSelf(const Update& u) {
  if (left_ || refused_) return;
  if (IsLive(u.state) && !u.meta.gossip_addr.empty() &&
      u.meta.gossip_addr != me_->meta.gossip_addr) {
    // The mesh holds our id at another address: another live process, or an earlier run of
    // ours that has not been found dead yet. A ping there tells them apart.
    StartIdCheck(u.meta.gossip_addr, u.incarnation);
    return;
  }
  // "Alive" with a higher number than ours: an earlier run of this id, which we must outbid.
  // Anything worse at our own number or above: a suspicion to refute. Older claims are stale.
  const bool refute = u.state == MemberState::kAlive ? u.incarnation > me_->incarnation
                                                     : u.incarnation >= me_->incarnation;
  if (!refute) return;
  if (u.state == MemberState::kSuspect || u.state == MemberState::kDead) {
    // Lifeguard: being suspected hints that we are the slow one; probe less eagerly.
    local_health_ = std::min(local_health_ + 1, config_.max_local_health);
  }
  Refute(u.incarnation);
}

void Membership::Refute(uint64_t claimed_incarnation) {
  VELUM_ASSERT(claimed_incarnation < UINT64_MAX - 1);
  if (claimed_incarnation < me_->incarnation) return;
  Transition(me_, MemberState::kAlive, claimed_incarnation + 1);
  VELUM_ASSERT(me_->incarnation > claimed_incarnation);  // outbids the claim it refutes
  stats_.refutations++;
  Enqueue(*me_);
}

bool Membership::ClaimsOtherAddress(const Member& m, const Update& u) const {
  return m.id != self_ && IsLive(m.state) && !u.meta.gossip_addr.empty() &&
         u.meta.gossip_addr != m.meta.gossip_addr;
}

bool Membership::InProbation() const {
  const uint64_t p = config_.id_probation_ms;
  return now_ms_ < started_ms_ + p || (joined_ms_ != 0 && now_ms_ < joined_ms_ + p);
}

void Membership::OnOwnIdMessage(const Message& msg) {
  // Authenticated, from our own id, at another address: another live process holds our id.
  const std::string& addr = msg.from.meta.gossip_addr;
  stats_.own_id_elsewhere++;
  out_.notices.push_back(Notice{NoticeKind::kOwnIdElsewhere, self_, addr, {}});
  if (const Ping* ping = std::get_if<Ping>(&msg.body)) {
    Send(self_, addr, Ack{ping->seq});  // it checks whether we are alive: we are
  } else if (const core::Join* join = std::get_if<core::Join>(&msg.body)) {
    HandleJoin(msg, *join);  // we are its seed: our table says who holds the id
  } else if (std::holds_alternative<Ack>(msg.body) || std::holds_alternative<JoinAck>(msg.body)) {
    // An answer to our id check or to our join: the other process was there first if we are
    // new. An established node keeps its id (the newcomer is the one that yields).
    if (InProbation()) {
      refused_ = true;
      refused_by_ = addr;
      id_checks_.clear();
    }
  }
}

void Membership::StartIdCheck(const std::string& addr, uint64_t claimed_incarnation) {
  for (IdCheck& c : id_checks_) {
    if (c.addr == addr) {
      c.claimed_incarnation = std::max(c.claimed_incarnation, claimed_incarnation);
      return;
    }
  }
  if (id_checks_.size() >= kMaxIdChecks || addr.size() > kMaxMetaString) return;
  const uint64_t seq = ++seq_;
  id_checks_.push_back(IdCheck{addr, seq, now_ms_ + config_.id_check_ms, claimed_incarnation});
  Send(self_, addr, Ping{seq});
}

void Membership::TickIdChecks() {
  for (size_t i = 0; i < id_checks_.size();) {
    if (now_ms_ < id_checks_[i].deadline_ms) {
      ++i;
      continue;
    }
    // Nobody answered there: an earlier run of ours, which we outbid like any stale claim.
    Refute(id_checks_[i].claimed_incarnation);
    id_checks_.erase(id_checks_.begin() + static_cast<ptrdiff_t>(i));
  }
}

void Membership::Transition(Member* m, MemberState state, uint64_t incarnation) {
  const MemberState from = m->state;
  // Incarnations never go back; dead and left members, and "alive" news, need a newer number;
  // a suspicion renews only at a newer number (confirmations do not go through here).
  VELUM_ASSERT(incarnation >= m->incarnation);
  if (!IsLive(from)) VELUM_ASSERT(incarnation > m->incarnation);
  if (from == state) VELUM_ASSERT(incarnation > m->incarnation);
  if (m->id == self_) {
    VELUM_ASSERT(state == MemberState::kAlive || state == MemberState::kLeft);
    VELUM_ASSERT(incarnation > m->incarnation);
  }
  if (!IsLive(from) && m->id != self_) tombstones_.erase({m->state_since_ms, m->id});
  m->state = state;
  m->incarnation = incarnation;
  m->state_since_ms = now_ms_;
  if (!IsLive(state) && m->id != self_) tombstones_.insert({now_ms_, m->id});
}

bool Membership::MakeRoom() {
  if (members_.size() < config_.max_members) return true;
  // Full: forget the oldest tombstone. Live members are never evicted for strangers.
  if (tombstones_.empty()) return false;
  const NodeId oldest = tombstones_.begin()->second;
  VELUM_ASSERT(oldest != self_ && !IsLive(members_.at(oldest).state));
  tombstones_.erase(tombstones_.begin());
  members_.erase(oldest);
  ids_dirty_ = true;
  VELUM_ASSERT(members_.size() < config_.max_members);
  return true;
}

void Membership::Emit(EventKind kind, const Member& m) {
  VELUM_ASSERT(m.id != self_ && members_.count(m.id));
  out_.events.push_back(Event{kind, m.id, m.incarnation});
}

Update Membership::RecordOf(const Member& m, bool with_meta) const {
  Update u;
  u.id = m.id;
  u.incarnation = m.incarnation;
  u.state = m.state;
  if (with_meta) u.meta = m.meta;
  if (m.state == MemberState::kSuspect) {
    auto s = suspicions_.find(m.id);
    u.suspecter = s != suspicions_.end() ? s->second.first() : self_;
    VELUM_ASSERT(u.suspecter != kNoNode);
  }
  return u;
}

void Membership::Enqueue(const Member& m) {
  // Only "alive" needs the metadata: bad news is useless to whoever does not know the member.
  VELUM_ASSERT(m.id != kNoNode && !left_);
  gossip_.Enqueue(RecordOf(m, m.state == MemberState::kAlive), now_ms_);
}

void Membership::Suspect(Member* m, NodeId suspecter, Source src) {
  VELUM_ASSERT(IsLive(m->state) && m->id != self_);
  if (m->state == MemberState::kAlive) stats_.suspicions++;
  Update u = RecordOf(*m, false);
  u.state = MemberState::kSuspect;
  u.suspecter = suspecter;
  Apply(u, src);
  VELUM_ASSERT(IsLive(m->state));  // suspected, never declared dead by hearsay of ours
}

// ---------------------------------------------------------------------------------------------
// Suspicion timers.

void Membership::StartSuspicion(const Member& m, NodeId suspecter, bool contested) {
  VELUM_ASSERT(m.state == MemberState::kSuspect && m.id != self_ && suspecter != kNoNode);
  StopSuspicion(m.id);
  const uint64_t n = live_count_;
  const uint32_t k =
      n > 2 ? static_cast<uint32_t>(std::min<uint64_t>(config_.suspicion_confirmations, n - 2)) : 0;
  Suspicion s(suspecter, now_ms_, SuspicionMinMs(config_, n), SuspicionMaxMs(config_, n), k);
  if (contested) s.set_contested();
  // We count as a confirmer too when our own probes fail later.
  auto [it, inserted] = suspicions_.emplace(m.id, s);
  VELUM_ASSERT(inserted);
  Reschedule(m.id, it->second);
}

void Membership::StopSuspicion(NodeId id) {
  auto it = scheduled_.find(id);
  if (it == scheduled_.end()) {
    VELUM_ASSERT(suspicions_.count(id) == 0);
    return;
  }
  deadlines_.erase({it->second, id});
  scheduled_.erase(it);
  suspicions_.erase(id);
  VELUM_ASSERT(suspicions_.size() == scheduled_.size() && scheduled_.size() == deadlines_.size());
}

void Membership::Reschedule(NodeId id, const Suspicion& s) {
  VELUM_ASSERT(suspicions_.count(id));
  auto it = scheduled_.find(id);
  if (it != scheduled_.end()) deadlines_.erase({it->second, id});
  const uint64_t d = s.Deadline();
  deadlines_.insert({d, id});
  scheduled_[id] = d;
  VELUM_ASSERT(scheduled_.size() == deadlines_.size());
}

void Membership::TickSuspicions() {
  // Each step removes one suspicion, so the loop is bounded by the table.
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ms_) {
    const NodeId id = deadlines_.begin()->second;
    Member& m = members_.at(id);
    VELUM_ASSERT(m.state == MemberState::kSuspect);
    Update u = RecordOf(m, false);
    u.state = MemberState::kDead;
    u.suspecter = kNoNode;
    stats_.declared_dead++;
    Apply(u, Source::kLocal);
    VELUM_ASSERT(m.state == MemberState::kDead && suspicions_.count(id) == 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Sending.

void Membership::Send(NodeId to, const std::string& addr, Body body) {
  // `to` may be our own id: a process at another address that claims it is checked by pinging
  // it (duplicate ids, a restart elsewhere); the address, never the id, says where it goes.
  VELUM_ASSERT(out_.messages.size() < kMaxEnvelopesPerCall);
  Envelope e;
  e.to = to;
  e.to_addr = addr;
  e.msg.from = RecordOf(*me_, true);
  e.msg.to = to;
  e.msg.body = std::move(body);
  if (!left_) {
    // Lifeguard's buddy system: a member we suspect (or hold dead) hears it from us first,
    // so it can refute at once instead of waiting for the news to reach it.
    auto it = members_.find(to);
    if (it != members_.end() && to != self_ && IsLive(it->second.state) &&
        addr != it->second.meta.gossip_addr) {
      // An answer to a process that claims a live member's id: where that member is. A
      // duplicate learns so that its id is taken; a restart elsewhere, that it must wait.
      e.msg.gossip.push_back(RecordOf(it->second, true));
    } else if (it != members_.end() && to != self_ &&
               (it->second.state == MemberState::kSuspect ||
                it->second.state == MemberState::kDead)) {
      e.msg.gossip.push_back(RecordOf(it->second, false));
    }
    const size_t room = kMaxGossipPerMessage - e.msg.gossip.size();
    gossip_.Select(room, RetransmitLimit(config_, live_count_), to, now_ms_,
                   config_.gossip_max_age_ms, &e.msg.gossip);
  }
  VELUM_ASSERT(e.msg.gossip.size() <= kMaxGossipPerMessage);
  stats_.sent[e.msg.body.index()]++;
  stats_.gossip_updates_sent += e.msg.gossip.size();
  out_.messages.push_back(std::move(e));
}

void Membership::SendTo(const Member& m, Body body) {
  VELUM_ASSERT(m.id != self_);
  Send(m.id, m.meta.gossip_addr, std::move(body));
}

// ---------------------------------------------------------------------------------------------
// Probing.

void Membership::HandleAck(const Message& msg, const Ack& ack) {
  const NodeId from = msg.from.id;
  VELUM_ASSERT(from != kNoNode && from != self_ && !left_);  // OnMessage dropped the others
  if (probe_.active && ack.seq == probe_.seq && from == probe_.target) {
    FinishProbe(true);
    return;
  }
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->seq == ack.seq && it->target == from) {
      Send(it->requester, it->requester_addr, IndirectAck{it->requester_seq, it->target});
      relays_.erase(it);
      return;
    }
  }
  VELUM_ASSERT(relays_.size() <= kMaxRelays);
}

void Membership::HandlePingReq(const Message& msg, const PingReq& req) {
  // Relayed even if we hold the target dead: our ping tells it so, and a live one refutes.
  auto it = members_.find(req.target);
  if (req.target == self_ || it == members_.end() || it->second.state == MemberState::kLeft) return;
  if (relays_.size() >= kMaxRelays) {
    stats_.relay_overflow++;
    return;
  }
  // Lifeguard: answer with a Nack a little before the requester gives up.
  const uint64_t deadline = now_ms_ + config_.probe_timeout_ms * 4 / 5;
  VELUM_ASSERT(relays_.empty() || relays_.back().deadline_ms <= deadline);
  const uint64_t seq = ++seq_;
  relays_.push_back(
      Relay{seq, msg.from.id, msg.from.meta.gossip_addr, req.seq, req.target, deadline});
  VELUM_ASSERT(relays_.size() <= kMaxRelays);
  SendTo(it->second, Ping{seq});
}

void Membership::TickRelays() {
  while (!relays_.empty() && relays_.front().deadline_ms <= now_ms_) {
    const Relay& r = relays_.front();
    Send(r.requester, r.requester_addr, Nack{r.requester_seq, r.target});
    relays_.pop_front();
  }
  VELUM_ASSERT(relays_.empty() || relays_.front().deadline_ms > now_ms_);
}

void Membership::TickFastProbes() {
  for (size_t i = 0; i < fast_probes_.size();) {
    FastProbe& f = fast_probes_[i];
    auto it = members_.find(f.peer);
    if (now_ms_ >= f.until_ms || it == members_.end() ||
        it->second.state != MemberState::kSuspect) {
      fast_probes_[i] = fast_probes_.back();
      fast_probes_.pop_back();
      continue;
    }
    if (now_ms_ >= f.next_ping_ms) {
      SendTo(it->second, Ping{++seq_});
      f.next_ping_ms = now_ms_ + config_.probe_timeout_ms;
    }
    ++i;
  }
  for (const FastProbe& f : fast_probes_)
    VELUM_ASSERT(f.next_ping_ms > now_ms_ && f.until_ms > now_ms_);
}

void Membership::TickProbe() {
  if (probe_.active && !probe_.indirect && now_ms_ >= probe_.direct_deadline_ms) {
    SendIndirectProbes();
  }
  if (probe_.active && now_ms_ >= probe_.end_ms) FinishProbe(false);
  if (!probe_.active && now_ms_ >= next_probe_ms_) {
    next_probe_ms_ = now_ms_ + ProbeIntervalMs();
    StartProbe();
  }
  VELUM_ASSERT(next_probe_ms_ > now_ms_ && (!probe_.active || probe_.end_ms > now_ms_));
}

void Membership::SendIndirectProbes() {
  auto t = members_.find(probe_.target);
  if (t == members_.end() || !IsLive(t->second.state)) {
    probe_ = Probe{};  // declared dead or left meanwhile: nothing left to find out
    return;
  }
  probe_.indirect = true;
  stats_.indirect_probes++;
  // k helpers, and a second direct ping: one lost datagram should not cost a suspicion.
  std::vector<NodeId> helpers;
  for (uint32_t i = 0; i < 2 * config_.indirect_probes && helpers.size() < config_.indirect_probes;
       ++i) {
    const NodeId h = probe_order_.Random(&rng_, self_, probe_.target);
    if (h == kNoNode) break;
    if (std::find(helpers.begin(), helpers.end(), h) == helpers.end()) helpers.push_back(h);
  }
  for (NodeId h : helpers) {
    const Member& helper = members_.at(h);
    if (helper.state != MemberState::kAlive) continue;
    SendTo(helper, PingReq{probe_.seq, probe_.target});
    probe_.expected_nacks++;
  }
  VELUM_ASSERT(probe_.expected_nacks <= config_.indirect_probes);
  SendTo(t->second, Ping{probe_.seq});
}

void Membership::StartProbe() {
  const NodeId id = probe_order_.Next(&rng_);
  if (id == kNoNode) return;
  const Member& m = members_.at(id);
  VELUM_ASSERT(id != self_ && IsLive(m.state));
  probe_ = Probe{};
  probe_.active = true;
  probe_.target = id;
  probe_.incarnation = m.incarnation;
  probe_.seq = ++seq_;
  probe_.direct_deadline_ms = now_ms_ + ProbeTimeoutMs();
  probe_.end_ms = next_probe_ms_;
  VELUM_ASSERT(probe_.direct_deadline_ms < probe_.end_ms);
  stats_.probes++;
  SendTo(m, Ping{probe_.seq});
}

void Membership::FinishProbe(bool acked) {
  VELUM_ASSERT(probe_.active);
  const Probe p = probe_;
  probe_ = Probe{};
  VELUM_ASSERT(p.target != self_ && p.target != kNoNode);
  if (acked) {
    if (local_health_ > 0) local_health_--;
    return;
  }
  stats_.probe_failures++;
  // Lifeguard: helpers that did not even send a Nack suggest the trouble is on our side.
  if (p.nacks < p.expected_nacks) {
    local_health_ = std::min(local_health_ + 1, config_.max_local_health);
  }
  auto it = members_.find(p.target);
  if (it == members_.end() || !IsLive(it->second.state)) return;
  if (it->second.incarnation != p.incarnation) return;  // it refuted meanwhile
  Suspect(&it->second, self_, Source::kLocal);
}

// ---------------------------------------------------------------------------------------------
// Dissemination beyond piggybacking: while there is news, a few random members get it.

void Membership::TickGossip() {
  if (now_ms_ < next_gossip_ms_) return;
  next_gossip_ms_ = now_ms_ + config_.gossip_interval_ms;
  VELUM_ASSERT(next_gossip_ms_ > now_ms_);
  if (gossip_.empty()) return;
  std::vector<NodeId> picked;
  for (uint32_t i = 0; i < config_.gossip_fanout * 2 && picked.size() < config_.gossip_fanout;
       ++i) {
    const NodeId id = probe_order_.Random(&rng_, self_, kNoNode);
    if (id == kNoNode) break;
    if (std::find(picked.begin(), picked.end(), id) == picked.end()) picked.push_back(id);
  }
  VELUM_ASSERT(picked.size() <= config_.gossip_fanout);
  for (NodeId id : picked) {
    if (gossip_.empty()) break;
    SendTo(members_.at(id), Gossip{});
  }
}

// ---------------------------------------------------------------------------------------------
// Joining and anti-entropy.

bool Membership::NeedJoin() const { return !joined_ || live_count_ == 1; }

const std::vector<NodeId>& Membership::SortedIds() {
  if (ids_dirty_) {
    sorted_ids_.clear();
    for (const auto& [id, m] : members_) sorted_ids_.push_back(id);
    std::sort(sorted_ids_.begin(), sorted_ids_.end());
    ids_dirty_ = false;
  }
  VELUM_ASSERT(sorted_ids_.size() == members_.size());
  return sorted_ids_;
}

uint64_t Membership::Digest(std::vector<NodeId>::const_iterator begin,
                            std::vector<NodeId>::const_iterator end) const {
  // Over (id, incarnation, state): metadata is left out, since load changes without an
  // incarnation and would make every page differ.
  auto mix = [](uint64_t h, uint64_t x) {
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
  };
  VELUM_ASSERT(begin <= end);
  uint64_t h = 0;
  for (auto it = begin; it != end; ++it) {
    const Member& m = members_.at(*it);
    h = mix(h, m.id);
    h = mix(h, m.incarnation);
    h = mix(h, static_cast<uint64_t>(m.state));
  }
  return h;
}

void Membership::HandleJoin(const Message& msg, const core::Join& join) {
  const std::vector<NodeId>& ids = SortedIds();
  auto it = std::lower_bound(ids.begin(), ids.end(), join.cursor);
  JoinAck ack;
  ack.seq = join.seq;
  if (join.summary) {
    // Pages are cut at every kMaxJoinAckMembers-th id from the cursor; each digest covers
    // one page, and the requester digests its own ids in the same ranges.
    while (it != ids.end() && ack.ranges.size() < kMaxSummaryRanges) {
      auto end = it + std::min<ptrdiff_t>(kMaxJoinAckMembers, ids.end() - it);
      ack.ranges.push_back(RangeDigest{*it, Digest(it, end)});
      it = end;
    }
  } else {
    for (; it != ids.end() && ack.members.size() < kMaxJoinAckMembers; ++it) {
      ack.members.push_back(RecordOf(members_.at(*it), true));
    }
  }
  ack.done = it == ids.end();
  ack.next_cursor = ack.done ? 0 : *it;
  VELUM_ASSERT(ack.ranges.size() <= kMaxSummaryRanges && ack.members.size() <= kMaxJoinAckMembers);
  VELUM_ASSERT(ack.done || ack.next_cursor >= join.cursor);  // the walk moves forward
  Send(msg.from.id, msg.from.meta.gossip_addr, std::move(ack));
}

void Membership::HandleJoinAck(const Message& msg, const JoinAck& ack) {
  const size_t n = std::min(ack.members.size(), kMaxJoinAckMembers);
  for (size_t i = 0; i < n; ++i) Apply(ack.members[i], Source::kSync);
  VELUM_ASSERT(members_.size() <= config_.max_members);
  if (!sync_.active || ack.seq != sync_.seq) return;  // late or duplicated: facts only
  if (sync_.peer == kNoNode) sync_.peer = msg.from.id;
  sync_.attempts = 0;
  if (sync_.summary) {
    HandleSummary(ack);
  } else if (sync_.full) {
    // Remote input: a cursor that does not move forward ends the walk rather than looping.
    if (ack.done || ack.next_cursor <= sync_.cursor) {
      sync_.active = false;
      if (!joined_ && joined_ms_ == 0) joined_ms_ = now_ms_;
      joined_ = true;
      stats_.joins_completed++;
      return;
    }
    sync_.cursor = ack.next_cursor;
    SendSyncRequest();
    return;
  }
  if (sync_.fetch.empty()) {
    sync_.active = false;
    return;
  }
  sync_.cursor = sync_.fetch.back();
  sync_.fetch.pop_back();
  SendSyncRequest();
}

void Membership::HandleSummary(const JoinAck& ack) {
  // Compare the peer's page digests with ours over the same id ranges; queue the pages that
  // differ. The walk resumes after these ranges next round, and wraps around at the end.
  const std::vector<NodeId>& ids = SortedIds();
  const size_t count = std::min(ack.ranges.size(), kMaxSummaryRanges);
  NodeId prev = sync_.cursor;
  for (size_t i = 0; i < count; ++i) {
    const NodeId lo = ack.ranges[i].start;
    if (lo < prev) break;  // remote input out of order: ignore the rest
    prev = lo;
    auto b = std::lower_bound(ids.begin(), ids.end(), lo);
    auto e = ids.end();
    if (i + 1 < count) {
      e = std::lower_bound(b, ids.end(), ack.ranges[i + 1].start);
    } else if (!ack.done) {
      e = std::lower_bound(b, ids.end(), ack.next_cursor);
    }
    if (Digest(b, e) != ack.ranges[i].digest && sync_.fetch.size() < config_.sync_pages_per_round) {
      sync_.fetch.push_back(lo);
    }
  }
  std::reverse(sync_.fetch.begin(), sync_.fetch.end());  // fetched from the back: id order
  ae_cursor_ = ack.done || ack.next_cursor <= sync_.cursor ? 0 : ack.next_cursor;
  sync_.summary = false;
  VELUM_ASSERT(sync_.fetch.size() <= config_.sync_pages_per_round);
}

void Membership::StartSync(bool full, NodeId peer, const std::string& addr) {
  sync_ = Sync{};
  sync_.active = true;
  sync_.full = full;
  sync_.peer = peer;
  sync_.addr = addr;
  sync_.cursor = full ? 0 : ae_cursor_;
  sync_.summary = !full;
  SendSyncRequest();
  VELUM_ASSERT(sync_.active && sync_.deadline_ms > now_ms_);
}

void Membership::SendSyncRequest() {
  VELUM_ASSERT(sync_.active);
  sync_.seq = ++seq_;
  sync_.deadline_ms = now_ms_ + config_.join_retry_ms;
  std::string addr = sync_.addr;
  if (sync_.peer != kNoNode) {
    auto it = members_.find(sync_.peer);
    if (it != members_.end()) addr = it->second.meta.gossip_addr;
  }
  VELUM_ASSERT(sync_.deadline_ms > now_ms_);
  Send(sync_.peer, addr, core::Join{sync_.seq, sync_.cursor, sync_.summary});
}

void Membership::TickSync() {
  VELUM_ASSERT(seeds_.size() <= kMaxSeeds);
  if (sync_.active) {
    if (now_ms_ < sync_.deadline_ms) return;
    if (++sync_.attempts < kSyncAttempts) {
      SendSyncRequest();
      return;
    }
    // That peer is gone or unreachable: try another one at the next join time.
    if (sync_.peer == kNoNode) {
      stats_.seeds_silent++;
      out_.notices.push_back(Notice{NoticeKind::kSeedSilent, kNoNode, sync_.addr, {}});
    }
    sync_.active = false;
    next_join_ms_ = now_ms_;
  }
  if (NeedJoin()) {
    if (now_ms_ < next_join_ms_) return;
    next_join_ms_ = now_ms_ + config_.join_interval_ms;
    // Anyone we already know (from a beacon, or a partial join) can serve the pages; a seed
    // address otherwise, in turn.
    const NodeId peer = probe_order_.Random(&rng_, self_, kNoNode);
    if (peer != kNoNode) {
      StartSync(true, peer, members_.at(peer).meta.gossip_addr);
    } else if (!seeds_.empty()) {
      StartSync(true, kNoNode, seeds_[next_seed_++ % seeds_.size()]);
    }
    return;
  }
  if (now_ms_ < next_sync_ms_) return;
  next_sync_ms_ = now_ms_ + config_.sync_interval_ms;
  const NodeId peer = probe_order_.Random(&rng_, self_, kNoNode);
  if (peer != kNoNode && members_.at(peer).state == MemberState::kAlive) {
    StartSync(false, peer, members_.at(peer).meta.gossip_addr);
  }
}

// ---------------------------------------------------------------------------------------------
// Housekeeping: tombstones and partitions.

void Membership::TickHousekeeping() {
  if (now_ms_ < next_housekeeping_ms_) return;
  next_housekeeping_ms_ = now_ms_ + config_.housekeeping_ms;
  // Reap old tombstones, oldest first.
  while (!tombstones_.empty() && now_ms_ >= tombstones_.begin()->first + config_.dead_reap_ms) {
    const NodeId id = tombstones_.begin()->second;
    VELUM_ASSERT(id != self_ && !IsLive(members_.at(id).state));
    tombstones_.erase(tombstones_.begin());
    members_.erase(id);
    ids_dirty_ = true;
  }
  VELUM_ASSERT(tombstones_.empty() || tombstones_.begin()->first + config_.dead_reap_ms > now_ms_);
  // Both sides of a healed partition hold each other dead and never probe the dead: a ping
  // with the buddy update "you are dead" makes the other side refute, and the two re-merge.
  std::vector<NodeId> dead;
  for (const auto& [since, id] : tombstones_) {
    if (members_.at(id).state == MemberState::kDead) dead.push_back(id);
  }
  if (dead.empty()) return;
  SendTo(members_.at(dead[rng_.Uniform(dead.size())]), Ping{++seq_});
}

void Membership::PublishMeta() {
  if (!meta_pending_) return;
  if (!meta_needs_bump_ && now_ms_ < next_load_bump_ms_) return;
  // Load alone changes all the time: its gossip rate is bounded mesh-wide (about 10
  // changes a second whatever n), the rest of the time it rides in sender records only.
  const uint64_t scale = std::max<uint64_t>(1, live_count_ / 10);
  next_load_bump_ms_ = now_ms_ + config_.load_gossip_ms * scale;
  meta_pending_ = false;
  meta_needs_bump_ = false;
  Transition(me_, MemberState::kAlive, me_->incarnation + 1);
  Enqueue(*me_);
  VELUM_ASSERT(!meta_pending_ && next_load_bump_ms_ > now_ms_);
}

}  // namespace velum::core
