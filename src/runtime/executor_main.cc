// velum-executor: the sandbox process started by the executor pool; never run by hand.
// Usage: velum-executor FD MAX_DATA_BYTES PARENT_PID [--cpu-seconds N] [--bind OBJECT | --files]
// [--report]. It confines itself, serves the channel on FD until it closes, dies with the parent.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/channel.h"
#include "runtime/executor.h"
#include "runtime/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
// ASan builds only: LeakSanitizer's check at exit stops the world with clone and ptrace and
// reads /proc/self, which the executor's allow-list must never grant (seccomp kills it at
// exit with SIGSYS). The engines' leaks are checked where they run unconfined: the unit tests
// load and call modules in-process. A module's huge request (a table.grow by 2^31 entries)
// must fail as the release allocator fails it, with a null the engine turns into -1 or a
// limit, not end in ASan's allocation-size report; and a report must not probe the terminal
// (ioctl is outside the allow-list).
extern "C" const char* __asan_default_options() {
  return "detect_leaks=0:allocator_may_return_null=1:color=never";
}
#endif
#if defined(__SANITIZE_THREAD__)
// TSan builds only: a wasm2c trap leaves its SIGSEGV handler by siglongjmp, by design, which
// TSan reports as a signal-unsafe call; its report would read /proc/self/exe to symbolize,
// which confinement refuses (SIGSYS). Seen in ConfinedPoolTest.CallsWorkOnBothEngines.
extern "C" const char* __tsan_default_options() { return "report_signal_unsafe=0"; }
#endif

namespace {

pid_t parent_pid = 0;
velum::SandboxReport namespaces_report;  // what Confine got, for Seal's report

// Ends this process when the parent process ends, even in the middle of a call: a timer
// checks every 100 ms whether it was reparented. PR_SET_PDEATHSIG cannot do it: it fires when
// the parent *thread* that spawned us exits, and the pool respawns executors from whichever
// thread saw the old one die. A timer, not a watcher thread, keeps the executor
// single-threaded, so its channel is closed by the time it shows as dead, and no thread can be
// caught half-started by the system-call filter.
void CheckParent(int) {
  if (getppid() != parent_pid) _exit(1);
}

bool WatchParent() {
  struct sigaction action {};
  action.sa_handler = CheckParent;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGALRM, &action, nullptr) != 0) return false;
  itimerval every{{0, 100000}, {0, 100000}};
  if (setitimer(ITIMER_REAL, &every, nullptr) != 0) return false;
  CheckParent(0);
  return true;
}

struct Arguments {
  int fd = -1;
  velum::SandboxLimits limits;
  std::string bind;  // --bind OBJECT: the AOT object to load before confinement
  // --files: a files executor (ExecutorSetup::files), for one call with preopened directories.
  velum::ExecutorMode mode = velum::ExecutorMode::kCompute;
  bool report = false;        // --report: send the pool one frame saying what confinement got
  std::string try_forbidden;  // --try-forbidden NAME: tests only, see sandbox.h
};

// The test hook's name for TryPreopenEscape, tried once the call's Landlock layer is in place.
constexpr char kTryEscape[] = "escape";

// Everything in order: namespaces (the process must be single-threaded), the parent watch,
// the rlimits, and the loading filter; a compiled module is loaded under it.
bool Confine(const Arguments& args) {
  velum::SandboxReport report;
  velum::EnterNamespaces(&report);
  if (!WatchParent()) return false;
  velum::Status s = velum::ApplyLimits(args.limits);
  if (s.ok()) s = velum::InstallSyscallFilter(velum::FilterStage::kLoading, args.mode);
  if (!s.ok()) {
    std::fprintf(stderr, "velum-executor: cannot confine itself: %s\n", s.error().message.c_str());
    return false;
  }
  namespaces_report = report;
  return true;
}

// The serving filter, then the report to the pool (and the tests' forbidden call).
bool Seal(const Arguments& args) {
  if (velum::Status s = velum::InstallSyscallFilter(velum::FilterStage::kServing, args.mode);
      !s.ok()) {
    std::fprintf(stderr, "velum-executor: cannot confine itself: %s\n", s.error().message.c_str());
    return false;
  }
  if (args.report && !velum::WriteFrame(args.fd, namespaces_report.Encode())) return false;
  // The escape is tried later, in a files executor, once its call's Landlock layer is in place.
  bool escape_later = args.mode == velum::ExecutorMode::kFiles && args.try_forbidden == kTryEscape;
  if (!args.try_forbidden.empty() && !escape_later) {
    bool known = velum::TryForbiddenCall(args.try_forbidden);
    std::fprintf(stderr, "velum-executor: %s %s\n", args.try_forbidden.c_str(),
                 known ? "was not stopped" : "is not a known forbidden call");
    _exit(3);
  }
  return true;
}

