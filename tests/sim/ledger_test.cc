// Unit tests of the ledger: cutting, checkpoints (progress, heartbeats, stale and invalid
// reports), backups, the `first` cut-off, and Restore of journal prefixes; invariants checked
// after every step, and every committed prefix compared with the export's closed form.
#include "core/ledger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/random.h"
#include "core/reducer.h"
#include "tests/sim/job_test_util.h"

namespace velum::sim {
namespace {

using core::Attempt;
using core::Chunk;
using core::Ledger;
using core::NumKind;
using core::Partial;
using core::ReducerKind;
using core::Report;
using core::Verdict;

const std::vector<NumKind> kSumKinds = {NumKind::kInt, NumKind::kInt};
const std::vector<NumKind> kIntKind = {NumKind::kInt};

// A ledger over one of the simulated exports, which checks itself after every change.
class Book {
 public:
  Book(const std::string& func, int64_t start, int64_t end, size_t max_chunks = 1000)
      : func_(func),
        ledger(start, end, SpecOf(func, start, end).reducer, SpecOf(func, start, end).result_kinds,
               max_chunks) {
    ledger.CheckInvariants();
  }

  size_t Cut(int64_t size) {
    auto c = ledger.Cut(size);
    EXPECT_TRUE(c.has_value());
    Check();
    return c.value_or(0);
  }
  const Attempt& Open(size_t chunk, core::AttemptId id, core::NodeId worker, bool backup = false) {
    const Attempt& a = ledger.Open(chunk, id, worker, backup, now);
    Check();
    return a;
  }
  // A correct report of attempt `id` up to `upto`.
  Ledger::Applied Report(core::NodeId from, core::AttemptId id, int64_t upto, int64_t running_to,
                         uint64_t busy_us = 0) {
    const Attempt* a = ledger.FindAttempt(id);
    int64_t start = a ? a->start : 0;
    return Apply(from, ReportOf(1, id, upto, running_to, Ref(func_, start, upto), busy_us));
  }
  Ledger::Applied Apply(core::NodeId from, const core::Report& r) {
    now++;
    Ledger::Applied out = ledger.Apply(from, r, now);
    Check();
    return out;
  }
  // Invariants, and every committed prefix is exactly its items' reduction.
  void Check() {
    ledger.CheckInvariants();
    for (size_t i = 0; i < ledger.chunks().size(); i++) {
      const Chunk& c = ledger.chunk(i);
      ASSERT_EQ(c.done, Ref(func_, c.begin, c.done_upto)) << "chunk " << i;
    }
  }

  const std::string func_;
  Ledger ledger;
  uint64_t now = 0;
};

TEST(Ledger, CutTilesAndClips) {
  Book b("sum", 100, 1000);
  EXPECT_EQ(b.ledger.items_total(), 900u);
  EXPECT_FALSE(b.ledger.NextWaiting().has_value());
  EXPECT_EQ(b.Cut(300), 0u);
  EXPECT_EQ(b.Cut(300), 1u);
  EXPECT_FALSE(b.ledger.AllCut());
  EXPECT_EQ(b.Cut(500), 2u);  // clipped to what is left
  EXPECT_TRUE(b.ledger.AllCut());
  EXPECT_FALSE(b.ledger.Cut(1).has_value());
  const auto& c = b.ledger.chunks();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].begin, 100);
  EXPECT_EQ(c[0].end, 400);
  EXPECT_EQ(c[1].begin, 400);
  EXPECT_EQ(c[1].end, 700);
  EXPECT_EQ(c[2].begin, 700);
  EXPECT_EQ(c[2].end, 1000);
  for (const Chunk& ch : c) {
    EXPECT_EQ(ch.done_upto, ch.begin);
    EXPECT_TRUE(ch.done.empty());
    EXPECT_FALSE(ch.complete);
  }
  EXPECT_EQ(b.ledger.NextWaiting(), 0u);  // the lowest waiting chunk first
  EXPECT_FALSE(b.ledger.Done());
  EXPECT_EQ(b.ledger.items_done(), 0u);
}

TEST(Ledger, MaxChunksLastCutTakesTheRest) {
  Book b("sum", 0, 1000, 3);
  b.Cut(10);
  b.Cut(10);
  EXPECT_EQ(b.Cut(10), 2u);
  EXPECT_EQ(b.ledger.chunk(2).begin, 20);
  EXPECT_EQ(b.ledger.chunk(2).end, 1000);
  EXPECT_TRUE(b.ledger.AllCut());
  // A table of one chunk (0 is taken as 1): the first cut is everything.
  for (size_t max : {0, 1}) {
    Book one("sum", -5, 5, max);
    one.Cut(1);
    EXPECT_EQ(one.ledger.chunk(0).end, 5);
    EXPECT_TRUE(one.ledger.AllCut());
  }
}

