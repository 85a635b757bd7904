// A deterministic simulation of distributed jobs: one coordinator core and many worker cores
// in one process, with virtual time, simulated executors, a lossy or TCP-like network, and
// crashes, hangs, cuts and restarts of workers and of the coordinator (restored from its
// journal). Every step checks the ledger against a closed-form reference of the job.
#ifndef VELUM_TESTS_SIM_JOB_SIM_H_
#define VELUM_TESTS_SIM_JOB_SIM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <variant>
#include <vector>

#include "core/coordinator.h"
#include "core/peer_gate.h"
#include "core/random.h"
#include "core/worker.h"

namespace velum::sim {

using core::JobId;
using core::NodeId;

// The simulated exports (JobSpec::func), each with a closed-form reduction of any range:
//   "sum"        -> (sum of i mod 2^64, number of items)      reducer sum
//   "min"/"max"  -> (the smallest / largest i)                  reducer min / max
//   "first:M:R"  -> the first i with i % M == R, else 0 (R > 0) reducer first
struct SimFunction {
  enum class Kind : uint8_t { kSum, kMin, kMax, kFirst } kind = Kind::kSum;
  int64_t modulus = 1, residue = 0;
  static std::optional<SimFunction> Parse(const std::string& func);
  // What the export returns for one call on [lo, hi).
  std::vector<core::Num> Call(int64_t lo, int64_t hi) const;
  // The exact reduction of [lo, hi) (empty partial for an empty range or nothing found).
  core::Partial Reference(int64_t lo, int64_t hi) const;
};

// A range [*lo, *hi) drawn from the whole int64 domain, weighted toward its edges: the whole
// domain, ranges ending at INT64_MAX or starting at INT64_MIN, 1-item ranges, sizes spread
// log-uniformly over 1 .. 2^64 - 1 at random places.
void RandomInt64Range(core::Rng& rng, int64_t* lo, int64_t* hi);

struct JobSimOptions {
  uint64_t seed = 1;
  uint32_t workers = 4;           // ids 2 .. workers + 1; the coordinator is node 1
  bool coordinator_works = true;  // the coordinator is also a worker (unless a job excludes it)
  uint32_t max_slots = 2;         // each worker gets 1 .. max_slots
  // Network. tcp: FIFO and lossless while a link lives, what the real links give; a reset
  // loses what was in flight. Otherwise datagram-like: loss, duplication, reordering.
  bool tcp = true;
  double loss = 0.0, duplicate = 0.0;
  uint32_t latency_min_ms = 0, latency_max_ms = 2;
  double tail = 0.05;  // with this probability a message takes up to tail_max_ms longer
  uint32_t tail_max_ms = 30;
  // Faults, at a Poisson rate in [0, chaos_ms); everything heals at chaos_ms.
  bool crashes = true, hangs = true, cuts = false, coordinator_crashes = false;
  double faults_per_s = 1.0;
  uint64_t chaos_ms = 6000;
  uint64_t limit_ms = 600000;  // virtual time by which every job must have finished
  // Executors: items per ms per slot, per worker uniform in [speed_min, speed_max].
  double speed_min = 2000, speed_max = 20000;
  // Random jobs over ranges of the whole int64 domain (RandomInt64Range), not the usual
  // sizes of 1e3 .. 4e7 items; pair it with speeds that finish 2^64 items in virtual time.
  bool int64_ranges = false;
  core::CoordinatorConfig coordinator;
  core::WorkerConfig worker;
};

struct SimJob {
  core::JobSpec spec;
  SimFunction function;
  std::optional<JobId> id;  // once submitted
  uint64_t submit_at_ms = 0;
  std::optional<uint64_t> finished_ms;
};

class JobSim {
 public:
  explicit JobSim(JobSimOptions options);
  ~JobSim();

  // A job submitted at `at_ms` (or as soon after as the coordinator is up).
  void AddJob(const core::JobSpec& spec, uint64_t at_ms);
  // Random jobs: sizes, reducers, fixed or dynamic chunks, with or without the coordinator.
  void AddRandomJobs(size_t count);

  // Runs until every job is done (true) or the limit (false, with failure() saying why).
  // Invariant violations abort through VELUM_ASSERT or are reported as failures.
  bool Run();
  const std::string& failure() const { return failure_; }
  std::string Summary() const;  // seed, time, counters: for failure messages

  uint64_t now() const { return now_; }
  const std::vector<SimJob>& jobs() const { return jobs_; }
  const core::Coordinator* coordinator() const { return coordinator_.get(); }
  uint64_t events() const { return events_; }
  uint64_t faults() const { return faults_; }
  uint64_t coordinator_restarts() const { return coordinator_restarts_; }
  // Totals over the finished jobs' stats (as reported by the coordinator that finished them).
  uint64_t total_reassigned() const;
  uint64_t total_recomputed() const;
  uint64_t total_stale() const;

