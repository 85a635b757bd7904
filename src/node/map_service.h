// Map jobs: a WASI command run once per item over every live worker (runs of consecutive
// items per slot, planned by core::MapPlan), outputs in order or into a folder, journaled.
#ifndef VELUM_NODE_MAP_SERVICE_H_
#define VELUM_NODE_MAP_SERVICE_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "node/map_journal.h"
#include "node/node.h"
#include "node/node_metrics.h"

namespace velum {

class MapService {
 public:
  struct Hooks {
    // One item's run: JobDriver::RunCommand (here when options.local, else on options.target).
    std::function<Result<CommandReply>(const ModulePtr&, const CommandOptions&,
                                       const std::atomic<bool>*)>
        run;
    // The workers now: live peers with a working link and this node, by id, with their slots.
    std::function<std::map<uint32_t, uint32_t>()> workers;
    std::function<Result<uint64_t>()> reserve_id;  // from the node's one job-id sequence
    std::function<void(const std::string&)> log;
    uint32_t self = 0;
    std::filesystem::path spool;  // outputs held for their turn when memory is not enough
  };
  // Items one worker runs at once, whatever slots it offers.
  static constexpr uint32_t kMaxSlotsPerWorker = 8;
  // Outputs held in memory for their turn (stdout order); past this they wait in the spool,
  // and past that too, only the item whose turn it is may run (the others wait for it).
  static constexpr uint64_t kHeldBytes = 64ull << 20;
  static constexpr uint64_t kSpoolBytes = 1ull << 30;
  // Dispatch threads of one job at most, whatever its workers offer.
  static constexpr size_t kMaxThreadsPerJob = 64;
  static constexpr size_t kStderrTail = 512;  // of a failed item, kept in its record
  // Item records written to the journal at once, at most; else every kFlushMs.
  static constexpr size_t kFlushItems = 256;
  static constexpr uint64_t kFlushMs = 100;
  // A worker an item could not reach is left alone this long before it is used again.
  static constexpr uint64_t kWorkerPauseMs = 1000;
  static constexpr size_t kMaxRunningJobs = 16;

  MapService(std::unique_ptr<MapJournal> journal, Hooks hooks);
  ~MapService();
  MapService(const MapService&) = delete;
  MapService& operator=(const MapService&) = delete;

  // Resumes the journal's running jobs, each on a thread of its own (outputs to their folder).
  void ResumeAll();
  // A job run on the caller's thread to its end (or until `cancel`).
  Result<MapSummary> Map(const ModulePtr& module, MapRequest request,
                         const std::atomic<bool>* cancel);
  // Cancels a running job (false: none runs with this id): its items stop, it ends cancelled.
  bool Cancel(uint64_t id);
  // Running jobs (live figures) and finished ones (the journal's), newest first.
  std::vector<MapSummary> List();
  // The node stops: running jobs end where they are (kept as running in the journal).
  void Stop();
  // Jobs running now, and what ended since the node started (any thread).
  MapFigures Figures();

 private:
  struct Run;
  Result<MapSummary> RunJob(uint64_t id, const ModulePtr& module, MapRequest request,
                            const std::vector<MapItemRecord>& done, bool resumed,
                            const std::atomic<bool>* cancel);
  void Dispatch(Run* run, uint32_t worker, uint64_t serial);
  // Starts the dispatch threads a worker's slots ask for, and joins those that ended.
  void StaffWorkers(Run* run, const std::map<uint32_t, uint32_t>& offered);
  void RunItem(Run* run, uint32_t worker, uint64_t item);

  std::mutex mu_;  // journal_, running_, resumers_
  std::unique_ptr<MapJournal> journal_;
  Hooks hooks_;
  std::atomic<bool> stopping_{false};
  std::map<uint64_t, Run*> running_;
  // The journal's finished summaries as List() last read them; dropped when a job finishes, so
  // listing (the shell's `jobs`, the HTTP event feed twice a second) reads SQLite only then.
  std::optional<std::vector<MapSummary>> finished_;
  std::vector<std::thread> resumers_;
  // Counted where items and jobs end (RunItem, RunJob), on the jobs' threads.
  std::array<std::atomic<uint64_t>, 4> ended_{};  // by core::JobState
  std::atomic<uint64_t> items_ok_{0}, items_failed_{0}, reruns_{0};
};

// A problem with an output name under --out ("" if none): relative, no '.' or '..'.
std::string MapOutputNameProblem(const std::string& name);

}  // namespace velum

#endif  // VELUM_NODE_MAP_SERVICE_H_
