// Unit tests of what a compile may cost a node: rlimits on the tools, the complexity budget,
// the compile queue, remembered failures, and the bounded, self-cleaning caches of the home.
// The compilers are shell scripts that log each run, so counts are exact and nothing is slow.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/aot_budget.h"
#include "runtime/aot_compiler.h"
#include "runtime/disk_cache.h"
#include "runtime/executor_pool.h"
#include "runtime/process.h"
#include "test_util.h"

namespace velum {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// An executable shell script in `dir`; `body` follows the #! line.
fs::path Script(const fs::path& dir, const std::string& name, const std::string& body) {
  fs::path path = dir / name;
  std::ofstream(path) << "#!/bin/sh\n" << body;
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

std::vector<std::string> Lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A stand-in C compiler: logs "start" and "end" around `middle`, then fails (no object).
fs::path LoggingCc(const fs::path& dir, const fs::path& log, const std::string& middle = "") {
  return Script(dir, "cc-log",
                "echo start >> '" + log.string() + "'\n" + middle + "echo end >> '" + log.string() +
                    "'\necho 'fake cc: no object' >&2\nexit 1\n");
}

// wasm2c itself, logging each run.
fs::path LoggingWasm2c(const fs::path& dir, const fs::path& log) {
  return Script(dir, "wasm2c-log", "echo run >> '" + log.string() + "'\nexec wasm2c \"$@\"\n");
}

ModulePtr MakeModule(const std::vector<uint8_t>& bytes) {
  auto m = Module::FromBytes(bytes);
  EXPECT_TRUE(m.ok()) << m.error().ToString();
  return m.ok() ? *m : nullptr;
}

void SetAge(const fs::path& path, std::chrono::seconds age) {
  fs::last_write_time(path, fs::file_time_type::clock::now() - age);
}

bool WaitFor(const std::function<bool()>& condition, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// --- rlimits on the tools ------------------------------------------------------------------

TEST(ProcessLimits, AddressSpaceLimitMakesALargeAllocationFail) {
  // dd allocates its block size at once: 512 MiB under a 256 MiB limit cannot be had.
  std::vector<std::string> dd = {"dd", "if=/dev/zero", "of=/dev/null", "bs=512M", "count=1"};
  ProcessResult limited = RunProcess(dd, milliseconds(20000), {256ull << 20, 0});
  EXPECT_TRUE(limited.started);
  EXPECT_FALSE(limited.ok());
  EXPECT_FALSE(limited.timed_out);
  EXPECT_NE(limited.output.find("memory exhausted"), std::string::npos) << limited.output;
}

TEST(ProcessLimits, CpuLimitStopsASpinningTool) {
  auto start = Clock::now();
  ProcessResult r = RunProcess({"sh", "-c", "while :; do :; done"}, milliseconds(20000), {0, 1});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.timed_out);  // stopped by the kernel after 1 s of CPU, long before 20 s
  EXPECT_TRUE(r.signal == SIGXCPU || r.signal == SIGKILL) << r.signal;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
}

TEST(ProcessLimits, MissingProgramIsNotStarted) {
  ProcessResult r = RunProcess({"velum-no-such-tool"}, milliseconds(1000));
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.output.find("velum-no-such-tool"), std::string::npos) << r.output;
}

TEST(ProcessLimits, ToolGetsNoDescriptorOfTheCaller) {
  // A node's sockets (even without close-on-exec) and the tool's limits: only stdin, stdout
  // and stderr reach it, in its own process group.
  int sock = socket(AF_INET, SOCK_STREAM, 0);  // deliberately not close-on-exec
  ASSERT_GE(sock, 0);
  ProcessResult r =
      RunProcess({"sh", "-c", "ls /proc/$$/fd; echo pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$"},
                 milliseconds(20000), {1ull << 30, 30});
  close(sock);
  ASSERT_TRUE(r.ok()) << r.output;
  std::istringstream lines(r.output);
  std::vector<std::string> fds;
  std::string pgid, pid;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("pgid=", 0) == 0) {
      std::istringstream(line) >> pgid >> pid;
    } else {
      fds.push_back(line);
    }
  }
  // ls lists the shell's descriptors, not its own.
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << r.output;
  EXPECT_EQ(pgid.substr(5), pid.substr(4)) << r.output;
}

