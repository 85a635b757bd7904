// Tests of the executor's confinement: each forbidden system call kills a confined executor
// with SIGSYS, confined executors still run every kind of call on both engines, and a files
// executor reaches its preopened directories and nothing else of the file system.
#include "runtime/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "runtime/channel.h"
#include "runtime/executor.h"
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
  int channel() const { return fd_; }
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

// Descriptors open in this process now.
size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) n++;
  return n;
}

// Descriptors of process `pid` that are `dir`.
int DescriptorsOf(const std::string& pid, const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + pid + "/fd"))
    n += fs::equivalent(e.path(), dir, ec);
  return n;
}

// One line of /proc/PID/status or /proc/PID/limits starting with `key`, or "".
std::string ProcLine(int pid, const std::string& file, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return line;
  return {};
}

// An executor started with `extra` that tries one forbidden call: the kernel must kill it
// with SIGSYS.
void ExpectKilledBySigsys(std::vector<std::string> extra, const std::string& name) {
  extra.insert(extra.end(), {"--try-forbidden", name});
  ExecutorProcess executor(extra);
  ASSERT_GT(executor.pid(), 0);
  auto status = executor.Wait(milliseconds(20000));
  ASSERT_TRUE(status.has_value()) << "the executor is still running";
  ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSYS)
      << name << ": the executor " << DescribeStatus(*status) << ", not of SIGSYS";
}

// Forbidden to every executor: the 18 of the first allow-list, then calls that name a path
// from the working directory (AT_FDCWD, also with a zero high half) and utimensat by path.
const std::vector<std::string> kForbiddenEverywhere = {
    "open",          "openat",       "stat",
    "socket",        "connect",      "fork",
    "clone3",        "execve",       "ptrace",
    "kill",          "tgkill",       "mmap_exec",
    "mprotect_exec", "unshare",      "mount",
    "setrlimit",     "memfd_create", "process_vm_readv",
    "openat_cwd32",  "openat2_cwd",  "statx_cwd",
    "utimensat_path"};
// What a files executor may do on a descriptor, and no other executor may.
const std::vector<std::string> kFilesExecutorsOnly = {"openat_dirfd", "mkdirat", "getdents64",
                                                      "landlock"};

std::vector<std::string> ForbiddenToComputeExecutors() {
  std::vector<std::string> all = kForbiddenEverywhere;
  all.insert(all.end(), kFilesExecutorsOnly.begin(), kFilesExecutorsOnly.end());
  return all;
}

class ForbiddenCall : public ::testing::TestWithParam<std::string> {};

// The confined executor tries one forbidden call: the kernel must kill it with SIGSYS.
TEST_P(ForbiddenCall, KillsTheExecutorWithSigsys) { ExpectKilledBySigsys({}, GetParam()); }

INSTANTIATE_TEST_SUITE_P(Executor, ForbiddenCall,
                         ::testing::ValuesIn(ForbiddenToComputeExecutors()),
                         [](const auto& info) { return info.param; });

// A files executor's filter adds file system calls on descriptors only: everything else
// forbidden to the others stays forbidden to it (its Landlock layer comes on top, per call).
class ForbiddenCallInFilesExecutor : public ::testing::TestWithParam<std::string> {};

