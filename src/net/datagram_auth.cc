// Sealing and opening datagrams (XChaCha20-Poly1305 from libsodium, random 192-bit nonces).
// The key is derived from the cluster key (its own KDF context) so it serves one purpose only.
#include "net/datagram_auth.h"

#include <sodium.h>

#include <cassert>
#include <cstring>

namespace velum::net {

namespace {
constexpr char kMagic[4] = {'V', 'L', 'M', 'D'};
// Distinct from the TCP sessions' "velumtcp": the same cluster key never keys both.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "velumdgm";
constexpr uint64_t kKdfSubkey = DatagramAuth::kVersion;
static_assert(DatagramAuth::kTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(DatagramAuth::kNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
}  // namespace

const char* DatagramVerdictName(DatagramVerdict verdict) {
  switch (verdict) {
    case DatagramVerdict::kOk:
      return "ok";
    case DatagramVerdict::kMalformed:
      return "malformed";
    case DatagramVerdict::kMisdirected:
      return "misdirected";
    case DatagramVerdict::kBadMac:
      return "bad mac";
    case DatagramVerdict::kStale:
      return "stale";
    case DatagramVerdict::kReplay:
      return "replay";
  }
  return "?";
}

DatagramAuth::DatagramAuth(const ClusterKey& key, uint64_t window_ms) : window_ms_(window_ms) {
  int rc = sodium_init();
  assert(rc >= 0);
  (void)rc;
  crypto_kdf_derive_from_key(key_, sizeof key_, kKdfSubkey, kKdfContext, key.data());
}

DatagramAuth::~DatagramAuth() { sodium_memzero(key_, sizeof key_); }

std::string DatagramAuth::Seal(uint32_t sender, DatagramKind kind, std::string_view destination,
                               std::string_view payload, uint64_t now_ms) const {
  if (kind == DatagramKind::kBroadcast) destination = kBroadcastDestination;
  const size_t header = kMinHeaderSize + destination.size();
  const size_t plain = kSealedFields + payload.size();
  if (destination.size() > kMaxDestination || header + plain + kTagSize > kMaxDatagram) return {};
  std::string out(header + plain + kTagSize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(p, kMagic, 4);
  p[4] = kVersion;
  p[5] = static_cast<uint8_t>(kind);
  p[6] = static_cast<uint8_t>(destination.size());
  std::memcpy(p + 7, destination.data(), destination.size());
  uint8_t* nonce = p + 7 + destination.size();
  randombytes_buf(nonce, kNonceSize);
  // Encrypted in place: the plaintext is laid out where the ciphertext goes.
  uint8_t* body = p + header;
  std::memcpy(body, &now_ms, 8);
  std::memcpy(body + 8, &sender, 4);
  std::memcpy(body + kSealedFields, payload.data(), payload.size());
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(body, &written, body, plain, p, header, nullptr, nonce,
                                             key_);
  assert(written == plain + kTagSize);
  return out;
}

DatagramVerdict DatagramAuth::Open(std::string_view datagram, std::string_view local,
                                   uint64_t now_ms, uint32_t* sender, DatagramKind* kind,
                                   std::string_view* payload) {
  const auto* p = reinterpret_cast<const uint8_t*>(datagram.data());
  if (datagram.size() < kMinHeaderSize + kSealedFields + kTagSize ||
      datagram.size() > kMaxDatagram || std::memcmp(p, kMagic, 4) != 0 || p[4] != kVersion ||
      (p[5] != static_cast<uint8_t>(DatagramKind::kUnicast) &&
       p[5] != static_cast<uint8_t>(DatagramKind::kBroadcast)) ||
      p[6] > kMaxDestination ||
      datagram.size() < kMinHeaderSize + p[6] + kSealedFields + kTagSize) {
    stats_.malformed++;
    return DatagramVerdict::kMalformed;
  }
  const auto k = static_cast<DatagramKind>(p[5]);
  const std::string_view dest = datagram.substr(7, p[6]);
  // A captured datagram sent again to another node (or port) is recognised here, unopened.
  if (dest != (k == DatagramKind::kBroadcast ? kBroadcastDestination : local)) {
    stats_.misdirected++;
    return DatagramVerdict::kMisdirected;
  }
  const size_t header = kMinHeaderSize + dest.size();
  const uint8_t* nonce = p + 7 + dest.size();
  const size_t sealed = datagram.size() - header;
  plain_.resize(sealed - kTagSize);
  unsigned long long plain_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<uint8_t*>(plain_.data()),
                                                 &plain_len, nullptr, p + header, sealed, p, header,
                                                 nonce, key_) != 0) {
    stats_.bad_mac++;
    return DatagramVerdict::kBadMac;
  }
  uint64_t stamp;
  std::memcpy(&stamp, plain_.data(), 8);
  if (stamp + window_ms_ < now_ms || stamp > now_ms + window_ms_) {
    stats_.stale++;
    return DatagramVerdict::kStale;
  }
  // Forget entries that have left the window: a datagram that old is refused as stale anyway.
  while (!seen_order_.empty() &&
         (seen_order_.front().first + window_ms_ < now_ms || seen_order_.size() >= kReplayMemory)) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  std::pair<uint64_t, std::string> id{
      stamp, std::string(reinterpret_cast<const char*>(nonce), kNonceSize)};
  if (!seen_.insert(id).second) {
    stats_.replayed++;
    return DatagramVerdict::kReplay;
  }
  seen_order_.push_back(std::move(id));
  std::memcpy(sender, plain_.data() + 8, 4);
  *kind = k;
  *payload = std::string_view(plain_).substr(kSealedFields);
  stats_.accepted++;
  return DatagramVerdict::kOk;
}

}  // namespace velum::net
