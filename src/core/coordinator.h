// The coordinator of a node's jobs as a sans-I/O state machine: it cuts ranges into chunks,
// assigns them to live workers, keeps each job's ledger, reassigns what failed workers held,
// and journals enough to finish its jobs after its own restart.
#ifndef VELUM_CORE_COORDINATOR_H_
#define VELUM_CORE_COORDINATOR_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/job_types.h"
#include "core/ledger.h"
#include "core/timeline.h"

namespace velum::core {

struct CoordinatorConfig {
  uint32_t slice_ms = 150;      // asked of workers: one checkpoint per this much work
  uint32_t guided_divisor = 2;  // a new chunk: what is left * the worker's share / this
  uint32_t min_chunk_ms = 100;  // ... but at least this long at the worker's measured speed
  // Fixed-size chunks (JobSpec::chunk_items) are usually short: each worker then holds this
  // many per slot beyond its slots, so it never idles waiting for the next assignment.
  uint32_t lookahead_per_slot = 1;
  uint32_t silence_ms = 10000;       // an attempt unheard of this long is presumed lost
  uint32_t backup_after_ms = 600;    // a straggler whose remainder needs longer gets a backup
  uint32_t max_failures = 4;         // retryable failures of one chunk before the job fails
  uint32_t worker_failures = 2;      // retryable failures after which a worker skips the job
  uint32_t cancel_resend_ms = 1000;  // a stale attempt that keeps reporting is told again
  // Restarts of this coordinator a running job is resumed after; one more and it is failed
  // instead: a job that takes its nodes down (or keeps being killed) is not replayed forever.
  uint32_t max_resumes = 5;
  size_t max_chunks = 1u << 20;  // per job
  size_t max_running_jobs = 64;
  size_t max_finished_jobs = 64;  // kept in memory for `jobs`
  // Ended attempts kept per job for its timeline (the oldest dropped past this): ~56 bytes
  // each, at most ~1 MiB per job, kept for the running jobs and this many finished ones.
  size_t max_timeline_spans = SpanLog::kDefaultMaxSpans;
  size_t finished_timelines = 16;
};

enum class JobState : uint8_t { kRunning, kDone, kFailed, kCancelled };
const char* JobStateName(JobState state);

// Per worker, what it contributed to one job (the per-node table of `velum jobs`).
struct WorkerShare {
  uint64_t chunks = 0;   // chunks it completed
  uint64_t items = 0;    // items of the result that it computed
  uint64_t busy_us = 0;  // executor time it reported
};

// One failure handled during a job: a worker lost (declared dead, link reset, silent).
struct FailureRecord {
  NodeId worker = kNoNode;
  uint64_t at_ms = 0;
  uint64_t detection_ms = 0;  // from the last word heard from the worker to its loss
  uint32_t attempts = 0;      // active attempts it held
  uint64_t reassigned_items = 0;
  uint64_t recomputed_items = 0;
};

struct JobStats {
  uint64_t reassigned = 0;              // remainders handed to another worker after a loss
  uint64_t reassigned_items = 0;        // items in them
  uint64_t recomputed = 0;              // items computed more than once: slices in flight on a
                                        // lost worker, a losing backup's work
  uint64_t stale_reports = 0;           // reports ignored: stale, duplicated or invalid
  uint64_t invalid_reports = 0;         // of which malformed or from the wrong worker
  uint64_t backups = 0;                 // backup copies of stragglers started
  uint64_t retries = 0;                 // attempts retried after a retryable error
  std::vector<FailureRecord> failures;  // the first kMaxFailureRecords
  static constexpr size_t kMaxFailureRecords = 64;
  uint64_t max_detection_ms() const;
};

// The slice error that failed a job: the worker's error, where it ran and on which items.
struct JobFailure {
  uint32_t error_kind = 0;  // TaskError::kind
  std::string message;      // the worker's own words (Job::error adds where)
  NodeId node = kNoNode;
  int64_t lo = 0, hi = 0;  // the slice's items [lo, hi)
  bool retryable = false;  // retried until the chunk's failures ran out

