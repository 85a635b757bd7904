// Targeted fault scenarios of jobs with measured figures: a loss after 90% is checkpointed, two
// of four workers lost, a hang held dead, a coordinator restart, a 10x straggler. A small
// deterministic mesh drives the real cores (the whole-node simulator runs the same faults
// through the drivers: node_sim_test.cc).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "core/coordinator.h"
#include "core/reducer.h"
#include "core/worker.h"
#include "tests/sim/job_test_util.h"
#include "tests/sim/sim_function.h"

namespace velum::sim {
namespace {

using core::AttemptId;
using core::Coordinator;
using core::CoordinatorOutput;
using core::JobId;
using core::JobState;
using core::NodeId;
using core::WorkerOutput;

constexpr NodeId kCoord = 1;

struct MeshOptions {
  std::vector<double> speeds = {1000, 1000, 1000, 1000};  // items per ms, workers 2, 3, ...
  uint32_t slots = 1;
  uint64_t latency_ms = 1;
  uint64_t tick_ms = 50;
  uint64_t flush_ms = 20;  // the journal's durability lag
  core::CoordinatorConfig coordinator;
  core::WorkerConfig worker;
};

// A coordinator (node 1, not a worker itself) and workers 2.. with exact speeds, in virtual
// time. After every event the cores' invariants hold and every committed prefix of every
// running job is exactly its items' reduction.
class Mesh {
 public:
  struct Node {
    NodeId id = 0;
    double speed = 1;
    uint32_t gen = 1, link_gen = 1;
    bool alive = true, paused = false;
    std::unique_ptr<core::Worker> core;
    std::vector<std::function<void()>> deferred;  // arrived while paused
    std::map<uint64_t, int64_t> slices;           // running slice -> items
    uint64_t executed_items = 0;                  // items of every slice started
    uint64_t cancelled_slices = 0;
    uint64_t cancels_received = 0;
  };

  explicit Mesh(MeshOptions o) : o_(std::move(o)) {
    for (size_t i = 0; i < o_.speeds.size(); i++) {
      Node n;
      n.id = static_cast<NodeId>(i + 2);
      n.speed = o_.speeds[i];
      core::WorkerConfig wc = o_.worker;
      wc.slots = o_.slots;
      n.core = std::make_unique<core::Worker>(n.id, wc);
      nodes_.push_back(std::move(n));
    }
    StartCoordinator();
    At(o_.tick_ms, [this] { TickAll(); });
  }

  JobId Submit(const core::JobSpec& spec) {
    JobId id = 0;
    std::string error;
    CoordinatorOutput out = coord_->Submit(spec, now_, &id, &error);
    EXPECT_EQ(error, "");
    specs_[id] = spec;
    Process(std::move(out));
    Flush();  // the shell makes a new job durable before it answers with its id
    return id;
  }

  // Runs events until `until()` holds after one; false at limit_ms or on a failed check.
  bool RunUntil(const std::function<bool()>& until, uint64_t limit_ms) {
    while (!queue_.empty() && failure_.empty()) {
      Event e = queue_.top();
      queue_.pop();
      if (e.time > limit_ms) break;
      now_ = e.time;
      last_report_from_ = 0;
      e.fn();
      Check();
      if (failure_.empty() && until()) return true;
    }
    return false;
  }

  // Runs a job to its end and checks its answer against the export's closed form.
  bool RunJob(JobId id, uint64_t limit_ms = 600'000) {
    bool ok = RunUntil(
        [&] {
          const core::Job* j = coord_ ? coord_->job(id) : nullptr;
          return j && j->state != JobState::kRunning;
        },
        limit_ms);
    if (!ok) return false;
    const core::Job* j = coord_->job(id);
    const core::JobSpec& s = specs_.at(id);
    EXPECT_EQ(j->state, JobState::kDone) << j->error;
    EXPECT_EQ(j->result, core::FinalValues(Ref(s.func, s.start, s.end), s.result_kinds));
    finished_ms_ = now_;
    return j->state == JobState::kDone;
  }