TEST(Ledger, WholeInt64RangeWithoutOverflow) {
  Book b("sum", INT64_MIN, INT64_MAX);
  EXPECT_EQ(b.ledger.items_total(), UINT64_MAX);
  EXPECT_EQ(b.Cut(INT64_MAX), 0u);
  EXPECT_EQ(b.ledger.chunk(0).end, -1);
  EXPECT_EQ(b.Cut(INT64_MAX), 1u);
  EXPECT_EQ(b.ledger.chunk(1).end, INT64_MAX - 1);
  EXPECT_EQ(b.Cut(INT64_MAX), 2u);  // one item left
  EXPECT_EQ(b.ledger.chunk(2).begin, INT64_MAX - 1);
  EXPECT_EQ(b.ledger.chunk(2).end, INT64_MAX);
  EXPECT_TRUE(b.ledger.AllCut());
  // Run all three to the end in big steps; the sum wraps, the count is 2^64 - 1 (mod 2^64).
  core::AttemptId id = 1;
  for (size_t i = 0; i < 3; i++) {
    const Chunk& c = b.ledger.chunk(i);
    b.Open(i, id, 2);
    int64_t half = static_cast<int64_t>(static_cast<uint64_t>(c.begin) +
                                        (static_cast<uint64_t>(c.end) - c.begin) / 2);
    if (half > c.begin) {
      EXPECT_EQ(b.Report(2, id, half, c.end).verdict, Verdict::kProgress);
    }
    EXPECT_EQ(b.Report(2, id, c.end, c.end).verdict, Verdict::kCompleted);
    id++;
  }
  EXPECT_TRUE(b.ledger.Done());
  EXPECT_EQ(b.ledger.items_done(), UINT64_MAX);
  EXPECT_EQ(b.ledger.Result(), Ref("sum", INT64_MIN, INT64_MAX));

  // One chunk of all 2^64 - 1 items (max_chunks 1), committed in one report.
  Book one("sum", INT64_MIN, INT64_MAX, 1);
  one.Cut(1);
  one.Open(0, 7, 3);
  auto applied = one.Report(3, 7, INT64_MAX, INT64_MAX);
  EXPECT_EQ(applied.verdict, Verdict::kCompleted);
  EXPECT_EQ(applied.committed, UINT64_MAX);
  EXPECT_EQ(one.ledger.items_done(), UINT64_MAX);
  EXPECT_EQ(one.ledger.Result(), Ref("sum", INT64_MIN, INT64_MAX));
}

// Property: any range of the int64 domain, cut at random sizes (up to INT64_MAX) and run by
// attempts that report random steps, some lost and reopened, some racing a backup; every
// chunk tiles the range, no commit overflows and the result is exactly the closed form.
TEST(Ledger, RandomInt64RangesCommitExactly) {
  for (uint64_t seed : Seeds(300, 400)) {
    core::Rng rng(seed);
    int64_t lo = 0, hi = 0;
    RandomInt64Range(rng, &lo, &hi);
    const std::string func = rng.Chance(0.5) ? "sum" : rng.Chance(0.5) ? "min" : "max";
    SCOPED_TRACE(func + " [" + std::to_string(lo) + ", " + std::to_string(hi) + ") " +
                 ReplayCommand(seed));
    Book b(func, lo, hi, 1 + rng.Uniform(40));
    core::AttemptId next_id = 1;
    uint64_t committed = 0;
    for (int guard = 0; guard < 10000 && !b.ledger.Done(); guard++) {
      if (!b.ledger.AllCut() && rng.Chance(0.3)) {
        int64_t size = static_cast<int64_t>(1 + (rng.Next() >> (1 + rng.Uniform(63))));
        b.Cut(size);
        continue;
      }
      std::optional<size_t> waiting = b.ledger.NextWaiting();
      if (!waiting && !b.ledger.AllCut()) {
        b.Cut(INT64_MAX);
        continue;
      }
      if (waiting) {
        b.Open(*waiting, next_id++, 2 + static_cast<core::NodeId>(rng.Uniform(3)));
        continue;
      }
      // Move a random active attempt forward by a random step, or lose it.
      for (size_t i = 0; i < b.ledger.chunks().size(); i++) {
        const Chunk& c = b.ledger.chunk(i);
        if (c.attempts.empty()) continue;
        const Attempt a = c.attempts[rng.Uniform(c.attempts.size())];
        if (rng.Chance(0.05)) {
          b.ledger.Close(a.id, /*failed=*/false);
          b.Check();
          break;
        }
        uint64_t left = core::ItemsIn(a.upto, c.end);
        uint64_t step = rng.Chance(0.3) ? left : 1 + (rng.Next() % left);
        int64_t upto = static_cast<int64_t>(static_cast<uint64_t>(a.upto) + step);
        Ledger::Applied applied = b.Report(a.worker, a.id, upto, upto);
        EXPECT_NE(applied.verdict, Verdict::kInvalid);
        committed += applied.committed;
        break;
      }
      if (HasFailure()) return;
    }
    ASSERT_TRUE(b.ledger.Done());
    EXPECT_EQ(b.ledger.items_done(), core::ItemsIn(lo, hi));
    EXPECT_EQ(committed, core::ItemsIn(lo, hi));
    EXPECT_EQ(b.ledger.Result(), Ref(func, lo, hi));
    if (HasFailure()) return;
  }
}

