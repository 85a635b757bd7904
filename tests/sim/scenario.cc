// The measurement helpers behind the simulator tests and velum-sim's figures.
// Detection is timed from events where possible, so the check interval does not blur it.
#include "tests/sim/scenario.h"

#include <cstdlib>

#include "core/assert.h"

namespace velum::sim {

uint64_t SeedFromEnv(uint64_t fallback) {
  const char* env = std::getenv("VELUM_SIM_SEED");
  if (env == nullptr || *env == '\0') return fallback;
  return std::strtoull(env, nullptr, 10);
}

void StartNodes(SimNetwork* sim, NodeId first, NodeId last, JoinMode mode, uint64_t stagger_ms) {
  VELUM_ASSERT(first <= last);
  for (NodeId id = first; id <= last; ++id) {
    if (mode == JoinMode::kSeeds && id != first) {
      sim->Start(id, {first});
    } else {
      sim->Start(id);
    }
    if (stagger_ms > 0 && id != last) sim->RunFor(stagger_ms);
  }
}

uint64_t CheckEveryMs(size_t nodes) { return nodes <= 100 ? 10 : nodes <= 300 ? 25 : 100; }

std::optional<uint64_t> WaitConverged(SimNetwork* sim, uint64_t limit_ms) {
  const uint64_t start = sim->now();
  auto t = sim->RunUntilTrue([sim] { return sim->Converged(); }, limit_ms,
                             CheckEveryMs(sim->LiveIds().size()));
  if (!t) return std::nullopt;
  return *t - start;
}

Detection FailAndDetect(SimNetwork* sim, NodeId victim, Failure failure, uint64_t limit_ms) {
  const uint64_t t0 = sim->now();
  switch (failure) {
    case Failure::kCrash:
      sim->Crash(victim, false);
      break;
    case Failure::kLinkReset:
      sim->Crash(victim, true);
      break;
    case Failure::kPause:
      sim->Pause(victim);
      break;
  }
  Detection d;
  const size_t seen = sim->events().size();
  auto all = sim->RunUntilTrue([&] { return sim->AllSee(victim, MemberState::kDead); }, limit_ms,
                               CheckEveryMs(sim->LiveIds().size()));
  for (size_t i = seen; i < sim->events().size(); ++i) {
    const Observed& o = sim->events()[i];
    if (o.event.id == victim && o.event.kind == core::EventKind::kDead) {
      d.first_ms = o.time_ms - t0;
      break;
    }
  }
  if (all) {
    // The latest first kDead report among the survivors is exact; the poll time is not.
    auto exact = sim->TimeAllReported(victim, core::EventKind::kDead, t0);
    d.all_ms = (exact ? *exact : *all) - t0;
  }
  return d;
}

std::optional<uint64_t> DisseminationMs(SimNetwork* sim, NodeId who, uint64_t limit_ms) {
  const core::Membership* m = sim->node(who);
  VELUM_ASSERT(m != nullptr);
  core::NodeMeta meta = m->self().meta;
  meta.slots += 1;
  const uint64_t t0 = sim->now();
  const uint64_t before = m->self().incarnation;
  sim->UpdateMeta(who, meta);
  sim->RunFor(0);  // the tick due now publishes it
  const uint64_t want = sim->node(who)->self().incarnation;
  VELUM_ASSERT(want > before);
  auto t = sim->RunUntilTrue(
      [&] {
        for (NodeId o : sim->LiveIds()) {
          if (o == who) continue;
          auto it = sim->node(o)->members().find(who);
          if (it == sim->node(o)->members().end() || it->second.incarnation < want) return false;
        }
        return true;
      },
      limit_ms, 10);
  if (!t) return std::nullopt;
  return *t - t0;
}

uint64_t SumStat(const SimNetwork& sim, uint64_t core::Stats::*field) {
  uint64_t sum = 0;
  for (NodeId id : sim.LiveIds()) sum += sim.node(id)->stats().*field;
  return sum;
}

}  // namespace velum::sim
