// The timeout formula of Lifeguard (Dadgar et al., 2018, section IV-B):
// timeout = max(min, max - (max - min) * log(C + 1) / log(k + 1)) after C confirmations.
#include "core/suspicion.h"

#include <algorithm>
#include <cmath>

#include "core/assert.h"

namespace velum::core {

Suspicion::Suspicion(NodeId first, uint64_t start_ms, uint64_t min_ms, uint64_t max_ms, uint32_t k)
    : start_ms_(start_ms), min_ms_(min_ms), max_ms_(max_ms), k_(std::min(k, kMaxConfirmations)) {
  VELUM_ASSERT(min_ms <= max_ms);
  suspecters_[0] = first;
}

bool Suspicion::Confirm(NodeId from) {
  if (count_ - 1 >= k_) return false;  // already at the minimum
  for (uint32_t i = 0; i < count_; ++i) {
    if (suspecters_[i] == from) return false;
  }
  VELUM_ASSERT(count_ < kMaxConfirmations + 1 && from != kNoNode);
  suspecters_[count_++] = from;
  VELUM_ASSERT(count_ <= k_ + 1);
  return true;
}

void Suspicion::Cap(uint64_t deadline_ms) {
  cap_ms_ = std::min(cap_ms_, deadline_ms);
  VELUM_ASSERT(Deadline() <= deadline_ms);
}

void Suspicion::Shift(uint64_t gap_ms) {
  const uint64_t before = Deadline();
  start_ms_ += gap_ms;
  if (cap_ms_ != UINT64_MAX) cap_ms_ += gap_ms;
  VELUM_ASSERT(start_ms_ >= gap_ms && Deadline() == before + gap_ms);  // no wrap
}

uint64_t Suspicion::Deadline() const {
  uint64_t timeout = min_ms_;
  if (k_ > 0) {
    const double frac =
        std::log(static_cast<double>(count_)) / std::log(static_cast<double>(k_ + 1));
    const double t = static_cast<double>(max_ms_) - static_cast<double>(max_ms_ - min_ms_) * frac;
    timeout = std::max(min_ms_, static_cast<uint64_t>(std::floor(t)));
  }
  VELUM_ASSERT(min_ms_ <= timeout && timeout <= max_ms_);
  return std::min(start_ms_ + timeout, cap_ms_);
}

}  // namespace velum::core
