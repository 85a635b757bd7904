// The event feed's look: peers, jobs and map jobs compared with the previous look. Progress
// events come at most once per look per job, so a busy job costs a listener two a second.
#include "http/event_feed.h"

#include <spdlog/spdlog.h>

#include "core/assert.h"

namespace velum::http {

using nlohmann::json;

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kMember:
      return "member";
    case EventType::kJob:
      return "job";
    case EventType::kJobEnd:
      return "job_end";
    case EventType::kFailure:
      return "failure";
  }
  return "unknown";
}

EventFeed::EventFeed(Node& node) : node_(node), thread_([this] { Loop(); }) {}

EventFeed::~EventFeed() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void EventFeed::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  wake_.notify_all();
}

void EventFeed::Subscribe() {
  std::lock_guard<std::mutex> look(look_mu_);
  bool first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = !baseline_;
    listeners_++;
  }
  if (first) {
    try {
      Look(false);
    } catch (const std::exception& e) {
      spdlog::warn("http events: {}", e.what());
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  baseline_ = true;
  wake_.notify_all();
}

void EventFeed::Unsubscribe() {
  std::lock_guard<std::mutex> lock(mu_);
  VELUM_ASSERT(listeners_ > 0);
  listeners_--;
}

uint64_t EventFeed::Last() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ - 1;
}

std::vector<Event> EventFeed::Next(uint64_t after, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, wait, [&] { return stop_ || next_seq_ - 1 > after; });
  std::vector<Event> out;
  if (stop_) return out;
  for (const Event& e : events_)
    if (e.seq > after) out.push_back(e);
  return out;
}

void EventFeed::Emit(EventType type, json data) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back({next_seq_++, type, data.dump(-1, ' ', false, json::error_handler_t::replace)});
  if (events_.size() > kMaxEvents) events_.pop_front();
  VELUM_ASSERT(events_.size() <= kMaxEvents);
  wake_.notify_all();
}

void EventFeed::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (listeners_ == 0 || !baseline_) {
      if (listeners_ == 0) baseline_ = false;  // what the last look saw grows stale
      wake_.wait(lock, [&] { return stop_ || (listeners_ > 0 && baseline_); });
      continue;
    }
    lock.unlock();
    {
      std::lock_guard<std::mutex> look(look_mu_);
      try {
        Look(true);
      } catch (const std::exception& e) {  // a summary that cannot be rendered: say so, go on
        spdlog::warn("http events: {}", e.what());
      }
    }
    lock.lock();
    wake_.wait_for(lock, kPollInterval, [&] { return stop_; });
  }
}

void EventFeed::Look(bool emit) {
  // Members: new ones and changes of state.
  std::map<uint32_t, std::pair<std::string, std::string>> members;
  for (const PeerInfo& p : node_.Peers()) {
    std::string state = core::StateName(p.state);
    auto seen = members_.find(p.id);
    if (emit && (seen == members_.end() || seen->second.first != state))
      Emit(EventType::kMember,
           {{"id", p.id},
            {"addr", p.addr},
            {"state", state},
            {"previous", seen == members_.end() ? json(nullptr) : json(seen->second.first)}});
    members[p.id] = {state, p.addr};
  }
  members_ = std::move(members);

  for (auto& [id, seen] : jobs_) seen.seen_this_look = false;
  for (const JobSummary& j : node_.Jobs()) {
    std::vector<json> failures;
    for (const FailureRow& f : j.failures)
      failures.push_back({{"job", j.id},
                          {"kind", "scatter"},
                          {"node", f.worker},
                          {"detail", "worker lost"},
                          {"detection_ms", f.detection_ms},
                          {"reassigned_items", f.reassigned_items}});
    if (j.failure)
      failures.push_back({{"job", j.id},
                          {"kind", "scatter"},
                          {"node", j.failure->node},
                          {"start", j.failure->lo},
                          {"end", j.failure->hi},
                          {"detail", j.failure->message}});
    LookAtJob(emit, j.id, "scatter", core::JobStateName(j.state), j.items_done, j.items_total,
              j.error, failures);
  }
  for (const MapSummary& m : node_.Maps()) {
    std::vector<json> failures;
    for (const MapFailure& f : m.failed)
      failures.push_back({{"job", m.job},
                          {"kind", "map"},
                          {"node", f.node},
                          {"item", f.item},
                          {"input", f.input},
                          {"exit_code", f.exit_code},
                          {"detail", f.error},
                          {"stderr", f.stderr_tail}});
    LookAtJob(emit, m.job, "map", core::JobStateName(m.state), m.ok + m.failed.size(), m.items,
              m.error, failures);
  }
  // Jobs no longer listed (dropped from the history) are forgotten.
  for (auto it = jobs_.begin(); it != jobs_.end();)
    it = it->second.seen_this_look ? std::next(it) : jobs_.erase(it);
}

void EventFeed::LookAtJob(bool emit, uint64_t id, const char* kind, const std::string& state,
                          uint64_t done, uint64_t total, const std::string& error,
                          const std::vector<json>& failures) {
  auto [it, fresh] = jobs_.try_emplace(id);
  JobSeen& seen = it->second;
  seen.seen_this_look = true;
  const bool running = state == core::JobStateName(core::JobState::kRunning);
  if (emit && running && (fresh || seen.done != done || seen.state != state))
    Emit(EventType::kJob,
         {{"job", id}, {"kind", kind}, {"state", state}, {"done", done}, {"total", total}});
  if (emit && failures.size() > seen.failures) {
    size_t from = seen.failures, to = failures.size();
    if (to - from > kMaxFailuresPerLook) {
      Emit(EventType::kFailure, {{"job", id},
                                 {"kind", kind},
                                 {"detail", std::to_string(to - from - kMaxFailuresPerLook) +
                                                " failures not shown (GET /api/jobs/" +
                                                std::to_string(id) + " lists them)"}});
      from = to - kMaxFailuresPerLook;
    }
    for (size_t i = from; i < to; i++) Emit(EventType::kFailure, failures[i]);
  }
  if (emit && !running && (fresh || seen.state != state)) {
    json end = {{"job", id}, {"kind", kind}, {"state", state}, {"done", done}, {"total", total}};
    if (!error.empty()) end["error"] = error;
    Emit(EventType::kJobEnd, end);
  }
  seen.state = state;
  seen.done = done;
  seen.failures = failures.size();
}

}  // namespace velum::http
