// What ./velum and the node's shell both need to know about a module named by a user: where a
// bare name like `primes` is found, which exports can be scattered, which are the toolchain's.
#ifndef VELUM_SHELL_MODULE_LOOKUP_H_
#define VELUM_SHELL_MODULE_LOOKUP_H_

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/module.h"

namespace velum::shell {

// A module named on the command line: the path as given, else a bare name (with or without
// .wasm) looked up in $VELUM_WASM_PATH and in the build's wasm folder beside the program.
std::filesystem::path ResolveModule(const std::string& text);
// Where bare module names are looked up, in order: $VELUM_WASM_PATH, then build/wasm and wasm
// beside the program.
std::vector<std::filesystem::path> ModuleSearchDirs();

// Why an export cannot be scattered over a range ("" if it can): a scatter calls it with
// (i32, i32) or (i64, i64) bounds and reduces 1 to core::kMaxResultValues numeric results.
// *wide: it takes i64 bounds.
std::string RangeExportProblem(const ExportInfo& e, bool* wide);

// Why `combine` cannot be the module reducer of the range export `range` ("" if it can):
// it must be a function (T..., T...) -> (T...), where T... are range's results (a valid
// range export's, RangeExportProblem).
std::string ReducerExportProblem(const ExportInfo& range, const ExportInfo& combine);

// Whether an export is put there by the compiler or linker rather than written by the module's
// author (__wasm_call_ctors, __dso_handle, __data_end, __heap_base, ...): `inspect` hides them.
bool IsToolchainExport(const std::string& name);

}  // namespace velum::shell

#endif  // VELUM_SHELL_MODULE_LOOKUP_H_
