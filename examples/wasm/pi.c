// pi: pi_hits(start, end) counts Monte Carlo points inside the unit quarter circle.
// pi ~= 4 * hits / samples; the estimate is the same however the range is split.
#include "pi.h"
int pi_hits(int start, int end) { return velum_pi_hits(start, end); }
