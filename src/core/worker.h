// The worker side of jobs as a sans-I/O state machine: it queues attempts assigned by
// coordinators, runs each as slices sized to a fixed time, and reports a checkpoint after
// every slice. The driver runs the slices in its executor pool and feeds the results back.
#ifndef VELUM_CORE_WORKER_H_
#define VELUM_CORE_WORKER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "core/job_types.h"

namespace velum::core {

struct WorkerConfig {
  uint32_t slots = 2;                // slices run at once
  uint32_t max_timeout_ms = 300000;  // this node's own limit per call, whatever is asked
  uint32_t max_memory_pages = 4096;  // this node's own limit per instance
  size_t max_tasks = 256;            // attempts held (running, queued, awaiting release)
  uint32_t heartbeat_ms = 1000;      // every attempt is reported at least this often
  // An attempt is first reported when its first slice ends, or this long after it arrived if
  // that is sooner: a short chunk costs one report, not two.
  uint32_t first_report_ms = 50;
  uint32_t final_keep_ms = 30000;  // a final report is repeated until released, this long
  uint32_t min_slice_ms = 10, max_slice_ms = 2000;
  uint32_t slice_growth = 16;  // a slice is at most this many times the previous one
};

// One call of the export over [lo, hi), for the driver to run.
struct SliceRun {
  uint64_t id = 0;
  NodeId coordinator = kNoNode;
  JobId job = 0;
  AttemptId attempt = 0;
  ModuleDigest module{};
  uint64_t module_size = 0;
  std::string func;
  bool wide = false;
  ReducerKind reducer = ReducerKind::kSum;
  // kModule: after the call, its results are folded onto `acc` through `reduce_func`, in the
  // executor (acc empty: the results alone), and SliceResult::values is that fold: the
  // attempt's partial so far, from the chunk's beginning.
  std::string reduce_func;
  Partial acc;
  int64_t lo = 0, hi = 0;
  uint32_t timeout_ms = 0;
  uint32_t max_memory_pages = 0;
  std::string label;  // the job's: argv[0] of a WASI export
};

struct SliceResult {
  bool ok = false;
  std::vector<Num> values;  // the export's results (kModule: folded onto SliceRun::acc)
  TaskError error;
  uint64_t busy_us = 0;  // how long the call took
  // What a WASI export wrote, ok or not; output.lo and .hi are the slice's. Unset: nothing.
  std::optional<SliceOutput> output;
};

struct WorkerOutput {
  std::vector<std::pair<NodeId, Report>> reports;  // to coordinators
  std::vector<SliceRun> start;                     // slices to run now
  std::vector<uint64_t> cancel;                    // running slices whose result is unwanted
};

// Every input carries the driver's clock, whether or not this version of the rules reads it.
class Worker {
 public:
  Worker(NodeId self, WorkerConfig config);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  WorkerOutput OnAssign(NodeId from, const Assign& assign, uint64_t now_ms);
  WorkerOutput OnCancel(NodeId from, const Cancel& cancel, uint64_t now_ms);
  // The coordinator's link reset or it was declared dead: it has reassigned our work.
  WorkerOutput OnCoordinatorDown(NodeId coordinator, uint64_t now_ms);
  WorkerOutput OnSliceDone(uint64_t slice, const SliceResult& result, uint64_t now_ms);
  WorkerOutput Tick(uint64_t now_ms);
  uint64_t NextDeadlineMs() const;

  size_t running() const { return slices_.size(); }  // busy slots: the node's load
  size_t tasks() const { return tasks_.size(); }
  size_t TasksFrom(NodeId coordinator) const;  // held for that coordinator
  const WorkerConfig& config() const { return config_; }

  void CheckInvariants() const;

 private:
  using Key = std::tuple<NodeId, JobId, AttemptId>;
  struct Task {
    Key key;
    Assign assign;
    int64_t upto = 0;
    Partial partial;
    uint64_t busy_us = 0;
    uint64_t slice = 0;  // the running slice, 0 if none
    int64_t slice_hi = 0;
    uint64_t last_items = 0;  // size of the previous slice
    double rate = 0;          // items per microsecond, measured; 0: unknown
    bool finished = false;    // the final report (done or error) waits for its release
    Report final;
    uint64_t finished_ms = 0;
    uint64_t last_sent_ms = 0;
    bool reported = false;  // at least one report sent
    uint64_t arrived_ms = 0;
    std::optional<SliceOutput> output;  // of the last slice, until a report carries it
  };

  Report ReportOf(const Task& t) const;
  void Send(Task& t, uint64_t now_ms, WorkerOutput* out);
  void Pump(WorkerOutput* out);
  void StartSlice(Task& t, WorkerOutput* out);
  void Drop(size_t index, WorkerOutput* out);
  void Remember(const Key& key);
  size_t IndexOf(const Key& key) const;

  const NodeId self_;
  const WorkerConfig config_;
  std::vector<Task> tasks_;         // in arrival order: the oldest runs first
  std::map<uint64_t, Key> slices_;  // running slices
  uint64_t next_slice_ = 1;
  std::set<Key> forgotten_;          // released or cancelled: a late assign is ignored
  std::deque<Key> forgotten_order_;  // bounds forgotten_
  std::map<std::pair<NodeId, JobId>, double> rates_;  // carried from attempt to attempt
};

}  // namespace velum::core

#endif  // VELUM_CORE_WORKER_H_