  // The process is gone; the failure detector tells the coordinator after detect_ms.
  void CrashWorker(NodeId id, uint64_t detect_ms) {
    Node& n = node(id);
    n.alive = false;
    n.gen++;
    n.core.reset();
    n.deferred.clear();
    n.slices.clear();
    At(now_ + detect_ms, [this, id] { DeclareDown(id); });
  }

  // SIGSTOP for pause_ms. Declared dead after detect_ms (if still stopped), the coordinator
  // drops its link; the worker does not notice and, once resumed, reports on its old attempts.
  void PauseWorker(NodeId id, uint64_t pause_ms, uint64_t detect_ms) {
    Node& n = node(id);
    n.paused = true;
    uint32_t gen = n.gen;
    At(now_ + detect_ms, [this, id, gen] {
      if (node(id).paused && node(id).gen == gen) DeclareDown(id);
    });
    At(now_ + pause_ms, [this, id, gen] {
      Node& m = node(id);
      if (m.gen != gen || !m.paused) return;
      m.paused = false;
      std::vector<std::function<void()>> deferred;
      deferred.swap(m.deferred);
      for (auto& fn : deferred) fn();
      ProcessWorker(id, m.core->Tick(now_));
      if (down_.count(id)) {
        // The membership finds it alive again a little later.
        At(now_ + 100, [this, id] {
          down_.erase(id);
          if (coord_) Process(coord_->OnWorkerUp(id, o_.slots, now_));
        });
      }
    });
  }

  // The coordinator's process dies (unflushed journal ops are lost); workers see their links
  // reset; it starts again after restart_ms and restores its jobs from the journal.
  void CrashCoordinator(uint64_t restart_ms) {
    committed_at_crash_.clear();
    for (const auto& [id, job] : coord_->jobs()) committed_at_crash_[id] = job.ledger.items_done();
    coord_.reset();
    coord_gen_++;
    journal_buffer_.clear();
    for (Node& n : nodes_) {
      if (!n.alive) continue;
      n.link_gen++;
      uint32_t gen = n.gen;
      NodeId id = n.id;
      At(now_ + 5, [this, id, gen] {
        Node& m = node(id);
        if (!m.alive || m.gen != gen) return;
        ProcessWorker(id, m.core->OnCoordinatorDown(kCoord, now_));
      });
    }
    At(now_ + restart_ms, [this] { StartCoordinator(); });
  }

  const Coordinator& coordinator() const { return *coord_; }
  bool coordinator_up() const { return coord_ != nullptr; }
  Node& node(NodeId id) { return nodes_.at(id - 2); }
  uint64_t now() const { return now_; }
  uint64_t finished_ms() const { return finished_ms_; }
  NodeId last_report_from() const { return last_report_from_; }
  uint32_t epoch() const { return epoch_; }
  const std::string& failure() const { return failure_; }
  uint64_t executed_items() const {
    uint64_t n = 0;
    for (const Node& node : nodes_) n += node.executed_items;
    return n;
  }
  std::map<JobId, uint64_t> committed_at_crash_;  // items_done when the coordinator died
  std::map<JobId, uint64_t> restored_items_;      // items_done right after its restore

 private:
  struct Event {
    uint64_t time, seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };

  void At(uint64_t t, std::function<void()> fn) { queue_.push({t, seq_++, std::move(fn)}); }

  void StartCoordinator() {
    epoch_++;
    JobId first = 1;
    for (const auto& [id, j] : maps_.jobs) first = std::max(first, id + 1);
    coord_ = std::make_unique<Coordinator>(kCoord, o_.coordinator, epoch_, first);
    maps_.RestoreInto(coord_.get(), now_);
    restored_items_.clear();
    verified_.clear();
    for (const auto& [id, job] : coord_->jobs()) restored_items_[id] = job.ledger.items_done();
    for (Node& n : nodes_)
      if (n.alive && !n.paused) Process(coord_->OnWorkerUp(n.id, o_.slots, now_));
  }