TEST(Ledger, ProgressHeartbeatStaleAndCompletion) {
  Book b("sum", 0, 1000);
  b.Cut(1000);
  const Attempt& a0 = b.Open(0, 5, 2);
  EXPECT_EQ(a0.start, 0);
  EXPECT_EQ(a0.upto, 0);
  EXPECT_EQ(b.ledger.active_attempts(), 1u);
  EXPECT_FALSE(b.ledger.NextWaiting().has_value());  // it has an attempt
  EXPECT_EQ(b.ledger.ChunkOf(5), 0u);

  // The first report (nothing done yet) is a heartbeat.
  auto r = b.Report(2, 5, 0, 100);
  EXPECT_EQ(r.verdict, Verdict::kHeartbeat);
  EXPECT_EQ(b.ledger.FindAttempt(5)->running_to, 100);

  r = b.Report(2, 5, 300, 500, 1234);
  EXPECT_EQ(r.verdict, Verdict::kProgress);
  EXPECT_EQ(r.committed, 300u);
  EXPECT_EQ(r.chunk, 0u);
  EXPECT_TRUE(r.ended.empty());
  EXPECT_EQ(b.ledger.chunk(0).done_upto, 300);
  EXPECT_EQ(b.ledger.items_done(), 300u);
  const Attempt* a = b.ledger.FindAttempt(5);
  EXPECT_EQ(a->upto, 300);
  EXPECT_EQ(a->running_to, 500);
  EXPECT_EQ(a->busy_us, 1234u);
  EXPECT_EQ(a->last_report_ms, b.now);

  // Same upto again: a heartbeat that moves running_to and the time, commits nothing.
  r = b.Report(2, 5, 300, 600, 1500);
  EXPECT_EQ(r.verdict, Verdict::kHeartbeat);
  EXPECT_EQ(r.committed, 0u);
  EXPECT_EQ(b.ledger.FindAttempt(5)->running_to, 600);
  EXPECT_EQ(b.ledger.FindAttempt(5)->last_report_ms, b.now);
  EXPECT_EQ(b.ledger.chunk(0).done_upto, 300);

  // An older report (overtaken): stale, and nothing moves.
  uint64_t heard = b.now;
  r = b.Report(2, 5, 200, 300);
  EXPECT_EQ(r.verdict, Verdict::kStale);
  EXPECT_EQ(b.ledger.FindAttempt(5)->upto, 300);
  EXPECT_EQ(b.ledger.FindAttempt(5)->running_to, 600);
  EXPECT_EQ(b.ledger.FindAttempt(5)->last_report_ms, heard);

  // Never opened: stale.
  EXPECT_EQ(b.Report(2, 99, 400, 400).verdict, Verdict::kStale);

  r = b.Report(2, 5, 1000, 1000);
  EXPECT_EQ(r.verdict, Verdict::kCompleted);
  EXPECT_EQ(r.committed, 700u);
  ASSERT_EQ(r.ended.size(), 1u);
  EXPECT_EQ(r.ended[0].id, 5u);
  EXPECT_EQ(r.ended[0].upto, 1000);
  EXPECT_TRUE(b.ledger.chunk(0).complete);
  EXPECT_EQ(b.ledger.active_attempts(), 0u);
  EXPECT_FALSE(b.ledger.ChunkOf(5).has_value());
  EXPECT_TRUE(b.ledger.Done());
  EXPECT_EQ(b.ledger.Result(), Ref("sum", 0, 1000));
  // The ended attempt's repeated final report is stale.
  EXPECT_EQ(b.Report(2, 5, 1000, 1000).verdict, Verdict::kStale);
}

