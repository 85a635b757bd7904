// The job driver: the coordinator and worker cores, the journal, module transfers, slices in
// the executor pool and the call service, woken by link frames, peer changes and deadlines.
#ifndef VELUM_NODE_JOB_DRIVER_H_
#define VELUM_NODE_JOB_DRIVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/assert.h"
#include "core/coordinator.h"
#include "core/peer_gate.h"
#include "core/worker.h"
#include "node/call_service.h"
#include "node/command_service.h"
#include "node/deadline_wake.h"
#include "node/executors.h"
#include "node/journal.h"
#include "node/mesh_driver.h"
#include "node/module_fetcher.h"
#include "node/node.h"
#include "runtime/module_store.h"
#include "wire/job_codec.h"

namespace velum {

class JobDriver final : public PeerListener {
 public:
  // What the driver needs of the node around it: the mesh (links, membership, load), the
  // loop and its clock. The node (node.cc) gives the real ones.
  struct Hooks {
    std::function<bool(core::NodeId, const wire::LinkMessage&)> send;  // on the peer's link
    std::function<void(std::function<void()>)> loop;                   // runs later on the loop
    std::function<void(std::function<void()>)> on_loop;  // runs on the loop and waits (off it)
    std::function<void(uint64_t at_ms)> wake_at;         // call OnWake(at_ms) on the loop then
    // The membership holds this peer dead or left: its frames wait (HoldFrame).
    std::function<bool(core::NodeId)> held_gone;
    // The best peer for a remote call, not one of `tried`; this node's id if none.
    std::function<core::NodeId(const std::vector<core::NodeId>& tried)> pick_target;
    std::function<void(uint32_t load)> publish_load;  // slots busy here changed
    std::function<uint64_t()> now_ms, now_us;         // the clock of every *_ms, *_us
  };

  // Job frames over a link from a peer this node still holds dead or left. A restarted node's
  // link, and the work it assigns at once, can beat its first gossip by some milliseconds:
  // dropping those frames cost the job a whole Coordinator silence_ms. They wait here, and
  // run once the peer is live again; its link going down or age drops them. Bounded.
  struct HeldFrames {
    static constexpr size_t kMaxPeers = 16;
    static constexpr size_t kMaxFrames = 64;      // per peer
    static constexpr size_t kMaxBytes = 4 << 20;  // per peer, as they came over the link
    static constexpr uint64_t kMaxAgeMs = 5000;   // longer than any join takes
    struct Frame {
      uint64_t arrived_ms;
      size_t wire_bytes;
      wire::LinkMessage message;
    };
    std::deque<Frame> frames;
    size_t bytes = 0;
  };

  // Where the driver's state lives and its blocking work runs: the node's are on disk and in
  // executor processes (OpenEnv); the simulator's are in memory and in virtual time.
  struct Env {
    std::unique_ptr<ModuleStore> store;
    std::unique_ptr<Journal> journal;
    std::unique_ptr<Executors> executors;
  };
  // The node's: the module store, the SQLite journal and the executor pool under options.home.
  static Result<Env> OpenEnv(const NodeOptions& options);

  // Restores the journaled jobs of env.journal. Off the loop, before it runs.
  static Result<std::unique_ptr<JobDriver>> Start(const NodeOptions& options, Hooks hooks, Env env);
  ~JobDriver() override;

  // Loop thread. Facts about peers from the mesh driver, for the peer gate; frames; the wake
  // asked by wake_at.
  void OnMember(core::NodeId peer, bool live, uint32_t slots) override;
  void OnLink(core::NodeId peer, bool up) override;
  void OnHeard(core::NodeId peer) override;
  void OnMessage(core::NodeId peer, wire::LinkMessage message, size_t wire_bytes) override;
  void OnWake(uint64_t at_ms);
  // The node leaves: work held for others is abandoned (they reassign it), this node's own
  // jobs stay in the journal and resume at its next start. `peers`: every member but self.
  void Stop(const std::vector<core::NodeId>& peers);
  // After the loop has ended: everything still in an executor is told to stop, then the
  // threads that wait for executors end.
  void Shutdown();

  // Any thread but the loop's.
  Result<ModulePtr> LoadModule(const std::filesystem::path& path);
  Result<CallReply> Call(const ModulePtr& module, const std::string& func,
                         const std::vector<Value>& args, const CallOptions& options,
                         const std::atomic<bool>* cancel);
  Result<CallOutcome> RunLocal(CallSpec spec);
  Result<CommandReply> RunCommand(const ModulePtr& module, const CommandOptions& options,
                                  const std::atomic<bool>* cancel);
  Result<uint64_t> Submit(const ScatterRequest& request);
  std::optional<JobSummary> Job(uint64_t id);
  std::vector<JobSummary> Jobs();
  std::optional<core::JobTimeline> Timeline(uint64_t id);
  Result<std::vector<JobSummary>> JobHistory();
  std::optional<JobSummary> WaitJob(uint64_t id, std::chrono::milliseconds wait);
  Status CancelJob(uint64_t id);
  // A job id for a map job (MapService): from the same sequence as this node's scatter jobs,
  // journaled before it is returned.
  Result<uint64_t> ReserveJobId();
  // Ids up to `id` are a map journal's: never given again (journaled).
  Status ReserveJobIdsThrough(uint64_t id);

