// The mesh driver: the membership core and the links, woken by datagrams, link events and its
// deadlines; the only source of the peer facts (member live or not, link up or down) the job
// driver acts on.
#ifndef VELUM_NODE_MESH_DRIVER_H_
#define VELUM_NODE_MESH_DRIVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/membership.h"
#include "node/deadline_wake.h"
#include "wire/job_codec.h"

namespace velum {

// What the mesh driver tells about peers (the job driver listens).
class PeerListener {
 public:
  virtual ~PeerListener() = default;
  virtual void OnMember(core::NodeId peer, bool live, uint32_t slots) = 0;
  virtual void OnLink(core::NodeId peer, bool up) = 0;
  virtual void OnHeard(core::NodeId peer) = 0;  // any frame from the peer: it is alive
  virtual void OnMessage(core::NodeId peer, wire::LinkMessage message, size_t wire_bytes) = 0;
};

class MeshDriver {
 public:
  // What the driver needs of the transport, the clock and the node around it. The node's are
  // asio sockets and steady_clock (node.cc); the simulator's are virtual.
  struct Hooks {
    // A membership datagram (tagged, unsealed: the transport seals it) to HOST:PORT.
    std::function<void(const std::string& addr, std::string payload)> send_datagram;
    std::function<void(core::NodeId peer, const std::string& addr)> dial;  // open its link
    std::function<void(core::NodeId peer)> forget;                         // close its link
    std::function<bool(core::NodeId peer, std::string frame)> send_link;   // false: no link
    std::function<bool(core::NodeId peer)> link_up;
    std::function<void(uint64_t at_ms)> wake_at;  // call OnWake(at_ms) on the loop then
    std::function<uint64_t()> now_ms, now_us;
    // The membership refused this node's id (another process holds it): the node stops.
    std::function<void()> refused;
    std::function<void(const core::Notice&)> notice;  // said to the user, once per kind
  };

  static constexpr char kBeaconTag = 'B';
  static constexpr char kMessageTag = 'M';
  // At start the node dials nobody until its id is settled: joined, or given this long, and
  // no duplicate check in flight (a second process with a live id would replace the real
  // one's links at its peers).
  static constexpr uint64_t kIdSettleMs = 600;
  static constexpr uint64_t kHeartbeatMs = 1000;  // each link carries a ping this often

  MeshDriver(core::NodeId self, core::NodeMeta meta, core::Config config, uint64_t seed,
             Hooks hooks);
  void SetListener(PeerListener* listener) { listener_ = listener; }

  // Loop thread. The first tick and a join per seed (HOST:PORT).
  void Start(const std::vector<std::string>& seeds);
  void OnDatagram(core::NodeId sender, std::string_view payload, bool beacon);
  void OnLinkUp(core::NodeId peer);
  void OnLinkDown(core::NodeId peer);
  void OnLinkFrame(core::NodeId peer, std::string frame);
  void OnWake(uint64_t at_ms);
  void Leave();  // says goodbye; nothing more is done
  void PublishLoad(uint32_t load);

  // The live peer with the most free slots, then the least load, then the fastest link, not
  // one of `tried`; this node's id when there is none (a remote call's target).
  core::NodeId PickTarget(const std::vector<core::NodeId>& tried) const;
  // The membership holds this peer dead or left.
  bool HeldGone(core::NodeId peer) const;
  bool IdSettled() const;
  std::string BeaconPayload() const;

  const core::Membership& membership() const { return *membership_; }
  const core::NodeMeta& meta() const { return meta_; }
  bool halted() const { return halted_; }
  // The last measured round trip over the peer's link; -1 if none.
  int64_t rtt_us(core::NodeId peer) const;
  uint64_t undecodable() const { return undecodable_; }  // datagrams and link frames

 private:
  void Dispatch(core::Output out);
  void Dial(const core::Member& m);
  void SendLinkPing(core::NodeId peer);
  void ScheduleWake();

  const core::NodeId self_;
  Hooks hooks_;
  core::NodeMeta meta_;
  std::unique_ptr<core::Membership> membership_;
  PeerListener* listener_ = nullptr;
  const uint64_t started_ms_;
  bool halted_ = false;
  bool dials_deferred_ = false;  // live members not dialled yet: this id was not settled
  uint64_t heartbeat_seq_ = 0;
  uint64_t next_heartbeat_ms_;
  DeadlineWake wake_;  // the one timer asked of the loop
  uint64_t undecodable_ = 0;
  std::map<core::NodeId, uint64_t> rtt_us_;  // last round trip per linked peer (bounded by links)
};

}  // namespace velum

#endif  // VELUM_NODE_MESH_DRIVER_H_