  // Scripted faults for targeted tests (times are absolute virtual ms).
  void CrashWorkerAt(NodeId id, uint64_t at_ms, uint64_t restart_after_ms);
  void CrashCoordinatorAt(uint64_t at_ms, uint64_t restart_after_ms);

 private:
  enum class Kind : uint8_t {
    kToWorker,       // node: worker; payload: ToWorker
    kToCoordinator,  // node: worker (sender); payload: Report
    kSliceDone,
    kTick,
    kFlush,       // the coordinator's journal buffer becomes durable
    kFault,       // a random fault
    kWorkerDown,  // the failure detector tells the coordinator
    kWorkerUp,
    kCoordDownAtWorker,
    kRestartWorker,
    kResumeWorker,
    kHealCut,
    kRestartCoordinator,
    kSubmit,
    kHeal,  // end of chaos
  };
  struct Event {
    uint64_t time;
    uint64_t order;
    Kind kind;
    NodeId node;
    uint32_t gen;       // the process generation the event belongs to (stale ones are dropped)
    uint32_t link_gen;  // tcp: the link generation a message was sent on
    uint64_t slice = 0;
    core::SliceResult result;
    std::variant<std::monostate, core::ToWorker, core::Report> payload;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.order > b.order;
    }
  };
  struct WorkerNode {
    NodeId id = 0;
    uint32_t slots = 1;
    double speed = 1;
    uint32_t gen = 0;
    uint32_t link_gen = 0;
    bool running = false, paused = false, cut = false;
    bool known_down = false;  // the coordinator was told it is down, not yet up again
    uint32_t registered = 0;  // coordinator generation that holds it up (0: none)
    std::unique_ptr<core::Worker> core;
    std::vector<Event> deferred;  // arrived while paused
    uint64_t tick_at = UINT64_MAX;
    uint64_t last_to_coord_ms = 0;    // tcp FIFO
    uint64_t last_from_coord_ms = 0;  // tcp FIFO
  };

  void Push(Event e);
  Event Make(uint64_t time, Kind kind, NodeId node);
  uint64_t Latency();
  WorkerNode* Worker(NodeId id);
  bool CoordinatorUp() const { return coordinator_ != nullptr; }

  void Dispatch(Event& e);
  void DeliverToWorker(WorkerNode& w, const Event& e);
  void ProcessCoordinator(core::CoordinatorOutput out);
  // A fact about worker `w` at the coordinator node (its link, or the membership's verdict),
  // through the gate; the coordinator hears of the change the gate declares, if any.
  void GateFact(const WorkerNode& w, bool link, bool up);
  void ProcessWorker(NodeId id, core::WorkerOutput out);
  void SendToCoordinator(NodeId from, const core::Report& r);
  void SendToWorker(NodeId to, const core::ToWorker& m);
  void ScheduleTick(NodeId id);
  void RandomFault();
  void CrashWorker(WorkerNode& w, uint64_t restart_after_ms);
  void StartWorker(WorkerNode& w);
  void DetectDown(WorkerNode& w, uint64_t delay_ms);
  void ResetLink(WorkerNode& w, bool worker_notices);
  void CrashCoordinator(uint64_t restart_after_ms);
  void StartCoordinator();
  void Heal();
  bool CheckAll();
  bool AllDone();
  void Register(WorkerNode& w, uint64_t delay_ms);

  JobSimOptions options_;
  core::Rng rng_;
  uint64_t now_ = 0;
  uint64_t order_ = 0;
  uint64_t events_ = 0, faults_ = 0, coordinator_restarts_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::vector<SimJob> jobs_;
  std::map<JobId, size_t> job_index_;  // coordinator's id -> jobs_
  std::vector<WorkerNode> workers_;    // index = id - 2
  // The coordinator node: its core, its own worker, its journal.
  std::unique_ptr<core::Coordinator> coordinator_;
  // The coordinator node's peer gate, as in the node: the only caller of OnWorkerUp/Down for
  // peers. The membership's verdicts and the link's come to it as facts (GateFact).
  std::unique_ptr<core::PeerGate> gate_;
  std::unique_ptr<core::Worker> self_worker_;
  uint32_t coord_gen_ = 0;
  uint32_t epoch_ = 0;
  uint64_t coord_tick_at_ = UINT64_MAX, self_tick_at_ = UINT64_MAX;
  std::vector<core::JournalOp> journal_buffer_;
  bool flush_scheduled_ = false;
  std::map<JobId, core::JournalJob> durable_jobs_;
  std::map<std::pair<JobId, uint32_t>, core::JournalChunk> durable_chunks_;
  bool chaos_ = true;
  bool trace_ = false;  // VELUM_SIM_TRACE: print every message
  std::string failure_;
  std::map<JobId, core::JobStats> finished_stats_;
  std::map<JobId, std::vector<int64_t>> verified_;  // per chunk: the done_upto last checked
};

}  // namespace velum::sim

#endif  // VELUM_TESTS_SIM_JOB_SIM_H_
