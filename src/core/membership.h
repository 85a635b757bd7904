// The membership protocol of the mesh (SWIM + Lifeguard) as a sans-I/O state machine: feed it
// messages, ticks and hints with the current time; it returns messages to send and events.
#ifndef VELUM_CORE_MEMBERSHIP_H_
#define VELUM_CORE_MEMBERSHIP_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/gossip_queue.h"
#include "core/message.h"
#include "core/probe_order.h"
#include "core/random.h"
#include "core/suspicion.h"
#include "core/types.h"

namespace velum::core {

struct Envelope {
  NodeId to = kNoNode;  // kNoNode: a Join to a seed address whose id is not known yet
  std::string to_addr;  // the destination's gossip_addr (UDP), or the address given to Join()
  Message msg;
};

enum class EventKind : uint8_t {
  kJoined,       // became alive from unknown, dead or left (a first join, a rejoin, a heal)
  kSuspected,    // alive -> suspect
  kAlive,        // suspect -> alive: the member refuted the suspicion
  kDead,         // declared dead (by our timer, or by gossip)
  kLeft,         // left gracefully
  kMetaChanged,  // an alive member's metadata (slots, load, ...) changed
};
const char* EventName(EventKind kind);

struct Event {
  EventKind kind;
  NodeId id;
  uint64_t incarnation;
};

// Why a member is missing from the table, said once by the shell (which deduplicates).
enum class NoticeKind : uint8_t {
  // A live member's id claimed from another address: the claim is held off until the member
  // we know is found dead (a duplicate id, or a restart elsewhere before the old one died).
  kIdClaimedElsewhere,
  // Another live process answered with our own id, at `addr`.
  kOwnIdElsewhere,
  // A seed address (Join) did not answer a whole round of page requests.
  kSeedSilent,
};

struct Notice {
  NoticeKind kind;
  NodeId id = kNoNode;    // the member concerned (kNoNode for a seed)
  std::string addr;       // the claiming, answering or silent address
  std::string held_addr;  // kIdClaimedElsewhere: where the member we know is
};

struct Output {
  std::vector<Envelope> messages;
  std::vector<Event> events;
  std::vector<Notice> notices;
};

struct Stats {
  uint64_t sent[kMessageTypes] = {};
  uint64_t received[kMessageTypes] = {};
  uint64_t dropped = 0;  // misrouted, from ourselves, or after we left
  uint64_t probes = 0;
  uint64_t probe_failures = 0;   // no direct nor indirect ack in a probe period
  uint64_t indirect_probes = 0;  // probes that needed PingReq
  uint64_t suspicions = 0;       // members we suspected ourselves
  uint64_t declared_dead = 0;    // suspicion timers that expired here
  uint64_t refutations = 0;      // our own incarnation bumps against claims about us
  uint64_t gossip_updates_sent = 0;
  uint64_t relay_overflow = 0;    // PingReq refused: too many relays in flight
  uint64_t member_overflow = 0;   // a new member refused: the table is full of live members
  uint64_t joins_completed = 0;   // full page syncs finished
  uint64_t time_jumps = 0;        // pauses detected (see Config::pause_guard_ms)
  uint64_t id_claims_held = 0;    // claims of a live member's id from another address
  uint64_t own_id_elsewhere = 0;  // messages from another live process with our id
  uint64_t seeds_silent = 0;      // rounds of page requests to a seed that got no answer
};

class Membership {
 public:
  // Nothing happens until the first call with a time: that call starts the timers.
  Membership(NodeId self, NodeMeta meta, Config config, uint64_t seed);

  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // A decoded message from the network (already authenticated by the driver's transport).
  Output OnMessage(const Message& msg, uint64_t now_ms);
  // Timers: call at NextDeadlineMs() (calling earlier or more often is harmless).
  Output Tick(uint64_t now_ms);
  // Discovery: a beacon from `from` (authenticated, but broadcast: it may be a replay). An
  // unknown node becomes a member, and a node that has not joined anyone yet joins through
  // it. A known member's state and incarnation never change on a beacon: it does not refute
  // a suspicion nor revive the dead (a member held dead is pinged, so a live one refutes).
  // Our own id beaconed from another address by an older process is checked (see Config).
  // The shell passes beacons and messages from our own id too: they reveal duplicates.
  Output OnBeacon(NodeId from, const NodeMeta& meta, uint64_t incarnation, uint64_t now_ms);
  // A seed address (--join HOST:PORT) whose id is unknown: sends it a Join (to = kNoNode,
  // to_addr = addr) and keeps it to retry while this node is not joined, or alone.
  Output Join(std::string_view addr, uint64_t now_ms);
  // Graceful leave: peers mark us kLeft at once. The instance then only answers pings.
  Output Leave(uint64_t now_ms);
  // The TCP link to `peer` was reset: probably a crash. The peer is suspected now, pinged
  // fast, and declared dead after Config::link_down_timeout_ms unless it refutes.
  Output OnLinkDown(NodeId peer, uint64_t now_ms);
  // New local metadata. Changes of anything but load bump the incarnation and are gossiped;
  // load rides in every message's sender record, and is gossiped at a bounded rate. Takes
  // effect at the next Tick (NextDeadlineMs() says when).
  void UpdateLocalMeta(const NodeMeta& meta);