  void DeclareDown(NodeId id) {
    down_.insert(id);
    if (coord_) Process(coord_->OnWorkerDown(id, now_));
    node(id).link_gen++;  // the coordinator drops its link: what was sent on it is lost
  }

  void Flush() {
    for (const auto& op : journal_buffer_) maps_.Apply(op);
    journal_buffer_.clear();
  }

  void Process(CoordinatorOutput out) {
    for (auto& [to, m] : out.messages) SendToWorker(to, m);
    if (!out.journal.empty()) {
      bool idle = journal_buffer_.empty();
      for (auto& op : out.journal) journal_buffer_.push_back(std::move(op));
      if (idle) {
        uint32_t g = coord_gen_;
        At(now_ + o_.flush_ms, [this, g] {
          if (g == coord_gen_) Flush();
        });
      }
    }
  }

  void SendToWorker(NodeId to, const core::ToWorker& m) {
    Node& n = node(to);
    if (!n.alive) return;
    uint32_t gen = n.gen, link = n.link_gen;
    At(now_ + o_.latency_ms, [this, to, gen, link, m] { DeliverToWorker(to, gen, link, m); });
  }

  void DeliverToWorker(NodeId to, uint32_t gen, uint32_t link, const core::ToWorker& m) {
    Node& n = node(to);
    if (!n.alive || n.gen != gen || n.link_gen != link) return;
    if (n.paused) {
      n.deferred.push_back([this, to, gen, link, m] { DeliverToWorker(to, gen, link, m); });
      return;
    }
    if (const auto* a = std::get_if<core::Assign>(&m)) {
      ProcessWorker(to, n.core->OnAssign(kCoord, *a, now_));
    } else {
      n.cancels_received++;
      ProcessWorker(to, n.core->OnCancel(kCoord, std::get<core::Cancel>(m), now_));
    }
  }

  void ProcessWorker(NodeId id, WorkerOutput out) {
    Node& n = node(id);
    for (auto& [to, r] : out.reports) {
      uint32_t cg = coord_gen_;
      At(now_ + o_.latency_ms, [this, id, cg, r] {
        if (!coord_ || cg != coord_gen_ || !node(id).alive) return;
        last_report_from_ = id;
        Process(coord_->OnReport(id, r, now_));
      });
    }
    for (uint64_t s : out.cancel) {
      n.cancelled_slices++;
      n.slices.erase(s);
    }
    for (const core::SliceRun& run : out.start) {
      int64_t items = run.hi - run.lo;
      n.slices[run.id] = items;
      n.executed_items += static_cast<uint64_t>(items);
      double ms = static_cast<double>(items) / n.speed;
      core::SliceResult r;
      r.ok = true;
      r.values = SimFunction::Parse(run.func)->Call(run.lo, run.hi);
      r.busy_us = std::max<uint64_t>(1, static_cast<uint64_t>(ms * 1000.0));
      uint64_t done_at = now_ + std::max<uint64_t>(1, static_cast<uint64_t>(ms + 0.5));
      uint32_t gen = n.gen;
      uint64_t slice = run.id;
      At(done_at, [this, id, gen, slice, r] { SliceDone(id, gen, slice, r); });
    }
  }

  void SliceDone(NodeId id, uint32_t gen, uint64_t slice, const core::SliceResult& r) {
    Node& n = node(id);
    if (!n.alive || n.gen != gen) return;
    if (n.paused) {
      n.deferred.push_back([this, id, gen, slice, r] { SliceDone(id, gen, slice, r); });
      return;
    }
    n.slices.erase(slice);
    ProcessWorker(id, n.core->OnSliceDone(slice, r, now_));
  }

