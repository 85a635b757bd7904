// The node's network shell on one Asio event loop: authenticated UDP (beacons, gossip) and
// one encrypted TCP link per peer pair, with reconnect and backoff. No protocol logic here.
#ifndef VELUM_NET_TRANSPORT_H_
#define VELUM_NET_TRANSPORT_H_

#include <asio.hpp>
#include <chrono>
#include <cstdint>
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
  uint16_t port = 0;            // TCP links and unicast gossip (UDP) share this number
  uint16_t discovery_port = 0;  // UDP beacons (0: no discovery socket)
  ClusterKey key{};
};

struct TransportStats {
  DatagramStats datagrams;     // gossip and beacons: accepted and dropped by reason
  uint64_t links_refused = 0;  // failed or too slow handshakes, bad frames, over the cap
  uint64_t links_up = 0, links_down = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;
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
  };

  Transport(asio::io_context& io, TransportConfig config, Handler* handler);
  ~Transport();

  Status Open();
  void Close();

  // Unicast datagram (gossip) or a beacon to every address given.
  void SendDatagram(const asio::ip::udp::endpoint& to, std::string_view payload);
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
  void ReceiveGossip();
  void ReceiveBeacon();
  void OnDatagramBytes(std::string_view bytes, const asio::ip::udp::endpoint& from, bool beacon);
  void Accept();
  void StartLink(std::shared_ptr<Link> link);
  void ReadLink(std::shared_ptr<Link> link);
  void WriteLink(std::shared_ptr<Link> link);
  void DropLink(std::shared_ptr<Link> link, const std::string& why);
  void ScheduleReconnect(uint32_t peer);

  asio::io_context& io_;
  TransportConfig config_;
  Handler* handler_;
  DatagramAuth auth_;
  asio::ip::udp::socket gossip_;
  asio::ip::udp::socket discovery_;
  asio::ip::tcp::acceptor acceptor_;
  std::array<char, 65536> gossip_buf_{}, beacon_buf_{};
  asio::ip::udp::endpoint gossip_from_, beacon_from_;
  struct Wanted {
    asio::ip::tcp::endpoint endpoint;
    std::chrono::milliseconds backoff{100};
    std::unique_ptr<asio::steady_timer> timer;
  };
  std::map<uint32_t, Wanted> wanted_;                // links this node keeps up
  std::map<uint32_t, std::shared_ptr<Link>> links_;  // established links by peer id
  asio::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_{50};
  size_t pending_handshakes_ = 0;  // accepted or dialled links not yet authenticated
  mutable TransportStats stats_;
  bool closed_ = false;
};

}  // namespace velum::net

#endif  // VELUM_NET_TRANSPORT_H_
