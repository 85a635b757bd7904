// Unit tests of the worker core: FIFO use of slots, slice sizing, its own limits, reports and
// heartbeats, final reports until released, cancels (also ahead of their assignment),
// duplicates, refusal when full, a coordinator's loss, and failed or inconsistent slices.
#include "core/worker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/reducer.h"
#include "tests/sim/job_test_util.h"

namespace velum::sim {
namespace {

using core::Assign;
using core::Num;
using core::Report;
using core::SliceResult;
using core::SliceRun;
using core::Worker;
using core::WorkerConfig;
using core::WorkerOutput;

constexpr core::NodeId kMe = 5;

Assign AssignOf(core::JobId job, core::AttemptId attempt, int64_t start, int64_t end,
                const std::string& func = "sum") {
  Assign a;
  a.job = job;
  a.attempt = attempt;
  a.func = func;
  a.start = start;
  a.end = end;
  a.reducer = SpecOf(func, 0, 1).reducer;
  a.wide = true;
  a.slice_ms = 150;
  return a;
}

// A worker whose outputs are checked and whose running slices are tracked.
struct Fixture {
  explicit Fixture(WorkerConfig config = {}) : w(kMe, config) {}

  WorkerOutput Take(WorkerOutput out) {
    for (const SliceRun& s : out.start) running[s.id] = s;
    for (uint64_t id : out.cancel) {
      EXPECT_TRUE(running.count(id)) << "cancel of a slice not running: " << id;
      running.erase(id);
    }
    w.CheckInvariants();
    EXPECT_EQ(w.running(), running.size());
    return out;
  }
  WorkerOutput OnAssign(core::NodeId from, const Assign& a) {
    return Take(w.OnAssign(from, a, now));
  }
  WorkerOutput Cancel(core::NodeId from, core::JobId job, core::AttemptId attempt) {
    return Take(w.OnCancel(from, core::Cancel{job, attempt}, now));
  }
  // Completes a running slice with the export's exact results, `us_per_item` each.
  WorkerOutput Finish(uint64_t slice, double us_per_item = 8.0) {
    const SliceRun s = running.at(slice);
    running.erase(slice);
    SliceResult r;
    r.ok = true;
    r.values = SimFunction::Parse(s.func)->Call(s.lo, s.hi);
    r.busy_us = static_cast<uint64_t>(
        std::min(static_cast<double>(core::ItemsIn(s.lo, s.hi)) * us_per_item, 1e15));
    return Take(w.OnSliceDone(slice, r, now));
  }
  WorkerOutput Fail(uint64_t slice, SliceResult r) {
    running.erase(slice);
    return Take(w.OnSliceDone(slice, r, now));
  }
  // The running slice of an attempt.
  const SliceRun* SliceOf(core::AttemptId attempt) const {
    for (const auto& [id, s] : running)
      if (s.attempt == attempt) return &s;
    return nullptr;
  }

