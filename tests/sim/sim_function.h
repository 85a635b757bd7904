// The simulated exports: functions of a range with a closed-form reduction of any range, so
// every result the simulators and core tests see is checked exactly, whatever the faults.
#ifndef VELUM_TESTS_SIM_SIM_FUNCTION_H_
#define VELUM_TESTS_SIM_SIM_FUNCTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/job_types.h"
#include "core/random.h"

namespace velum::sim {

// The simulated exports (JobSpec::func), each with a closed-form reduction of any range:
//   "sum"        -> (sum of i mod 2^64, number of items)      reducer sum
//   "min"/"max"  -> (the smallest / largest i)                  reducer min / max
//   "first:M:R"  -> the first i with i % M == R, else 0 (R > 0) reducer first
//   "mat"        -> the 2x2 product M(lo) ... M(hi - 1) modulo 1e9+7, M(i) = [[k+2, 1], [k, 1]]
//                   with k = i mod 1009 (4 values; they do not commute)   reducer: the module's
//                   export "matmul" (kMatCombine), which the simulated executors run as Combine
struct SimFunction {
  enum class Kind : uint8_t { kSum, kMin, kMax, kFirst, kMat } kind = Kind::kSum;
  static constexpr const char* kMatCombine = "matmul";
  // What "matmul" returns for (lower..., upper...): their product, lower on the left.
  static std::vector<core::Num> Combine(const std::vector<core::Num>& lower,
                                        const std::vector<core::Num>& upper);
  int64_t modulus = 1, residue = 0;
  static std::optional<SimFunction> Parse(const std::string& func);
  // What the export returns for one call on [lo, hi).
  std::vector<core::Num> Call(int64_t lo, int64_t hi) const;
  // The exact reduction of [lo, hi) (empty partial for an empty range or nothing found).
  core::Partial Reference(int64_t lo, int64_t hi) const;
};

// A range [*lo, *hi) drawn from the whole int64 domain, weighted toward its edges: the whole
// domain, ranges ending at INT64_MAX or starting at INT64_MIN, 1-item ranges, sizes spread
// log-uniformly over 1 .. 2^64 - 1 at random places.
void RandomInt64Range(core::Rng& rng, int64_t* lo, int64_t* hi);

}  // namespace velum::sim

#endif  // VELUM_TESTS_SIM_SIM_FUNCTION_H_
