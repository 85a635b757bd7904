// Seeded sweeps of the job simulator: thousands of runs with crashes, hangs, cuts, restarts,
// loss, reordering and duplication; every job must end with the exact answer. A failure
// prints its seed; VELUM_SIM_SEED=N replays that one run (VELUM_SIM_RUNS=K sweeps K).
#include "tests/sim/job_sim.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/reducer.h"
#include "tests/sim/job_test_util.h"

namespace velum::sim {
namespace {

struct SweepTotals {
  uint64_t runs = 0, faults = 0, restarts = 0, reassigned = 0, recomputed = 0, stale = 0;
  uint64_t max_finish_ms = 0;
};

void Sweep(const std::string& name, uint64_t base, uint64_t runs, size_t jobs,
           void (*configure)(JobSimOptions*)) {
  SweepTotals t;
  for (uint64_t seed : Seeds(base, runs)) {
    JobSimOptions o;
    o.seed = seed;
    configure(&o);
    JobSim sim(o);
    sim.AddRandomJobs(jobs);
    bool ok = sim.Run();
    ASSERT_TRUE(ok) << name << ": " << sim.failure() << "\n  " << sim.Summary() << "\n  "
                    << ReplayCommand(seed);
    t.runs++;
    t.faults += sim.faults();
    t.restarts += sim.coordinator_restarts();
    t.reassigned += sim.total_reassigned();
    t.recomputed += sim.total_recomputed();
    t.stale += sim.total_stale();
    t.max_finish_ms = std::max(t.max_finish_ms, sim.now());
  }
  // Figures of the sweep, and proof that it exercised what it claims to.
  std::printf(
      "FIGURE %s: runs=%llu faults=%llu coordinator_restarts=%llu reassigned=%llu "
      "recomputed_items=%llu stale_reports=%llu max_finish_ms=%llu\n",
      name.c_str(), (unsigned long long)t.runs, (unsigned long long)t.faults,
      (unsigned long long)t.restarts, (unsigned long long)t.reassigned,
      (unsigned long long)t.recomputed, (unsigned long long)t.stale,
      (unsigned long long)t.max_finish_ms);
  if (t.runs > 20) {
    JobSimOptions o;
    configure(&o);
    if (o.crashes || o.hangs || o.cuts) {
      EXPECT_GT(t.reassigned, 0u) << name;
    }
    if (o.coordinator_crashes) {
      EXPECT_GT(t.restarts, 0u) << name;
    }
  }
}

TEST(JobSim, CalmMeshExact) {
  Sweep("calm", 1000, 300, 3, [](JobSimOptions* o) {
    o->crashes = o->hangs = false;
    o->workers = 3;
  });
}

TEST(JobSim, WorkerCrashesAndHangsOverTcp) {
  Sweep("workers_tcp", 20000, 1000, 2, [](JobSimOptions* o) { o->faults_per_s = 1.5; });
}

TEST(JobSim, LossyReorderingDuplicatingNetwork) {
  Sweep("lossy", 40000, 1000, 2, [](JobSimOptions* o) {
    o->tcp = false;
    o->loss = 0.05;
    o->duplicate = 0.05;
    o->tail = 0.2;
    o->cuts = true;
    o->faults_per_s = 1.0;
  });
}

TEST(JobSim, CoordinatorCrashesAndRestarts) {
  Sweep("coordinator", 60000, 1000, 2, [](JobSimOptions* o) {
    o->coordinator_crashes = true;
    o->faults_per_s = 1.0;
  });
}

TEST(JobSim, EverythingAtOnce) {
  Sweep("everything", 80000, 500, 3, [](JobSimOptions* o) {
    o->tcp = false;
    o->loss = 0.02;
    o->duplicate = 0.02;
    o->cuts = true;
    o->coordinator_crashes = true;
    o->faults_per_s = 2.0;
    o->workers = 6;
  });
}

// Ranges from the whole int64 domain (2^64 - 1 items, ending at INT64_MAX, 1 item, ...) on
// executors fast enough to finish them: slices and chunks of more than 2^63 items, worker
// and coordinator crashes; every answer exact.
TEST(JobSim, WholeInt64DomainWithFaults) {
  Sweep("int64", 100000, 300, 2, [](JobSimOptions* o) {
    o->int64_ranges = true;
    o->speed_min = 1e15;
    o->speed_max = 1e17;
    o->coordinator_crashes = true;
    o->faults_per_s = 1.0;
  });
}

TEST(JobSim, OneWorkerOnlyNoCoordinatorWork) {
  Sweep("lonely", 90000, 300, 2, [](JobSimOptions* o) {
    o->workers = 1;
    o->coordinator_works = false;
    o->faults_per_s = 0.5;
  });
}

}  // namespace
}  // namespace velum::sim
