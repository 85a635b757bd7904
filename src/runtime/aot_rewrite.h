// The rewrite of a module before wasm2c sees it: no byte of a name chosen by the module's author
// reaches the generated C. Custom sections are dropped; imports and exports get generated names.
#ifndef VELUM_RUNTIME_AOT_REWRITE_H_
#define VELUM_RUNTIME_AOT_REWRITE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace velum {

// Import i of a rewritten module is kAotImportModule.AotImportField(i) and export j is
// AotExportName(j): positional, so import i and export j of the original module (in
// Module::imports() and Module::exports() order) are the real names behind them.
inline constexpr char kAotImportModule[] = "m";
std::string AotImportField(size_t index);
std::string AotExportName(size_t index);

struct RewrittenModule {
  std::vector<uint8_t> bytes;
  size_t num_imports = 0;
  size_t num_exports = 0;
};

// One linear pass over the sections of `wasm`: custom sections (the name section included)
// are dropped, the import and export sections are re-encoded with generated names, and every
// other section is copied verbatim. Never reads out of bounds: malformed input (or a construct
// this pass does not know) is a kCompilerFailed error, so the module stays on the interpreter
// (input normally comes from Module::FromBytes, already validated).
Result<RewrittenModule> RewriteForWasm2c(const std::vector<uint8_t>& wasm);

}  // namespace velum

#endif  // VELUM_RUNTIME_AOT_REWRITE_H_
