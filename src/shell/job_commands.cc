// wasm runs one call on the best peer; scatter submits a job and follows it to the end (with
// a progress bar on a terminal, Ctrl-C cancelling it); jobs, wait (Ctrl-C detaches) and cancel
// manage jobs.
#include "shell/job_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/reducer.h"
#include "node/node_waits.h"
#include "shell/map_command.h"
#include "shell/option_limits.h"
#include "shell/shell_util.h"

namespace velum::shell {

namespace {

using nlohmann::json;

const char kWasmUsage[] =
    "usage: wasm FILE FUNC [ARGS...] [--local] [--node ID] [--timeout SECONDS] "
    "[--max-memory MIB] [--json]\n"
    "       wasm [OPTIONS] FILE [ARGS...]  (a WASI command; options before FILE: --local, "
    "--node ID,\n"
    "       --timeout S, --max-memory MIB, --stdin FILE, --ro-dir HOST[::GUEST], --out DIR,\n"
    "       --env NAME=VALUE, --json)";
// Why PATH cannot be used as a `want` (a file or a directory), or "" if it can.
std::string PathProblem(const std::filesystem::path& path, std::filesystem::file_type want) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (path.empty()) return "an empty path";
  if (st.type() == std::filesystem::file_type::not_found) return path.string() + " does not exist";
  if (ec) return path.string() + ": " + ec.message();
  if (st.type() != want)
    return path.string() + (want == std::filesystem::file_type::directory
                                ? " is not a directory"
                                : " is not a regular file");
  return "";
}

const std::string kIntegerForms =
    "takes an integer in the int64 range (500000, -5, 0x10, 2e9, 1_000_000)";
const char kScatterUsage[] =
    "usage: scatter FILE FUNC START END [--reduce sum|min|max|first|EXPORT] [--chunk N] "
    "[--exclude-self] [--timeout SECONDS] [--max-memory MIB] [&]";

const char kJobsUsage[] = "usage: jobs [--all] [--json]";
const char kResultUsage[] = "usage: result JOB [--json]";

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

// Draws the progress line on stderr, in place ("\033[K" clears what a longer line left).
void DrawProgress(const JobSummary& s, const ProgressMeter& meter) {
  std::fprintf(stderr, "\r%s\033[K", ProgressLine(s, meter).c_str());
  std::fflush(stderr);
}

void ClearProgress() {
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

// What Ctrl-C does to a followed job: scatter cancels it, wait leaves it running (as bash's
// wait does).
enum class OnInterrupt { kCancel, kDetach };

// Follows a job to its end, drawing its progress; Ctrl-C (context.interrupt) cancels the job
// or detaches from it.
CommandResult Follow(Node& node, uint64_t id, const ShellContext& context,
                     OnInterrupt on_interrupt) {
  ProgressMeter meter;
  auto interrupted = [&context] { return context.interrupt && context.interrupt->load(); };
  FollowOptions options;
  if (on_interrupt == OnInterrupt::kCancel)
    options.should_cancel = interrupted;
  else
    options.should_detach = interrupted;
  options.on_slice = [&](const JobSummary& s) {
    meter.Add(s.elapsed_ms, s.items_done);
    if (context.progress) DrawProgress(s, meter);
  };
  FollowResult followed = FollowJob(node, id, options);
  if (followed.end == FollowEnd::kUnknownJob)
    return Failure("job " + std::to_string(id) + " is not known here");
  if (context.progress) ClearProgress();
  if (followed.end == FollowEnd::kDetached) {
    CommandResult r;
    std::string n = std::to_string(id);
    r.text =
        "job " + n + " keeps running in the background (jobs, wait " + n + ", cancel " + n + ")";
    r.json = {{"job", id}, {"state", "running"}, {"detached", true}};
    r.background_job = id;
    return r;
  }
  CommandResult r = JobResult(*followed.summary);  // kFinished: no deadline was given
  r.settled_job = id;
  return r;
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

// The reducer as `--reduce` names it: a built-in word, or the module's export.
std::string ReducerText(const JobSummary& s) {
  return s.reducer == core::ReducerKind::kModule ? s.reduce_func : core::ReducerName(s.reducer);
}

// `first` keeps only results that are not all zeros, so an all-zero answer means no item hit.
bool NoHit(const JobSummary& s) {
  if (s.state != core::JobState::kDone || s.reducer != core::ReducerKind::kFirst) return false;
  for (const auto& v : s.result)
    if (!v.is_zero()) return false;
  return true;
}

// Whether the job had to recover from something: a worker lost or a slice that failed.
// Backups of stragglers and stale reports alone are a healthy run's routine.
bool Recovered(const JobSummary& s) {
  return !s.failures.empty() || s.reassigned > 0 || s.recomputed > 0 || s.retries > 0 ||
         s.detection_ms >= 0;
}

// A job's output for --json: one object per stream of each slice (stream a word, data the
// bytes; invalid UTF-8 becomes U+FFFD when the line is written).
json OutputJson(const JobSummary& s) {
  json list = json::array();
  for (const auto& b : s.output)
    list.push_back({{"node", b.node},
                    {"start", b.start},
                    {"end", b.end},
                    {"stream", core::OutputStreamName(b.stream)},
                    {"data", b.data},
                    {"truncated", b.truncated}});
  return list;
}

// The output blocks as text, after the summary: each under a tag saying where it ran.
void PrintOutput(const JobSummary& s, std::ostringstream& out) {
  for (const auto& b : s.output) {
    out << "\n[node " << b.node << ", " << b.start << ".." << b.end << ") "
        << core::OutputStreamName(b.stream) << ":\n"
        << b.data;
    if (!b.data.empty() && b.data.back() != '\n') out << "\n";
    if (b.truncated)
      out << "[this slice wrote more than " << core::kMaxSliceOutputBytes / 1024
          << " KiB on a stream: cut there]\n";
  }
  if (s.output_truncated)
    out << "\n[output truncated: the job's output passed " << core::kMaxJobOutputBytes / 1024
        << " KiB; the rest was dropped]\n";
  if (s.output_lost) out << "\n[output of the slices before the coordinator's restart is lost]\n";
}

// The kind of a slice's error as a word: the runtime's kinds, or a worker's refusal.
std::string FailureKindName(uint32_t kind) {
  if (kind == core::kTaskErrorWorkerBusy) return "worker busy";
  if (auto k = ErrorKindFromNumber(kind)) return ErrorKindName(*k);
  return "error " + std::to_string(kind);
}

const char* DetailsName(JobDetails details) {
  switch (details) {
    case JobDetails::kKept:
      return "kept";
    case JobDetails::kNotRecorded:
      return "not recorded";
    case JobDetails::kDamaged:
      return "damaged";
  }
  return "?";
}

json SummaryJson(const JobSummary& s, bool with_output) {
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
            {"state", core::JobStateName(s.state)},
            {"module", s.label},
            {"func", s.func},
            {"start", s.start},
            {"end", s.end},
            {"reducer", ReducerText(s)},
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
  if (s.state == core::JobState::kDone) j["result"] = ResultJson(s.result);
  if (s.state == core::JobState::kDone && s.reducer == core::ReducerKind::kFirst)
    j["found"] = !NoHit(s);
  if (!s.error.empty()) j["error"] = s.error;
  if (s.failure)
    j["failure"] = {{"kind", FailureKindName(s.failure->error_kind)},
                    {"message", s.failure->message},
                    {"node", s.failure->node},
                    {"start", s.failure->lo},
                    {"end", s.failure->hi},
                    {"retryable", s.failure->retryable}};
  if (s.from_journal) {
    j["from_journal"] = true;
    j["details"] = DetailsName(s.details);
  }
  if (with_output) {
    j["output"] = OutputJson(s);
    j["output_truncated"] = s.output_truncated;
    j["output_lost"] = s.output_lost;
  }
  return j;
}

}  // namespace

std::string Quantity(double n) {
  char buf[32];
  if (!(n >= 0) || n < 10000)
    std::snprintf(buf, sizeof buf, "%.0f", n);
  else if (n < 1e6)
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  else if (n < 1e9)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n < 1e12)
    std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.2fT", n / 1e12);
  return buf;
}

std::string Duration(double ms) {
  char buf[32];
  if (ms < 1)
    std::snprintf(buf, sizeof buf, "%.0f us", ms * 1000);
  else if (ms < 1000)
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
  return buf;
}

std::string LongDuration(double seconds) {
  char buf[48];
  double s = std::ceil(std::max(seconds, 0.0));
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%.0f min %02.0f s", std::floor(s / 60), std::fmod(s, 60));
  else if (s < 100 * 3600)
    std::snprintf(buf, sizeof buf, "%.0f h %02.0f min", std::floor(s / 3600),
                  std::floor(std::fmod(s, 3600) / 60));
  else
    std::snprintf(buf, sizeof buf, "%.0f days", std::floor(s / 86400));
  return buf;
}

void ProgressMeter::Add(double elapsed_ms, uint64_t items_done) {
  if (!samples_.empty() && elapsed_ms <= samples_.back().elapsed_ms) return;  // not newer
  samples_.push_back({elapsed_ms, items_done});
  // Keep one sample older than the window, so the window is always covered once it can be.
  while (samples_.size() > 2 && samples_[1].elapsed_ms <= elapsed_ms - kWindowMs)
    samples_.pop_front();
  while (samples_.size() > kMaxSamples) samples_.pop_front();
}

double ProgressMeter::ItemsPerSecond() const {
  if (samples_.size() < 2) return 0;
  const Sample& first = samples_.front();
  const Sample& last = samples_.back();
  double ms = last.elapsed_ms - first.elapsed_ms;
  if (ms <= 0 || last.items_done <= first.items_done) return 0;
  return static_cast<double>(last.items_done - first.items_done) * 1000 / ms;
}

double ProgressMeter::EtaSeconds(uint64_t items_total) const {
  double rate = ItemsPerSecond();
  if (rate <= 0 || samples_.empty()) return -1;
  uint64_t done = samples_.back().items_done;
  return done >= items_total ? 0 : static_cast<double>(items_total - done) / rate;
}

std::string ProgressLine(const JobSummary& s, const ProgressMeter& meter) {
  constexpr int kBarWidth = 20;
  double f = s.items_total ? static_cast<double>(s.items_done) / s.items_total : 0;
  int filled = std::clamp(static_cast<int>(f * kBarWidth), 0, kBarWidth);
  double rate = meter.ItemsPerSecond();
  double eta = meter.EtaSeconds(s.items_total);
  char line[256];
  std::snprintf(line, sizeof line, "[%s%s] %3.0f%%  %s of %s items  %s/s  ETA %s  %s  %zu node%s",
                std::string(filled, '#').c_str(), std::string(kBarWidth - filled, '-').c_str(),
                f * 100, Quantity(static_cast<double>(s.items_done)).c_str(),
                Quantity(static_cast<double>(s.items_total)).c_str(),
                rate > 0 ? Quantity(rate).c_str() : "-", eta >= 0 ? LongDuration(eta).c_str() : "-",
                Duration(s.elapsed_ms).c_str(), s.workers.size(), s.workers.size() == 1 ? "" : "s");
  return line;
}

CommandResult JobResult(const JobSummary& s) {
  CommandResult r;
  r.json = SummaryJson(s, true);
  std::ostringstream out;
  std::string range = s.func + " over [" + std::to_string(s.start) + ", " + std::to_string(s.end) +
                      ") by " + ReducerText(s);
  std::string where = std::to_string(s.chunks) + " chunk" + (s.chunks == 1 ? "" : "s") + " on " +
                      std::to_string(s.workers.size()) + " node" +
                      (s.workers.size() == 1 ? "" : "s");
  if (s.state != core::JobState::kDone) {
    r.ok = false;
    double f = s.items_total ? 100.0 * static_cast<double>(s.items_done) / s.items_total : 0;
    char done[96];
    std::snprintf(done, sizeof done, "%llu of %llu items (%.1f%%)",
                  static_cast<unsigned long long>(s.items_done),
                  static_cast<unsigned long long>(s.items_total), f);
    out << "error: job " << s.id << " " << core::JobStateName(s.state) << ": " << s.error << "\n"
        << "job " << s.id << ": " << range << ", " << core::JobStateName(s.state) << " after "
        << done << " in " << Duration(s.elapsed_ms) << " (wall), " << where;
  } else {
    out << (NoHit(s) ? "no hit: " + s.func + " found nothing in [" + std::to_string(s.start) +
                           ", " + std::to_string(s.end) + ")"
                     : ResultText(s.result))
        << "\n"
        << "job " << s.id << ": " << range << " in " << Duration(s.elapsed_ms) << " (wall), "
        << where;
  }
  if (s.resumed) out << " (resumed after a restart)";
  if (!s.workers.empty()) {
    // Slot time is executor time summed over a node's slots: with several slots it exceeds
    // the wall time, so the two are never shown under one name.
    char line[160];
    std::snprintf(line, sizeof line, "\n  %-6s %7s %14s %11s %14s", "node", "chunks", "items",
                  "slot time", "items/slot-s");
    out << line;
    for (const auto& w : s.workers) {
      std::snprintf(line, sizeof line, "\n  %-6u %7llu %14llu %11s %14s", w.id,
                    static_cast<unsigned long long>(w.chunks),
                    static_cast<unsigned long long>(w.items), Duration(w.seconds * 1000).c_str(),
                    w.seconds > 0 ? Quantity(w.items / w.seconds).c_str() : "-");
      out << line;
    }
  }
  if (s.failure)
    out << "\n  failed slice: node " << s.failure->node << ", items [" << s.failure->lo << ", "
        << s.failure->hi << "): " << FailureKindName(s.failure->error_kind) << ": "
        << s.failure->message;
  if (Recovered(s)) {
    out << "\n  recovery: " << s.failures.size() << " worker" << (s.failures.size() == 1 ? "" : "s")
        << " lost; reassigned " << s.reassigned << " (" << s.reassigned_items
        << " items), recomputed " << s.recomputed << " items, backups " << s.backups
        << ", stale reports " << s.stale_reports << ", slices retried " << s.retries;
    if (s.detection_ms >= 0) out << ", failure detected in " << s.detection_ms << " ms";
  }
  PrintOutput(s, out);
  if (s.details == JobDetails::kNotRecorded)
    out << "\n[workers, losses and output not recorded: the journal's record of this job is "
           "from an older node]";
  else if (s.details == JobDetails::kDamaged)
    out << "\n[the journal's record of this job's details is damaged: only its result and "
           "figures are shown]";
  r.text = out.str();
  // Each output block ends its last line; the shell ends the text's last line itself.
  if (!r.text.empty() && r.text.back() == '\n') r.text.pop_back();
  if (!r.ok) {
    r.json["error"] =
        "job " + std::to_string(s.id) + " " + core::JobStateName(s.state) + ": " + s.error;
  }
  return r;
}

std::string JobsTable(const std::vector<JobSummary>& jobs) {
  enum Align { kLeft, kRight };
  const Align align[] = {kRight, kLeft, kRight, kRight, kLeft, kLeft};
  std::vector<std::vector<std::string>> rows = {
      {"job", "state", "progress", "elapsed", "module func [start, end)", "result"}};
  bool any_resumed = false;
  for (const auto& s : jobs) {
    double f = s.items_total ? 100.0 * static_cast<double>(s.items_done) / s.items_total : 0;
    char progress[16];
    std::snprintf(progress, sizeof progress, "%.1f%%", f);
    std::string result = s.state != core::JobState::kDone ? s.error
                         : NoHit(s)                       ? "no hit"
                                                          : ResultText(s.result);
    rows.push_back({std::to_string(s.id),
                    std::string(core::JobStateName(s.state)) + (s.resumed ? "*" : ""), progress,
                    Duration(s.elapsed_ms),
                    s.label + " " + s.func + " [" + std::to_string(s.start) + ", " +
                        std::to_string(s.end) + ")",
                    result});
    any_resumed = any_resumed || s.resumed;
  }
  size_t columns = std::size(align);
  std::vector<size_t> width(columns, 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < columns; c++) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < columns; c++) {
      std::string pad(width[c] - row[c].size(), ' ');
      if (c) line += "  ";
      line += align[c] == kRight ? pad + row[c] : row[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);  // an empty last cell leaves no blanks
    out += (out.empty() ? "" : "\n") + line;
  }
  if (jobs.empty()) out += "\n(no jobs yet)";
  if (any_resumed) out += "\n* resumed from the journal after this node restarted";
  return out;
}