TEST_P(ForbiddenCallInFilesExecutor, KillsTheExecutorWithSigsys) {
  ExpectKilledBySigsys({"--files"}, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Executor, ForbiddenCallInFilesExecutor,
                         ::testing::ValuesIn(kForbiddenEverywhere),
                         [](const auto& info) { return info.param; });

// Lines "NAME OUTCOME" (or "received GUEST ro|rw dir") of a files executor's escape report,
// by NAME; the "received" lines in order under "received".
struct EscapeReport {
  std::string text;  // the whole report, for a failure's message
  std::map<std::string, std::string> outcomes;
  std::vector<std::string> received;
};

// Sends a files executor started with --try-forbidden escape a request with `preopens`
// (the descriptors of `dirs`) and reads its report.
std::optional<EscapeReport> TryEscape(ExecutorProcess& executor,
                                      const std::vector<ExecPreopen>& preopens,
                                      const std::vector<fs::path>& dirs) {
  ExecRequest req;
  req.wasi = true;
  req.module_hash = "not needed: the hook runs before the module is read";
  req.wasi_preopens = preopens;
  std::vector<int> fds;
  for (const auto& d : dirs) fds.push_back(open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  bool sent = WriteFrame(executor.channel(), req.Encode(), fds);
  for (int fd : fds) close(fd);
  if (!sent) return std::nullopt;
  pollfd p{executor.channel(), POLLIN, 0};
  std::vector<uint8_t> frame;
  if (poll(&p, 1, 20000) <= 0 || !ReadFrame(executor.channel(), &frame)) return std::nullopt;
  EscapeReport report;
  report.text.assign(frame.begin(), frame.end());
  std::istringstream lines(report.text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("received ", 0) == 0) {
      report.received.push_back(line.substr(9));
      continue;
    }
    size_t space = line.find(' ');
    report.outcomes[line.substr(0, space)] = line.substr(space + 1);
  }
  return report;
}

// A files executor is confined by its call's Landlock layer to the preopened directories:
// even native code that tries (the test hook, after the layer is in place) reads, lists and,
// when read-write, creates inside; but it cannot reach outside by `..`, an absolute path through
// openat or openat2, a symbolic link out, nor create, remove, rename or link across the edge:
// the kernel says EACCES or EXDEV, and nothing outside changed. It also received what was sent:
// each directory, its name and its flag, in order.
class PreopenEscape : public ::testing::TestWithParam<bool> {};

TEST_P(PreopenEscape, NothingOutsideThePreopenIsReached) {
  if (LandlockAbi() == 0) GTEST_SKIP() << "this kernel has no Landlock";
  const bool read_only = GetParam();
  test::TempDir tmp;
  fs::path pre = tmp.path() / "pre", other = tmp.path() / "other";
  fs::create_directory(pre);
  fs::create_directory(other);
  std::ofstream(pre / "inside") << "in";
  std::ofstream(tmp.path() / "outside") << "out";
  fs::create_symlink("../outside", pre / "link");
  ExecutorProcess executor({"--files", "--try-forbidden", "escape"});
  ASSERT_GT(executor.pid(), 0);
  auto report = TryEscape(executor, {{"/data", read_only}, {"/other", !read_only}}, {pre, other});
  ASSERT_TRUE(report.has_value()) << "no report from the executor";
  SCOPED_TRACE("the executor's report:\n" + report->text);
  EXPECT_EQ(report->received,
            (std::vector<std::string>{read_only ? "/data ro dir" : "/data rw dir",
                                      read_only ? "/other rw dir" : "/other ro dir"}));
  auto& got = report->outcomes;
  EXPECT_EQ(got["read_inside"], "ok");
  EXPECT_EQ(got["list_inside"], "ok");
  EXPECT_EQ(got["create_inside"], read_only ? "EACCES" : "ok");
  for (const char* name :
       {"dotdot", "absolute", "root_dir", "parent_dir", "openat2_absolute", "openat2_dotdot",
        "symlink_out", "create_outside", "mkdir_outside", "symlink_outside", "unlink_outside",
        "rename_out", "rename_in", "link_out"}) {
    ASSERT_TRUE(got.count(name)) << name << " was not tried";
    EXPECT_TRUE(got[name] == "EACCES" || got[name] == "EXDEV") << name << ": " << got[name];
  }
  auto status = executor.Wait(milliseconds(20000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << DescribeStatus(*status);
  // Nothing outside the directory changed.
  EXPECT_EQ(test::ReadBytes(tmp.path() / "outside"), (std::vector<uint8_t>{'o', 'u', 't'}));
  EXPECT_TRUE(fs::exists(pre / "inside"));
  EXPECT_EQ(fs::exists(pre / "created"), !read_only);
  for (const char* left : {"made", "moved", "linked", "created", "symlinked"})
    EXPECT_FALSE(fs::exists(fs::symlink_status(tmp.path() / left))) << left;
  EXPECT_FALSE(fs::exists(pre / "moved_in"));
}

INSTANTIATE_TEST_SUITE_P(FilesExecutor, PreopenEscape, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "ReadOnly" : "ReadWrite"; });

// Only a files executor takes directories: any other answers with an error, runs nothing and
// keeps none of them; and a files executor is never bound to an object (whose constructors
// would run before its Landlock layer).
TEST(Sandbox, OnlyAFilesExecutorTakesDirectories) {
  test::TempDir tmp;
  ExecutorProcess executor({});
  ASSERT_GT(executor.pid(), 0);
  ExecRequest req;
  req.wasi = true;
  req.module_hash = "none";
  req.wasi_preopens = {{"/data", false}};
  int dir = open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_TRUE(WriteFrame(executor.channel(), req.Encode(), {dir}));
  close(dir);
  pollfd p{executor.channel(), POLLIN, 0};
  std::vector<uint8_t> frame;
  ExecResponse resp;
  ASSERT_GT(poll(&p, 1, 20000), 0);
  ASSERT_TRUE(ReadFrame(executor.channel(), &frame) && ExecResponse::Decode(frame, &resp));
  EXPECT_FALSE(resp.ok);
  EXPECT_NE(resp.error.message.find("not a files executor"), std::string::npos)
      << resp.error.message;
  // It holds no descriptor of the directory (its own are 0-3 and the parent watch's none).
  EXPECT_EQ(DescriptorsOf(std::to_string(executor.pid()), tmp.path()), 0);
}

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
    spec.wasi = CallSpec::Wasi{std::move(args), {"A=1"}, cap, {}, std::nullopt, std::nullopt, {}};
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

// wasi_wc (examples/wasi/wc.c) with `args`, given `preopens`.
CallSpec WcSpec(const ModulePtr& wc, std::vector<std::string> args,
                std::vector<CallSpec::Wasi::Preopen> preopens) {
  CallSpec spec = Spec(wc, "_start", {});
  CallSpec::Wasi wasi;
  wasi.args = std::move(args);
  wasi.preopens = std::move(preopens);
  spec.wasi = std::move(wasi);
  return spec;
}

// A call with preopened directories runs in a files executor started for it in a slot, which
// ends with the call (reaped, not left a zombie): the slot stays vacant until a call needs it,
// the other slot's executor is untouched, and the pool keeps no descriptor of the directories.
TEST_F(ConfinedPoolTest, PreopensRunInAFilesExecutorThatEndsWithTheCall) {
  if (LandlockAbi() == 0) GTEST_SKIP() << "this kernel has no Landlock";
  ModulePtr wc = test::LoadWasm("wasi_wc");
  ASSERT_TRUE(wc);
  test::TempDir data;
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 2));
  ASSERT_TRUE(pool.Start().ok());
  const std::vector<int> before = pool.pids();
  const size_t fds_before = OpenFds();  // the pool's: the executors' channels
  CallSpec spec = WcSpec(wc, {"wasi_wc.wasm", "exit", "5"},
                         {{data.path(), "/data", false}, {data.path(), "/ro", true}});
  auto out = pool.Call(spec);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->exit_code, 5u);
  EXPECT_NE(out->stdout_data.find("argv[1]=exit"), std::string::npos) << out->stdout_data;
  EXPECT_EQ(pool.stats().files_executors, 1u);
  EXPECT_EQ(pool.stats().executors_replaced, 0u);
  EXPECT_EQ(DescriptorsOf("self", data.path()), 0) << "the pool kept a descriptor of it";
  EXPECT_EQ(OpenFds(), fds_before - 1) << "one channel fewer (the vacant slot's), no more";
  std::vector<int> after = pool.pids();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(std::count(after.begin(), after.end(), -1), 1) << "one slot should be vacant";
  int kept = after[0] == -1 ? after[1] : after[0];
  EXPECT_TRUE(std::find(before.begin(), before.end(), kept) != before.end());
  for (int pid : before) {
    if (pid == kept) continue;
    EXPECT_EQ(test::ProcessState(pid), 0) << "executor " << pid << " is left";
  }
  // A second such call takes the vacant slot: the other executor keeps serving.
  ASSERT_TRUE(pool.Call(spec).ok());
  EXPECT_EQ(pool.stats().files_executors, 2u);
  EXPECT_TRUE(test::ProcessState(kept) != 0 && test::ProcessState(kept) != 'Z');
  after = pool.pids();
  EXPECT_EQ(std::count(after.begin(), after.end(), kept), 1);
  test::ExpectSumWorks(pool);
  EXPECT_EQ(pool.stats().executors_replaced, 0u);
}

