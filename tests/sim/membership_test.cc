// Tests of the membership core driven by hand: the incarnation rules, refutation, joins by
// address, leave, link-down, pauses, bounds and deadlines, on a tiny instant-delivery network.
#include "core/membership.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>

#include "core/random.h"
#include "tests/sim/scenario.h"
#include "tests/sim/sim_network.h"
#include "wire/codec.h"

namespace velum::core {
namespace {

using sim::SimNetwork;

// Zero-latency delivery through the codec, ticks at 1 ms resolution, nodes that can be cut off.
class Net {
 public:
  Membership& Add(NodeId id, Config config = {}) {
    auto& m = nodes_[id];
    m = std::make_unique<Membership>(id, SimNetwork::MetaFor(id), config, 1000 + id);
    Take(id, m->Tick(now_));
    return *m;
  }
  Membership& operator[](NodeId id) { return *nodes_.at(id); }
  void Remove(NodeId id) { nodes_.erase(id); }
  void Cut(NodeId id, bool cut) { cut_[id] = cut; }

  void Take(NodeId at, Output out) {
    for (const Event& e : out.events) events_.push_back({at, e});
    for (Envelope& e : out.messages) inflight_.push_back(std::move(e));
  }
  // Delivers everything in flight, and whatever that causes, now.
  void Flush() {
    for (int steps = 0; !inflight_.empty(); ++steps) {
      ASSERT_LT(steps, 100000) << "message storm";
      Envelope e = std::move(inflight_.front());
      inflight_.pop_front();
      const NodeId to =
          static_cast<NodeId>(std::stoul(e.to_addr.substr(e.to_addr.rfind(':') + 1))) -
          (e.to_addr.find(":2") != std::string::npos ? 20000 : 8000);
      auto it = nodes_.find(to);
      if (it == nodes_.end() || cut_[to] || cut_[e.msg.from.id]) continue;
      Message m;
      ASSERT_TRUE(wire::Decode(wire::Encode(e.msg), &m));
      Take(to, it->second->OnMessage(m, now_));
    }
  }
  void Advance(uint64_t ms) {
    for (uint64_t end = now_ + ms; now_ < end;) {
      ++now_;
      for (auto& [id, m] : nodes_) {
        if (!cut_[id] && m->NextDeadlineMs() <= now_) Take(id, m->Tick(now_));
      }
      Flush();
    }
  }
  uint64_t now() const { return now_; }
  MemberState StateAt(NodeId observer, NodeId subject) {
    return nodes_.at(observer)->members().at(subject).state;
  }
  bool Saw(NodeId observer, EventKind kind, NodeId subject) const {
    for (const auto& [at, e] : events_) {
      if (at == observer && e.kind == kind && e.id == subject) return true;
    }
    return false;
  }
  void ClearEvents() { events_.clear(); }

