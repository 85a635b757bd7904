// The simulator's event loop: one priority queue of deliveries, ticks, beacons and link resets
// in virtual time. Nodes are ticked exactly at the deadlines their cores ask for.
#include "tests/sim/sim_network.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "core/assert.h"
#include "wire/codec.h"

namespace velum::sim {

namespace {
constexpr uint32_t kTcpBase = 8000;
constexpr uint32_t kUdpBase = 20000;
// A core asking to be ticked again and again at the same instant is a livelock bug.
constexpr uint64_t kMaxTicksPerInstant = 64;

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x = (x ^ (x >> 31)) * 0x7fb5d329728ea185ULL;
  return x ^ (x >> 27);
}
}  // namespace

SimNetwork::SimNetwork(SimOptions options) : options_(options), rng_(options.seed) {}

SimNetwork::~SimNetwork() = default;

std::string SimNetwork::Addr(NodeId id) { return "127.0.0.1:" + std::to_string(kTcpBase + id); }

std::string SimNetwork::GossipAddr(NodeId id) {
  return "127.0.0.1:" + std::to_string(kUdpBase + id);
}

core::NodeMeta SimNetwork::MetaFor(NodeId id) {
  core::NodeMeta meta;
  meta.addr = Addr(id);
  meta.gossip_addr = GossipAddr(id);
  meta.slots = 1 + id % 4;
  meta.engines = core::kEngineInterp | core::kEngineAot;
  meta.version = "0.1.0";
  return meta;
}

NodeId SimNetwork::IdOfAddr(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  VELUM_ASSERT(colon != std::string::npos);
  uint32_t port = 0;
  auto [p, ec] = std::from_chars(addr.data() + colon + 1, addr.data() + addr.size(), port);
  VELUM_ASSERT(ec == std::errc());
  if (port >= kUdpBase) return port - kUdpBase;
  VELUM_ASSERT(port > kTcpBase);
  return port - kTcpBase;
}

SimNetwork::Node* SimNetwork::Find(NodeId id) { return id < nodes_.size() ? &nodes_[id] : nullptr; }

const SimNetwork::Node* SimNetwork::Find(NodeId id) const {
  return id < nodes_.size() ? &nodes_[id] : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

void SimNetwork::Start(NodeId id, const std::vector<NodeId>& seeds,
                       std::optional<uint64_t> incarnation) {
  VELUM_ASSERT(id >= 1 && id <= kMaxId);
  if (nodes_.size() <= id) nodes_.resize(id + 1);
  VELUM_ASSERT(!nodes_[id].running);
  Boot(id, seeds, incarnation);
}

void SimNetwork::Restart(NodeId id, const std::vector<NodeId>& seeds,
                         std::optional<uint64_t> incarnation) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr);
  if (n->running) Crash(id);
  Boot(id, seeds, incarnation);
}

void SimNetwork::Boot(NodeId id, const std::vector<NodeId>& seeds,
                      std::optional<uint64_t> incarnation) {
  Node& n = nodes_[id];
  n.gen++;
  core::Config config = options_.config;
  config.initial_incarnation = incarnation.value_or(now_ + 1);
  n.m = std::make_unique<core::Membership>(id, MetaFor(id), config,
                                           Mix(options_.seed, Mix(id, n.gen)));
  n.running = true;
  n.paused = false;
  n.left = false;
  n.next_tick = UINT64_MAX;
  n.start_incarnation = config.initial_incarnation;
  n.inbox.clear();
  Process(id, n.m->Tick(now_));
  for (NodeId s : seeds) {
    if (s != id) Process(id, n.m->Join(Addr(s), now_));
  }
  // Beacons at a random phase, like processes started by hand.
  Push(now_ + rng_.Uniform(options_.beacon_interval_ms), Kind::kBeacon, id, 0, n.gen, {});
}

