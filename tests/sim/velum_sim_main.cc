// velum-sim: runs the membership protocol in the simulator and prints its figures as JSON:
// convergence, detection times, gossip load and dissemination rounds by size, false positives;
// with --config, --nodes or --seeds, runs whole nodes (NodeSim) over many seeds and prints their
// figures.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/assert.h"
#include "tests/sim/node_sim.h"
#include "tests/sim/scenario.h"
#include "tests/sim/sim_network.h"

namespace velum::sim {
namespace {

struct Args {
  uint64_t seed = 1;
  std::vector<size_t> sizes = {10, 100, 1000};
  size_t fp_nodes = 1000;
  uint64_t fp_seconds = 60;
  double fp_loss = 0.05;
  int rounds_samples = 5;
  bool whole_nodes = false;  // --config, --nodes or --seeds: the whole-node simulator
  std::string config = "every-fault";
  std::optional<uint32_t> nodes, jobs;  // override the configuration's
  uint64_t seeds = 1;
};

void Usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: velum-sim [--seed N] [--sizes 10,100,1000] [--fp-nodes N] "
      "[--fp-seconds S] [--fp-loss P] [--samples K]\n"
      "       velum-sim [--config NAME] [--nodes N] [--seeds K] [--seed FIRST] [--jobs J]\n"
      "Prints one JSON object with the membership protocol's figures; with --config,\n"
      "--nodes or --seeds, runs K seeds of N whole nodes (their real drivers on\n"
      "simulated network, disks and executors, with faults) and prints their figures;\n"
      "exit 1 if a seed fails (its replay command is printed). Configurations: %s\n"
      "(--nodes and --jobs override theirs).\n",
      NodeSimConfigNames().c_str());
}

enum class Parsed { kRun, kHelp, kBad };

Parsed Parse(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") return Parsed::kHelp;
    if (i + 1 >= argc) return Parsed::kBad;
    const char* v = argv[++i];
    if (k == "--seed") {
      a->seed = std::strtoull(v, nullptr, 10);
    } else if (k == "--sizes") {
      a->sizes.clear();
      for (const char* p = v; *p;) {
        a->sizes.push_back(std::strtoul(p, const_cast<char**>(&p), 10));
        if (*p == ',') ++p;
        if (a->sizes.back() < 4 || a->sizes.back() > SimNetwork::kMaxId) return Parsed::kBad;
      }
    } else if (k == "--fp-nodes") {
      a->fp_nodes = std::strtoul(v, nullptr, 10);
    } else if (k == "--fp-seconds") {
      a->fp_seconds = std::strtoull(v, nullptr, 10);
    } else if (k == "--fp-loss") {
      a->fp_loss = std::strtod(v, nullptr);
    } else if (k == "--samples") {
      a->rounds_samples = std::atoi(v);
    } else if (k == "--config") {
      a->whole_nodes = true;
      a->config = v;
      NodeSimOptions o;
      if (!ApplyNodeSimConfig(a->config, &o)) {
        std::fprintf(stderr, "velum-sim: unknown configuration '%s' (known: %s)\n", v,
                     NodeSimConfigNames().c_str());
        return Parsed::kBad;
      }
    } else if (k == "--nodes") {
      a->whole_nodes = true;
      a->nodes = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
      if (*a->nodes < 1 || *a->nodes > 64) return Parsed::kBad;
    } else if (k == "--seeds") {
      a->whole_nodes = true;
      a->seeds = std::strtoull(v, nullptr, 10);
      if (a->seeds < 1) return Parsed::kBad;
    } else if (k == "--jobs") {
      a->jobs = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
      if (*a->jobs > 1000) return Parsed::kBad;
    } else {
      return Parsed::kBad;
    }
  }
  return Parsed::kRun;
}

std::string Ms(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "null"; }

