// The map plan: runs of consecutive items per worker, stolen from the longest run at the end,
// failed items retried on another node, a lost worker's items handed back.
#include "core/map_plan.h"

#include <algorithm>

#include "core/assert.h"

namespace velum::core {

MapPlan::MapPlan(uint64_t items, uint32_t retries) : items_(items), retries_(retries) {
  VELUM_ASSERT(items <= kMaxItems);
}

bool MapPlan::Restore(uint64_t item, bool ok) {
  VELUM_ASSERT(running_ == 0 && next_uncut_ == 0);
  if (item >= items_.size() || items_[item].state != ItemState::kWaiting) return false;
  items_[item].state = ok ? ItemState::kOk : ItemState::kFailed;
  (ok ? ok_ : failed_)++;
  AdvanceFrontier();
  return true;
}

void MapPlan::SetWorkers(const std::set<NodeId>& workers) {
  live_ = workers;
  for (NodeId w : workers) workers_[w];
}

void MapPlan::LoseWorker(NodeId worker) {
  live_.erase(worker);
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  for (uint64_t item : it->second.queued)
    if (items_[item].state == ItemState::kWaiting) again_.insert(item);
  it->second.queued.clear();
  for (uint64_t i = 0; i < items_.size() && running_ > 0; i++) {
    Item& item = items_[i];
    if (item.state == ItemState::kRunning && item.worker == worker) {
      item.state = ItemState::kWaiting;
      item.worker = kNoNode;
      running_--;
      reruns_++;
      Requeue(i);
    }
  }
}

void MapPlan::PauseWorker(NodeId worker) {
  live_.erase(worker);
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  for (uint64_t item : it->second.queued)
    if (items_[item].state == ItemState::kWaiting) again_.insert(item);
  it->second.queued.clear();
}

uint64_t MapPlan::RunLength(const WorkerRun& w) const {
  const uint64_t remaining = items_.size() - next_uncut_;
  const uint64_t workers = std::max<uint64_t>(1, live_.size());
  // Half of an even share of what is left: later runs shrink, so the last ones are short.
  uint64_t length = std::max<uint64_t>(1, remaining / (2 * workers));
  // A worker not measured yet gets a few items: its first report sizes the next run.
  uint64_t by_speed =
      w.us_per_item > 0 ? static_cast<uint64_t>(kRunTargetUs / std::max(1.0, w.us_per_item)) : 4;
  length = std::min({length, std::max<uint64_t>(1, by_speed), kMaxRunItems});
  VELUM_ASSERT(length >= 1);
  return length;
}

bool MapPlan::MayRetryOn(const Item& item, NodeId worker) const {
  if (!item.failed_on.count(worker)) return true;
  // Every live worker failed it already: any may try again.
  return std::all_of(live_.begin(), live_.end(),
                     [&](NodeId w) { return item.failed_on.count(w) > 0; });
}

void MapPlan::Requeue(uint64_t item) {
  VELUM_ASSERT(items_[item].state == ItemState::kWaiting);
  again_.insert(item);
}

std::optional<uint64_t> MapPlan::Next(NodeId worker, uint64_t below) {
  if (!live_.count(worker)) return std::nullopt;
  WorkerRun& w = workers_[worker];
  std::optional<uint64_t> pick;
  for (uint64_t item : again_) {
    if (item >= below) break;  // again_ is ordered
    if (MayRetryOn(items_[item], worker)) {
      pick = item;
      break;
    }
  }
  if (pick) {
    again_.erase(*pick);
  } else {
    while (!w.queued.empty() && items_[w.queued.front()].state != ItemState::kWaiting)
      w.queued.pop_front();
    if (w.queued.empty()) {
      // A new run, cut from what no run has had yet; finished items (restored) are skipped.
      for (uint64_t n = RunLength(w);
           n > 0 && next_uncut_ < std::min<uint64_t>(items_.size(), below); next_uncut_++) {
        if (items_[next_uncut_].state != ItemState::kWaiting) continue;
        w.queued.push_back(next_uncut_);
        n--;
      }
    }
    if (w.queued.empty()) {
      // Nothing left to cut: take the last item of the longest run another worker holds.
      WorkerRun* longest = nullptr;
      for (auto& [id, other] : workers_)
        if (id != worker && (!longest || other.queued.size() > longest->queued.size()))
          longest = &other;
      while (longest && !longest->queued.empty() && !pick) {
        uint64_t item = longest->queued.back();
        if (item >= below) break;
        longest->queued.pop_back();
        if (items_[item].state == ItemState::kWaiting) pick = item;
      }
    } else if (w.queued.front() < below) {
      pick = w.queued.front();
      w.queued.pop_front();
    }
  }
  if (!pick) return std::nullopt;
  Item& item = items_[*pick];
  VELUM_ASSERT(item.state == ItemState::kWaiting);
  item.state = ItemState::kRunning;
  item.worker = worker;
  running_++;
  return pick;
}

ItemState MapPlan::Finish(uint64_t index, NodeId worker, ItemOutcome outcome, uint64_t elapsed_us) {
  VELUM_ASSERT(index < items_.size());
  Item& item = items_[index];
  if (item.state != ItemState::kRunning || item.worker != worker) return item.state;
  if (outcome != ItemOutcome::kLost) {
    WorkerRun& w = workers_[worker];
    double us = static_cast<double>(elapsed_us);
    w.us_per_item = w.us_per_item == 0 ? us : 0.7 * w.us_per_item + 0.3 * us;
  }
  running_--;
  item.worker = kNoNode;
  // A node's trouble, again and again for this item: it counts as the item's own failure.
  if (outcome == ItemOutcome::kLost && ++item.losses > kMaxLosses) {
    item.losses = 0;
    outcome = ItemOutcome::kFailed;
  }
  if (outcome == ItemOutcome::kOk) {
    item.state = ItemState::kOk;
    ok_++;
  } else if (outcome == ItemOutcome::kFailed && ++item.failures > retries_) {
    item.failed_on.insert(worker);
    item.state = ItemState::kFailed;
    failed_++;
  } else {
    if (outcome == ItemOutcome::kFailed) item.failed_on.insert(worker);
    item.state = ItemState::kWaiting;
    reruns_++;
    Requeue(index);
  }
  AdvanceFrontier();
  return item.state;
}

void MapPlan::AdvanceFrontier() {
  while (frontier_ < items_.size() && (items_[frontier_].state == ItemState::kOk ||
                                       items_[frontier_].state == ItemState::kFailed))
    frontier_++;
}

void MapPlan::CheckInvariants() const {
  uint64_t ok = 0, failed = 0, running = 0;
  for (uint64_t i = 0; i < items_.size(); i++) {
    const Item& item = items_[i];
    VELUM_ASSERT(item.failures <= retries_ + 1);
    ok += item.state == ItemState::kOk;
    failed += item.state == ItemState::kFailed;
    running += item.state == ItemState::kRunning;
    VELUM_ASSERT((item.state == ItemState::kRunning) == (item.worker != kNoNode));
    if (i < frontier_)
      VELUM_ASSERT(item.state == ItemState::kOk || item.state == ItemState::kFailed);
    // A waiting item is somewhere it will be found: handed back, in a run, or not cut yet.
    if (item.state == ItemState::kWaiting && i < next_uncut_ && !again_.count(i)) {
      bool queued = false;
      for (const auto& [id, w] : workers_)
        queued = queued || std::find(w.queued.begin(), w.queued.end(), i) != w.queued.end();
      VELUM_ASSERT(queued);
    }
  }
  VELUM_ASSERT(ok == ok_ && failed == failed_ && running == running_);
  for (uint64_t i : again_) VELUM_ASSERT(items_[i].state == ItemState::kWaiting);
}

}  // namespace velum::core
