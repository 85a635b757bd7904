// primes: count_primes(start, end) counts primes in [start, end) by trial division.
// The range job of the demo: scatter primes count_primes 0 500000 -> 41538.
#include "primes.h"
int count_primes(int start, int end) { return velum_count_primes(start, end); }
