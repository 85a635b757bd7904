// A small seeded generator (xoshiro256**) for the membership core and the simulator.
// Own code rather than <random> distributions, whose outputs differ between libraries.
#ifndef VELUM_CORE_RANDOM_H_
#define VELUM_CORE_RANDOM_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace velum::core {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, n); n > 0. Unbiased (Lemire's method).
  uint64_t Uniform(uint64_t n);
  // Uniform in [0, 1).
  double Real();
  bool Chance(double p) { return Real() < p; }

  template <typename T>
  void Shuffle(std::vector<T>* v) {
    for (size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[Uniform(i)]);
  }

 private:
  uint64_t s_[4];
};

}  // namespace velum::core

#endif  // VELUM_CORE_RANDOM_H_
