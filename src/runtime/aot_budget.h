// The complexity budget of an AOT compile: what a module may contain before compiling it
// costs the C compiler more than it is worth. A module over it stays on the interpreter.
#ifndef VELUM_RUNTIME_AOT_BUDGET_H_
#define VELUM_RUNTIME_AOT_BUDGET_H_

#include <cstdint>
#include <vector>

#include "runtime/error.h"

namespace velum {

// Limits real programs do not reach. cc -O2's time grows faster than linearly with the live
// locals of one function (one function of N locals, each loaded and then all combined: 4,096
// took 9 s of CPU and 172 MB, 8,192 took 35 s and 353 MB) and its memory with the total code
// (a 1-2 MB program's 14 MB of C: about 0.9 GB); the rlimits on the tools are the backstop.
struct AotBudget {
  uint64_t max_functions = 100000;          // defined functions
  uint64_t max_locals_per_function = 4096;  // declared locals of one function (not params)
  uint64_t max_function_bytes = 1u << 20;   // the body of one function
  uint64_t max_code_bytes = 8u << 20;       // all function bodies together
  // What wasm2c turns into C data and tables. The Rust and C programs of wasi-testsuite have
  // at most 16 imports, 3 exports, 2 data segments of 24 KB in all and 1 element segment.
  // Measured (wasm2c + cc -O2 -c, CPU of cc): 1,000 one-byte data segments 0.44 s and 56 MB,
  // 10,000 took 7.7 s and 346 MB (100,000: past the 60 s wall cap of hostile.corpus); one
  // 4 MiB segment 10 s and 678 MB (26 MB of C); 10,000 imports 0.4 s of wasm2c (100,000, with
  // the glue: past 60 s).
  uint64_t max_imports = 1000;
  uint64_t max_exports = 10000;
  uint64_t max_data_segments = 1000;
  uint64_t max_elem_segments = 1000;
  uint64_t max_data_bytes = 1u << 20;  // the data section, headers included
};

// What the budget measures, read from the section headers and the code section in one
// linear pass.
struct CodeStats {
  uint64_t functions = 0;
  uint64_t max_locals = 0;           // of the function with the most declared locals
  uint64_t max_locals_function = 0;  // its index among the defined functions
  uint64_t max_function_bytes = 0;
  uint64_t code_bytes = 0;
  uint64_t imports = 0, exports = 0, data_segments = 0, elem_segments = 0;
  uint64_t data_bytes = 0;  // size of the data section
};

// Reads the stats of a module's bytes; kInvalidModule if the sections are malformed.
Result<CodeStats> MeasureCode(const std::vector<uint8_t>& bytes);

// kLimitExceeded naming the first limit the module is over, or OK.
Status CheckAotBudget(const std::vector<uint8_t>& bytes, const AotBudget& budget);

}  // namespace velum

#endif  // VELUM_RUNTIME_AOT_BUDGET_H_