TEST(AotLimits, CompilerOverItsMemoryLimitFailsCleanly) {
  test::TempDir dir;
  // A C compiler that needs 512 MiB: under a 256 MiB limit it fails instead of compiling.
  fs::path cc = Script(dir.path(), "cc-hungry",
                       "dd if=/dev/zero of=/dev/null bs=512M count=1 || exit 1\nexec cc \"$@\"\n");
  AotOptions options;
  options.cache_dir = dir.path() / "aot";
  options.cc = cc.string();
  options.tool_limits = {256ull << 20, 60};
  AotCompiler compiler(options);
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  auto so = compiler.Compile({sum});
  ASSERT_FALSE(so.ok());
  EXPECT_EQ(so.error().kind, ErrorKind::kCompilerFailed);
  EXPECT_NE(so.error().message.find("memory exhausted"), std::string::npos) << so.error().message;
  EXPECT_FALSE(compiler.Cached({sum}).has_value());
}

// --- the complexity budget -----------------------------------------------------------------

TEST(AotBudget, MeasuresLocalsAndCode) {
  auto stats = MeasureCode(test::ManyLocalsModule(20000, 7));
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->functions, 1u);
  EXPECT_EQ(stats->max_locals, 20000u);
  EXPECT_GT(stats->code_bytes, 0u);
  EXPECT_TRUE(CheckAotBudget(test::ManyLocalsModule(100, 7), AotBudget{}).ok());
  Status over = CheckAotBudget(test::ManyLocalsModule(20000, 7), AotBudget{});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().kind, ErrorKind::kLimitExceeded);
  EXPECT_NE(over.error().message.find("20000 locals"), std::string::npos) << over.error().message;
  // Truncated bytes are an error, never a read past the end.
  auto bytes = test::ManyLocalsModule(20000, 7);
  bytes.resize(bytes.size() - 3);
  EXPECT_FALSE(MeasureCode(bytes).ok());
}

// Sections wasm2c turns into C declarations and data: `count` items of each vector section,
// one `data_bytes` data segment. Only counts and sizes are read, so the items can be minimal.
std::vector<uint8_t> VectorSectionModule(uint8_t id, uint64_t count,
                                         const std::vector<uint8_t>& item) {
  std::vector<uint8_t> payload = test::LebU(count);
  for (uint64_t i = 0; i < count; i++) payload.insert(payload.end(), item.begin(), item.end());
  return test::WasmModule({test::Section(id, payload)});
}

TEST(AotBudget, BoundsWhatWasm2cTurnsIntoDataAndDeclarations) {
  AotBudget budget;
  std::vector<uint8_t> import = {0x01, 'e', 0x01, 'f', 0x00, 0x00};
  std::vector<uint8_t> exported = {0x01, 'e', 0x00, 0x00};
  std::vector<uint8_t> segment = {0x00, 0x41, 0x00, 0x0b, 0x01, 'd'};
  std::vector<uint8_t> elem = {0x00, 0x41, 0x00, 0x0b, 0x00};
  struct Case {
    uint8_t id;
    uint64_t limit;
    std::vector<uint8_t> item;
    std::string what;
  };
  for (const Case& c : std::vector<Case>{{2, budget.max_imports, import, "imports"},
                                         {7, budget.max_exports, exported, "exports"},
                                         {11, budget.max_data_segments, segment, "data segments"},
                                         {9, budget.max_elem_segments, elem, "element segments"}}) {
    EXPECT_TRUE(CheckAotBudget(VectorSectionModule(c.id, c.limit, c.item), budget).ok()) << c.what;
    Status over = CheckAotBudget(VectorSectionModule(c.id, c.limit + 1, c.item), budget);
    ASSERT_FALSE(over.ok()) << c.what;
    EXPECT_EQ(over.error().kind, ErrorKind::kLimitExceeded);
    EXPECT_EQ(over.error().message, std::to_string(c.limit + 1) + " " + c.what + " (AOT budget " +
                                        std::to_string(c.limit) + "): not compiled");
  }
  // One segment of data: the section's size counts.
  std::vector<uint8_t> big = {0x00, 0x41, 0x00, 0x0b};
  std::vector<uint8_t> size = test::LebU(budget.max_data_bytes);
  big.insert(big.end(), size.begin(), size.end());
  big.resize(big.size() + budget.max_data_bytes, 0);
  Status over = CheckAotBudget(VectorSectionModule(11, 1, big), budget);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("bytes of data (AOT budget 1048576)"), std::string::npos)
      << over.error().message;
  // A section too short to hold its count is malformed, not a read past the end.
  EXPECT_FALSE(MeasureCode(test::WasmModule({test::Section(2, {})})).ok());
}

