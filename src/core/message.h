// The membership protocol's messages as plain structs, and the limits every message obeys.
// wire/codec turns them into bytes; the core never sees bytes, sockets or addresses' meaning.
#ifndef VELUM_CORE_MESSAGE_H_
#define VELUM_CORE_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "core/types.h"

namespace velum::core {

// Bounds that keep one message inside one datagram (~3.5 KB at most with typical metadata).
constexpr size_t kMaxGossipPerMessage = 16;  // piggybacked updates per message
constexpr size_t kMaxJoinAckMembers = 32;    // members per JoinAck page
constexpr size_t kMaxSummaryRanges = 16;     // page digests per anti-entropy summary
constexpr size_t kMaxMetaString = 255;       // addr, gossip_addr, version

// SWIM's direct probe. The receiver answers Ack with the same seq.
struct Ping {
  uint64_t seq = 0;

  bool operator==(const Ping&) const = default;
};
struct Ack {
  uint64_t seq = 0;

  bool operator==(const Ack&) const = default;
};
// "Please probe `target` for me": the receiver pings it and relays the answer.
struct PingReq {
  uint64_t seq = 0;  // the requester's seq, echoed in IndirectAck / Nack
  NodeId target = kNoNode;

  bool operator==(const PingReq&) const = default;
};
// The relayed answer: `target` acked the helper's ping.
struct IndirectAck {
  uint64_t seq = 0;
  NodeId target = kNoNode;

  bool operator==(const IndirectAck&) const = default;
};
// Lifeguard: the helper heard nothing from `target` in time. It proves the requester's own
// link to the helper works, so a missing Nack hints at local trouble (local health).
struct Nack {
  uint64_t seq = 0;
  NodeId target = kNoNode;

  bool operator==(const Nack&) const = default;
};
// A page request of the member table: the kMaxJoinAckMembers smallest ids >= cursor. Cursor 0
// from an unknown node introduces it (a join); anti-entropy uses it too. With summary set,
// the answer carries digests of the next pages instead of members.
struct Join {
  uint64_t seq = 0;
  NodeId cursor = 0;
  bool summary = false;

  bool operator==(const Join&) const = default;
};
// The digest of the members with ids in [start, the next range's start).
struct RangeDigest {
  NodeId start = kNoNode;
  uint64_t digest = 0;

  bool operator==(const RangeDigest&) const = default;
};
// One page of the full state, in id order, tombstones included (so a joiner does not
// resurrect a dead member from stale gossip, and learns its own old incarnation); or, for a
// summary, the digests of up to kMaxSummaryRanges pages, so only differing pages are fetched.
struct JoinAck {
  uint64_t seq = 0;
  NodeId next_cursor = 0;  // where the next page (or range) starts, if !done
  bool done = false;
  std::vector<Update> members;      // <= kMaxJoinAckMembers
  std::vector<RangeDigest> ranges;  // <= kMaxSummaryRanges

  bool operator==(const JoinAck&) const = default;
};
// A graceful goodbye; the sender record says kLeft with a fresh incarnation.
struct Leave {
  bool operator==(const Leave&) const = default;
};
// Only piggybacked updates: sent to a few random members while there is news to spread.
struct Gossip {
  bool operator==(const Gossip&) const = default;
};

using Body = std::variant<Ping, Ack, PingReq, IndirectAck, Nack, Join, JoinAck, Leave, Gossip>;
constexpr size_t kMessageTypes = std::variant_size_v<Body>;

struct Message {
  // The sender's own record (from.id is the sender): every message refreshes the receiver's
  // view of its sender, which lets anyone answer an unknown sender and carries fresh load.
  Update from;
  NodeId to = kNoNode;         // kNoNode only for a Join sent to an address
  std::vector<Update> gossip;  // <= kMaxGossipPerMessage
  Body body;

  bool operator==(const Message&) const = default;
};

const char* MessageTypeName(size_t body_index);  // "ping", "ack", ...

}  // namespace velum::core

#endif  // VELUM_CORE_MESSAGE_H_
