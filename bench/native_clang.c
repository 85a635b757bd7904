// The native kernels built by the wasm build's own compiler (clang -O3, for the host).
// Tells the runtime's overhead apart from the difference between compilers (gcc vs clang).
#include "pi.h"
#include "primes.h"
int velum_bench_clang_count_primes(int start, int end) { return velum_count_primes(start, end); }
int velum_bench_clang_pi_hits(int start, int end) { return velum_pi_hits(start, end); }
