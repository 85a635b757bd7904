// The whole-node simulator's seeds: 10 blocks of VELUM_SIM_RUNS seeds (default 300) from
// VELUM_SIM_SEED (default 1), 4 nodes with every fault, so ctest runs blocks in parallel. A
// failing seed prints the command that replays it (velum-sim --nodes 4 --seed S).
#include "tests/sim/node_sim.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace velum::sim {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

class NodeSimSeeds : public ::testing::TestWithParam<int> {};

TEST_P(NodeSimSeeds, EveryFault) {
  const uint64_t runs = EnvOr("VELUM_SIM_RUNS", 300);
  const uint64_t first = EnvOr("VELUM_SIM_SEED", 1) + static_cast<uint64_t>(GetParam()) * runs;
  uint64_t faults = 0, restarts = 0, reassigned = 0, answered = 0;
  for (uint64_t seed = first; seed < first + runs; seed++) {
    NodeSimOptions o;
    o.seed = seed;
    NodeSim sim(o);
    bool ok = sim.Run();
    ASSERT_TRUE(ok) << sim.failure() << "\n" << sim.Summary();
    faults += sim.faults();
    restarts += sim.restarts();
    reassigned += sim.reassigned();
    answered += sim.calls_answered();
  }
  // The runs did meet faults, and the faults did cost jobs work (the test is not vacuous).
  EXPECT_GT(faults, runs);
  EXPECT_GT(restarts, runs);
  EXPECT_GT(reassigned, runs / 10);
  EXPECT_GT(answered, runs);  // remote calls were answered
}

INSTANTIATE_TEST_SUITE_P(Blocks, NodeSimSeeds, ::testing::Range(0, 10));

}  // namespace
}  // namespace velum::sim
