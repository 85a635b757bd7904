// collatz: run(n) is the number of Collatz steps from n down to 1.
// total_steps(start, end) sums them over a range, as a range job.
int run(int n) {
  long long x = n;
  int steps = 0;
  while (x > 1) {
    x = (x & 1) ? 3 * x + 1 : x / 2;
    steps++;
  }
  return steps;
}
long long total_steps(long long start, long long end) {
  long long total = 0;
  for (long long i = start; i < end; i++) total += run((int)i);
  return total;
}