  void TickAll() {
    if (coord_) Process(coord_->Tick(now_));
    for (Node& n : nodes_)
      if (n.alive && !n.paused) ProcessWorker(n.id, n.core->Tick(now_));
    At(now_ + o_.tick_ms, [this] { TickAll(); });
  }

  void Check() {
    for (const Node& n : nodes_)
      if (n.alive) n.core->CheckInvariants();
    if (!coord_) return;
    coord_->CheckInvariants();
    for (const auto& [id, job] : coord_->jobs()) {
      if (job.state != JobState::kRunning) continue;
      const core::Ledger& l = job.ledger;
      auto f = functions_.try_emplace(id, *SimFunction::Parse(job.spec.func)).first;
      std::vector<int64_t>& verified = verified_[id];
      verified.resize(l.chunks().size(), INT64_MIN);
      for (size_t i = 0; i < l.chunks().size() && l.Relevant(i); i++) {
        const core::Chunk& c = l.chunk(i);
        if (verified[i] == c.done_upto) continue;  // unchanged since it was checked
        verified[i] = c.done_upto;
        if (!(c.done == f->second.Reference(c.begin, c.done_upto))) {
          failure_ = "job " + std::to_string(id) + " chunk " + std::to_string(i) +
                     " committed up to " + std::to_string(c.done_upto) + " is not exact";
          ADD_FAILURE() << failure_;
          return;
        }
      }
    }
  }

