// Unit tests of both engines in-process: the interpreter and the AOT tier (wasm2c + cc, cached in
// a fresh temp dir) give the same answers, traps, memory limits, and the interpreter's deadline.
#include "runtime/engine.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>

#include "pi.h"
#include "primes.h"
#include "runtime/aot_compiler.h"
#include "runtime/aot_engine.h"
#include "runtime/interp_engine.h"
#include "test_util.h"

namespace velum {
namespace {

using test::I32s;

// Native references, computed exactly as the example C sources do.
int NativeSearch(int start, int end) {
  for (int i = start; i < end; i++)
    if ((static_cast<long long>(i) * 123) % 99999 == 1) return i;
  return 0;
}
int NativeCollatz(int n) {
  long long x = n;
  int steps = 0;
  while (x > 1) {
    x = (x & 1) ? 3 * x + 1 : x / 2;
    steps++;
  }
  return steps;
}
double NativeHarmonic(long long start, long long end) {
  double total = 0;
  for (long long i = start; i < end; i++)
    if (i != 0) total += 1.0 / static_cast<double>(i);
  return total;
}

// Owns one engine of either kind; AOT compiles into its own fresh cache directory.
class EngineHolder {
 public:
  explicit EngineHolder(EngineKind kind) {
    if (kind == EngineKind::kAot) {
      AotOptions options;
      options.cache_dir = cache_.path() / "aot";
      compiler_ = std::make_unique<AotCompiler>(options);
      engine_ = std::make_unique<AotEngine>(compiler_.get());
    } else {
      engine_ = NewInterpEngine();
    }
  }
  Engine& engine() { return *engine_; }

  Result<std::vector<Value>> Call(const std::string& module, const std::string& func,
                                  const std::vector<Value>& args,
                                  const InstanceLimits& limits = {}) {
    ModulePtr m = test::LoadWasm(module);
    if (!m) return MakeError(ErrorKind::kInternal, "cannot load " + module);
    auto instance = engine_->Instantiate(m, limits);
    if (!instance.ok()) return instance.error();
    return (*instance)->Call(func, args);
  }

 private:
  test::TempDir cache_;
  std::unique_ptr<AotCompiler> compiler_;
  std::unique_ptr<Engine> engine_;
};

class EngineTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  EngineTest() : holder_(GetParam()) {}

  Result<std::vector<Value>> Call(const std::string& module, const std::string& func,
                                  const std::vector<Value>& args,
                                  const InstanceLimits& limits = {}) {
    return holder_.Call(module, func, args, limits);
  }
  // The single result of a call that must succeed (a default Value after a recorded failure).
  Value One(const std::string& module, const std::string& func, const std::vector<Value>& args) {
    auto r = Call(module, func, args);
    EXPECT_TRUE(r.ok()) << module << "." << func << ": " << r.error().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->size(), 1u) << module << "." << func;
    return r->empty() ? Value{} : (*r)[0];
  }
  Error Fails(const std::string& module, const std::string& func, const std::vector<Value>& args,
              const InstanceLimits& limits = {}) {
    auto r = Call(module, func, args, limits);
    EXPECT_FALSE(r.ok()) << module << "." << func << " succeeded";
    return r.ok() ? Error{} : r.error();
  }

  EngineHolder holder_;
};

TEST_P(EngineTest, Kind) { EXPECT_EQ(holder_.engine().kind(), GetParam()); }