namespace {

const std::set<std::string> kWasmValued = {"--node",   "--timeout", "--max-memory", "--stdin",
                                           "--ro-dir", "--out",     "--env"};
const std::set<std::string> kWasmSwitches = {"--local", "--json"};
// Options only a WASI command takes.
const std::set<std::string> kCommandOnly = {"--stdin", "--ro-dir", "--out", "--env"};

// The options before FILE, in order (--ro-dir and --env may repeat); `*file` is FILE's index.
std::string LeadingOptions(const std::vector<std::string>& words,
                           std::vector<std::pair<std::string, std::string>>* values,
                           std::set<std::string>* switches, size_t* file) {
  size_t i = 1;
  for (; i < words.size(); i++) {
    const std::string& w = words[i];
    if (!(w.size() > 2 && w[0] == '-' && w[1] == '-')) break;
    size_t eq = w.find('=');
    std::string name = w.substr(0, eq);
    if (kWasmSwitches.count(name) && eq == std::string::npos) {
      switches->insert(name);
    } else if (kWasmValued.count(name)) {
      if (eq != std::string::npos) {
        values->emplace_back(name, w.substr(eq + 1));
      } else if (i + 1 < words.size()) {
        values->emplace_back(name, words[++i]);
      } else {
        return name + " needs a value";
      }
    } else {
      return "unknown option " + name;
    }
  }
  *file = i;
  return "";
}

// --node ID into options; "" or the error.
std::string ParseNode(const std::string& text, Node& node, bool* local, uint32_t* target) {
  int64_t id;
  if (!ParseInt64(text, &id) || id <= 0 || id > UINT32_MAX)
    return "--node takes a node id, not '" + text + "'";
  *target = static_cast<uint32_t>(id);
  if (*target == node.id()) *local = true;
  return "";
}

// `wasm [OPTIONS] FILE ARGS...` of a module exporting _start: every word after FILE is the
// program's. Its output is written as it arrives (gathered under --json).
CommandResult RunWasiCommand(Node& node, const ModulePtr& module, const std::string& file,
                             const std::vector<std::pair<std::string, std::string>>& values,
                             const std::set<std::string>& switches,
                             const std::vector<std::string>& program_args,
                             const ShellContext& context) {
  CommandOptions o;
  o.local = switches.count("--local") > 0;
  const bool as_json = context.json || switches.count("--json") > 0;
  ParsedArgs single;  // the options given once, for the shared number checks
  for (const auto& [name, value] : values) {
    if (name == "--ro-dir") {
      size_t sep = value.find("::");
      CommandOptions::Dir d;
      d.host = value.substr(0, sep);
      d.guest = sep == std::string::npos ? value : value.substr(sep + 2);
      if (std::string e = PathProblem(d.host, std::filesystem::file_type::directory); !e.empty())
        return UsageFailure("--ro-dir: " + e);
      if (d.guest.empty())
        return UsageFailure("--ro-dir " + value + ": the name after :: is empty");
      o.ro_dirs.push_back(std::move(d));
    } else if (name == "--env") {
      o.env.push_back(value);
    } else if (name == "--stdin") {
      if (std::string e = PathProblem(value, std::filesystem::file_type::regular); !e.empty())
        return UsageFailure("--stdin: " + e);
      o.stdin_file = value;
    } else if (name == "--out") {
      if (value.empty()) return UsageFailure("--out needs a folder");
      // Checked before the command runs, not after: its results must have a place to land.
      std::error_code ec;
      if (std::filesystem::exists(value, ec) && !std::filesystem::is_directory(value, ec))
        return UsageFailure("--out: " + value + " exists and is not a directory");
      o.out_dir = value;
    } else if (name == "--node") {
      if (std::string e = ParseNode(value, node, &o.local, &o.target); !e.empty())
        return UsageFailure(e);
    } else {
      single.values[name] = value;
    }
  }
  std::string error;
  if (!ParseTimeout(single, &o.timeout_ms, &error) || !ParseMib(single, &o.max_memory_mib, &error))
    return UsageFailure(error);
  o.args.push_back(std::filesystem::path(file).filename().string());
  o.args.insert(o.args.end(), program_args.begin(), program_args.end());
  if (!as_json)
    o.on_output = [](int stream, const std::string& data) {
      std::FILE* to = stream == 1 ? stdout : stderr;
      std::fwrite(data.data(), 1, data.size(), to);
      std::fflush(to);
    };
  auto reply = node.RunCommand(module, o, context.interrupt);
  if (!reply.ok()) {
    CommandResult f = ErrorFailure(reply.error());
    f.json_line = switches.count("--json") > 0;
    return f;
  }
  json out_files = json::array();
  for (const auto& f : reply->out_files) out_files.push_back(f);
  json j = {{"exit_code", reply->exit_code},   {"stdout", reply->stdout_data},
            {"stderr", reply->stderr_data},    {"node", reply->node},
            {"elapsed_ms", reply->elapsed_ms}, {"engine", reply->engine},
            {"truncated", reply->truncated}};
  if (o.out_dir) {
    j["out"] = o.out_dir->string();
    j["out_files"] = out_files;
  }
  if (!reply->note.empty()) j["note"] = reply->note;
  CommandResult r;
  if (reply->failure) {
    r = ErrorFailure(*reply->failure);
    j["error"] = r.json["error"];
  }
  r.json = j;
  r.json_line = switches.count("--json") > 0;
  // A process's status holds 8 bits: an exit code past 255 must not read as success.
  r.exit_status = reply->exit_code > 255 ? 1 : static_cast<int>(reply->exit_code);
  if (!as_json) {
    if (reply->truncated) std::fprintf(stderr, "note: the program's output was cut at its cap\n");
    // Who ran it, for people at a terminal; a script's stderr keeps only the program's.
    if (context.progress)
      std::fprintf(stderr, "(node %u, %s, %s, exit %u%s)\n", reply->node,
                   Duration(reply->elapsed_ms).c_str(), reply->engine.c_str(), reply->exit_code,
                   o.out_dir ? (", " + std::to_string(reply->out_files.size()) + " files in " +
                                o.out_dir->string())
                                   .c_str()
                             : "");
    if (!reply->note.empty() && context.progress)
      std::fprintf(stderr, "note: %s\n", reply->note.c_str());
    std::fflush(stderr);
  }
  return r;
}

}  // namespace

