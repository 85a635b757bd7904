// FUZZ_CHECK: the harnesses' check of a promise the code under test makes. A broken promise
// aborts, so libFuzzer saves the input like any crash.
#ifndef VELUM_TESTS_FUZZ_FUZZ_CHECK_H_
#define VELUM_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_STR2(x) #x
#define FUZZ_STR(x) FUZZ_STR2(x)
#define FUZZ_CHECK(cond)                                                                         \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr,                                                                       \
                   "velum-fuzz: invariant violated: %s (" __FILE__ ":" FUZZ_STR(__LINE__) ")\n", \
                   #cond);                                                                       \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)

#endif  // VELUM_TESTS_FUZZ_FUZZ_CHECK_H_
