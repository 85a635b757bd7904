// The failure path of VELUM_ASSERT: print the broken condition and abort.
// abort() rather than exit() so a core dump or a debugger sees the failing frame.
#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace velum::core {

void AssertFail(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "velum: assertion failed: %s at %s:%d\n", cond, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace velum::core