  // When Tick must next be called: 0 before the first call, UINT64_MAX after Leave.
  uint64_t NextDeadlineMs() const;

  NodeId id() const { return self_; }
  const Member& self() const { return *me_; }
  // Every known member, self included, tombstones (dead, left) too. Unordered: sort the ids
  // to display them. Hashing, because lookups dominate (every update of every message).
  using MemberTable = std::unordered_map<NodeId, Member>;
  const MemberTable& members() const { return members_; }
  // Alive and suspect members, self included.
  size_t live_count() const { return live_count_; }
  bool joined() const { return joined_; }
  bool left() const { return left_; }
  // Another live process held this id before us (see Config::id_probation_ms): this node must
  // stop without a word to the mesh (a Leave would mark the other one left). Its address:
  bool refused() const { return refused_; }
  const std::string& refused_by() const { return refused_by_; }
  // An id check in flight (the shell waits for it before it calls the start settled).
  bool checking_id() const { return !id_checks_.empty(); }
  uint32_t local_health() const { return local_health_; }
  const Stats& stats() const { return stats_; }
  const Config& config() const { return config_; }

 private:
  // Where a claim comes from: the member itself (a message's sender record), its beacon,
  // relayed gossip, a page of another member's table, or our own verdict.
  enum class Source { kDirect, kBeacon, kGossip, kSync, kLocal };

  struct Probe {
    bool active = false;
    NodeId target = kNoNode;
    uint64_t incarnation = 0;
    uint64_t seq = 0;
    uint64_t direct_deadline_ms = 0;
    uint64_t end_ms = 0;
    bool indirect = false;
    uint32_t expected_nacks = 0;
    uint32_t nacks = 0;
  };
  // A PingReq we serve: our ping to `target` on behalf of `requester`.
  struct Relay {
    uint64_t seq;
    NodeId requester;
    std::string requester_addr;
    uint64_t requester_seq;
    NodeId target;
    uint64_t deadline_ms;
  };
  // A peer whose link went down, pinged again every probe timeout until its deadline.
  struct FastProbe {
    NodeId peer;
    uint64_t next_ping_ms;
    uint64_t until_ms;
  };
  // A walk over another member's table: page by page from the start (a join), or a summary
  // of page digests followed by the pages that differ (anti-entropy).
  struct Sync {
    bool active = false;
    bool full = false;
    NodeId peer = kNoNode;
    std::string addr;
    uint64_t seq = 0;
    NodeId cursor = 0;
    bool summary = false;       // the request in flight asks for digests
    std::vector<NodeId> fetch;  // anti-entropy: starts of differing pages still to fetch
    uint64_t deadline_ms = 0;
    uint32_t attempts = 0;
  };
  // A ping to an address that claims our id: an answer there is another live process.
  struct IdCheck {
    std::string addr;
    uint64_t seq;
    uint64_t deadline_ms;
    uint64_t claimed_incarnation;  // what to outbid when nobody answers
  };
  // A run of our sorted ids.
  struct Page {
    std::vector<NodeId>::const_iterator begin, end;
  };

  void Begin(uint64_t now_ms);
  Output Finish();
  void OnTimeJump(uint64_t gap_ms);

