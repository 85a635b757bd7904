// The shell's commands for running Wasm on the mesh: wasm, scatter, jobs, wait and cancel, and
// the text they show (progress line, job summary, jobs table), kept pure for the tests.
#ifndef VELUM_SHELL_JOB_COMMANDS_H_
#define VELUM_SHELL_JOB_COMMANDS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "node/node.h"
#include "shell/commands.h"

namespace velum::shell {

CommandResult WasmCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context);
CommandResult ScatterCommand(Node& node, const std::vector<std::string>& words,
                             const ShellContext& context);
// `jobs [--all] [--json]`: the jobs held in memory, oldest first; with --all, running jobs and
// every finished job the journal keeps, newest first.
CommandResult JobsCommand(Node& node, const std::vector<std::string>& words);
// `result JOB [--json]`: a finished job's result as its scatter printed it (read from the
// journal after a restart), or a running job's progress without waiting for it.
CommandResult ResultCommand(Node& node, const std::vector<std::string>& words);
CommandResult WaitCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context);
CommandResult CancelCommand(Node& node, const std::vector<std::string>& words);

// A job's summary as the shell shows it (scatter and wait): JSON and text. The text names
// wall time and slot time apart, shows recovery figures only when a worker was lost or a
// slice failed, keeps a stopped job's progress, and says when `first` found nothing.
CommandResult JobResult(const JobSummary& job);

// The `jobs` table, its columns as wide as their widest cell.
std::string JobsTable(const std::vector<JobSummary>& jobs);

// The throughput of a running job, measured from the summaries seen while following it. Items
// are uneven (a prime test costs more for larger numbers), so the rate is that of the last
// seconds, not items over elapsed time, and the ETA is the remaining items at that rate.
class ProgressMeter {
 public:
  static constexpr size_t kMaxSamples = 64;
  static constexpr double kWindowMs = 5000;  // the rate is measured over about this long

  void Add(double elapsed_ms, uint64_t items_done);
  // Items per second over the window; 0 until items were done in two samples' time apart.
  double ItemsPerSecond() const;
  // Seconds until `items_total` at the measured rate; negative while the rate is unknown.
  double EtaSeconds(uint64_t items_total) const;

 private:
  struct Sample {
    double elapsed_ms;
    uint64_t items_done;
  };
  std::deque<Sample> samples_;  // oldest first, at most kMaxSamples
};

// One line of progress without the carriage return: bar, percent, items done of total, rate,
// ETA, elapsed wall time and workers.
std::string ProgressLine(const JobSummary& job, const ProgressMeter& meter);

// Human forms of quantities: "950", "12.3k", "4.56M"; "850 us", "12.5 ms", "1.23 s"; "42 s",
// "3 min 20 s", "2 h 05 min".
std::string Quantity(double n);
std::string Duration(double ms);
std::string LongDuration(double seconds);

}  // namespace velum::shell

#endif  // VELUM_SHELL_JOB_COMMANDS_H_
