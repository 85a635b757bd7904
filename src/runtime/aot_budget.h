// The complexity budget of an AOT compile: what a module may contain before compiling it
// costs the C compiler more than it is worth. A module over it stays on the interpreter.
#ifndef VELUM_RUNTIME_AOT_BUDGET_H_
#define VELUM_RUNTIME_AOT_BUDGET_H_

#include <cstdint>
#include <string>
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

// How one compile spreads over the machine: every limit on a compile's C translation units
// lives here. A module whose wasm2c output is large has its function bodies split into units
// of about `unit_c_bytes` each (aot_split.h), compiled by up to `max_parallel_units` cc at once
// and linked into the one shared object. Measured (docs/BENCHMARKS.md, "Large modules") on a
// 1.4 MB C program, 15 MB of C: whole at -O2, 46-61 s and 830 MiB in one cc; in 1 MiB units at
// -O1, 23-27 s of CPU, 13-25 s of wall time on 2 shared cores, about 100 MiB per cc and 205 MiB
// for the two at once. GCC's memory grows with the size of a unit, its time about linearly.
// 2 cc at once fits 2 cores and, with NodeOptions::compile_jobs = 1 (its default), keeps the
// compiler's memory well under 512 MB. A node runs up to compile_jobs x max_parallel_units.
inline constexpr uint32_t kAotDefaultParallelUnits = 2;
struct AotUnits {
  uint32_t max_parallel_units = kAotDefaultParallelUnits;  // cc processes of one compile
  // Below this much C the module stays one unit, its functions static (as before the split):
  // GCC inlines freely within it and small modules pay no extra process. 1 MiB: the 2 MB Rust
  // programs of wasi-testsuite (1.5 MB of C) compile in 1.7 s split against 2.9 s whole.
  uint64_t split_above_c_bytes = 1u << 20;
  uint64_t unit_c_bytes = 1u << 20;  // function bodies per unit (the last one may be smaller)
  uint32_t max_units = 64;           // units grow beyond unit_c_bytes rather than exceed it
  // The optimisation of a split module, after the user's flags (the last -O wins). -O1, not
  // -O2: it halves cc's CPU time on such a module, which is what keeps it within 30 s on 2
  // cores, and wasm2c's code ran as fast at -O1 as at -O2 on the benchmark kernels (primes,
  // pi). A small module keeps the user's flags.
  std::string split_opt_flag = "-O1";
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