// Every instance starts pristine, whatever an earlier instance of the module did: memory
// zeroed and data segments in place, the memory's size as declared (the grown page gone, so
// touching it traps), globals at their initial values. (The AOT tier reuses a freed memory
// reservation for the next instance; this is what makes that safe.)
TEST_P(EngineTest, InstancesNeverSeeEachOthersState) {
  ModulePtr m = test::LoadWasm("state");
  ASSERT_NE(m, nullptr);
  auto call = [](Instance& i, const std::string& f, std::vector<Value> args) {
    auto r = i.Call(f, args);
    EXPECT_TRUE(r.ok()) << f << ": " << r.error().ToString();
    return r.ok() && r->size() == 1 ? (*r)[0] : Value{};
  };
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto a = holder_.engine().Instantiate(m, {});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    EXPECT_EQ(call(**a, "swap", I32s({16, 7})), Value::I32(42));  // the data segment
    EXPECT_EQ(call(**a, "swap", I32s({100, 9})), Value::I32(0));
    EXPECT_EQ(call(**a, "grow", {}), Value::I32(1));
    EXPECT_EQ(call(**a, "pages", {}), Value::I32(2));
    EXPECT_EQ(call(**a, "swap", I32s({65536 + 8, 3})), Value::I32(0));
    EXPECT_EQ(call(**a, "bump", {}), Value::I32(6));
    a->reset();
    auto b = holder_.engine().Instantiate(m, {});
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    EXPECT_EQ(call(**b, "pages", {}), Value::I32(1));
    EXPECT_EQ(call(**b, "swap", I32s({16, 1})), Value::I32(42));
    EXPECT_EQ(call(**b, "swap", I32s({100, 1})), Value::I32(0));
    EXPECT_EQ(call(**b, "bump", {}), Value::I32(6));
    auto oob = (*b)->Call("swap", I32s({65536 + 8, 1}));
    ASSERT_FALSE(oob.ok()) << "the page grown by an earlier instance is still accessible";
    EXPECT_EQ(oob.error().trap, TrapKind::kOutOfBoundsMemory) << oob.error().ToString();
  }
}

TEST_P(EngineTest, Sum) {
  EXPECT_EQ(One("sum", "sum", I32s({10, 20, 30})), Value::I32(60));
  EXPECT_EQ(One("sum", "sum", I32s({-5, 2, 3})), Value::I32(0));
  EXPECT_EQ(One("sum", "sum", I32s({2147483647, 1, 0})),
            Value::I32(std::numeric_limits<int32_t>::min()));
  EXPECT_EQ(One("sum", "sum64", {Value::I64(1LL << 40), Value::I64(-1)}),
            Value::I64((1LL << 40) - 1));
  EXPECT_EQ(One("sum", "mean3", {Value::F64(1), Value::F64(2), Value::F64(4)}),
            Value::F64((1.0 + 2.0 + 4.0) / 3.0));
}

TEST_P(EngineTest, Add) {
  EXPECT_EQ(One("add", "add", I32s({2, 3})), Value::I32(5));
  EXPECT_EQ(One("add", "run", I32s({21})), Value::I32(42));
}

TEST_P(EngineTest, CountPrimes) {
  EXPECT_EQ(One("primes", "count_primes", I32s({0, 500000})), Value::I32(41538));
  EXPECT_EQ(One("primes", "count_primes", I32s({0, 100})), Value::I32(velum_count_primes(0, 100)));
}

TEST_P(EngineTest, PiHits) {
  EXPECT_EQ(One("pi", "pi_hits", I32s({1000, 101000})), Value::I32(velum_pi_hits(1000, 101000)));
}

// Note: search.c can never find anything, since gcd(123, 99999) = 3 means i * 123 is never
// 1 mod 99999; the engines must still agree with the native loop over the whole range.
TEST_P(EngineTest, Search) {
  EXPECT_EQ(One("search", "search", I32s({0, 100000})), Value::I32(NativeSearch(0, 100000)));
  EXPECT_EQ(One("search", "search", I32s({-50000, 50000})),
            Value::I32(NativeSearch(-50000, 50000)));
  EXPECT_EQ(One("search", "search", I32s({0, 10})), Value::I32(0));
}

TEST_P(EngineTest, Fib) {
  EXPECT_EQ(One("fib", "fib", I32s({20})), Value::I32(6765));
  EXPECT_EQ(One("fib", "fib", I32s({1})), Value::I32(1));
}

TEST_P(EngineTest, Collatz) {
  EXPECT_EQ(One("collatz", "run", I32s({27})), Value::I32(111));
  long long total = 0;
  for (int i = 1; i < 2000; i++) total += NativeCollatz(i);
  EXPECT_EQ(One("collatz", "total_steps", {Value::I64(1), Value::I64(2000)}), Value::I64(total));
}

TEST_P(EngineTest, Range64) {
  const long long n = 1000000;
  EXPECT_EQ(One("range64", "sum_squares", {Value::I64(0), Value::I64(n)}),
            Value::I64((n - 1) * n * (2 * n - 1) / 6));
  EXPECT_EQ(One("range64", "sum_squares", {Value::I64(-3), Value::I64(3)}), Value::I64(19));
  Value h = One("range64", "harmonic", {Value::I64(1), Value::I64(100001)});
  EXPECT_EQ(h.type, ValType::kF64);
  EXPECT_EQ(h, Value::F64(NativeHarmonic(1, 100001)));  // same operations, same bits
  EXPECT_NEAR(h.f64(), 12.0901461298634, 1e-8);
  EXPECT_EQ(One("range64", "scale", {Value::F32(1.5f), Value::F32(4.0f)}), Value::F32(6.0f));
}