 private:
  std::map<NodeId, std::unique_ptr<Membership>> nodes_;
  std::map<NodeId, bool> cut_;
  std::deque<Envelope> inflight_;
  std::vector<std::pair<NodeId, Event>> events_;
  uint64_t now_ = 1000;
};

// A message from a stranger C (id 3) to A (id 1) carrying one piggybacked update.
Message Carrying(const Update& u, uint64_t seq = 1) {
  Message m;
  m.from.id = 3;
  m.from.incarnation = 1;
  m.from.state = MemberState::kAlive;
  m.from.meta = SimNetwork::MetaFor(3);
  m.to = 1;
  m.gossip = {u};
  m.body = Gossip{};
  (void)seq;
  return m;
}

Update Claim(NodeId id, uint64_t inc, MemberState state) {
  Update u;
  u.id = id;
  u.incarnation = inc;
  u.state = state;
  if (state == MemberState::kAlive) u.meta = SimNetwork::MetaFor(id);
  if (state == MemberState::kSuspect) u.suspecter = 3;
  return u;
}

TEST(Membership, JoinsThroughASeedAddress) {
  Net net;
  net.Add(1);
  Membership& b = net.Add(2);
  net.Take(2, b.Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  EXPECT_TRUE(b.joined());
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  EXPECT_EQ(net.StateAt(2, 1), MemberState::kAlive);
  EXPECT_TRUE(net.Saw(1, EventKind::kJoined, 2));
  EXPECT_TRUE(net.Saw(2, EventKind::kJoined, 1));
  EXPECT_EQ(net[2].stats().joins_completed, 1u);
}

TEST(Membership, IncarnationRules) {
  Net net;
  Membership& a = net.Add(1);
  auto send = [&](const Update& u) {
    net.Take(1, a.OnMessage(Carrying(u), net.now()));
    net.Flush();
  };
  send(Claim(2, 5, MemberState::kAlive));
  ASSERT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  send(Claim(2, 4, MemberState::kSuspect));  // older: ignored
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  send(Claim(2, 5, MemberState::kSuspect));  // same number, worse: wins
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  send(Claim(2, 5, MemberState::kAlive));  // same number cannot refute
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  send(Claim(2, 6, MemberState::kAlive));  // a refutation
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  EXPECT_TRUE(net.Saw(1, EventKind::kAlive, 2));
  send(Claim(2, 5, MemberState::kDead));  // stale verdict
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  send(Claim(2, 6, MemberState::kSuspect));
  send(Claim(2, 6, MemberState::kDead));  // the end of a suspicion we share
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kDead);
  EXPECT_TRUE(net.Saw(1, EventKind::kDead, 2));
  send(Claim(2, 6, MemberState::kAlive));  // no resurrection at the same number
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kDead);
  send(Claim(2, 6, MemberState::kSuspect));
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kDead);
  send(Claim(2, 9, MemberState::kAlive));  // a restart
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  EXPECT_TRUE(net.Saw(1, EventKind::kJoined, 2));
  EXPECT_EQ(a.members().at(2).incarnation, 9u);
  send(Claim(2, 9, MemberState::kLeft));
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kLeft);
  EXPECT_TRUE(net.Saw(1, EventKind::kLeft, 2));
}

TEST(Membership, HearsayDeathOfAnAliveMemberIsOnlyASuspicion) {
  Net net;
  Membership& a = net.Add(1);
  auto send = [&](const Update& u) {
    net.Take(1, a.OnMessage(Carrying(u), net.now()));
    net.Flush();
  };
  send(Claim(2, 5, MemberState::kAlive));
  send(Claim(2, 5, MemberState::kDead));  // e.g. from the far side of a healed partition
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  EXPECT_TRUE(net.Saw(1, EventKind::kSuspected, 2));
  send(Claim(2, 5, MemberState::kDead));  // more hearsay only confirms the suspicion
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  EXPECT_FALSE(net.Saw(1, EventKind::kDead, 2));
  send(Claim(2, 6, MemberState::kAlive));  // it refuted in time
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  // Without a refutation our own timer decides.
  send(Claim(2, 6, MemberState::kDead));
  net.Advance(SuspicionMaxMs(a.config(), 2) + 1);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kDead);
}

TEST(Membership, BadNewsAboutStrangersIsIgnored) {
  Net net;
  Membership& a = net.Add(1);
  net.Take(1, a.OnMessage(Carrying(Claim(5, 1, MemberState::kDead)), net.now()));
  net.Take(1, a.OnMessage(Carrying(Claim(6, 1, MemberState::kSuspect)), net.now()));
  EXPECT_EQ(a.members().count(5), 0u);
  EXPECT_EQ(a.members().count(6), 0u);
}

TEST(Membership, RefutesAndNeverDeclaresItselfDead) {
  Net net;
  Membership& a = net.Add(1);
  const uint64_t inc = a.self().incarnation;
  net.Take(1, a.OnMessage(Carrying(Claim(1, inc, MemberState::kSuspect)), net.now()));
  EXPECT_EQ(a.self().incarnation, inc + 1);
  EXPECT_EQ(a.self().state, MemberState::kAlive);
  net.Take(1, a.OnMessage(Carrying(Claim(1, inc + 7, MemberState::kDead)), net.now()));
  EXPECT_EQ(a.self().incarnation, inc + 8);
  EXPECT_EQ(a.self().state, MemberState::kAlive);
  net.Take(1, a.OnMessage(Carrying(Claim(1, inc, MemberState::kDead)), net.now()));  // stale
  EXPECT_EQ(a.self().incarnation, inc + 8);
  // An earlier run of this id, gossiped alive with a higher number: outbid it.
  net.Take(1, a.OnMessage(Carrying(Claim(1, inc + 100, MemberState::kAlive)), net.now()));
  EXPECT_EQ(a.self().incarnation, inc + 101);
  EXPECT_EQ(a.stats().refutations, 3u);
}

