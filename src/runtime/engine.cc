// Engine names for the command line and messages.
// "auto" picks the interpreter until the compiled tier is ready, then native code.
#include "runtime/engine.h"

namespace velum {

const char* EngineKindName(EngineKind kind) {
  switch (kind) {
    case EngineKind::kAuto:
      return "auto";
    case EngineKind::kInterp:
      return "interp";
    case EngineKind::kAot:
      return "aot";
  }
  return "?";
}

Result<EngineKind> ParseEngineKind(const std::string& text) {
  if (text == "auto") return EngineKind::kAuto;
  if (text == "interp") return EngineKind::kInterp;
  if (text == "aot") return EngineKind::kAot;
  return MakeError(ErrorKind::kBadArguments, "unknown engine '" + text + "' (auto, interp or aot)");
}

}  // namespace velum
