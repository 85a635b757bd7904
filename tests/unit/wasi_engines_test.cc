// WASI programs on both engines in-process: tests/wasm/wasi_probe.c gives the same stdout,
// stderr, exit code and error on the interpreter and the AOT tier; linking as the table says.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "runtime/aot_compiler.h"
#include "runtime/aot_engine.h"
#include "runtime/interp_engine.h"
#include "runtime/wasi.h"
#include "test_util.h"

namespace velum {
namespace {

// All that a caller of either engine sees of one run of a WASI command.
struct Ran {
  std::string out, err;
  std::optional<uint32_t> exit_code;  // given to proc_exit; none when _start returned
  bool truncated = false;
  std::optional<ErrorKind> error;  // the run failed (a trap): its kind, trap and message
  TrapKind trap = TrapKind::kOther;
  std::string message;
  bool operator==(const Ran& o) const {
    return out == o.out && err == o.err && exit_code == o.exit_code && truncated == o.truncated &&
           error == o.error && trap == o.trap && message == o.message;
  }
};

// What a run that ended (returned, or called proc_exit) is expected to show.
Ran Ended(std::string out, std::string err, std::optional<uint32_t> exit_code = std::nullopt,
          bool truncated = false) {
  Ran r;
  r.out = std::move(out);
  r.err = std::move(err);
  r.exit_code = exit_code;
  r.truncated = truncated;
  return r;
}

// What a run that trapped after writing `out` and `err` is expected to show (the message is
// each engine's own: the caller copies it).
Ran Trapped(std::string out, std::string err, TrapKind trap) {
  Ran r = Ended(std::move(out), std::move(err));
  r.error = ErrorKind::kTrap;
  r.trap = trap;
  return r;
}

void PrintTo(const Ran& r, std::ostream* os) {
  *os << "{out \"" << r.out << "\", err \"" << r.err << "\", exit "
      << (r.exit_code ? std::to_string(*r.exit_code) : "none")
      << (r.truncated ? ", truncated" : "");
  if (r.error) *os << ", error " << ErrorKindName(*r.error) << " " << TrapKindName(r.trap);
  *os << "}";
}

struct Program {
  std::vector<std::string> args, env;
  std::string stdin_data;
  uint64_t max_output_bytes = 1 << 20;
};

// Runs `func` of `module` as the executor does: a host of its own, the memory limit, one call.
Ran RunOn(Engine& engine, const ModulePtr& module, const Program& p,
          const std::string& func = "_start") {
  Ran ran;
  size_t read_at = 0;
  WasiConfig config;
  config.args = p.args;
  config.env = p.env;
  config.max_output_bytes = p.max_output_bytes;
  config.output = [&ran](int fd, const uint8_t* data, size_t size) {
    (fd == 1 ? ran.out : ran.err).append(reinterpret_cast<const char*>(data), size);
    return true;
  };
  config.input = [&](uint8_t* data, size_t size) -> std::optional<size_t> {
    size_t n = std::min(size, p.stdin_data.size() - read_at);
    std::memcpy(data, p.stdin_data.data() + read_at, n);
    read_at += n;
    return n;
  };
  WasiHost host(config);
  InstanceLimits limits;
  limits.wasi = &host;
  auto instance = engine.Instantiate(module, limits);
  Result<std::vector<Value>> result =
      instance.ok() ? (*instance)->Call(func, {}) : Result<std::vector<Value>>(instance.error());
  if (!result.ok()) {
    ran.error = result.error().kind;
    ran.trap = result.error().trap;
    ran.message = result.error().message;
  } else {
    EXPECT_TRUE(result->empty());
  }
  ran.exit_code = host.exit_code();
  ran.truncated = host.truncated();
  return ran;
}

// One interpreter and one AOT engine; the AOT cache lives as long as the test.
class WasiEngines : public ::testing::Test {
 protected:
  WasiEngines() {
    AotOptions options;
    options.cache_dir = cache_.path() / "aot";
    compiler_ = std::make_unique<AotCompiler>(options);
    aot_ = std::make_unique<AotEngine>(compiler_.get());
  }
  // The run on a fresh interpreter (as the executor makes one per call), and on the AOT tier.
  std::pair<Ran, Ran> RunBoth(const ModulePtr& module, const Program& p,
                              const std::string& func = "_start") {
    auto interp = NewInterpEngine();
    return {RunOn(*interp, module, p, func), RunOn(*aot_, module, p, func)};
  }