// Real programs stay compilable: the Rust tests of wasi-testsuite (about 2 MB each).
TEST(AotBudget, RealRustProgramsAreWithinIt) {
  fs::path dir = fs::path(VELUM_SHARED_DIR) / "wasi-testsuite" / "rust";
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " is not there";
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".wasm") continue;
    seen++;
    Status within = CheckAotBudget(test::ReadBytes(entry.path().string()), AotBudget{});
    EXPECT_TRUE(within.ok()) << entry.path() << ": " << within.error().ToString();
  }
  EXPECT_GT(seen, 0);
}

class CompileQueueTest : public ::testing::Test {
 protected:
  PoolOptions Options(size_t compile_jobs = 1) {
    PoolOptions options = test::TestPoolOptions(home_.path(), 2);
    options.aot.cc = LoggingCc(tools_.path(), cc_log_).string();
    options.aot.wasm2c = LoggingWasm2c(tools_.path(), wasm2c_log_).string();
    options.compile_jobs = compile_jobs;
    return options;
  }

  test::TempDir tools_;
  test::TempDir home_;
  fs::path cc_log_ = tools_.path() / "cc.log";
  fs::path wasm2c_log_ = tools_.path() / "wasm2c.log";
};

TEST_F(CompileQueueTest, OverBudgetModuleRunsOnTheInterpreterAndIsNeverCompiled) {
  ModulePtr heavy = MakeModule(test::ManyLocalsModule(20000, 42));
  ASSERT_NE(heavy, nullptr);
  ExecutorPool pool(Options());
  for (EngineKind engine : {EngineKind::kAuto, EngineKind::kAuto, EngineKind::kAot}) {
    auto out = pool.Call(test::Spec(heavy, "f", {}, engine));
    ASSERT_TRUE(out.ok()) << out.error().ToString();
    EXPECT_EQ(out->values, test::I32s({42}));
    EXPECT_EQ(out->engine, EngineKind::kInterp);
    EXPECT_NE(out->note.find("AOT budget"), std::string::npos) << out->note;
  }
  auto failure = pool.CompileFailure(heavy);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind, ErrorKind::kLimitExceeded);
  EXPECT_TRUE(Lines(wasm2c_log_).empty());  // not even translated
  EXPECT_TRUE(Lines(cc_log_).empty());
  EXPECT_EQ(pool.stats().compiles, 0u);
}

TEST_F(CompileQueueTest, RunsAtMostCompileJobsCompilesAtOnce) {
  PoolOptions options = Options(1);
  // Each compile lasts long enough that compiles started together would overlap in the log.
  options.aot.cc = LoggingCc(tools_.path(), cc_log_, "sleep 0.3\n").string();
  ExecutorPool pool(options);
  std::vector<ModulePtr> modules;
  for (int i = 0; i < 4; i++) modules.push_back(MakeModule(test::ManyLocalsModule(0, 100 + i)));
  for (const auto& m : modules) pool.PrepareAot(m);
  for (const auto& m : modules) {
    auto so = pool.CompileNow(m);
    ASSERT_FALSE(so.ok());  // the fake compiler makes no object
    EXPECT_EQ(so.error().kind, ErrorKind::kCompilerFailed) << so.error().ToString();
  }
  auto lines = Lines(cc_log_);
  ASSERT_EQ(lines.size(), 8u);
  int running = 0, most = 0;
  for (const auto& line : lines) {
    running += line == "start" ? 1 : -1;
    most = std::max(most, running);
  }
  EXPECT_EQ(most, 1);
  EXPECT_EQ(pool.stats().compiles, 4u);
}

TEST_F(CompileQueueTest, FullQueueLeavesTheCallOnTheInterpreter) {
  PoolOptions options = Options(1);
  options.max_queued_compiles = 1;
  fs::path gate = tools_.path() / "gate";
  // Holds the first compile until the test opens the gate.
  options.aot.cc = LoggingCc(tools_.path(), cc_log_,
                             "while [ ! -e '" + gate.string() + "' ]; do sleep 0.02; done\n")
                       .string();
  ExecutorPool pool(options);
  ModulePtr first = MakeModule(test::ManyLocalsModule(0, 1));
  ModulePtr second = MakeModule(test::ManyLocalsModule(0, 2));
  ModulePtr third = MakeModule(test::ManyLocalsModule(0, 3));
  pool.PrepareAot(first);
  ASSERT_TRUE(WaitFor([&] { return pool.stats().compiles == 1; }, milliseconds(10000)));
  pool.PrepareAot(second);  // waits in the queue
  auto out = pool.Call(test::Spec(third, "f", {}, EngineKind::kAot));
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->values, test::I32s({3}));
  EXPECT_EQ(out->engine, EngineKind::kInterp);
  EXPECT_NE(out->note.find("compile queue is full"), std::string::npos) << out->note;
  EXPECT_EQ(pool.stats().compiles_refused, 1u);
  std::ofstream(gate) << "open\n";
  EXPECT_FALSE(pool.CompileNow(second).ok());
  EXPECT_EQ(pool.stats().compiles, 2u);
}

