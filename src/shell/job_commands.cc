// wasm runs one call on the best peer; scatter submits a job and follows it to the end (with
// a progress bar on a terminal, Ctrl-C cancelling it); jobs, wait (Ctrl-C detaches) and cancel
// manage jobs.
#include "shell/job_commands.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/reducer.h"
#include "shell/option_limits.h"
#include "shell/shell_util.h"

namespace velum::shell {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

const char kWasmUsage[] =
    "usage: wasm FILE FUNC [ARGS...] [--local] [--node ID] [--timeout SECONDS] "
    "[--max-memory MIB]";
const char kScatterUsage[] =
    "usage: scatter FILE FUNC START END [--reduce sum|min|max|first] [--chunk N] "
    "[--exclude-self] [--timeout SECONDS] [--max-memory MIB] [&]";

std::string Seconds(double ms) {
  char buf[32];
  if (ms < 1)
    std::snprintf(buf, sizeof buf, "%.0f us", ms * 1000);
  else if (ms < 1000)
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
  return buf;
}

std::string Rate(double per_s) {
  char buf[32];
  if (per_s >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f G", per_s / 1e9);
  else if (per_s >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f M", per_s / 1e6);
  else if (per_s >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f k", per_s / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", per_s);
  return buf;
}

// An optional numeric flag checked against its range in shell/option_limits.h.
bool ParseNumber(const ParsedArgs& p, const NumberRange& range, double* out, std::string* error) {
  auto it = p.values.find(range.name);
  if (it == p.values.end()) return false;
  *error = CheckNumber(range, it->second, out);
  return true;
}

bool ParseMib(const ParsedArgs& p, uint32_t* out, std::string* error) {
  double mib;
  if (ParseNumber(p, kCallMemory, &mib, error) && error->empty()) *out = static_cast<uint32_t>(mib);
  return error->empty();
}

bool ParseTimeout(const ParsedArgs& p, uint32_t* out_ms, std::string* error) {
  double s;
  if (ParseNumber(p, kCallTimeout, &s, error) && error->empty())
    *out_ms = static_cast<uint32_t>(std::max(1.0, s * 1000));
  return error->empty();
}

// Draws "[#####-----]  45%  1.2 s" on stderr, in place.
void DrawProgress(const JobSummary& s) {
  double f = s.items_total ? static_cast<double>(s.items_done) / s.items_total : 0;
  int filled = static_cast<int>(f * 30);
  std::string bar(filled, '#');
  bar += std::string(30 - filled, '-');
  std::fprintf(stderr, "\r[%s] %3.0f%%  %s  %zu worker%s  ", bar.c_str(), f * 100,
               Seconds(s.elapsed_ms).c_str(), s.workers.size(), s.workers.size() == 1 ? "" : "s");
  std::fflush(stderr);
}

void ClearProgress() {
  std::fprintf(stderr, "\r%60s\r", "");
  std::fflush(stderr);
}

// What Ctrl-C does to a followed job: scatter cancels it, wait leaves it running (as bash's
// wait does).
enum class OnInterrupt { kCancel, kDetach };

// Follows a job to its end, or until Ctrl-C (context.interrupt) detaches from it.
CommandResult Follow(Node& node, uint64_t id, const ShellContext& context,
                     OnInterrupt on_interrupt) {
  bool cancelled = false;
  for (;;) {
    auto s = node.WaitJob(id, milliseconds(100));
    if (!s) return Failure("job " + std::to_string(id) + " is not known here");
    if (s->finished()) {
      if (context.progress) ClearProgress();
      CommandResult r = JobResult(*s);
      r.settled_job = id;
      return r;
    }
    if (context.progress) DrawProgress(*s);
    if (!cancelled && context.interrupt && context.interrupt->load()) {
      if (on_interrupt == OnInterrupt::kDetach) {
        if (context.progress) ClearProgress();
        CommandResult r;
        std::string n = std::to_string(id);
        r.text = "job " + n + " keeps running in the background (jobs, wait " + n + ", cancel " +
                 n + ")";
        r.json = {{"job", id}, {"state", "running"}, {"detached", true}};
        r.background_job = id;
        return r;
      }
      cancelled = true;
      node.CancelJob(id);
    }
  }
}

json ResultJson(const std::vector<core::Num>& values) {
  if (values.size() == 1) return NumJson(values[0]);
  json list = json::array();
  for (const auto& v : values) list.push_back(NumJson(v));
  return list;
}

std::string ResultText(const std::vector<core::Num>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : " ") + core::FormatNum(v);
  return out;
}

json SummaryJson(const JobSummary& s) {
  json workers = json::array();
  for (const auto& w : s.workers)
    workers.push_back({{"id", w.id},
                       {"chunks", w.chunks},
                       {"items", w.items},
                       {"seconds", w.seconds},
                       {"items_per_s", w.seconds > 0 ? w.items / w.seconds : 0.0},
                       {"held", w.held}});
  json failures = json::array();
  for (const auto& f : s.failures)
    failures.push_back({{"worker", f.worker},
                        {"detection_ms", f.detection_ms},
                        {"attempts", f.attempts},
                        {"reassigned_items", f.reassigned_items},
                        {"recomputed_items", f.recomputed_items}});
  json j = {{"job", s.id},
            {"state", s.state},
            {"module", s.label},
            {"func", s.func},
            {"start", s.start},
            {"end", s.end},
            {"reducer", s.reducer},
            {"items_done", s.items_done},
            {"items_total", s.items_total},
            {"elapsed_ms", s.elapsed_ms},
            {"chunks", s.chunks},
            {"workers", workers},
            {"reassigned", s.reassigned},
            {"reassigned_items", s.reassigned_items},
            {"recomputed", s.recomputed},
            {"stale_reports", s.stale_reports},
            {"backups", s.backups},
            {"retries", s.retries},
            {"detection_ms", s.detection_ms >= 0 ? json(s.detection_ms) : json(nullptr)},
            {"failures", failures},
            {"resumed", s.resumed}};
  if (s.state == "done") j["result"] = ResultJson(s.result);
  if (!s.error.empty()) j["error"] = s.error;
  return j;
}

}  // namespace

CommandResult JobResult(const JobSummary& s) {
  CommandResult r;
  r.json = SummaryJson(s);
  std::ostringstream out;
  if (s.state != "done") {
    r.ok = false;
    out << "error: job " << s.id << " " << s.state << ": " << s.error;
  } else {
    out << ResultText(s.result) << "\n";
    out << "job " << s.id << ": " << s.func << " over [" << s.start << ", " << s.end << ") by "
        << s.reducer << " in " << Seconds(s.elapsed_ms) << ", " << s.chunks << " chunks on "
        << s.workers.size() << " node" << (s.workers.size() == 1 ? "" : "s")
        << (s.resumed ? " (resumed after a restart)" : "");
  }
  if (!s.workers.empty()) {
    char line[160];
    std::snprintf(line, sizeof line, "\n  %-6s %7s %14s %9s %10s", "node", "chunks", "items",
                  "seconds", "items/s");
    out << line;
    for (const auto& w : s.workers) {
      std::snprintf(line, sizeof line, "\n  %-6u %7llu %14llu %9.2f %10s", w.id,
                    static_cast<unsigned long long>(w.chunks),
                    static_cast<unsigned long long>(w.items), w.seconds,
                    w.seconds > 0 ? Rate(w.items / w.seconds).c_str() : "-");
      out << line;
    }
  }
  if (s.reassigned || s.recomputed || s.stale_reports || s.backups || s.detection_ms >= 0) {
    out << "\n  reassigned " << s.reassigned << " (" << s.reassigned_items << " items), recomputed "
        << s.recomputed << " items, stale reports " << s.stale_reports << ", backups " << s.backups;
    if (s.detection_ms >= 0) out << ", failure detected in " << s.detection_ms << " ms";
  }
  r.text = out.str();
  if (!r.ok) {
    r.json["error"] = "job " + std::to_string(s.id) + " " + s.state + ": " + s.error;
  }
  return r;
}

CommandResult WasmCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context) {
  ParsedArgs p = ParseFlags(words, 1, {"--node", "--timeout", "--max-memory"}, {"--local"});
  if (!p.error.empty()) return Failure(p.error + "\n" + kWasmUsage);
  if (p.positional.size() < 2) return Failure(kWasmUsage);
  CallOptions options;
  options.local = p.switches.count("--local") > 0;
  std::string error;
  if (!ParseTimeout(p, &options.timeout_ms, &error) ||
      !ParseMib(p, &options.max_memory_mib, &error))
    return Failure(error);
  if (auto it = p.values.find("--node"); it != p.values.end()) {
    int64_t id;
    if (!ParseInt64(it->second, &id) || id <= 0 || id > UINT32_MAX)
      return Failure("--node takes a node id, not '" + it->second + "'");
    options.target = static_cast<uint32_t>(id);
    if (options.target == node.id()) options.local = true;
  }
  auto module = node.LoadModule(ResolveModule(p.positional[0]));
  if (!module.ok()) return Failure(module.error().ToString());
  const std::string& func = p.positional[1];
  auto exported = (*module)->FindFunction(func);
  if (!exported.ok()) return Failure(exported.error().ToString());
  std::vector<std::string> texts(p.positional.begin() + 2, p.positional.end());
  auto args = ParseArgs(texts, (*exported)->sig);
  if (!args.ok()) return Failure(args.error().ToString());
  auto reply = node.Call(*module, func, *args, options, context.interrupt);
  if (!reply.ok()) return Failure(reply.error().ToString());
  CommandResult r;
  json values = json::array();
  std::string text;
  for (const auto& v : reply->values) {
    values.push_back(ValueJson(v));
    text += (text.empty() ? "" : "\n") + FormatValue(v);
  }
  r.json = {{"result", values.size() == 1 ? values[0] : values},
            {"node", reply->node},
            {"elapsed_ms", reply->elapsed_ms},
            {"engine", reply->engine}};
  if (!reply->note.empty()) r.json["note"] = reply->note;
  r.text = (text.empty() ? "(no results)" : text) + "\n(node " + std::to_string(reply->node) +
           ", " + Seconds(reply->elapsed_ms) + ", " + reply->engine + ")";
  if (!reply->note.empty()) r.text += "\nnote: " + reply->note;
  return r;
}

