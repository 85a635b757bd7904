// A TCP link's security, sans-I/O: mutual challenge-response proving the cluster key, then
// every frame encrypted and authenticated (ChaCha20-Poly1305) with per-direction keys.
#ifndef VELUM_NET_SECURE_SESSION_H_
#define VELUM_NET_SECURE_SESSION_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/cluster_key.h"

namespace velum::net {

// Wire: each record is a 4-byte little-endian length then that many bytes.
//   hello  = "VLMS" | version u8 | node id u32 | nonce[32]           (plain, both sides)
//   proof  = HMAC(k_auth, "proof" | role | own nonce | peer nonce | own id | peer id)
//   frames = ChaCha20-Poly1305(k_direction, nonce = counter, ad = length)
// A counter nonce per direction makes replayed, reordered or dropped frames fail to open.
class SecureSession {
 public:
  static constexpr uint32_t kMaxFrame = 16 << 20;

  enum class State { kHello, kProof, kEstablished, kFailed };

  SecureSession(const ClusterKey& key, uint32_t self_id, bool initiator);

  // Bytes to send at once (the hello).
  std::string Start();
  // Consumes received bytes. Appends decrypted messages to `messages` and handshake bytes
  // to send to `reply`. Returns false once the session has failed (then close the link).
  bool Feed(std::string_view bytes, std::vector<std::string>* messages, std::string* reply);
  // Encrypts one message into a record to send. Only when established.
  std::string Seal(std::string_view message);

  State state() const { return state_; }
  bool established() const { return state_ == State::kEstablished; }
  uint32_t peer_id() const { return peer_id_; }
  const std::string& failure() const { return failure_; }

 private:
  bool Fail(std::string why);
  bool OnRecord(std::string_view record, std::vector<std::string>* messages, std::string* reply);
  std::array<uint8_t, 32> Proof(bool initiator_role, const uint8_t* first_nonce,
                                const uint8_t* second_nonce, uint32_t first_id,
                                uint32_t second_id) const;

  uint8_t auth_key_[32];
  uint8_t cluster_key_[32];
  uint32_t self_id_;
  bool initiator_;
  State state_ = State::kHello;
  uint8_t nonce_[32];
  uint8_t peer_nonce_[32] = {};
  uint32_t peer_id_ = 0;
  uint8_t send_key_[32] = {}, recv_key_[32] = {};
  uint64_t send_counter_ = 0, recv_counter_ = 0;
  std::string inbox_;
  std::string failure_;
};

}  // namespace velum::net

#endif  // VELUM_NET_SECURE_SESSION_H_