// Every invalid report is ignored: the attempt and its chunk are exactly as before.
TEST(Ledger, InvalidReportsChangeNothing) {
  Book b("sum", 0, 1000);
  b.Cut(600);
  b.Cut(400);
  b.Open(0, 5, 2);
  b.Report(2, 5, 200, 300, 100);
  Attempt before = *b.ledger.FindAttempt(5);
  Chunk chunk_before = b.ledger.chunk(0);

  std::vector<std::pair<std::string, std::pair<core::NodeId, Report>>> cases;
  auto good = [&](int64_t upto, int64_t running_to) {
    return ReportOf(1, 5, upto, running_to, Ref("sum", 0, upto), 200);
  };
  cases.push_back({"wrong worker", {3, good(400, 400)}});
  cases.push_back({"upto beyond the chunk", {2, good(601, 601)}});
  cases.push_back({"running_to below upto", {2, good(400, 350)}});
  cases.push_back({"running_to beyond the chunk", {2, good(400, 700)}});
  Report r = good(400, 400);
  r.partial.values.pop_back();
  cases.push_back({"wrong arity", {2, r}});
  r = good(400, 400);
  r.partial.values[0] = core::Num::F64(1.0);
  cases.push_back({"wrong kind", {2, r}});
  r = good(400, 400);
  r.partial.values[1].f = 2.0;
  cases.push_back({"non-zero unused half", {2, r}});
  r = good(400, 400);
  r.partial = Partial{};
  cases.push_back({"empty partial after progress (sum)", {2, r}});
  r = good(400, 400);
  r.has_error = true;
  r.error.message = "trap";
  cases.push_back({"an error report", {2, r}});
  for (const auto& [name, c] : cases) {
    auto applied = b.Apply(c.first, c.second);
    EXPECT_EQ(applied.verdict, Verdict::kInvalid) << name;
    EXPECT_EQ(applied.committed, 0u) << name;
    const Attempt* a = b.ledger.FindAttempt(5);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->upto, before.upto) << name;
    EXPECT_EQ(a->running_to, before.running_to) << name;
    EXPECT_EQ(a->busy_us, before.busy_us) << name;
    EXPECT_EQ(a->last_report_ms, before.last_report_ms) << name;
    EXPECT_EQ(a->partial, before.partial) << name;
    EXPECT_EQ(b.ledger.chunk(0).done_upto, chunk_before.done_upto) << name;
    EXPECT_EQ(b.ledger.chunk(0).done, chunk_before.done) << name;
  }

  // At the attempt's start nothing is done, so its partial must be empty.
  b.Open(1, 6, 3);
  Report at_start = ReportOf(1, 6, 600, 700, Ref("sum", 600, 601));
  EXPECT_EQ(b.Apply(3, at_start).verdict, Verdict::kInvalid);
  EXPECT_EQ(b.ledger.FindAttempt(6)->running_to, 600);
  // The same with an empty partial is a heartbeat.
  at_start.partial = Partial{};
  EXPECT_EQ(b.Apply(3, at_start).verdict, Verdict::kHeartbeat);
  EXPECT_EQ(b.ledger.FindAttempt(6)->running_to, 700);
}

TEST(Ledger, CloseAndReopenResumesFromTheCommittedPoint) {
  Book b("max", 0, 1000);
  b.Cut(1000);
  b.Open(0, 1, 2);
  b.Report(2, 1, 400, 600);
  size_t chunk = 99;
  auto closed = b.ledger.Close(1, /*failed=*/true, &chunk);
  b.Check();
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(chunk, 0u);
  EXPECT_EQ(closed->upto, 400);
  EXPECT_EQ(closed->running_to, 600);
  EXPECT_EQ(b.ledger.chunk(0).failures, 1u);
  EXPECT_EQ(b.ledger.NextWaiting(), 0u);
  EXPECT_FALSE(b.ledger.Close(1, true).has_value());  // already closed
  // Reports of the closed attempt are stale.
  EXPECT_EQ(b.Report(2, 1, 500, 500).verdict, Verdict::kStale);
  // Not failed: the failure count stays.
  const Attempt& a = b.Open(0, 2, 3);
  EXPECT_EQ(a.start, 400);
  EXPECT_EQ(a.base, Ref("max", 0, 400));
  b.ledger.Close(2, /*failed=*/false);
  b.Check();
  EXPECT_EQ(b.ledger.chunk(0).failures, 1u);
  b.Open(0, 3, 2);
  EXPECT_EQ(b.Report(2, 3, 1000, 1000).verdict, Verdict::kCompleted);
  EXPECT_EQ(b.ledger.Result(), Ref("max", 0, 1000));
  // CloseAll of a cancelled job: every active attempt, and the chunks wait again.
  Book c("sum", 0, 100);
  c.Cut(50);
  c.Cut(50);
  c.Open(0, 1, 2);
  c.Open(0, 2, 3, true);
  c.Open(1, 3, 2);
  auto all = c.ledger.CloseAll();
  c.Check();
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(c.ledger.active_attempts(), 0u);
  EXPECT_EQ(c.ledger.NextWaiting(), 0u);
}

// A backup opened later at a higher committed point; either copy may finish first.
TEST(Ledger, TwoAttemptsEitherWins) {
  for (bool backup_wins : {false, true}) {
    SCOPED_TRACE(backup_wins ? "backup wins" : "original wins");
    Book b("sum", 0, 1000);
    b.Cut(1000);
    b.Open(0, 1, 2);
    b.Report(2, 1, 400, 500);
    const Attempt& backup = b.Open(0, 2, 3, /*backup=*/true);
    EXPECT_EQ(backup.start, 400);
    EXPECT_TRUE(backup.backup);
    EXPECT_EQ(backup.base, Ref("sum", 0, 400));
    EXPECT_EQ(b.ledger.chunk(0).attempts.size(), 2u);
    // The backup moves ahead; the original's next checkpoint is behind it: accepted as
    // progress of that attempt, but it commits nothing.
    auto r = b.Report(3, 2, 700, 800);
    EXPECT_EQ(r.verdict, Verdict::kProgress);
    EXPECT_EQ(r.committed, 300u);
    r = b.Report(2, 1, 600, 700);
    EXPECT_EQ(r.verdict, Verdict::kProgress);
    EXPECT_EQ(r.committed, 0u);
    EXPECT_EQ(b.ledger.chunk(0).done_upto, 700);
    // Neither may report for the other.
    EXPECT_EQ(b.Apply(2, ReportOf(1, 2, 900, 900, Ref("sum", 400, 900))).verdict,
              Verdict::kInvalid);
    // The original passes the backup: it commits from its own base.
    r = b.Report(2, 1, 800, 900);
    EXPECT_EQ(r.committed, 100u);
    core::AttemptId winner = backup_wins ? 2 : 1, loser = backup_wins ? 1 : 2;
    core::NodeId wworker = backup_wins ? 3 : 2;
    r = b.Report(wworker, winner, 1000, 1000);
    EXPECT_EQ(r.verdict, Verdict::kCompleted);
    EXPECT_EQ(r.committed, 200u);
    ASSERT_EQ(r.ended.size(), 2u);
    bool saw_loser = false;
    for (const Attempt& a : r.ended) saw_loser = saw_loser || a.id == loser;
    EXPECT_TRUE(saw_loser);
    EXPECT_EQ(b.ledger.active_attempts(), 0u);
    EXPECT_EQ(b.ledger.Result(), Ref("sum", 0, 1000));
    EXPECT_EQ(b.Report(wworker == 2 ? 3 : 2, loser, 1000, 1000).verdict, Verdict::kStale);
  }
}

