// Unit tests of the coordinator driven by scripted workers: chunk sizing, assignment, losses
// (down, silent, stale), errors and retries, backups, cancel, limits, and the journal: every
// prefix of its ops restores into a new coordinator (a later epoch) that finishes exactly.
#include "core/coordinator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/reducer.h"
#include "tests/sim/job_test_util.h"

namespace velum::sim {
namespace {

using core::AttemptId;
using core::Coordinator;
using core::CoordinatorConfig;
using core::CoordinatorOutput;
using core::JobId;
using core::JobState;

constexpr core::NodeId kSelf = 1;

CoordinatorConfig NoBackups() {
  CoordinatorConfig c;
  c.backup_after_ms = 1u << 30;
  return c;
}

// A coordinator with scripted workers; Submit fails the test on error.
struct Fixture {
  explicit Fixture(CoordinatorConfig config = {}, uint32_t epoch = 1, JobId first_job = 1)
      : c(kSelf, config, epoch, first_job), w(&c) {}
  void Up(core::NodeId id, uint32_t slots) { w.Take(c.OnWorkerUp(id, slots, now)); }
  JobId Submit(const core::JobSpec& spec) {
    JobId id = 0;
    std::string error;
    CoordinatorOutput out = c.Submit(spec, now, &id, &error);
    EXPECT_EQ(error, "");
    w.Take(std::move(out));
    return id;
  }
  const core::Job& job(JobId id) { return *c.job(id); }
  Coordinator c;
  ScriptedWorkers w;
  uint64_t now = 0;
};

std::vector<core::NodeId> WorkersOf(const std::vector<std::pair<core::NodeId, core::Assign>>& v) {
  std::vector<core::NodeId> out;
  for (const auto& [to, a] : v) out.push_back(to);
  return out;
}

TEST(Coordinator, FirstWaveIsGuidedByTotalSlots) {
  Fixture f(NoBackups());
  f.Up(2, 2);
  f.Up(3, 2);
  JobId id = f.Submit(SpecOf("sum", 0, 1'000'000));
  ASSERT_EQ(f.w.assigns.size(), 4u);  // every slot busy
  // Each new chunk: what is left / (2 * 4 slots), rates all unknown (equal).
  int64_t left = 1'000'000, at = 0;
  for (size_t i = 0; i < 4; i++) {
    int64_t size = left / 8;
    const core::Assign& a = f.w.assigns[i].second;
    EXPECT_EQ(a.start, at) << i;
    EXPECT_EQ(a.end, at + size) << i;
    EXPECT_EQ(a.job, id);
    EXPECT_EQ(a.func, "sum");
    EXPECT_EQ(a.slice_ms, 150u);
    at += size;
    left -= size;
  }
  EXPECT_EQ(f.w.assigns[0].second.end, 125000);
  EXPECT_EQ(f.w.assigns[1].second.end - f.w.assigns[1].second.start, 109375);
  // The most free slots first, then the lowest id.
  EXPECT_EQ(WorkersOf(f.w.assigns), (std::vector<core::NodeId>{2, 3, 2, 3}));
  EXPECT_EQ(f.job(id).ledger.next_unassigned(), at);
}

TEST(Coordinator, LaterChunksFollowMeasuredRates) {
  for (uint32_t min_chunk_ms : {250u, 20000u}) {
    SCOPED_TRACE("min_chunk_ms " + std::to_string(min_chunk_ms));
    CoordinatorConfig config = NoBackups();
    config.min_chunk_ms = min_chunk_ms;
    Fixture f(config);
    f.Up(2, 2);
    f.Up(3, 2);
    JobId id = f.Submit(SpecOf("sum", 0, 10'000'000));
    AttemptId a2 = f.w.assigns[0].second.attempt;  // worker 2's first chunk
    AttemptId a3 = f.w.assigns[1].second.attempt;  // worker 3's
    ASSERT_EQ(f.w.assigns[1].first, 3u);
    // Worker 3 runs at 10^4 items/s per slot; worker 2 at 10^5 (100 us and 10 us per item).
    f.w.Step(a3, 10'000, 100, 100.0);
    EXPECT_DOUBLE_EQ(f.job(id).rate.at(3), 1e4);
    f.w.Step(a2, 20'000, 110, 10.0);
    EXPECT_DOUBLE_EQ(f.job(id).rate.at(2), 1e5);
    // A second sample (2 * 10^5) moves the average by 30%.
    f.w.Step(a2, 10'000, 120, 5.0);
    EXPECT_DOUBLE_EQ(f.job(id).rate.at(2), 0.7 * 1e5 + 0.3 * 2e5);
    // Worker 2 finishes its chunk: the next one is cut for its share of the throughput.
    size_t before = f.w.assigns.size();
    uint64_t left = static_cast<uint64_t>(10'000'000 - f.job(id).ledger.next_unassigned());
    f.w.Step(a2, 10'000'000, 130, 5.0);
    double r2 = f.job(id).rate.at(2), r3 = f.job(id).rate.at(3);
    EXPECT_DOUBLE_EQ(r2, 0.7 * (0.7 * 1e5 + 0.3 * 2e5) + 0.3 * 2e5);
    ASSERT_EQ(f.w.assigns.size(), before + 1);
    EXPECT_EQ(f.w.assigns.back().first, 2u);
    const core::Assign& next = f.w.assigns.back().second;
    // Its speed is planned at the slower of its own rate and the mesh's mean per slot (its
    // rate was measured on another part of the range, where items may cost less).
    double planned = std::min(r2, (r2 * 2 + r3 * 2) / 4);
    EXPECT_LT(planned, r2);  // worker 2 is the faster: the mean caps it
    double guided = static_cast<double>(left) * (planned / (r2 * 2 + r3 * 2)) / 2;
    double at_least = r2 * min_chunk_ms / 1000.0;
    EXPECT_EQ(next.end - next.start, static_cast<int64_t>(std::max(guided, at_least)));
    if (min_chunk_ms == 250) {
      EXPECT_GT(guided, at_least);
      // One slot of four at the mean speed: a quarter of what is left, over 2.
      EXPECT_NEAR(next.end - next.start, left / 8.0, 1.0);
    } else {
      EXPECT_GT(at_least, guided);
      EXPECT_EQ(next.end - next.start, static_cast<int64_t>(r2 * 20));
    }
  }
}

TEST(Coordinator, FixedChunksWithLookahead) {
  for (uint32_t lookahead : {0u, 1u, 2u}) {
    SCOPED_TRACE("lookahead " + std::to_string(lookahead));
    CoordinatorConfig config = NoBackups();
    config.lookahead_per_slot = lookahead;
    Fixture f(config);
    f.Up(2, 2);
    JobId id = f.Submit(SpecOf("sum", 0, 10'500, 1000));
    // Slots plus lookahead per slot are held at once.
    ASSERT_EQ(f.w.assigns.size(), 2u + 2u * lookahead);
    for (size_t i = 0; i < f.w.assigns.size(); i++) {
      EXPECT_EQ(f.w.assigns[i].second.start, static_cast<int64_t>(i) * 1000);
      EXPECT_EQ(f.w.assigns[i].second.end, static_cast<int64_t>(i + 1) * 1000);
    }
    uint64_t t = 0;
    ASSERT_TRUE(f.w.RunJob(id, 400, &t));
    EXPECT_EQ(f.job(id).state, JobState::kDone);
    EXPECT_EQ(f.job(id).ledger.chunks().size(), 11u);
    EXPECT_EQ(f.job(id).ledger.chunks().back().end - f.job(id).ledger.chunks().back().begin, 500);
    EXPECT_EQ(f.job(id).result,
              core::FinalValues(Ref("sum", 0, 10'500), {core::NumKind::kInt, core::NumKind::kInt}));
  }
}

TEST(Coordinator, PrefersFreeSlotsAndHonoursExcludeSelf) {
  {
    Fixture f(NoBackups());
    f.Up(2, 1);
    f.Up(3, 3);
    f.Submit(SpecOf("sum", 0, 1'000'000));
    EXPECT_EQ(WorkersOf(f.w.assigns), (std::vector<core::NodeId>{3, 3, 2, 3}));
  }
  {
    Fixture f(NoBackups());
    f.Up(kSelf, 4);
    core::JobSpec spec = SpecOf("sum", 0, 1'000'000);
    spec.exclude_self = true;
    EXPECT_FALSE(f.c.HasWorkers(spec));
    EXPECT_TRUE(f.c.HasWorkers(SpecOf("sum", 0, 10)));
    JobId id = f.Submit(spec);
    EXPECT_TRUE(f.w.assigns.empty());
    f.Up(2, 1);
    EXPECT_TRUE(f.c.HasWorkers(spec));
    ASSERT_EQ(f.w.assigns.size(), 1u);
    EXPECT_EQ(f.w.assigns[0].first, 2u);
    // A second job, not excluding self, goes to the coordinator's own slots.
    f.Submit(SpecOf("max", 0, 1000));
    for (size_t i = 1; i < f.w.assigns.size(); i++) EXPECT_EQ(f.w.assigns[i].first, kSelf);
    uint64_t t = 0;
    ASSERT_TRUE(f.w.RunJob(id, 50'000, &t));
    for (const auto& [to, a] : f.w.assigns) {
      if (a.job == id) {
        EXPECT_EQ(to, 2u);
      }
    }
  }
}

// Worker 2 holds chunk 0, worker 3 the rest, worker 4 is idle (max_chunks 2).
struct LossFixture : Fixture {
  static CoordinatorConfig Config() {
    CoordinatorConfig c = NoBackups();
    c.max_chunks = 2;
    return c;
  }
  LossFixture() : Fixture(Config()) {
    Up(2, 1);
    Up(3, 1);
    Up(4, 1);
    id = Submit(SpecOf("sum", 0, 600'000));
    EXPECT_EQ(w.assigns.size(), 2u);
    a2 = w.TaskOf(2, id).value();
    a3 = w.TaskOf(3, id).value();
  }
  JobId id;
  AttemptId a2, a3;
};

TEST(Coordinator, WorkerDownReassignsAtOnce) {
  for (bool heard_later : {false, true}) {
    SCOPED_TRACE(heard_later ? "heard after its report" : "last word is its report");
    LossFixture f;
    EXPECT_EQ(f.job(f.id).ledger.chunk(0).end, 100'000);
    // Worker 2 checkpoints 40000 items and is computing up to 60000.
    f.now = 100;
    core::Report r = ReportOf(f.id, f.a2, 40'000, 60'000, Ref("sum", 0, 40'000), 400'000);
    f.w.Take(f.c.OnReport(2, r, f.now));
    if (heard_later) f.c.OnHeard(2, 500);
    f.now = 1500;
    size_t before = f.w.assigns.size();
    CoordinatorOutput out = f.c.OnWorkerDown(2, f.now);
    f.w.Take(out);
    const core::JobStats& s = f.job(f.id).stats;
    EXPECT_EQ(s.reassigned, 1u);
    EXPECT_EQ(s.reassigned_items, 60'000u);
    EXPECT_EQ(s.recomputed, 20'000u);  // [40000, 60000) was in flight
    ASSERT_EQ(s.failures.size(), 1u);
    EXPECT_EQ(s.failures[0].worker, 2u);
    EXPECT_EQ(s.failures[0].at_ms, 1500u);
    EXPECT_EQ(s.failures[0].detection_ms, heard_later ? 1000u : 1400u);
    EXPECT_EQ(s.max_detection_ms(), heard_later ? 1000u : 1400u);
    EXPECT_EQ(s.failures[0].attempts, 1u);
    EXPECT_EQ(s.failures[0].reassigned_items, 60'000u);
    EXPECT_EQ(s.failures[0].recomputed_items, 20'000u);
    // In the same output: the remainder goes to the idle worker, from the committed point.
    ASSERT_EQ(f.w.assigns.size(), before + 1);
    EXPECT_EQ(f.w.assigns.back().first, 4u);
    EXPECT_EQ(f.w.assigns.back().second.start, 40'000);
    EXPECT_EQ(f.w.assigns.back().second.end, 100'000);
    EXPECT_NE(f.w.assigns.back().second.attempt, f.a2);
    EXPECT_EQ(f.job(f.id).ledger.chunk(0).done_upto, 40'000);
    // A worker that is not known: nothing happens.
    EXPECT_TRUE(f.c.OnWorkerDown(9, f.now).messages.empty());
    uint64_t t = f.now;
    ASSERT_TRUE(f.w.RunJob(f.id, 30'000, &t));
    EXPECT_EQ(f.job(f.id).state, JobState::kDone);
    EXPECT_EQ(f.job(f.id).result, Ref("sum", 0, 600'000).values);
    for (const auto& [to, a] : f.w.assigns) EXPECT_TRUE(to != 2 || a.attempt == f.a2);
    // Worker 2 got none of the items it lost: its share is what it had committed.
    EXPECT_EQ(f.job(f.id).shares.at(2).items, 40'000u);
    EXPECT_EQ(f.job(f.id).shares.at(2).chunks, 0u);
  }
}

TEST(Coordinator, SilentAttemptIsLost) {
  LossFixture f;
  // Worker 3 never reports; worker 2 does at t=4000.
  f.now = 4000;
  f.w.Step(f.a2, 1000, f.now);
  EXPECT_EQ(f.c.NextDeadlineMs(), 10'000u);  // worker 3's attempt, opened at 0
  f.w.Take(f.c.Tick(9'999));
  EXPECT_EQ(f.job(f.id).stats.reassigned, 0u);
  size_t before = f.w.assigns.size();
  f.w.Take(f.c.Tick(10'000));
  const core::JobStats& s = f.job(f.id).stats;
  EXPECT_EQ(s.reassigned, 1u);
  EXPECT_EQ(s.reassigned_items, 500'000u);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0].worker, 3u);
  EXPECT_EQ(s.failures[0].detection_ms, 10'000u);
  // Reassigned at once (to a free worker: 3 itself or the idle 4 — 3 is still a member).
  ASSERT_EQ(f.w.assigns.size(), before + 1);
  EXPECT_EQ(f.w.assigns.back().second.start, 100'000);
  EXPECT_EQ(f.c.NextDeadlineMs(), 14'000u);  // worker 2's attempt, last heard at 4000
}

TEST(Coordinator, StaleReportsAreCountedAndCancelledAtALimitedRate) {
  LossFixture f;
  f.now = 100;
  f.w.Take(f.c.OnReport(2, ReportOf(f.id, f.a2, 1000, 2000, Ref("sum", 0, 1000), 1000), f.now));
  f.w.Take(f.c.OnWorkerDown(2, 200));
  // Worker 2 did not notice and reports on: ignored, and told to stop (at most once a second).
  core::Report late = ReportOf(f.id, f.a2, 2000, 3000, Ref("sum", 0, 2000), 2000);
  CoordinatorOutput out = f.c.OnReport(2, late, 300);
  EXPECT_TRUE(HasCancel(out, 2, f.a2));
  EXPECT_TRUE(AssignsIn(out).empty());
  EXPECT_EQ(f.job(f.id).stats.stale_reports, 1u);
  EXPECT_EQ(f.job(f.id).ledger.chunk(0).done_upto, 1000);  // nothing of it counted
  out = f.c.OnReport(2, late, 900);
  EXPECT_TRUE(out.messages.empty());
  EXPECT_EQ(f.job(f.id).stats.stale_reports, 2u);
  out = f.c.OnReport(2, late, 1300);
  EXPECT_TRUE(HasCancel(out, 2, f.a2));
  EXPECT_EQ(f.job(f.id).stats.stale_reports, 3u);
  // A report of another worker's attempt: invalid, stale, and its sender told to stop.
  out = f.c.OnReport(4, ReportOf(f.id, f.a3, 100'010, 100'010, Ref("sum", 100'000, 100'010)), 1400);
  EXPECT_TRUE(HasCancel(out, 4, f.a3));
  EXPECT_EQ(f.job(f.id).stats.invalid_reports, 1u);
  EXPECT_EQ(f.job(f.id).stats.stale_reports, 4u);
  // A report for a job that does not exist (another epoch's, or long gone).
  out = f.c.OnReport(3, ReportOf(77, 12345, 10, 10, {}), 1500);
  EXPECT_TRUE(HasCancel(out, 3, 12345));
  // An older report of a live attempt (reordered) is stale but not cancelled.
  f.w.Take(
      f.c.OnReport(3, ReportOf(f.id, f.a3, 105'000, 105'000, Ref("sum", 100'000, 105'000)), 1600));
  out = f.c.OnReport(3, ReportOf(f.id, f.a3, 104'000, 105'000, Ref("sum", 100'000, 104'000)), 1700);
  EXPECT_TRUE(out.messages.empty());
  EXPECT_EQ(f.job(f.id).stats.stale_reports, 5u);
}

TEST(Coordinator, RetryableErrorsRetryElsewhereThenSkipTheWorkerWhileAnotherCan) {
  CoordinatorConfig config = NoBackups();
  config.max_chunks = 1;
  config.max_failures = 10;
  Fixture f(config);
  f.Up(2, 1);
  f.Up(3, 1);
  JobId id = f.Submit(SpecOf("sum", 0, 100'000));
  ASSERT_EQ(f.w.assigns.size(), 1u);
  AttemptId a = f.w.assigns[0].second.attempt;
  EXPECT_EQ(f.w.assigns[0].first, 2u);
  f.now = 10;
  f.w.Step(a, 1000, f.now);
  // A crashed executor: retryable. The chunk's remainder goes to the other, free worker.
  f.w.Take(f.c.OnReport(2, ErrorReport(id, a, 1000, true, "executor died"), 20));
  EXPECT_EQ(f.job(id).state, JobState::kRunning);
  EXPECT_EQ(f.job(id).stats.retries, 1u);
  EXPECT_EQ(f.job(id).worker_failures.at(2), 1u);
  EXPECT_EQ(f.job(id).ledger.chunk(0).failures, 1u);
  ASSERT_EQ(f.w.assigns.size(), 2u);
  EXPECT_EQ(f.w.assigns[1].first, 3u);
  EXPECT_EQ(f.w.assigns[1].second.start, 1000);
  // Worker 3 fails too; then worker 2 again: two failures and it skips the job.
  f.w.Take(f.c.OnReport(3, ErrorReport(id, f.w.assigns[1].second.attempt, 1000, true, "x"), 30));
  ASSERT_EQ(f.w.assigns.size(), 3u);
  EXPECT_EQ(f.w.assigns[2].first, 2u);
  f.w.Take(f.c.OnReport(2, ErrorReport(id, f.w.assigns[2].second.attempt, 1000, true, "x"), 40));
  ASSERT_EQ(f.w.assigns.size(), 4u);
  EXPECT_EQ(f.w.assigns[3].first, 3u);
  f.w.Take(f.c.OnReport(3, ErrorReport(id, f.w.assigns[3].second.attempt, 1000, true, "x"), 50));
  // Both have failed twice and no other worker could take it: rather than wait for good, the
  // retry goes to one of them anyway (the chunk's max_failures still bounds the retries).
  ASSERT_EQ(f.w.assigns.size(), 5u);
  EXPECT_TRUE(f.w.assigns[4].first == 2u || f.w.assigns[4].first == 3u);
  EXPECT_EQ(f.job(id).state, JobState::kRunning);
  EXPECT_EQ(f.job(id).stats.retries, 4u);
  // A new worker is preferred from then on: the next failure's retry goes to it.
  f.Up(4, 1);
  f.w.Take(f.c.OnReport(f.w.assigns[4].first,
                        ErrorReport(id, f.w.assigns[4].second.attempt, 1000, true, "x"), 60));
  ASSERT_EQ(f.w.assigns.size(), 6u);
  EXPECT_EQ(f.w.assigns[5].first, 4u);
  uint64_t t = 100;
  ASSERT_TRUE(f.w.RunJob(id, 10'000, &t));
  EXPECT_EQ(f.job(id).result, Ref("sum", 0, 100'000).values);
}

TEST(Coordinator, TooManyFailuresOfAChunkFailTheJob) {
  CoordinatorConfig config = NoBackups();
  config.max_chunks = 1;
  config.max_failures = 3;
  config.worker_failures = 100;
  Fixture f(config);
  f.Up(2, 1);
  JobId id = f.Submit(SpecOf("sum", 0, 1000));
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(f.w.assigns.size(), static_cast<size_t>(i + 1));
    f.w.Take(f.c.OnReport(
        2, ErrorReport(id, f.w.assigns.back().second.attempt, 0, true, "busy " + std::to_string(i)),
        10 + i));
  }
  EXPECT_EQ(f.w.assigns.size(), 3u);
  EXPECT_EQ(f.job(id).state, JobState::kFailed);
  EXPECT_EQ(f.job(id).error,
            "gave up after 3 failed attempts; last: busy 2 (node 2, items [0, 0))");
  ASSERT_EQ(f.w.events.size(), 1u);
  EXPECT_EQ(f.w.events[0].state, JobState::kFailed);
}

TEST(Coordinator, NonRetryableErrorFailsTheJob) {
  Fixture f(NoBackups());
  f.Up(2, 1);
  f.Up(3, 1);
  JobId id = f.Submit(SpecOf("sum", 0, 1'000'000));
  AttemptId a2 = f.w.TaskOf(2, id).value();
  AttemptId a3 = f.w.TaskOf(3, id).value();
  f.w.Take(f.c.OnReport(2, ReportOf(id, a2, 1000, 3000, Ref("sum", 0, 1000)), 5));
  // A report from the wrong worker with an error: stale, not a failure.
  f.w.Take(f.c.OnReport(3, ErrorReport(id, a2, 1000, false, "nope"), 6));
  EXPECT_EQ(f.job(id).state, JobState::kRunning);
  CoordinatorOutput out = f.c.OnReport(2, ErrorReport(id, a2, 1000, false, "trap: unreachable"), 7);
  f.w.Take(out);
  EXPECT_EQ(f.job(id).state, JobState::kFailed);
  EXPECT_EQ(f.job(id).error, "trap: unreachable (node 2, items [1000, 3000))");
  EXPECT_TRUE(HasCancel(out, 3, a3));  // the other attempt is stopped
  EXPECT_TRUE(HasCancel(out, 2, a2));  // and the failed one released
  EXPECT_EQ(f.job(id).ledger.active_attempts(), 0u);
  ASSERT_FALSE(f.w.journal.empty());
  const auto& last = std::get<core::JournalJob>(f.w.journal.back());
  EXPECT_EQ(last.state, JobState::kFailed);
  EXPECT_EQ(last.error, f.job(id).error);
  // Reports after the end: told to stop.
  EXPECT_TRUE(HasCancel(f.c.OnReport(3, ReportOf(id, a3, 5, 5, {}), 9000), 3, a3));
}

// Worker 2 is 1000x slower than worker 3; at the tail worker 3 backs it up.
struct BackupFixture : Fixture {
  static CoordinatorConfig Config() {
    CoordinatorConfig c;
    c.max_chunks = 2;
    return c;
  }
  BackupFixture() : Fixture(Config()) {
    Up(2, 1);
    Up(3, 1);
    id = Submit(SpecOf("sum", 0, 100'000));
    a2 = w.TaskOf(2, id).value();
    a3 = w.TaskOf(3, id).value();
    EXPECT_EQ(job(id).ledger.chunk(0).end, 25'000);
  }
  JobId id;
  AttemptId a2, a3;
};

TEST(Coordinator, BackupForAStragglerEitherWins) {
  for (bool backup_wins : {true, false}) {
    SCOPED_TRACE(backup_wins ? "backup wins" : "original wins");
    BackupFixture f;
    // The straggler: 1000 items in a second, computing up to 3000.
    f.w.Take(
        f.c.OnReport(2, ReportOf(f.id, f.a2, 1000, 3000, Ref("sum", 0, 1000), 1'000'000), 1000));
    // No backup while nobody is idle.
    EXPECT_EQ(f.job(f.id).stats.backups, 0u);
    // Worker 3 finishes its chunk quickly (1 us per item), is idle, and backs up worker 2.
    size_t before = f.w.assigns.size();
    f.w.Step(f.a3, 75'000, 1100, 1.0);
    EXPECT_EQ(f.job(f.id).stats.backups, 1u);
    ASSERT_EQ(f.w.assigns.size(), before + 1);
    EXPECT_EQ(f.w.assigns.back().first, 3u);
    AttemptId b = f.w.assigns.back().second.attempt;
    EXPECT_EQ(f.w.assigns.back().second.start, 1000);
    EXPECT_EQ(f.w.assigns.back().second.end, 25'000);
    EXPECT_TRUE(f.job(f.id).ledger.FindAttempt(b)->backup);
    // Only one backup per chunk, however often the schedule runs.
    f.w.Take(f.c.Tick(1200));
    EXPECT_EQ(f.job(f.id).stats.backups, 1u);
    CoordinatorOutput out;
    if (backup_wins) {
      f.w.Step(b, 4000, 1300, 1.0);  // to 5000
      out = f.w.Step(b, 100'000, 1400, 1.0);
      // The straggler computed [1000, 3000), which the backup did too.
      EXPECT_EQ(f.job(f.id).stats.recomputed, 2000u);
      EXPECT_TRUE(HasCancel(out, 2, f.a2));
      EXPECT_EQ(f.job(f.id).shares.at(3).chunks, 2u);
    } else {
      // The backup gets to 5000 and is computing up to 9000 when the original finishes.
      f.w.Take(f.c.OnReport(3, ReportOf(f.id, b, 5000, 9000, Ref("sum", 1000, 5000), 4000), 1300));
      f.w.tasks.at(f.a2).upto = 1000;
      out = f.w.Step(f.a2, 100'000, 1400, 1.0);
      // The backup's [1000, 9000) duplicated the original's work.
      EXPECT_EQ(f.job(f.id).stats.recomputed, 8000u);
      EXPECT_TRUE(HasCancel(out, 3, b));
      EXPECT_EQ(f.job(f.id).shares.at(2).chunks, 1u);
    }
    EXPECT_EQ(f.job(f.id).state, JobState::kDone);
    EXPECT_EQ(f.job(f.id).result, Ref("sum", 0, 100'000).values);
    EXPECT_EQ(f.job(f.id).shares.at(2).items + f.job(f.id).shares.at(3).items, 100'000u);
  }
}

// An idle worker must be found for a backup even when a worker before it (in id order) has a
// free slot but nothing it could back up (here: the straggler itself, with a second slot).
TEST(Coordinator, BackupFoundPastAnIdleSlotWithNoCandidate) {
  CoordinatorConfig config;
  config.max_chunks = 3;
  Fixture f(config);
  f.Up(2, 2);
  f.Up(3, 1);
  JobId id = f.Submit(SpecOf("sum", 0, 600'000));
  ASSERT_EQ(WorkersOf(f.w.assigns), (std::vector<core::NodeId>{2, 2, 3}));
  AttemptId c0 = f.w.assigns[0].second.attempt, c1 = f.w.assigns[1].second.attempt;
  AttemptId c2 = f.w.assigns[2].second.attempt;
  // Worker 2 is slow (1 ms per item): a checkpoint on chunk 0, and chunk 1 done.
  f.w.Step(c0, 1000, 1000, 1000.0);
  f.w.Step(c1, 1'000'000, 2000, 1000.0);
  EXPECT_EQ(f.job(id).stats.backups, 0u);
  // Worker 3 is fast; when it is done, it backs up chunk 0 although worker 2 has a free slot.
  f.w.Step(c2, 1'000'000, 3000, 1.0);
  EXPECT_EQ(f.job(id).stats.backups, 1u);
  ASSERT_EQ(f.w.assigns.size(), 4u);
  EXPECT_EQ(f.w.assigns[3].first, 3u);
  EXPECT_EQ(f.w.assigns[3].second.start, 1000);
  EXPECT_EQ(f.w.assigns[3].second.end, 100'000);
}

TEST(Coordinator, CancelStopsEveryAttempt) {
  Fixture f(NoBackups());
  f.Up(2, 2);
  JobId id = f.Submit(SpecOf("sum", 0, 1'000'000));
  ASSERT_EQ(f.w.assigns.size(), 2u);
  CoordinatorOutput out = f.c.Cancel(id, 50, "cancelled by the user");
  f.w.Take(out);
  EXPECT_EQ(f.job(id).state, JobState::kCancelled);
  EXPECT_EQ(f.job(id).error, "cancelled by the user");
  EXPECT_EQ(CancelsIn(out).size(), 2u);
  for (const auto& [to, a] : f.w.assigns) EXPECT_TRUE(HasCancel(out, to, a.attempt));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].state, JobState::kCancelled);
  ASSERT_EQ(out.journal.size(), 1u);
  EXPECT_EQ(std::get<core::JournalJob>(out.journal[0]).state, JobState::kCancelled);
  EXPECT_EQ(std::get<core::JournalJob>(out.journal[0]).elapsed_ms, 50u);
  EXPECT_EQ(f.c.running_jobs(), 0u);
  // Again, or an unknown job: nothing.
  EXPECT_TRUE(f.c.Cancel(id, 60, "again").events.empty());
  EXPECT_TRUE(f.c.Cancel(999, 60, "no such").events.empty());
  // A late report is told to stop.
  AttemptId a = f.w.assigns[0].second.attempt;
  EXPECT_TRUE(HasCancel(f.c.OnReport(2, ReportOf(id, a, 10, 10, Ref("sum", 0, 10)), 70), 2, a));
}

TEST(Coordinator, SubmitLimits) {
  CoordinatorConfig config = NoBackups();
  config.max_running_jobs = 2;
  config.max_chunks = 10;
  config.max_finished_jobs = 1;
  Fixture f(config);
  f.Up(2, 1);
  JobId id = 0;
  std::string error;
  // Exactly max_chunks fixed chunks fit; one more do not.
  f.c.Submit(SpecOf("sum", 0, 100, 10), 0, &id, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(id, 1u);
  error.clear();
  JobId none = 0;
  CoordinatorOutput out = f.c.Submit(SpecOf("sum", 0, 100, 9), 0, &none, &error);
  EXPECT_EQ(error, "--chunk 9 cuts 100 items into more than 10 chunks");
  EXPECT_EQ(none, 0u);
  EXPECT_TRUE(out.messages.empty() && out.journal.empty());
  error.clear();
  f.c.Submit(SpecOf("sum", 0, 100), 0, &id, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(id, 2u);
  out = f.c.Submit(SpecOf("sum", 0, 100), 0, &none, &error);
  EXPECT_EQ(error, "too many running jobs (2); wait or cancel one");
  EXPECT_EQ(none, 0u);
  EXPECT_TRUE(out.messages.empty() && out.journal.empty());
  // Finished jobs are kept up to max_finished_jobs (the oldest go first).
  f.c.Cancel(1, 1, "x");
  f.c.Cancel(2, 1, "y");
  error.clear();
  f.c.Submit(SpecOf("sum", 0, 100), 2, &id, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(id, 3u);
  EXPECT_EQ(f.c.job(1), nullptr);
  ASSERT_NE(f.c.job(2), nullptr);
  EXPECT_EQ(f.c.job(2)->state, JobState::kCancelled);
}

// The whole int64 range: 2^64 - 1 items, more than an int64 can count. Guided chunks for one
// slot would be half of that; fixed chunks may be asked as large.
TEST(Coordinator, WholeInt64Range) {
  for (uint64_t chunk : {uint64_t{0}, uint64_t{1} << 63, UINT64_MAX}) {
    SCOPED_TRACE("chunk_items " + std::to_string(chunk));
    Fixture f(NoBackups());
    f.Up(2, 1);
    JobId id = f.Submit(SpecOf("sum", INT64_MIN, INT64_MAX, chunk));
    ASSERT_GE(f.w.assigns.size(), 1u);
    const core::Assign& a = f.w.assigns[0].second;
    EXPECT_EQ(a.start, INT64_MIN);
    EXPECT_GT(a.end, a.start);
    uint64_t t = 0;
    ASSERT_TRUE(f.w.RunJob(id, int64_t{1} << 61, &t));
    EXPECT_EQ(f.job(id).state, JobState::kDone);
    EXPECT_EQ(f.job(id).result, Ref("sum", INT64_MIN, INT64_MAX).values);
    EXPECT_EQ(f.job(id).ledger.items_done(), UINT64_MAX);
  }
}

// Property: a job over any range of the int64 domain, with guided or fixed chunks, on one to
// three workers reporting in random steps, ends done with the exact answer and every item
// counted once.
TEST(Coordinator, RandomInt64RangesFinishExactly) {
  for (uint64_t seed : Seeds(500, 300)) {
    core::Rng rng(seed);
    int64_t lo = 0, hi = 0;
    RandomInt64Range(rng, &lo, &hi);
    uint64_t items = core::ItemsIn(lo, hi);
    uint64_t chunk = 0;  // guided
    if (rng.Chance(0.4)) chunk = std::max<uint64_t>(items >> rng.Uniform(12), 1);
    const std::string func = rng.Chance(0.5) ? "sum" : "max";
    SCOPED_TRACE(func + " [" + std::to_string(lo) + ", " + std::to_string(hi) + ") chunk " +
                 std::to_string(chunk) + " " + ReplayCommand(seed));
    Fixture f(NoBackups());
    uint32_t workers = 1 + static_cast<uint32_t>(rng.Uniform(3));
    for (uint32_t i = 0; i < workers; i++) f.Up(2 + i, 1 + static_cast<uint32_t>(rng.Uniform(2)));
    JobId id = f.Submit(SpecOf(func, lo, hi, chunk));
    int64_t slice = static_cast<int64_t>(std::max<uint64_t>((items >> rng.Uniform(6)) / 2, 1));
    uint64_t t = 0;
    ASSERT_TRUE(f.w.RunJob(id, slice, &t));
    f.c.CheckInvariants();
    EXPECT_EQ(f.job(id).state, JobState::kDone) << f.job(id).error;
    EXPECT_EQ(f.job(id).result, Ref(func, lo, hi).values);
    EXPECT_EQ(f.job(id).ledger.items_done(), items);
    uint64_t shared = 0;
    for (const auto& [w, share] : f.job(id).shares) shared += share.items;
    EXPECT_EQ(shared, items);
    if (HasFailure()) return;
  }
}

// Runs three jobs to the end while recording the journal; then every prefix of it is restored
// into a new coordinator (a later epoch), which must finish every job exactly.
TEST(Coordinator, EveryJournalPrefixRestoresAndFinishesExactly) {
  CoordinatorConfig config;
  Fixture f(config, /*epoch=*/1);
  f.Up(2, 2);
  f.Up(3, 1);
  std::vector<core::JobSpec> specs = {SpecOf("sum", -50'000, 250'000),
                                      SpecOf("min", 1000, 40'000, 3000),
                                      SpecOf("first:150000:140001", 1, 200'000)};
  std::vector<JobId> ids;
  for (const auto& s : specs) ids.push_back(f.Submit(s));
  uint64_t t = 0;
  for (JobId id : ids) ASSERT_TRUE(f.w.RunJob(id, 7'000, &t));
  for (size_t i = 0; i < ids.size(); i++) {
    ASSERT_EQ(f.job(ids[i]).state, JobState::kDone);
    EXPECT_EQ(
        f.job(ids[i]).result,
        core::FinalValues(Ref(specs[i].func, specs[i].start, specs[i].end), specs[i].result_kinds));
  }
  std::set<AttemptId> old_attempts;
  for (const auto& [to, a] : f.w.assigns) {
    EXPECT_EQ(a.attempt >> 40, 1u);
    old_attempts.insert(a.attempt);
  }
  const std::vector<core::JournalOp>& ops = f.w.journal;
  ASSERT_GT(ops.size(), 20u);
  std::printf("FIGURE coordinator_journal_ops=%zu\n", ops.size());

  size_t restored_running = 0;
  for (size_t n = 0; n <= ops.size(); n++) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " ops");
    JournalMaps maps;
    for (size_t i = 0; i < n; i++) maps.Apply(ops[i]);
    JobId first = 1;
    for (const auto& [id, j] : maps.jobs) first = std::max(first, id + 1);
    Fixture g(config, /*epoch=*/2, first);
    maps.RestoreInto(&g.c, 5000);
    g.c.CheckInvariants();
    // A late report of an old attempt is stale to the new coordinator, and changes nothing.
    for (const auto& [to, old] : f.w.assigns) {
      const core::Job* job = g.c.job(old.job);
      if (!job || job->state != JobState::kRunning) continue;
      uint64_t done = job->ledger.items_done(), stale = job->stats.stale_reports;
      CoordinatorOutput out = g.c.OnReport(
          to, ReportOf(old.job, old.attempt, old.end, old.end, Ref(old.func, old.start, old.end)),
          5000);
      EXPECT_TRUE(HasCancel(out, to, old.attempt));
      EXPECT_TRUE(AssignsIn(out).empty());
      EXPECT_EQ(job->ledger.items_done(), done);
      EXPECT_EQ(job->stats.stale_reports, stale + 1);
      break;
    }
    // Everything of the prefix was taken: each running job has all its journaled chunks.
    for (const auto& [id, j] : maps.jobs) {
      const core::Job* job = g.c.job(id);
      ASSERT_NE(job, nullptr);
      if (j.state != JobState::kRunning) continue;
      restored_running++;
      EXPECT_TRUE(job->resumed);
      std::vector<core::JournalChunk> chunks = maps.ChunksOf(id);
      ASSERT_EQ(job->ledger.chunks().size(), chunks.size());
      for (size_t k = 0; k < chunks.size(); k++)
        EXPECT_EQ(job->ledger.chunk(k).done_upto, chunks[k].done_upto);
    }
    g.Up(2, 2);
    g.Up(3, 1);
    uint64_t tt = 5000;
    for (const auto& [id, j] : maps.jobs) ASSERT_TRUE(g.w.RunJob(id, 9'000, &tt)) << "job " << id;
    for (size_t i = 0; i < ids.size(); i++) {
      if (!maps.jobs.count(ids[i])) continue;  // not yet durable: the user never got its id
      const core::Job* job = g.c.job(ids[i]);
      ASSERT_EQ(job->state, JobState::kDone) << "job " << ids[i];
      EXPECT_EQ(job->result, core::FinalValues(Ref(specs[i].func, specs[i].start, specs[i].end),
                                               specs[i].result_kinds))
          << "job " << ids[i];
    }
    // The new epoch's attempts are distinct from every old one.
    for (const auto& [to, a] : g.w.assigns) {
      EXPECT_EQ(a.attempt >> 40, 2u);
      EXPECT_FALSE(old_attempts.count(a.attempt));
    }
  }
  EXPECT_GT(restored_running, 0u);
}

// The timeline (the dashboard's lanes): each attempt as it ended, on the job's clock, then the
// running ones; a worker lost, an error and a cancel each mark theirs.
TEST(CoordinatorTimeline, RecordsEachAttemptWithHowItEnded) {
  LossFixture f;
  f.now = 100;
  f.w.Take(f.c.OnReport(2, ReportOf(f.id, f.a2, 40'000, 60'000, Ref("sum", 0, 40'000), 400), 100));
  std::optional<core::JobTimeline> t = f.c.Timeline(f.id, 200);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->state, JobState::kRunning);
  EXPECT_EQ(t->elapsed_ms, 200u);
  ASSERT_EQ(t->spans.size(), 2u);  // both running, by attempt
  EXPECT_EQ(t->spans[0].worker, 2u);
  EXPECT_EQ(t->spans[0].begin, 0);
  EXPECT_EQ(t->spans[0].end, 100'000);
  EXPECT_EQ(t->spans[0].done, 40'000);
  EXPECT_EQ(t->spans[0].started_ms, 0u);
  EXPECT_EQ(t->spans[0].ended_ms, 200u);
  EXPECT_EQ(t->spans[0].outcome, core::SpanOutcome::kRunning);
  EXPECT_EQ(t->spans[1].worker, 3u);
  EXPECT_EQ(t->spans[1].begin, 100'000);
  EXPECT_EQ(t->spans[1].end, 600'000);

  f.now = 1500;
  f.w.Take(f.c.OnWorkerDown(2, f.now));  // its remainder goes to worker 4
  AttemptId a4 = f.w.TaskOf(4, f.id).value();
  f.now = 1600;
  f.w.Take(f.c.OnReport(4, ErrorReport(f.id, a4, 40'000, true, "executor died"), f.now));
  f.now = 2000;
  f.w.Take(f.c.Cancel(f.id, f.now, "by the test"));
  t = f.c.Timeline(f.id, 5000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->state, JobState::kCancelled);
  EXPECT_EQ(t->elapsed_ms, 2000u);  // until it ended, not until now
  EXPECT_EQ(t->dropped, 0u);
  ASSERT_GE(t->spans.size(), 3u);
  const core::ChunkSpan& lost = t->spans[0];
  EXPECT_EQ(lost.worker, 2u);
  EXPECT_EQ(lost.outcome, core::SpanOutcome::kLost);
  EXPECT_EQ(lost.done, 40'000);
  EXPECT_EQ(lost.started_ms, 0u);
  EXPECT_EQ(lost.ended_ms, 1500u);
  const core::ChunkSpan& failed = t->spans[1];
  EXPECT_EQ(failed.worker, 4u);
  EXPECT_EQ(failed.outcome, core::SpanOutcome::kFailed);
  EXPECT_EQ(failed.begin, 40'000);
  EXPECT_EQ(failed.end, 100'000);
  EXPECT_EQ(failed.started_ms, 1500u);
  EXPECT_EQ(failed.ended_ms, 1600u);
  // The rest were running when the job was cancelled: stopped at 2000, none still running.
  for (size_t i = 2; i < t->spans.size(); i++) {
    EXPECT_EQ(t->spans[i].outcome, core::SpanOutcome::kStopped) << i;
    EXPECT_EQ(t->spans[i].ended_ms, 2000u) << i;
  }
  EXPECT_FALSE(f.c.Timeline(f.id + 1, 0).has_value());
}

// Past max_timeline_spans the oldest spans go, counted; the newest are kept in order.
TEST(CoordinatorTimeline, KeepsTheNewestSpansWithinItsBound) {
  CoordinatorConfig config = NoBackups();
  config.max_timeline_spans = 4;
  Fixture f(config);
  f.Up(2, 1);
  JobId id = f.Submit(SpecOf("sum", 0, 1000, 100));
  ASSERT_TRUE(f.w.RunJob(id, 100, &f.now));
  ASSERT_EQ(f.job(id).state, JobState::kDone);
  std::optional<core::JobTimeline> t = f.c.Timeline(id, f.now);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->dropped, 6u);
  ASSERT_EQ(t->spans.size(), 4u);
  for (size_t i = 0; i < 4; i++) {
    EXPECT_EQ(t->spans[i].begin, static_cast<int64_t>(600 + 100 * i)) << i;
    EXPECT_EQ(t->spans[i].end, t->spans[i].begin + 100) << i;
    EXPECT_EQ(t->spans[i].done, t->spans[i].end) << i;
    EXPECT_EQ(t->spans[i].outcome, core::SpanOutcome::kDone) << i;
    EXPECT_EQ(t->spans[i].worker, 2u);
    EXPECT_LE(t->spans[i].started_ms, t->spans[i].ended_ms);
    if (i > 0) {
      EXPECT_LE(t->spans[i - 1].ended_ms, t->spans[i].ended_ms);
    }
  }
  EXPECT_EQ(f.job(id).timeline.spans().size(), 4u);
}

// Finished jobs beyond the newest `finished_timelines` let their spans go (counted as dropped).
TEST(CoordinatorTimeline, OnlyTheNewestFinishedJobsKeepTheirs) {
  CoordinatorConfig config = NoBackups();
  config.finished_timelines = 1;
  Fixture f(config);
  f.Up(2, 1);
  JobId first = f.Submit(SpecOf("sum", 0, 300, 100));
  ASSERT_TRUE(f.w.RunJob(first, 100, &f.now));
  JobId second = f.Submit(SpecOf("sum", 0, 200, 100));
  ASSERT_TRUE(f.w.RunJob(second, 100, &f.now));
  EXPECT_EQ(f.c.Timeline(first, f.now)->spans.size(), 3u);  // kept until the next Prune
  JobId third = f.Submit(SpecOf("sum", 0, 100));            // a submission prunes
  std::optional<core::JobTimeline> t = f.c.Timeline(first, f.now);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->spans.empty());
  EXPECT_EQ(t->dropped, 3u);
  EXPECT_EQ(f.c.Timeline(second, f.now)->spans.size(), 2u);
  EXPECT_EQ(f.c.Timeline(second, f.now)->dropped, 0u);
  EXPECT_EQ(f.job(third).state, JobState::kRunning);
}

// The span log alone: its bound, and the words of outcomes.
TEST(CoordinatorTimeline, SpanLogBound) {
  core::SpanLog log;
  for (int64_t i = 0; i < 10; i++) {
    core::ChunkSpan s;
    s.begin = i;
    s.end = i + 1;
    s.outcome = core::SpanOutcome::kDone;
    log.Add(s, 3);
  }
  EXPECT_EQ(log.spans().size(), 3u);
  EXPECT_EQ(log.dropped(), 7u);
  EXPECT_EQ(log.spans().front().begin, 7);
  EXPECT_EQ(log.spans().back().begin, 9);
  EXPECT_STREQ(core::SpanOutcomeName(core::SpanOutcome::kLost), "lost");
  EXPECT_STREQ(core::SpanOutcomeName(core::SpanOutcome::kStopped), "stopped");
}

}  // namespace
}  // namespace velum::sim
