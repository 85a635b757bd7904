// Lifeguard's dynamic suspicion timer: long at first, shorter with each independent confirmation,
// so a real failure is declared fast and a lone false suspicion has time to be refuted.
#ifndef VELUM_CORE_SUSPICION_H_
#define VELUM_CORE_SUSPICION_H_

#include <cstdint>

#include "core/types.h"

namespace velum::core {

class Suspicion {
 public:
  static constexpr uint32_t kMaxConfirmations = 8;

  // k: confirmations that bring the timeout down to min_ms; k == 0 means min_ms at once.
  Suspicion(NodeId first, uint64_t start_ms, uint64_t min_ms, uint64_t max_ms, uint32_t k);

  // True if `from` is a new suspecter that shortened the timeout (worth re-gossiping).
  bool Confirm(NodeId from);
  // Never later than deadline_ms (a reset link).
  void Cap(uint64_t deadline_ms);
  // The process slept for gap_ms: the evidence was not gathered while it was awake.
  void Shift(uint64_t gap_ms);

  uint64_t Deadline() const;
  NodeId first() const { return suspecters_[0]; }
  // Started by a second-hand death verdict about a member we held alive: only our own timer
  // may declare the death (see Membership::Apply).
  bool contested() const { return contested_; }
  void set_contested() { contested_ = true; }
  uint32_t confirmations() const { return count_ - 1; }

 private:
  uint64_t start_ms_;
  uint64_t min_ms_;
  uint64_t max_ms_;
  uint64_t cap_ms_ = UINT64_MAX;
  uint32_t k_;
  uint32_t count_ = 1;
  bool contested_ = false;  // suspecters_[0] is the first; the rest confirm
  NodeId suspecters_[kMaxConfirmations + 1] = {};
};

}  // namespace velum::core

#endif  // VELUM_CORE_SUSPICION_H_
