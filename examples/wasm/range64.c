// range64: range exports with 64-bit and floating-point parameters and results.
// sum_squares(start, end) is exact in i64; harmonic(start, end) sums 1/i as f64.
long long sum_squares(long long start, long long end) {
  long long total = 0;
  for (long long i = start; i < end; i++) total += i * i;
  return total;
}
double harmonic(long long start, long long end) {
  double total = 0;
  for (long long i = start; i < end; i++)
    if (i != 0) total += 1.0 / (double)i;
  return total;
}
float scale(float x, float k) { return x * k; }
