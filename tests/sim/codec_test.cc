// Tests of wire/codec: every message type survives a round trip, and no input (random bytes,
// mutated or truncated encodings, over-limit messages) crashes the decoder or passes its limits.
#include "wire/codec.h"

#include <gtest/gtest.h>

#include <string>

#include "core/random.h"
#include "tests/sim/scenario.h"
#include "wire/job_codec.h"
#include "wire/velum.pb.h"

namespace velum::wire {
namespace {

using core::MemberState;

core::Update AliveUpdate(core::NodeId id, uint64_t inc) {
  core::Update u;
  u.id = id;
  u.incarnation = inc;
  u.state = MemberState::kAlive;
  u.meta = sim::SimNetwork::MetaFor(id);
  u.meta.load = id % 3;
  return u;
}

core::Message Base(core::Body body) {
  core::Message m;
  m.from = AliveUpdate(7, 1700000000123);
  m.to = 9;
  core::Update s;
  s.id = 3;
  s.incarnation = 5;
  s.state = MemberState::kSuspect;
  s.suspecter = 7;
  m.gossip = {AliveUpdate(2, 4), s};
  core::Update d;
  d.id = 4;
  d.incarnation = 8;
  d.state = MemberState::kDead;
  m.gossip.push_back(d);
  m.body = std::move(body);
  return m;
}

std::vector<core::Message> Samples() {
  core::JoinAck page;
  page.seq = 44;
  page.next_cursor = 33;
  for (core::NodeId id = 1; id <= core::kMaxJoinAckMembers; ++id) {
    core::Update u = AliveUpdate(id, id * 10);
    if (id % 5 == 0) u.state = MemberState::kLeft;
    page.members.push_back(u);
  }
  core::JoinAck summary;
  summary.seq = 45;
  summary.done = true;
  for (core::NodeId k = 0; k < core::kMaxSummaryRanges; ++k) {
    summary.ranges.push_back(core::RangeDigest{1 + 32 * k, 0x1234567890abcdefULL * (k + 1)});
  }
  core::Message join = Base(core::Join{1, 0, false});
  join.to = core::kNoNode;
  join.gossip.clear();
  core::Message leave = Base(core::Leave{});
  leave.from.state = MemberState::kLeft;
  return {Base(core::Ping{1}),
          Base(core::Ack{2}),
          Base(core::PingReq{3, 11}),
          Base(core::IndirectAck{4, 11}),
          Base(core::Nack{5, 11}),
          join,
          Base(core::Join{6, 33, true}),
          Base(page),
          Base(summary),
          leave,
          Base(core::Gossip{})};
}

TEST(Codec, LinkFramesRoundTripAndGarbageIsRefused) {
  for (auto kind : {wire::LinkFrame::Kind::kPing, wire::LinkFrame::Kind::kPong}) {
    wire::LinkFrame frame{kind, 42, 123456789};
    wire::LinkMessage back;
    ASSERT_TRUE(wire::DecodeLink(wire::EncodeLink(frame), &back));
    ASSERT_TRUE(std::holds_alternative<wire::LinkFrame>(back));
    EXPECT_EQ(std::get<wire::LinkFrame>(back), frame);
  }
  wire::LinkMessage back;
  EXPECT_FALSE(wire::DecodeLink("", &back));  // no body
  EXPECT_FALSE(wire::DecodeLink(std::string("\xff\xff\xff", 3), &back));
}

TEST(Codec, RoundTripsEveryMessageType) {
  const std::vector<core::Message> samples = Samples();
  ASSERT_EQ(samples.size(), core::kMessageTypes + 2);  // two Join and JoinAck flavours
  for (const core::Message& m : samples) {
    SCOPED_TRACE(core::MessageTypeName(m.body.index()));
    const std::string bytes = Encode(m);
    core::Message back;
    ASSERT_TRUE(Decode(bytes, &back));
    EXPECT_EQ(back, m);
    EXPECT_LE(bytes.size(), 4000u);  // a full page with metadata still fits one datagram
  }
}

TEST(Codec, BadNewsCarriesNoMetadataBytes) {
  core::Message m = Base(core::Ping{1});
  m.gossip.clear();
  const size_t bare = Encode(m).size();
  core::Update d;
  d.id = 4;
  d.incarnation = 8;
  d.state = MemberState::kDead;
  m.gossip.push_back(d);
  EXPECT_LE(Encode(m).size() - bare, 10u);
}

TEST(Codec, BeaconRoundTrip) {
  Beacon b{12, 1700000000999, sim::SimNetwork::MetaFor(12)};
  Beacon back;
  ASSERT_TRUE(DecodeBeacon(EncodeBeacon(b), &back));
  EXPECT_EQ(back, b);
  EXPECT_FALSE(DecodeBeacon("", &back));
  EXPECT_FALSE(DecodeBeacon(std::string(10, '\xff'), &back));
}

// Whatever Decode accepts must be within the limits the core relies on.
void ExpectWithinLimits(const core::Message& m) {
  EXPECT_NE(m.from.id, core::kNoNode);
  EXPECT_TRUE(m.from.state == MemberState::kAlive || m.from.state == MemberState::kLeft);
  EXPECT_LE(m.gossip.size(), core::kMaxGossipPerMessage);
  for (const core::Update& u : m.gossip) {
    EXPECT_NE(u.id, core::kNoNode);
    EXPECT_LE(u.meta.addr.size(), core::kMaxMetaString);
  }
  if (const auto* a = std::get_if<core::JoinAck>(&m.body)) {
    EXPECT_LE(a->members.size(), core::kMaxJoinAckMembers);
    EXPECT_LE(a->ranges.size(), core::kMaxSummaryRanges);
  }
}

TEST(Codec, SurvivesRandomBytes) {
  const uint64_t seed = sim::SeedFromEnv(11);
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay: VELUM_SIM_SEED=" + std::to_string(seed) +
               ")");
  core::Rng rng(seed);
  int accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string bytes(rng.Uniform(300), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.Next());
    core::Message m;
    if (Decode(bytes, &m)) {
      accepted++;
      ExpectWithinLimits(m);
    }
    Beacon b;
    (void)DecodeBeacon(bytes, &b);
  }
  EXPECT_LT(accepted, 500);  // random bytes rarely form a valid message
}

