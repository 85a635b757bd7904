// The interpreter tier: wabt's interpreter, metered so a call can stop between batches.
// Runs anywhere (no C compiler needed) and starts instantly; about 50x slower than native.
#ifndef VELUM_RUNTIME_INTERP_ENGINE_H_
#define VELUM_RUNTIME_INTERP_ENGINE_H_

#include <memory>

#include "runtime/engine.h"

namespace velum {

std::unique_ptr<Engine> NewInterpEngine();

}  // namespace velum

#endif  // VELUM_RUNTIME_INTERP_ENGINE_H_