  bool operator==(const JobFailure&) const = default;
};

struct Job {
  Job(JobId id, JobSpec spec, size_t max_chunks);
  JobId id;
  JobSpec spec;
  JobState state = JobState::kRunning;
  Ledger ledger;
  std::vector<Num> result;  // kDone: the reduced values
  std::string error;        // kFailed, kCancelled: why
  // kFailed by a slice's deterministic error: what that slice of a WASI export wrote (its
  // stderr often says why). The output of the slices that succeeded is in the ledger.
  std::shared_ptr<const OutputPiece> failed_output;
  std::optional<JobFailure> failure;           // kFailed by a slice's error
  uint64_t submitted_ms = 0, finished_ms = 0;  // the coordinator's clock
  bool resumed = false;                        // restored from the journal after a restart
  // Restored from the journal already finished: its workers, failures and output are not
  // here but in the journal's record of it (the driver reads that).
  bool restored_finished = false;
  JobStats stats;
  std::map<NodeId, WorkerShare> shares;
  std::map<NodeId, double> rate;  // measured items per second per slot (EWMA)
  std::map<NodeId, uint32_t> worker_failures;
  // A module reducer's ledger is done and its chunks' partials are being folded by the driver
  // (CoordinatorOutput::folds): the job ends when OnFolded says how that went.
  bool folding = false;
  SpanLog timeline;  // its attempts that ended, for the dashboard (Coordinator::Timeline)
};

// A snapshot of one job's attempts for the dashboard: those that ended, oldest first, then
// the running ones (SpanOutcome::kRunning, ended_ms = elapsed_ms).
struct JobTimeline {
  JobId job = 0;
  JobState state = JobState::kRunning;
  uint64_t elapsed_ms = 0;  // since submission: until now, or until it ended
  uint64_t dropped = 0;     // oldest spans no longer kept (CoordinatorConfig::max_timeline_spans)
  bool restored = false;    // resumed or restored after a restart: earlier attempts not known
  std::vector<ChunkSpan> spans;
};

// The journal: what must survive a restart. The driver (src/node/journal.cc) stores each op (an
// upsert keyed by job, or by job and chunk index); applying any prefix of the ops in order gives a
// state that Restore accepts.
struct JournalJob {
  JobId id = 0;
  JobSpec spec;
  JobState state = JobState::kRunning;
  std::vector<Num> result;
  std::string error;
  uint64_t reassigned = 0, recomputed = 0, stale_reports = 0;
  uint64_t elapsed_ms = 0;  // of a finished job
  uint32_t resumes = 0;     // restarts it was resumed after, this one included (the driver's
                            // journal counts them; CoordinatorConfig::max_resumes bounds them)
  // A finished job's record beyond these fields, opaque to the core: the driver encodes them
  // (node/job_record.h) when the job ends; the journal stores them beside the job, and its
  // Load leaves them empty (they are read one job at a time: Journal::Find, History).
  std::string summary;  // versioned: wire JobOutcome
  std::string output;   // wire JobOutputRecord
};
struct JournalChunk {
  JobId job = 0;
  uint32_t index = 0;
  int64_t begin = 0, end = 0, done_upto = 0;
  Partial done;
  bool complete = false;
};
using JournalOp = std::variant<JournalJob, JournalChunk>;

struct JobEvent {
  JobId job = 0;
  JobState state = JobState::kRunning;  // a job ended in this state
};

// A module reducer's job whose ledger is done: the driver folds `pieces` (each chunk's
// partial, in range order, at least two) through the export and answers with OnFolded.
struct FoldRequest {
  JobId job = 0;
  std::vector<Partial> pieces;
};

// What the coordinator did since it was made, over all of its jobs (a node's metrics).
struct CoordinatorTotals {
  std::array<uint64_t, 4> ended{};  // jobs, by the JobState they ended in (kRunning: 0)
  uint64_t items_done = 0;          // items committed by workers' reports
  uint64_t chunks_done = 0;         // chunks completed
  uint64_t reassigned = 0, reassigned_items = 0, recomputed = 0;  // as JobStats, summed
};

struct CoordinatorOutput {
  std::vector<std::pair<NodeId, ToWorker>> messages;
  std::vector<JournalOp> journal;
  std::vector<JobEvent> events;
  std::vector<FoldRequest> folds;
};

class Coordinator {
 public:
  // epoch: a number larger than any earlier run of this coordinator used (the driver keeps a
  // counter in the journal); attempt ids start at epoch << 40.
  Coordinator(NodeId self, CoordinatorConfig config, uint32_t epoch, JobId first_job_id = 1);
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // A job from the journal, with its chunks in index order. A running job resumes from its
  // chunks' committed points; chunks that do not fit (a torn journal) are cut again. One
  // resumed more than max_resumes times is failed (the output journals that and says so).
  CoordinatorOutput Restore(const JournalJob& job, const std::vector<JournalChunk>& chunks,
                            uint64_t now_ms);

  // A new job (already validated by the driver, Node::Submit). Fails when too many jobs are running
  // or the fixed chunk size would need too many chunks.
  CoordinatorOutput Submit(const JobSpec& spec, uint64_t now_ms, JobId* id, std::string* error);
  CoordinatorOutput Cancel(JobId id, uint64_t now_ms, const std::string& why);

