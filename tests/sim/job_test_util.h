// Helpers shared by the unit tests of the job cores: job specs for the simulator's exports,
// reports, picking messages out of outputs, and scripted workers that drive a coordinator.
#ifndef VELUM_TESTS_SIM_JOB_TEST_UTIL_H_
#define VELUM_TESTS_SIM_JOB_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/coordinator.h"
#include "core/reducer.h"
#include "tests/sim/sim_function.h"

namespace velum::sim {

// The seeds of a seeded sweep: VELUM_SIM_SEED alone (a replay), or `runs` seeds from `base`
// (VELUM_SIM_RUNS=K sweeps K instead).
inline std::vector<uint64_t> Seeds(uint64_t base, uint64_t runs) {
  if (const char* s = std::getenv("VELUM_SIM_SEED"); s && *s)
    return {std::strtoull(s, nullptr, 10)};
  if (const char* r = std::getenv("VELUM_SIM_RUNS"); r && *r) runs = std::strtoull(r, nullptr, 10);
  std::vector<uint64_t> seeds;
  for (uint64_t i = 0; i < runs; i++) seeds.push_back(base + i);
  return seeds;
}

// The command that replays one seed of the running test (for failure messages).
inline std::string ReplayCommand(uint64_t seed) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "*";
  return "replay: VELUM_SIM_SEED=" + std::to_string(seed) +
         " build/tests/sim/velum-sim-tests --gtest_filter=" + name;
}

// A job over [start, end) of one of the simulated exports ("sum", "min", "max", "first:M:R").
inline core::JobSpec SpecOf(const std::string& func, int64_t start, int64_t end,
                            uint64_t chunk_items = 0) {
  core::JobSpec s;
  s.func = func;
  s.start = start;
  s.end = end;
  s.chunk_items = chunk_items;
  s.wide = true;
  s.label = func;
  if (func == "sum") {
    s.reducer = core::ReducerKind::kSum;
    s.result_kinds = {core::NumKind::kInt, core::NumKind::kInt};
  } else if (func == "min" || func == "max") {
    s.reducer = func == "min" ? core::ReducerKind::kMin : core::ReducerKind::kMax;
    s.result_kinds = {core::NumKind::kInt};
  } else {
    s.reducer = core::ReducerKind::kFirst;
    s.result_kinds = {core::NumKind::kInt};
  }
  return s;
}

// The exact reduction of [lo, hi) of an export (empty for an empty range or nothing found).
inline core::Partial Ref(const std::string& func, int64_t lo, int64_t hi) {
  return SimFunction::Parse(func)->Reference(lo, hi);
}

inline core::Report ReportOf(core::JobId job, core::AttemptId attempt, int64_t upto,
                             int64_t running_to, core::Partial partial, uint64_t busy_us = 0) {
  core::Report r;
  r.job = job;
  r.attempt = attempt;
  r.upto = upto;
  r.running_to = running_to;
  r.partial = std::move(partial);
  r.busy_us = busy_us;
  return r;
}

inline core::Report ErrorReport(core::JobId job, core::AttemptId attempt, int64_t upto,
                                bool retryable, const std::string& message) {
  core::Report r;
  r.job = job;
  r.attempt = attempt;
  r.upto = r.running_to = upto;
  r.has_error = true;
  r.error.kind = 3;
  r.error.retryable = retryable;
  r.error.message = message;
  return r;
}

inline std::vector<std::pair<core::NodeId, core::Assign>> AssignsIn(
    const core::CoordinatorOutput& out) {
  std::vector<std::pair<core::NodeId, core::Assign>> v;
  for (const auto& [to, m] : out.messages)
    if (const auto* a = std::get_if<core::Assign>(&m)) v.push_back({to, *a});
  return v;
}

inline std::vector<std::pair<core::NodeId, core::Cancel>> CancelsIn(
    const core::CoordinatorOutput& out) {
  std::vector<std::pair<core::NodeId, core::Cancel>> v;
  for (const auto& [to, m] : out.messages)
    if (const auto* c = std::get_if<core::Cancel>(&m)) v.push_back({to, *c});
  return v;
}

inline bool HasCancel(const core::CoordinatorOutput& out, core::NodeId to, core::AttemptId a) {
  for (const auto& [n, c] : CancelsIn(out))
    if (n == to && c.attempt == a) return true;
  return false;
}

// The journal as the shell keeps it: each op an upsert keyed by job, or by job and chunk.
struct JournalMaps {
  std::map<core::JobId, core::JournalJob> jobs;
  std::map<std::pair<core::JobId, uint32_t>, core::JournalChunk> chunks;