// Everything for one mesh size, as a JSON object.
std::string MeasureSize(const Args& args, size_t n) {
  const NodeId last = static_cast<NodeId>(n);
  SimOptions o;
  o.seed = args.seed;
  const uint64_t interval = o.config.probe_interval_ms;

  // Convergence through seeds alone (no broadcast): all start at once, join through node 1.
  std::optional<uint64_t> seeds_ms;
  {
    SimOptions so = o;
    so.beacons = false;
    SimNetwork sim(so);
    StartNodes(&sim, 1, last, JoinMode::kSeeds);
    seeds_ms = WaitConverged(&sim, 120000);
  }

  // The rest on a mesh formed by beacons (all start at once, the LAN case).
  SimNetwork sim(o);
  StartNodes(&sim, 1, last, JoinMode::kBeacons);
  const std::optional<uint64_t> beacons_ms = WaitConverged(&sim, 60000);
  // Steady state: beacons off (their cost is per broadcast, reported apart), join gossip
  // drained (older than Config::gossip_max_age_ms), then a quiet 10 s window.
  sim.set_beacons(false);
  sim.RunFor(o.config.gossip_max_age_ms + 2000);
  const uint64_t b0 = sim.bytes_sent(), m0 = sim.messages_sent(), t0 = sim.now();
  sim.RunFor(10000);
  const double secs = (sim.now() - t0) / 1000.0;
  const double bytes_per_node_s = (sim.bytes_sent() - b0) / secs / n;
  const double msgs_per_node_s = (sim.messages_sent() - m0) / secs / n;

  // Dissemination of a membership change (a metadata change: a new incarnation), in rounds.
  double rounds_sum = 0, rounds_max = 0;
  int rounds_n = 0;
  for (int k = 0; k < args.rounds_samples; ++k) {
    const NodeId who = static_cast<NodeId>(1 + (k * 7919) % n);
    auto ms = DisseminationMs(&sim, who, 30000);
    if (!ms) continue;
    const double r = static_cast<double>(*ms) / interval;
    rounds_sum += r;
    rounds_max = std::max(rounds_max, r);
    rounds_n++;
    sim.RunFor(2000);
  }

  // Failures, one at a time, each after the mesh settled again.
  const Detection crash = FailAndDetect(&sim, 2, Failure::kCrash, 60000);
  sim.RunFor(3000);
  const Detection pause = FailAndDetect(&sim, 3, Failure::kPause, 60000);
  sim.Resume(3);
  const uint64_t resumed = sim.now();
  auto back = sim.RunUntilTrue([&] { return sim.AllSee(3, MemberState::kAlive); }, 60000, 10);
  const std::optional<uint64_t> rejoin_ms =
      back ? std::optional<uint64_t>(*back - resumed) : std::nullopt;
  sim.RunFor(3000);
  const Detection reset = FailAndDetect(&sim, 4, Failure::kLinkReset, 60000);
  sim.RunFor(3000);
  const uint64_t leave_t0 = sim.now();
  sim.Leave(5);
  auto left = sim.RunUntilTrue([&] { return sim.AllSee(5, MemberState::kLeft); }, 60000, 10);

  char buf[1400];
  std::snprintf(buf, sizeof(buf),
                "{\"nodes\":%zu,\"convergence_ms\":{\"beacons\":%s,\"seeds\":%s},"
                "\"gossip_bytes_per_node_per_s\":%.0f,\"messages_per_node_per_s\":%.1f,"
                "\"beacon_bytes\":%llu,\"resumed_seen_alive_ms\":%s,"
                "\"dissemination_rounds\":{\"mean\":%.2f,\"max\":%.2f,\"samples\":%d},"
                "\"crash_detection_ms\":{\"first\":%s,\"all\":%s},"
                "\"silent_detection_ms\":{\"first\":%s,\"all\":%s},"
                "\"link_reset_detection_ms\":{\"first\":%s,\"all\":%s},"
                "\"leave_seen_by_all_ms\":%s,\"false_deaths\":%llu,\"max_message_bytes\":%llu}",
                n, Ms(beacons_ms).c_str(), Ms(seeds_ms).c_str(), bytes_per_node_s, msgs_per_node_s,
                static_cast<unsigned long long>(
                    sim.beacons_sent() ? sim.beacon_bytes() / sim.beacons_sent() : 0),
                Ms(rejoin_ms).c_str(), rounds_n ? rounds_sum / rounds_n : 0.0, rounds_max, rounds_n,
                Ms(crash.first_ms).c_str(), Ms(crash.all_ms).c_str(), Ms(pause.first_ms).c_str(),
                Ms(pause.all_ms).c_str(), Ms(reset.first_ms).c_str(), Ms(reset.all_ms).c_str(),
                Ms(left ? std::optional<uint64_t>(*left - leave_t0) : std::nullopt).c_str(),
                static_cast<unsigned long long>(sim.false_deaths()),
                static_cast<unsigned long long>(sim.max_message_bytes()));
  return buf;
}

std::string MeasureFalsePositives(const Args& args) {
  SimOptions o;
  o.seed = args.seed;
  SimNetwork sim(o);
  StartNodes(&sim, 1, static_cast<NodeId>(args.fp_nodes), JoinMode::kBeacons);
  const auto conv = WaitConverged(&sim, 60000);
  sim.set_beacons(false);
  sim.link().loss = args.fp_loss;
  const uint64_t s0 = SumStat(sim, &core::Stats::suspicions);
  const uint64_t r0 = SumStat(sim, &core::Stats::refutations);
  const uint64_t d0 = sim.false_deaths();
  sim.RunFor(args.fp_seconds * 1000);
  char buf[400];
  std::snprintf(buf, sizeof(buf),
                "{\"nodes\":%zu,\"loss\":%.3f,\"seconds\":%llu,\"converged\":%s,"
                "\"false_deaths\":%llu,\"suspicions\":%llu,\"refutations\":%llu}",
                args.fp_nodes, args.fp_loss, static_cast<unsigned long long>(args.fp_seconds),
                conv ? "true" : "false", static_cast<unsigned long long>(sim.false_deaths() - d0),
                static_cast<unsigned long long>(SumStat(sim, &core::Stats::suspicions) - s0),
                static_cast<unsigned long long>(SumStat(sim, &core::Stats::refutations) - r0));
  return buf;
}

