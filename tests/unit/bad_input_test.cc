// Bad input through the executor pool: every failure is one typed error (kind, trap, message),
// and the NEXT call on the same pool still works (sum 1 2 3 = 6). Both engines where they differ.
#include <signal.h>

#include <fstream>

#include "runtime/executor_pool.h"
#include "test_util.h"

namespace velum {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using test::ExpectSumWorks;
using test::I32s;
using test::Spec;

class BadInput : public ::testing::Test {
 protected:
  BadInput() : pool_(test::TestPoolOptions(home_.path())) {}
  void SetUp() override {
    Status started = pool_.Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    sum_ = test::LoadWasm("sum");
    traps_ = test::LoadWasm("traps");
    ASSERT_TRUE(sum_ && traps_);
  }
  // A module file that fails to load: the error, then the pool still answers.
  Error LoadFails(const std::vector<uint8_t>& bytes, const std::string& name) {
    fs::path path = files_.path() / name;
    test::WriteBytes(path, bytes);
    auto m = Module::FromFile(path);
    EXPECT_FALSE(m.ok()) << name << " loaded";
    return m.ok() ? Error{} : m.error();
  }

  test::TempDir home_, files_;
  ExecutorPool pool_;
  ModulePtr sum_, traps_;
};

TEST_F(BadInput, NotAWasmFile) {
  std::string text = "#!/bin/sh\necho hello\n";
  Error e = LoadFails(std::vector<uint8_t>(text.begin(), text.end()), "script.wasm");
  EXPECT_EQ(e.kind, ErrorKind::kInvalidModule);
  EXPECT_EQ(e.message, "script.wasm: not a wasm module (bad magic number)");
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, EmptyFile) {
  Error e = LoadFails({}, "empty.wasm");
  EXPECT_EQ(e.kind, ErrorKind::kInvalidModule);
  EXPECT_NE(e.message.find("too short"), std::string::npos) << e.message;
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, TruncatedFile) {
  std::vector<uint8_t> bytes = sum_->bytes();
  bytes.resize(20);
  Error e = LoadFails(bytes, "truncated.wasm");
  EXPECT_EQ(e.kind, ErrorKind::kInvalidModule);
  EXPECT_NE(e.message.find("truncated.wasm: "), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("extends past end"), std::string::npos) << e.message;
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, InvalidModule) {
  Error e = LoadFails(test::InvalidReturnTypeModule(), "invalid.wasm");
  EXPECT_EQ(e.kind, ErrorKind::kInvalidModule);
  EXPECT_NE(e.message.find("type mismatch in implicit return, expected [i32] but got [i64]"),
            std::string::npos)
      << e.message;
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, MissingExport) {
  auto out = pool_.Call(Spec(traps_, "nope", {}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind, ErrorKind::kExportNotFound);
  EXPECT_NE(out.error().message.find("no function 'nope'"), std::string::npos)
      << out.error().message;
  EXPECT_NE(out.error().message.find("grow_all() -> i32"), std::string::npos)
      << out.error().message;
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, WrongArity) {
  auto out = pool_.Call(Spec(sum_, "sum", I32s({1, 2})));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind, ErrorKind::kBadArguments);
  EXPECT_NE(out.error().message.find("expected 3 arguments (i32, i32, i32) -> i32"),
            std::string::npos)
      << out.error().message;
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, NonNumericArgument) {
  auto sig = sum_->FindFunction("sum");
  ASSERT_TRUE(sig.ok());
  auto args = ParseArgs({"1", "two", "3"}, (*sig)->sig);
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.error().kind, ErrorKind::kBadArguments);
  EXPECT_EQ(args.error().message, "argument 2: 'two' is not a valid i32");
  ExpectSumWorks(pool_);
}

// The engines' verdicts on code that misbehaves; each run on both engines.
class BadCode : public BadInput, public ::testing::WithParamInterface<EngineKind> {
 protected:
  void SetUp() override {
    BadInput::SetUp();
    if (GetParam() == EngineKind::kAot) {
      // Compiled up front so each call's deadline is spent running, not compiling.
      ASSERT_TRUE(pool_.CompileNow(traps_).ok());
      ASSERT_TRUE(pool_.CompileNow(sum_).ok());
    }
  }
  Error Fails(const std::string& func, std::vector<Value> args,
              milliseconds timeout = milliseconds(30000), uint32_t max_memory_pages = 4096) {
    CallSpec spec = Spec(traps_, func, std::move(args), GetParam(), timeout);
    spec.max_memory_pages = max_memory_pages;
    auto out = pool_.Call(spec);
    EXPECT_FALSE(out.ok()) << func << " succeeded";
    if (out.ok()) return {};
    // Whatever failed, it was not a dead executor.
    EXPECT_NE(out.error().kind, ErrorKind::kExecutorCrashed) << out.error().ToString();
    return out.error();
  }
};

TEST_P(BadCode, WrongArgumentType) {
  auto out =
      pool_.Call(Spec(sum_, "sum", {Value::I64(1), Value::I32(2), Value::I32(3)}, GetParam()));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().kind, ErrorKind::kBadArguments);
  EXPECT_NE(out.error().message.find("argument 1 has type i64"), std::string::npos)
      << out.error().message;
  ExpectSumWorks(pool_, GetParam());
}

TEST_P(BadCode, Unreachable) {
  Error e = Fails("unreachable", {});
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kUnreachable);
  EXPECT_EQ(e.ToString(), "trap: unreachable");
  ExpectSumWorks(pool_, GetParam());
}

