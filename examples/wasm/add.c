// add: two-argument addition and run(n) = n * 2, the original's add module.
// The smallest possible compute kernels, used for dispatch overhead figures.
int add(int a, int b) { return a + b; }
int run(int n) { return n * 2; }