  // The rules: whether a claim overrides what we know, and what follows from it.
  // via: the member that relayed a gossiped claim (it counts as a suspecter when a death
  // verdict about a member we hold alive is contested).
  void Apply(const Update& u, Source src, NodeId via = kNoNode);
  void ApplyAboutSelf(const Update& u);
  bool ClaimsOtherAddress(const Member& m, const Update& u) const;
  void OnOwnIdMessage(const Message& msg);
  void StartIdCheck(const std::string& addr, uint64_t claimed_incarnation);
  void TickIdChecks();
  bool InProbation() const;
  void Refute(uint64_t claimed_incarnation);
  static bool IsNews(Source src);
  void Transition(Member* m, MemberState state, uint64_t incarnation);
  bool MakeRoom();
  void Emit(EventKind kind, const Member& m);
  void Enqueue(const Member& m);
  Update RecordOf(const Member& m, bool with_meta) const;
  void Suspect(Member* m, NodeId suspecter, Source src);

  void StartSuspicion(const Member& m, NodeId suspecter, bool contested = false);
  void StopSuspicion(NodeId id);
  void Reschedule(NodeId id, const Suspicion& s);

  void Send(NodeId to, const std::string& addr, Body body);
  void SendTo(const Member& m, Body body);

  void HandleAck(const Message& msg, const Ack& ack);
  void HandlePingReq(const Message& msg, const PingReq& req);
  const std::vector<NodeId>& SortedIds();
  uint64_t Digest(std::vector<NodeId>::const_iterator begin,
                  std::vector<NodeId>::const_iterator end) const;
  void HandleSummary(const JoinAck& ack);
  void HandleJoin(const Message& msg, const core::Join& join);
  void HandleJoinAck(const Message& msg, const JoinAck& ack);

  void TickSuspicions();
  void TickRelays();
  void TickFastProbes();
  void TickProbe();
  void StartProbe();
  void SendIndirectProbes();
  void FinishProbe(bool acked);
  void TickGossip();
  void TickSync();
  void StartSync(bool full, NodeId peer, const std::string& addr);
  void SendSyncRequest();
  void TickHousekeeping();
  void PublishMeta();

  uint64_t RawDeadlineMs() const;
  uint64_t ProbeIntervalMs() const;
  uint64_t ProbeTimeoutMs() const;
  bool NeedJoin() const;

  const Config config_;
  const NodeId self_;
  Rng rng_;
  Member* me_;  // points into members_ (node-based: stable); self is never erased
  MemberTable members_;
  // (state_since_ms, id) of dead and left members, oldest first: reaping, eviction and the
  // reconnect ping touch only tombstones, never the whole table.
  std::set<std::pair<uint64_t, NodeId>> tombstones_;
  std::vector<NodeId> sorted_ids_;  // JoinAck pages walk ids in order; rebuilt when dirty
  bool ids_dirty_ = true;
  size_t live_count_ = 1;
  ProbeOrder probe_order_;
  GossipQueue gossip_;
  std::map<NodeId, Suspicion> suspicions_;
  std::set<std::pair<uint64_t, NodeId>> deadlines_;  // suspicion deadlines, earliest first
  std::map<NodeId, uint64_t> scheduled_;             // id -> its entry in deadlines_
  Probe probe_;
  std::deque<Relay> relays_;
  std::vector<FastProbe> fast_probes_;
  Sync sync_;
  std::vector<std::string> seeds_;
  size_t next_seed_ = 0;
  NodeId ae_cursor_ = 0;  // anti-entropy walks the id space one page per sync interval

  std::vector<IdCheck> id_checks_;  // bounded by kMaxIdChecks
  bool refused_ = false;
  std::string refused_by_;
  uint64_t started_ms_ = 0;
  uint64_t joined_ms_ = 0;  // the first completed join (0: none yet)

  bool started_ = false;
  bool joined_ = false;
  bool left_ = false;
  uint64_t now_ms_ = 0;
  uint64_t seq_ = 0;
  uint32_t local_health_ = 0;
  uint64_t next_probe_ms_ = 0;
  uint64_t next_gossip_ms_ = 0;
  uint64_t next_join_ms_ = 0;
  uint64_t next_sync_ms_ = 0;
  uint64_t next_housekeeping_ms_ = 0;
  bool meta_pending_ = false;     // UpdateLocalMeta changed something not yet published
  bool meta_needs_bump_ = false;  // ... beyond load: publish at once
  uint64_t next_load_bump_ms_ = 0;

  Output out_;
  Stats stats_;
};

}  // namespace velum::core

#endif  // VELUM_CORE_MEMBERSHIP_H_