TEST(Membership, SuspectedMemberRefutesThroughTheBuddyPing) {
  Net net;
  net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  const uint64_t inc = net[2].self().incarnation;
  // Node 1 heard that 2 is suspect; its next probe of 2 carries the suspicion, 2 refutes.
  net.Take(1, net[1].OnMessage(Carrying(Claim(2, inc, MemberState::kSuspect)), net.now()));
  ASSERT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  net.Advance(1000);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  EXPECT_GT(net[2].self().incarnation, inc);
  EXPECT_FALSE(net.Saw(1, EventKind::kDead, 2));
}

TEST(Membership, SilentMemberIsDeclaredDead) {
  Net net;
  for (NodeId id = 1; id <= 4; ++id) {
    net.Add(id);
    if (id > 1) net.Take(id, net[id].Join(SimNetwork::Addr(1), net.now()));
    net.Flush();
  }
  net.Advance(2000);
  ASSERT_EQ(net[1].live_count(), 4u);
  net.Cut(4, true);
  const uint64_t t0 = net.now();
  for (int i = 0; i < 4000 && net.StateAt(1, 4) != MemberState::kDead; ++i) net.Advance(1);
  EXPECT_EQ(net.StateAt(1, 4), MemberState::kDead);
  EXPECT_LE(net.now() - t0, 3000u);
  EXPECT_GE(net[1].stats().probe_failures + net[2].stats().probe_failures, 1u);
}

TEST(Membership, LinkDownIsDeadWithinTheTimeout) {
  Net net;
  net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  net.Remove(2);
  const uint64_t t0 = net.now();
  net.Take(1, net[1].OnLinkDown(2, net.now()));
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  net.Advance(net[1].config().link_down_timeout_ms);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kDead);
  EXPECT_LE(net[1].members().at(2).state_since_ms - t0, 500u);
}

TEST(Membership, LinkDownOfALivePeerIsRefuted) {
  Net net;
  net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  net.Take(1, net[1].OnLinkDown(2, net.now()));
  net.Flush();  // the fast ping carries the suspicion; 2 answers with a new incarnation
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  net.Advance(2000);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
}

// Issue 9: beacons are broadcast, so anyone on the segment can capture one and send it again
// (to this node or another) within the freshness window. A beacon introduces a member we
// do not know; it never refutes a suspicion, never revives a dead or left member, never moves
// a known member's incarnation: only the member's own messages (and gossip) do.
TEST(Membership, ReplayedBeaconIntroducesButNeverRevives) {
  Net net;
  Membership& a = net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  const uint64_t inc = net[2].self().incarnation;
  // A beacon of 2 captured after a few of its (load) bumps, that 1 never heard as gossip.
  auto replay = [&](uint64_t incarnation) {
    net.Take(1, a.OnBeacon(2, SimNetwork::MetaFor(2), incarnation, net.now()));
    net.Flush();
  };
  // Suspected by probes: a beacon at a newer incarnation does not refute it.
  net.Cut(2, true);
  net.Take(1, a.OnMessage(Carrying(Claim(2, inc, MemberState::kSuspect)), net.now()));
  ASSERT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  replay(inc + 3);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kSuspect);
  EXPECT_EQ(a.members().at(2).incarnation, inc);
  EXPECT_FALSE(net.Saw(1, EventKind::kAlive, 2));
  // Dead (2 is gone): the replayed beacon pings it and nothing answers. No ghost.
  net.Remove(2);
  net.Advance(SuspicionMaxMs(a.config(), 2) + 1);
  ASSERT_EQ(net.StateAt(1, 2), MemberState::kDead);
  net.ClearEvents();
  for (int i = 0; i < 5; i++) {
    replay(inc + 5 + i);
    net.Advance(500);
  }
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kDead);
  EXPECT_EQ(a.members().at(2).incarnation, inc);
  EXPECT_FALSE(net.Saw(1, EventKind::kJoined, 2));
  EXPECT_EQ(a.live_count(), 1u);
  // Left: the same.
  net.Take(1, a.OnMessage(Carrying(Claim(2, inc + 1, MemberState::kLeft)), net.now()));
  ASSERT_EQ(net.StateAt(1, 2), MemberState::kLeft);
  replay(inc + 50);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kLeft);
  EXPECT_FALSE(net.Saw(1, EventKind::kJoined, 2));
  // A stranger's beacon still introduces it.
  net.Take(1, a.OnBeacon(5, SimNetwork::MetaFor(5), 7, net.now()));
  EXPECT_EQ(net.StateAt(1, 5), MemberState::kAlive);
  EXPECT_TRUE(net.Saw(1, EventKind::kJoined, 5));
}

