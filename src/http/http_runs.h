// Submissions through POST /api/jobs that run until they end (wasm calls and commands, map
// jobs): each on a thread of its own, bounded, with its final JSON kept for GET /api/jobs/ID.
#ifndef VELUM_HTTP_HTTP_RUNS_H_
#define VELUM_HTTP_HTTP_RUNS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "node/node.h"
#include "runtime/error.h"

namespace velum::http {

enum class RunKind : uint8_t { kWasm, kMap };
const char* RunKindName(RunKind kind);  // "wasm", "map"

class HttpRuns {
 public:
  static constexpr size_t kMaxRunning = 16;            // more: 503, try again later
  static constexpr size_t kMaxKept = 256;              // finished runs kept, oldest dropped first
  static constexpr uint64_t kMaxKeptBytes = 64 << 20;  // of their JSON (map outputs), in all

  explicit HttpRuns(Node& node);
  ~HttpRuns();  // cancels what runs and waits for it

  // Runs `words` (a `wasm` or `map` command line, already checked) on a thread of its own and
  // returns the job's id as soon as it has one: a wasm run's id is reserved from the node's
  // job sequence; a map job's is its own (an error if the command ended before it had one).
  // `cleanup` runs on that thread once the command has returned (temporary inputs).
  Result<uint64_t> Start(RunKind kind, std::vector<std::string> words,
                         std::function<void()> cleanup);
  // {"job", "kind", "state", ...}: the command's own JSON once it has ended; nullopt: not a
  // run of this server's (still running: only the first three).
  std::optional<nlohmann::json> Find(uint64_t id);
  // Asks a run to stop; false: no such run running.
  bool Cancel(uint64_t id);
  // Every wasm run kept, newest first (map jobs are listed by the node's `jobs`).
  nlohmann::json ListCalls();

 private:
  struct Run {
    uint64_t id = 0;  // 0 until a map job has one
    RunKind kind = RunKind::kWasm;
    std::atomic<bool> cancel{false};
    bool finished = false;
    nlohmann::json result;  // the command's JSON, once finished
    uint64_t result_bytes = 0;
    std::thread thread;
  };
  void Body(Run* run, std::vector<std::string> words, std::function<void()> cleanup);
  void ReapLocked();  // joins finished threads, drops the oldest runs beyond the bounds

  Node& node_;
  std::mutex mu_;
  std::condition_variable changed_;       // a map job got its id, or a run finished
  std::list<std::unique_ptr<Run>> runs_;  // oldest first
  bool stopping_ = false;
};

}  // namespace velum::http

#endif  // VELUM_HTTP_HTTP_RUNS_H_