CommandResult ScatterCommand(Node& node, const std::vector<std::string>& words_in,
                             const ShellContext& context) {
  std::vector<std::string> words = words_in;
  bool background = !words.empty() && words.back() == "&";
  if (background) words.pop_back();
  ParsedArgs p = ParseFlags(words, 1, {"--reduce", "--chunk", "--timeout", "--max-memory"},
                            {"--exclude-self"});
  if (!p.error.empty()) return Failure(p.error + "\n" + kScatterUsage);
  if (p.positional.size() != 4) return Failure(kScatterUsage);
  ScatterRequest req;
  req.path = ResolveModule(p.positional[0]);
  req.func = p.positional[1];
  if (!ParseInt64(p.positional[2], &req.start))
    return Failure("START must be a 64-bit integer, not '" + p.positional[2] + "'");
  if (!ParseInt64(p.positional[3], &req.end))
    return Failure("END must be a 64-bit integer, not '" + p.positional[3] + "'");
  if (auto it = p.values.find("--reduce");
      it != p.values.end() && !core::ParseReducer(it->second, &req.reducer))
    return Failure("--reduce takes sum, min, max or first, not '" + it->second + "'");
  if (auto it = p.values.find("--chunk"); it != p.values.end()) {
    int64_t n;
    if (!ParseInt64(it->second, &n) || n <= 0)
      return Failure("--chunk takes a positive number of items per chunk, not '" + it->second +
                     "'");
    req.chunk_items = static_cast<uint64_t>(n);
  }
  req.exclude_self = p.switches.count("--exclude-self") > 0;
  std::string error;
  if (!ParseTimeout(p, &req.timeout_ms, &error) || !ParseMib(p, &req.max_memory_mib, &error))
    return Failure(error);
  auto id = node.Submit(req);
  if (!id.ok()) return Failure(id.error().ToString());
  if (background) {
    CommandResult r;
    r.json = {{"job", *id}, {"state", "running"}};
    r.text = "job " + std::to_string(*id) + " started (jobs, wait " + std::to_string(*id) +
             ", cancel " + std::to_string(*id) + ")";
    r.background_job = *id;
    return r;
  }
  return Follow(node, *id, context, OnInterrupt::kCancel);
}

