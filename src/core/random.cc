// xoshiro256** seeded through splitmix64, as its authors recommend for 64-bit seeds.
// Deterministic on every platform, so a simulator seed replays the same run anywhere.
#include "core/random.h"

#include "core/assert.h"

namespace velum::core {

namespace {
uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = SplitMix(&seed);
  // xoshiro's one forbidden state; splitmix64 is a bijection of distinct inputs: never.
  VELUM_ASSERT((s_[0] | s_[1] | s_[2] | s_[3]) != 0);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t Rng::Uniform(uint64_t n) {
  VELUM_ASSERT(n > 0);
  __uint128_t m = static_cast<__uint128_t>(Next()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = -n % n;
    // Rejection is rare (probability < n / 2^64); the loop ends almost surely in one round.
    while (low < threshold) {
      m = static_cast<__uint128_t>(Next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  const uint64_t r = static_cast<uint64_t>(m >> 64);
  VELUM_ASSERT(r < n);
  return r;
}

double Rng::Real() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

}  // namespace velum::core