// With one slot, the files executor takes the place of the only executor; the next call
// without directories starts a plain one there, so the pool is back to its slot count.
TEST_F(ConfinedPoolTest, AVacantSlotGetsAPlainExecutorWhenNextUsed) {
  if (LandlockAbi() == 0) GTEST_SKIP() << "this kernel has no Landlock";
  ModulePtr wc = test::LoadWasm("wasi_wc");
  ASSERT_TRUE(wc);
  test::TempDir data;
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 1));
  ASSERT_TRUE(pool.Start().ok());
  auto out = pool.Call(WcSpec(wc, {"wasi_wc.wasm", "exit", "0"}, {{data.path(), ".", false}}));
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(pool.pids(), std::vector<int>{-1});
  test::ExpectSumWorks(pool);
  ASSERT_EQ(pool.pids().size(), 1u);
  EXPECT_GT(pool.pids()[0], 0);
  // A plain executor: a call with directories never runs in it.
  auto again = pool.Call(WcSpec(wc, {"wasi_wc.wasm", "exit", "1"}, {{data.path(), ".", true}}));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->exit_code, 1u);
  EXPECT_EQ(pool.stats().files_executors, 2u);
  EXPECT_EQ(pool.stats().executors_replaced, 0u);
}

// A directory that cannot be opened, a nameless one, or too many: an error before any executor
// is taken, and no descriptor is left open.
TEST_F(ConfinedPoolTest, BadPreopensAreErrorsBeforeAnythingRuns) {
  ModulePtr wc = test::LoadWasm("wasi_wc");
  ASSERT_TRUE(wc);
  test::TempDir data;
  std::ofstream(data.path() / "file") << "x";
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 1));
  ASSERT_TRUE(pool.Start().ok());
  const uint64_t started = pool.stats().executors_started;
  const size_t fds_before = OpenFds();
  const std::vector<std::string> args = {"wasi_wc.wasm"};
  auto missing = pool.Call(
      WcSpec(wc, args, {{data.path(), "/a", false}, {data.path() / "nosuch", "/b", false}}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kIo);
  EXPECT_NE(missing.error().message.find("cannot open the directory"), std::string::npos)
      << missing.error().message;
  auto file = pool.Call(WcSpec(wc, args, {{data.path() / "file", "/f", true}}));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().kind, ErrorKind::kIo);
  EXPECT_NE(file.error().message.find("Not a directory"), std::string::npos)
      << file.error().message;
  auto nameless = pool.Call(WcSpec(wc, args, {{data.path(), "", false}}));
  ASSERT_FALSE(nameless.ok());
  EXPECT_EQ(nameless.error().kind, ErrorKind::kBadArguments);
  std::vector<CallSpec::Wasi::Preopen> many(kMaxPreopens + 1, {data.path(), "/d", false});
  auto too_many = pool.Call(WcSpec(wc, args, many));
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().kind, ErrorKind::kLimitExceeded);
  EXPECT_EQ(pool.stats().executors_started, started);
  EXPECT_EQ(OpenFds(), fds_before);
}

// Stdin given as bytes is served to the program, then end of file (it never reads the pool's
// own stdin); more than kMaxWasiStdinBytes is refused before an executor is taken.
TEST_F(ConfinedPoolTest, StdinBytesAreServedThenEndOfFile) {
  ModulePtr wc = test::LoadWasm("wasi_wc");
  ASSERT_TRUE(wc);
  ExecutorPool pool(test::TestPoolOptions(home_.path(), 1));
  ASSERT_TRUE(pool.Start().ok());
  CallSpec spec = WcSpec(wc, {"wasi_wc.wasm"}, {});
  spec.wasi->stdin_data = std::string("a b\nc\n");
  auto out = pool.Call(spec);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->stdout_data, "argv[0]=wasi_wc.wasm\nGREETING=(unset)\n2 3 6\n");
  const uint64_t started = pool.stats().executors_started;
  spec.wasi->stdin_data = std::string(kMaxWasiStdinBytes + 1, 'x');
  auto over = pool.Call(spec);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().kind, ErrorKind::kLimitExceeded) << over.error().ToString();
  EXPECT_EQ(pool.stats().executors_started, started);
  test::ExpectSumWorks(pool);
}

}  // namespace
}  // namespace velum
