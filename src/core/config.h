// Tuning of the membership protocol, with defaults for a LAN mesh and the timeouts derived
// from them. Defaults: a silent node is dead in <= 3 s, a reset link in <= 1 s (small N).
#ifndef VELUM_CORE_CONFIG_H_
#define VELUM_CORE_CONFIG_H_

#include <cstdint>

namespace velum::core {

struct Config {
  // A restarted process must be recognised as new: pass something larger than any earlier
  // run used, e.g. wall-clock milliseconds. If it is not, the process still learns its old
  // number from a JoinAck or gossip and bumps past it (a little later).
  uint64_t initial_incarnation = 1;

  // SWIM failure detector. One member is probed per interval, in randomized round robin.
  uint32_t probe_interval_ms = 200;
  uint32_t probe_timeout_ms = 100;  // then k indirect probes until the interval ends
  uint32_t indirect_probes = 3;     // k

  // Suspicion lasts between min and max (Lifeguard): min = suspicion_mult * probe interval *
  // max(1, log10 n); an unconfirmed suspicion lasts max = suspicion_max_mult * min, and each
  // independent confirmation (up to suspicion_confirmations) brings it closer to min.
  uint32_t suspicion_mult = 5;
  uint32_t suspicion_max_mult = 3;
  uint32_t suspicion_confirmations = 3;
  // OnLinkDown: a reset TCP link is strong evidence of a crash; dead after this unless refuted.
  uint32_t link_down_timeout_ms = 500;

  // Lifeguard local health: probe interval and timeout scale by (1 + score), score <= this.
  uint32_t max_local_health = 8;

  // Dissemination: every update is sent retransmit_mult * ceil(log10(n + 1)) times.
  uint32_t retransmit_mult = 4;
  uint32_t gossip_interval_ms = 200;  // while there is news, send it to gossip_fanout members
  uint32_t gossip_fanout = 3;
  uint32_t gossip_max_age_ms = 30000;  // older queued news is dropped (< dead_reap_ms)

  // Joining and anti-entropy: page requests of the member table.
  uint32_t join_retry_ms = 300;      // a page request unanswered this long is resent
  uint32_t join_interval_ms = 1000;  // retry seeds while not joined or alone
  // Anti-entropy after joining: each interval, a summary of page digests from a random member,
  // then the pages that differ from ours, at most sync_pages_per_round of them.
  uint32_t sync_interval_ms = 1000;
  uint32_t sync_pages_per_round = 4;
  uint32_t housekeeping_ms = 1000;  // reap tombstones, ping one dead member (heals splits)
  uint32_t dead_reap_ms = 120000;   // tombstones are forgotten after this
  uint32_t load_gossip_ms = 1000;   // load-only changes: one bump per this * max(1, n/10)
  uint32_t leave_fanout = 32;       // Leave goes straight to this many members
  uint32_t max_members = 4096;      // bound of every table and queue
  // A call this much later than NextDeadlineMs() means the process was paused (SIGSTOP,
  // swap): timers are shifted instead of declaring everybody dead on wake-up.
  uint32_t pause_guard_ms = 1000;

  // Duplicate ids. A claim that our own id is alive at another address is checked by a ping
  // there: an answer within id_check_ms proves another live process holds the id (no answer:
  // an earlier run of ours, which we outbid). While a node is new (id_probation_ms after its
  // start, and again after its first completed join) such proof makes it the newcomer, which
  // is refused (Membership::refused()); an established node only counts it.
  uint32_t id_check_ms = 300;
  uint32_t id_probation_ms = 3000;
};

// Asserts that the values are usable (non-zero intervals, timeout < interval, bounds).
void CheckConfig(const Config& config);

// Lifeguard's suspicion bounds for a mesh of n live members (self included).
uint64_t SuspicionMinMs(const Config& config, uint64_t n);
uint64_t SuspicionMaxMs(const Config& config, uint64_t n);
// How many times each update is piggybacked in a mesh of n live members.
uint32_t RetransmitLimit(const Config& config, uint64_t n);

}  // namespace velum::core

#endif  // VELUM_CORE_CONFIG_H_
