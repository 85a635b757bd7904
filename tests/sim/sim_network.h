// A deterministic network of membership cores in one process: virtual time, seeded loss, delay,
// duplication, partitions, crashes, pauses, restarts; every datagram goes through wire/codec.
#ifndef VELUM_TESTS_SIM_SIM_NETWORK_H_
#define VELUM_TESTS_SIM_SIM_NETWORK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "core/membership.h"
#include "core/random.h"

namespace velum::sim {

using core::MemberState;
using core::NodeId;

// One-way delay: uniform in [latency_min_ms, latency_max_ms], plus with probability `tail` a
// further uniform delay up to tail_max_ms (which also reorders datagrams).
struct LinkModel {
  uint32_t latency_min_ms = 1;
  uint32_t latency_max_ms = 5;
  double tail = 0.02;
  uint32_t tail_max_ms = 30;
  double loss = 0.0;       // each datagram and beacon, independently
  double duplicate = 0.0;  // a datagram is delivered twice (independent delays)
};

struct SimOptions {
  uint64_t seed = 1;
  LinkModel link;
  core::Config config;
  bool beacons = true;  // LAN broadcast discovery; beacons arrive at once, lossy
  uint32_t beacon_interval_ms = 1000;
  size_t inbox_limit = 512;  // datagrams a paused process's socket buffer holds
};

// An event reported by a node's core, with when and where.
struct Observed {
  uint64_t time_ms;
  NodeId observer;
  core::Event event;
};

class SimNetwork {
 public:
  // Ids must be in [1, kMaxId]: addresses are derived from them.
  static constexpr NodeId kMaxId = 11000;

  explicit SimNetwork(SimOptions options);
  ~SimNetwork();

  // Lifecycle. A node joins through beacons (if on) and Join() to each seed's address.
  // incarnation: the new process's Config::initial_incarnation (default: now + 1, the way a
  // shell passes its wall clock).
  void Start(NodeId id, const std::vector<NodeId>& seeds = {},
             std::optional<uint64_t> incarnation = std::nullopt);
  // The process dies; with reset_links every live node's TCP link to it resets (OnLinkDown).
  void Crash(NodeId id, bool reset_links = false);
  void Restart(NodeId id, const std::vector<NodeId>& seeds = {},
               std::optional<uint64_t> incarnation = std::nullopt);
  void Pause(NodeId id);   // SIGSTOP: no ticks; datagrams wait in a bounded buffer
  void Resume(NodeId id);  // SIGCONT
  void Leave(NodeId id);
  void UpdateMeta(NodeId id, const core::NodeMeta& meta);
  // Nodes in different groups cannot reach each other; unlisted nodes form group 0.
  void Partition(const std::vector<std::vector<NodeId>>& groups);
  void Heal();
  // Unicast datagrams to and from `id` are lost; its beacons still go out and others' still
  // reach it (a firewall dropping unicast UDP, not broadcast).
  void CutUnicast(NodeId id, bool cut);
  LinkModel& link() { return options_.link; }
  void set_beacons(bool on) { options_.beacons = on; }

  // Time.
  uint64_t now() const { return now_; }
  void RunUntil(uint64_t time_ms);
  void RunFor(uint64_t ms) { RunUntil(now_ + ms); }
  // Runs until pred() holds, checking every every_ms; the time it first held, or nullopt.
  std::optional<uint64_t> RunUntilTrue(const std::function<bool()>& pred, uint64_t limit_ms,
                                       uint64_t every_ms = 50);

  // Observation. "Live": started, not crashed, not paused, not left.
  bool Live(NodeId id) const;
  std::vector<NodeId> LiveIds() const;
  const core::Membership* node(NodeId id) const;
  std::optional<MemberState> View(NodeId observer, NodeId subject) const;
  // Every live node sees every other live node alive (or suspect, if allowed).
  bool Converged(bool allow_suspect = false) const;
  // Every live node other than subject sees it in `state` (dead also accepts left, and
  // vice versa, unless exact).
  bool AllSee(NodeId subject, MemberState state) const;
  // The time by which every node live now had reported `kind` about subject since `since`.
  std::optional<uint64_t> TimeAllReported(NodeId subject, core::EventKind kind,
                                          uint64_t since) const;
  const std::vector<Observed>& events() const { return events_; }
  // kDead reported about a node that was live, reachable from the observer, and in the same
  // process life (not an earlier run) at that moment.
  uint64_t false_deaths() const { return false_deaths_; }
  uint64_t false_suspicions() const { return false_suspicions_; }

  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t messages_sent() const { return messages_sent_; }
  uint64_t messages_delivered() const { return messages_delivered_; }
  uint64_t beacon_bytes() const { return beacon_bytes_; }
  uint64_t beacons_sent() const { return beacons_sent_; }
  uint64_t max_message_bytes() const { return max_message_bytes_; }
  const SimOptions& options() const { return options_; }
  // A one-line description for failure messages: seed, time, counters.
  std::string Summary() const;

  static std::string Addr(NodeId id);        // "127.0.0.1:<8000+id>" (TCP, what --join takes)
  static std::string GossipAddr(NodeId id);  // "127.0.0.1:<20000+id>" (UDP)
  static core::NodeMeta MetaFor(NodeId id);

 private:
  enum class Kind : uint8_t { kDeliver, kTick, kBeacon, kLinkDown };
  struct Item {
    uint64_t time;
    uint64_t order;  // FIFO among equal times: determinism
    Kind kind;
    NodeId node;
    NodeId peer;
    uint32_t gen;
    std::string bytes;
  };
  struct Later {
    bool operator()(const Item& a, const Item& b) const {
      return a.time != b.time ? a.time > b.time : a.order > b.order;
    }
  };
  struct Node {
    std::unique_ptr<core::Membership> m;
    bool running = false;
    bool paused = false;
    bool left = false;
    uint32_t gen = 0;
    uint32_t group = 0;
    bool unicast_cut = false;
    uint64_t next_tick = UINT64_MAX;
    uint64_t start_incarnation = 0;
    std::vector<std::string> inbox;
    uint64_t ticks_at_now = 0;
    uint64_t last_tick_time = 0;
  };

  Node* Find(NodeId id);
  const Node* Find(NodeId id) const;
  void Boot(NodeId id, const std::vector<NodeId>& seeds, std::optional<uint64_t> incarnation);
  void Push(uint64_t time, Kind kind, NodeId node, NodeId peer, uint32_t gen, std::string bytes);
  uint64_t Latency();
  void Dispatch(Item& item);
  void Deliver(NodeId id, const std::string& bytes);
  void Process(NodeId id, core::Output out);
  void Schedule(NodeId id);
  void Beacon(NodeId id);
  static NodeId IdOfAddr(const std::string& addr);

  SimOptions options_;
  core::Rng rng_;
  uint64_t now_ = 0;
  uint64_t order_ = 0;
  std::vector<Node> nodes_;  // indexed by id
  std::priority_queue<Item, std::vector<Item>, Later> queue_;
  std::vector<Observed> events_;
  uint64_t false_deaths_ = 0;
  uint64_t false_suspicions_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t messages_sent_ = 0;
  uint64_t messages_delivered_ = 0;
  uint64_t beacon_bytes_ = 0;
  uint64_t beacons_sent_ = 0;
  uint64_t max_message_bytes_ = 0;
};

}  // namespace velum::sim

#endif  // VELUM_TESTS_SIM_SIM_NETWORK_H_
