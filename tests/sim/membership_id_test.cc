// Tests of duplicate ids in the membership core: two processes with one id at two addresses,
// restarts at the same and at another address, and the notices that say why a peer is missing.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "core/membership.h"
#include "wire/codec.h"

namespace velum::core {
namespace {

// Processes by address (so that one id can live at two), zero-latency delivery through the
// codec, 1 ms ticks. A killed process's datagrams and those sent to it are lost.
class AddrNet {
 public:
  static std::string AddrOf(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
  static NodeMeta Meta(uint16_t port) {
    NodeMeta m;
    m.addr = m.gossip_addr = AddrOf(port);
    m.slots = 1;
    m.engines = kEngineInterp;
    m.version = "test";
    return m;
  }
  // Incarnations start at the (virtual) wall clock, as in the node.
  Membership& Start(NodeId id, uint16_t port) {
    Config c;
    c.initial_incarnation = now_;
    auto& p = procs_[AddrOf(port)];
    p = std::make_unique<Membership>(id, Meta(port), c, 7000 + port);
    Take(p->Tick(now_));
    return *p;
  }
  Membership& At(uint16_t port) { return *procs_.at(AddrOf(port)); }
  void Kill(uint16_t port) { procs_.erase(AddrOf(port)); }
  void Join(uint16_t port, uint16_t seed) { Take(At(port).Join(AddrOf(seed), now_)); }

  void Take(Output out) {
    for (Envelope& e : out.messages) inflight_.push_back(std::move(e));
    for (Notice& n : out.notices) notices_.push_back(std::move(n));
  }
  void Flush() {
    for (int steps = 0; !inflight_.empty(); ++steps) {
      ASSERT_LT(steps, 100000) << "message storm";
      Envelope e = std::move(inflight_.front());
      inflight_.pop_front();
      auto it = procs_.find(e.to_addr);
      if (it == procs_.end() || procs_.find(e.msg.from.meta.gossip_addr) == procs_.end()) continue;
      Message m;
      ASSERT_TRUE(wire::Decode(wire::Encode(e.msg), &m));
      Take(it->second->OnMessage(m, now_));
    }
  }
  void Advance(uint64_t ms) {
    for (uint64_t end = now_ + ms; now_ < end;) {
      ++now_;
      for (auto& [addr, p] : procs_) {
        if (p->NextDeadlineMs() <= now_) Take(p->Tick(now_));
      }
      Flush();
    }
  }
  // A beacon from the process at `from_port` delivered to the one at `to_port`.
  void Beacon(uint16_t from_port, uint16_t to_port) {
    const Member& self = At(from_port).self();
    Take(At(to_port).OnBeacon(self.id, self.meta, self.incarnation, now_));
    Flush();
  }
  const Member* Held(uint16_t observer, NodeId id) {
    auto& t = At(observer).members();
    auto it = t.find(id);
    return it == t.end() ? nullptr : &it->second;
  }
  size_t NoticesOf(NoticeKind kind) const {
    size_t n = 0;
    for (const Notice& x : notices_) n += x.kind == kind;
    return n;
  }
  const std::deque<Notice>& notices() const { return notices_; }
  uint64_t now() const { return now_; }

 private:
  std::map<std::string, std::unique_ptr<Membership>> procs_;
  std::deque<Envelope> inflight_;
  std::deque<Notice> notices_;
  uint64_t now_ = 1000000;
};

// A mesh of 1 (port 1001), 2 (port 1002) and 3 (port 1003), formed through seed 1.
void Form(AddrNet& net) {
  net.Start(1, 1001);
  net.Start(2, 1002);
  net.Start(3, 1003);
  net.Join(1002, 1001);
  net.Join(1003, 1001);
  net.Advance(3000);
  for (uint16_t o : {1001, 1002, 1003}) {
    for (NodeId id : {1u, 2u, 3u}) {
      if (net.At(o).id() == id) continue;
      ASSERT_NE(net.Held(o, id), nullptr);
      ASSERT_EQ(net.Held(o, id)->state, MemberState::kAlive) << o << " " << id;
    }
  }
}

TEST(MembershipIds, SecondProcessWithALiveIdIsRefusedAndTheFirstIsUndisturbed) {
  AddrNet net;
  Form(net);
  const uint64_t inc2 = net.At(1002).self().incarnation;
  Membership& dup = net.Start(2, 2002);  // the same id, another port, a later start
  net.Join(2002, 1003);
  net.Flush();
  net.Advance(50);
  EXPECT_TRUE(dup.refused());
  EXPECT_EQ(dup.refused_by(), AddrNet::AddrOf(1002));
  // The mesh still holds node 2 at its address, alive, at its own incarnation.
  for (uint16_t o : {1001, 1003}) {
    const Member* m = net.Held(o, 2);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->state, MemberState::kAlive);
    EXPECT_EQ(m->meta.gossip_addr, AddrNet::AddrOf(1002));
    EXPECT_EQ(m->incarnation, inc2);
  }
  EXPECT_FALSE(net.At(1002).refused());
  EXPECT_EQ(net.At(1002).self().incarnation, inc2);  // nothing to refute
  EXPECT_GE(net.At(1003).stats().id_claims_held, 1u);
  EXPECT_GE(net.At(1002).stats().own_id_elsewhere, 1u);
  EXPECT_GE(net.NoticesOf(NoticeKind::kIdClaimedElsewhere), 1u);
  // The refused process goes quiet (the shell stops it without a Leave); nothing changes.
  net.Kill(2002);
  net.Advance(5000);
  for (uint16_t o : {1001, 1003}) {
    EXPECT_EQ(net.Held(o, 2)->state, MemberState::kAlive);
    EXPECT_EQ(net.Held(o, 2)->meta.gossip_addr, AddrNet::AddrOf(1002));
  }
}

TEST(MembershipIds, DuplicateWhoseSeedIsTheLiveIdIsRefused) {
  AddrNet net;
  net.Start(2, 1002);
  net.Advance(100);
  Membership& dup = net.Start(2, 2002);
  net.Join(2002, 1002);
  net.Flush();
  EXPECT_TRUE(dup.refused());
  EXPECT_FALSE(net.At(1002).refused());
}

TEST(MembershipIds, BeaconOfAnOlderProcessWithOurIdIsChecked) {
  AddrNet net;
  net.Start(2, 1002);
  net.Advance(100);
  Membership& dup = net.Start(2, 2002);
  net.Beacon(2002, 1002);  // the older one hears the newcomer: not its problem
  EXPECT_FALSE(net.At(1002).refused());
  EXPECT_FALSE(net.At(1002).checking_id());
  net.Beacon(1002, 2002);  // the newcomer hears the older one: checks, and is refused
  EXPECT_TRUE(dup.refused());
  EXPECT_FALSE(net.At(1002).refused());
}

TEST(MembershipIds, RestartAtTheSameAddressComesBackAtOnce) {
  AddrNet net;
  Form(net);
  net.Kill(1002);  // a crash: peers still hold it alive
  Membership& again = net.Start(2, 1002);
  net.Join(1002, 1001);
  net.Flush();
  net.Advance(100);
  EXPECT_FALSE(again.refused());
  for (uint16_t o : {1001, 1003}) {
    EXPECT_EQ(net.Held(o, 2)->state, MemberState::kAlive);
    EXPECT_EQ(net.Held(o, 2)->incarnation, again.self().incarnation);
  }
}

TEST(MembershipIds, RestartAtAnotherAddressIsAcceptedOnceTheOldProcessIsDead) {
  AddrNet net;
  Form(net);
  net.Kill(1002);  // a crash; the new process gets another port
  Membership& again = net.Start(2, 2002);
  net.Join(2002, 1001);
  net.Flush();
  net.Advance(200);
  // Its check of the old address got no answer yet: it is not refused, and is held off.
  EXPECT_FALSE(again.refused());
  EXPECT_EQ(net.Held(1001, 2)->meta.gossip_addr, AddrNet::AddrOf(1002));
  net.Advance(10000);  // the failure detector finds the old process dead
  EXPECT_FALSE(again.refused());
  for (uint16_t o : {1001, 1003}) {
    const Member* m = net.Held(o, 2);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->state, MemberState::kAlive) << o;
    EXPECT_EQ(m->meta.gossip_addr, AddrNet::AddrOf(2002)) << o;
  }
  EXPECT_EQ(net.Held(2002, 1)->state, MemberState::kAlive);
}

TEST(MembershipIds, EstablishedNodeIsNeverRefused) {
  AddrNet net;
  Form(net);
  net.Advance(10000);  // past every probation
  Membership& dup = net.Start(2, 2002);
  // The newcomer pings the established node 2 as if checking; 2 answers, and stays.
  net.Join(2002, 1002);
  net.Flush();
  EXPECT_TRUE(dup.refused());
  EXPECT_FALSE(net.At(1002).refused());
  // Even an answer from the newcomer to a ping of the established one refuses nobody.
  net.Kill(2002);
  Membership& dup2 = net.Start(2, 2002);
  (void)dup2;
  net.Beacon(2002, 1002);
  EXPECT_FALSE(net.At(1002).refused());
}

TEST(MembershipIds, SilentSeedIsNoticedOncePerRound) {
  AddrNet net;
  Membership& a = net.Start(1, 1001);
  net.Join(1001, 9999);  // nobody there
  net.Advance(3500);
  EXPECT_GE(a.stats().seeds_silent, 1u);
  ASSERT_GE(net.NoticesOf(NoticeKind::kSeedSilent), 1u);
  for (const Notice& n : net.notices()) {
    if (n.kind == NoticeKind::kSeedSilent) {
      EXPECT_EQ(n.addr, AddrNet::AddrOf(9999));
    }
  }
  EXPECT_LE(net.NoticesOf(NoticeKind::kSeedSilent), 4u);  // one per round, not per request
}

}  // namespace
}  // namespace velum::core
