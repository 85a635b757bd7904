// Members of the mesh as the membership protocol sees them: identity, metadata and state.
// Plain values copied freely; the rules that change them live in membership.cc.
#ifndef VELUM_CORE_TYPES_H_
#define VELUM_CORE_TYPES_H_

#include <cstdint>
#include <string>

namespace velum::core {

// The number given to `./node ID`. Ids start at 1: 0 means "not known yet" (a Join sent to
// a seed's address before its id is known).
using NodeId = uint32_t;
constexpr NodeId kNoNode = 0;

// Bits of NodeMeta::engines.
constexpr uint32_t kEngineInterp = 1;
constexpr uint32_t kEngineAot = 2;

struct NodeMeta {
  std::string addr;         // TCP "host:port" of the node's peer links
  std::string gossip_addr;  // UDP "host:port" where membership datagrams go
  uint32_t slots = 0;       // executor slots offered to jobs
  uint32_t engines = 0;     // kEngineInterp | kEngineAot
  std::string version;
  uint32_t load = 0;  // busy slots; changes often, so it travels cheaply (see UpdateLocalMeta)

  bool operator==(const NodeMeta&) const = default;
};

// kLeft is a dead member that said goodbye: peers skip the suspicion timeout.
enum class MemberState : uint8_t { kAlive, kSuspect, kDead, kLeft };

const char* StateName(MemberState state);  // "alive", "suspect", "dead", "left"

// Alive and suspect members are probed and take part in the protocol; dead and left ones
// are remembered (tombstones) until reaped, so stale gossip cannot resurrect them.
inline bool IsLive(MemberState s) { return s == MemberState::kAlive || s == MemberState::kSuspect; }

// One claim about one member at one incarnation: piggybacked gossip, a JoinAck entry, or
// a message's sender record. A higher incarnation is a newer claim made by the member itself.
struct Update {
  NodeId id = kNoNode;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  NodeMeta meta;               // gossip carries it only for kAlive; JoinAck pages always do
  NodeId suspecter = kNoNode;  // kSuspect: who suspects (Lifeguard counts distinct suspecters)

  bool operator==(const Update&) const = default;
};

struct Member {
  NodeId id = kNoNode;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  NodeMeta meta;
  uint64_t last_heard_ms = 0;   // last message or beacon straight from the member
  uint64_t state_since_ms = 0;  // when `state` was entered (or the incarnation changed)
};

}  // namespace velum::core

#endif  // VELUM_CORE_TYPES_H_
