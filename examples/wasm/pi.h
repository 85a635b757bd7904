// pi: Monte Carlo hits shared by the wasm example and the native benchmark.
// Sample i is a pure function of i (splitmix64), so any cut of the range sums the same.
#ifndef VELUM_EXAMPLES_PI_H_
#define VELUM_EXAMPLES_PI_H_
static inline unsigned long long velum_splitmix64(unsigned long long x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
static inline int velum_pi_hits(int start, int end) {
  int hits = 0;
  for (int i = start; i < end; i++) {
    unsigned long long r = velum_splitmix64((unsigned long long)(unsigned)i);
    // Two 26-bit coordinates from one 64-bit draw, compared exactly in integers.
    unsigned long long x = r >> 38, y = (r >> 12) & ((1ull << 26) - 1);
    hits += (x * x + y * y) < (1ull << 52);
  }
  return hits;
}
#endif
