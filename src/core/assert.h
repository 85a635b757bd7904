// Always-on assertions for the sans-I/O core: invariants are checked in release builds too.
// A broken invariant in a gossip protocol spreads; crashing at the first one is cheaper.
#ifndef VELUM_CORE_ASSERT_H_
#define VELUM_CORE_ASSERT_H_

namespace velum::core {

[[noreturn]] void AssertFail(const char* cond, const char* file, int line);

}  // namespace velum::core

// Only for local invariants. Remote input is validated and dropped, never asserted on.
#define VELUM_ASSERT(cond)                                             \
  do {                                                                 \
    if (!(cond)) ::velum::core::AssertFail(#cond, __FILE__, __LINE__); \
  } while (0)

#endif  // VELUM_CORE_ASSERT_H_
