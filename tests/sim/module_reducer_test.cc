// Unit tests of module reducers (core::ReducerKind::kModule) in the sans-I/O cores, with 2x2
// matrix products modulo a prime (they do not commute) standing in for the module's export.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "core/coordinator.h"
#include "core/ledger.h"
#include "core/worker.h"
#include "tests/sim/job_test_util.h"

namespace velum::sim {
namespace {

using core::AttemptId;
using core::Coordinator;
using core::CoordinatorConfig;
using core::CoordinatorOutput;
using core::JobId;
using core::JobState;
using core::Num;
using core::Partial;

// What tests/wasm/reduce_matrix.c's prod4 and matmul4 compute, here in C++.
using Mat = std::array<uint64_t, 4>;
constexpr uint64_t kP = 1'000'000'007;
Mat Mul(const Mat& x, const Mat& y) {
  return {(x[0] * y[0] + x[1] * y[2]) % kP, (x[0] * y[1] + x[1] * y[3]) % kP,
          (x[2] * y[0] + x[3] * y[2]) % kP, (x[2] * y[1] + x[3] * y[3]) % kP};
}
Mat Item(int64_t i) {
  uint64_t k = static_cast<uint64_t>(((i % 1009) + 1009) % 1009);
  return {k + 2, 1, k, 1};
}
// The sequential fold of [lo, hi), left to right.
Mat Prod(int64_t lo, int64_t hi) {
  Mat acc = {1, 0, 0, 1};
  for (int64_t i = lo; i < hi; i++) acc = Mul(acc, Item(i));
  return acc;
}
Partial PartialOf(const Mat& m) {
  Partial p;
  for (uint64_t v : m) p.values.push_back(Num::Int(static_cast<int64_t>(v)));
  return p;
}
Mat MatOf(const Partial& p) {
  EXPECT_EQ(p.values.size(), 4u);
  Mat m{};
  for (size_t i = 0; i < 4 && i < p.values.size(); i++) m[i] = static_cast<uint64_t>(p.values[i].i);
  return m;
}
// What a driver returns for a module reducer's slice: its results folded onto acc.
Partial FoldSlice(const Partial& acc, int64_t lo, int64_t hi) {
  Mat s = Prod(lo, hi);
  return PartialOf(acc.empty() ? s : Mul(MatOf(acc), s));
}
// What a coordinator's driver does with a FoldRequest.
std::vector<Num> FoldPieces(const std::vector<Partial>& pieces) {
  Mat acc = {1, 0, 0, 1};
  for (const Partial& p : pieces) acc = Mul(acc, MatOf(p));
  return PartialOf(acc).values;
}

core::JobSpec ModuleSpec(int64_t start, int64_t end, uint64_t chunk_items) {
  core::JobSpec s;
  s.func = "prod4";
  s.reducer = core::ReducerKind::kModule;
  s.reduce_func = "matmul4";
  s.start = start;
  s.end = end;
  s.wide = true;
  s.chunk_items = chunk_items;
  s.result_kinds.assign(4, core::NumKind::kInt);
  s.label = "reduce_matrix.wasm";
  return s;
}

TEST(ModuleReducer, WorkerFoldsItsSlicesOntoTheBase) {
  core::WorkerConfig wc;
  wc.slots = 1;
  core::Worker w(2, wc);
  core::Assign a;
  a.job = 1;
  a.attempt = 5;
  a.func = "prod4";
  a.wide = true;
  a.start = 1000;
  a.end = 1100;
  a.reducer = core::ReducerKind::kModule;
  a.reduce_func = "matmul4";
  a.base = PartialOf(Prod(0, 1000));  // the chunk began at 0; [0, 1000) was committed
  uint64_t now = 0;
  core::WorkerOutput out = w.OnAssign(1, a, now);
  Partial last;
  int64_t upto = a.start;
  for (int step = 0; upto < a.end; step++) {
    ASSERT_EQ(out.start.size(), 1u) << "step " << step;
    const core::SliceRun run = out.start[0];
    EXPECT_EQ(run.reducer, core::ReducerKind::kModule);
    EXPECT_EQ(run.reduce_func, "matmul4");
    EXPECT_EQ(run.lo, upto);
    // The first slice folds onto the base; later ones onto the attempt's partial.
    EXPECT_EQ(run.acc, step == 0 ? a.base : last);
    core::SliceResult r;
    r.ok = true;
    r.values = FoldSlice(run.acc, run.lo, run.hi).values;
    r.busy_us = 1000;
    now += 5;
    out = w.OnSliceDone(run.id, r, now);
    ASSERT_FALSE(out.reports.empty());
    const core::Report& rep = out.reports.back().second;
    EXPECT_FALSE(rep.has_error);
    EXPECT_EQ(rep.upto, run.hi);
    // The report's partial is of [chunk begin, upto): the base included.
    EXPECT_EQ(MatOf(rep.partial), Prod(0, run.hi));
    last = rep.partial;
    upto = run.hi;
    w.CheckInvariants();
  }
  EXPECT_EQ(upto, a.end);

  // Malformed assignments are refused with a retryable error, never run.
  core::Assign nameless = a;
  nameless.attempt = 6;
  nameless.reduce_func.clear();
  out = w.OnAssign(1, nameless, now);
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_TRUE(out.reports[0].second.has_error && out.reports[0].second.error.retryable);
  EXPECT_TRUE(out.start.empty());
  core::Assign based_sum = a;
  based_sum.attempt = 7;
  based_sum.reducer = core::ReducerKind::kSum;
  based_sum.reduce_func.clear();
  out = w.OnAssign(1, based_sum, now);
  ASSERT_EQ(out.reports.size(), 1u);
  EXPECT_TRUE(out.reports[0].second.has_error);
}

TEST(ModuleReducer, LedgerKeepsOnePartialPerChunk) {
  core::Ledger l(0, 300, core::ReducerKind::kModule, std::vector<core::NumKind>(4), 16);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(l.Cut(100).has_value());
  // Chunk 1: an attempt commits [100, 150), is lost; the next starts from 150 with that base.
  l.Open(1, 11, 2, false, 0);
  ASSERT_EQ(l.Apply(2, ReportOf(1, 11, 150, 160, PartialOf(Prod(100, 150))), 1).verdict,
            core::Verdict::kProgress);
  ASSERT_TRUE(l.Close(11, false).has_value());
  const core::Attempt& again = l.Open(1, 12, 3, false, 2);
  EXPECT_EQ(again.start, 150);
  EXPECT_EQ(again.base, PartialOf(Prod(100, 150)));
  // Its worker folded onto the base: the chunk's partial is the report's, not combined again.
  ASSERT_EQ(l.Apply(3, ReportOf(1, 12, 200, 200, PartialOf(Prod(100, 200))), 3).verdict,
            core::Verdict::kCompleted);
  EXPECT_EQ(MatOf(l.chunk(1).done), Prod(100, 200));
  for (size_t c : {size_t{0}, size_t{2}}) {
    AttemptId id = 20 + c;
    l.Open(c, id, 2, false, 4);
    int64_t lo = l.chunk(c).begin, hi = l.chunk(c).end;
    ASSERT_EQ(l.Apply(2, ReportOf(1, id, hi, hi, PartialOf(Prod(lo, hi))), 5).verdict,
              core::Verdict::kCompleted);
  }
  l.CheckInvariants();
  ASSERT_TRUE(l.Done());
  std::vector<Partial> pieces = l.Pieces();
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(FoldPieces(pieces), PartialOf(Prod(0, 300)).values);
}

// A coordinator and scripted workers that run a module reducer's chunks in two steps each.
struct Mesh {
  Mesh() : c(1, NoBackupsConfig(), 1) {}
  static CoordinatorConfig NoBackupsConfig() {
    CoordinatorConfig config;
    config.backup_after_ms = 1u << 30;
    return config;
  }
  void Take(CoordinatorOutput out) {
    for (auto& [to, m] : out.messages) {
      if (const auto* a = std::get_if<core::Assign>(&m)) {
        live[a->attempt] = {to, *a};
        assigns.push_back({to, *a});
      } else {
        const auto& cancel = std::get<core::Cancel>(m);
        if (cancel.attempt != 0) live.erase(cancel.attempt);
      }
    }
    for (auto& fold : out.folds) folds.push_back(std::move(fold));
    c.CheckInvariants();
  }
  // Every live attempt moves halfway to its end (or to it), reporting base + its slices.
  void Step() {
    auto snapshot = live;
    for (const auto& [id, held] : snapshot) {
      if (!live.count(id)) continue;
      const auto& [worker, a] = held;
      int64_t upto = progress.count(id) ? progress[id] : a.start;
      int64_t next = upto + std::max<int64_t>(1, (a.end - upto) / 2);
      Partial acc = upto == a.start ? a.base : partials[id];
      partials[id] = FoldSlice(acc, upto, next);
      progress[id] = next;
      now += 10;
      Take(c.OnReport(worker, ReportOf(a.job, id, next, next, partials[id], now * 100), now));
    }
  }
  Coordinator c;
  uint64_t now = 0;
  std::map<AttemptId, std::pair<core::NodeId, core::Assign>> live;
  std::vector<std::pair<core::NodeId, core::Assign>> assigns;
  std::map<AttemptId, int64_t> progress;
  std::map<AttemptId, Partial> partials;
  std::vector<core::FoldRequest> folds;
};

TEST(ModuleReducer, CoordinatorFoldsChunksInRangeOrderAfterALoss) {
  for (uint64_t chunk : {uint64_t{1}, uint64_t{7}, uint64_t{1000}, uint64_t{0}}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    Mesh m;
    m.Take(m.c.OnWorkerUp(2, 1, 0));
    m.Take(m.c.OnWorkerUp(3, 1, 0));
    m.Take(m.c.OnWorkerUp(4, 2, 0));
    const int64_t start = chunk == 1 ? -40 : -5000, end = chunk == 1 ? 60 : 20000;
    JobId id = 0;
    std::string error;
    m.Take(m.c.Submit(ModuleSpec(start, end, chunk), m.now, &id, &error));
    ASSERT_EQ(error, "");
    m.Step();
    size_t before = m.assigns.size();
    m.Take(m.c.OnWorkerDown(3, m.now));  // its remainders go on from their committed points
    for (size_t i = before; i < m.assigns.size(); i++) {
      const core::Assign& a = m.assigns[i].second;
      EXPECT_EQ(a.reducer, core::ReducerKind::kModule);
      EXPECT_EQ(a.reduce_func, "matmul4");
      const core::Chunk& c = m.c.job(id)->ledger.chunk(*m.c.job(id)->ledger.ChunkOf(a.attempt));
      if (a.start == c.begin)
        EXPECT_TRUE(a.base.empty());
      else
        EXPECT_EQ(MatOf(a.base), Prod(c.begin, a.start));
    }
    for (int round = 0;
         round < 10000 && m.folds.empty() && m.c.job(id)->state == JobState::kRunning; round++)
      m.Step();
    const core::Job& job = *m.c.job(id);
    const Mat want = Prod(start, end);
    if (job.ledger.chunks().size() == 1) {  // one chunk: nothing to fold
      EXPECT_TRUE(m.folds.empty());
      ASSERT_EQ(job.state, JobState::kDone);
      EXPECT_EQ(job.result, PartialOf(want).values);
      continue;
    }
    ASSERT_EQ(m.folds.size(), 1u);
    EXPECT_EQ(job.state, JobState::kRunning);  // until its driver has folded
    EXPECT_TRUE(job.folding);
    EXPECT_EQ(m.folds[0].job, id);
    EXPECT_EQ(m.folds[0].pieces.size(), job.ledger.chunks().size());
    // A tick while folding asks for nothing more.
    m.Take(m.c.Tick(m.now + 1));
    EXPECT_EQ(m.folds.size(), 1u);
    m.Take(m.c.OnFolded(id, FoldPieces(m.folds[0].pieces), "", m.now));
    ASSERT_EQ(job.state, JobState::kDone);
    EXPECT_EQ(job.result, PartialOf(want).values);
    // A late answer changes nothing.
    m.Take(m.c.OnFolded(id, {}, "late", m.now));
    EXPECT_EQ(job.state, JobState::kDone);
  }
}

TEST(ModuleReducer, RestoredDoneLedgerFoldsAgainAndFoldErrorsFailTheJob) {
  for (int variant = 0; variant < 3; variant++) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    core::JournalJob record;
    record.id = 4;
    record.spec = ModuleSpec(0, 300, 100);
    std::vector<core::JournalChunk> chunks;
    for (uint32_t i = 0; i < 3; i++) {
      int64_t lo = 100 * i, hi = lo + 100;
      chunks.push_back({4, i, lo, hi, hi, PartialOf(Prod(lo, hi)), true});
    }
    Mesh m;
    m.Take(m.c.Restore(record, chunks, 0));
    m.Take(m.c.OnWorkerUp(1, 1, 0));
    ASSERT_EQ(m.folds.size(), 1u);
    EXPECT_TRUE(m.assigns.empty());
    const core::Job& job = *m.c.job(4);
    if (variant == 0) {
      m.Take(m.c.OnFolded(4, FoldPieces(m.folds[0].pieces), "", 5));
      ASSERT_EQ(job.state, JobState::kDone);
      EXPECT_EQ(job.result, PartialOf(Prod(0, 300)).values);
    } else if (variant == 1) {
      m.Take(m.c.OnFolded(4, {}, "the reducer matmul4: trap: unreachable", 5));
      ASSERT_EQ(job.state, JobState::kFailed);
      EXPECT_EQ(job.error, "the reducer matmul4: trap: unreachable");
    } else {
      m.Take(m.c.Cancel(4, 5, "cancelled"));
      m.Take(m.c.OnFolded(4, FoldPieces(m.folds[0].pieces), "", 6));
      EXPECT_EQ(job.state, JobState::kCancelled);
    }
    // Values of the wrong shape fail a job rather than become its answer.
    Mesh n;
    n.Take(n.c.Restore(record, chunks, 0));
    n.Take(n.c.OnWorkerUp(1, 1, 0));
    n.Take(n.c.OnFolded(4, {Num::Int(1)}, "", 5));
    EXPECT_EQ(n.c.job(4)->state, JobState::kFailed);
  }
}

}  // namespace
}  // namespace velum::sim