// Test only (--files --try-forbidden escape): instead of running the call, sends the pool one
// frame saying what arrived ("received GUEST_PATH ro|rw dir|other" per directory) and what
// TryPreopenEscape got in the first directory, then exits 3.
void ReportEscape(int channel, const std::vector<velum::ExecPreopen>& preopens,
                  const std::vector<int>& fds) {
  std::string report;
  for (size_t i = 0; i < preopens.size() && i < fds.size(); i++) {
    struct stat st {};
    bool dir = fstat(fds[i], &st) == 0 && S_ISDIR(st.st_mode);
    report += "received " + preopens[i].guest_path + (preopens[i].read_only ? " ro" : " rw") +
              (dir ? " dir\n" : " other\n");
  }
  if (!fds.empty()) report += velum::TryPreopenEscape(fds[0]);
  velum::WriteFrame(channel, std::vector<uint8_t>(report.begin(), report.end()));
  _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "velum-executor: started by the node's executor pool, not by hand\n");
    return 2;
  }
  Arguments args;
  args.fd = std::atoi(argv[1]);
  args.limits.data_bytes = std::strtoull(argv[2], nullptr, 10);
  parent_pid = static_cast<pid_t>(std::atol(argv[3]));
  for (int i = 4; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--bind" && i + 1 < argc)
      args.bind = argv[++i];
    else if (a == "--cpu-seconds" && i + 1 < argc)
      args.limits.cpu_seconds = std::max<uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
    else if (a == "--files")
      args.mode = velum::ExecutorMode::kFiles;
    else if (a == "--report")
      args.report = true;
    else if (a == "--try-forbidden" && i + 1 < argc)
      args.try_forbidden = argv[++i];
    else
      return 2;
  }
  // Nothing but the executor's own code may run in a files executor before its Landlock layer
  // is in place: a bound object is loaded (its constructors run) only after it (executor.cc).
  if (args.mode == velum::ExecutorMode::kFiles) args.limits.AllowFiles();
  if (getppid() != parent_pid) return 1;  // the parent died before we got here
  // Wasm is batch work: SCHED_BATCH lets the scheduler give it longer time slices and keeps
  // its wake-ups from preempting others, so the node's own loop (heartbeats, reports) runs
  // promptly and executors sharing a core switch less (fewer cold caches). No privilege needed.
  sched_param batch{};
  sched_setscheduler(0, SCHED_BATCH, &batch);
  // Every call builds and frees an instance; without this glibc returns the freed heap to
  // the kernel after each call and faults it back in on the next (measured: interpreter
  // p50 of a trivial call 190 us -> 60 us).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  if (sodium_init() < 0) return 1;  // module hashes; it may read /dev/urandom, so now
  velum::ExecutorSetup setup;
  setup.bound_object = args.bind;
  if (!args.bind.empty()) {
    // Opened now, loaded once confined: dlopen would run the object's constructors.
    setup.bound_fd = open(args.bind.c_str(), O_RDONLY | O_CLOEXEC);
    if (setup.bound_fd < 0)
      setup.bound_error = "cannot open " + args.bind + ": " + std::strerror(errno);
  }
  setup.confine = [&args] {
    if (!Confine(args)) return false;
    // Tests of a files executor's filter try their forbidden call at once (Seal), as any
    // executor does, rather than after a call that never comes.
    if (args.mode == velum::ExecutorMode::kFiles && !args.try_forbidden.empty() &&
        args.try_forbidden != kTryEscape)
      return Seal(args);
    return true;
  };
  setup.seal = [&args] { return Seal(args); };
  setup.retire_after_cpu_seconds = args.limits.cpu_seconds / 2;
  setup.files = args.mode == velum::ExecutorMode::kFiles;
  if (setup.files && args.try_forbidden == kTryEscape)
    setup.after_landlock = [&args](const std::vector<velum::ExecPreopen>& preopens,
                                   const std::vector<int>& fds) {
      ReportEscape(args.fd, preopens, fds);
    };
  return velum::RunExecutor(args.fd, setup);
}