CommandResult WasmCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context) {
  std::vector<std::pair<std::string, std::string>> leading;
  std::set<std::string> leading_switches;
  size_t file_at = 0;
  if (std::string e = LeadingOptions(words, &leading, &leading_switches, &file_at); !e.empty())
    return UsageFailure(e + "\n" + kWasmUsage);
  if (file_at >= words.size()) return UsageFailure(kWasmUsage);
  auto module = node.LoadModule(ResolveModule(words[file_at]));
  if (!module.ok()) return ErrorFailure(module.error());
  if ((*module)->FindFunction("_start").ok())
    return RunWasiCommand(node, *module, words[file_at], leading, leading_switches,
                          std::vector<std::string>(words.begin() + file_at + 1, words.end()),
                          context);
  // A function call: options before FILE or after it, as they always could be.
  std::set<std::string> valued = kWasmValued;
  ParsedArgs p = ParseFlags(words, 1, valued, kWasmSwitches);
  if (!p.error.empty()) return UsageFailure(p.error + "\n" + kWasmUsage);
  for (const auto& name : kCommandOnly)
    if (p.values.count(name))
      return UsageFailure(name + " is for WASI commands, and " + words[file_at] +
                          " exports no _start");
  if (p.positional.size() < 2)
    return UsageFailure("wasm: missing FUNC (" + words[file_at] +
                        " exports no _start, so it is not a WASI command)\n" + kWasmUsage);
  CallOptions options;
  options.local = p.switches.count("--local") > 0;
  std::string error;
  if (!ParseTimeout(p, &options.timeout_ms, &error) ||
      !ParseMib(p, &options.max_memory_mib, &error))
    return UsageFailure(error);
  if (auto it = p.values.find("--node"); it != p.values.end())
    if (std::string e = ParseNode(it->second, node, &options.local, &options.target); !e.empty())
      return UsageFailure(e);
  const std::string& func = p.positional[1];
  auto exported = (*module)->FindFunction(func);
  if (!exported.ok()) return ErrorFailure(exported.error());
  std::vector<std::string> texts(p.positional.begin() + 2, p.positional.end());
  auto args = ParseArgs(texts, (*exported)->sig);
  if (!args.ok()) return ErrorFailure(args.error());
  auto reply = node.Call(*module, func, *args, options, context.interrupt);
  if (!reply.ok()) return ErrorFailure(reply.error());
  CommandResult r;
  r.json_line = p.switches.count("--json") > 0;
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
           ", " + Duration(reply->elapsed_ms) + ", " + reply->engine + ")";
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
  if (!p.error.empty()) return UsageFailure(p.error + "\n" + kScatterUsage);
  if (p.positional.size() != 4) return UsageFailure(kScatterUsage);
  ScatterRequest req;
  req.path = ResolveModule(p.positional[0]);
  req.func = p.positional[1];
  if (!ParseInt64(p.positional[2], &req.start))
    return UsageFailure("START " + kIntegerForms + ", not '" + p.positional[2] + "'");
  if (!ParseInt64(p.positional[3], &req.end))
    return UsageFailure("END " + kIntegerForms + ", not '" + p.positional[3] + "'");
  // Not a built-in word: the name of the module's export that combines two results (the node
  // checks it against the module before the job starts).
  if (auto it = p.values.find("--reduce");
      it != p.values.end() && !core::ParseReducer(it->second, &req.reducer)) {
    if (it->second.empty())
      return UsageFailure("--reduce takes sum, min, max, first or the name of an export");
    req.reducer = core::ReducerKind::kModule;
    req.reduce_func = it->second;
  }
  if (auto it = p.values.find("--chunk"); it != p.values.end()) {
    int64_t n;
    if (!ParseInt64(it->second, &n) || n <= 0)
      return UsageFailure("--chunk takes a positive number of items per chunk, not '" + it->second +
                          "'");
    req.chunk_items = static_cast<uint64_t>(n);
  }
  req.exclude_self = p.switches.count("--exclude-self") > 0;
  std::string error;
  if (!ParseTimeout(p, &req.timeout_ms, &error) || !ParseMib(p, &req.max_memory_mib, &error))
    return UsageFailure(error);
  auto id = node.Submit(req);
  if (!id.ok()) return ErrorFailure(id.error());
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
  bool all = false, as_json = false;
  for (size_t i = 1; i < words.size(); i++) {
    if (words[i] == "--all")
      all = true;
    else if (words[i] == "--json")
      as_json = true;
    else
      return UsageFailure(std::string(kJobsUsage));
  }
  std::vector<JobSummary> jobs;
  if (all) {
    auto history = node.JobHistory();
    if (!history.ok()) return ErrorFailure(history.error());
    jobs = std::move(*history);
  } else {
    jobs = node.Jobs();
  }
  CommandResult r;
  json list = json::array();
  for (const auto& s : jobs) list.push_back(SummaryJson(s, false));  // lists have no output
  r.json = {{"jobs", list}};
  r.json_line = as_json;
  r.text = JobsTable(jobs);
  AddMapJobs(node, &r, all);
  return r;
}

