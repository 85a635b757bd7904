// Shared helpers of the runtime unit tests: temp dirs, example modules, pools, hand-made wasm.
// Everything here is deterministic; temp dirs are removed when their owner goes out of scope.
#ifndef VELUM_TESTS_UNIT_TEST_UTIL_H_
#define VELUM_TESTS_UNIT_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/executor_pool.h"
#include "runtime/module.h"
#include "runtime/value.h"
#include "tests/unit/wasm_bytes.h"

namespace velum {

// gtest printers, so failed expectations show "i32:60" rather than raw bytes.
void PrintTo(const Value& value, std::ostream* os);
void PrintTo(const Error& error, std::ostream* os);
void PrintTo(ErrorKind kind, std::ostream* os);
void PrintTo(TrapKind kind, std::ostream* os);
void PrintTo(EngineKind kind, std::ostream* os);

namespace test {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// build/wasm/NAME.wasm (the examples and tests/wasm/*.wat).
std::filesystem::path WasmPath(const std::string& name);
// Loads build/wasm/NAME.wasm; on failure records a test failure and returns null.
ModulePtr LoadWasm(const std::string& name);

std::vector<uint8_t> ReadBytes(const std::filesystem::path& path);
void WriteBytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes);

// Hand-assembled binary modules (the encodings are in wasm_bytes.h).
// Valid header and sections, but "f" is declared () -> i32 and its body yields an i64.
std::vector<uint8_t> InvalidReturnTypeModule();
// A memory of ceil(bytes / 64 KiB) pages filled by one active data segment of `bytes` bytes
// (first byte 7, last byte 35, the rest 0xAB); export "probe" () -> i32 returns first + last = 42.
std::vector<uint8_t> BigDataModule(size_t bytes);
// A custom section "velum.padding" of `bytes` bytes and export "answer" () -> i32 = 42.
std::vector<uint8_t> BigCustomSectionModule(size_t bytes);
// Exports "f" () -> i32 returning `answer`, declaring `locals` unused i32 locals (one group).
// Distinct answers make distinct modules.
std::vector<uint8_t> ManyLocalsModule(uint32_t locals, int32_t answer);
// Imports env.log (i32) -> () and exports "main" () -> ().
std::vector<uint8_t> ImportingModule();

// Pool options for tests: home in `home`, the executor of this build.
PoolOptions TestPoolOptions(const std::filesystem::path& home, size_t slots = 2);
CallSpec Spec(const ModulePtr& module, const std::string& func, std::vector<Value> args,
              EngineKind engine = EngineKind::kInterp,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

// sum.wasm's sum(1, 2, 3) through `pool` on `engine` must give 6: the pool still works.
void ExpectSumWorks(ExecutorPool& pool, EngineKind engine = EngineKind::kInterp);

// The parent pid of `pid` (from /proc/PID/stat), or -1 if it is gone.
int ParentOf(int pid);
// SIGKILLs `pid` only if it is a child of this process (an executor of a pool in this test);
// never a pid <= 1 or anyone else's process. Returns whether the signal was sent.
bool KillChild(int pid);

// The one-line state letter of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 if it is gone.
char ProcessState(int pid);
// Polls ProcessState until `pred` holds or `timeout` passes; returns whether it held.
bool WaitForProcessState(int pid, bool (*pred)(char), std::chrono::milliseconds timeout);

std::vector<Value> I32s(std::initializer_list<int32_t> values);

}  // namespace test
}  // namespace velum

#endif  // VELUM_TESTS_UNIT_TEST_UTIL_H_
