// The shell's `map`: its options, its inputs made items (node/map_inputs.h), and the outputs
// and summary it prints. The job itself is the node's (Node::Map).
#include "shell/map_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "core/map_plan.h"
#include "node/map_inputs.h"
#include "shell/module_lookup.h"
#include "shell/option_limits.h"
#include "shell/shell_util.h"

namespace velum::shell {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char kMapUsage[] =
    "usage: map [--out DIR] [--lines] [--recursive] [--retries N] [--env NAME=VALUE] "
    "[--exclude-self] [--timeout SECONDS] [--max-memory MIB] [--json] FILE [ARGS...] ::: "
    "INPUT...";
const std::set<std::string> kMapValued = {"--out", "--retries", "--env", "--timeout",
                                          "--max-memory"};
const std::set<std::string> kMapSwitches = {"--lines", "--recursive", "--exclude-self", "--json"};

// Outputs gathered into one JSON answer (the node's --json without --out); past it they are
// dropped and the answer says so.
constexpr uint64_t kMaxJsonOutputs = 16ull << 20;

json SummaryJson(const MapSummary& s) {
  json failed = json::array();
  for (const MapFailure& f : s.failed)
    failed.push_back({{"item", f.item},
                      {"input", f.input},
                      {"node", f.node},
                      {"exit_code", f.exit_code},
                      {"error", f.error},
                      {"stderr", f.stderr_tail}});
  json workers = json::array();
  for (const auto& [node, items] : s.workers) workers.push_back({{"node", node}, {"items", items}});
  json j = {{"job", s.job},
            {"state", core::JobStateName(s.state)},
            {"items", s.items},
            {"ok", s.ok},
            {"failed", failed},
            {"elapsed_ms", s.elapsed_ms},
            {"workers", workers},
            {"reruns", s.reruns},
            {"out", s.out.empty() ? json(nullptr) : json(s.out)}};
  if (!s.error.empty()) j["error"] = s.error;
  if (s.resumed) j["resumed"] = true;
  return j;
}

}  // namespace

std::string MapSummaryText(const MapSummary& s) {
  std::string text = "map job " + std::to_string(s.job) + ": " + std::to_string(s.items) +
                     " items, " + std::to_string(s.ok) + " ok, " + std::to_string(s.failed.size()) +
                     " failed, " + std::to_string(static_cast<uint64_t>(s.elapsed_ms)) + " ms";
  if (!s.workers.empty()) {
    text += "; by node:";
    for (const auto& [node, items] : s.workers)
      text += " " + std::to_string(node) + ":" + std::to_string(items);
  }
  if (s.reruns) text += "; " + std::to_string(s.reruns) + " runs again";
  if (!s.out.empty()) text += "; outputs in " + s.out;
  if (!s.error.empty()) text += "\n" + std::string(core::JobStateName(s.state)) + ": " + s.error;
  for (const MapFailure& f : s.failed) {
    text += "\nitem " + std::to_string(f.item) + " (" + f.input + ") failed on node " +
            std::to_string(f.node) + ": " + f.error;
    if (!f.stderr_tail.empty()) {
      std::string tail = f.stderr_tail;
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      text += "\n  stderr: " + tail;
    }
  }
  return text;
}

void AddMapJobs(Node& node, CommandResult* result, bool all) {
  json list = json::array();
  std::string text;
  for (const MapSummary& s : node.Maps()) {
    if (!all && s.state != core::JobState::kRunning) continue;
    list.push_back(SummaryJson(s));
    text += "\nmap job " + std::to_string(s.job) + " " + core::JobStateName(s.state) + ": " +
            std::to_string(s.ok) + " of " + std::to_string(s.items) + " ok, " +
            std::to_string(s.failed.size()) + " failed" + (s.out.empty() ? "" : ", out " + s.out);
  }
  if (!list.empty()) result->json["maps"] = list;  // the answer's shape is unchanged without
  if (!text.empty()) result->text += (result->text.empty() ? text.substr(1) : text);
}

std::optional<CommandResult> MapJobResult(Node& node, uint64_t id) {
  for (const MapSummary& s : node.Maps()) {
    if (s.job != id) continue;
    CommandResult r;
    r.json = SummaryJson(s);
    if (s.state == core::JobState::kRunning) {
      r.text = "map job " + std::to_string(id) + " is running: " + std::to_string(s.ok) + " of " +
               std::to_string(s.items) + " items ok, " + std::to_string(s.failed.size()) +
               " failed";
      return r;
    }
    r.text = MapSummaryText(s);
    r.exit_status = s.state == core::JobState::kDone && s.failed.empty() ? 0 : 1;
    return r;
  }
  return std::nullopt;
}