TEST_P(BadCode, DivisionByZero) {
  Error e = Fails("div", I32s({1, 0}));
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kIntegerDivideByZero);
  EXPECT_EQ(e.ToString(), "trap: integer divide by zero");
  ExpectSumWorks(pool_, GetParam());
}

TEST_P(BadCode, OutOfBoundsLoad) {
  Error e = Fails("oob", {});
  EXPECT_EQ(e.kind, ErrorKind::kTrap);
  EXPECT_EQ(e.trap, TrapKind::kOutOfBoundsMemory);
  EXPECT_EQ(e.ToString(), "trap: out of bounds memory access");
  ExpectSumWorks(pool_, GetParam());
}

TEST_P(BadCode, InfiniteLoop) {
  auto start = std::chrono::steady_clock::now();
  Error e = Fails("spin", {}, milliseconds(500));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e.kind, ErrorKind::kDeadlineExceeded) << e.ToString();
  EXPECT_EQ(e.ToString().rfind("deadline exceeded: ", 0), 0u) << e.ToString();
  EXPECT_GE(elapsed, milliseconds(500));
  EXPECT_LT(elapsed, std::chrono::seconds(10));  // stopped, not left running
  ExpectSumWorks(pool_, GetParam());
}

TEST_P(BadCode, MemoryGrowUntilRefused) {
  Error e = Fails("grow_bomb", {}, milliseconds(30000), 256);
  EXPECT_EQ(e.kind, ErrorKind::kMemoryLimitExceeded) << e.ToString();
  EXPECT_NE(e.message.find("16 MiB"), std::string::npos) << e.message;
  ExpectSumWorks(pool_, GetParam());

  CallSpec polite = Spec(traps_, "grow_all", {}, GetParam());
  polite.max_memory_pages = 256;
  auto out = pool_.Call(polite);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->values, std::vector<Value>{Value::I32(256)});
  ExpectSumWorks(pool_, GetParam());
}

// On the AOT engine this guards the cc flag -fno-optimize-sibling-calls (aot_compiler.cc):
// without it gcc -O2 turns the non-tail `recurse` (f(x) = f(x + 1) + 1) into a loop that
// never exhausts the stack and spins until the deadline. The timeout only bounds a failure.
TEST_P(BadCode, UnboundedRecursion) {
  Error e = Fails("recurse", I32s({0}), milliseconds(5000));
  EXPECT_EQ(e.kind, ErrorKind::kTrap) << e.ToString();
  EXPECT_EQ(e.trap, TrapKind::kStackExhausted) << e.ToString();
  EXPECT_EQ(e.ToString(), "trap: call stack exhausted");
  ExpectSumWorks(pool_, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Engines, BadCode, ::testing::Values(EngineKind::kInterp, EngineKind::kAot),
                         [](const ::testing::TestParamInfo<EngineKind>& info) {
                           return std::string(EngineKindName(info.param));
                         });

TEST_F(BadInput, FiftyMegabyteModule) {
  constexpr size_t kBytes = 50u << 20;
  auto m = Module::FromBytes(test::BigDataModule(kBytes));
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_GT((*m)->bytes().size(), kBytes);
  // The interpreter: the AOT tier would compile a 50 MB array literal, which is not the point.
  auto out = pool_.Call(Spec(*m, "probe", {}, EngineKind::kInterp));
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(out->values, std::vector<Value>{Value::I32(42)});  // first + last byte of the data
  // The module travelled by path through the module store, not through the channel.
  EXPECT_EQ(fs::file_size(home_.path() / "modules" / ((*m)->hash_hex() + ".wasm")),
            (*m)->bytes().size());
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, FiftyMegabyteCustomSectionOnBothEngines) {
  constexpr size_t kBytes = 50u << 20;
  auto m = Module::FromBytes(test::BigCustomSectionModule(kBytes));
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  for (EngineKind engine : {EngineKind::kInterp, EngineKind::kAot}) {
    auto out = pool_.Call(Spec(*m, "answer", {}, engine));
    ASSERT_TRUE(out.ok()) << EngineKindName(engine) << ": " << out.error().ToString();
    EXPECT_EQ(out->values, std::vector<Value>{Value::I32(42)});
    EXPECT_EQ(out->engine, engine);
  }
  ExpectSumWorks(pool_);
}

TEST_F(BadInput, ExecutorCrash) {
  // kill -9 every executor while idle; the pool must go on answering.
  std::vector<int> pids = pool_.pids();
  for (int pid : pids) ASSERT_TRUE(test::KillChild(pid));
  for (int pid : pids)
    ASSERT_TRUE(test::WaitForProcessState(
        pid, [](char s) { return s == 'Z' || s == 0; }, milliseconds(10000)));
  // A call may notice a dead executor and fail with kExecutorCrashed (see
  // PoolTest.IdleExecutorKilledIsReplacedTransparently); within slots + 1 calls it answers.
  bool answered = false;
  for (size_t i = 0; i <= pids.size() && !answered; i++) {
    auto out = pool_.Call(Spec(sum_, "sum", I32s({1, 2, 3})));
    if (out.ok()) {
      EXPECT_EQ(out->values, std::vector<Value>{Value::I32(6)});
      answered = true;
    } else {
      EXPECT_EQ(out.error().kind, ErrorKind::kExecutorCrashed) << out.error().ToString();
    }
  }
  EXPECT_TRUE(answered);
  ExpectSumWorks(pool_);
  EXPECT_GE(pool_.stats().executors_replaced, 1u);
}

}  // namespace
}  // namespace velum
