// sum: the smallest export, the original's first demo (sum 10 20 30 -> 60).
// Also exports a 64-bit and a floating-point variant to exercise typed arguments.
int sum(int a, int b, int c) { return a + b + c; }
long long sum64(long long a, long long b) { return a + b; }
double mean3(double a, double b, double c) { return (a + b + c) / 3.0; }