  MeshOptions o_;
  std::vector<Node> nodes_;
  std::unique_ptr<Coordinator> coord_;
  uint32_t coord_gen_ = 1, epoch_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  uint64_t now_ = 0, seq_ = 0, finished_ms_ = 0;
  NodeId last_report_from_ = 0;
  std::vector<core::JournalOp> journal_buffer_;
  JournalMaps maps_;
  std::map<JobId, core::JobSpec> specs_;
  std::set<NodeId> down_;
  std::map<JobId, SimFunction> functions_;
  std::map<JobId, std::vector<int64_t>> verified_;  // per chunk: the done_upto last checked
  std::string failure_;
};

MeshOptions NoBackupOptions() {
  MeshOptions o;
  o.coordinator.backup_after_ms = 1u << 30;
  return o;
}

// The baseline: the same mesh and job without faults.
uint64_t BaselineMs(const MeshOptions& o, const core::JobSpec& spec) {
  Mesh m(o);
  JobId id = m.Submit(spec);
  EXPECT_TRUE(m.RunJob(id)) << m.failure();
  return m.finished_ms();
}

// Worker `victim` is lost right after the coordinator has checkpointed >= 90% of the chunk it
// holds: only the slice it was running is computed again. (Backups are off, so that any
// extra work could only come from the loss.)
TEST(JobScenario, CrashAfterNinetyPercentCostsAtMostOneSlice) {
  const core::JobSpec spec = SpecOf("sum", 0, 40'000'000);
  MeshOptions o = NoBackupOptions();
  uint64_t baseline = BaselineMs(o, spec);
  for (NodeId victim : {3u, 5u}) {
    SCOPED_TRACE("victim " + std::to_string(victim));
    Mesh m(o);
    JobId id = m.Submit(spec);
    core::Attempt held;
    int64_t chunk_items = 0, chunk_end = 0;
    bool hit = m.RunUntil(
        [&] {
          if (m.last_report_from() != victim) return false;
          const core::Job* j = m.coordinator().job(id);
          for (const core::Chunk& c : j->ledger.chunks())
            for (const core::Attempt& a : c.attempts)
              if (a.worker == victim && 10 * (c.done_upto - c.begin) >= 9 * (c.end - c.begin)) {
                held = a;
                chunk_items = c.end - c.begin;
                chunk_end = c.end;
                return true;
              }
          return false;
        },
        600'000);
    ASSERT_TRUE(hit) << m.failure();
    int64_t in_flight = held.running_to - held.upto;
    EXPECT_GT(in_flight, 0);
    uint64_t crash_at = m.now();
    m.CrashWorker(victim, 1000);
    ASSERT_TRUE(m.RunJob(id)) << m.failure();
    const core::JobStats& s = m.coordinator().job(id)->stats;
    EXPECT_EQ(s.reassigned, 1u);
    EXPECT_EQ(s.reassigned_items, static_cast<uint64_t>(chunk_end - held.upto));
    EXPECT_EQ(s.recomputed, static_cast<uint64_t>(in_flight));
    // What the executors did beyond the job's items: the one lost slice.
    uint64_t extra = m.executed_items() - 40'000'000;
    EXPECT_EQ(extra, static_cast<uint64_t>(in_flight));
    // One slice is at most slice_ms of the worker's time (150 ms at 1000 items/ms).
    EXPECT_LE(in_flight, 150'000);
    ASSERT_EQ(s.failures.size(), 1u);
    EXPECT_GE(s.failures[0].detection_ms, 1000u);
    std::printf(
        "FIGURE crash_at_90pct_victim%u: chunk_items=%lld recomputed_items=%llu "
        "recomputed_per_chunk=%.4f extra_executed_items=%llu crash_at_ms=%llu "
        "detection_ms=%llu baseline_ms=%llu finish_ms=%llu added_ms=%lld\n",
        victim, (long long)chunk_items, (unsigned long long)s.recomputed,
        static_cast<double>(s.recomputed) / static_cast<double>(chunk_items),
        (unsigned long long)extra, (unsigned long long)crash_at,
        (unsigned long long)s.failures[0].detection_ms, (unsigned long long)baseline,
        (unsigned long long)m.finished_ms(), (long long)(m.finished_ms() - baseline));
  }
}

TEST(JobScenario, TwoOfFourWorkersCrashMidJob) {
  const core::JobSpec spec = SpecOf("sum", -7'000'000, 33'000'000);
  MeshOptions o = NoBackupOptions();
  uint64_t baseline = BaselineMs(o, spec);
  Mesh m(o);
  JobId id = m.Submit(spec);
  auto done_fraction = [&](double f) {
    return [&m, id, f] {
      const core::Job* j = m.coordinator().job(id);
      return static_cast<double>(j->ledger.items_done()) >= f * 40e6;
    };
  };
  ASSERT_TRUE(m.RunUntil(done_fraction(0.3), 600'000));
  m.CrashWorker(2, 800);
  ASSERT_TRUE(m.RunUntil(done_fraction(0.6), 600'000));
  m.CrashWorker(4, 1500);
  ASSERT_TRUE(m.RunJob(id)) << m.failure();
  const core::JobStats& s = m.coordinator().job(id)->stats;
  EXPECT_GE(s.reassigned, 2u);
  EXPECT_EQ(s.failures.size(), 2u);
  // Each loss costs at most the slice in flight and one checkpoint still on its way.
  uint64_t extra = m.executed_items() - 40'000'000;
  EXPECT_LE(s.recomputed, 2u * 150'000u);
  EXPECT_LE(extra, 4u * 150'000u);
  // The two survivors did the rest.
  const core::Job* j = m.coordinator().job(id);
  EXPECT_EQ(
      j->shares.at(3).items + j->shares.at(5).items + j->shares.at(2).items + j->shares.at(4).items,
      40'000'000u);
  std::printf(
      "FIGURE two_of_four_crashed: reassigned=%llu reassigned_items=%llu recomputed_items=%llu "
      "extra_executed_items=%llu baseline_ms=%llu finish_ms=%llu added_ms=%lld\n",
      (unsigned long long)s.reassigned, (unsigned long long)s.reassigned_items,
      (unsigned long long)s.recomputed, (unsigned long long)extra, (unsigned long long)baseline,
      (unsigned long long)m.finished_ms(), (long long)(m.finished_ms() - baseline));
}

TEST(JobScenario, HangLongEnoughToBeDeclaredDeadThenStaleReportsIgnored) {
  const core::JobSpec spec = SpecOf("max", 0, 40'000'000);
  MeshOptions o = NoBackupOptions();
  uint64_t baseline = BaselineMs(o, spec);
  Mesh m(o);
  JobId id = m.Submit(spec);
  ASSERT_TRUE(m.RunUntil([&] { return m.now() >= 3000; }, 600'000));
  uint64_t share_before = m.coordinator().job(id)->shares.at(3).items;
  m.PauseWorker(3, 4000, 1500);
  // While it is stopped and after it is held dead: nothing it does counts.
  ASSERT_TRUE(m.RunUntil([&] { return m.now() >= 7000; }, 600'000));
  uint64_t cancels_before = m.node(3).cancels_received;
  ASSERT_TRUE(m.RunUntil([&] { return m.now() >= 7090; }, 600'000));  // resumed, not yet back
  const core::Job* j = m.coordinator().job(id);
  EXPECT_EQ(j->shares.at(3).items, share_before);
  EXPECT_GT(j->stats.stale_reports, 0u);
  // Its stale reports were answered with a cancel, and it stopped those attempts.
  EXPECT_GT(m.node(3).cancels_received, cancels_before);
  ASSERT_TRUE(m.RunJob(id)) << m.failure();
  const core::JobStats& s = m.coordinator().job(id)->stats;
  EXPECT_GE(s.reassigned, 1u);
  ASSERT_GE(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0].worker, 3u);
  // Detection: from the last word heard (at most a slice before the hang; a report may still
  // have been on its way) to the verdict.
  EXPECT_GE(s.failures[0].detection_ms, 1500u - 10u);
  EXPECT_LE(s.failures[0].detection_ms, 1500u + 160u);
  std::printf(
      "FIGURE hang_declared_dead: stale_reports=%llu reassigned_items=%llu recomputed_items=%llu "
      "detection_ms=%llu baseline_ms=%llu finish_ms=%llu added_ms=%lld\n",
      (unsigned long long)s.stale_reports, (unsigned long long)s.reassigned_items,
      (unsigned long long)s.recomputed, (unsigned long long)s.failures[0].detection_ms,
      (unsigned long long)baseline, (unsigned long long)m.finished_ms(),
      (long long)(m.finished_ms() - baseline));
}

TEST(JobScenario, CoordinatorRestartResumesFromTheJournal) {
  for (const std::string func : {"sum", "first:9000000:8765432"}) {
    SCOPED_TRACE(func);
    const core::JobSpec spec = SpecOf(func, 1, 40'000'001);
    MeshOptions o;
    uint64_t baseline = BaselineMs(o, spec);
    Mesh m(o);
    JobId id = m.Submit(spec);
    ASSERT_TRUE(m.RunUntil([&] { return m.now() >= 1500; }, 600'000));
    ASSERT_EQ(m.coordinator().job(id)->state, JobState::kRunning);
    m.CrashCoordinator(1000);
    ASSERT_TRUE(m.RunUntil([&] { return m.coordinator_up(); }, 600'000));
    EXPECT_EQ(m.epoch(), 2u);
    const core::Job* j = m.coordinator().job(id);
    ASSERT_NE(j, nullptr);
    EXPECT_TRUE(j->resumed);
    // What was journaled survived: at most the last flush interval's checkpoints were lost.
    uint64_t at_crash = m.committed_at_crash_.at(id), restored = m.restored_items_.at(id);
    EXPECT_LE(restored, at_crash);
    EXPECT_GT(restored, 0u);
    // Lost: checkpoints of the last flush interval (20 ms), at most one slice per worker.
    EXPECT_GE(restored + 4u * 150'000u, at_crash);
    ASSERT_TRUE(m.RunJob(id)) << m.failure();
    std::printf(
        "FIGURE coordinator_restart_%s: committed_at_crash=%llu restored_items=%llu "
        "lost_checkpointed_items=%llu baseline_ms=%llu finish_ms=%llu added_ms=%lld\n",
        func == "sum" ? "sum" : "first", (unsigned long long)at_crash, (unsigned long long)restored,
        (unsigned long long)(at_crash - restored), (unsigned long long)baseline,
        (unsigned long long)m.finished_ms(), (long long)(m.finished_ms() - baseline));
  }
}

// One worker of four runs 10x slower. At the job's tail an idle worker copies the straggler's
// remainder; the first to finish wins, the other is cancelled.
TEST(JobScenario, StragglerGetsABackupAndTheTailIsBounded) {
  const core::JobSpec spec = SpecOf("sum", 0, 40'000'000);
  MeshOptions o;
  o.speeds = {1000, 100, 1000, 1000};  // worker 3 is the straggler
  const double ideal_ms = 40e6 / 3100.0;
  MeshOptions off = o;
  off.coordinator.backup_after_ms = 1u << 30;
  Mesh without(off);
  JobId id0 = without.Submit(spec);
  ASSERT_TRUE(without.RunJob(id0)) << without.failure();
  EXPECT_EQ(without.coordinator().job(id0)->stats.backups, 0u);

  Mesh m(o);
  JobId id = m.Submit(spec);
  ASSERT_TRUE(m.RunJob(id)) << m.failure();
  uint64_t finished = m.finished_ms();
  ASSERT_TRUE(m.RunUntil([&] { return m.now() >= finished + 10; }, 600'000));  // cancels land
  const core::JobStats& s = m.coordinator().job(id)->stats;
  EXPECT_GE(s.backups, 1u);
  EXPECT_GT(s.recomputed, 0u);                // the loser's duplicated work
  EXPECT_GT(m.node(3).cancelled_slices, 0u);  // the straggler lost the race and was stopped
  // The tail: without backups the straggler's first chunk alone takes ~3x the ideal time.
  EXPECT_GT(static_cast<double>(without.finished_ms()), 2.0 * ideal_ms);
  EXPECT_LT(static_cast<double>(finished), 1.35 * ideal_ms);
  std::printf(
      "FIGURE straggler_10x: ideal_ms=%.0f with_backups_ms=%llu without_backups_ms=%llu "
      "backups=%llu recomputed_items=%llu\n",
      ideal_ms, (unsigned long long)finished, (unsigned long long)without.finished_ms(),
      (unsigned long long)s.backups, (unsigned long long)s.recomputed);
}

// Dynamic chunking on unequal workers: the fast one takes more, and nobody waits long at the
// end (no backups here: the chunk sizes alone must keep the tail short).
TEST(JobScenario, FastWorkersTakeMoreAndTheTailIsShort) {
  const core::JobSpec spec = SpecOf("sum", 0, 20'000'000);
  MeshOptions o;
  o.speeds = {3000, 1000, 1000};  // items per ms: worker 2 is three times as fast
  o.coordinator.backup_after_ms = 1u << 30;
  const double ideal_ms = 20e6 / 5000.0;
  Mesh m(o);
  JobId id = m.Submit(spec);
  ASSERT_TRUE(m.RunJob(id)) << m.failure();
  const core::Job* j = m.coordinator().job(id);
  uint64_t fast = j->shares.at(2).items, slow3 = j->shares.at(3).items,
           slow4 = j->shares.at(4).items;
  EXPECT_EQ(fast + slow3 + slow4, 20'000'000u);
  EXPECT_GT(fast, 2 * slow3);
  EXPECT_GT(fast, 2 * slow4);
  EXPECT_LT(static_cast<double>(m.finished_ms()), 1.1 * ideal_ms);
  std::printf("FIGURE unequal_workers: ideal_ms=%.0f finished_ms=%llu items=%llu,%llu,%llu\n",
              ideal_ms, (unsigned long long)m.finished_ms(), (unsigned long long)fast,
              (unsigned long long)slow3, (unsigned long long)slow4);
}

}  // namespace
}  // namespace velum::sim