TEST(Ledger, FirstAnswerCutsOffLaterChunks) {
  // The first i with i % 1000 == 250 from 1: 250. Chunks of 100 from 0.
  const std::string f = "first:1000:250";
  Book b(f, 0, 1000);
  for (int i = 0; i < 6; i++) b.Cut(100);  // [0,600) cut
  for (size_t i = 0; i < 6; i++) b.Open(i, 10 + i, static_cast<core::NodeId>(2 + i));
  // Chunk 3 finds nothing: complete with an empty partial (allowed for `first`).
  auto r = b.Report(5, 13, 350, 400);
  EXPECT_EQ(r.verdict, Verdict::kProgress);
  r = b.Report(5, 13, 400, 400);
  EXPECT_EQ(r.verdict, Verdict::kCompleted);
  EXPECT_TRUE(b.ledger.chunk(3).done.empty());
  // Chunk 2 finds 250 after part of its range: complete at once.
  r = b.Report(4, 12, 260, 300);
  EXPECT_EQ(r.verdict, Verdict::kCompleted);
  EXPECT_EQ(b.ledger.chunk(2).done, Ref(f, 200, 260));
  EXPECT_EQ(b.ledger.chunk(2).done_upto, 260);
  EXPECT_EQ(b.ledger.limit(), 300);
  // Its own attempt and those of chunks 4, 5 ended (3 had none left).
  std::vector<core::AttemptId> ended;
  for (const Attempt& a : r.ended) ended.push_back(a.id);
  std::sort(ended.begin(), ended.end());
  EXPECT_EQ(ended, (std::vector<core::AttemptId>{12, 14, 15}));
  EXPECT_FALSE(b.ledger.Relevant(3));
  EXPECT_TRUE(b.ledger.AllCut());
  EXPECT_FALSE(b.ledger.Cut(100).has_value());
  EXPECT_EQ(b.ledger.items_total(), 300u);
  EXPECT_EQ(b.Report(6, 14, 500, 500).verdict, Verdict::kStale);
  // Not done until the chunks before the answer are.
  EXPECT_FALSE(b.ledger.Done());
  EXPECT_EQ(b.Report(2, 10, 100, 100).verdict, Verdict::kCompleted);
  EXPECT_FALSE(b.ledger.Done());
  EXPECT_EQ(b.Report(3, 11, 150, 200).verdict, Verdict::kProgress);
  EXPECT_EQ(b.Report(3, 11, 200, 200).verdict, Verdict::kCompleted);
  EXPECT_TRUE(b.ledger.Done());
  EXPECT_EQ(b.ledger.Result(), Ref(f, 0, 1000));
  EXPECT_EQ(b.ledger.Result().values[0].i, 250);

  // An earlier answer found later lowers the limit again and wins.
  Book c("first:100:50", 0, 1000);  // 50, 150, 250, ...
  for (int i = 0; i < 4; i++) c.Cut(100);
  for (size_t i = 0; i < 4; i++) c.Open(i, 1 + i, static_cast<core::NodeId>(2 + i));
  EXPECT_EQ(c.Report(4, 3, 300, 300).verdict, Verdict::kCompleted);  // finds 250
  EXPECT_EQ(c.ledger.limit(), 300);
  EXPECT_EQ(c.Report(2, 1, 100, 100).verdict, Verdict::kCompleted);  // finds 50
  EXPECT_EQ(c.ledger.limit(), 100);
  EXPECT_TRUE(c.ledger.Done());
  EXPECT_EQ(c.ledger.Result().values[0].i, 50);
  EXPECT_EQ(c.ledger.items_total(), 100u);
}

