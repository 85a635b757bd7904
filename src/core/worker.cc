// The worker's rules: the oldest attempts take the free slots, slices grow toward the time
// asked for, and every attempt is reported after each slice and at least once a heartbeat.
#include "core/worker.h"

#include <algorithm>

#include "core/assert.h"
#include "core/reducer.h"

namespace velum::core {

namespace {
constexpr size_t kMaxForgotten = 4096;
constexpr size_t kMaxRates = 256;
}  // namespace

Worker::Worker(NodeId self, WorkerConfig config) : self_(self), config_(config) {
  VELUM_ASSERT(self != kNoNode);
  VELUM_ASSERT(config_.slots > 0 && config_.max_tasks > 0 && config_.heartbeat_ms > 0);
  VELUM_ASSERT(config_.min_slice_ms > 0 && config_.min_slice_ms <= config_.max_slice_ms);
  VELUM_ASSERT(config_.slice_growth >= 2);
}

size_t Worker::IndexOf(const Key& key) const {
  VELUM_ASSERT(tasks_.size() <= config_.max_tasks);
  for (size_t i = 0; i < tasks_.size(); i++)
    if (tasks_[i].key == key) return i;
  return SIZE_MAX;
}

void Worker::Remember(const Key& key) {
  if (!forgotten_.insert(key).second) return;
  forgotten_order_.push_back(key);
  if (forgotten_order_.size() > kMaxForgotten) {
    forgotten_.erase(forgotten_order_.front());
    forgotten_order_.pop_front();
  }
  VELUM_ASSERT(forgotten_.size() == forgotten_order_.size());
  VELUM_ASSERT(forgotten_.size() <= kMaxForgotten);
}

Report Worker::ReportOf(const Task& t) const {
  VELUM_ASSERT(t.assign.start <= t.upto && t.upto <= t.assign.end);
  if (t.finished) return t.final;
  VELUM_ASSERT(t.slice == 0 || t.upto < t.slice_hi);
  Report r;
  r.job = t.assign.job;
  r.attempt = t.assign.attempt;
  r.upto = t.upto;
  r.running_to = t.slice ? t.slice_hi : t.upto;
  r.partial = t.partial;
  r.busy_us = t.busy_us;
  r.output = t.output;
  return r;
}

void Worker::Send(Task& t, uint64_t now_ms, WorkerOutput* out) {
  VELUM_ASSERT(std::get<0>(t.key) != kNoNode);
  out->reports.push_back({std::get<0>(t.key), ReportOf(t)});
  VELUM_ASSERT(out->reports.back().second.attempt == t.assign.attempt);
  // A slice's output travels once: heartbeats and repeats of the final report go without it
  // (reports on a link arrive in order; a lost link loses the attempt anyway).
  t.output.reset();
  t.final.output.reset();
  t.last_sent_ms = now_ms;
  t.reported = true;
}

WorkerOutput Worker::OnAssign(NodeId from, const Assign& a, uint64_t now_ms) {
  WorkerOutput out;
  Key key{from, a.job, a.attempt};
  if (forgotten_.count(key)) return out;  // cancelled before it arrived, or a duplicate
  if (size_t i = IndexOf(key); i != SIZE_MAX) {
    Send(tasks_[i], now_ms, &out);  // a duplicate: the coordinator hears where we are
    return out;
  }
  // Items of a (i32, i32) export are passed as i32: a range beyond them cannot run.
  bool narrow_overflow = !a.wide && (a.start < INT32_MIN || a.end > INT32_MAX);
  // A module reducer names its export; the built-in ones carry neither a name nor a base.
  bool module = a.reducer == ReducerKind::kModule;
  bool malformed = a.start >= a.end || a.func.empty() || narrow_overflow ||
                   (module ? a.reduce_func.empty() : !a.reduce_func.empty() || !a.base.empty());
  if (malformed || tasks_.size() >= config_.max_tasks) {
    Report r;
    r.job = a.job;
    r.attempt = a.attempt;
    r.upto = r.running_to = a.start;
    r.has_error = true;
    r.error.kind = kTaskErrorWorkerBusy;
    r.error.retryable = true;
    r.error.message = narrow_overflow
                          ? "malformed assignment: items [" + std::to_string(a.start) + ", " +
                                std::to_string(a.end) + ") do not fit an export's i32 parameters"
                      : malformed ? "malformed assignment"
                                  : "node " + std::to_string(self_) + " is busy (" +
                                        std::to_string(tasks_.size()) + " attempts held)";
    out.reports.push_back({from, r});
    Remember(key);
    return out;
  }
  Task t;
  t.key = key;
  t.assign = a;
  t.assign.timeout_ms = ClampToOwnLimit(a.timeout_ms, config_.max_timeout_ms);
  t.assign.max_memory_pages = ClampToOwnLimit(a.max_memory_pages, config_.max_memory_pages);
  t.upto = a.start;
  if (auto it = rates_.find({from, a.job}); it != rates_.end()) t.rate = it->second;
  t.arrived_ms = t.last_sent_ms = now_ms;
  VELUM_ASSERT(t.assign.timeout_ms <= config_.max_timeout_ms);
  tasks_.push_back(std::move(t));
  Pump(&out);
  VELUM_ASSERT(tasks_.size() <= config_.max_tasks);
  return out;
}

void Worker::StartSlice(Task& t, WorkerOutput* out) {
  VELUM_ASSERT(!t.finished && t.slice == 0 && t.upto < t.assign.end);
  uint32_t slice_ms = std::clamp(t.assign.slice_ms, config_.min_slice_ms, config_.max_slice_ms);
  // Every count in integers: up to 2^64 - 1 items are left of the whole int64 range, and
  // the measured rate only plans the slice, through CountFromPlan's clamp to what is left.
  uint64_t left = ItemsIn(t.upto, t.assign.end);
  uint64_t items = t.rate > 0 ? CountFromPlan(t.rate * slice_ms * 1000.0, left) : 1;
  if (t.last_items > 0) items = std::min(items, SaturatingMul(t.last_items, config_.slice_growth));
  VELUM_ASSERT(items >= 1 && items <= left);
  t.slice = next_slice_++;
  t.slice_hi = static_cast<int64_t>(static_cast<uint64_t>(t.upto) + items);
  slices_[t.slice] = t.key;
  SliceRun run;
  run.id = t.slice;
  run.coordinator = std::get<0>(t.key);
  run.job = t.assign.job;
  run.attempt = t.assign.attempt;
  run.module = t.assign.module;
  run.module_size = t.assign.module_size;
  run.func = t.assign.func;
  run.wide = t.assign.wide;
  run.reducer = t.assign.reducer;
  if (run.reducer == ReducerKind::kModule) {
    run.reduce_func = t.assign.reduce_func;
    run.acc = t.partial.empty() ? t.assign.base : t.partial;  // the partial of [chunk begin, lo)
  }
  run.lo = t.upto;
  run.hi = t.slice_hi;
  run.timeout_ms = t.assign.timeout_ms;
  run.max_memory_pages = t.assign.max_memory_pages;
  run.label = t.assign.label;
  out->start.push_back(std::move(run));
}

void Worker::Pump(WorkerOutput* out) {
  VELUM_ASSERT(slices_.size() <= config_.slots);
  for (Task& t : tasks_) {
    if (slices_.size() >= config_.slots) break;
    if (!t.finished && t.slice == 0) StartSlice(t, out);
  }
  VELUM_ASSERT(slices_.size() <= config_.slots);
}

void Worker::Drop(size_t index, WorkerOutput* out) {
  VELUM_ASSERT(index < tasks_.size());
  Task& t = tasks_[index];
  if (t.slice) {
    slices_.erase(t.slice);
    out->cancel.push_back(t.slice);
  }
  Remember(t.key);
  tasks_.erase(tasks_.begin() + static_cast<std::ptrdiff_t>(index));
  VELUM_ASSERT(slices_.size() <= tasks_.size());
}

WorkerOutput Worker::OnSliceDone(uint64_t slice, const SliceResult& r, uint64_t now_ms) {
  WorkerOutput out;
  auto it = slices_.find(slice);
  if (it == slices_.end()) return out;  // cancelled meanwhile: nobody wants it
  size_t index = IndexOf(it->second);
  slices_.erase(it);
  VELUM_ASSERT(index != SIZE_MAX);
  Task& t = tasks_[index];
  VELUM_ASSERT(t.slice == slice);
  t.slice = 0;
  t.busy_us += r.busy_us;
  // The driver tags output with the slice it ran; the report after this slice carries it.
  VELUM_ASSERT(!r.output || (r.output->lo == t.upto && r.output->hi == t.slice_hi));
  t.output = r.output;
  ReducerKind reducer = t.assign.reducer;
  Partial p = r.ok ? SlicePartial(reducer, r.values) : Partial{};
  bool consistent = true;
  if (r.ok && !p.empty() && !t.partial.empty()) {
    consistent = p.values.size() == t.partial.values.size();
    for (size_t i = 0; consistent && i < p.values.size(); i++)
      consistent = p.values[i].kind == t.partial.values[i].kind;
  }
  if (!r.ok || !consistent || r.values.empty() || r.values.size() > kMaxResultValues) {
    t.final = ReportOf(t);
    t.finished = true;
    t.finished_ms = now_ms;
    t.final.running_to = t.slice_hi;  // the slice that failed: where the error is
    t.final.has_error = true;
    if (r.ok) {
      t.final.error.message = "the export's results do not reduce (none, too many or changing)";
    } else {
      t.final.error = r.error;
    }
  } else {
    uint64_t items = ItemsIn(t.upto, t.slice_hi);  // may exceed INT64_MAX
    // A module reducer's slice came back folded onto the attempt's partial (SliceRun::acc).
    t.partial = reducer == ReducerKind::kModule ? p : Combine(reducer, t.partial, p);
    t.upto = t.slice_hi;
    t.last_items = items;
    double sample =
        static_cast<double>(items) / static_cast<double>(std::max<uint64_t>(r.busy_us, 1));
    t.rate = t.rate > 0 ? 0.5 * t.rate + 0.5 * sample : sample;
    if (rates_.size() >= kMaxRates) rates_.clear();
    rates_[{std::get<0>(t.key), t.assign.job}] = t.rate;
    if (t.upto == t.assign.end || (reducer == ReducerKind::kFirst && !t.partial.empty())) {
      t.final = ReportOf(t);
      t.finished = true;
      t.finished_ms = now_ms;
    }
  }
  Key key = t.key;
  Pump(&out);  // this task first: it is older than anything queued behind it
  Send(tasks_[IndexOf(key)], now_ms, &out);
  return out;
}

WorkerOutput Worker::OnCancel(NodeId from, const Cancel& c, uint64_t /*now_ms*/) {
  WorkerOutput out;
  bool any = false;
  for (size_t i = tasks_.size(); i-- > 0;) {
    const Key& k = tasks_[i].key;
    if (std::get<0>(k) == from && std::get<1>(k) == c.job &&
        (c.attempt == 0 || std::get<2>(k) == c.attempt)) {
      Drop(i, &out);
      any = true;
    }
  }
  // A cancel that overtook its assignment: the assignment must not start when it arrives.
  if (!any && c.attempt != 0) Remember({from, c.job, c.attempt});
  VELUM_ASSERT(c.attempt == 0 || IndexOf({from, c.job, c.attempt}) == SIZE_MAX);
  Pump(&out);
  VELUM_ASSERT(out.start.size() <= config_.slots);
  return out;
}

WorkerOutput Worker::OnCoordinatorDown(NodeId coordinator, uint64_t /*now_ms*/) {
  WorkerOutput out;
  for (size_t i = tasks_.size(); i-- > 0;)
    if (std::get<0>(tasks_[i].key) == coordinator) Drop(i, &out);
  for (auto it = rates_.begin(); it != rates_.end();)
    it = it->first.first == coordinator ? rates_.erase(it) : std::next(it);
  // A restarted coordinator may reuse ids (if its journal was lost): nothing of the old
  // process may silence the new one's assignments.
  // upper_bound of the largest key: coordinator + 1 would wrap for the id UINT32_MAX.
  forgotten_.erase(forgotten_.lower_bound({coordinator, 0, 0}),
                   forgotten_.upper_bound({coordinator, UINT64_MAX, UINT64_MAX}));
  std::deque<Key> kept;
  for (const Key& k : forgotten_order_)
    if (std::get<0>(k) != coordinator) kept.push_back(k);
  forgotten_order_.swap(kept);
  VELUM_ASSERT(forgotten_.size() == forgotten_order_.size());
  Pump(&out);
  for (const Task& t : tasks_) VELUM_ASSERT(std::get<0>(t.key) != coordinator);
  return out;
}

WorkerOutput Worker::Tick(uint64_t now_ms) {
  WorkerOutput out;
  for (size_t i = tasks_.size(); i-- > 0;) {
    Task& t = tasks_[i];
    if (t.finished && now_ms >= t.finished_ms + config_.final_keep_ms) {
      Drop(i, &out);  // never released: its coordinator is gone or has long moved on
    } else if (now_ms >= t.last_sent_ms + config_.heartbeat_ms ||
               (!t.reported && now_ms >= t.arrived_ms + config_.first_report_ms)) {
      Send(t, now_ms, &out);
    }
  }
  Pump(&out);
  // Everything due was done: the timer that woke this tick is re-armed for later.
  VELUM_ASSERT(NextDeadlineMs() > now_ms);
  return out;
}

uint64_t Worker::NextDeadlineMs() const {
  uint64_t next = UINT64_MAX;
  for (const Task& t : tasks_) {
    next = std::min(next, t.last_sent_ms + config_.heartbeat_ms);
    if (!t.reported) next = std::min(next, t.arrived_ms + config_.first_report_ms);
    if (t.finished) next = std::min(next, t.finished_ms + config_.final_keep_ms);
  }
  VELUM_ASSERT(tasks_.empty() == (next == UINT64_MAX));  // every task is heard of in time
  return next;
}

size_t Worker::TasksFrom(NodeId coordinator) const {
  return static_cast<size_t>(std::count_if(tasks_.begin(), tasks_.end(), [&](const Task& t) {
    return std::get<0>(t.key) == coordinator;
  }));
}

void Worker::CheckInvariants() const {
  VELUM_ASSERT(slices_.size() <= config_.slots);
  VELUM_ASSERT(tasks_.size() <= config_.max_tasks);
  VELUM_ASSERT(forgotten_.size() == forgotten_order_.size() && forgotten_.size() <= kMaxForgotten);
  size_t running = 0;
  for (size_t i = 0; i < tasks_.size(); i++) {
    const Task& t = tasks_[i];
    VELUM_ASSERT(!forgotten_.count(t.key));
    VELUM_ASSERT(t.assign.start <= t.upto && t.upto <= t.assign.end);
    VELUM_ASSERT(t.assign.timeout_ms <= config_.max_timeout_ms);
    VELUM_ASSERT(t.assign.max_memory_pages <= config_.max_memory_pages);
    if (t.slice) {
      VELUM_ASSERT(!t.finished);
      auto it = slices_.find(t.slice);
      VELUM_ASSERT(it != slices_.end() && it->second == t.key);
      VELUM_ASSERT(t.upto < t.slice_hi && t.slice_hi <= t.assign.end);
      running++;
    }
    VELUM_ASSERT(t.finished || t.upto < t.assign.end);
    for (size_t j = i + 1; j < tasks_.size(); j++) VELUM_ASSERT(tasks_[j].key != t.key);
  }
  VELUM_ASSERT(running == slices_.size());
}

}  // namespace velum::core
