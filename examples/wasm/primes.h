// primes: trial-division prime counting shared by the wasm example and native benchmark.
// Kept in a header so both are compiled from the very same source.
#ifndef VELUM_EXAMPLES_PRIMES_H_
#define VELUM_EXAMPLES_PRIMES_H_
static inline int velum_is_prime(unsigned n) {
  if (n < 2) return 0;
  if (n < 4) return 1;
  if (n % 2 == 0) return 0;
  // d * d <= n rather than d <= n / d: one division per trial, whichever compiler lowers
  // it (clang rotates the loop and keeps both divisions apart). d <= 46341 for n < 2^31.
  for (unsigned d = 3; d * d <= n; d += 2)
    if (n % d == 0) return 0;
  return 1;
}
static inline int velum_count_primes(int start, int end) {
  int count = 0;
  for (int i = start; i < end; i++) count += velum_is_prime((unsigned)i);
  return count;
}
#endif
