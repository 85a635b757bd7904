// The executor: a child process that runs Wasm calls for the pool, one at a time.
// A trap is an answer; a crash, a kill at the deadline or an overrun costs only this process.
#ifndef VELUM_RUNTIME_EXECUTOR_H_
#define VELUM_RUNTIME_EXECUTOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/value.h"

namespace velum {

// One call, as sent over the channel. The module travels as a path in the module store
// (checked against its hash), so frames stay small whatever the module's size.
struct ExecRequest {
  std::string module_path;
  std::string module_hash;                  // hex BLAKE2b-256
  EngineKind engine = EngineKind::kInterp;  // kInterp or kAot, never kAuto here
  std::string shared_object;                // AOT: the compiled module
  std::string func;
  std::vector<Value> args;
  uint32_t max_memory_pages = 4096;
  uint64_t timeout_ms = 0;  // 0: none; the interpreter stops itself, the pool kills AOT

  std::vector<uint8_t> Encode() const;
  static bool Decode(const std::vector<uint8_t>& frame, ExecRequest* out);
};

struct ExecResponse {
  bool ok = false;
  std::vector<Value> values;
  Error error;
  uint64_t run_ns = 0;  // time inside the engine (instantiate + call)

  std::vector<uint8_t> Encode() const;
  static bool Decode(const std::vector<uint8_t>& frame, ExecResponse* out);
};

// Serves requests on `fd` until it closes. Returns the process exit code.
int RunExecutor(int fd);

}  // namespace velum

#endif  // VELUM_RUNTIME_EXECUTOR_H_
