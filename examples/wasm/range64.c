// range64: range exports with 64-bit and floating-point parameters and results.
// sum_squares(start, end) is exact in i64; harmonic(start, end) sums 1/i as f64.
// sum_squares_closed(start, end) returns what sum_squares does, in O(1) (for ranges of up to
// 2^64 - 1 items).
long long sum_squares(long long start, long long end) {
  long long total = 0;
  for (long long i = start; i < end; i++) total += i * i;
  return total;
}
// The same sum modulo 2^64 in closed form: over [a, a + n), n*a^2 + 2a*n(n-1)/2 +
// (n-1)n(2n-1)/6. Each division is exact and done before the wrapping products: one of n-1, n
// is even, and one of n-1, n, 2n-1 is a multiple of 3 (2n-1 is, when n = 3q + 2: 2q + 1).
long long sum_squares_closed(long long start, long long end) {
  if (start >= end) return 0;
  unsigned long long a = (unsigned long long)start;
  unsigned long long n = (unsigned long long)end - a;
  unsigned long long x = n - 1, y = n, z = 2 * n - 1;  // z wraps: used only modulo 2^64
  unsigned long long tri = n % 2 == 0 ? (n / 2) * x : n * (x / 2);  // n(n-1)/2
  if (x % 2 == 0)
    x /= 2;
  else
    y /= 2;
  if (x % 3 == 0)
    x /= 3;
  else if (y % 3 == 0)
    y /= 3;
  else
    z = 2 * (n / 3) + 1;
  return (long long)(n * a * a + 2 * a * tri + x * y * z);
}
double harmonic(long long start, long long end) {
  double total = 0;
  for (long long i = start; i < end; i++)
    if (i != 0) total += 1.0 / (double)i;
  return total;
}
float scale(float x, float k) { return x * k; }
