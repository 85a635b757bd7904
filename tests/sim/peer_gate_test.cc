// Tests of the peer gate: up needs both the link and the membership, down follows either,
// slot changes of an up peer, self and bounds, and a seeded property run against a model.
#include "core/peer_gate.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/random.h"
#include "tests/sim/scenario.h"

namespace velum::sim {
namespace {

using core::PeerChange;
using core::PeerChangeKind;
using core::PeerGate;

constexpr core::NodeId kSelf = 1;

TEST(PeerGate, UpNeedsTheLinkAndTheMembershipInEitherOrder) {
  PeerGate gate(kSelf, 16);
  EXPECT_FALSE(gate.OnLink(2, true));  // linked, not yet heard live: a joining peer
  auto up = gate.OnMember(2, true, 4);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->kind, PeerChangeKind::kUp);
  EXPECT_EQ(up->id, 2u);
  EXPECT_EQ(up->slots, 4u);
  EXPECT_FALSE(gate.OnMember(3, true, 2));  // live, no link yet
  auto up3 = gate.OnLink(3, true);
  ASSERT_TRUE(up3);
  EXPECT_EQ(up3->kind, PeerChangeKind::kUp);
  EXPECT_EQ(up3->slots, 2u);
  EXPECT_EQ(gate.up_count(), 2u);
  EXPECT_TRUE(gate.IsUp(2) && gate.IsUp(3));
}

TEST(PeerGate, DownFollowsEitherFactOnceAndUpComesBackWithBoth) {
  PeerGate gate(kSelf, 16);
  gate.OnLink(2, true);
  gate.OnMember(2, true, 1);
  auto down = gate.OnLink(2, false);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->kind, PeerChangeKind::kDown);
  EXPECT_FALSE(gate.OnMember(2, false, 0));  // already down: said once
  EXPECT_FALSE(gate.OnLink(2, false));       // no link to lose
  EXPECT_EQ(gate.tracked(), 0u);             // no fact left: forgotten
  gate.OnLink(2, true);
  EXPECT_FALSE(gate.IsUp(2));  // the link alone is not enough after a death
  auto again = gate.OnMember(2, true, 3);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kind, PeerChangeKind::kUp);
  // Dead while its link is still open (the membership heard first): down at once.
  auto dead = gate.OnMember(2, false, 0);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->kind, PeerChangeKind::kDown);
  EXPECT_FALSE(gate.IsUp(2));
  // Its link closing after that ends what still came over it, without a second down.
  auto closed = gate.OnLink(2, false);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->kind, PeerChangeKind::kLinkLost);
}

TEST(PeerGate, SaysWhetherAPeersLinkIsUp) {
  PeerGate gate(kSelf, 16);
  EXPECT_FALSE(gate.HasLink(2));
  gate.OnMember(2, true, 1);
  EXPECT_FALSE(gate.HasLink(2));  // known live, never linked
  gate.OnLink(2, true);
  EXPECT_TRUE(gate.HasLink(2));
  // A replaced link is told as down then up (JobDriver::OnLink): up again, with its slots.
  EXPECT_EQ(gate.OnLink(2, false)->kind, PeerChangeKind::kDown);
  auto up = gate.OnLink(2, true);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->kind, PeerChangeKind::kUp);
  EXPECT_EQ(up->slots, 1u);
}

TEST(PeerGate, AJoiningPeersLinkThatDropsIsLostWithoutEverBeingUp) {
  PeerGate gate(kSelf, 16);
  EXPECT_FALSE(gate.OnLink(4, true));
  auto lost = gate.OnLink(4, false);
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->kind, PeerChangeKind::kLinkLost);
  EXPECT_EQ(gate.up_count(), 0u);
  EXPECT_EQ(gate.tracked(), 0u);
}

TEST(PeerGate, AnUpPeerThatChangesItsSlotsSaysSoAndOnlyThen) {
  PeerGate gate(kSelf, 16);
  gate.OnLink(2, true);
  gate.OnMember(2, true, 2);
  EXPECT_FALSE(gate.OnMember(2, true, 2));  // a refuted suspicion, a load change: nothing
  auto changed = gate.OnMember(2, true, 8);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->kind, PeerChangeKind::kSlotsChanged);
  EXPECT_EQ(changed->slots, 8u);
  // Slots learned while down are the ones the next up carries.
  gate.OnLink(2, false);
  EXPECT_FALSE(gate.OnMember(2, true, 6));
  auto up = gate.OnLink(2, true);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->slots, 6u);
}