// The other side of the same rule: a member held dead that is really running (a healed
// partition, a restart) comes back, through the ping the beacon triggers: its ack refutes.
TEST(Membership, BeaconOfALiveMemberHeldDeadBringsItBackThroughAPing) {
  Net net;
  Membership& a = net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  net.Cut(2, true);
  net.Advance(SuspicionMaxMs(a.config(), 2) + 2000);
  ASSERT_EQ(net.StateAt(1, 2), MemberState::kDead);
  net.Cut(2, false);
  net.ClearEvents();
  net.Take(1, a.OnBeacon(2, SimNetwork::MetaFor(2), net[2].self().incarnation, net.now()));
  net.Flush();
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
  EXPECT_TRUE(net.Saw(1, EventKind::kJoined, 2));
}

TEST(Membership, LeaveIsSeenAsLeftWithoutATimeout) {
  Net net;
  net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  net.Take(2, net[2].Leave(net.now()));
  net.Flush();
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kLeft);
  EXPECT_TRUE(net.Saw(1, EventKind::kLeft, 2));
  EXPECT_FALSE(net.Saw(1, EventKind::kSuspected, 2));
  EXPECT_EQ(net[2].NextDeadlineMs(), UINT64_MAX);
  EXPECT_TRUE(net[2].left());
}

