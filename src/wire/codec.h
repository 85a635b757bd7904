// Bytes <-> membership messages (Protocol Buffers, wire/velum.proto). Decoding is total:
// any input yields false or a message within the core's limits; it never crashes.
#ifndef VELUM_WIRE_CODEC_H_
#define VELUM_WIRE_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/message.h"
#include "core/types.h"

namespace velum::wire {

// One UDP datagram's worth; a valid encoding of a core message is far smaller (~3.5 KB).
constexpr size_t kMaxMessageBytes = 65000;

std::string Encode(const core::Message& msg);
// False (and *msg unspecified) on malformed input or input beyond the limits of
// core/message.h: ids of 0, unknown states, too many updates, oversized strings.
bool Decode(std::string_view bytes, core::Message* msg);

struct Beacon {
  core::NodeId id = core::kNoNode;
  uint64_t incarnation = 0;
  core::NodeMeta meta;

  bool operator==(const Beacon&) const = default;
};

std::string EncodeBeacon(const Beacon& beacon);
bool DecodeBeacon(std::string_view bytes, Beacon* beacon);

// Frames on a TCP peer link: a heartbeat whose echo measures the round trip. Encoded with
// the link's other frames by wire/job_codec.h (EncodeLink, DecodeLink).
struct LinkFrame {
  enum class Kind : uint8_t { kPing, kPong } kind = Kind::kPing;
  uint64_t seq = 0;
  uint64_t sent_us = 0;  // the pinger's clock, echoed back unchanged
  bool operator==(const LinkFrame&) const = default;
};

}  // namespace velum::wire

#endif  // VELUM_WIRE_CODEC_H_