TEST(PeerGate, IgnoresItselfAndNoNodeAndStaysWithinItsBound) {
  PeerGate gate(kSelf, 3);
  EXPECT_FALSE(gate.OnLink(kSelf, true));
  EXPECT_FALSE(gate.OnMember(kSelf, true, 2));
  EXPECT_FALSE(gate.OnMember(core::kNoNode, true, 2));
  EXPECT_EQ(gate.tracked(), 0u);
  for (core::NodeId id = 2; id < 10; id++) gate.OnLink(id, true);
  EXPECT_EQ(gate.tracked(), 3u);
  EXPECT_EQ(gate.refused(), 5u);
  EXPECT_FALSE(gate.OnMember(9, true, 1));  // refused: stays down
  EXPECT_TRUE(gate.OnMember(4, true, 1));
  // Room comes back when a peer has no fact left.
  EXPECT_EQ(gate.OnLink(2, false)->kind, PeerChangeKind::kLinkLost);
  EXPECT_TRUE(gate.OnLink(9, true) == std::nullopt);
  EXPECT_TRUE(gate.OnMember(9, true, 1));
}

TEST(PeerGate, DownAllSaysDownForEveryUpPeerInIdOrder) {
  PeerGate gate(kSelf, 16);
  for (core::NodeId id : {5, 3, 7}) {
    gate.OnLink(id, true);
    gate.OnMember(id, true, 1);
  }
  gate.OnLink(9, true);  // linked only: not up, no down to say
  auto downs = gate.DownAll();
  ASSERT_EQ(downs.size(), 3u);
  EXPECT_EQ(downs[0].id, 3u);
  EXPECT_EQ(downs[1].id, 5u);
  EXPECT_EQ(downs[2].id, 7u);
  for (const PeerChange& c : downs) EXPECT_EQ(c.kind, PeerChangeKind::kDown);
  EXPECT_EQ(gate.up_count(), 0u);
  EXPECT_EQ(gate.tracked(), 0u);
}

// Random facts about a handful of peers, against a model of the rule: after every fact the
// gate's verdicts equal link && live, changes alternate up/down, slot changes are exact, and a
// link lost while down is said as such.
TEST(PeerGate, MatchesItsRuleOverRandomFacts) {
  const uint64_t first = SeedFromEnv(1);
  const int seeds = std::getenv("VELUM_SIM_SEED") ? 1 : 300;
  for (uint64_t seed = first; seed < first + seeds; seed++) {
    SCOPED_TRACE(
        "seed " + std::to_string(seed) + ": replay with VELUM_SIM_SEED=" + std::to_string(seed) +
        " ./build/tests/sim/velum-sim-tests --gtest_filter=PeerGate.MatchesItsRuleOverRandomFacts");
    core::Rng rng(seed);
    const size_t bound = 2 + rng.Uniform(6);
    PeerGate gate(kSelf, bound);
    struct Model {
      bool link = false, live = false;
      uint32_t slots = 0;
      bool said_up = false;
    };
    std::map<core::NodeId, Model> model;
    for (int step = 0; step < 400; step++) {
      const core::NodeId id = static_cast<core::NodeId>(rng.Uniform(10));  // 0 and self too
      std::optional<PeerChange> change;
      const bool fact = rng.Uniform(2) == 0;
      const bool value = rng.Uniform(3) != 0;
      const uint32_t slots = static_cast<uint32_t>(rng.Uniform(4));
      const size_t tracked_before = gate.tracked();
      const bool known = model.count(id) && (model[id].link || model[id].live);
      const bool accepted =
          id != kSelf && id != core::kNoNode && (known || (value && tracked_before < bound));
      change = fact ? gate.OnLink(id, value) : gate.OnMember(id, value, slots);
      if (accepted) {
        Model& m = model[id];
        const uint32_t old_slots = m.slots;
        const bool old_link = m.link;
        (fact ? m.link : m.live) = value;
        if (!fact && value) m.slots = slots;
        const bool up = m.link && m.live;
        if (up != m.said_up) {
          ASSERT_TRUE(change) << "peer " << id << " step " << step;
          EXPECT_EQ(change->kind, up ? PeerChangeKind::kUp : PeerChangeKind::kDown);
          if (up) {
            EXPECT_EQ(change->slots, m.slots);
          }
        } else if (fact && !value && old_link && !up) {
          ASSERT_TRUE(change);
          EXPECT_EQ(change->kind, PeerChangeKind::kLinkLost);
        } else if (up && m.slots != old_slots) {
          ASSERT_TRUE(change);
          EXPECT_EQ(change->kind, PeerChangeKind::kSlotsChanged);
          EXPECT_EQ(change->slots, m.slots);
        } else {
          EXPECT_FALSE(change) << "peer " << id << " step " << step;
        }
        m.said_up = up;
        if (!m.link && !m.live) model.erase(id);
      } else {
        EXPECT_FALSE(change) << "peer " << id << " step " << step;
      }
      size_t up_count = 0;
      for (const auto& [pid, m] : model) {
        EXPECT_EQ(gate.IsUp(pid), m.link && m.live) << "peer " << pid << " step " << step;
        up_count += m.link && m.live;
      }
      ASSERT_EQ(gate.up_count(), up_count);
      ASSERT_EQ(gate.tracked(), model.size());
      ASSERT_LE(gate.tracked(), bound);
    }
  }
}

}  // namespace
}  // namespace velum::sim
