// Running a helper program (wasm2c, the C compiler) as a child with a time limit.
// Output is captured so a failure can be reported with the tool's own message.
#ifndef VELUM_RUNTIME_PROCESS_H_
#define VELUM_RUNTIME_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace velum {

struct ProcessResult {
  bool started = false;    // false: the program could not be executed at all
  bool timed_out = false;  // killed at the deadline
  int exit_code = -1;      // valid when exited normally
  int signal = 0;          // non-zero when killed by a signal
  std::string output;      // stdout and stderr, merged, truncated to 64 KiB
  bool ok() const { return started && !timed_out && signal == 0 && exit_code == 0; }
};

// Resource limits the child runs under, set by util-linux's prlimit before it execs the tool
// (inherited by the tool's own children, e.g. cc's cc1 and as, each of which gets the whole
// limit). 0: the caller's limit is kept.
struct ProcessLimits {
  uint64_t address_space_bytes = 0;  // RLIMIT_AS: allocations beyond it fail
  uint64_t cpu_seconds = 0;          // RLIMIT_CPU: SIGXCPU, then SIGKILL one second later
};

ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const ProcessLimits& limits = {});

// The path `program` runs from (searched on PATH unless it has a '/'), or "" if none.
std::string FindProgram(const std::string& program);
// Whether `program` can be found on PATH (or is an executable path).
bool ProgramExists(const std::string& program);

}  // namespace velum

#endif  // VELUM_RUNTIME_PROCESS_H_
