// Sealing and opening authenticated datagrams (HMAC-SHA-512/256 from libsodium).
// The MAC key is derived from the cluster key so it is never used raw for two purposes.
#include "net/datagram_auth.h"

#include <sodium.h>

#include <cassert>
#include <cstring>

namespace velum::net {

namespace {
constexpr char kMagic[4] = {'V', 'L', 'M', 'D'};
static_assert(DatagramAuth::kTagSize == crypto_auth_hmacsha512256_BYTES);
}  // namespace

const char* DatagramVerdictName(DatagramVerdict verdict) {
  switch (verdict) {
    case DatagramVerdict::kOk:
      return "ok";
    case DatagramVerdict::kMalformed:
      return "malformed";
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
  crypto_kdf_derive_from_key(key_, sizeof key_, 1, "velumdgm", key.data());
}

std::string DatagramAuth::Seal(uint32_t sender, std::string_view payload, uint64_t now_ms) const {
  std::string out(kHeaderSize + payload.size() + kTagSize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(p, kMagic, 4);
  std::memcpy(p + 4, &sender, 4);
  std::memcpy(p + 8, &now_ms, 8);
  randombytes_buf(p + 16, 16);
  std::memcpy(p + kHeaderSize, payload.data(), payload.size());
  crypto_auth_hmacsha512256(p + kHeaderSize + payload.size(), p, kHeaderSize + payload.size(),
                            key_);
  return out;
}

DatagramVerdict DatagramAuth::Open(std::string_view datagram, uint64_t now_ms, uint32_t* sender,
                                   std::string_view* payload) {
  const auto* p = reinterpret_cast<const uint8_t*>(datagram.data());
  if (datagram.size() < kHeaderSize + kTagSize || datagram.size() > kMaxDatagram ||
      std::memcmp(p, kMagic, 4) != 0) {
    stats_.malformed++;
    return DatagramVerdict::kMalformed;
  }
  size_t body = datagram.size() - kTagSize;
  if (crypto_auth_hmacsha512256_verify(p + body, p, body, key_) != 0) {
    stats_.bad_mac++;
    return DatagramVerdict::kBadMac;
  }
  uint64_t stamp;
  std::memcpy(&stamp, p + 8, 8);
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
  std::pair<uint64_t, std::string> id{stamp, std::string(datagram.substr(8, 24))};
  if (!seen_.insert(id).second) {
    stats_.replayed++;
    return DatagramVerdict::kReplay;
  }
  seen_order_.push_back(std::move(id));
  std::memcpy(sender, p + 4, 4);
  *payload = datagram.substr(kHeaderSize, body - kHeaderSize);
  stats_.accepted++;
  return DatagramVerdict::kOk;
}

}  // namespace velum::net
