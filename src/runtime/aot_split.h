// Splitting wasm2c's C output into several translation units, so that cc can compile a large
// module in parallel pieces with bounded memory; the pieces still link into one shared object.
#ifndef VELUM_RUNTIME_AOT_SPLIT_H_
#define VELUM_RUNTIME_AOT_SPLIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace velum {

// wasm2c 1.0.32 writes one file: a prelude (includes, helpers, `static u32 func_types[N]`), a
// forward declaration of every function (`static T w2c_NAME(...);`), then data, init code,
// the function definitions and the exports. The split keeps that file's text, minus the
// definitions, as `main` (still the file the glue includes) and moves the definitions, in
// order, into `units`, each opened by the same prelude and declarations. The functions and
// func_types lose `static` and become hidden symbols named velum_<prefix>_*, so the units see
// each other inside the shared object while two modules in one object cannot collide.
// Bump when what SplitWasm2cSource writes changes: it is part of the AOT cache key, so objects
// built from an older split are not reused.
inline constexpr int kAotSplitVersion = 2;

struct SplitSource {
  std::string main;
  std::vector<std::string> units;
};

// Fails (kCompilerFailed) on output whose shape it does not recognise (a static variable
// besides func_types, a body referring to a static definition of `main`, a definition without
// its declaration...): the caller then compiles the file whole, as before. `unit_c_bytes` is
// the size of definitions a unit aims at, `max_units` its bound (units grow past the aim
// rather than exceed it). At least two units, or an error when there are fewer than two
// definitions.
Result<SplitSource> SplitWasm2cSource(const std::string& source, const std::string& prefix,
                                      uint64_t unit_c_bytes, uint32_t max_units);

}  // namespace velum

#endif  // VELUM_RUNTIME_AOT_SPLIT_H_