  test::TempDir cache_;
  std::unique_ptr<AotCompiler> compiler_;
  std::unique_ptr<AotEngine> aot_;
};

// Every way the probe uses the host, with the exact outcome expected of both engines.
TEST_F(WasiEngines, TheProbeGivesTheSameOutcomeOnBoth) {
  ModulePtr probe = test::LoadWasm("wasi_probe");
  ASSERT_TRUE(probe);
  std::string binary("in\0put\xff\n", 7);
  for (int i = 0; i < 3000; i++) binary += static_cast<char>('a' + i % 26);  // several reads
  const std::string spam_cap(1000, 'x');
  struct Case {
    Program program;
    Ran want;
  };
  const Case cases[] = {
      {{{"probe"}, {}, "", 1 << 20}, Ended("hello, world\n", "hello, stderr\n")},
      {{{"probe", "args", "two words", ""}, {"A=1", "EMPTY="}, "", 1 << 20},
       Ended("argv[0]=probe\nargv[1]=args\nargv[2]=two words\nargv[3]=\nenv A=1\nenv EMPTY=\n",
             "")},
      {{{"probe", "cat"}, {}, binary, 1 << 20},
       Ended(binary, "cat: " + std::to_string(binary.size()) + " bytes\n")},
      {{{"probe", "cat"}, {}, "", 1 << 20}, Ended("", "cat: 0 bytes\n")},
      // exit(3): atexit handlers run and stdout is flushed, then proc_exit(3).
      {{{"probe", "exit", "3"}, {}, "", 1 << 20},
       Ended("exiting with 3\natexit handler ran\n", "", 3u)},
      // proc_exit 500 calls deep (wabt's 64 KiB stacks hold fewer than 2000 of these): the run
      // ends there, normally, with its code.
      {{{"probe", "deep", "500", "5"}, {}, "", 1 << 20},
       Ended("descending 500\nbottom reached\n", "", 5u)},
      {{{"probe", "deep", "10", "0"}, {}, "", 1 << 20},
       Ended("descending 10\nbottom reached\n", "", 0u)},
      // A trap after output: the output is kept, the error is the trap's.
      {{{"probe", "trap"}, {}, "", 1 << 20},
       Trapped("before the trap\n", "trapping now\n", TrapKind::kUnreachable)},
      // Past the cap writes fail (EIO): the program sees it, the run is marked truncated.
      {{{"probe", "spam", "5000"}, {}, "", 1000},
       Ended(spam_cap, "spam: write failed\n", std::nullopt, true)},
      {{{"probe", "clock"}, {}, "", 1 << 20}, Ended("clock and random: ok\n", "")},
      {{{"probe", "nonsense"}, {}, "", 1 << 20},
       Ended("", "wasi_probe: unknown mode 'nonsense'\n", 2u)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.program.args.size() > 1 ? c.program.args[1] : "hello");
    auto [interp, aot] = RunBoth(probe, c.program);
    Ran want = c.want;
    // Messages are each engine's own words for the trap; kind and trap kind must agree.
    if (want.error) want.message = interp.message;
    EXPECT_EQ(interp, want);
    aot.message = interp.message;
    EXPECT_EQ(aot, interp);
  }
}

// The benchmarks' loops (bench_*) return the number of calls that failed: none, on both.
TEST_F(WasiEngines, BenchmarkLoopsRunOnBoth) {
  ModulePtr probe = test::LoadWasm("wasi_probe");
  ASSERT_TRUE(probe);
  for (const char* func : {"bench_fd_write", "bench_clock_time_get", "bench_random_get"}) {
    SCOPED_TRACE(func);
    auto interp = NewInterpEngine();
    for (Engine* engine : {interp.get(), static_cast<Engine*>(aot_.get())}) {
      WasiConfig config;
      config.args = {"probe"};
      config.output = [](int, const uint8_t*, size_t) { return true; };
      WasiHost host(config);
      InstanceLimits limits;
      limits.wasi = &host;
      auto instance = engine->Instantiate(probe, limits);
      ASSERT_TRUE(instance.ok()) << instance.error().ToString();
      auto r = (*instance)->Call(func, {Value::I32(100)});
      ASSERT_TRUE(r.ok()) << r.error().ToString();
      EXPECT_EQ(*r, std::vector<Value>{Value::I32(0)});
    }
  }
}

// A host function that runs out of memory does not unwind through compiled code: the call
// ends by the trap path, as the executor's own bad_alloc does (kMemoryLimitExceeded), and the
// engine serves the next call.
TEST_F(WasiEngines, HostOutOfMemoryEndsTheNativeCall) {
  ModulePtr probe = test::LoadWasm("wasi_probe");
  ASSERT_TRUE(probe);
  WasiConfig config;
  config.args = {"probe"};
  config.output = [](int, const uint8_t*, size_t) -> bool { throw std::bad_alloc(); };
  WasiHost host(config);
  InstanceLimits limits;
  limits.wasi = &host;
  auto instance = aot_->Instantiate(probe, limits);
  ASSERT_TRUE(instance.ok()) << instance.error().ToString();
  auto r = (*instance)->Call("_start", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kMemoryLimitExceeded) << r.error().ToString();
  auto again = RunOn(*aot_, probe, Program{{"probe"}, {}, "", 1 << 20});
  EXPECT_EQ(again, Ended("hello, world\n", "hello, stderr\n"));
}

// A module importing `field` of wasi_snapshot_preview1 as (i32) -> () and exporting _start,
// which calls it with 9. It has no memory.
std::vector<uint8_t> WasiImporter(const std::string& field) {
  using namespace test;
  std::vector<uint8_t> imports = {0x01};
  Append(&imports, Name(kWasiModule));
  Append(&imports, Name(field));
  Append(&imports, {0x00, 0x00});  // func of type 0
  return WasmModule({
      Section(1, {0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00}),  // (i32)->(), ()->()
      Section(2, imports), Section(3, {0x01, 0x01}), ExportFunc("_start", 1),
      CodeSection({0x41, 0x09, 0x10, 0x00, 0x0b}),  // i32.const 9; call 0; end
  });
}

// A module whose _start writes "hi" to stdout from the memory it imports (spectest.memory,
// which both engines provide), not one of its own.
std::vector<uint8_t> ImportedMemoryWriter() {
  using namespace test;
  std::vector<uint8_t> imports = {0x02};
  Append(&imports, Name("spectest"));
  Append(&imports, Name("memory"));
  Append(&imports, {0x02, 0x00, 0x01});  // memory, at least 1 page
  Append(&imports, Name(kWasiModule));
  Append(&imports, Name("fd_write"));
  Append(&imports, {0x00, 0x00});  // func of type 0
  std::vector<uint8_t> body;
  auto store = [&](int32_t at, int32_t value, uint8_t op) {  // i32.store / i32.store16
    Append(&body, {0x41});
    Append(&body, LebS(at));
    Append(&body, {0x41});
    Append(&body, LebS(value));
    Append(&body, {op, static_cast<uint8_t>(op == 0x36 ? 2 : 1), 0x00});
  };
  store(0, 16, 0x36);       // iovec: buffer at 16,
  store(4, 2, 0x36);        // 2 bytes long
  store(16, 0x6968, 0x3b);  // "hi"
  // fd_write(1, 0, 1, 8); drop; end
  Append(&body, {0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x08, 0x10, 0x00, 0x1a, 0x0b});
  return WasmModule({
      // (i32 i32 i32 i32) -> i32, () -> ()
      Section(1, {0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00}),
      Section(2, imports),
      Section(3, {0x01, 0x01}),
      ExportFunc("_start", 1),
      CodeSection(body),
  });
}

ModulePtr FromBytes(std::vector<uint8_t> bytes) {
  auto m = Module::FromBytes(std::move(bytes));
  EXPECT_TRUE(m.ok()) << m.error().ToString();
  return m.ok() ? *m : nullptr;
}

// A function the table does not have stays an unknown import naming it; one declared with
// another type is incompatible. Both engines refuse them alike, before anything runs.
TEST_F(WasiEngines, ImportsOutsideTheTableAreLinkErrors) {
  for (const char* field : {"velum_no_such_function", "fd_write"}) {
    SCOPED_TRACE(field);
    ModulePtr m = FromBytes(WasiImporter(field));
    ASSERT_TRUE(m);
    auto [interp, aot] = RunBoth(m, {});
    ASSERT_TRUE(interp.error && aot.error);
    EXPECT_EQ(*interp.error, ErrorKind::kUnlinkable);
    EXPECT_EQ(*aot.error, ErrorKind::kUnlinkable);
    EXPECT_NE(aot.message.find(std::string(kWasiModule) + "." + field), std::string::npos)
        << aot.message;
    EXPECT_NE(aot.message.find(field[0] == 'v' ? "unknown import" : "incompatible import"),
              std::string::npos)
        << aot.message;
  }
  // Without a host, WASI imports are as unknown as any other module's.
  ModulePtr exits = FromBytes(WasiImporter("proc_exit"));
  ASSERT_TRUE(exits);
  auto none = aot_->Instantiate(exits, InstanceLimits{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::kUnlinkable) << none.error().ToString();
}

// A module without a memory of its own still ends at proc_exit; one whose memory is imported
// has its WASI calls read that memory.
TEST_F(WasiEngines, ProcExitWithoutMemoryAndAnImportedMemory) {
  ModulePtr exits = FromBytes(WasiImporter("proc_exit"));
  ASSERT_TRUE(exits);
  auto [interp, aot] = RunBoth(exits, {});
  EXPECT_EQ(interp, Ended("", "", 9u));
  EXPECT_EQ(aot, interp);
  ModulePtr writer = FromBytes(ImportedMemoryWriter());
  ASSERT_TRUE(writer);
  auto [interp_w, aot_w] = RunBoth(writer, {});
  EXPECT_EQ(interp_w, Ended("hi", ""));
  EXPECT_EQ(aot_w, interp_w);
}

}  // namespace
}  // namespace velum