TEST(Codec, SurvivesMutationsAndTruncations) {
  const uint64_t seed = sim::SeedFromEnv(12);
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay: VELUM_SIM_SEED=" + std::to_string(seed) +
               ")");
  core::Rng rng(seed);
  for (const core::Message& m : Samples()) {
    const std::string good = Encode(m);
    for (size_t n = 0; n < good.size(); ++n) {
      core::Message out;
      if (Decode(std::string_view(good).substr(0, n), &out)) ExpectWithinLimits(out);
    }
    for (int i = 0; i < 2000; ++i) {
      std::string bad = good;
      const int flips = 1 + static_cast<int>(rng.Uniform(4));
      for (int f = 0; f < flips; ++f) {
        bad[rng.Uniform(bad.size())] ^= static_cast<char>(1 << rng.Uniform(8));
      }
      core::Message out;
      if (Decode(bad, &out)) ExpectWithinLimits(out);
    }
  }
}

TEST(Codec, RejectsWhatBreaksTheLimits) {
  auto decodes = [](const pb::Membership& p) {
    core::Message m;
    return Decode(p.SerializeAsString(), &m);
  };
  pb::Membership ok;
  ok.mutable_from()->set_id(1);
  ok.mutable_from()->set_incarnation(1);
  ok.mutable_from()->set_state(pb::MEMBER_STATE_ALIVE);
  ok.mutable_ping()->set_seq(1);
  ASSERT_TRUE(decodes(ok));

  pb::Membership p = ok;
  p.clear_from();
  EXPECT_FALSE(decodes(p)) << "no sender";
  p = ok;
  p.mutable_from()->set_id(0);
  EXPECT_FALSE(decodes(p)) << "sender id 0";
  p = ok;
  p.mutable_from()->set_state(pb::MEMBER_STATE_SUSPECT);
  EXPECT_FALSE(decodes(p)) << "a sender cannot speak of itself as suspect";
  p = ok;
  p.mutable_from()->set_state(static_cast<pb::MemberState>(9));
  EXPECT_FALSE(decodes(p)) << "unknown state";
  p = ok;
  p.clear_ping();
  EXPECT_FALSE(decodes(p)) << "no body";
  p = ok;
  p.mutable_ping_req()->set_seq(1);
  EXPECT_FALSE(decodes(p)) << "ping_req without target";
  p = ok;
  p.mutable_from()->mutable_meta()->set_addr(std::string(core::kMaxMetaString + 1, 'a'));
  EXPECT_FALSE(decodes(p)) << "oversized address";
  p = ok;
  for (size_t i = 0; i <= core::kMaxGossipPerMessage; ++i) {
    pb::Update* u = p.add_gossip();
    u->set_id(2);
    u->set_state(pb::MEMBER_STATE_ALIVE);
  }
  EXPECT_FALSE(decodes(p)) << "too many gossip updates";
  p = ok;
  for (size_t i = 0; i <= core::kMaxJoinAckMembers; ++i) {
    pb::Update* u = p.mutable_join_ack()->add_members();
    u->set_id(2);
    u->set_state(pb::MEMBER_STATE_DEAD);
  }
  EXPECT_FALSE(decodes(p)) << "too many members in a page";
  p = ok;
  p.add_gossip()->set_id(3);  // state unspecified
  EXPECT_FALSE(decodes(p)) << "update without a state";

  core::Message m;
  EXPECT_FALSE(Decode(std::string(kMaxMessageBytes + 1, '\0'), &m)) << "over one datagram";
}

}  // namespace
}  // namespace velum::wire