  Worker w;
  std::map<uint64_t, SliceRun> running;
  uint64_t now = 0;
};

TEST(Worker, OldestAttemptsTakeTheSlots) {
  WorkerConfig config;
  config.slots = 2;
  Fixture f(config);
  WorkerOutput out = f.OnAssign(1, AssignOf(7, 1, 0, 100));
  ASSERT_EQ(out.start.size(), 1u);
  // No report yet: the first slice's end reports it, or first_report_ms if that is sooner.
  EXPECT_TRUE(out.reports.empty());
  f.OnAssign(1, AssignOf(7, 2, 100, 200));
  out = f.OnAssign(1, AssignOf(7, 3, 200, 300));
  EXPECT_TRUE(out.start.empty());  // both slots busy: queued
  EXPECT_TRUE(out.reports.empty());
  EXPECT_EQ(f.w.tasks(), 3u);
  // first_report_ms after arriving, each attempt says where it is, running or queued.
  EXPECT_EQ(f.w.NextDeadlineMs(), f.now + config.first_report_ms);
  out = f.Take(f.w.Tick(f.now + config.first_report_ms));
  ASSERT_EQ(out.reports.size(), 3u);
  std::map<uint64_t, Report> by_attempt;
  for (const auto& [to, r] : out.reports) {
    EXPECT_EQ(to, 1u);
    by_attempt[r.attempt] = r;
  }
  EXPECT_EQ(by_attempt[1].upto, 0);
  EXPECT_EQ(by_attempt[1].running_to, 1);
  EXPECT_TRUE(by_attempt[1].partial.empty());
  EXPECT_EQ(by_attempt[3].upto, 200);
  EXPECT_EQ(by_attempt[3].running_to, 200);  // queued: nothing running
  // ... and then only at heartbeats.
  EXPECT_TRUE(f.Take(f.w.Tick(f.now + config.first_report_ms + 1)).reports.empty());
  // Attempt 1's slices keep its slot until it is done; 3 starts only when 1 or 2 ends.
  for (int guard = 0; guard < 100 && f.SliceOf(1); guard++) {
    EXPECT_EQ(f.SliceOf(3), nullptr);
    f.Finish(f.SliceOf(1)->id);
  }
  EXPECT_EQ(f.SliceOf(1), nullptr);
  ASSERT_NE(f.SliceOf(3), nullptr);
  ASSERT_NE(f.SliceOf(2), nullptr);
  EXPECT_EQ(f.w.running(), 2u);
}

TEST(Worker, SlicesGrowFromOneItemTowardSliceMs) {
  Fixture f;
  f.OnAssign(1, AssignOf(7, 1, 0, 1'000'000));
  // 8 us per item: 150 ms is 18750 items; growth is at most 16x per slice.
  std::vector<int64_t> sizes;
  for (int i = 0; i < 7; i++) {
    const SliceRun* s = f.SliceOf(1);
    ASSERT_NE(s, nullptr);
    sizes.push_back(s->hi - s->lo);
    f.Finish(s->id);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{1, 16, 256, 4096, 18750, 18750, 18750}));
  // The asked slice time is clamped to the worker's [min_slice_ms, max_slice_ms].
  for (uint32_t asked : {1u, 5000u}) {
    Fixture g;
    Assign a = AssignOf(8, 1, 0, 100'000'000);
    a.slice_ms = asked;
    g.OnAssign(1, a);
    for (int i = 0; i < 6; i++) g.Finish(g.SliceOf(1)->id);
    const SliceRun* s = g.SliceOf(1);
    EXPECT_EQ(s->hi - s->lo, asked == 1 ? 1250 : 250'000) << asked;  // 10 ms, 2000 ms
  }
  // The measured rate carries over to the next attempt of the same job: no 1-item start.
  f.Cancel(1, 7, 1);
  f.OnAssign(1, AssignOf(7, 2, 0, 1'000'000));
  EXPECT_EQ(f.SliceOf(2)->hi - f.SliceOf(2)->lo, 18750);
  // ... but not to another job.
  f.OnAssign(1, AssignOf(9, 1, 0, 1'000'000));
  EXPECT_EQ(f.SliceOf(1)->hi - f.SliceOf(1)->lo, 1);
}

// The regression of `scatter range64.wasm sum_squares 0 9223372036854775807`: on a fast
// export the planned slice exceeded what was left once rounded through a double, the task
// never finished and the next slice aborted the worker. Slices must tile any int64 range
// exactly, whatever the measured rate (fast, slow, absurd) and slice time.
TEST(Worker, SlicesTileAnyInt64RangeExactly) {
  size_t finished = 0;
  std::vector<uint64_t> seeds = Seeds(7000, 3000);
  for (uint64_t seed : seeds) {
    core::Rng rng(seed);
    int64_t lo = 0, hi = 0;
    RandomInt64Range(rng, &lo, &hi);
    if (seed == 7000) lo = 0, hi = INT64_MAX;  // the report's own case, always
    SCOPED_TRACE("[" + std::to_string(lo) + ", " + std::to_string(hi) + ") " + ReplayCommand(seed));
    WorkerConfig config;
    config.slots = 1;
    Fixture f(config);
    Assign a = AssignOf(1, 1, lo, hi);
    a.slice_ms = 1 + static_cast<uint32_t>(rng.Uniform(5000));
    f.OnAssign(1, a);
    // Microseconds per item: from 1e-12 (2^64 items in a few ms) to 100.
    const double exps[] = {-12, -9, -6, -3, 0, 2};
    double us_per_item = std::pow(10.0, exps[rng.Uniform(6)]);
    int64_t expect_lo = lo;
    Report last;
    int slices = 0;
    for (; slices < 200 && f.SliceOf(1); slices++) {
      const SliceRun* s = f.SliceOf(1);
      ASSERT_EQ(s->lo, expect_lo);
      ASSERT_LT(s->lo, s->hi);
      ASSERT_LE(s->hi, hi);
      expect_lo = s->hi;
      WorkerOutput out = f.Finish(s->id, us_per_item);
      ASSERT_FALSE(out.reports.empty());
      last = out.reports.back().second;
      ASSERT_FALSE(last.has_error) << last.error.message;
      ASSERT_EQ(last.upto, expect_lo);
      if (slices % 7 == 0) us_per_item = std::pow(10.0, exps[rng.Uniform(6)]);
    }
    if (f.SliceOf(1)) continue;  // a slow export: 200 slices tiled exactly so far
    finished++;
    EXPECT_EQ(last.upto, hi);
    EXPECT_EQ(last.partial, Ref("sum", lo, hi));
    if (HasFailure()) return;
  }
  // Most runs reach their range's end (the fast exports: the case of the report).
  if (seeds.size() > 1) {
    EXPECT_GT(finished, seeds.size() / 3);
  }
}

// An assignment of a (i32, i32) export whose items do not fit i32 would run on truncated
// arguments: it is refused with an error that says so, and nothing starts.
TEST(Worker, RefusesNarrowAssignmentsBeyondI32) {
  Fixture f;
  core::AttemptId attempt = 1;
  for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, int64_t{INT32_MAX} + 1},
                        {int64_t{INT32_MIN} - 1, 0},
                        {INT64_MIN, INT64_MAX}}) {
    Assign a = AssignOf(3, attempt++, lo, hi);
    a.wide = false;
    WorkerOutput out = f.OnAssign(1, a);
    EXPECT_TRUE(out.start.empty());
    ASSERT_EQ(out.reports.size(), 1u);
    EXPECT_TRUE(out.reports[0].second.has_error);
    EXPECT_NE(out.reports[0].second.error.message.find("do not fit"), std::string::npos)
        << out.reports[0].second.error.message;
  }
  // The widest narrow range runs.
  Assign a = AssignOf(4, 1, INT32_MIN, INT32_MAX);
  a.wide = false;
  EXPECT_EQ(f.OnAssign(1, a).start.size(), 1u);
}

