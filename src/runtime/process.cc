// Child processes for the compiler pipeline: fork and exec with rlimits, merged output, kill
// at the deadline. The child gets its own process group so a compiler's children die with it.
#include "runtime/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace velum {

namespace {

// `wanted` (0: keep) as a limit no higher than the hard limit the caller already has.
bool LimitFor(int resource, uint64_t wanted, uint64_t hard_extra, rlimit* out) {
  if (wanted == 0 || getrlimit(resource, out) != 0) return false;
  rlim_t soft = static_cast<rlim_t>(wanted), hard = soft + static_cast<rlim_t>(hard_extra);
  if (out->rlim_max != RLIM_INFINITY) {
    soft = std::min(soft, out->rlim_max);
    hard = std::min(hard, out->rlim_max);
  }
  out->rlim_cur = soft;
  out->rlim_max = hard;
  return true;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const ProcessLimits& limits) {
  ProcessResult result;
  if (argv.empty()) return result;
  // Everything the child needs is prepared here: between fork and exec a multi-threaded
  // parent's child may only make async-signal-safe calls (no allocation, no PATH search).
  std::string program = FindProgram(argv[0]);
  if (program.empty()) {
    result.output = argv[0] + ": " + strerror(ENOENT);
    return result;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  rlimit as_limit{}, cpu_limit{};
  bool set_as = LimitFor(RLIMIT_AS, limits.address_space_bytes, 0, &as_limit);
  // One second between SIGXCPU and the hard limit's SIGKILL, for a tool that catches the first.
  bool set_cpu = LimitFor(RLIMIT_CPU, limits.cpu_seconds, 1, &cpu_limit);
  int pipefd[2], errfd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return result;
  // The child writes its errno here if exec fails; a successful exec closes it (EOF).
  if (pipe2(errfd, O_CLOEXEC) != 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Its own process group, so a compiler's own children die with it at the deadline.
    setpgid(0, 0);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
      _exit(127);
    // None of the caller's other descriptors (a node's sockets) stay open in the compiler.
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
    if ((set_as && setrlimit(RLIMIT_AS, &as_limit) != 0) ||
        (set_cpu && setrlimit(RLIMIT_CPU, &cpu_limit) != 0)) {
      int err = errno;
      ssize_t ignored = write(errfd[1], &err, sizeof err);
      (void)ignored;
      _exit(127);
    }
    execv(program.c_str(), args.data());
    int err = errno;
    ssize_t ignored = write(errfd[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  close(pipefd[1]);
  close(errfd[1]);
  if (pid < 0) {
    int err = errno;
    close(pipefd[0]);
    close(errfd[0]);
    result.output = argv[0] + ": " + strerror(err);
    return result;
  }
  setpgid(pid, pid);  // also here: a kill at the deadline must not race the child's own call
  int exec_errno = 0;
  ssize_t got_errno;
  while ((got_errno = read(errfd[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  close(errfd[0]);
  if (got_errno == static_cast<ssize_t>(sizeof exec_errno)) {
    close(pipefd[0]);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    result.output = argv[0] + ": " + strerror(exec_errno);
    return result;
  }
  result.started = true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) continue;
    ssize_t got = read(pipefd[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child closed its output (normally, it exited)
    if (result.output.size() < 65536) result.output.append(buf, got);
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

std::string FindProgram(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return access(program.c_str(), X_OK) == 0 ? program : std::string();
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0)
      return dir + "/" + program;
  }
  return {};
}

bool ProgramExists(const std::string& program) { return !FindProgram(program).empty(); }

}  // namespace velum
