// Spec scripts in child processes: each attempt is a fork that reports its result in a file
// and the line it is running in a shared page, so the parent can name what killed it.
#include "conformance/script_process.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace velum::conformance {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kMaxAttempts = 16;  // crashed commands per script before giving up

// How one child ended: with a result, or dead while running the command at `line`.
struct Attempt {
  bool finished = false;
  ScriptResult result;
  int line = 0;  // 0: not inside a command
  std::string death;
};

// One int in memory shared with the children: the line of the command being run.
class SharedLine {
 public:
  SharedLine() {
    void* page =
        mmap(nullptr, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    line_ = page == MAP_FAILED ? nullptr : static_cast<volatile int*>(page);
  }
  ~SharedLine() {
    if (line_) munmap(const_cast<int*>(line_), sizeof(int));
  }
  SharedLine(const SharedLine&) = delete;
  SharedLine& operator=(const SharedLine&) = delete;

  void Set(int line) {
    if (line_) *line_ = line;
  }
  int Get() const { return line_ ? *line_ : 0; }

 private:
  volatile int* line_ = nullptr;
};

[[noreturn]] void RunChild(const fs::path& json_path, const EngineFactory& factory,
                           RunOptions options, SharedLine* line, const fs::path& out) {
  options.on_progress = [line](int l) { line->Set(l); };
  ScriptResult result = RunScript(json_path, factory, options);
  std::ofstream file(out);
  file << ScriptResultToJson(result).dump();
  file.close();
  std::_Exit(file ? 0 : 3);  // no atexit handlers or stdio flushes: they are the parent's
}

// Waits for `pid`, killing it at `deadline`. False when it had to be killed.
bool WaitOrKill(pid_t pid, Clock::time_point deadline, int* status) {
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    pid_t done = waitpid(pid, status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return true;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
      }
      return false;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

void ReadChildResult(const fs::path& out, Attempt* attempt) {
  std::ifstream file(out);
  try {
    attempt->result = ScriptResultFromJson(nlohmann::json::parse(file));
    attempt->finished = true;
  } catch (const std::exception& e) {
    attempt->death = std::string("unreadable result from the child: ") + e.what();
  }
}

Attempt RunAttempt(const fs::path& json_path, const EngineFactory& factory,
                   const RunOptions& options, std::chrono::seconds timeout) {
  SharedLine line;
  fs::path out = json_path.parent_path() / "velum-conformance-result.json";
  std::error_code ec;
  fs::remove(out, ec);
  std::fflush(stdout);
  std::fflush(stderr);
  Attempt attempt;
  pid_t pid = fork();
  if (pid < 0) {
    attempt.death = std::string("fork failed: ") + std::strerror(errno);
    return attempt;
  }
  if (pid == 0) RunChild(json_path, factory, options, &line, out);
  int status = 0;
  bool exited = WaitOrKill(pid, Clock::now() + timeout, &status);
  attempt.line = line.Get();
  if (!exited) {
    attempt.death = "hung: killed after " + std::to_string(timeout.count()) + " s";
  } else if (WIFSIGNALED(status)) {
    attempt.death = std::string("crashed the process: ") + strsignal(WTERMSIG(status));
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    attempt.death = "the child exited with status " + std::to_string(WEXITSTATUS(status));
  } else {
    ReadChildResult(out, &attempt);
  }
  fs::remove(out, ec);
  return attempt;
}

ScriptResult Fatal(const fs::path& json_path, std::string message) {
  ScriptResult result;
  result.name = json_path.stem().string();
  result.fatal = std::move(message);
  result.total.failed = 1;
  return result;
}

}  // namespace

ScriptResult RunScriptIsolated(const fs::path& json_path, const EngineFactory& factory,
                               const RunOptions& options, std::chrono::seconds timeout) {
  auto start = Clock::now();
  RunOptions attempt_options = options;
  ScriptResult result =
      Fatal(json_path, "crashed in more than " + std::to_string(kMaxAttempts) + " commands");
  for (int i = 0; i < kMaxAttempts; i++) {
    Attempt attempt = RunAttempt(json_path, factory, attempt_options, timeout);
    if (attempt.finished) {
      result = std::move(attempt.result);
      break;
    }
    if (attempt.line == 0 || attempt_options.do_not_run.count(attempt.line)) {
      result = Fatal(json_path, attempt.death + " outside any command");
      break;
    }
    attempt_options.do_not_run[attempt.line] = attempt.death;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace velum::conformance
