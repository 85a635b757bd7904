// Simulated meshes of 3, 50 and 1000 nodes: joins, crashes, silence, link resets, loss,
// partitions, leaves and restarts. Every failure prints its seed; VELUM_SIM_SEED replays it.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/sim/scenario.h"
#include "tests/sim/sim_network.h"

namespace velum::sim {
namespace {

using core::EventKind;

std::string SeedNote(uint64_t seed) {
  return "seed=" + std::to_string(seed) + " (replay: VELUM_SIM_SEED=" + std::to_string(seed) + ")";
}

// The seed of this test, traced into every failure message below it.
#define SIM_SEED(var, fallback)               \
  const uint64_t var = SeedFromEnv(fallback); \
  SCOPED_TRACE(SeedNote(var))

SimOptions Options(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  return o;
}

// A converged mesh of n nodes formed the given way. Large meshes then stop beaconing: a
// thousand beacons a second, each heard by a thousand nodes, would cost more than the test.
void Form(SimNetwork* sim, size_t n, JoinMode mode, uint64_t limit_ms = 30000) {
  StartNodes(sim, 1, static_cast<NodeId>(n), mode);
  auto t = WaitConverged(sim, limit_ms);
  ASSERT_TRUE(t.has_value()) << "no convergence: " << sim->Summary();
  if (n > 200) sim->set_beacons(false);
}

// --- Convergence after joins -----------------------------------------------------------------

struct JoinCase {
  size_t nodes;
  JoinMode mode;
  uint64_t stagger_ms;
  uint64_t limit_ms;  // from the last start
};

void PrintTo(const JoinCase& c, std::ostream* os) {
  *os << c.nodes << (c.mode == JoinMode::kBeacons ? " nodes, beacons" : " nodes, seeds")
      << ", stagger " << c.stagger_ms << " ms";
}

class Converges : public ::testing::TestWithParam<JoinCase> {};

TEST_P(Converges, AfterJoins) {
  const JoinCase c = GetParam();
  SIM_SEED(seed, 100 + c.nodes);
  SimOptions o = Options(seed);
  o.beacons = c.mode == JoinMode::kBeacons;
  SimNetwork sim(o);
  StartNodes(&sim, 1, static_cast<NodeId>(c.nodes), c.mode, c.stagger_ms);
  auto t = WaitConverged(&sim, c.limit_ms);
  ASSERT_TRUE(t.has_value()) << sim.Summary();
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
  for (NodeId id : sim.LiveIds()) {
    EXPECT_EQ(sim.node(id)->live_count(), c.nodes) << "node " << id;
    // Through seeds, every node but the seed itself completed a join.
    if (c.mode == JoinMode::kSeeds && id != 1) {
      EXPECT_TRUE(sim.node(id)->joined()) << "node " << id;
    }
  }
}

// Suites named SimSlow* (meshes of 200 and 1000 nodes: minutes of CPU under sanitizers) carry
// the ctest label `slow` (tests/sim/CMakeLists.txt): `make sanitize` leaves them out.
const auto kJoinCaseName = [](const ::testing::TestParamInfo<JoinCase>& info) {
  return std::to_string(info.param.nodes) +
         (info.param.mode == JoinMode::kBeacons ? "Beacons" : "Seeds") +
         (info.param.stagger_ms ? "Staggered" : "");
};
INSTANTIATE_TEST_SUITE_P(Sim, Converges,
                         ::testing::Values(JoinCase{3, JoinMode::kBeacons, 0, 3000},
                                           JoinCase{3, JoinMode::kSeeds, 0, 3000},
                                           JoinCase{50, JoinMode::kBeacons, 0, 5000},
                                           JoinCase{50, JoinMode::kSeeds, 0, 5000},
                                           JoinCase{50, JoinMode::kSeeds, 100, 5000}),
                         kJoinCaseName);
INSTANTIATE_TEST_SUITE_P(SimSlow, Converges,
                         ::testing::Values(JoinCase{1000, JoinMode::kBeacons, 0, 10000},
                                           JoinCase{1000, JoinMode::kSeeds, 0, 30000}),
                         kJoinCaseName);

// --- Failure detection -----------------------------------------------------------------------

struct CrashCase {
  size_t nodes;
  uint64_t limit_ms;  // every live node holds the victim dead within this
};

void PrintTo(const CrashCase& c, std::ostream* os) { *os << c.nodes << " nodes"; }

class CrashDetected : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashDetected, ByEveryLiveNode) {
  const CrashCase c = GetParam();
  SIM_SEED(seed, 200 + c.nodes);
  SimNetwork sim(Options(seed));
  Form(&sim, c.nodes, JoinMode::kBeacons);
  sim.RunFor(2000);
  const Detection d = FailAndDetect(&sim, 2, Failure::kCrash, 30000);
  ASSERT_TRUE(d.all_ms.has_value()) << sim.Summary();
  EXPECT_LE(*d.all_ms, c.limit_ms) << sim.Summary();
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
  // The rest stays whole.
  EXPECT_TRUE(sim.Converged()) << sim.Summary();
}

const auto kCrashCaseName = [](const ::testing::TestParamInfo<CrashCase>& info) {
  return std::to_string(info.param.nodes);
};
INSTANTIATE_TEST_SUITE_P(Sim, CrashDetected,
                         ::testing::Values(CrashCase{3, 3000}, CrashCase{50, 5000}),
                         kCrashCaseName);
INSTANTIATE_TEST_SUITE_P(SimSlow, CrashDetected, ::testing::Values(CrashCase{1000, 8000}),
                         kCrashCaseName);

// The targets at default settings: a silent node (SIGSTOP) dead in <= 3 s, a reset link
// (the process crashed) in <= 1 s. Several seeds, since these are worst-case bounds.
TEST(SimDefaults, SilentNodeIsDeadWithinThreeSeconds) {
  SIM_SEED(base, 300);
  for (uint64_t k = 0; k < 8; ++k) {
    const uint64_t seed = base + k;
    SCOPED_TRACE(SeedNote(seed));
    SimNetwork sim(Options(seed));
    Form(&sim, 4, JoinMode::kBeacons);
    sim.RunFor(1000 + 37 * k);
    const Detection d = FailAndDetect(&sim, 4, Failure::kPause, 10000);
    ASSERT_TRUE(d.all_ms.has_value()) << sim.Summary();
    EXPECT_LE(*d.all_ms, 3000u) << sim.Summary();
    // SIGCONT: it refutes and is alive again everywhere, with a higher incarnation.
    const uint64_t inc = sim.node(4)->self().incarnation;
    sim.Resume(4);
    auto back = sim.RunUntilTrue([&] { return sim.AllSee(4, MemberState::kAlive); }, 5000, 10);
    EXPECT_TRUE(back.has_value()) << sim.Summary();
    EXPECT_GT(sim.node(4)->self().incarnation, inc);
    EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
  }
}

// Issue 9: a node whose unicast datagrams are all lost while its broadcast beacons still get
// out (a firewall rule, a broken switch port for unicast) must be declared dead like a
// silent one. It keeps working meanwhile: its load changes bump its incarnation about once
// a second, and every beacon carries the new number. A beacon must not refute the suspicion
// that probes keep confirming, nor revive the dead member: it stays dead until its unicast
// traffic flows again, then it is alive again everywhere.
TEST(SimDefaults, UnicastCutNodeIsDeadDespiteItsBeacons) {
  SIM_SEED(base, 450);
  for (uint64_t k = 0; k < 6; ++k) {
    const uint64_t seed = base + k;
    SCOPED_TRACE(SeedNote(seed));
    SimNetwork sim(Options(seed));
    Form(&sim, 4, JoinMode::kBeacons);
    sim.RunFor(1000 + 37 * k);
    core::NodeMeta meta = sim.node(4)->self().meta;
    // Runs for `ms`, changing node 4's load every 250 ms; stops early once pred() holds.
    auto busy = [&](uint64_t ms, const std::function<bool()>& pred) -> std::optional<uint64_t> {
      const uint64_t start = sim.now();
      while (sim.now() < start + ms) {
        if (pred && pred()) return sim.now() - start;
        meta.load = (meta.load + 1) % 4;
        sim.UpdateMeta(4, meta);
        sim.RunFor(50);
        for (int i = 0; i < 4 && !(pred && pred()); i++) sim.RunFor(50);
      }
      return std::nullopt;
    };
    sim.CutUnicast(4, true);
    const uint64_t cut_at = sim.now();
    auto dead = busy(10000, [&] { return sim.AllSee(4, MemberState::kDead); });
    ASSERT_TRUE(dead.has_value()) << "never declared dead everywhere: " << sim.Summary();
    EXPECT_LE(*dead, 3000u) << sim.Summary();
    // Ten more seconds of beacons with ever newer incarnations: no ghost.
    const uint64_t dead_at = sim.now();
    busy(10000, nullptr);
    EXPECT_TRUE(sim.AllSee(4, MemberState::kDead)) << sim.Summary();
    for (const Observed& o : sim.events()) {
      if (o.time_ms < cut_at || o.event.id != 4) continue;
      EXPECT_NE(o.event.kind, EventKind::kAlive) << "node " << o.observer << " at " << o.time_ms;
      if (o.time_ms >= dead_at) {
        EXPECT_NE(o.event.kind, EventKind::kJoined) << "node " << o.observer << " at " << o.time_ms;
      }
    }
    EXPECT_GT(sim.node(4)->self().incarnation, sim.node(1)->members().at(4).incarnation);
    // Unicast flows again: the beacons' pings reach it, it refutes, it is back everywhere.
    sim.CutUnicast(4, false);
    auto back = busy(5000, [&] { return sim.AllSee(4, MemberState::kAlive); });
    EXPECT_TRUE(back.has_value()) << sim.Summary();
  }
}

TEST(SimDefaults, ResetLinkIsDeadWithinOneSecond) {
  SIM_SEED(base, 400);
  for (uint64_t k = 0; k < 8; ++k) {
    const uint64_t seed = base + k;
    SCOPED_TRACE(SeedNote(seed));
    SimNetwork sim(Options(seed));
    Form(&sim, 4, JoinMode::kBeacons);
    sim.RunFor(1000 + 37 * k);
    const Detection d = FailAndDetect(&sim, 3, Failure::kLinkReset, 10000);
    ASSERT_TRUE(d.all_ms.has_value()) << sim.Summary();
    EXPECT_LE(*d.all_ms, 1000u) << sim.Summary();
  }
}

TEST(SimSlowDefaults, ResetLinkIsDeadWithinOneSecondAt1000) {
  SIM_SEED(seed, 401);
  SimNetwork sim(Options(seed));
  Form(&sim, 1000, JoinMode::kBeacons);
  const Detection d = FailAndDetect(&sim, 17, Failure::kLinkReset, 10000);
  ASSERT_TRUE(d.all_ms.has_value()) << sim.Summary();
  EXPECT_LE(*d.all_ms, 1000u) << sim.Summary();
}

// --- No false positives under loss -----------------------------------------------------------

struct LossCase {
  size_t nodes;
  uint64_t seconds;
};

void PrintTo(const LossCase& c, std::ostream* os) {
  *os << c.nodes << " nodes, " << c.seconds << " s";
}

class NoFalsePositives : public ::testing::TestWithParam<LossCase> {};

TEST_P(NoFalsePositives, AtFivePercentLoss) {
  const LossCase c = GetParam();
  SIM_SEED(seed, 500 + c.nodes);
  SimNetwork sim(Options(seed));
  Form(&sim, c.nodes, JoinMode::kBeacons);
  sim.set_beacons(false);
  sim.link().loss = 0.05;
  sim.RunFor(c.seconds * 1000);
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
  EXPECT_TRUE(sim.Converged(/*allow_suspect=*/true)) << sim.Summary();
  // Loss does cause suspicions; each was refuted, none became a death.
  EXPECT_EQ(SumStat(sim, &core::Stats::declared_dead), 0u) << sim.Summary();
}

const auto kLossCaseName = [](const ::testing::TestParamInfo<LossCase>& info) {
  return std::to_string(info.param.nodes) + "Nodes" + std::to_string(info.param.seconds) + "s";
};
INSTANTIATE_TEST_SUITE_P(Sim, NoFalsePositives,
                         ::testing::Values(LossCase{3, 600}, LossCase{50, 300}), kLossCaseName);
INSTANTIATE_TEST_SUITE_P(SimSlow, NoFalsePositives, ::testing::Values(LossCase{1000, 60}),
                         kLossCaseName);

// Duplicated, reordered (a long tail of delays) and lost datagrams together.
TEST(Sim, HostileNetworkStillConvergesWithoutFalseDeaths) {
  SIM_SEED(seed, 600);
  SimOptions o = Options(seed);
  o.link.duplicate = 0.1;
  o.link.tail = 0.2;
  o.link.tail_max_ms = 60;
  SimNetwork sim(o);
  Form(&sim, 20, JoinMode::kSeeds);
  sim.link().loss = 0.05;
  sim.RunFor(120000);
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
  sim.link().loss = 0;
  auto t = WaitConverged(&sim, 10000);
  EXPECT_TRUE(t.has_value()) << sim.Summary();
}

// --- Partitions ------------------------------------------------------------------------------

struct PartitionCase {
  size_t nodes;
  bool beacons;
};

void PrintTo(const PartitionCase& c, std::ostream* os) {
  *os << c.nodes << (c.beacons ? " nodes, beacons" : " nodes, no beacons");
}

class PartitionHeals : public ::testing::TestWithParam<PartitionCase> {};

TEST_P(PartitionHeals, BothSidesConverge) {
  const PartitionCase c = GetParam();
  SIM_SEED(seed, 700 + c.nodes + c.beacons);
  SimNetwork sim(Options(seed));
  Form(&sim, c.nodes, JoinMode::kBeacons);
  sim.set_beacons(c.beacons);
  std::vector<NodeId> a, b;
  for (NodeId id = 1; id <= c.nodes; ++id) (id % 3 == 0 ? b : a).push_back(id);
  sim.Partition({a, b});
  // Each side declares the other dead...
  auto split = sim.RunUntilTrue(
      [&] {
        for (NodeId x : a) {
          for (NodeId y : b) {
            if (sim.View(x, y) != MemberState::kDead || sim.View(y, x) != MemberState::kDead) {
              return false;
            }
          }
        }
        return true;
      },
      30000, 100);
  ASSERT_TRUE(split.has_value()) << sim.Summary();
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();  // deaths across the cut are not false
  sim.RunFor(5000);
  // ...and after the heal everyone is alive to everyone again, without a false death.
  sim.Heal();
  auto healed = WaitConverged(&sim, 30000);
  ASSERT_TRUE(healed.has_value()) << sim.Summary();
  EXPECT_LE(*healed, c.beacons ? 5000u : 15000u) << sim.Summary();
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
}

const auto kPartitionCaseName = [](const ::testing::TestParamInfo<PartitionCase>& info) {
  return std::to_string(info.param.nodes) + (info.param.beacons ? "WithBeacons" : "SeedsOnly");
};
INSTANTIATE_TEST_SUITE_P(Sim, PartitionHeals,
                         ::testing::Values(PartitionCase{3, false}, PartitionCase{50, false},
                                           PartitionCase{50, true}),
                         kPartitionCaseName);
// 1000 nodes with a third cut off take minutes of CPU to split (a third of all members die
// at once); 200 show the same.
INSTANTIATE_TEST_SUITE_P(SimSlow, PartitionHeals, ::testing::Values(PartitionCase{200, false}),
                         kPartitionCaseName);

// --- Leave and restart -----------------------------------------------------------------------

TEST(Sim, GracefulLeaveIsSeenAsLeft) {
  SIM_SEED(seed, 800);
  SimNetwork sim(Options(seed));
  Form(&sim, 50, JoinMode::kBeacons);
  const uint64_t t0 = sim.now();
  sim.Leave(7);
  auto t = sim.RunUntilTrue([&] { return sim.AllSee(7, MemberState::kLeft); }, 5000, 10);
  ASSERT_TRUE(t.has_value()) << sim.Summary();
  EXPECT_LE(*t - t0, 1000u) << "a leave waits for no timeout: " << sim.Summary();
  for (const Observed& o : sim.events()) {
    if (o.time_ms < t0 || o.event.id != 7) continue;
    EXPECT_NE(o.event.kind, EventKind::kSuspected) << "at node " << o.observer;
    EXPECT_NE(o.event.kind, EventKind::kDead) << "at node " << o.observer;
  }
  for (NodeId id : sim.LiveIds()) {
    EXPECT_EQ(sim.node(id)->members().at(7).state, MemberState::kLeft) << "node " << id;
  }
}

struct RestartCase {
  size_t nodes;
  bool wait_for_death;   // restart after everyone saw the crash, or at once
  bool low_incarnation;  // the new process starts at incarnation 1
};

void PrintTo(const RestartCase& c, std::ostream* os) {
  *os << c.nodes << " nodes" << (c.wait_for_death ? ", after death" : ", before detection")
      << (c.low_incarnation ? ", incarnation 1" : "");
}

class Restart : public ::testing::TestWithParam<RestartCase> {};

TEST_P(Restart, RejoinsWithAHigherIncarnation) {
  const RestartCase c = GetParam();
  SIM_SEED(seed, 900 + c.nodes + 2 * c.wait_for_death + c.low_incarnation);
  SimNetwork sim(Options(seed));
  Form(&sim, c.nodes, JoinMode::kBeacons);
  const NodeId victim = 2;
  // A metadata change first, so the old run's incarnation is above its initial one: a new
  // run at incarnation 1 is then truly behind. (A new run at exactly the old number is
  // indistinguishable from the old one; hence the shell passes its wall clock.)
  core::NodeMeta meta = sim.node(victim)->self().meta;
  meta.slots = 9;
  sim.UpdateMeta(victim, meta);
  sim.RunFor(3000);
  const uint64_t old_inc = sim.node(victim)->self().incarnation;
  ASSERT_GT(old_inc, 1u);
  sim.Crash(victim);
  if (c.wait_for_death) {
    auto dead = sim.RunUntilTrue([&] { return sim.AllSee(victim, MemberState::kDead); }, 20000);
    ASSERT_TRUE(dead.has_value()) << sim.Summary();
  } else {
    sim.RunFor(100);  // back before anyone noticed
  }
  const uint64_t t0 = sim.now();
  sim.Restart(victim, {1}, c.low_incarnation ? std::optional<uint64_t>(1) : std::nullopt);
  // Converged, and every view holds the new process's incarnation (a restart before anyone
  // noticed the crash looks converged at once, with the old one).
  auto t = sim.RunUntilTrue(
      [&] {
        if (!sim.Converged()) return false;
        const uint64_t inc = sim.node(victim)->self().incarnation;
        for (NodeId id : sim.LiveIds()) {
          if (sim.node(id)->members().at(victim).incarnation != inc && id != victim) return false;
        }
        return true;
      },
      10000, 10);
  ASSERT_TRUE(t.has_value()) << sim.Summary();
  EXPECT_LE(*t - t0, 3000u) << sim.Summary();
  EXPECT_GT(sim.node(victim)->self().incarnation, old_inc);
  if (c.wait_for_death) {
    auto joined = sim.TimeAllReported(victim, EventKind::kJoined, t0);
    EXPECT_TRUE(joined.has_value()) << "every node reports the rejoin: " << sim.Summary();
  }
  EXPECT_EQ(sim.false_deaths(), 0u) << sim.Summary();
}

INSTANTIATE_TEST_SUITE_P(Sim, Restart,
                         ::testing::Values(RestartCase{3, true, false},
                                           RestartCase{50, true, false},
                                           RestartCase{50, false, false},
                                           RestartCase{50, true, true},
                                           RestartCase{50, false, true}),
                         [](const auto& info) {
                           return std::to_string(info.param.nodes) +
                                  (info.param.wait_for_death ? "AfterDeath" : "BeforeDetection") +
                                  (info.param.low_incarnation ? "LowIncarnation" : "");
                         });

// --- Metadata and determinism ----------------------------------------------------------------

TEST(Sim, MetadataChangeReachesEveryone) {
  SIM_SEED(seed, 1000);
  SimNetwork sim(Options(seed));
  Form(&sim, 50, JoinMode::kBeacons);
  auto ms = DisseminationMs(&sim, 9, 10000);
  ASSERT_TRUE(ms.has_value()) << sim.Summary();
  EXPECT_LE(*ms, 2000u) << sim.Summary();
  for (NodeId id : sim.LiveIds()) {
    EXPECT_EQ(sim.node(id)->members().at(9).meta.slots, sim.node(9)->self().meta.slots);
  }
}

TEST(Sim, SameSeedSameRun) {
  SIM_SEED(seed, 1100);
  auto run = [seed] {
    SimOptions o = Options(seed);
    o.link.loss = 0.05;
    o.link.duplicate = 0.05;
    SimNetwork sim(o);
    StartNodes(&sim, 1, 30, JoinMode::kSeeds);
    sim.RunFor(5000);
    sim.Crash(5);
    sim.RunFor(10000);
    return std::make_tuple(sim.bytes_sent(), sim.messages_delivered(), sim.events().size());
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace velum::sim