// Random interleavings of correct, late, duplicated, foreign and malformed reports of several
// attempts per chunk, with losses and reopens: every committed prefix stays exact (Check), and
// the result is the reference's.
TEST(Ledger, RandomReportsKeepEveryCommitExact) {
  for (uint64_t seed = 1; seed <= 300; seed++) {
    core::Rng rng(seed);
    const char* funcs[] = {"sum", "min", "max", "first:977:300", "first:50000:7"};
    std::string f = funcs[rng.Uniform(5)];
    int64_t start = static_cast<int64_t>(rng.Uniform(2000)) + 1;
    int64_t end = start + 1 + static_cast<int64_t>(rng.Uniform(5000));
    Book b(f, start, end, 1 + rng.Uniform(12));
    core::AttemptId next_id = 1;
    std::vector<core::Report> sent;  // every report made, to replay late
    std::vector<core::NodeId> sent_from;
    for (int step = 0; step < 4000 && !b.ledger.Done(); step++) {
      if (!b.ledger.AllCut() && rng.Chance(0.2)) b.Cut(1 + static_cast<int64_t>(rng.Uniform(900)));
      // Open attempts on waiting chunks, and sometimes a backup.
      for (size_t i = 0; i < b.ledger.chunks().size(); i++) {
        const Chunk& c = b.ledger.chunk(i);
        if (c.complete || !b.ledger.Relevant(i)) continue;
        if (c.attempts.empty() || (c.attempts.size() == 1 && rng.Chance(0.05))) {
          core::NodeId w = static_cast<core::NodeId>(2 + rng.Uniform(4));
          if (!c.attempts.empty() && c.attempts[0].worker == w) continue;
          b.Open(i, next_id++, w, !c.attempts.empty());
        }
      }
      // Pick an active attempt and do something with it.
      std::vector<const Attempt*> active;
      for (const Chunk& c : b.ledger.chunks())
        for (const Attempt& a : c.attempts) active.push_back(&a);
      if (active.empty()) continue;
      Attempt a = *active[rng.Uniform(active.size())];
      const Chunk& c = b.ledger.chunk(*b.ledger.ChunkOf(a.id));
      uint64_t what = rng.Uniform(10);
      if (what == 0) {
        b.ledger.Close(a.id, rng.Chance(0.5));  // lost or failed
        b.Check();
      } else if (what == 1 && !sent.empty()) {
        size_t k = rng.Uniform(sent.size());  // a late or duplicated report
        b.Apply(sent_from[k], sent[k]);
      } else if (what == 2) {
        // Malformed or foreign: must be rejected.
        core::Report r = ReportOf(1, a.id, std::min(c.end, a.upto + 1), c.end,
                                  Ref(f, a.start, std::min(c.end, a.upto + 1)));
        core::NodeId from = a.worker;
        switch (rng.Uniform(3)) {
          case 0:
            from = a.worker + 10;
            break;
          case 1:
            r.upto = c.end + 1;
            break;
          default:
            r.running_to = r.upto - 1;
        }
        EXPECT_EQ(b.Apply(from, r).verdict, Verdict::kInvalid);
      } else {
        int64_t upto =
            a.upto + static_cast<int64_t>(rng.Uniform(
                         static_cast<uint64_t>(std::min<int64_t>(c.end - a.upto, 400)) + 1));
        int64_t running =
            upto + static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(c.end - upto) + 1));
        core::Report r = ReportOf(1, a.id, upto, running, Ref(f, a.start, upto));
        sent.push_back(r);
        sent_from.push_back(a.worker);
        auto applied = b.Apply(a.worker, r);
        EXPECT_NE(applied.verdict, Verdict::kInvalid);
        EXPECT_NE(applied.verdict, Verdict::kStale);
      }
    }
    ASSERT_TRUE(b.ledger.Done()) << "seed " << seed;
    EXPECT_EQ(b.ledger.Result(), Ref(f, start, end)) << "seed " << seed << " " << f;
  }
}

// The journal of a ledger is its chunks; Restore must take any prefix of them in order, and
// a restored ledger must finish exactly.
TEST(Ledger, RestoreAcceptsPrefixesAndFinishes) {
  for (const std::string f : {"sum", "first:1000:650"}) {
    SCOPED_TRACE(f);
    Book b(f, 0, 1000);
    for (int i = 0; i < 8; i++) b.Cut(125);
    b.Open(0, 1, 2);
    b.Report(2, 1, 125, 125);  // complete
    b.Open(1, 2, 3);
    b.Report(3, 2, 200, 250);  // partly
    b.Open(5, 3, 4);
    b.Report(4, 3, 700, 700);  // first: finds 650 (chunk 5 = [625, 750)); sum: partly
    std::vector<Chunk> journal = b.ledger.chunks();
    for (size_t n = 0; n <= journal.size(); n++) {
      Book r(f, 0, 1000);
      for (size_t i = 0; i < n; i++) {
        const Chunk& c = journal[i];
        ASSERT_TRUE(r.ledger.Restore(c.begin, c.end, c.done_upto, c.done, c.complete))
            << "chunk " << i;
        r.Check();
      }
      EXPECT_EQ(r.ledger.chunks().size(), n);
      EXPECT_EQ(r.ledger.active_attempts(), 0u);
      // Continue: cut the rest, run everything that waits.
      core::AttemptId id = 1;
      for (int guard = 0; guard < 100 && !r.ledger.Done(); guard++) {
        auto w = r.ledger.NextWaiting();
        if (!w) {
          r.Cut(300);
          continue;
        }
        const Chunk& c = r.ledger.chunk(*w);
        r.Open(*w, id, 2);
        auto applied = r.Report(2, id, c.end, c.end);
        EXPECT_EQ(applied.verdict, Verdict::kCompleted);
        id++;
      }
      ASSERT_TRUE(r.ledger.Done()) << "prefix " << n;
      EXPECT_EQ(r.ledger.Result(), Ref(f, 0, 1000)) << "prefix " << n;
    }
  }
}