CommandResult ResultCommand(Node& node, const std::vector<std::string>& words) {
  bool as_json = false;
  std::vector<std::string> args;
  for (size_t i = 1; i < words.size(); i++) {
    if (words[i] == "--json")
      as_json = true;
    else
      args.push_back(words[i]);
  }
  if (args.size() != 1) return UsageFailure(std::string(kResultUsage));
  int64_t id;
  if (!ParseInt64(args[0], &id) || id <= 0)
    return UsageFailure(
        "result: JOB is a job id of this node (a positive integer, as jobs shows "
        "it), not '" +
        args[0] + "'");
  if (auto m = MapJobResult(node, static_cast<uint64_t>(id))) {
    m->json_line = as_json;
    return *m;
  }
  auto s = node.Job(static_cast<uint64_t>(id));
  if (!s) {
    CommandResult f = Failure("no job " + std::to_string(id) +
                              " on this node (jobs --all lists the jobs its journal keeps)");
    f.json_line = as_json;
    return f;
  }
  if (!s->finished()) {
    // Not waited for: `wait JOB` follows a job to its end; this says where it is now.
    CommandResult r;
    r.json = SummaryJson(*s, false);
    r.json_line = as_json;
    ProgressMeter meter;
    r.text = "job " + std::to_string(id) + " is running: " + ProgressLine(*s, meter) + "\n(wait " +
             std::to_string(id) + " follows it to its end)";
    return r;
  }
  CommandResult r = JobResult(*s);
  r.json_line = as_json;
  return r;
}

CommandResult WaitCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context) {
  int64_t id;
  if (words.size() != 2 || !ParseInt64(words[1], &id) || id <= 0)
    return UsageFailure("usage: wait JOB");
  if (auto m = WaitMapJob(node, static_cast<uint64_t>(id), context)) return *m;
  return Follow(node, static_cast<uint64_t>(id), context, OnInterrupt::kDetach);
}

CommandResult CancelCommand(Node& node, const std::vector<std::string>& words) {
  int64_t id;
  if (words.size() != 2 || !ParseInt64(words[1], &id) || id <= 0)
    return UsageFailure("usage: cancel JOB");
  if (velum::Status s = node.CancelJob(static_cast<uint64_t>(id)); !s.ok())
    return Failure(s.error().message);
  CommandResult r;
  r.json = {{"cancelled", id}};
  r.text = "job " + std::to_string(id) + " cancelled";
  r.settled_job = static_cast<uint64_t>(id);
  return r;
}

}  // namespace velum::shell
