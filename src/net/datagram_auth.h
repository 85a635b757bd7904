// Authenticated datagrams: every beacon and gossip packet carries a MAC under the cluster
// key, a timestamp and a nonce. Nothing past the fixed header is parsed before the MAC checks.
#ifndef VELUM_NET_DATAGRAM_AUTH_H_
#define VELUM_NET_DATAGRAM_AUTH_H_

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "net/cluster_key.h"

namespace velum::net {

enum class DatagramVerdict { kOk, kMalformed, kBadMac, kStale, kReplay };
const char* DatagramVerdictName(DatagramVerdict verdict);

struct DatagramStats {
  uint64_t accepted = 0, malformed = 0, bad_mac = 0, stale = 0, replayed = 0;
  uint64_t dropped() const { return malformed + bad_mac + stale + replayed; }
};

// Sans-I/O: the caller passes the time; `random` nonces come from libsodium.
class DatagramAuth {
 public:
  static constexpr size_t kHeaderSize = 4 + 4 + 8 + 16;  // magic, sender, time, nonce
  static constexpr size_t kTagSize = 32;
  static constexpr size_t kMaxDatagram = 65000;
  static constexpr uint64_t kDefaultWindowMs = 30000;  // tolerated clock skew and delay
  // Bounded: past this many datagrams in one window the oldest are forgotten (and could be
  // replayed once). 65536 covers ~2000 datagrams/s, far above a 1000-node mesh's load.
  static constexpr size_t kReplayMemory = 65536;

  explicit DatagramAuth(const ClusterKey& key, uint64_t window_ms = kDefaultWindowMs);

  std::string Seal(uint32_t sender, std::string_view payload, uint64_t now_ms) const;
  // On kOk sets `sender` and `payload` (a view into `datagram`).
  DatagramVerdict Open(std::string_view datagram, uint64_t now_ms, uint32_t* sender,
                       std::string_view* payload);
  const DatagramStats& stats() const { return stats_; }

 private:
  uint8_t key_[32];
  uint64_t window_ms_;
  // (timestamp, nonce) of accepted datagrams inside the window: a replay is refused.
  std::set<std::pair<uint64_t, std::string>> seen_;
  std::deque<std::pair<uint64_t, std::string>> seen_order_;
  DatagramStats stats_;
};

}  // namespace velum::net

#endif  // VELUM_NET_DATAGRAM_AUTH_H_
