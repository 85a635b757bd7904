// The byte layout of velum-fuzz-decoders' inputs, shared by the harness (which reads it) and
// the seed writer (which writes valid examples): the first byte picks the decoder under test.
#ifndef VELUM_TESTS_FUZZ_FUZZ_INPUTS_H_
#define VELUM_TESTS_FUZZ_FUZZ_INPUTS_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/cluster_key.h"

namespace velum::fuzz {

// A fixed key and clock: a crashing input reproduces from its bytes alone.
inline constexpr net::ClusterKey kKey = {
    0x56, 0x65, 0x6c, 0x75, 0x6d, 0x4f, 0x53, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x6b, 0x65, 0x79,
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
inline constexpr uint64_t kNowMs = 1'700'000'000'000;
// The fuzzed node's address: unicast datagrams are sealed for (and opened at) it.
inline constexpr std::string_view kLocal = "127.0.0.1:8002";

// input[0] % kTargets selects the target; the rest of the input is laid out as described.
enum Target : uint8_t {
  // rest: a datagram given as is to DatagramAuth::Open; if it opens (a sealed seed), the
  // payload is decoded as the node does ('B' beacon, 'M' membership message).
  kRawDatagram = 0,
  // rest: flags u8 (bit 0: flip one bit after sealing; bits 1-3: which bit; bit 4: a minute
  // later, send it again; bit 5: a beacon; bit 6: sealed for another address), skew s8 (seconds
  // from the opener's clock), position u16 (of the
  // flipped byte), sender u32, payload. The payload is sealed with the right key, opened, and
  // decoded as the node does.
  kSealedDatagram = 1,
  // rest: bytes for wire::Decode.
  kMessage = 2,
  // rest: bytes for wire::DecodeBeacon.
  kBeacon = 3,
  // rest: flags u8 (bit 0: the session is the initiator; bit 1: call Start(); bit 2: feed a
  // genuine peer hello first), then chunks (length u8, bytes) fed to a fresh SecureSession.
  kSessionHandshake = 4,
  // rest: flags u8 (bit 0: the receiver is the initiator; bit 1: deliver the handshake
  // through the ops instead of at once), then ops on a genuine peer's stream to the receiver:
  // kOpSeal (len u16, message), kOpRaw (len u8, bytes), kOpFlip (position u16, bit u8),
  // kOpDeliver (count u16). Whatever is left is delivered at the end.
  kSessionEstablished = 5,
  // rest: flags u8 (bit 0: a beacon, else a membership message), then build ops (BuildOp)
  // on the generated protobuf classes. The result is serialized and decoded, and the decoder
  // must accept it exactly when it obeys the rules (limits the raw bytes rarely reach).
  kStructured = 6,
  // rest: bytes for wire::DecodeLink (a peer link's frame: heartbeat, job, module, call).
  kLink = 7,
  // rest: bytes for wire::DecodeJobSpec (a journal record).
  kJobSpec = 8,
  // rest: bytes for wire::DecodeNums (a journal record).
  kNums = 9,
  // rest: kind u8 (% kLinkKinds: which body, or a journal record), then the fields of that
  // body read in order (see FuzzStructuredLink), built with the generated protobuf classes;
  // the decoder must accept it exactly when it obeys the rules. kLinkReportText instead
  // builds a core::Report whose error text is the rest's raw bytes: whatever the text, the
  // encoder must produce a frame that decodes.
  kStructuredLink = 10,
  kTargets = 11,
};

// The bodies kStructuredLink builds.
enum LinkKind : uint8_t {
  kLinkPing = 0,
  kLinkPong = 1,
  kLinkAssign = 2,
  kLinkCancel = 3,
  kLinkReport = 4,
  kLinkModuleRequest = 5,
  kLinkModuleData = 6,
  kLinkCall = 7,
  kLinkCallResult = 8,
  kLinkCallCancel = 9,
  kLinkNone = 10,  // a frame without a body
  kLinkJobSpec = 11,
  kLinkNums = 12,
  kLinkReportText = 13,
  kLinkKinds = 14,
};

enum Op : uint8_t { kOpSeal = 0, kOpRaw = 1, kOpFlip = 2, kOpDeliver = 3, kOps = 4 };

// An update is: id u16, incarnation u8, state u8 (% 6: 5 is unknown), suspecter u8, has-meta
// u8 (bit 0), and with meta: slots u8, addr/gossip_addr/version lengths u8 (x2 bytes each).
enum BuildOp : uint8_t {
  kBuildFrom = 0,    // the sender's update (a beacon: its id, incarnation and meta)
  kBuildGossip = 1,  // one more piggybacked update
  kBuildMember = 2,  // one more JoinAck member (the body becomes a JoinAck)
  kBuildRange = 3,   // one more JoinAck range: start u16, digest u32
  kBuildBody = 4,    // body u8 (% 10: 9 is none), seq u8, target u8
  kBuildTo = 5,      // to u16
  kBuildOps = 6,
};

// Reads the layout; past the end every number is 0 and every byte string empty.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  bool empty() const { return rest_.empty(); }
  uint8_t U8() {
    if (rest_.empty()) return 0;
    uint8_t v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return v;
  }
  uint16_t U16() {
    uint16_t lo = U8();
    uint16_t hi = U8();
    return static_cast<uint16_t>(lo | hi << 8);
  }
  uint32_t U32() {
    uint32_t lo = U16();
    uint32_t hi = U16();
    return lo | hi << 16;
  }
  std::string_view Bytes(size_t n) {
    n = std::min(n, rest_.size());
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }
  std::string_view Rest() { return Bytes(rest_.size()); }

 private:
  std::string_view rest_;
};

// Writes the layout (the seed writer).
class Writer {
 public:
  explicit Writer(Target target) { bytes_.push_back(static_cast<char>(target)); }

  Writer& U8(uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  Writer& U16(uint16_t v) { return U8(static_cast<uint8_t>(v)).U8(static_cast<uint8_t>(v >> 8)); }
  Writer& U32(uint32_t v) {
    return U16(static_cast<uint16_t>(v)).U16(static_cast<uint16_t>(v >> 16));
  }
  Writer& Bytes(std::string_view b) {
    bytes_.append(b);
    return *this;
  }
  // kSessionHandshake chunks and kSessionEstablished ops.
  Writer& Chunk(std::string_view b) {
    return U8(static_cast<uint8_t>(b.size())).Bytes(b.substr(0, 255));
  }
  Writer& Seal(std::string_view m) {
    return U8(kOpSeal).U16(static_cast<uint16_t>(m.size())).Bytes(m.substr(0, 65535));
  }
  Writer& Raw(std::string_view b) { return U8(kOpRaw).Chunk(b); }
  Writer& Flip(uint16_t position, uint8_t bit) { return U8(kOpFlip).U16(position).U8(bit); }
  Writer& Deliver(uint16_t count) { return U8(kOpDeliver).U16(count); }
  // kStructured: an update without meta; `op` is kBuildFrom, kBuildGossip or kBuildMember.
  Writer& Update(BuildOp op, uint16_t id, uint8_t state) {
    return U8(op).U16(id).U8(1).U8(state).U8(0).U8(0);
  }

  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace velum::fuzz

#endif  // VELUM_TESTS_FUZZ_FUZZ_INPUTS_H_