std::optional<CommandResult> WaitMapJob(Node& node, uint64_t id, const ShellContext& context) {
  for (;;) {
    auto r = MapJobResult(node, id);
    if (!r || r->exit_status >= 0) return r;  // not a map job, or it has ended
    if (context.interrupt && context.interrupt->load()) {
      r->text = "stopped waiting; map job " + std::to_string(id) + " goes on (" + r->text + ")";
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a poll, with its end above
  }
}

CommandResult MapCommand(Node& node, const std::vector<std::string>& words,
                         const ShellContext& context) {
  MapRequest q;
  bool lines = false, recursive = false, as_json = false;
  size_t i = 1;
  std::string timeout_text, memory_text, retries_text;
  for (; i < words.size(); i++) {
    const std::string& w = words[i];
    if (!(w.size() > 2 && w[0] == '-' && w[1] == '-')) break;
    size_t eq = w.find('=');
    std::string name = w.substr(0, eq);
    if (kMapSwitches.count(name) && eq == std::string::npos) {
      lines = lines || name == "--lines";
      recursive = recursive || name == "--recursive";
      as_json = as_json || name == "--json";
      q.exclude_self = q.exclude_self || name == "--exclude-self";
      continue;
    }
    if (!kMapValued.count(name)) return UsageFailure("unknown option " + name + "\n" + kMapUsage);
    std::string value;
    if (eq != std::string::npos)
      value = w.substr(eq + 1);
    else if (i + 1 < words.size())
      value = words[++i];
    else
      return UsageFailure(name + " needs a value\n" + kMapUsage);
    if (name == "--out") {
      if (value.empty()) return UsageFailure("--out needs a folder");
      std::error_code ec;
      if (fs::exists(value, ec) && !fs::is_directory(value, ec))
        return UsageFailure("--out: " + value + " exists and is not a directory");
      q.out_dir = value;
    } else if (name == "--env") {
      if (value.find('=') == std::string::npos || value[0] == '=')
        return UsageFailure("--env takes NAME=VALUE, not '" + value + "'");
      q.env.push_back(value);
    } else if (name == "--timeout") {
      timeout_text = value;
    } else if (name == "--max-memory") {
      memory_text = value;
    } else {
      retries_text = value;
    }
  }
  double number = 0;
  if (!timeout_text.empty()) {
    if (std::string e = CheckNumber(kCallTimeout, timeout_text, &number); !e.empty())
      return UsageFailure(e);
    q.timeout_ms = static_cast<uint32_t>(std::max(1.0, number * 1000));
  }
  if (!memory_text.empty()) {
    if (std::string e = CheckNumber(kCallMemory, memory_text, &number); !e.empty())
      return UsageFailure(e);
    q.max_memory_mib = static_cast<uint32_t>(number);
  }
  if (!retries_text.empty()) {
    if (std::string e = CheckNumber(kMapRetries, retries_text, &number); !e.empty())
      return UsageFailure(e);
    q.retries = static_cast<uint32_t>(number);
  }
  if (i >= words.size() || words[i] == ":::")
    return UsageFailure(std::string("map: missing FILE\n") + kMapUsage);
  const std::string file = words[i];
  auto sep = std::find(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end(), ":::");
  if (sep == words.end())
    return UsageFailure(std::string("map: missing ::: before the inputs\n") + kMapUsage);
  std::vector<std::string> inputs(sep + 1, words.end());
  if (inputs.empty()) return UsageFailure(std::string("map: no INPUT after :::\n") + kMapUsage);
  auto module = node.LoadModule(ResolveModule(file));
  if (!module.ok()) return ErrorFailure(module.error());
  if (!(*module)->FindFunction("_start").ok())
    return Failure("map runs a WASI command, and " + file + " exports no _start");
  q.args.push_back(fs::path(file).filename().string());
  q.args.insert(q.args.end(), words.begin() + static_cast<std::ptrdiff_t>(i) + 1, sep);
  if (Status s = CollectMapItems(inputs, lines, recursive, &q.items); !s.ok())
    return Failure("map: " + s.error().message);
  if (!q.out_dir && !(context.json && !as_json)) {
    q.on_output = [](uint64_t, const std::string& data) {
      std::fwrite(data.data(), 1, data.size(), stdout);
      std::fflush(stdout);
    };
  }
  // The node's --json: outputs in the one object, up to kMaxJsonOutputs bytes (more: --out).
  json outputs = json::array();
  uint64_t output_bytes = 0;
  bool outputs_truncated = false;
  if (!q.out_dir && context.json && !as_json)
    q.on_output = [&](uint64_t, const std::string& data) {
      output_bytes += data.size();
      if (output_bytes > kMaxJsonOutputs)
        outputs_truncated = true;
      else
        outputs.push_back(data);
    };
  q.on_started = context.on_job;
  auto summary = node.Map(*module, std::move(q), context.interrupt);
  if (!summary.ok()) {
    CommandResult f = ErrorFailure(summary.error());
    f.json_line = as_json;
    return f;
  }
  CommandResult r;
  r.json = SummaryJson(*summary);
  if (!outputs.empty()) r.json["outputs"] = outputs;
  if (outputs_truncated) r.json["outputs_truncated"] = true;
  r.json_line = as_json;
  r.ok = summary->state == core::JobState::kDone;
  if (!r.ok) r.json["error"] = summary->error;
  r.exit_status = summary->state == core::JobState::kDone && summary->failed.empty() ? 0 : 1;
  if (!as_json && !context.json) {
    if (context.progress || !summary->failed.empty() || !r.ok)
      std::fprintf(stderr, "%s\n", MapSummaryText(*summary).c_str());
    std::fflush(stderr);
  }
  return r;
}

}  // namespace velum::shell