TEST(Worker, ClampsTimeoutAndMemoryToItsOwnLimits) {
  WorkerConfig config;
  config.slots = 8;
  config.max_timeout_ms = 5000;
  config.max_memory_pages = 256;
  Fixture f(config);
  struct Case {
    uint32_t timeout, pages, want_timeout, want_pages;
  } cases[] = {{0, 100, 5000, 100},
               {1000, 1000, 1000, 256},
               {60000, 256, 5000, 256},
               {1000, 0, 1000, 256}};  // 0 asks for the worker's own limit (ClampToOwnLimit)
  core::AttemptId id = 1;
  for (const Case& c : cases) {
    Assign a = AssignOf(7, id, 0, 10);
    a.timeout_ms = c.timeout;
    a.max_memory_pages = c.pages;
    WorkerOutput out = f.OnAssign(1, a);
    ASSERT_EQ(out.start.size(), 1u);
    EXPECT_EQ(out.start[0].timeout_ms, c.want_timeout);
    EXPECT_EQ(out.start[0].max_memory_pages, c.want_pages);
    EXPECT_EQ(out.start[0].coordinator, 1u);
    EXPECT_EQ(out.start[0].job, 7u);
    EXPECT_EQ(out.start[0].attempt, id);
    EXPECT_EQ(out.start[0].func, "sum");
    EXPECT_TRUE(out.start[0].wide);
    id++;
  }
}