TEST(Membership, RestartWithALowIncarnationLearnsItsOldOne) {
  Net net;
  net.Add(1);
  Config high;
  high.initial_incarnation = 500;
  net.Add(2, high);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  ASSERT_EQ(net[1].members().at(2).incarnation, 500u);
  net.Remove(2);
  Membership& b = net.Add(2);  // initial_incarnation 1: lower than the mesh remembers
  net.Take(2, b.Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  EXPECT_GT(b.self().incarnation, 500u);
  net.Advance(1000);
  EXPECT_EQ(net[1].members().at(2).incarnation, b.self().incarnation);
  EXPECT_EQ(net.StateAt(1, 2), MemberState::kAlive);
}

TEST(Membership, PausedProcessDoesNotDeclareItsSuspectsDeadOnWakeUp) {
  Net net;
  Membership& a = net.Add(1);
  net.Take(1, a.OnMessage(Carrying(Claim(2, 1, MemberState::kAlive)), net.now()));
  net.Take(1, a.OnMessage(Carrying(Claim(2, 1, MemberState::kSuspect)), net.now()));
  ASSERT_EQ(a.members().at(2).state, MemberState::kSuspect);
  // Asleep for 30 s, far beyond the suspicion timeout; on waking, the timer starts over.
  const uint64_t wake = net.now() + 30000;
  net.Take(1, a.Tick(wake));
  EXPECT_EQ(a.members().at(2).state, MemberState::kSuspect);
  EXPECT_EQ(a.stats().time_jumps, 1u);
  // Awake again and ticked on time, the suspicion runs its course.
  const uint64_t end = wake + SuspicionMaxMs(a.config(), 2) + 1;
  for (uint64_t t = wake; t < end;) {
    t = std::min(a.NextDeadlineMs(), end);
    net.Take(1, a.Tick(t));
  }
  EXPECT_EQ(a.members().at(2).state, MemberState::kDead);
  EXPECT_EQ(a.stats().time_jumps, 1u);
}

TEST(Membership, TablesAreBounded) {
  Config small;
  small.max_members = 8;
  Net net;
  Membership& a = net.Add(1, small);
  for (NodeId id = 10; id < 40; ++id) {
    net.Take(1, a.OnMessage(Carrying(Claim(id, 1, MemberState::kAlive)), net.now()));
  }
  EXPECT_LE(a.members().size(), 8u);
  EXPECT_GT(a.stats().member_overflow, 0u);
  // Tombstones make room for newcomers; live members are never evicted.
  net.Take(1, a.OnMessage(Carrying(Claim(10, 1, MemberState::kSuspect)), net.now()));
  net.Take(1, a.OnMessage(Carrying(Claim(10, 1, MemberState::kDead)), net.now()));
  net.Take(1, a.OnMessage(Carrying(Claim(50, 1, MemberState::kAlive)), net.now()));
  EXPECT_EQ(a.members().count(50), 1u);
  EXPECT_EQ(a.members().count(10), 0u);
  EXPECT_LE(a.members().size(), 8u);
}

TEST(Membership, DeadlinesAreAlwaysAhead) {
  Net net;
  Membership m(1, SimNetwork::MetaFor(1), Config{}, 1);
  EXPECT_EQ(m.NextDeadlineMs(), 0u);  // not started: tick now
  uint64_t now = 5;
  for (int i = 0; i < 200; ++i) {
    Output out = m.Tick(now);
    EXPECT_GT(m.NextDeadlineMs(), now);
    now = m.NextDeadlineMs();
  }
}

TEST(Membership, MetadataChangesTravel) {
  Net net;
  net.Add(1);
  net.Add(2);
  net.Take(2, net[2].Join(SimNetwork::Addr(1), net.now()));
  net.Flush();
  const uint64_t inc = net[2].self().incarnation;
  NodeMeta meta = net[2].self().meta;
  meta.slots = 16;
  net[2].UpdateLocalMeta(meta);
  net.Advance(1000);
  EXPECT_GT(net[2].self().incarnation, inc);
  EXPECT_EQ(net[1].members().at(2).meta.slots, 16u);
  EXPECT_TRUE(net.Saw(1, EventKind::kMetaChanged, 2));
  // Load alone: no new incarnation at once, but every message carries it.
  const uint64_t inc2 = net[2].self().incarnation;
  meta.load = 3;
  net[2].UpdateLocalMeta(meta);
  net.Advance(300);
  EXPECT_EQ(net[1].members().at(2).meta.load, 3u);
  EXPECT_LE(net[2].self().incarnation, inc2 + 1);
}

// Random claims (about self and others), random ticks and link-downs: the core's own asserts
// (legal transitions, monotonic incarnation, bounded tables) must hold throughout.
TEST(Membership, RandomInputKeepsInvariants) {
  const uint64_t seed = sim::SeedFromEnv(99);
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay: VELUM_SIM_SEED=" + std::to_string(seed) +
               ")");
  Rng rng(seed);
  Config config;
  config.max_members = 16;
  Membership m(1, SimNetwork::MetaFor(1), config, seed);
  uint64_t now = 0, last_inc = 0;
  for (int i = 0; i < 20000; ++i) {
    now += rng.Uniform(50);
    const uint32_t what = static_cast<uint32_t>(rng.Uniform(10));
    Output out;
    if (what < 6) {
      Message msg;
      msg.from =
          Claim(2 + static_cast<NodeId>(rng.Uniform(20)), rng.Uniform(6), MemberState::kAlive);
      msg.to = rng.Chance(0.9) ? 1 : 5;
      for (uint64_t g = rng.Uniform(kMaxGossipPerMessage + 1); g > 0; --g) {
        msg.gossip.push_back(Claim(1 + static_cast<NodeId>(rng.Uniform(24)), rng.Uniform(8),
                                   static_cast<MemberState>(rng.Uniform(4))));
      }
      switch (rng.Uniform(5)) {
        case 0:
          msg.body = Ping{rng.Uniform(100)};
          break;
        case 1:
          msg.body = Ack{rng.Uniform(100)};
          break;
        case 2:
          msg.body = PingReq{rng.Uniform(100), 1 + static_cast<NodeId>(rng.Uniform(24))};
          break;
        case 3:
          msg.body = Join{rng.Uniform(100), static_cast<NodeId>(rng.Uniform(24)), rng.Chance(0.5)};
          break;
        default: {
          JoinAck a;
          a.seq = rng.Uniform(100);
          a.members.push_back(Claim(1 + static_cast<NodeId>(rng.Uniform(24)), rng.Uniform(8),
                                    static_cast<MemberState>(rng.Uniform(4))));
          msg.body = a;
        }
      }
      out = m.OnMessage(msg, now);
    } else if (what < 9) {
      out = m.Tick(now);
    } else {
      out = m.OnLinkDown(2 + static_cast<NodeId>(rng.Uniform(20)), now);
    }
    ASSERT_GE(m.self().incarnation, last_inc);
    last_inc = m.self().incarnation;
    ASSERT_EQ(m.self().state, MemberState::kAlive);
    ASSERT_LE(m.members().size(), config.max_members);
    for (const Envelope& e : out.messages) ASSERT_LE(e.msg.gossip.size(), kMaxGossipPerMessage);
  }
}

}  // namespace
}  // namespace velum::core
