// Tests of the executor's confinement: each forbidden system call kills a confined executor
// with SIGSYS, and confined executors still run every kind of call on both engines.
#include "runtime/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/executor_pool.h"
#include "runtime/process.h"
#include "test_util.h"

extern char** environ;

namespace velum {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using test::I32s;
using test::Spec;

// An executor started by hand with extra arguments, as the pool starts it (channel on fd 3).
class ExecutorProcess {
 public:
  explicit ExecutorProcess(const std::vector<std::string>& extra) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    // Neither end may be fd 3 itself: dup2(3, 3) would keep close-on-exec.
    for (int& end : sv) {
      int moved = fcntl(end, F_DUPFD_CLOEXEC, 10);
      close(end);
      end = moved;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 3);
    std::vector<std::string> args = {VELUM_EXECUTOR_PATH, "3", "0", std::to_string(getpid())};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(sv[1]);
    fd_ = sv[0];
  }
  ~ExecutorProcess() {
    if (fd_ >= 0) close(fd_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int pid() const { return pid_; }
  void CloseChannel() {
    close(fd_);
    fd_ = -1;
  }
  // The wait status once the process ended, or nullopt if it is still running at `timeout`.
  std::optional<int> Wait(milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return status;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    return std::nullopt;
  }

 private:
  int pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
};

std::string DescribeStatus(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

// One line of /proc/PID/status or /proc/PID/limits starting with `key`, or "".
std::string ProcLine(int pid, const std::string& file, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return line;
  return {};
}

class ForbiddenCall : public ::testing::TestWithParam<std::string> {};

// The confined executor tries one forbidden call: the kernel must kill it with SIGSYS.
TEST_P(ForbiddenCall, KillsTheExecutorWithSigsys) {
  ExecutorProcess executor({"--try-forbidden", GetParam()});
  ASSERT_GT(executor.pid(), 0);
  auto status = executor.Wait(milliseconds(20000));
  ASSERT_TRUE(status.has_value()) << "the executor is still running";
  ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSYS)
      << GetParam() << ": the executor " << DescribeStatus(*status) << ", not of SIGSYS";
}

INSTANTIATE_TEST_SUITE_P(Executor, ForbiddenCall,
                         ::testing::Values("open", "openat", "stat", "socket", "connect", "fork",
                                           "clone3", "execve", "ptrace", "kill", "tgkill",
                                           "mmap_exec", "mprotect_exec", "unshare", "mount",
                                           "setrlimit", "memfd_create", "process_vm_readv"),
                         [](const auto& info) { return info.param; });

// A compiled module's constructors run when it is loaded (dlopen), so loading happens under
// confinement too: an object whose constructor opens a file kills the executor with SIGSYS.
TEST(Sandbox, ObjectConstructorsRunConfined) {
  if (!ProgramExists("cc")) GTEST_SKIP() << "no C compiler";
  test::TempDir dir;
  fs::path source = dir.path() / "evil.c", object = dir.path() / "evil.so",
           marker = dir.path() / "opened";
  {
    std::ofstream out(source);
    out << "#include <fcntl.h>\n#include <unistd.h>\n"
           "__attribute__((constructor)) static void evil(void) {\n"
           "  int fd = open(\"/etc/hostname\", O_RDONLY);\n"
           "  if (fd >= 0) close(open(\""
        << marker.string() << "\", O_CREAT | O_WRONLY, 0600));\n}\n";
  }
  ProcessResult cc = RunProcess({"cc", "-shared", "-fPIC", "-o", object.string(), source.string()},
                                milliseconds(60000));
  ASSERT_TRUE(cc.ok()) << cc.output;
  ExecutorProcess executor({"--bind", object.string()});
  ASSERT_GT(executor.pid(), 0);
  auto status = executor.Wait(milliseconds(20000));
  ASSERT_TRUE(status.has_value()) << "the executor is still running";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSYS) << DescribeStatus(*status);
  EXPECT_FALSE(fs::exists(marker)) << "the constructor ran unconfined";
}

// The control for the tests above: the test hook itself does not kill (an unknown name is
// not tried and the executor exits 3), and a confined executor ends normally when its
// channel closes.
TEST(Sandbox, ExecutorLivesUntilItsChannelCloses) {
  {
    ExecutorProcess executor({"--try-forbidden", "no-such-call"});
    auto status = executor.Wait(milliseconds(20000));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << DescribeStatus(*status);
  }
  ExecutorProcess executor({});
  ASSERT_GT(executor.pid(), 0);
  EXPECT_FALSE(executor.Wait(milliseconds(200)).has_value()) << "it should serve its channel";
  executor.CloseChannel();
  auto status = executor.Wait(milliseconds(20000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << DescribeStatus(*status);
}

class ConfinedPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sum_ = test::LoadWasm("sum");
    traps_ = test::LoadWasm("traps");
    primes_ = test::LoadWasm("primes");
    state_ = test::LoadWasm("state");
    ASSERT_TRUE(sum_ && traps_ && primes_ && state_);
  }
  test::TempDir home_;
  ModulePtr sum_, traps_, primes_, state_;
};

// Every executor runs under the filter, with no new privileges and its rlimits.
TEST_F(ConfinedPoolTest, ExecutorsAreConfined) {
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 2));
  ASSERT_TRUE(pool.Start().ok());
  EXPECT_NE(pool.confinement().find("seccomp"), std::string::npos) << pool.confinement();
  ASSERT_TRUE(pool.Call(Spec(sum_, "sum", I32s({1, 2, 3}), EngineKind::kAot)).ok());
  for (int pid : pool.pids()) {
    SCOPED_TRACE("executor " + std::to_string(pid));
    EXPECT_EQ(ProcLine(pid, "status", "Seccomp:"), "Seccomp:\t2");
    EXPECT_EQ(ProcLine(pid, "status", "NoNewPrivs:"), "NoNewPrivs:\t1");
    std::istringstream limits(ProcLine(pid, "limits", "Max file size"));
    std::string a, b, c, soft;
    limits >> a >> b >> c >> soft;
    EXPECT_EQ(soft, "0");
    limits.str(ProcLine(pid, "limits", "Max open files"));
    limits.clear();
    limits >> a >> b >> c >> soft;
    EXPECT_EQ(soft, std::to_string(SandboxLimits{}.open_files));
    limits.str(ProcLine(pid, "limits", "Max address space"));
    limits.clear();
    limits >> a >> b >> c >> soft;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // ApplyLimits sets no RLIMIT_AS under ASan/TSan (their shadow memory is terabytes).
    EXPECT_EQ(soft, "unlimited");
#else
    EXPECT_EQ(soft, std::to_string(SandboxLimits{}.address_space_bytes));
#endif
    // Namespaces, where the kernel allows them: the executor has its own network namespace.
    if (pool.namespaces()) {
      std::error_code ec;
      EXPECT_NE(fs::read_symlink("/proc/self/ns/net", ec),
                fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/net", ec));
    }
  }
}