void SimNetwork::Crash(NodeId id, bool reset_links) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr && n->running);
  n->m.reset();
  n->running = false;
  n->paused = false;
  n->inbox.clear();
  n->next_tick = UINT64_MAX;
  n->gen++;
  if (!reset_links) return;
  for (NodeId o = 1; o < nodes_.size(); ++o) {
    const Node& on = nodes_[o];
    if (o == id || !on.running || on.group != n->group) continue;
    Push(now_ + Latency(), Kind::kLinkDown, o, id, on.gen, {});
  }
}

void SimNetwork::Pause(NodeId id) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr && n->running && !n->paused);
  n->paused = true;
}

void SimNetwork::Resume(NodeId id) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr && n->running && n->paused);
  n->paused = false;
  std::vector<std::string> inbox;
  inbox.swap(n->inbox);
  for (const std::string& bytes : inbox) Deliver(id, bytes);
  n->next_tick = UINT64_MAX;
  Process(id, n->m->Tick(now_));
}

void SimNetwork::Leave(NodeId id) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr && n->running && !n->paused);
  n->left = true;
  Process(id, n->m->Leave(now_));
}

void SimNetwork::UpdateMeta(NodeId id, const core::NodeMeta& meta) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr && n->running);
  n->m->UpdateLocalMeta(meta);
  Schedule(id);
}

void SimNetwork::Partition(const std::vector<std::vector<NodeId>>& groups) {
  for (Node& n : nodes_) n.group = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (NodeId id : groups[g]) {
      VELUM_ASSERT(id < nodes_.size());
      nodes_[id].group = static_cast<uint32_t>(g + 1);
    }
  }
}

void SimNetwork::Heal() {
  for (Node& n : nodes_) n.group = 0;
}

void SimNetwork::CutUnicast(NodeId id, bool cut) {
  Node* n = Find(id);
  VELUM_ASSERT(n != nullptr);
  n->unicast_cut = cut;
}

// ---------------------------------------------------------------------------------------------
// The event loop.

void SimNetwork::Push(uint64_t time, Kind kind, NodeId node, NodeId peer, uint32_t gen,
                      std::string bytes) {
  queue_.push(Item{time, order_++, kind, node, peer, gen, std::move(bytes)});
}

uint64_t SimNetwork::Latency() {
  const LinkModel& l = options_.link;
  uint64_t d = l.latency_min_ms + rng_.Uniform(l.latency_max_ms - l.latency_min_ms + 1);
  if (l.tail > 0 && rng_.Chance(l.tail)) d += rng_.Uniform(l.tail_max_ms + 1);
  return d;
}

void SimNetwork::RunUntil(uint64_t time_ms) {
  VELUM_ASSERT(time_ms >= now_);
  while (!queue_.empty() && queue_.top().time <= time_ms) {
    Item item = std::move(const_cast<Item&>(queue_.top()));
    queue_.pop();
    VELUM_ASSERT(item.time >= now_);
    now_ = item.time;
    Dispatch(item);
  }
  now_ = time_ms;
}

std::optional<uint64_t> SimNetwork::RunUntilTrue(const std::function<bool()>& pred,
                                                 uint64_t limit_ms, uint64_t every_ms) {
  const uint64_t end = now_ + limit_ms;
  if (pred()) return now_;
  while (now_ < end) {
    RunUntil(std::min(end, now_ + every_ms));
    if (pred()) return now_;
  }
  return std::nullopt;
}

