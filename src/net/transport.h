// The node's network shell on one Asio event loop: authenticated UDP (beacons, gossip) and
// one encrypted TCP link per peer pair, with reconnect and backoff. No protocol logic here.
#ifndef VELUM_NET_TRANSPORT_H_
#define VELUM_NET_TRANSPORT_H_

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/cluster_key.h"
#include "net/datagram_auth.h"
#include "runtime/error.h"

namespace velum::net {

struct TransportConfig {
  uint32_t self_id = 0;
  std::string bind_host = "0.0.0.0";
  uint16_t port = 0;  // TCP links and unicast gossip (UDP) share this number
  // When `port` is taken (TCP or UDP), a port the system picks instead; port() says which.
  bool port_fallback = false;
  uint16_t discovery_port = 0;  // UDP beacons (0: no discovery socket)
  ClusterKey key{};
};

struct TransportStats {
  DatagramStats datagrams;     // gossip and beacons: accepted and dropped by reason
  uint64_t links_refused = 0;  // all of the below, and bad frames on established links
  // Pre-authentication TCP connections dropped, by reason.
  uint64_t handshakes_timed_out = 0;  // no hello and proof within the deadline
  uint64_t handshakes_evicted = 0;    // the oldest pending one, to make room for a newcomer
  uint64_t handshakes_failed = 0;     // wrong key, not a peer, unexpected id
  uint64_t links_up = 0, links_down = 0;
  uint64_t send_queue_full = 0;  // links dropped because their peer read too slowly
  uint64_t bytes_sent = 0, bytes_received = 0;
  uint64_t datagrams_sent = 0;                    // sealed and handed to the socket
  uint64_t frames_sent = 0, frames_received = 0;  // messages on established links
};

class Transport {
 public:
  // Callbacks run on the event loop thread.
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void OnDatagram(uint32_t sender, std::string_view payload,
                            const asio::ip::udp::endpoint& from, bool beacon) = 0;
    virtual void OnLinkUp(uint32_t peer) = 0;
    virtual void OnLinkDown(uint32_t peer) = 0;
    virtual void OnLinkMessage(uint32_t peer, std::string message) = 0;
    // A datagram refused by DatagramAuth (counted in stats() too): the node says why a peer
    // is missing, e.g. traffic under another cluster key.
    virtual void OnRefusedDatagram(DatagramVerdict /*verdict*/,
                                   const asio::ip::udp::endpoint& /*from*/) {}
  };

  Transport(asio::io_context& io, TransportConfig config, Handler* handler);
  ~Transport();

  // Binds the sockets. Datagrams from this node's own id are delivered too: a looped-back
  // broadcast, or another process with the same id (the membership core tells them apart).
  Status Open();
  void Close();

  // A unicast datagram (gossip), bound to `to`: delivered anywhere else it is dropped.
  void SendDatagram(const asio::ip::udp::endpoint& to, std::string_view payload);
  // A beacon (broadcast, or unicast to a --beacon address): bound to no destination.
  void SendBeacon(const asio::ip::udp::endpoint& to, std::string_view payload);
  // Keeps a link to `peer` at `to` (reconnects with backoff until Forget).
  void Connect(uint32_t peer, const asio::ip::tcp::endpoint& to);
  void Forget(uint32_t peer);
  bool LinkUp(uint32_t peer) const;
  // Queues a message on the link to `peer`; false if no link is established.
  bool Send(uint32_t peer, std::string_view message);

  uint64_t NowMs() const;  // wall clock for datagram timestamps
  const TransportStats& stats() const;
  uint16_t port() const { return config_.port; }

  struct Link;

 private:
  // TCP and UDP on `port` (0: one the system picks); `in_use` says whether a port was taken.
  Status BindPorts(const asio::ip::address& addr, uint16_t port, bool* in_use);
  void Seal(const asio::ip::udp::endpoint& to, DatagramKind kind, std::string_view payload);
  void Receive(asio::ip::udp::socket& socket);
  void OnDatagramBytes(std::string_view bytes, const asio::ip::udp::endpoint& from,
                       std::string_view local);
  void Accept();
  void AdmitInbound(std::shared_ptr<Link> link);
  void EvictOldestPending(const asio::ip::address* source);
  void EndPending(Link& link);
  void StartLink(std::shared_ptr<Link> link);
  void ReadLink(std::shared_ptr<Link> link);
  void WriteLink(std::shared_ptr<Link> link);
  void DropLink(std::shared_ptr<Link> link, const std::string& why);
  void ScheduleReconnect(uint32_t peer);
  void EndDial(uint32_t peer);

  asio::io_context& io_;
  TransportConfig config_;
  Handler* handler_;
  DatagramAuth auth_;
  asio::ip::udp::socket gossip_;
  asio::ip::udp::socket discovery_;
  asio::ip::tcp::acceptor acceptor_;
  std::array<char, 65536> datagram_buf_{};  // one loop thread: one receive at a time
  struct Wanted {
    asio::ip::tcp::endpoint endpoint;
    std::chrono::milliseconds backoff{100};
    // A dial (connect and handshake) in flight: another Connect waits for its outcome. Two
    // links at once would replace each other, and the peer could see its first one drop.
    bool dialing = false;
    std::unique_ptr<asio::steady_timer> timer;
  };
  std::map<uint32_t, Wanted> wanted_;                // links this node keeps up
  std::map<uint32_t, std::shared_ptr<Link>> links_;  // established links by peer id
  asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_{50};
  // Accepted links not yet authenticated, oldest first, and how many per source address
  // (both bounded by the caps in transport.cc). Outbound dials are not counted here.
  std::deque<std::shared_ptr<Link>> pending_inbound_;
  std::map<asio::ip::address, size_t> pending_by_source_;
  mutable TransportStats stats_;
  bool closed_ = false;
};

}  // namespace velum::net

#endif  // VELUM_NET_TRANSPORT_H_
