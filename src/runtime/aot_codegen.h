// Generates the C glue that binds a wasm2c-translated module to the AOT ABI (aot_abi.h).
// Exports become uniform thunks; imports become calls through slots filled at instantiation.
#ifndef VELUM_RUNTIME_AOT_CODEGEN_H_
#define VELUM_RUNTIME_AOT_CODEGEN_H_

#include <string>

#include "runtime/error.h"
#include "runtime/module.h"

namespace velum {

// `prefix` is the -n name given to wasm2c; `header` the text of the header it wrote for the
// module rewritten by RewriteForWasm2c; `source_file` the name of the C file it wrote (included
// by the glue). Generated import i and export j stand for module.imports()[i] and
// module.exports()[j]; no real name is read or written. The result is one translation unit
// defining `velum_module_<prefix>` (a velum_module_desc).
struct AotGlue {
  // The ABI and the renames of the imports: what any unit holding the module's C (the glue's
  // own or one of the units of a split, aot_split.h) must start with.
  std::string preamble;
  std::string glue;  // the preamble, #include of source_file, the thunks and the descriptor
};
Result<AotGlue> GenerateAotGlue(const Module& module, const std::string& prefix,
                                const std::string& header, const std::string& source_file);

}  // namespace velum

#endif  // VELUM_RUNTIME_AOT_CODEGEN_H_
