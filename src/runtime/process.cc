// Child processes for the compiler pipeline: posix_spawn with rlimits (through prlimit), merged
// output, kill at the deadline. Its own process group, so a compiler's children die with it.
#include "runtime/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

extern char** environ;

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
  std::string program = FindProgram(argv[0]);
  if (program.empty()) {
    result.output = argv[0] + ": " + strerror(ENOENT);
    return result;
  }
  // Limits go through util-linux's prlimit, which sets them on itself and execs the tool:
  // posix_spawn (the node is multi-threaded and holds sockets: no fork) has no rlimit action.
  std::vector<std::string> command;
  rlimit as_limit{}, cpu_limit{};
  bool set_as = LimitFor(RLIMIT_AS, limits.address_space_bytes, 0, &as_limit);
  // One second between SIGXCPU and the hard limit's SIGKILL, for a tool that catches the first.
  bool set_cpu = LimitFor(RLIMIT_CPU, limits.cpu_seconds, 1, &cpu_limit);
  if (set_as || set_cpu) {
    std::string prlimit = FindProgram("prlimit");
    if (prlimit.empty()) {
      result.output =
          "prlimit (util-linux) is needed to limit " + argv[0] + ": " + strerror(ENOENT);
      return result;
    }
    command.push_back(prlimit);
    auto pair = [](const rlimit& l) {
      return std::to_string(l.rlim_cur) + ":" + std::to_string(l.rlim_max);
    };
    if (set_as) command.push_back("--as=" + pair(as_limit));
    if (set_cpu) command.push_back("--cpu=" + pair(cpu_limit));
    command.push_back("--");
  }
  command.push_back(program);
  command.insert(command.end(), argv.begin() + 1, argv.end());
  std::vector<char*> args;
  for (auto& a : command) args.push_back(a.data());
  args.push_back(nullptr);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);  // dup2 clears close-on-exec
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  // None of the caller's other descriptors (a node's sockets) reach the compiler.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a compiler's own children die with it at the deadline; and the
  // default signal dispositions and an empty mask, whatever the calling thread had.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipefd[1]);
  if (rc != 0 || pid <= 0) {
    close(pipefd[0]);
    result.output = argv[0] + ": " + strerror(rc);
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