  // Workers: a live member with `slots` slots and a working link (again: slots changed).
  CoordinatorOutput OnWorkerUp(NodeId id, uint32_t slots, uint64_t now_ms);
  // Declared dead, left, or its link reset: what it held goes to other workers.
  CoordinatorOutput OnWorkerDown(NodeId id, uint64_t now_ms);
  // Anything at all arrived from the worker (a link heartbeat): it was alive then.
  void OnHeard(NodeId id, uint64_t now_ms);
  CoordinatorOutput OnReport(NodeId from, const Report& report, uint64_t now_ms);
  // The driver folded a job's pieces (FoldRequest): `values` is the answer, unless `error` is
  // set (the export trapped, the module was missing...), which fails the job. Ignored unless
  // the job is still running and folding (it may have been cancelled meanwhile).
  CoordinatorOutput OnFolded(JobId job, const std::vector<Num>& values, const std::string& error,
                             uint64_t now_ms);
  CoordinatorOutput Tick(uint64_t now_ms);
  uint64_t NextDeadlineMs() const;

  const Job* job(JobId id) const;
  // The job's attempts over time (nullopt: not held in memory).
  std::optional<JobTimeline> Timeline(JobId id, uint64_t now_ms) const;
  const std::map<JobId, Job>& jobs() const { return jobs_; }
  size_t running_jobs() const;
  const CoordinatorTotals& totals() const { return totals_; }
  bool HasWorkers(const JobSpec& spec) const;  // some live worker may take this job
  JobId next_job_id() const { return next_job_; }
  // An id for a job coordinated elsewhere on this node (a map job): never given to another.
  JobId ReserveJobId() { return next_job_++; }
  // Ids up to `id` are taken elsewhere (a map journal's): none is given again.
  void SkipJobIdsThrough(JobId id) { next_job_ = std::max(next_job_, id + 1); }

  void CheckInvariants() const;

 private:
  struct WorkerInfo {
    uint32_t slots = 0;
    uint32_t inflight = 0;  // active attempts over all jobs
    uint64_t last_heard_ms = 0;
  };
  struct Active {
    JobId job;
    NodeId worker;
  };

  // A worker may run the job: it has slots, is not this node if the job excludes it, and has
  // failed the job fewer than worker_failures times, unless `despite_failures`.
  bool Eligible(const Job& job, NodeId id, const WorkerInfo& w,
                bool despite_failures = false) const;
  uint32_t Capacity(const Job& job, const WorkerInfo& w) const;
  // Per worker, its active attempts whose last slice is running (one pass over them all).
  std::map<NodeId, uint32_t> Finishing() const;
  double RateOf(const Job& job, NodeId id) const;
  int64_t ChunkSize(const Job& job, NodeId worker) const;
  void Schedule(uint64_t now_ms, CoordinatorOutput* out);
  bool AssignOne(Job& job, uint64_t now_ms, CoordinatorOutput* out);
  void StartBackups(Job& job, uint64_t now_ms, CoordinatorOutput* out);
  void OpenAttempt(Job& job, size_t chunk, NodeId worker, bool backup, uint64_t now_ms,
                   CoordinatorOutput* out);
  // `outcome`: how it ended, for the job's timeline.
  void Ended(Job& job, const Attempt& a, SpanOutcome outcome, uint64_t now_ms,
             CoordinatorOutput* out);
  void LoseAttempt(Job& job, AttemptId id, FailureRecord* record, uint64_t now_ms,
                   CoordinatorOutput* out);
  void HandleError(Job& job, NodeId from, const Report& r, uint64_t now_ms, CoordinatorOutput* out);
  void TellStale(NodeId to, JobId job, AttemptId attempt, uint64_t now_ms, CoordinatorOutput* out);
  // `result`: kDone's values (nullptr: the ledger's reduction, for a built-in reducer).
  void Finish(Job& job, JobState state, const std::string& error, uint64_t now_ms,
              CoordinatorOutput* out, const std::vector<Num>* result = nullptr);
  // The job's ledger is done: it ends, or with a module reducer its fold is asked for.
  void LedgerDone(Job& job, uint64_t now_ms, CoordinatorOutput* out);
  void JournalChunkOf(const Job& job, size_t index, CoordinatorOutput* out) const;
  void JournalJobOf(const Job& job, CoordinatorOutput* out) const;
  void Prune();

  const NodeId self_;
  const CoordinatorConfig config_;
  AttemptId next_attempt_;
  JobId next_job_;
  std::map<JobId, Job> jobs_;
  std::map<NodeId, WorkerInfo> workers_;
  std::map<AttemptId, Active> active_;            // ordered: iteration must be deterministic
  std::unordered_map<AttemptId, uint64_t> told_;  // stale attempts: when last told to stop
  CoordinatorTotals totals_;
};

}  // namespace velum::core

#endif  // VELUM_CORE_COORDINATOR_H_