void SimNetwork::Dispatch(Item& item) {
  Node* n = Find(item.node);
  VELUM_ASSERT(n != nullptr);
  switch (item.kind) {
    case Kind::kDeliver:
      if (!n->running || n->group != nodes_[item.peer].group) return;  // nobody listens
      if (n->paused) {
        if (n->inbox.size() < options_.inbox_limit) n->inbox.push_back(std::move(item.bytes));
        return;
      }
      Deliver(item.node, item.bytes);
      return;
    case Kind::kTick:
      if (!n->running || n->paused || item.gen != n->gen || item.time != n->next_tick) return;
      n->next_tick = UINT64_MAX;
      if (n->last_tick_time == now_) {
        VELUM_ASSERT(++n->ticks_at_now < kMaxTicksPerInstant);
      } else {
        n->last_tick_time = now_;
        n->ticks_at_now = 0;
      }
      Process(item.node, n->m->Tick(now_));
      return;
    case Kind::kBeacon:
      if (!n->running || item.gen != n->gen) return;  // this process is gone: no more beacons
      if (!n->paused && !n->left) Beacon(item.node);
      Push(now_ + options_.beacon_interval_ms, Kind::kBeacon, item.node, 0, item.gen, {});
      return;
    case Kind::kLinkDown:
      if (!n->running || n->paused || item.gen != n->gen) return;
      Process(item.node, n->m->OnLinkDown(item.peer, now_));
      return;
  }
}

void SimNetwork::Deliver(NodeId id, const std::string& bytes) {
  core::Message msg;
  // Everything on the wire came from a core through Encode: it must decode.
  VELUM_ASSERT(wire::Decode(bytes, &msg));
  messages_delivered_++;
  Process(id, nodes_[id].m->OnMessage(msg, now_));
}

void SimNetwork::Beacon(NodeId id) {
  if (!options_.beacons) return;
  const core::Member& self = nodes_[id].m->self();
  const std::string bytes = wire::EncodeBeacon(wire::Beacon{id, self.incarnation, self.meta});
  wire::Beacon b;
  VELUM_ASSERT(wire::DecodeBeacon(bytes, &b));
  const uint32_t group = nodes_[id].group;
  // A broadcast: one datagram, heard by every listening process of the segment.
  beacon_bytes_ += bytes.size();
  beacons_sent_++;
  for (NodeId o = 1; o < nodes_.size(); ++o) {
    Node& on = nodes_[o];
    if (o == id || !on.running || on.paused || on.group != group) continue;
    if (rng_.Chance(options_.link.loss)) continue;
    Process(o, on.m->OnBeacon(b.id, b.meta, b.incarnation, now_));
  }
}

void SimNetwork::Process(NodeId id, core::Output out) {
  Node& n = nodes_[id];
  for (const core::Event& e : out.events) {
    events_.push_back(Observed{now_, id, e});
    const Node* s = Find(e.id);
    const bool subject_live = s != nullptr && s->running && !s->paused && !s->left &&
                              s->group == n.group && e.incarnation >= s->start_incarnation;
    if (e.kind == core::EventKind::kDead && subject_live) false_deaths_++;
    if (e.kind == core::EventKind::kSuspected && subject_live) false_suspicions_++;
  }
  for (core::Envelope& env : out.messages) {
    const std::string bytes = wire::Encode(env.msg);
    VELUM_ASSERT(bytes.size() <= wire::kMaxMessageBytes);
    bytes_sent_ += bytes.size();
    messages_sent_++;
    max_message_bytes_ = std::max<uint64_t>(max_message_bytes_, bytes.size());
    const NodeId to = IdOfAddr(env.to_addr);
    VELUM_ASSERT(env.to == core::kNoNode || env.to == to);
    const Node* t = Find(to);
    if (t == nullptr || t->group != n.group || n.unicast_cut || t->unicast_cut) continue;
    if (rng_.Chance(options_.link.loss)) continue;
    Push(now_ + Latency(), Kind::kDeliver, to, id, 0, bytes);
    if (options_.link.duplicate > 0 && rng_.Chance(options_.link.duplicate)) {
      Push(now_ + Latency(), Kind::kDeliver, to, id, 0, bytes);
    }
  }
  if (n.running) Schedule(id);
}

