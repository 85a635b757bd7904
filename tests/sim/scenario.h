// Scenarios shared by the simulator tests and velum-sim: starting meshes, failing nodes and
// timing how long the survivors take to notice. Times are virtual milliseconds.
#ifndef VELUM_TESTS_SIM_SCENARIO_H_
#define VELUM_TESTS_SIM_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>

#include "tests/sim/sim_network.h"

namespace velum::sim {

enum class JoinMode { kBeacons, kSeeds };
enum class Failure { kCrash, kLinkReset, kPause };

// The seed of a test: VELUM_SIM_SEED if set (to replay a failure), else `fallback`.
uint64_t SeedFromEnv(uint64_t fallback);

// Starts nodes first..last. Seeds: every node joins through `first` (no broadcast).
// stagger_ms: virtual time between two starts.
void StartNodes(SimNetwork* sim, NodeId first, NodeId last, JoinMode mode, uint64_t stagger_ms = 0);

// How often to check a global predicate: often for small meshes, less for large ones.
uint64_t CheckEveryMs(size_t nodes);

// Runs until every live node sees every other alive; the time that took, from now.
std::optional<uint64_t> WaitConverged(SimNetwork* sim, uint64_t limit_ms);

struct Detection {
  std::optional<uint64_t> first_ms;  // the first live node to declare the victim dead
  std::optional<uint64_t> all_ms;    // every live node holds it dead
};
// Fails the victim now and measures detection (from the failure).
Detection FailAndDetect(SimNetwork* sim, NodeId victim, Failure failure, uint64_t limit_ms);

// Changes `who`'s slots (a metadata change: new incarnation, gossiped); the time until every
// live node holds the new incarnation.
std::optional<uint64_t> DisseminationMs(SimNetwork* sim, NodeId who, uint64_t limit_ms);

// Sum of a Stats field over the live nodes, e.g. &core::Stats::suspicions.
uint64_t SumStat(const SimNetwork& sim, uint64_t core::Stats::*field);

}  // namespace velum::sim

#endif  // VELUM_TESTS_SIM_SCENARIO_H_