TEST_P(EngineTest, MultiValue) {
  auto r = Call("traps", "multi", {Value::I64(-7), Value::F32(2.5f)});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], Value::I64(-7));
  EXPECT_EQ((*r)[1], Value::F32(2.5f));
  EXPECT_EQ((*r)[2], Value::F64(2.5));
}

TEST_P(EngineTest, Traps) {
  Error e = Fails("traps", "unreachable", {});
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kUnreachable);
  e = Fails("traps", "div", I32s({1, 0}));
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kIntegerDivideByZero);
  EXPECT_EQ(e.ToString(), "trap: integer divide by zero");
  e = Fails("traps", "div", I32s({std::numeric_limits<int32_t>::min(), -1}));
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kIntegerOverflow);
  e = Fails("traps", "oob", {});
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kOutOfBoundsMemory);
  // After traps the engine still runs code.
  EXPECT_EQ(One("traps", "ok", {}), Value::I32(42));
  EXPECT_EQ(One("traps", "div", I32s({7, 2})), Value::I32(3));
}

// In-process on AOT: the native stack overflows into its guard page and wasm2c's SIGSEGV
// handler (on its alternate stack) turns that into a trap; the process carries on.
TEST_P(EngineTest, StackExhaustion) {
  Error e = Fails("traps", "recurse", I32s({0}));
  EXPECT_EQ(e.kind, ErrorKind::kTrap) << e.ToString();
  EXPECT_EQ(e.trap, TrapKind::kStackExhausted) << e.ToString();
  EXPECT_EQ(One("fib", "fib", I32s({20})), Value::I32(6765));
}

TEST_P(EngineTest, CallErrors) {
  Error e = Fails("sum", "nope", {});
  EXPECT_EQ(e.kind, ErrorKind::kExportNotFound);
  EXPECT_NE(e.message.find("sum(i32, i32, i32) -> i32"), std::string::npos) << e.message;
  e = Fails("sum", "sum", I32s({1, 2}));
  EXPECT_EQ(e.kind, ErrorKind::kBadArguments);
  EXPECT_NE(e.message.find("expected 3 arguments"), std::string::npos) << e.message;
  e = Fails("sum", "sum", {Value::I64(1), Value::I32(2), Value::I32(3)});
  EXPECT_EQ(e.kind, ErrorKind::kBadArguments);
  EXPECT_NE(e.message.find("argument 1 has type i64"), std::string::npos) << e.message;
}

TEST_P(EngineTest, UnsatisfiedImportIsUnlinkable) {
  auto m = Module::FromBytes(test::ImportingModule());
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  auto instance = holder_.engine().Instantiate(*m, InstanceLimits{});
  ASSERT_FALSE(instance.ok());
  EXPECT_EQ(instance.error().kind, ErrorKind::kUnlinkable);
  EXPECT_NE(instance.error().message.find("env.log"), std::string::npos)
      << instance.error().message;
}

TEST_P(EngineTest, MemoryLimitGrowAllReturnsTheLimit) {
  InstanceLimits limits;
  limits.max_memory_pages = 16;
  auto r = Call("traps", "grow_all", {}, limits);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, std::vector<Value>{Value::I32(16)});
}

TEST_P(EngineTest, MemoryLimitGrowBomb) {
  InstanceLimits limits;
  limits.max_memory_pages = 16;
  Error e = Fails("traps", "grow_bomb", {}, limits);
  EXPECT_EQ(e.kind, ErrorKind::kMemoryLimitExceeded) << e.ToString();
  EXPECT_NE(e.message.find("1 MiB"), std::string::npos) << e.message;
  // A later instance with the default limit is unaffected.
  auto r = Call("traps", "grow_all", {}, InstanceLimits{});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  // traps.wat declares a maximum of 1000 pages, below the default limit of 4096.
  EXPECT_EQ(*r, std::vector<Value>{Value::I32(1000)});
}

