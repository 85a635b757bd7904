// The TCP link handshake and record layer. Both sides prove the key before any frame is
// accepted; session keys mix both nonces so a recorded session cannot be replayed.
#include "net/secure_session.h"

#include <sodium.h>

#include <cassert>
#include <cstring>

namespace velum::net {

namespace {
constexpr char kHelloMagic[4] = {'V', 'L', 'M', 'S'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHelloSize = 4 + 1 + 4 + 32;
constexpr size_t kProofSize = 32;
constexpr size_t kTag = crypto_aead_chacha20poly1305_ietf_ABYTES;

std::string Record(std::string_view body) {
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out(reinterpret_cast<const char*>(&n), 4);
  out.append(body);
  return out;
}

void CounterNonce(uint64_t counter, uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES]) {
  std::memset(nonce, 0, crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
  std::memcpy(nonce + 4, &counter, 8);
}
}  // namespace

SecureSession::SecureSession(const ClusterKey& key, uint32_t self_id, bool initiator)
    : self_id_(self_id), initiator_(initiator) {
  int rc = sodium_init();
  assert(rc >= 0);
  (void)rc;
  std::memcpy(cluster_key_, key.data(), 32);
  crypto_kdf_derive_from_key(auth_key_, sizeof auth_key_, 2, "velumtcp", key.data());
  randombytes_buf(nonce_, sizeof nonce_);
}

std::string SecureSession::Start() {
  std::string hello(kHelloSize, '\0');
  std::memcpy(hello.data(), kHelloMagic, 4);
  hello[4] = static_cast<char>(kVersion);
  std::memcpy(hello.data() + 5, &self_id_, 4);
  std::memcpy(hello.data() + 9, nonce_, 32);
  return Record(hello);
}

std::array<uint8_t, 32> SecureSession::Proof(bool initiator_role, const uint8_t* first_nonce,
                                             const uint8_t* second_nonce, uint32_t first_id,
                                             uint32_t second_id) const {
  crypto_auth_hmacsha512256_state st;
  crypto_auth_hmacsha512256_init(&st, auth_key_, sizeof auth_key_);
  uint8_t role = initiator_role ? 'I' : 'R';
  crypto_auth_hmacsha512256_update(&st, reinterpret_cast<const uint8_t*>("proof"), 5);
  crypto_auth_hmacsha512256_update(&st, &role, 1);
  crypto_auth_hmacsha512256_update(&st, first_nonce, 32);
  crypto_auth_hmacsha512256_update(&st, second_nonce, 32);
  crypto_auth_hmacsha512256_update(&st, reinterpret_cast<const uint8_t*>(&first_id), 4);
  crypto_auth_hmacsha512256_update(&st, reinterpret_cast<const uint8_t*>(&second_id), 4);
  std::array<uint8_t, 32> out;
  crypto_auth_hmacsha512256_final(&st, out.data());
  return out;
}

bool SecureSession::Fail(std::string why) {
  state_ = State::kFailed;
  failure_ = std::move(why);
  sodium_memzero(send_key_, sizeof send_key_);
  sodium_memzero(recv_key_, sizeof recv_key_);
  return false;
}

bool SecureSession::Feed(std::string_view bytes, std::vector<std::string>* messages,
                         std::string* reply) {
  if (state_ == State::kFailed) return false;
  inbox_.append(bytes);
  size_t used = 0;
  while (inbox_.size() - used >= 4) {
    uint32_t n;
    std::memcpy(&n, inbox_.data() + used, 4);
    // Before the key is proven, only the two small handshake records are acceptable.
    uint32_t limit = state_ == State::kEstablished ? kMaxFrame + kTag : kHelloSize;
    if (n > limit) return Fail("record of " + std::to_string(n) + " bytes over the limit");
    if (inbox_.size() - used - 4 < n) break;
    std::string_view record(inbox_.data() + used + 4, n);
    used += 4 + n;
    if (!OnRecord(record, messages, reply)) return false;
  }
  inbox_.erase(0, used);
  return true;
}

bool SecureSession::OnRecord(std::string_view record, std::vector<std::string>* messages,
                             std::string* reply) {
  const auto* p = reinterpret_cast<const uint8_t*>(record.data());
  switch (state_) {
    case State::kHello: {
      if (record.size() != kHelloSize || std::memcmp(p, kHelloMagic, 4) != 0)
        return Fail("not a VelumOS peer");
      if (p[4] != kVersion) return Fail("unsupported protocol version " + std::to_string(p[4]));
      std::memcpy(&peer_id_, p + 5, 4);
      std::memcpy(peer_nonce_, p + 9, 32);
      if (sodium_memcmp(peer_nonce_, nonce_, 32) == 0) return Fail("reflected hello");
      auto proof = Proof(initiator_, nonce_, peer_nonce_, self_id_, peer_id_);
      reply->append(Record(std::string_view(reinterpret_cast<char*>(proof.data()), proof.size())));
      state_ = State::kProof;
      return true;
    }
    case State::kProof: {
      auto expected = Proof(!initiator_, peer_nonce_, nonce_, peer_id_, self_id_);
      if (record.size() != kProofSize || sodium_memcmp(p, expected.data(), 32) != 0)
        return Fail("peer does not hold the cluster key");
      // Keys per direction: H(cluster key; label | initiator nonce | responder nonce).
      const uint8_t* ni = initiator_ ? nonce_ : peer_nonce_;
      const uint8_t* nr = initiator_ ? peer_nonce_ : nonce_;
      uint8_t i2r[32], r2i[32];
      for (auto [label, out] : {std::pair{"i2r", i2r}, std::pair{"r2i", r2i}}) {
        crypto_generichash_state st;
        crypto_generichash_init(&st, cluster_key_, 32, 32);
        crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(label), 3);
        crypto_generichash_update(&st, ni, 32);
        crypto_generichash_update(&st, nr, 32);
        crypto_generichash_final(&st, out, 32);
      }
      std::memcpy(send_key_, initiator_ ? i2r : r2i, 32);
      std::memcpy(recv_key_, initiator_ ? r2i : i2r, 32);
      state_ = State::kEstablished;
      return true;
    }
    case State::kEstablished: {
      if (record.size() < kTag) return Fail("truncated frame");
      std::string plain(record.size() - kTag, '\0');
      uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
      CounterNonce(recv_counter_, nonce);
      uint32_t n = static_cast<uint32_t>(record.size());
      unsigned long long plain_len = 0;
      if (crypto_aead_chacha20poly1305_ietf_decrypt(
              reinterpret_cast<uint8_t*>(plain.data()), &plain_len, nullptr, p, record.size(),
              reinterpret_cast<const uint8_t*>(&n), 4, nonce, recv_key_) != 0)
        return Fail("frame failed authentication (tampered, replayed or reordered)");
      recv_counter_++;
      messages->push_back(std::move(plain));
      return true;
    }
    case State::kFailed:
      return false;
  }
  return false;
}

std::string SecureSession::Seal(std::string_view message) {
  assert(established());
  assert(message.size() <= kMaxFrame);
  uint32_t n = static_cast<uint32_t>(message.size() + kTag);
  std::string out(4 + n, '\0');
  std::memcpy(out.data(), &n, 4);
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  CounterNonce(send_counter_++, nonce);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(out.data() + 4), &len,
                                            reinterpret_cast<const uint8_t*>(message.data()),
                                            message.size(), reinterpret_cast<const uint8_t*>(&n), 4,
                                            nullptr, nonce, send_key_);
  return out;
}

}  // namespace velum::net
