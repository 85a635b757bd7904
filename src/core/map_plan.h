// A map job's items as a sans-I/O plan: which item each worker runs next (runs of consecutive
// items sized by its measured speed), retries on other nodes, lost workers' items handed back.
#ifndef VELUM_CORE_MAP_PLAN_H_
#define VELUM_CORE_MAP_PLAN_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "core/types.h"

namespace velum::core {

enum class ItemState : uint8_t { kWaiting, kRunning, kOk, kFailed };

// How one run of an item ended, as its runner saw it.
enum class ItemOutcome : uint8_t {
  kOk,      // exit code 0 and its output kept
  kFailed,  // the item's own failure (non-zero exit, trap, limit): counts against its retries
  kLost,    // the node's (lost, unreachable, busy): run again, not counted
};

class MapPlan {
 public:
  // The most items a job may have (its tables are in memory on the coordinator).
  static constexpr uint64_t kMaxItems = 1000000;
  // A run handed to a worker is never longer than this many items, nor longer than this much
  // of its measured work: so that the last runs are short and every worker finishes together.
  static constexpr uint64_t kMaxRunItems = 256;
  static constexpr uint64_t kRunTargetUs = 200000;
  // Runs of one item that a node's trouble ended (kLost) before the item counts as failed
  // there: an item no node can take (one every worker fails to fetch) must not go round
  // forever.
  static constexpr uint32_t kMaxLosses = 8;

  // items <= kMaxItems; an item that fails is run again up to `retries` times, on a node
  // that has not failed it when one is live.
  MapPlan(uint64_t items, uint32_t retries);

  // A finished item from the journal, before anything runs. False if out of range or twice.
  bool Restore(uint64_t item, bool ok);

  // The live workers (their items are handed back by LoseWorker, not here).
  void SetWorkers(const std::set<NodeId>& workers);
  // Its items, running or waiting in its run, go back to be run by others.
  void LoseWorker(NodeId worker);
  // It takes nothing new for now (SetWorkers brings it back): the items of its run go back;
  // those it is running stay its own, to end as they will.
  void PauseWorker(NodeId worker);

  // The next item below `below` for `worker` to run, now marked running; nullopt when none is
  // for it. (`below` above the frontier: the item at the frontier can always be taken.)
  std::optional<uint64_t> Next(NodeId worker, uint64_t below = UINT64_MAX);
  // The end of a run of `item` by `worker` (it must be running there); elapsed_us feeds the
  // worker's measured speed. The item's state afterwards: kOk, kFailed (for good), or
  // kWaiting (to be run again).
  ItemState Finish(uint64_t item, NodeId worker, ItemOutcome outcome, uint64_t elapsed_us);

  ItemState state(uint64_t item) const { return items_[item].state; }
  NodeId worker(uint64_t item) const { return items_[item].worker; }  // running there
  bool live(NodeId worker) const { return live_.count(worker) > 0; }
  uint32_t failures(uint64_t item) const { return items_[item].failures; }
  uint64_t items() const { return items_.size(); }
  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }
  bool Done() const { return ok_ + failed_ == items_.size(); }
  // Items below this are all finished (their outputs can be released in order).
  uint64_t frontier() const { return frontier_; }
  uint64_t reruns() const { return reruns_; }  // items handed back after a loss or a failure

  void CheckInvariants() const;

 private:
  struct Item {
    ItemState state = ItemState::kWaiting;
    uint32_t failures = 0;
    uint32_t losses = 0;
    NodeId worker = kNoNode;  // running there
    std::set<NodeId> failed_on;
  };
  struct WorkerRun {
    std::deque<uint64_t> queued;  // its run's items not started, in order
    double us_per_item = 0;       // measured (EWMA); 0: not measured yet
  };
  uint64_t RunLength(const WorkerRun& w) const;
  bool MayRetryOn(const Item& item, NodeId worker) const;
  void Requeue(uint64_t item);
  void AdvanceFrontier();

  std::vector<Item> items_;
  const uint32_t retries_;
  uint64_t next_uncut_ = 0;   // items from here on were never handed to a run
  std::set<uint64_t> again_;  // waiting items handed back (retries, losses), lowest first
  std::map<NodeId, WorkerRun> workers_;
  std::set<NodeId> live_;
  uint64_t ok_ = 0, failed_ = 0, running_ = 0, frontier_ = 0, reruns_ = 0;
};

}  // namespace velum::core

#endif  // VELUM_CORE_MAP_PLAN_H_
