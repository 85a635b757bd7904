// HTTP runs: the shell's own `wasm` and `map` handlers (DispatchWords) on threads of their
// own, so their JSON is exactly what `node --json` prints for the same command.
#include "http/http_runs.h"

#include <spdlog/spdlog.h>

#include "core/assert.h"
#include "shell/command_table.h"

namespace velum::http {

using nlohmann::json;

const char* RunKindName(RunKind kind) { return kind == RunKind::kWasm ? "wasm" : "map"; }

HttpRuns::HttpRuns(Node& node) : node_(node) {}

HttpRuns::~HttpRuns() {
  std::list<std::unique_ptr<Run>> runs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& r : runs_) r->cancel = true;
    runs.swap(runs_);
  }
  for (auto& r : runs)
    if (r->thread.joinable()) r->thread.join();
}

void HttpRuns::ReapLocked() {
  uint64_t bytes = 0;
  size_t finished = 0;
  for (auto& r : runs_) {
    if (!r->finished) continue;
    finished++;
    bytes += r->result_bytes;
  }
  for (auto it = runs_.begin();
       it != runs_.end() && (finished > kMaxKept || bytes > kMaxKeptBytes);) {
    Run& r = **it;
    if (!r.finished) {
      ++it;
      continue;
    }
    if (r.thread.joinable()) r.thread.join();  // it has returned: only its last lines are left
    finished--;
    bytes -= r.result_bytes;
    it = runs_.erase(it);
  }
  VELUM_ASSERT(finished <= kMaxKept && bytes <= kMaxKeptBytes);
}

Result<uint64_t> HttpRuns::Start(RunKind kind, std::vector<std::string> words,
                                 std::function<void()> cleanup) {
  VELUM_ASSERT(!words.empty());
  uint64_t id = 0;
  if (kind == RunKind::kWasm) {
    auto reserved = node_.ReserveJobId();
    if (!reserved.ok()) return reserved.error();
    id = *reserved;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return MakeError(ErrorKind::kUnavailable, "the node is stopping");
  ReapLocked();
  size_t running = 0;
  for (auto& r : runs_) running += r->finished ? 0 : 1;
  if (running >= kMaxRunning)
    return MakeError(ErrorKind::kLimitExceeded,
                     std::to_string(kMaxRunning) + " submissions through HTTP are running already");
  auto owned = std::make_unique<Run>();
  Run* run = owned.get();
  run->id = id;
  run->kind = kind;
  runs_.push_back(std::move(owned));
  run->thread = std::thread(&HttpRuns::Body, this, run, std::move(words), std::move(cleanup));
  changed_.wait(lock, [&] { return run->id != 0 || run->finished; });
  if (run->id != 0) return run->id;
  // A map that ended before it was a job: its error is the answer.
  std::string error = run->result.value("error", "the map did not start");
  return MakeError(ErrorKind::kBadArguments, error);
}

void HttpRuns::Body(Run* run, std::vector<std::string> words, std::function<void()> cleanup) {
  shell::ShellContext context;
  context.json = true;
  context.interrupt = &run->cancel;
  context.on_job = [this, run](uint64_t job) {
    std::lock_guard<std::mutex> lock(mu_);
    run->id = job;
    changed_.notify_all();
  };
  shell::CommandResult r;
  try {
    r = shell::DispatchWords(node_, words, context);
  } catch (const std::exception& e) {  // nothing from a request may end the node
    r.ok = false;
    r.json = {{"error", std::string("internal error: ") + e.what()}};
  }
  if (cleanup) cleanup();
  std::string state = r.ok ? "done" : run->cancel ? "cancelled" : "failed";
  if (r.json.is_object() && r.json.contains("state")) state = r.json["state"].get<std::string>();
  json result = r.json.is_object() ? r.json : json::object();
  result["state"] = state;
  uint64_t bytes = result.dump(-1, ' ', false, json::error_handler_t::replace).size();
  std::lock_guard<std::mutex> lock(mu_);
  run->result = std::move(result);
  run->result_bytes = bytes;
  run->finished = true;
  if (run->id == 0) spdlog::info("http: a map submission ended before it was a job");
  changed_.notify_all();
}

std::optional<json> HttpRuns::Find(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : runs_) {
    if (r->id != id) continue;
    json j = r->finished ? r->result : json{{"state", "running"}};
    j["job"] = id;
    j["kind"] = RunKindName(r->kind);
    return j;
  }
  return std::nullopt;
}

bool HttpRuns::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : runs_)
    if (r->id == id && !r->finished) {
      r->cancel = true;
      return true;
    }
  return false;
}

json HttpRuns::ListCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  json list = json::array();
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    const Run& r = **it;
    if (r.kind != RunKind::kWasm) continue;
    json j = {{"job", r.id},
              {"kind", "wasm"},
              {"state", r.finished ? r.result["state"] : json("running")}};
    if (r.finished && r.result.contains("node")) j["node"] = r.result["node"];
    if (r.finished && r.result.contains("elapsed_ms")) j["elapsed_ms"] = r.result["elapsed_ms"];
    list.push_back(j);
  }
  return list;
}

}  // namespace velum::http