CommandResult JobsCommand(Node& node, const std::vector<std::string>& words) {
  if (words.size() > 1) return Failure("usage: jobs");
  CommandResult r;
  json list = json::array();
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-5s %-10s %8s %10s  %-32s %s", "job", "state", "progress",
                "elapsed", "module func [start, end)", "result");
  out << line;
  auto jobs = node.Jobs();
  for (const auto& s : jobs) {
    list.push_back(SummaryJson(s));
    double f = s.items_total ? 100.0 * s.items_done / s.items_total : 0;
    std::string what = s.label + " " + s.func + " [" + std::to_string(s.start) + ", " +
                       std::to_string(s.end) + ")";
    std::string result = s.state == "done" ? ResultText(s.result) : s.error;
    std::snprintf(line, sizeof line, "\n%-5llu %-10s %7.1f%% %10s  %-32s %s",
                  static_cast<unsigned long long>(s.id), (s.state + (s.resumed ? "*" : "")).c_str(),
                  f, Seconds(s.elapsed_ms).c_str(), what.c_str(), result.c_str());
    out << line;
  }
  if (jobs.empty())
    out << "\n(no jobs yet)";
  else
    for (const auto& s : jobs)
      if (s.resumed) {
        out << "\n* resumed from the journal after this node restarted";
        break;
      }
  r.json = {{"jobs", list}};
  r.text = out.str();
  return r;
}

CommandResult WaitCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context) {
  int64_t id;
  if (words.size() != 2 || !ParseInt64(words[1], &id) || id <= 0) return Failure("usage: wait JOB");
  return Follow(node, static_cast<uint64_t>(id), context, OnInterrupt::kDetach);
}

CommandResult CancelCommand(Node& node, const std::vector<std::string>& words) {
  int64_t id;
  if (words.size() != 2 || !ParseInt64(words[1], &id) || id <= 0)
    return Failure("usage: cancel JOB");
  if (velum::Status s = node.CancelJob(static_cast<uint64_t>(id)); !s.ok())
    return Failure(s.error().message);
  CommandResult r;
  r.json = {{"cancelled", id}};
  r.text = "job " + std::to_string(id) + " cancelled";
  r.settled_job = static_cast<uint64_t>(id);
  return r;
}

}  // namespace velum::shell
