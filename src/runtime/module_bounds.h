// The parse limits of untrusted modules, and the linear pre-pass that enforces them before wabt
// builds its IR: a module within them cannot overflow the stack or blow up the memory of a parse.
#ifndef VELUM_RUNTIME_MODULE_BOUNDS_H_
#define VELUM_RUNTIME_MODULE_BOUNDS_H_

#include <cstddef>
#include <cstdint>

#include "runtime/error.h"

namespace velum {

// Every limit a module must respect before wabt parses it. Two kinds:
// - structural limits, from those the browser engines agreed on (V8, SpiderMonkey, JSC and
//   wasmparser, "the JS API limits"), which real toolchains are built to fit;
// - a memory budget for the parse itself: wabt 1.0.32 holds the IR, the validator's state and
//   the interpreter's module at once, about 80-1300 bytes per item. Each item is charged
//   what it was measured to cost (ParseCost, rounded up), and the module is
//   refused as soon as the sum passes the budget, before anything is built.
// Measured with `build/bench/velum-parse-cost` (bench/parse_cost.cc); figures in the comments.
struct ModuleBounds {
  // wabt frees its IR recursively, one chain of frames per level of block/loop/if/try nested
  // in another: measured 32 bytes of stack per level (RelWithDebInfo; a nest of 262,144 levels
  // crashes an 8 MiB stack, 65,536 a 2 MiB one, 16,256 one of 512 KiB). Parses run on the
  // main thread and on node threads of 8 MiB (the default stack limit; glibc gives 2 MiB when
  // it is unlimited); 10,000 levels take 320 KiB there, with room for unoptimised and
  // sanitised builds' larger frames. Compilers emit dozens (79 in the deepest Rust test of
  // wasi-testsuite; a switch nests one block per case).
  uint32_t max_nesting_depth = 10000;
  // The estimated peak memory of the parse: 256 MiB. Without it 1.2 MB of tiny functions took
  // 247 MiB (216 B/byte: about 14 GiB for a 64 MiB module) and 41 KB of functions with 1,000
  // parameters 314 MiB (8,000 B/byte).
  uint64_t max_parse_bytes = 256ull << 20;

  uint32_t max_functions = 1000000;          // JS API limit, imported and defined
  uint32_t max_locals_per_function = 50000;  // JS API limit (declared locals)
  uint32_t max_types = 1000000;              // JS API limit
  uint32_t max_params_per_type = 1000;       // JS API limit, params and results each
  uint32_t max_imports = 100000;             // JS API limit
  uint32_t max_exports = 100000;             // JS API limit
  uint32_t max_globals = 1000000;            // JS API limit
  uint32_t max_tables = 100000;              // JS API limit (reference types)
  uint64_t max_table_elements = 10000000;    // JS API limit, initial size of any table
  uint32_t max_memories = 1;                 // JS API limit (no multi-memory)
  uint32_t max_data_segments = 100000;       // JS API limit
  uint32_t max_elem_segments = 100000;       // JS API limit (wasmparser)
  uint32_t max_name_bytes = 100000;          // JS API limit on any one string
};

// Bytes of peak memory Module::FromBytes was measured to take per item (velum-parse-cost
// --gen KIND N, wabt 1.0.32, glibc malloc), rounded up: what the budget charges.
struct ParseCost {
  // One instruction: i64.const+drop 133, nop 78; a br_table target counts as one (116).
  static constexpr uint64_t kPerInstruction = 144;
  static constexpr uint64_t kPerBlock = 352;      // block/loop/if/try, beyond its 2 instructions
  static constexpr uint64_t kPerFunction = 960;   // an empty function 864, its `end` included
  static constexpr uint64_t kPerSigField = 36;    // a param/result, per type and per user: 31.8
  static constexpr uint64_t kPerImport = 512;     // a function import 1,279 with its function
  static constexpr uint64_t kPerExport = 768;     // 708
  static constexpr uint64_t kPerType = 576;       // () -> (): 519
  static constexpr uint64_t kPerGlobal = 448;     // an i32 global 547 with its 2 init instructions
  static constexpr uint64_t kPerSegment = 512;    // a data or element segment's header
  static constexpr uint64_t kPerElemEntry = 192;  // ref.func 177
  static constexpr uint64_t kPerDataByte = 2;     // 2.0: copied into the IR and the interpreter
  static constexpr uint64_t kPerNameByte = 4;     // names: IR, interpreter, Module, a margin
  static constexpr uint64_t kPerLocalGroup = 64;  // a (count, type) group: IR, validator, interp
  static constexpr uint64_t kPerTable = 512;
  static constexpr uint64_t kPerModuleByte = 1;  // custom sections; the input is the caller's
  static constexpr uint64_t kBase = 2 << 20;     // any module: 1.1 MiB for a 476-byte one
};

// What the pre-pass saw; the measurements relate these to the parse's cost.
struct ModuleCounts {
  uint64_t functions = 0;  // imported + defined
  uint64_t instructions = 0;
  uint64_t max_depth = 0;
  uint64_t max_locals = 0;
  uint64_t types = 0, imports = 0, exports = 0, globals = 0, tables = 0, memories = 0;
  uint64_t data_segments = 0, data_bytes = 0, elem_segments = 0, elem_entries = 0;
  uint64_t parse_bytes = 0;  // the estimate charged against max_parse_bytes
};

// One linear pass of wabt's streaming reader (no IR, no recursion, memory independent of the
// module). Fails with kInvalidModule: "module too complex: <what> <value> exceeds <limit>" at
// the first excess, or wabt's message if the bytes are malformed. `counts` may be null.
Status CheckModuleBounds(const uint8_t* data, size_t size, const ModuleBounds& bounds,
                         ModuleCounts* counts = nullptr);

}  // namespace velum

#endif  // VELUM_RUNTIME_MODULE_BOUNDS_H_
