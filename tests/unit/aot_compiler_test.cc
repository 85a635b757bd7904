// Unit tests of the AOT compiler's cache and failure modes, timing-free: a wrapper "cc" logs
// every invocation and can be switched off, so a cache hit is proven by the compiler not running.
#include "runtime/aot_compiler.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "runtime/aot_engine.h"
#include "test_util.h"

namespace velum {
namespace {

namespace fs = std::filesystem;

// A shell script standing in for the C compiler: appends a line to `log` per run, then runs
// the real cc while `enabled` exists, or fails with "cc disabled" once it is removed.
class WrapperCc {
 public:
  explicit WrapperCc(const fs::path& dir, const std::string& body = {})
      : script_(dir / "cc-wrapper"), log_(dir / "cc.log"), enabled_(dir / "cc.enabled") {
    std::ofstream(enabled_) << "on\n";
    std::ofstream out(script_);
    out << "#!/bin/sh\n"
        << "echo run >> '" << log_.string() << "'\n"
        << body << "[ -e '" << enabled_.string() << "' ] || { echo 'cc disabled' >&2; exit 1; }\n"
        << "exec cc \"$@\"\n";
    out.close();
    fs::permissions(script_, fs::perms::owner_all);
  }
  std::string path() const { return script_.string(); }
  void Disable() { fs::remove(enabled_); }
  int runs() const {
    std::ifstream in(log_);
    int n = 0;
    for (std::string line; std::getline(in, line);) n++;
    return n;
  }

 private:
  fs::path script_, log_, enabled_;
};

AotOptions Options(const fs::path& cache, const std::string& cc) {
  AotOptions options;
  options.cache_dir = cache;
  options.cc = cc;
  return options;
}

int CountEntries(const fs::path& dir, const std::string& prefix) {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) n++;
  return n;
}

TEST(AotCompiler, SecondCompileIsACacheHit) {
  test::TempDir dir;
  WrapperCc cc(dir.path());
  const fs::path cache = dir.path() / "aot";
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);

  AotCompiler compiler(Options(cache, cc.path()));
  ASSERT_TRUE(compiler.Available().ok()) << compiler.Available().error().ToString();
  EXPECT_FALSE(compiler.Cached({sum}).has_value());
  auto first = compiler.Compile({sum});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(cc.runs(), 1);
  EXPECT_TRUE(fs::exists(*first));
  EXPECT_EQ(first->parent_path(), cache);
  EXPECT_EQ(first->extension(), ".so");
  EXPECT_EQ(compiler.Cached({sum}), std::optional<fs::path>(*first));
  EXPECT_EQ(CountEntries(cache, "build-"), 0) << "the build directory was not removed";
  auto mtime = fs::last_write_time(*first);

  // Same compiler object: same path, nothing compiled, file untouched.
  auto second = compiler.Compile({sum});
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(cc.runs(), 1);
  EXPECT_EQ(fs::last_write_time(*second), mtime);

  // A new compiler (another process, say) with the compiler now broken still hits the cache.
  cc.Disable();
  AotCompiler again(Options(cache, cc.path()));
  auto third = again.Compile({sum});
  ASSERT_TRUE(third.ok()) << third.error().ToString();
  EXPECT_EQ(*third, *first);
  EXPECT_EQ(cc.runs(), 1);
  EXPECT_EQ(fs::last_write_time(*third), mtime);

  // A module not in the cache does need the (broken) compiler.
  ModulePtr add = test::LoadWasm("add");
  ASSERT_NE(add, nullptr);
  auto other = again.Compile({add});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ErrorKind::kCompilerFailed);
  EXPECT_NE(other.error().message.find("cc disabled"), std::string::npos) << other.error().message;
  EXPECT_EQ(cc.runs(), 2);

  // The cached shared object loads and runs.
  AotEngine engine(&again);
  ASSERT_TRUE(engine.Load(*first, {sum}).ok());
  EXPECT_TRUE(engine.IsLoaded(*sum));
  auto instance = engine.Instantiate(sum, InstanceLimits{});
  ASSERT_TRUE(instance.ok()) << instance.error().ToString();
  auto r = (*instance)->Call("sum", test::I32s({10, 20, 30}));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, std::vector<Value>{Value::I32(60)});
  EXPECT_EQ(cc.runs(), 2);
}