  void Apply(const core::JournalOp& op) {
    if (const auto* j = std::get_if<core::JournalJob>(&op)) {
      jobs[j->id] = *j;
    } else {
      const auto& c = std::get<core::JournalChunk>(op);
      chunks[{c.job, c.index}] = c;
    }
  }
  std::vector<core::JournalChunk> ChunksOf(core::JobId id) const {
    std::vector<core::JournalChunk> v;
    for (auto it = chunks.lower_bound({id, 0}); it != chunks.end() && it->first.first == id; ++it)
      v.push_back(it->second);
    return v;
  }
  // Restores every job into a coordinator.
  void RestoreInto(core::Coordinator* c, uint64_t now_ms) const {
    for (const auto& [id, j] : jobs) c->Restore(j, ChunksOf(id), now_ms);
  }
};

// Scripted workers around one coordinator: every Assign becomes a task that advances only
// when a test says so, reporting exact partials (from the export's closed form). Everything
// the coordinator emits is recorded.
class ScriptedWorkers {
 public:
  struct Task {
    core::NodeId worker = 0;
    core::Assign assign;
    int64_t upto = 0;
    uint64_t busy_us = 0;
    bool finished = false;  // its final report was sent; waits for its release
  };

  explicit ScriptedWorkers(core::Coordinator* c) : c_(c) {}

  // Records an output: assignments become tasks, cancels drop them.
  void Take(core::CoordinatorOutput out) {
    for (auto& [to, m] : out.messages) {
      if (auto* a = std::get_if<core::Assign>(&m)) {
        assigns.push_back({to, *a});
        Task t;
        t.worker = to;
        t.assign = *a;
        t.upto = a->start;
        tasks[a->attempt] = t;
      } else {
        const auto& c = std::get<core::Cancel>(m);
        cancels.push_back({to, c});
        for (auto it = tasks.begin(); it != tasks.end();) {
          bool match = it->second.worker == to && it->second.assign.job == c.job &&
                       (c.attempt == 0 || it->first == c.attempt);
          it = match ? tasks.erase(it) : std::next(it);
        }
      }
    }
    for (auto& op : out.journal) journal.push_back(std::move(op));
    for (auto& e : out.events) events.push_back(e);
    c_->CheckInvariants();
  }

  // The report a task makes after `items` more items (clipped; for `first`, up to its find),
  // `us_per_item` of executor time each.
  core::Report Advance(core::AttemptId attempt, int64_t items, double us_per_item = 1.0) {
    Task& t = tasks.at(attempt);
    uint64_t left = static_cast<uint64_t>(t.assign.end) - static_cast<uint64_t>(t.upto);
    uint64_t step = std::min(static_cast<uint64_t>(items), left);
    t.upto = static_cast<int64_t>(static_cast<uint64_t>(t.upto) + step);
    t.busy_us += static_cast<uint64_t>(static_cast<double>(step) * us_per_item);
    core::Report r = ReportOf(t.assign.job, attempt, t.upto, t.upto,
                              Ref(t.assign.func, t.assign.start, t.upto), t.busy_us);
    if (t.upto == t.assign.end ||
        (t.assign.reducer == core::ReducerKind::kFirst && !r.partial.empty()))
      t.finished = true;
    return r;
  }

  // Advances a task and delivers its report.
  core::CoordinatorOutput Step(core::AttemptId attempt, int64_t items, uint64_t now_ms,
                               double us_per_item = 1.0) {
    core::NodeId w = tasks.at(attempt).worker;
    core::Report r = Advance(attempt, items, us_per_item);
    core::CoordinatorOutput out = c_->OnReport(w, r, now_ms);
    Take(out);
    return out;
  }

  // Runs every task to its end, the oldest attempt first, `slice` items per report, until the
  // job is no longer running. False if it stalls (no task left while the job runs).
  bool RunJob(core::JobId job, int64_t slice, uint64_t* now_ms, size_t max_steps = 1000000) {
    for (size_t steps = 0; steps < max_steps; steps++) {
      const core::Job* j = c_->job(job);
      if (!j || j->state != core::JobState::kRunning) return true;
      std::optional<core::AttemptId> next;
      for (const auto& [id, t] : tasks)
        if (t.assign.job == job && !t.finished) {
          next = id;
          break;
        }
      if (!next) {
        // Idle: time passes (silence timeouts, backups) until something is assigned.
        *now_ms += 1000;
        Take(c_->Tick(*now_ms));
        if (++idle_ticks_ > 100) return false;
        continue;
      }
      idle_ticks_ = 0;
      *now_ms += 1;
      Step(*next, slice, *now_ms);
    }
    return false;
  }

  std::optional<core::AttemptId> TaskOf(core::NodeId worker, core::JobId job) const {
    for (const auto& [id, t] : tasks)
      if (t.worker == worker && t.assign.job == job) return id;
    return std::nullopt;
  }

  std::map<core::AttemptId, Task> tasks;
  std::vector<std::pair<core::NodeId, core::Assign>> assigns;
  std::vector<std::pair<core::NodeId, core::Cancel>> cancels;
  std::vector<core::JournalOp> journal;
  std::vector<core::JobEvent> events;

 private:
  core::Coordinator* c_;
  int idle_ticks_ = 0;
};

}  // namespace velum::sim

#endif  // VELUM_TESTS_SIM_JOB_TEST_UTIL_H_
