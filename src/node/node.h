// The node kernel: membership core + transport + timers on one Asio event loop thread.
// Public methods are thread-safe: they post into the loop and wait for the answer.
#ifndef VELUM_NODE_NODE_H_
#define VELUM_NODE_NODE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/types.h"
#include "runtime/engine.h"
#include "runtime/error.h"

namespace velum {

struct NodeOptions {
  uint32_t id = 0;
  uint16_t port = 0;                   // 0: 8000 + id
  uint16_t discovery_port = 8888;      // 0: no beacons at all
  bool broadcast = true;               // beacons to the LAN broadcast addresses (off in tests)
  std::vector<std::string> joins;      // seeds HOST:PORT (gossip port = TCP port)
  std::vector<std::string> beacon_to;  // extra unicast beacon targets HOST:PORT (discovery port)
  std::string bind = "0.0.0.0";
  std::string advertise;              // host others reach us at; empty: first non-loopback IPv4
  std::filesystem::path home;         // empty: $VELUM_HOME or ~/.velum
  std::filesystem::path cluster_key;  // empty: <home>/cluster.key, created if missing
  uint32_t slots = 2;
  EngineKind engine = EngineKind::kAuto;
};

struct PeerInfo {
  uint32_t id = 0;
  std::string addr;
  std::string state;  // alive, suspect, dead, left
  uint64_t incarnation = 0;
  uint32_t slots = 0;
  std::vector<std::string> engines;
  uint32_t load = 0;
  std::string version;
  int64_t last_heard_ms_ago = -1;  // -1: never heard directly
  bool link_up = false;
  int64_t link_rtt_us = -1;  // round trip of the last heartbeat on the link; -1: none yet
};

struct NodeStatus {
  uint32_t id = 0;
  std::string addr;
  uint64_t incarnation = 0;
  uint64_t uptime_ms = 0;
  size_t alive_peers = 0;  // other members alive or suspect
  size_t known_members = 0;
  uint64_t datagrams_accepted = 0;
  uint64_t datagrams_dropped = 0;  // bad MAC, malformed, stale or replayed
  uint64_t dropped_bad_mac = 0, dropped_malformed = 0, dropped_stale = 0, dropped_replayed = 0;
  uint64_t undecodable = 0;  // authenticated but not a valid message
  uint64_t links_up = 0;
  uint64_t links_refused = 0;  // TCP peers that failed the handshake
  uint64_t probes = 0, suspicions = 0, declared_dead = 0, refutations = 0;
  std::string home;
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(NodeOptions options);
  ~Node();  // leaves the mesh if still in it, stops the loop

  std::vector<PeerInfo> Peers();  // every other known member, by id
  NodeStatus Status();
  size_t AlivePeers();
  // Leaves gracefully: peers mark this node "left" without waiting for a timeout.
  void Leave();
  uint32_t id() const;

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace velum

#endif  // VELUM_NODE_NODE_H_