TEST(Worker, ReportsAfterEachSliceAndHeartbeats) {
  Fixture f;
  f.now = 1000;
  f.OnAssign(1, AssignOf(7, 1, 100, 100'000));
  uint64_t first = f.SliceOf(1)->id;
  f.now = 1005;
  WorkerOutput out = f.Finish(first);
  ASSERT_EQ(out.reports.size(), 1u);
  const Report& r = out.reports[0].second;
  EXPECT_EQ(r.job, 7u);
  EXPECT_EQ(r.attempt, 1u);
  EXPECT_EQ(r.upto, 101);
  EXPECT_EQ(r.running_to, 117);  // the next slice (16 items) is already running
  EXPECT_EQ(r.partial, Ref("sum", 100, 101));
  EXPECT_EQ(r.busy_us, 8u);
  EXPECT_FALSE(r.has_error);
  f.now = 1010;
  out = f.Finish(f.SliceOf(1)->id);
  EXPECT_EQ(out.reports[0].second.upto, 117);
  EXPECT_EQ(out.reports[0].second.partial, Ref("sum", 100, 117));  // cumulative
  EXPECT_EQ(out.reports[0].second.busy_us, 136u);
  // Heartbeats: nothing before heartbeat_ms, then the same checkpoint again.
  EXPECT_EQ(f.w.NextDeadlineMs(), 2010u);
  EXPECT_TRUE(f.Take(f.w.Tick(2009)).reports.empty());
  out = f.Take(f.w.Tick(2010));
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_EQ(out.reports[0].second.upto, 117);
  EXPECT_EQ(out.reports[0].second.running_to, 117 + 256);
  EXPECT_EQ(f.w.NextDeadlineMs(), 3010u);
  // Queued attempts are heartbeaten too.
  WorkerConfig one;
  one.slots = 1;
  Fixture g(one);
  g.OnAssign(1, AssignOf(7, 1, 0, 1000));
  g.OnAssign(1, AssignOf(7, 2, 1000, 2000));
  out = g.Take(g.w.Tick(1000));
  EXPECT_EQ(out.reports.size(), 2u);
}

TEST(Worker, FinalReportRepeatedUntilReleased) {
  for (bool released : {true, false}) {
    SCOPED_TRACE(released ? "released" : "never released");
    Fixture f;
    f.OnAssign(1, AssignOf(7, 1, 0, 20));
    WorkerOutput out;
    while (f.SliceOf(1)) out = f.Finish(f.SliceOf(1)->id);
    ASSERT_EQ(out.reports.size(), 1u);
    Report final = out.reports[0].second;
    EXPECT_EQ(final.upto, 20);
    EXPECT_EQ(final.running_to, 20);
    EXPECT_EQ(final.partial, Ref("sum", 0, 20));
    EXPECT_EQ(f.w.running(), 0u);
    EXPECT_EQ(f.w.tasks(), 1u);  // held for its release
    for (uint64_t t = 1000; t <= 5000; t += 1000) {
      out = f.Take(f.w.Tick(t));
      ASSERT_EQ(out.reports.size(), 1u) << t;
      EXPECT_EQ(out.reports[0].second, final);
    }
    if (released) {
      f.now = 5500;
      out = f.Cancel(1, 7, 1);
      EXPECT_EQ(f.w.tasks(), 0u);
      EXPECT_TRUE(out.cancel.empty());
      EXPECT_TRUE(f.Take(f.w.Tick(6000)).reports.empty());
    } else {
      EXPECT_EQ(f.w.NextDeadlineMs(), 6000u);
      out = f.Take(f.w.Tick(29'999));
      EXPECT_EQ(f.w.tasks(), 1u);
      out = f.Take(f.w.Tick(30'000));  // final_keep_ms after it finished
      EXPECT_TRUE(out.reports.empty());
      EXPECT_EQ(f.w.tasks(), 0u);
      EXPECT_EQ(f.w.NextDeadlineMs(), UINT64_MAX);
    }
    // Either way it is forgotten: the same assignment again is ignored.
    out = f.OnAssign(1, AssignOf(7, 1, 0, 20));
    EXPECT_TRUE(out.start.empty());
    EXPECT_TRUE(out.reports.empty());
    EXPECT_EQ(f.w.tasks(), 0u);
  }
}

TEST(Worker, CancelStopsRunningSlicesAndFreesTheSlot) {
  WorkerConfig config;
  config.slots = 1;
  Fixture f(config);
  f.OnAssign(1, AssignOf(7, 1, 0, 1000));
  f.OnAssign(1, AssignOf(7, 2, 1000, 2000));
  uint64_t slice = f.SliceOf(1)->id;
  WorkerOutput out = f.Cancel(1, 7, 1);
  EXPECT_EQ(out.cancel, std::vector<uint64_t>{slice});
  ASSERT_EQ(out.start.size(), 1u);  // the queued attempt takes the slot
  EXPECT_EQ(out.start[0].attempt, 2u);
  EXPECT_TRUE(out.reports.empty());
  // The cancelled slice's result, if it still comes, is nobody's.
  SliceResult late;
  late.ok = true;
  late.values = {Num::Int(0), Num::Int(1)};
  out = f.Take(f.w.OnSliceDone(slice, late, 1));
  EXPECT_TRUE(out.reports.empty() && out.start.empty());
  // Cancel with attempt 0: every attempt of the job from that coordinator, no other.
  f.OnAssign(1, AssignOf(7, 3, 2000, 3000));
  f.OnAssign(2, AssignOf(7, 3, 0, 10));
  f.OnAssign(1, AssignOf(8, 1, 0, 10));
  EXPECT_EQ(f.w.tasks(), 4u);
  out = f.Cancel(1, 7, 0);
  EXPECT_EQ(f.w.tasks(), 2u);
  EXPECT_EQ(out.cancel.size(), 1u);
  // A cancel from another coordinator does not touch ours.
  f.Cancel(3, 8, 1);
  EXPECT_EQ(f.w.tasks(), 2u);
}

TEST(Worker, CancelThatOvertakesItsAssignment) {
  Fixture f;
  WorkerOutput out = f.Cancel(1, 7, 4);
  EXPECT_TRUE(out.reports.empty());
  out = f.OnAssign(1, AssignOf(7, 4, 0, 100));
  EXPECT_TRUE(out.start.empty());
  EXPECT_TRUE(out.reports.empty());
  EXPECT_EQ(f.w.tasks(), 0u);
  // Only that attempt of that coordinator: the same ids from another one run.
  out = f.OnAssign(2, AssignOf(7, 4, 0, 100));
  EXPECT_EQ(out.start.size(), 1u);
  // A job-wide cancel (attempt 0) is not remembered: a later assignment runs.
  f.Cancel(1, 9, 0);
  EXPECT_EQ(f.OnAssign(1, AssignOf(9, 1, 0, 100)).start.size(), 1u);
}

TEST(Worker, DuplicateAssignReportsWhereItIs) {
  Fixture f;
  Assign a = AssignOf(7, 1, 0, 1000);
  f.OnAssign(1, a);
  f.Finish(f.SliceOf(1)->id);
  f.Finish(f.SliceOf(1)->id);
  WorkerOutput out = f.OnAssign(1, a);
  EXPECT_TRUE(out.start.empty());
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_EQ(out.reports[0].second.upto, 17);
  EXPECT_EQ(out.reports[0].second.running_to, 17 + 256);
  EXPECT_EQ(f.w.tasks(), 1u);
  EXPECT_EQ(f.w.running(), 1u);
}

TEST(Worker, RefusesBeyondMaxTasks) {
  WorkerConfig config;
  config.slots = 1;
  config.max_tasks = 2;
  Fixture f(config);
  f.OnAssign(1, AssignOf(7, 1, 0, 100));
  f.OnAssign(1, AssignOf(7, 2, 100, 200));
  WorkerOutput out = f.OnAssign(1, AssignOf(7, 3, 200, 300));
  EXPECT_TRUE(out.start.empty());
  ASSERT_EQ(out.reports.size(), 1u);
  const Report& r = out.reports[0].second;
  EXPECT_EQ(r.attempt, 3u);
  EXPECT_TRUE(r.has_error);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.kind, core::kTaskErrorWorkerBusy);
  EXPECT_EQ(r.error.message, "node 5 is busy (2 attempts held)");
  EXPECT_EQ(r.upto, 200);
  EXPECT_EQ(f.w.tasks(), 2u);
  // Malformed: an empty range, or no export name.
  out = f.OnAssign(2, AssignOf(7, 1, 50, 50));
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_EQ(out.reports[0].second.error.message, "malformed assignment");
  Assign noname = AssignOf(7, 2, 0, 5);
  noname.func.clear();
  out = f.OnAssign(2, noname);
  EXPECT_EQ(out.reports[0].second.error.message, "malformed assignment");
  EXPECT_EQ(f.w.tasks(), 2u);
}

TEST(Worker, CoordinatorDownDropsOnlyItsTasks) {
  for (core::NodeId lost : {1u, 2u, UINT32_MAX}) {
    SCOPED_TRACE("coordinator " + std::to_string(lost));
    core::NodeId other = lost == 1 ? 2 : 1;
    WorkerConfig config;
    config.slots = 4;
    Fixture f(config);
    f.OnAssign(lost, AssignOf(7, 1, 0, 1000));
    f.OnAssign(lost, AssignOf(8, 1, 0, 1000));
    f.OnAssign(other, AssignOf(7, 1, 0, 1000));
    // Keys remembered of both: cancels that overtook assignments.
    f.Cancel(lost, 7, 5);
    f.Cancel(other, 7, 5);
    for (int i = 0; i < 3; i++) f.Finish(f.running.begin()->first);  // rates measured
    WorkerOutput out = f.Take(f.w.OnCoordinatorDown(lost, 10));
    EXPECT_EQ(out.cancel.size(), 2u);  // its two running slices
    EXPECT_EQ(f.w.tasks(), 1u);
    EXPECT_EQ(f.w.running(), 1u);
    EXPECT_EQ(f.running.begin()->second.coordinator, other);
    // A restarted coordinator may reuse ids: nothing remembered of the old one silences it,
    // and its jobs' rates are forgotten (a fresh 1-item start).
    out = f.OnAssign(lost, AssignOf(7, 5, 0, 1000));
    ASSERT_EQ(out.start.size(), 1u);
    EXPECT_EQ(out.start[0].hi - out.start[0].lo, 1);
    // The other coordinator's remembered cancel still holds, and its rate too.
    EXPECT_TRUE(f.OnAssign(other, AssignOf(7, 5, 0, 1000)).start.empty());
    out = f.OnAssign(other, AssignOf(7, 6, 0, 1'000'000));
    ASSERT_EQ(out.start.size(), 1u);
    EXPECT_GT(out.start[0].hi - out.start[0].lo, 1);
  }
}

TEST(Worker, ErrorEndsTheAttempt) {
  Fixture f;
  f.OnAssign(1, AssignOf(7, 1, 0, 1000));
  f.Finish(f.SliceOf(1)->id);
  SliceResult r;
  r.ok = false;
  r.error.kind = 3;
  r.error.message = "trap: integer divide by zero";
  r.busy_us = 40;
  int64_t failed_hi = f.SliceOf(1)->hi;
  WorkerOutput out = f.Fail(f.SliceOf(1)->id, r);
  EXPECT_TRUE(out.start.empty());
  ASSERT_EQ(out.reports.size(), 1u);
  Report final = out.reports[0].second;
  EXPECT_TRUE(final.has_error);
  EXPECT_EQ(final.error, r.error);
  EXPECT_EQ(final.upto, 1);                // the last good checkpoint
  EXPECT_EQ(final.running_to, failed_hi);  // the slice where the error is
  EXPECT_GT(failed_hi, 1);
  EXPECT_EQ(final.partial, Ref("sum", 0, 1));
  EXPECT_EQ(final.busy_us, 48u);
  EXPECT_EQ(f.w.running(), 0u);
  // Repeated until released.
  out = f.Take(f.w.Tick(5000));
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_EQ(out.reports[0].second, final);
  f.Cancel(1, 7, 1);
  EXPECT_EQ(f.w.tasks(), 0u);
}

TEST(Worker, ResultsThatDoNotReduceEndTheAttempt) {
  struct Case {
    std::string name;
    std::vector<Num> second;
  } cases[] = {
      {"arity changes", {Num::Int(1), Num::Int(2), Num::Int(3)}},
      {"kind changes", {Num::Int(1), Num::F64(2.0)}},
      {"no results", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Fixture f;
    f.OnAssign(1, AssignOf(7, 1, 0, 1000));
    f.Finish(f.SliceOf(1)->id);
    SliceResult r;
    r.ok = true;
    r.values = c.second;
    r.busy_us = 5;
    WorkerOutput out = f.Fail(f.SliceOf(1)->id, r);
    ASSERT_EQ(out.reports.size(), 1u);
    const Report& final = out.reports[0].second;
    EXPECT_TRUE(final.has_error);
    EXPECT_FALSE(final.error.retryable);
    EXPECT_EQ(final.error.message,
              "the export's results do not reduce (none, too many or changing)");
    EXPECT_EQ(final.upto, 1);
    EXPECT_TRUE(out.start.empty());
  }
  // Too many results, even on the first slice.
  Fixture f;
  f.OnAssign(1, AssignOf(7, 1, 0, 1000));
  SliceResult r;
  r.ok = true;
  r.values.assign(core::kMaxResultValues + 1, Num::Int(1));
  WorkerOutput out = f.Fail(f.SliceOf(1)->id, r);
  EXPECT_TRUE(out.reports[0].second.has_error);
}

TEST(Worker, FirstStopsAtItsFind) {
  Fixture f;
  // first:100:40 over [0, 100000): 40 is found in the slice that covers it.
  f.OnAssign(1, AssignOf(7, 1, 0, 100'000, "first:100:40"));
  WorkerOutput out;
  int slices = 0;
  while (f.SliceOf(1)) {
    out = f.Finish(f.SliceOf(1)->id);
    slices++;
  }
  EXPECT_EQ(slices, 3);  // 1, 16, 256 items: [17, 273) holds 40
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_EQ(out.reports[0].second.upto, 273);
  EXPECT_EQ(out.reports[0].second.partial.values[0], Num::Int(40));
  EXPECT_EQ(f.w.tasks(), 1u);
}

}  // namespace
}  // namespace velum::sim