TEST_F(CompileQueueTest, FailedCompileIsNotRetriedAndCallsStillWork) {
  PoolOptions options = Options(1);
  options.max_failed_compiles = 2;
  ExecutorPool pool(options);
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  ASSERT_FALSE(pool.CompileNow(sum).ok());
  for (EngineKind engine : {EngineKind::kAuto, EngineKind::kAot, EngineKind::kAuto}) {
    auto out = pool.Call(test::Spec(sum, "sum", test::I32s({1, 2, 3}), engine));
    ASSERT_TRUE(out.ok()) << out.error().ToString();
    EXPECT_EQ(out->values, test::I32s({6}));
    EXPECT_EQ(out->engine, EngineKind::kInterp);
    EXPECT_NE(out->note.find("fake cc"), std::string::npos) << out->note;
  }
  EXPECT_EQ(Lines(cc_log_).size(), 2u);  // one compile: start and end
  EXPECT_EQ(pool.stats().compiles_failed, 1u);
  // The set is bounded: two more failures push the first out, and it may be tried again.
  for (int i = 0; i < 2; i++)
    EXPECT_FALSE(pool.CompileNow(MakeModule(test::ManyLocalsModule(0, i))).ok());
  EXPECT_FALSE(pool.CompileFailure(sum).has_value());
  EXPECT_FALSE(pool.CompileNow(sum).ok());
  EXPECT_EQ(Lines(cc_log_).size(), 8u);
}

// --- the disk caches -----------------------------------------------------------------------

void WriteSized(const fs::path& path, size_t bytes) {
  std::ofstream(path, std::ios::binary) << std::string(bytes, 'x');
}

TEST(DiskCache, EvictsLeastRecentlyUsedFirstAndNeverPinnedOrRecent) {
  test::TempDir dir;
  fs::path modules = dir.path() / "modules", aot = dir.path() / "aot";
  fs::create_directories(modules);
  fs::create_directories(aot);
  // Six entries of 100 bytes, oldest first: a.wasm (600 s ago) ... f.so (100 s ago).
  std::vector<fs::path> entries = {modules / "a.wasm", aot / "b.so",       modules / "c.wasm",
                                   aot / "d.so",       modules / "e.wasm", aot / "f.so"};
  for (size_t i = 0; i < entries.size(); i++) {
    WriteSized(entries[i], 100);
    SetAge(entries[i], std::chrono::seconds(600 - 100 * i));
  }
  WriteSized(aot / "x.so.lock", 0);
  DiskCacheOptions options{{modules, aot}, 350, std::chrono::seconds(150)};
  DiskCache cache(options);
  {
    CachePin pinned(&cache, entries[0]);  // the oldest is in use: it stays
    SetAge(entries[0], std::chrono::seconds(600));
    auto removed = cache.Trim();
    // 600 bytes over a cap of 350: b, c and d go, oldest first, and 300 bytes are left.
    EXPECT_EQ(removed, (std::vector<fs::path>{entries[1], entries[2], entries[3]}));
  }
  EXPECT_TRUE(fs::exists(entries[0]));
  EXPECT_LE(cache.Usage(), 350u);
  // f was used 100 s ago, within the 150 s grace: even over the cap it is not evicted.
  DiskCache tight(DiskCacheOptions{{modules, aot}, 1, std::chrono::seconds(150)});
  auto removed = tight.Trim();
  EXPECT_EQ(removed, (std::vector<fs::path>{entries[0], entries[4]}));
  EXPECT_TRUE(fs::exists(entries[5]));
  EXPECT_TRUE(fs::exists(aot / "x.so.lock"));  // not a cache entry
}