// Seeds first .. first + seeds - 1 of whole nodes; one JSON line. Progress goes to stderr.
int RunWholeNodes(const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t failed = 0, events = 0, faults = 0, restarts = 0, reassigned = 0, virtual_ms = 0,
           answered = 0, given_up = 0, damaged = 0, damaged_found = 0, replaced = 0;
  std::string failures;
  NodeSimOptions base;
  const bool known = ApplyNodeSimConfig(args.config, &base);
  VELUM_ASSERT(known);  // checked by Parse
  if (args.nodes) base.nodes = *args.nodes;
  if (args.jobs) base.jobs = *args.jobs;
  for (uint64_t seed = args.seed; seed < args.seed + args.seeds; seed++) {
    NodeSimOptions o = base;
    o.seed = seed;
    NodeSim sim(o);
    if (!sim.Run()) {
      failed++;
      std::fprintf(stderr, "FAILED: %s\n  %s\n", sim.failure().c_str(), sim.Summary().c_str());
      if (failed <= 10) failures += (failures.empty() ? "" : ",") + std::to_string(seed);
    }
    events += sim.events();
    faults += sim.faults();
    restarts += sim.restarts();
    reassigned += sim.reassigned();
    answered += sim.calls_answered();
    given_up += sim.jobs_given_up();
    damaged += sim.modules_damaged();
    damaged_found += sim.damaged_reads();
    replaced += sim.links_replaced();
    virtual_ms += sim.now_ms();
    if ((seed - args.seed + 1) % 1000 == 0)
      std::fprintf(stderr, "%llu seeds, %llu failed\n",
                   static_cast<unsigned long long>(seed - args.seed + 1),
                   static_cast<unsigned long long>(failed));
  }
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  std::printf(
      "{\"config\":\"%s\",\"nodes\":%u,\"jobs_per_seed\":%u,\"first_seed\":%llu,\"seeds\":%llu,"
      "\"failed\":%llu,\"failed_seeds\":[%s],\"events\":%llu,\"faults\":%llu,"
      "\"restarts\":%llu,\"reassigned_chunks\":%llu,\"calls_answered\":%llu,"
      "\"jobs_given_up_to_faults\":%llu,\"modules_damaged\":%llu,"
      "\"damaged_modules_found\":%llu,\"links_replaced\":%llu,\"virtual_s\":%.1f,"
      "\"wall_ms\":%lld}\n",
      base.config.c_str(), base.nodes, base.jobs, static_cast<unsigned long long>(args.seed),
      static_cast<unsigned long long>(args.seeds), static_cast<unsigned long long>(failed),
      failures.c_str(), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(faults), static_cast<unsigned long long>(restarts),
      static_cast<unsigned long long>(reassigned), static_cast<unsigned long long>(answered),
      static_cast<unsigned long long>(given_up), static_cast<unsigned long long>(damaged),
      static_cast<unsigned long long>(damaged_found), static_cast<unsigned long long>(replaced),
      virtual_ms / 1000.0, static_cast<long long>(wall));
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace velum::sim

int main(int argc, char** argv) {
  using namespace velum::sim;
  Args args;
  switch (Parse(argc, argv, &args)) {
    case Parsed::kHelp:
      Usage(stdout);
      return 0;
    case Parsed::kBad:
      Usage(stderr);
      return 2;
    case Parsed::kRun:
      break;
  }
  if (args.whole_nodes) return RunWholeNodes(args);
  const auto start = std::chrono::steady_clock::now();
  const velum::core::Config c;
  const LinkModel l;
  std::printf(
      "{\"seed\":%llu,\"config\":{\"probe_interval_ms\":%u,\"probe_timeout_ms\":%u,"
      "\"indirect_probes\":%u,\"suspicion_mult\":%u,\"suspicion_max_mult\":%u,"
      "\"link_down_timeout_ms\":%u,\"retransmit_mult\":%u,\"gossip_interval_ms\":%u,"
      "\"gossip_fanout\":%u,\"sync_interval_ms\":%u},"
      "\"link\":{\"latency_ms\":[%u,%u],\"tail\":%.2f,\"tail_max_ms\":%u},\"sizes\":[",
      static_cast<unsigned long long>(args.seed), c.probe_interval_ms, c.probe_timeout_ms,
      c.indirect_probes, c.suspicion_mult, c.suspicion_max_mult, c.link_down_timeout_ms,
      c.retransmit_mult, c.gossip_interval_ms, c.gossip_fanout, c.sync_interval_ms,
      l.latency_min_ms, l.latency_max_ms, l.tail, l.tail_max_ms);
  std::fflush(stdout);
  for (size_t i = 0; i < args.sizes.size(); ++i) {
    std::printf("%s%s", i ? "," : "", MeasureSize(args, args.sizes[i]).c_str());
    std::fflush(stdout);
  }
  std::printf("],\"false_positives\":");
  if (args.fp_nodes >= 4 && args.fp_seconds > 0) {
    std::printf("%s", MeasureFalsePositives(args).c_str());
  } else {
    std::printf("null");
  }
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  std::printf(",\"wall_ms\":%lld}\n", static_cast<long long>(wall));
  return 0;
}