  // Loop thread: a call sent to peer `target` without waiting (CallService::Start), the
  // module kept for the peer to fetch; 0 when it could not be sent or kept.
  uint64_t StartCall(core::NodeId target, const ModulePtr& module, const std::string& func,
                     const std::vector<Value>& args, const CallOptions& options,
                     CallService::Done done);
  size_t calls_pending() const { return calls_->pending(); }
  uint32_t calls_busy() const { return calls_->busy(); }

  // Loop thread: the figures `status` shows.
  JobCounters counters() const;
  uint64_t frames_held() const { return held_frames_total_; }
  uint64_t frames_held_dropped() const { return held_frames_dropped_; }
  uint32_t load() const { return published_load_; }
  // Loop thread: the cores, read by the simulator's invariant checks.
  const core::Coordinator& coordinator() const { return *coordinator_; }
  const core::Worker& worker() const { return *worker_; }
  const core::PeerGate& peer_gate() const { return *peer_gate_; }
  // Any thread: the executors (their call figures and pool), alive as long as the driver.
  const Executors& executors() const { return *executors_; }
  size_t frames_held_now() const;  // held in held_frames_ this moment, every peer

 private:
  JobDriver(const NodeOptions& options, Hooks hooks, Env env);
  Status Open();
  // Runs `fn` on the loop thread (hooks_.on_loop) and returns its result.
  template <typename F>
  auto OnLoop(F fn) -> decltype(fn()) {
    std::optional<decltype(fn())> result;
    hooks_.on_loop([&] { result.emplace(fn()); });
    VELUM_ASSERT(result.has_value());
    return std::move(*result);
  }

  void OnPeerChange(std::optional<core::PeerChange> change);
  // Ends the work a lost peer gave this node, its module transfers and the calls with it.
  void EndWorkWith(core::NodeId peer);
  void HoldFrame(core::NodeId peer, wire::LinkMessage message, size_t wire_bytes);
  void ReleaseHeldFrames(core::NodeId peer);
  void RunCoordinator(core::CoordinatorOutput out);
  void RunWorker(core::WorkerOutput out);
  void StartSlice(const core::SliceRun& run);
  // A module reducer's job whose ledger is done: its pieces are folded through the export
  // off the loop, and the coordinator told (OnFolded).
  struct FoldWork {
    core::JobId job = 0;
    core::JobSpec spec;
    std::vector<core::Partial> pieces;
    std::vector<core::NodeId> holders;  // workers of the job: they hold its module
    std::shared_ptr<std::atomic<bool>> cancel;
  };
  void StartFold(core::FoldRequest fold);
  // With the module from this node's store, else from holders[holder] and the next ones.
  void FoldWithModule(std::shared_ptr<FoldWork> work, size_t holder);
  void FinishSlice(uint64_t slice, const core::SliceResult& result);
  void ServeModule(core::NodeId peer, const ModuleHash& hash);
  void PublishLoad();
  // Asks for a wake at the earliest deadline of the coordinator, the worker, the fetcher and
  // the journal's next flush; called after anything that may have moved one. Only ever
  // brought forward: a wake before a deadline that moved later ticks for nothing and re-asks.
  void ScheduleWake();
  void FlushJournal();
  // The one place an executor call is specified, for a slice, a peer's call or this node's
  // own: the asked timeout and memory clamped to this node's (core::ClampToOwnLimit).
  CallSpec SpecFor(ModulePtr module, std::string func, std::vector<Value> args, uint32_t timeout_ms,
                   uint32_t memory_pages, const std::atomic<bool>* cancel) const;
  // with_output: the job's output too (up to 1 MiB to copy: not for every job of a list).
  JobSummary Summarize(const core::Job& job, bool with_output) const;
  // Ops of jobs that ended get their records (node/job_record.h): their summary and output
  // as this run knew them, for `result JOB` after a restart.
  void AttachRecords(std::vector<core::JournalOp>* ops) const;

  const NodeOptions options_;
  Hooks hooks_;
  bool stopped_ = false;
  std::unique_ptr<ModuleStore> store_;
  // Blocking work; what it finds is posted back to the loop.
  std::unique_ptr<Executors> executors_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<core::Coordinator> coordinator_;
  std::unique_ptr<core::Worker> worker_;
  std::unique_ptr<ModuleFetcher> fetcher_;
  std::unique_ptr<CallService> calls_;
  std::unique_ptr<CommandService> commands_;
  // The one place a peer is declared up (a worker for this node's jobs) or down (what was in
  // flight with it has ended).
  std::unique_ptr<core::PeerGate> peer_gate_;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> slice_cancels_;    // running slices
  std::map<core::JobId, std::shared_ptr<std::atomic<bool>>> fold_cancels_;  // running folds
  std::map<core::NodeId, HeldFrames> held_frames_;
  uint64_t held_frames_total_ = 0, held_frames_dropped_ = 0;
  DeadlineWake wake_;                          // the one timer asked of the loop
  uint64_t journal_flush_at_ms_ = UINT64_MAX;  // journaled progress is flushed by then
  uint64_t journal_retry_at_ms_ = 0;  // flushes are failing: the next try (0: they are not)
  uint32_t published_load_ = 0;
  uint64_t jobs_resumed_ = 0, slices_run_ = 0, modules_served_ = 0;
  // Job endings wake WaitJob (any thread).
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  uint64_t done_events_ = 0;
};

}  // namespace velum

#endif  // VELUM_NODE_JOB_DRIVER_H_