// Confined executors still do everything a call needs, on both engines: compute, grow
// memory, trap (wasm2c's signal handler), overflow the stack, hit the memory limit.
TEST_F(ConfinedPoolTest, CallsWorkOnBothEngines) {
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 2));
  for (EngineKind engine : {EngineKind::kInterp, EngineKind::kAot}) {
    SCOPED_TRACE(EngineKindName(engine));
    auto primes = pool.Call(Spec(primes_, "count_primes", I32s({0, 100000}), engine));
    ASSERT_TRUE(primes.ok()) << primes.error().ToString();
    EXPECT_EQ(primes->values, std::vector<Value>{Value::I32(9592)});
    EXPECT_EQ(primes->engine, engine);
    auto grow = pool.Call(Spec(state_, "grow", {}, engine));
    ASSERT_TRUE(grow.ok()) << grow.error().ToString();
    auto oob = pool.Call(Spec(traps_, "oob", {}, engine));
    ASSERT_FALSE(oob.ok());
    EXPECT_EQ(oob.error().kind, ErrorKind::kTrap) << oob.error().ToString();
    EXPECT_EQ(oob.error().trap, TrapKind::kOutOfBoundsMemory) << oob.error().ToString();
    auto deep = pool.Call(Spec(traps_, "recurse", I32s({0}), engine, milliseconds(20000)));
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.error().kind, ErrorKind::kTrap) << deep.error().ToString();
    CallSpec bomb = Spec(traps_, "grow_all", {}, engine, milliseconds(20000));
    bomb.max_memory_pages = 64;
    auto grown = pool.Call(bomb);
    ASSERT_TRUE(grown.ok()) << grown.error().ToString();
    EXPECT_EQ(grown->values, std::vector<Value>{Value::I32(64)});
    test::ExpectSumWorks(pool, engine);
  }
  EXPECT_EQ(pool.stats().executors_replaced, 0u) << "a confined executor died";
}