void SimNetwork::Schedule(NodeId id) {
  Node& n = nodes_[id];
  if (!n.running || n.paused) return;
  uint64_t t = n.m->NextDeadlineMs();
  if (t == UINT64_MAX) return;
  t = std::max(t, now_);
  if (t >= n.next_tick) return;
  n.next_tick = t;
  Push(t, Kind::kTick, id, 0, n.gen, {});
}

// ---------------------------------------------------------------------------------------------
// Observation.

bool SimNetwork::Live(NodeId id) const {
  const Node* n = Find(id);
  return n != nullptr && n->running && !n->paused && !n->left;
}

std::vector<NodeId> SimNetwork::LiveIds() const {
  std::vector<NodeId> ids;
  for (NodeId id = 1; id < nodes_.size(); ++id) {
    if (Live(id)) ids.push_back(id);
  }
  return ids;
}

const core::Membership* SimNetwork::node(NodeId id) const {
  const Node* n = Find(id);
  return n != nullptr && n->running ? n->m.get() : nullptr;
}

std::optional<MemberState> SimNetwork::View(NodeId observer, NodeId subject) const {
  const core::Membership* m = node(observer);
  if (m == nullptr) return std::nullopt;
  auto it = m->members().find(subject);
  if (it == m->members().end()) return std::nullopt;
  return it->second.state;
}

bool SimNetwork::Converged(bool allow_suspect) const {
  const std::vector<NodeId> live = LiveIds();
  for (NodeId o : live) {
    const auto& members = nodes_[o].m->members();
    for (NodeId s : live) {
      if (s == o) continue;
      auto it = members.find(s);
      if (it == members.end()) return false;
      const MemberState st = it->second.state;
      if (st != MemberState::kAlive && !(allow_suspect && st == MemberState::kSuspect)) {
        return false;
      }
    }
  }
  return true;
}

bool SimNetwork::AllSee(NodeId subject, MemberState state) const {
  for (NodeId o : LiveIds()) {
    if (o == subject) continue;
    const std::optional<MemberState> v = View(o, subject);
    if (!v.has_value()) {
      // A reaped tombstone counts as dead; never-heard-of does not count as alive.
      if (state == MemberState::kAlive || state == MemberState::kSuspect) return false;
      continue;
    }
    const bool gone = *v == MemberState::kDead || *v == MemberState::kLeft;
    const bool want_gone = state == MemberState::kDead || state == MemberState::kLeft;
    if (want_gone ? !gone : *v != state) return false;
  }
  return true;
}

std::optional<uint64_t> SimNetwork::TimeAllReported(NodeId subject, core::EventKind kind,
                                                    uint64_t since) const {
  std::vector<uint64_t> first(nodes_.size(), UINT64_MAX);
  for (const Observed& o : events_) {
    if (o.time_ms < since || o.event.id != subject || o.event.kind != kind) continue;
    first[o.observer] = std::min(first[o.observer], o.time_ms);
  }
  uint64_t latest = since;
  for (NodeId o : LiveIds()) {
    if (o == subject) continue;
    if (first[o] == UINT64_MAX) return std::nullopt;
    latest = std::max(latest, first[o]);
  }
  return latest;
}

std::string SimNetwork::Summary() const {
  char buf[320];
  std::snprintf(
      buf, sizeof(buf),
      "seed=%llu (replay: VELUM_SIM_SEED=%llu) t=%llums live=%zu sent=%llu "
      "delivered=%llu bytes=%llu false_deaths=%llu false_suspicions=%llu",
      static_cast<unsigned long long>(options_.seed),
      static_cast<unsigned long long>(options_.seed), static_cast<unsigned long long>(now_),
      LiveIds().size(), static_cast<unsigned long long>(messages_sent_),
      static_cast<unsigned long long>(messages_delivered_),
      static_cast<unsigned long long>(bytes_sent_), static_cast<unsigned long long>(false_deaths_),
      static_cast<unsigned long long>(false_suspicions_));
  return buf;
}

}  // namespace velum::sim