TEST_F(CompileQueueTest, CacheStaysUnderTheCapAndKeepsWhatACallUses) {
  ModulePtr traps = test::LoadWasm("traps");
  ASSERT_NE(traps, nullptr);
  std::vector<ModulePtr> modules;
  for (int i = 0; i < 8; i++)
    modules.push_back(MakeModule(test::BigCustomSectionModule(10000 + static_cast<size_t>(i))));
  PoolOptions options = Options();
  options.max_cache_bytes = 3 * 10100;  // room for about three of them
  options.cache_grace = std::chrono::seconds(0);
  ExecutorPool pool(options);
  ASSERT_TRUE(pool.Start().ok());
  fs::path spinning = home_.path() / "modules" / (traps->hash_hex() + ".wasm");
  std::thread spin([&] {
    auto out = pool.Call(test::Spec(traps, "spin", {}, EngineKind::kInterp, milliseconds(3000)));
    EXPECT_FALSE(out.ok());
    EXPECT_EQ(out.error().kind, ErrorKind::kDeadlineExceeded);
  });
  ASSERT_TRUE(WaitFor([&] { return fs::exists(spinning); }, milliseconds(10000)));
  DiskCache measure(DiskCacheOptions{{home_.path() / "modules", home_.path() / "aot"}, 0});
  for (const auto& m : modules) {
    auto out = pool.Call(test::Spec(m, "answer", {}, EngineKind::kInterp));
    ASSERT_TRUE(out.ok()) << out.error().ToString();
    EXPECT_EQ(out->values, test::I32s({42}));
    EXPECT_TRUE(fs::exists(spinning));  // in use by the spinning call all along
    EXPECT_LE(measure.Usage(), options.max_cache_bytes + fs::file_size(spinning));
  }
  spin.join();
  EXPECT_GE(pool.stats().cache_evictions, 4u);
  // An evicted module is written again by its next call.
  auto again = pool.Call(test::Spec(modules[0], "answer", {}, EngineKind::kInterp));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->values, test::I32s({42}));
}

TEST_F(CompileQueueTest, StartRemovesWhatAKilledCompileLeftButNotARunningOne) {
  fs::path aot = home_.path() / "aot", modules = home_.path() / "modules";
  fs::create_directories(aot);
  fs::create_directories(modules);
  // A scratch folder from before locks (old), one whose compile died (lock free), one whose
  // compile still runs in another process sharing the home (lock held: here, by this test).
  fs::create_directories(aot / "build-old");
  WriteSized(aot / "build-old" / "m0.c", 10);
  fs::create_directories(aot / "build-dead");
  WriteSized(aot / "build-dead" / ".lock", 0);
  fs::create_directories(aot / "build-live");
  WriteSized(aot / "build-live" / ".lock", 0);
  int live = open((aot / "build-live" / ".lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(live, 0);
  ASSERT_EQ(flock(live, LOCK_EX | LOCK_NB), 0);
  for (const char* name : {"build-old", "build-dead", "build-live"})
    SetAge(aot / name, std::chrono::hours(1));
  WriteSized(aot / "dead.so.lock", 0);
  WriteSized(aot / "live.so.lock", 0);
  int held = open((aot / "live.so.lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);
  // A module write that never finished, and one that may be in progress.
  std::string hash(64, 'a');
  WriteSized(modules / (hash + ".wasm.Xy12Z9"), 10);
  SetAge(modules / (hash + ".wasm.Xy12Z9"), std::chrono::hours(1));
  WriteSized(modules / (hash + ".wasm.Ab34C5"), 10);

  ExecutorPool pool(Options());
  ASSERT_TRUE(pool.Start().ok());
  EXPECT_FALSE(fs::exists(aot / "build-old"));
  EXPECT_FALSE(fs::exists(aot / "build-dead"));
  EXPECT_TRUE(fs::exists(aot / "build-live" / ".lock"));
  EXPECT_FALSE(fs::exists(aot / "dead.so.lock"));
  EXPECT_TRUE(fs::exists(aot / "live.so.lock"));
  EXPECT_FALSE(fs::exists(modules / (hash + ".wasm.Xy12Z9")));
  EXPECT_TRUE(fs::exists(modules / (hash + ".wasm.Ab34C5")));
  close(live);
  close(held);
}

TEST(AotLimits, CompileLeavesNoLockOrScratchBehind) {
  test::TempDir dir;
  AotOptions options;
  options.cache_dir = dir.path() / "aot";
  AotCompiler compiler(options);
  if (!compiler.Available().ok()) GTEST_SKIP() << compiler.Available().error().ToString();
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  auto so = compiler.Compile({sum});
  ASSERT_TRUE(so.ok()) << so.error().ToString();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(options.cache_dir))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{so->filename().string()});
}

}  // namespace
}  // namespace velum