// A WASI command through confined executors: the outcome (output, exit code, the cap, a trap
// after output) is the same on either engine. On auto it runs on the interpreter until it is
// compiled (never raced: a second copy would share its stdin), natively after.
TEST_F(ConfinedPoolTest, WasiCommandsAlikeOnBothEngines) {
  ModulePtr probe = test::LoadWasm("wasi_probe");
  ASSERT_TRUE(probe);
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 2));
  auto run = [&](EngineKind engine, std::vector<std::string> args, uint64_t cap = 0) {
    CallSpec spec = Spec(probe, "_start", {}, engine, milliseconds(60000));
    spec.wasi = CallSpec::Wasi{std::move(args), {"A=1"}, cap};
    return pool.Call(spec);
  };
  auto first = run(EngineKind::kAuto, {"probe", "args"});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->engine, EngineKind::kInterp);
  EXPECT_EQ(first->stdout_data, "argv[0]=probe\nargv[1]=args\nenv A=1\n");

  const struct {
    std::vector<std::string> args;
    uint64_t cap;
  } cases[] = {
      {{"probe"}, 0},
      {{"probe", "args", "x y"}, 0},
      {{"probe", "exit", "3"}, 0},
      {{"probe", "deep", "500", "7"}, 0},
      {{"probe", "trap"}, 0},
      {{"probe", "spam", "5000"}, 1000},
      {{"probe", "clock"}, 0},  // clocks and random_get, confined
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args.back());
    auto interp = run(EngineKind::kInterp, c.args, c.cap);
    auto aot = run(EngineKind::kAot, c.args, c.cap);
    ASSERT_TRUE(interp.ok()) << interp.error().ToString();
    ASSERT_TRUE(aot.ok()) << aot.error().ToString();
    EXPECT_EQ(interp->engine, EngineKind::kInterp);
    EXPECT_EQ(aot->engine, EngineKind::kAot);
    EXPECT_EQ(aot->note, "");
    EXPECT_FALSE(interp->stdout_data.empty() && interp->stderr_data.empty());
    EXPECT_EQ(aot->stdout_data, interp->stdout_data);
    EXPECT_EQ(aot->stderr_data, interp->stderr_data);
    EXPECT_EQ(aot->exit_code, interp->exit_code);
    EXPECT_EQ(aot->output_truncated, interp->output_truncated);
    EXPECT_EQ(aot->values, interp->values);
    if (c.args.back() == "clock") {
      EXPECT_EQ(aot->stdout_data, "clock and random: ok\n");
    }
    ASSERT_EQ(aot->failure.has_value(), interp->failure.has_value());
    if (aot->failure) {
      EXPECT_EQ(aot->failure->kind, interp->failure->kind);
      EXPECT_EQ(aot->failure->trap, interp->failure->trap);
    }
  }
  auto exited = run(EngineKind::kAot, {"probe", "deep", "500", "7"});
  ASSERT_TRUE(exited.ok()) << exited.error().ToString();
  EXPECT_EQ(exited->exit_code, 7u);
  EXPECT_EQ(exited->stdout_data, "descending 500\nbottom reached\n");
  auto trapped = run(EngineKind::kAot, {"probe", "trap"});
  ASSERT_TRUE(trapped.ok()) << trapped.error().ToString();
  ASSERT_TRUE(trapped->failure);
  EXPECT_EQ(trapped->failure->trap, TrapKind::kUnreachable);
  EXPECT_EQ(trapped->stdout_data, "before the trap\n");
  auto capped = run(EngineKind::kAot, {"probe", "spam", "5000"}, 1000);
  ASSERT_TRUE(capped.ok()) << capped.error().ToString();
  EXPECT_TRUE(capped->output_truncated);
  EXPECT_EQ(capped->stdout_data, std::string(1000, 'x'));

  auto later = run(EngineKind::kAuto, {"probe", "args"});  // compiled by now
  ASSERT_TRUE(later.ok()) << later.error().ToString();
  EXPECT_EQ(later->engine, EngineKind::kAot);
  EXPECT_EQ(later->stdout_data, first->stdout_data);
  EXPECT_EQ(pool.stats().executors_replaced, 0u) << "a confined executor died";
}