TEST(Ledger, RestoreRejectsGapsOverlapsAndInconsistentChunks) {
  Partial none;
  auto sum = [](int64_t lo, int64_t hi) { return Ref("sum", lo, hi); };
  {
    Book r("sum", 0, 1000);
    EXPECT_FALSE(r.ledger.Restore(10, 100, 10, none, false));  // gap at the start
    EXPECT_TRUE(r.ledger.Restore(0, 100, 50, sum(0, 50), false));
    EXPECT_FALSE(r.ledger.Restore(150, 200, 150, none, false));   // gap
    EXPECT_FALSE(r.ledger.Restore(50, 200, 50, none, false));     // overlap
    EXPECT_FALSE(r.ledger.Restore(100, 100, 100, none, false));   // empty chunk
    EXPECT_FALSE(r.ledger.Restore(100, 1001, 100, none, false));  // beyond the job
    EXPECT_FALSE(r.ledger.Restore(100, 200, 99, none, false));    // committed before begin
    EXPECT_FALSE(r.ledger.Restore(100, 200, 201, none, false));   // committed beyond end
    // Complete flags must agree with the committed point.
    EXPECT_FALSE(r.ledger.Restore(100, 200, 200, sum(100, 200), false));
    EXPECT_FALSE(r.ledger.Restore(100, 200, 150, sum(100, 150), true));
    // Committed items need a partial (sum); none committed need none.
    EXPECT_FALSE(r.ledger.Restore(100, 200, 150, none, false));
    EXPECT_FALSE(r.ledger.Restore(100, 200, 100, sum(100, 101), false));
    // Shapes.
    EXPECT_FALSE(r.ledger.Restore(100, 200, 150, Partial{{core::Num::Int(1)}}, false));
    r.Check();
    EXPECT_EQ(r.ledger.chunks().size(), 1u);  // nothing of the rejected ones stayed
    EXPECT_EQ(r.ledger.next_unassigned(), 100);
    EXPECT_TRUE(r.ledger.Restore(100, 200, 200, sum(100, 200), true));
    r.Check();
    EXPECT_EQ(r.ledger.NextWaiting(), 0u);
  }
  {
    // The table's bound holds for restored chunks too.
    Book r("sum", 0, 1000, 2);
    EXPECT_TRUE(r.ledger.Restore(0, 10, 0, none, false));
    EXPECT_TRUE(r.ledger.Restore(10, 1000, 10, none, false));
    EXPECT_FALSE(r.ledger.Restore(1000, 1000, 1000, none, false));
  }
  {
    // first: a find completes the chunk; without a find the chunk is complete only at its end.
    const std::string f = "first:1000:150";
    Book r(f, 0, 1000);
    EXPECT_TRUE(r.ledger.Restore(0, 100, 100, none, true));
    EXPECT_FALSE(r.ledger.Restore(100, 200, 160, Ref(f, 100, 160), false));
    EXPECT_FALSE(r.ledger.Restore(100, 200, 120, none, true));
    EXPECT_TRUE(r.ledger.Restore(100, 200, 160, Ref(f, 100, 160), true));
    r.Check();
    EXPECT_EQ(r.ledger.limit(), 200);
    // Chunks cut before the answer was known still restore, irrelevant.
    EXPECT_TRUE(r.ledger.Restore(200, 300, 200, none, false));
    r.Check();
    EXPECT_FALSE(r.ledger.Relevant(2));
    EXPECT_TRUE(r.ledger.Done());
    EXPECT_EQ(r.ledger.Result().values[0].i, 150);
  }
}

}  // namespace
// A report of attempt `id` whose last slice [lo, upto) printed "<worker>:[lo,upto)\n".
Report Printed(Book& b, core::NodeId worker, core::AttemptId id, int64_t lo, int64_t upto) {
  const Attempt* a = b.ledger.FindAttempt(id);
  Report r = ReportOf(1, id, upto, upto, Ref("sum", a ? a->start : 0, upto));
  r.output = core::SliceOutput{lo, upto, {}, false};
  r.output->streams[0] =
      std::to_string(worker) + ":[" + std::to_string(lo) + "," + std::to_string(upto) + ")\n";
  return r;
}

std::string Printout(const core::OutputList& list) {
  std::string all;
  for (const auto& piece : list) all += piece->output.text(core::OutputStream::kStdout);
  return all;
}

