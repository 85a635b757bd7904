// fib: naive recursive Fibonacci, a call-heavy kernel.
// fib(30) = 832040; deep recursion exercises the call path of each engine.
int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
