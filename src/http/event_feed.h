// The HTTP API's event stream: membership changes, job progress, job ends and failures, found
// by comparing the node's summaries (the ones the shell prints) from one look to the next.
#ifndef VELUM_HTTP_EVENT_FEED_H_
#define VELUM_HTTP_EVENT_FEED_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "node/node.h"

namespace velum::http {

enum class EventType : uint8_t { kMember, kJob, kJobEnd, kFailure };
const char* EventTypeName(EventType type);  // "member", "job", "job_end", "failure"

struct Event {
  uint64_t seq = 0;  // 1, 2, ...: the stream's `id:`, so a client resumes with Last-Event-ID
  EventType type = EventType::kMember;
  std::string data;  // one JSON object
};

// Looks at the node only while someone listens (a thread of its own, every kPollInterval);
// keeps the last kMaxEvents events for listeners that fall behind or reconnect.
class EventFeed {
 public:
  static constexpr std::chrono::milliseconds kPollInterval{500};
  static constexpr size_t kMaxEvents = 1024;
  static constexpr size_t kMaxFailuresPerLook = 64;  // a job with more says how many it left out

  explicit EventFeed(Node& node);
  ~EventFeed();  // stops the thread; waiting listeners return at once

  // A listener comes and goes (the feed looks at the node only while there are some). The
  // first listener after a quiet spell waits for the feed's first look: every change after
  // Subscribe returns is an event.
  void Subscribe();
  void Unsubscribe();
  // Events after `after`, waiting up to `wait` for one; empty on timeout or once stopping.
  std::vector<Event> Next(uint64_t after, std::chrono::milliseconds wait);
  // The newest event's seq (0: none yet): where a new listener starts.
  uint64_t Last();
  void Stop();

 private:
  struct JobSeen {
    std::string state;
    uint64_t done = 0;
    uint64_t failures = 0;
    bool seen_this_look = false;
  };
  void Loop();
  void Look(bool emit);
  void Emit(EventType type, nlohmann::json data);
  void LookAtJob(bool emit, uint64_t id, const char* kind, const std::string& state, uint64_t done,
                 uint64_t total, const std::string& error,
                 const std::vector<nlohmann::json>& failures);

  Node& node_;
  std::mutex look_mu_;  // one look at a time (the feed's thread, or a first Subscribe)
  std::mutex mu_;
  std::condition_variable wake_;  // a new event, a new listener, or stop
  std::deque<Event> events_;
  uint64_t next_seq_ = 1;
  size_t listeners_ = 0;
  bool stop_ = false;
  bool baseline_ = false;  // a look has recorded what is there: later looks emit changes
  // Owned by the feed's thread: what the last look saw.
  std::map<uint32_t, std::pair<std::string, std::string>> members_;  // id -> (state, addr)
  std::map<uint64_t, JobSeen> jobs_;
  std::thread thread_;
};

}  // namespace velum::http

#endif  // VELUM_HTTP_EVENT_FEED_H_