TEST(Ledger, OutputIsTheAcceptedAttemptsOnce) {
  Book b("sum", 0, 1000);
  b.Cut(1000);
  b.Open(0, 1, 2);
  EXPECT_EQ(b.Apply(2, Printed(b, 2, 1, 0, 400)).verdict, Verdict::kProgress);
  b.Open(0, 2, 3, /*backup=*/true);
  EXPECT_EQ(b.Apply(3, Printed(b, 3, 2, 400, 700)).committed, 300u);
  EXPECT_EQ(Printout(b.ledger.Output()), "2:[0,400)\n3:[400,700)\n");
  // The original, behind the backup, commits nothing: its output is not the chunk's.
  EXPECT_EQ(b.Apply(2, Printed(b, 2, 1, 400, 600)).committed, 0u);
  EXPECT_EQ(Printout(b.ledger.Output()), "2:[0,400)\n3:[400,700)\n");
  // It passes the backup: the chunk's result and output are now the original's, whole.
  EXPECT_EQ(b.Apply(2, Printed(b, 2, 1, 600, 800)).committed, 100u);
  EXPECT_EQ(Printout(b.ledger.Output()), "2:[0,400)\n2:[400,600)\n2:[600,800)\n");
  // The backup finishes first: its base (the original's [0, 400)) and its own slices.
  EXPECT_EQ(b.Apply(3, Printed(b, 3, 2, 700, 1000)).verdict, Verdict::kCompleted);
  EXPECT_EQ(Printout(b.ledger.Output()), "2:[0,400)\n3:[400,700)\n3:[700,1000)\n");
  for (const auto& piece : b.ledger.Output())
    EXPECT_EQ(piece->node, piece->output.lo < 400 ? 2u : 3u);
  // A repeated final report is stale: nothing printed twice.
  EXPECT_EQ(b.Apply(3, Printed(b, 3, 2, 700, 1000)).verdict, Verdict::kStale);
  EXPECT_EQ(b.ledger.Output().size(), 3u);
  EXPECT_FALSE(b.ledger.output_truncated());
  EXPECT_FALSE(b.ledger.output_lost());
}

TEST(Ledger, OutputOfAnotherSliceOrPastTheCapIsNotKept) {
  Book b("sum", 0, 1000);
  b.Cut(1000);
  b.Open(0, 1, 2);
  Report r = Printed(b, 2, 1, 0, 100);
  r.output->hi = 90;  // not the slice that ended at upto
  EXPECT_EQ(b.Apply(2, r).verdict, Verdict::kProgress);
  r = Printed(b, 2, 1, 50, 200);  // reaches back before the attempt's last checkpoint
  EXPECT_EQ(b.Apply(2, r).verdict, Verdict::kProgress);
  EXPECT_TRUE(b.ledger.Output().empty());
  // A heartbeat's output (no progress) is not kept either.
  r = Printed(b, 2, 1, 100, 200);
  EXPECT_EQ(b.Apply(2, r).verdict, Verdict::kHeartbeat);
  EXPECT_TRUE(b.ledger.Output().empty());

  // A ledger that keeps 20 bytes: the second 12-byte piece is dropped, and so is everything
  // after it, even a piece that would fit.
  Ledger small(0, 1000, ReducerKind::kSum, kSumKinds, 10, /*max_output_bytes=*/20);
  ASSERT_TRUE(small.Cut(1000).has_value());
  small.Open(0, 1, 2, false, 0);
  auto slice = [](int64_t lo, int64_t hi, size_t bytes) {
    Report p = ReportOf(1, 1, hi, hi, Ref("sum", 0, hi));
    p.output = core::SliceOutput{lo, hi, {std::string(bytes, 'x'), ""}, false};
    return p;
  };
  EXPECT_EQ(small.Apply(2, slice(0, 10, 12), 1).verdict, Verdict::kProgress);
  EXPECT_EQ(small.Apply(2, slice(10, 20, 12), 2).verdict, Verdict::kProgress);
  EXPECT_EQ(small.Apply(2, slice(20, 30, 1), 3).verdict, Verdict::kProgress);
  small.CheckInvariants();
  EXPECT_EQ(small.Output().size(), 1u);
  EXPECT_EQ(small.output_bytes(), 12u);
  EXPECT_TRUE(small.output_truncated());
}

TEST(Ledger, RestoredProgressMarksItsOutputLost) {
  Ledger fresh(0, 100, ReducerKind::kSum, kSumKinds, 10);
  ASSERT_TRUE(fresh.Restore(0, 100, 0, {}, false));
  EXPECT_FALSE(fresh.output_lost()) << "nothing was committed: nothing was printed";
  Ledger resumed(0, 100, ReducerKind::kSum, kSumKinds, 10);
  ASSERT_TRUE(resumed.Restore(0, 100, 50, Ref("sum", 0, 50), false));
  EXPECT_TRUE(resumed.output_lost());
  EXPECT_TRUE(resumed.Output().empty());
}

}  // namespace velum::sim
