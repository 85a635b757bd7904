// The one timer a driver asks of its loop, for its earliest deadline: only ever brought
// forward, and a wake that arrives for a time no longer wanted does nothing.
#ifndef VELUM_NODE_DEADLINE_WAKE_H_
#define VELUM_NODE_DEADLINE_WAKE_H_

#include <cstdint>

namespace velum {

class DeadlineWake {
 public:
  // True when `at_ms` is sooner than the wake asked for: the driver asks its loop for it now.
  // A later deadline waits: the sooner wake ticks for nothing and asks again.
  bool BringForward(uint64_t at_ms) {
    if (at_ms >= at_ms_) return false;
    at_ms_ = at_ms;
    return true;
  }
  // A wake for `at_ms` arrived: true if it is the one asked for (none is asked for then).
  bool Arrived(uint64_t at_ms) {
    if (at_ms != at_ms_) return false;
    at_ms_ = UINT64_MAX;
    return true;
  }
  void Clear() { at_ms_ = UINT64_MAX; }  // a wake already asked for finds nothing to do

 private:
  uint64_t at_ms_ = UINT64_MAX;  // the wake asked for; MAX: none
};

}  // namespace velum

#endif  // VELUM_NODE_DEADLINE_WAKE_H_
