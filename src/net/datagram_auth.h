// Sealed datagrams: every beacon and gossip packet is encrypted and authenticated under the
// cluster key and bound to its destination. Nothing past the fixed header is parsed in clear.
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

enum class DatagramVerdict { kOk, kMalformed, kMisdirected, kBadMac, kStale, kReplay };
const char* DatagramVerdictName(DatagramVerdict verdict);

// A unicast datagram is bound to the address it was sent to; a broadcast one (a beacon) to
// the marker kBroadcastDestination, since every host of the segment may hear it.
enum class DatagramKind : uint8_t { kUnicast = 'U', kBroadcast = 'B' };
inline constexpr std::string_view kBroadcastDestination = "broadcast";

struct DatagramStats {
  uint64_t accepted = 0, malformed = 0, misdirected = 0, bad_mac = 0, stale = 0, replayed = 0;
  uint64_t dropped() const { return malformed + misdirected + bad_mac + stale + replayed; }
};

// Wire (version 2):
//   header     = "VLMD" | version u8 (2) | kind u8 ('U' or 'B') | dest_len u8 | dest | nonce[24]
//   ciphertext = XChaCha20-Poly1305(time_ms u64 | sender u32 | payload, ad = header)
// dest is the destination "ADDRESS:PORT" as the sender addressed it, or "broadcast". It is in
// clear so that a datagram meant for another node is told apart (and counted) before any
// decryption; the AEAD covers it, so rewriting it fails authentication.
// Sans-I/O: the caller passes the time and its own address; nonces come from libsodium.
class DatagramAuth {
 public:
  static constexpr uint8_t kVersion = 2;
  static constexpr size_t kNonceSize = 24;
  static constexpr size_t kMaxDestination = 64;
  static constexpr size_t kMinHeaderSize = 4 + 1 + 1 + 1 + kNonceSize;
  static constexpr size_t kSealedFields = 8 + 4;  // time, sender: encrypted with the payload
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kMaxDatagram = 65000;
  static constexpr uint64_t kDefaultWindowMs = 30000;  // tolerated clock skew and delay
  // Bounded: past this many datagrams in one window the oldest are forgotten (and could be
  // replayed once). 65536 covers ~2000 datagrams/s, far above a 1000-node mesh's load.
  // What a replay can do: a unicast datagram is refused at its node (this memory) and as
  // misdirected anywhere else; one delivered again after the memory overflowed is harmless
  // to SWIM (claims count by incarnation, acks by sequence number: an old one is ignored, a
  // Ping or PingReq costs one more answer). A beacon opens once at every node in the window;
  // the membership core only lets it introduce a member, never change a known one.
  static constexpr size_t kReplayMemory = 65536;

  explicit DatagramAuth(const ClusterKey& key, uint64_t window_ms = kDefaultWindowMs);
  ~DatagramAuth();
  DatagramAuth(const DatagramAuth&) = delete;
  DatagramAuth& operator=(const DatagramAuth&) = delete;

  // `destination`: the "ADDRESS:PORT" the datagram is sent to (ignored for kBroadcast).
  // Empty if the destination is longer than kMaxDestination or the payload too large.
  std::string Seal(uint32_t sender, DatagramKind kind, std::string_view destination,
                   std::string_view payload, uint64_t now_ms) const;
  // `local`: the "ADDRESS:PORT" this datagram arrived at. On kOk sets `sender`, `kind` and
  // `payload` (a view into this object, valid until the next Open).
  DatagramVerdict Open(std::string_view datagram, std::string_view local, uint64_t now_ms,
                       uint32_t* sender, DatagramKind* kind, std::string_view* payload);
  const DatagramStats& stats() const { return stats_; }

 private:
  uint8_t key_[32];
  uint64_t window_ms_;
  std::string plain_;  // the last opened datagram's plaintext
  // (timestamp, nonce) of accepted datagrams inside the window: a replay is refused.
  std::set<std::pair<uint64_t, std::string>> seen_;
  std::deque<std::pair<uint64_t, std::string>> seen_order_;
  DatagramStats stats_;
};

}  // namespace velum::net

#endif  // VELUM_NET_DATAGRAM_AUTH_H_
