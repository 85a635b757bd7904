// Validation of the protocol's tuning and the timeouts that scale with the mesh's size.
// Scaling by log n keeps the false-positive rate flat as the mesh grows (SWIM, Lifeguard).
#include "core/config.h"

#include <cmath>

#include "core/assert.h"
#include "core/message.h"

namespace velum::core {

void CheckConfig(const Config& c) {
  VELUM_ASSERT(c.probe_interval_ms > 0);
  VELUM_ASSERT(c.probe_timeout_ms > 0 && c.probe_timeout_ms < c.probe_interval_ms);
  VELUM_ASSERT(c.indirect_probes <= 16);
  VELUM_ASSERT(c.suspicion_mult > 0 && c.suspicion_max_mult >= 1);
  VELUM_ASSERT(c.suspicion_confirmations <= 8);
  VELUM_ASSERT(c.link_down_timeout_ms > 0);
  VELUM_ASSERT(c.max_local_health <= 16);
  VELUM_ASSERT(c.retransmit_mult > 0);
  VELUM_ASSERT(c.gossip_interval_ms > 0 && c.gossip_fanout <= 16);
  VELUM_ASSERT(c.gossip_max_age_ms < c.dead_reap_ms);
  VELUM_ASSERT(c.join_retry_ms > 0 && c.join_interval_ms > 0 && c.sync_interval_ms > 0);
  VELUM_ASSERT(c.sync_pages_per_round >= 1 && c.sync_pages_per_round <= 64);
  VELUM_ASSERT(c.housekeeping_ms > 0 && c.housekeeping_ms <= c.pause_guard_ms);
  VELUM_ASSERT(c.load_gossip_ms > 0);
  VELUM_ASSERT(c.max_members >= 2 && c.max_members <= (1u << 20));
  VELUM_ASSERT(c.initial_incarnation < UINT64_MAX / 2);
  VELUM_ASSERT(c.id_check_ms > 0 && c.id_check_ms <= c.id_probation_ms);
}

namespace {
double Log10Floor1(uint64_t n) { return n <= 10 ? 1.0 : std::log10(static_cast<double>(n)); }
}  // namespace

uint64_t SuspicionMinMs(const Config& c, uint64_t n) {
  return static_cast<uint64_t>(c.suspicion_mult * c.probe_interval_ms * Log10Floor1(n));
}

uint64_t SuspicionMaxMs(const Config& c, uint64_t n) {
  return c.suspicion_max_mult * SuspicionMinMs(c, n);
}

uint32_t RetransmitLimit(const Config& c, uint64_t n) {
  return c.retransmit_mult *
         static_cast<uint32_t>(std::ceil(std::log10(static_cast<double>(n + 1))));
}

}  // namespace velum::core