// A confined executor runs native code only from the object it was bound to at start: calls
// of several compiled modules on one slot restart it bound to each in turn, and every answer
// is right.
TEST_F(ConfinedPoolTest, NativeCallsRebindTheExecutor) {
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 1));
  ASSERT_TRUE(pool.CompileNow(sum_).ok());
  ASSERT_TRUE(pool.CompileNow(primes_).ok());
  for (int round = 0; round < 3; round++) {
    auto s = pool.Call(Spec(sum_, "sum", I32s({1, 2, round}), EngineKind::kAot));
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    EXPECT_EQ(s->values, std::vector<Value>{Value::I32(3 + round)});
    EXPECT_EQ(s->engine, EngineKind::kAot);
    auto p = pool.Call(Spec(primes_, "count_primes", I32s({0, 1000}), EngineKind::kAot));
    ASSERT_TRUE(p.ok()) << p.error().ToString();
    EXPECT_EQ(p->values, std::vector<Value>{Value::I32(168)});
    // Interpreter calls run on whatever the executor is bound to.
    test::ExpectSumWorks(pool, EngineKind::kInterp);
  }
  EXPECT_EQ(pool.stats().executors_rebound, 6u);
  EXPECT_EQ(pool.stats().executors_replaced, 0u);
  // Bound already: the same module again costs no restart.
  int pid = pool.pids()[0];
  ASSERT_TRUE(pool.Call(Spec(primes_, "count_primes", I32s({0, 10}), EngineKind::kAot)).ok());
  EXPECT_EQ(pool.pids()[0], pid);
  EXPECT_EQ(pool.stats().executors_rebound, 6u);
}

// The module travels as a descriptor, once per executor: a store entry deleted after the
// executor got it costs nothing, and one deleted before is written again.
TEST_F(ConfinedPoolTest, ModulesArriveAsDescriptors) {
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 1));
  test::ExpectSumWorks(pool);
  fs::path stored = home_.path() / "modules" / (sum_->hash_hex() + ".wasm");
  ASSERT_TRUE(fs::exists(stored));
  fs::remove(stored);
  test::ExpectSumWorks(pool);  // held by the executor
  EXPECT_FALSE(fs::exists(stored));
  // A new executor must be sent the module again: the pool writes it back first. A cancelled
  // call makes the pool replace the executor before it returns.
  int pid = pool.pids()[0];
  std::atomic<bool> cancel{true};
  CallSpec spin = Spec(traps_, "spin", {}, EngineKind::kInterp, milliseconds(20000));
  spin.cancel = &cancel;
  auto spun = pool.Call(spin);
  ASSERT_FALSE(spun.ok());
  ASSERT_EQ(spun.error().kind, ErrorKind::kCancelled) << spun.error().ToString();
  ASSERT_NE(pool.pids()[0], pid);
  test::ExpectSumWorks(pool);
  EXPECT_TRUE(fs::exists(stored));
}

// RLIMIT_CPU: an executor retires (answers, then is restarted) once it has used half its CPU
// budget, so no call meets the limit; a single call longer than the budget is killed by it.
TEST_F(ConfinedPoolTest, CpuBudget) {
  PoolOptions options = test::TestPoolOptions(home_.path(), 1);
  options.executor_cpu_seconds = 2;
  ExecutorPool pool(options);
  ASSERT_TRUE(pool.Start().ok());
  int first = pool.pids()[0];
  // Calls short enough (about 0.1 s of CPU each) that none can cross the second half of the
  // budget alone, even on a loaded machine: the executor retires between two of them.
  for (int i = 0; i < 400 && pool.stats().executors_retired == 0; i++) {
    auto out = pool.Call(Spec(primes_, "count_primes", I32s({0, 100000}), EngineKind::kInterp));
    ASSERT_TRUE(out.ok()) << out.error().ToString();
    EXPECT_EQ(out->values, std::vector<Value>{Value::I32(9592)});
  }
  EXPECT_EQ(pool.stats().executors_retired, 1u);
  EXPECT_EQ(pool.stats().executors_replaced, 0u);
  EXPECT_NE(pool.pids()[0], first);
  auto spin = pool.Call(Spec(traps_, "spin", {}, EngineKind::kAot, milliseconds(60000)));
  ASSERT_FALSE(spin.ok());
  EXPECT_EQ(spin.error().kind, ErrorKind::kExecutorCrashed) << spin.error().ToString();
  test::ExpectSumWorks(pool);
}

}  // namespace
}  // namespace velum