// The compiler's identity and the flags are part of the cache key (by design), so another
// compiler or other flags do not reuse a shared object built by the first.
TEST(AotCompiler, CacheKeyIncludesCompilerAndFlags) {
  test::TempDir dir;
  const fs::path cache = dir.path() / "aot";
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  AotCompiler compiler(Options(cache, "cc"));
  auto so = compiler.Compile({sum});
  ASSERT_TRUE(so.ok()) << so.error().ToString();

  AotOptions o1 = Options(cache, "cc");
  o1.cflags = {"-O1"};
  EXPECT_FALSE(AotCompiler(o1).Cached({sum}).has_value());
  AotCompiler broken(Options(cache, "false"));
  EXPECT_FALSE(broken.Cached({sum}).has_value());
  auto r = broken.Compile({sum});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCompilerFailed);
  // The good entry is still there and still found by its own compiler.
  EXPECT_EQ(AotCompiler(Options(cache, "cc")).Cached({sum}), std::optional<fs::path>(*so));
}

TEST(AotCompiler, MissingCompilerIsUnavailable) {
  test::TempDir dir;
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  AotCompiler compiler(Options(dir.path() / "aot", "/nonexistent/cc"));
  Status available = compiler.Available();
  ASSERT_FALSE(available.ok());
  EXPECT_EQ(available.error().kind, ErrorKind::kCompilerUnavailable);
  auto r = compiler.Compile({sum});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCompilerUnavailable);
  EXPECT_NE(r.error().message.find("/nonexistent/cc"), std::string::npos) << r.error().message;
}

TEST(AotCompiler, MissingWasm2cIsUnavailable) {
  test::TempDir dir;
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  AotOptions options = Options(dir.path() / "aot", "cc");
  options.wasm2c = "/nonexistent/wasm2c";
  auto r = AotCompiler(options).Compile({sum});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCompilerUnavailable);
  EXPECT_NE(r.error().message.find("wasm2c"), std::string::npos) << r.error().message;
}

TEST(AotCompiler, FailingCompiler) {
  test::TempDir dir;
  const fs::path cache = dir.path() / "aot";
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  AotCompiler compiler(Options(cache, "false"));
  EXPECT_TRUE(compiler.Available().ok());  // it exists; it just fails
  auto r = compiler.Compile({sum});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCompilerFailed);
  EXPECT_EQ(r.error().message.rfind("false failed", 0), 0u) << r.error().message;
  EXPECT_FALSE(compiler.Cached({sum}).has_value());
  EXPECT_EQ(CountEntries(cache, "build-"), 0) << "the build directory was not removed";
  // Only the entry's lock file stays (processes sharing the cache serialise on it); it must
  // not be held any more.
  int others = 0;
  for (const auto& entry : fs::directory_iterator(cache)) {
    if (entry.path().extension() != ".lock") {
      others++;
      continue;
    }
    int fd = open(entry.path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0) << "the compile lock is still held";
    close(fd);
  }
  EXPECT_EQ(others, 0) << "something was left in the cache";
}

TEST(AotCompiler, CompilerTimeout) {
  test::TempDir dir;
  WrapperCc cc(dir.path(), "sleep 30\n");
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  AotOptions options = Options(dir.path() / "aot", cc.path());
  options.timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  auto r = AotCompiler(options).Compile({sum});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCompilerFailed);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  // The sleeping child was killed with its process group, not waited for.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(AotEngine, PreloadCompilesSeveralModulesOnce) {
  test::TempDir dir;
  WrapperCc cc(dir.path());
  ModulePtr sum = test::LoadWasm("sum"), add = test::LoadWasm("add");
  ASSERT_NE(sum, nullptr);
  ASSERT_NE(add, nullptr);
  AotCompiler compiler(Options(dir.path() / "aot", cc.path()));
  AotEngine engine(&compiler);
  ASSERT_TRUE(engine.Preload({sum, add}).ok());
  EXPECT_EQ(cc.runs(), 1);
  EXPECT_TRUE(engine.IsLoaded(*sum));
  EXPECT_TRUE(engine.IsLoaded(*add));
  auto s = engine.Instantiate(sum, InstanceLimits{});
  auto a = engine.Instantiate(add, InstanceLimits{});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  auto rs = (*s)->Call("sum", test::I32s({1, 2, 3}));
  auto ra = (*a)->Call("add", test::I32s({2, 3}));
  ASSERT_TRUE(rs.ok()) << rs.error().ToString();
  ASSERT_TRUE(ra.ok()) << ra.error().ToString();
  EXPECT_EQ(*rs, std::vector<Value>{Value::I32(6)});
  EXPECT_EQ(*ra, std::vector<Value>{Value::I32(5)});
  EXPECT_EQ(cc.runs(), 1);
}

TEST(AotEngine, LoadOfAMissingSharedObjectFails) {
  test::TempDir dir;
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  AotCompiler compiler(Options(dir.path() / "aot", "cc"));
  AotEngine engine(&compiler);
  Status s = engine.Load(dir.path() / "missing.so", {sum});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kCompilerFailed);
  EXPECT_NE(s.error().message.find("dlopen"), std::string::npos) << s.error().message;
  EXPECT_FALSE(engine.IsLoaded(*sum));
}

}  // namespace
}  // namespace velum