TEST_P(EngineTest, InitialMemoryAboveTheLimit) {
  ModulePtr sum = test::LoadWasm("sum");
  ASSERT_NE(sum, nullptr);
  InstanceLimits limits;
  limits.max_memory_pages = 1;  // sum.wasm declares 2 initial pages
  auto instance = holder_.engine().Instantiate(sum, limits);
  ASSERT_FALSE(instance.ok());
  EXPECT_EQ(instance.error().kind, ErrorKind::kMemoryLimitExceeded) << instance.error().ToString();
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest,
                         ::testing::Values(EngineKind::kInterp, EngineKind::kAot),
                         [](const ::testing::TestParamInfo<EngineKind>& info) {
                           return std::string(EngineKindName(info.param));
                         });

// Both engines side by side: every result identical to the bit, floats included.
TEST(Engines, SameResults) {
  EngineHolder interp(EngineKind::kInterp), aot(EngineKind::kAot);
  const struct {
    const char* module;
    const char* func;
    std::vector<Value> args;
  } calls[] = {
      {"sum", "sum", I32s({10, 20, 30})},
      {"sum", "mean3", {Value::F64(0.1), Value::F64(0.2), Value::F64(0.7)}},
      {"add", "run", I32s({-21})},
      {"primes", "count_primes", I32s({0, 50000})},
      {"pi", "pi_hits", I32s({0, 50000})},
      {"search", "search", I32s({500, 90000})},
      {"fib", "fib", I32s({20})},
      {"collatz", "run", I32s({27})},
      {"range64", "sum_squares", {Value::I64(-100000), Value::I64(100000)}},
      {"range64", "harmonic", {Value::I64(-1000), Value::I64(50000)}},
      {"range64", "scale", {Value::F32(0.1f), Value::F32(3.0f)}},
      {"traps", "multi", {Value::I64(std::numeric_limits<int64_t>::min()), Value::F32(-0.0f)}},
  };
  for (const auto& c : calls) {
    auto a = interp.Call(c.module, c.func, c.args);
    auto b = aot.Call(c.module, c.func, c.args);
    ASSERT_TRUE(a.ok()) << c.module << "." << c.func << " (interp): " << a.error().ToString();
    ASSERT_TRUE(b.ok()) << c.module << "." << c.func << " (aot): " << b.error().ToString();
    EXPECT_EQ(*a, *b) << c.module << "." << c.func;
  }
}

// The interpreter stops itself at the deadline; the AOT tier relies on the pool's kill.
TEST(InterpEngine, DeadlineInThePast) {
  EngineHolder interp(EngineKind::kInterp);
  InstanceLimits limits;
  limits.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto r = interp.Call("traps", "spin", {}, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kDeadlineExceeded);
  EXPECT_NE(r.error().message.find("deadline"), std::string::npos) << r.error().message;
}

TEST(InterpEngine, DeadlineStopsASpinningCall) {
  EngineHolder interp(EngineKind::kInterp);
  InstanceLimits limits;
  auto start = std::chrono::steady_clock::now();
  limits.deadline = start + std::chrono::milliseconds(100);
  auto r = interp.Call("traps", "spin", {}, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kDeadlineExceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST(InterpEngine, CancelFlag) {
  EngineHolder interp(EngineKind::kInterp);
  std::atomic<bool> cancel{true};
  InstanceLimits limits;
  limits.cancel = &cancel;
  auto r = interp.Call("traps", "spin", {}, limits);
  ASSERT_FALSE(r.ok());
  // Cancellation is its own kind: the caller gave up, no deadline passed.
  EXPECT_EQ(r.error().kind, ErrorKind::kCancelled) << r.error().ToString();
  EXPECT_EQ(r.error().ToString(), "cancelled: the call was cancelled");
}

// A flag raised from another thread stops the call at the next batch, as kCancelled, long
// before its distant deadline (raised before the call starts or during it: the same answer).
TEST(InterpEngine, CancelFlagRaisedWhileRunning) {
  EngineHolder interp(EngineKind::kInterp);
  std::atomic<bool> cancel{false};
  InstanceLimits limits;
  limits.cancel = &cancel;
  limits.deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  std::thread raiser([&cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel = true;
  });
  auto r = interp.Call("traps", "spin", {}, limits);
  raiser.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCancelled) << r.error().ToString();
}

TEST(InterpEngine, DeadlineDoesNotStopShortCalls) {
  EngineHolder interp(EngineKind::kInterp);
  InstanceLimits limits;
  limits.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  // Fewer instructions than one metering batch: the call completes.
  auto r = interp.Call("sum", "sum", I32s({1, 2, 3}), limits);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, std::vector<Value>{Value::I32(6)});
}

}  // namespace
}  // namespace velum
