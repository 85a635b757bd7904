// The Asio shell: sockets, reads and writes, reconnect timers. Protocol decisions belong to
// the node; security to DatagramAuth and SecureSession; this file only moves bytes.
#include "net/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <deque>

#include "net/secure_session.h"

namespace velum::net {

using asio::ip::tcp;
using asio::ip::udp;

namespace {
constexpr size_t kMaxQueuedFrames = 4096;
constexpr std::chrono::milliseconds kMaxBackoff{2000};
// Unauthenticated connections cost a descriptor each: they get a deadline and caps. The
// hello and the proof fit in one packet each way, so a peer finishes in a few round trips;
// a stranger that holds a slot longer is dropped. When the slots are full, the oldest
// pending connection makes room: a newcomer (a real peer) is never the one refused, and
// holding the slots costs a stranger a steady stream of new connections.
constexpr std::chrono::milliseconds kHandshakeDeadline{1500};
constexpr size_t kMaxPendingInbound = 64;
constexpr size_t kMaxPendingPerSource = 16;    // one address cannot take every slot
constexpr size_t kMaxDatagramsPerWakeup = 64;  // then the loop serves other work
constexpr size_t kHandshakeBuffer = 256;       // hello and proof records are < 64 bytes
constexpr size_t kLinkBuffer = 65536;
constexpr size_t kMaxGatheredFrames = 64;  // per write system call
constexpr size_t kMaxGatheredBytes = 256 << 10;
}  // namespace

struct Transport::Link {
  Link(asio::io_context& io, const ClusterKey& key, uint32_t self, bool outbound)
      : socket(io), deadline(io), session(key, self, outbound), outbound(outbound) {}
  tcp::socket socket;
  asio::steady_timer deadline;  // the handshake must finish before it fires
  SecureSession session;
  bool outbound;
  uint32_t expected_peer = 0;  // outbound: the peer we dialled
  bool registered = false;     // in links_, OnLinkUp delivered
  bool dead = false;
  bool writing = false;
  std::deque<std::string> queue;
  bool pending = false;  // inbound and not yet authenticated: in pending_inbound_
  asio::ip::address source;
  std::vector<char> buf = std::vector<char>(kHandshakeBuffer);  // grows once established
};

Transport::Transport(asio::io_context& io, TransportConfig config, Handler* handler)
    : io_(io),
      config_(std::move(config)),
      handler_(handler),
      auth_(config_.key),
      gossip_(io),
      discovery_(io),
      acceptor_(io),
      accept_timer_(io) {}

Transport::~Transport() { Close(); }

Status Transport::BindPorts(const asio::ip::address& addr, uint16_t port, bool* in_use) {
  asio::error_code ec;
  *in_use = false;
  tcp::endpoint tcp_ep(addr, port);
  acceptor_.open(tcp_ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(tcp_ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *in_use = ec == asio::error::address_in_use;
    asio::error_code ignored;
    acceptor_.close(ignored);
    return MakeError(ErrorKind::kIo, "TCP port " + std::to_string(port) + ": " + ec.message());
  }
  port = acceptor_.local_endpoint().port();
  gossip_.open(udp::v4(), ec);
  if (!ec) gossip_.set_option(asio::socket_base::broadcast(true), ec);
  if (!ec) gossip_.bind(udp::endpoint(addr, port), ec);
  // The destination address of each datagram (IP_PKTINFO) is what it must be bound to.
  int on = 1;
  if (!ec && setsockopt(gossip_.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0)
    ec = asio::error_code(errno, asio::system_category());
  if (ec) {
    *in_use = ec == asio::error::address_in_use;
    asio::error_code ignored;
    acceptor_.close(ignored);
    gossip_.close(ignored);
    return MakeError(ErrorKind::kIo, "UDP port " + std::to_string(port) + ": " + ec.message());
  }
  config_.port = port;
  return {};
}

Status Transport::Open() {
  asio::error_code ec;
  auto addr = asio::ip::make_address(config_.bind_host, ec);
  if (ec) return MakeError(ErrorKind::kBadArguments, "bad bind address " + config_.bind_host);
  bool in_use = false;
  Status bound = BindPorts(addr, config_.port, &in_use);
  // A system-picked TCP port may be taken for UDP: a few tries, each with another port.
  for (int tries = 0; !bound.ok() && in_use && config_.port_fallback && tries < 8; tries++) {
    bound = BindPorts(addr, 0, &in_use);
  }
  if (!bound.ok()) return bound;
  int on = 1;
  if (config_.discovery_port) {
    // Several nodes on one machine all listen for beacons: reuse_address lets each socket
    // bind the port, and the kernel delivers every broadcast datagram to all of them.
    discovery_.open(udp::v4(), ec);
    if (!ec) discovery_.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) discovery_.set_option(asio::socket_base::broadcast(true), ec);
    // A node bound to loopback listens for beacons on loopback only, not on the LAN.
    const auto listen = addr.is_loopback() ? addr : asio::ip::address(asio::ip::address_v4::any());
    if (!ec) discovery_.bind(udp::endpoint(listen, config_.discovery_port), ec);
    if (!ec && setsockopt(discovery_.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0)
      ec = asio::error_code(errno, asio::system_category());
    if (ec)
      return MakeError(ErrorKind::kIo, "discovery port " + std::to_string(config_.discovery_port) +
                                           ": " + ec.message());
    Receive(discovery_);
  }
  Receive(gossip_);
  Accept();
  return {};
}

void Transport::Close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  accept_timer_.cancel();
  gossip_.close(ec);
  discovery_.close(ec);
  for (auto& [peer, w] : wanted_)
    if (w.timer) w.timer->cancel();
  for (auto& [peer, link] : links_) {
    link->dead = true;
    link->socket.close(ec);
  }
  links_.clear();
  for (auto& link : pending_inbound_) {
    link->dead = true;
    link->deadline.cancel();
    link->socket.close(ec);
  }
  pending_inbound_.clear();
  pending_by_source_.clear();
}

uint64_t Transport::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const TransportStats& Transport::stats() const {
  stats_.datagrams = auth_.stats();
  return stats_;
}

void Transport::SendDatagram(const udp::endpoint& to, std::string_view payload) {
  Seal(to, DatagramKind::kUnicast, payload);
}

void Transport::SendBeacon(const udp::endpoint& to, std::string_view payload) {
  Seal(to, DatagramKind::kBroadcast, payload);
}

void Transport::Seal(const udp::endpoint& to, DatagramKind kind, std::string_view payload) {
  if (closed_) return;
  std::string destination = to.address().to_string() + ":" + std::to_string(to.port());
  auto sealed = std::make_shared<std::string>(
      auth_.Seal(config_.self_id, kind, destination, payload, NowMs()));
  if (sealed->empty()) return;  // too large: the membership core keeps messages far smaller
  stats_.bytes_sent += sealed->size();
  stats_.datagrams_sent++;
  gossip_.async_send_to(asio::buffer(*sealed), to, [sealed](asio::error_code, size_t) {});
}

// Datagrams are read with recvmsg, not Asio's receive_from: the IP_PKTINFO control message
// says which of this host's addresses each one was sent to.
void Transport::Receive(udp::socket& socket) {
  socket.async_wait(udp::socket::wait_read, [this, &socket](asio::error_code ec) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    asio::error_code port_ec;
    const uint16_t port = socket.local_endpoint(port_ec).port();
    for (size_t i = 0; !ec && i < kMaxDatagramsPerWakeup; i++) {
      sockaddr_in from{};
      iovec iov{datagram_buf_.data(), datagram_buf_.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))];
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT);
      if (n < 0) break;  // EAGAIN: drained (other errors: the next wake-up tries again)
      std::string local;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO) continue;
        in_pktinfo info;
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &info.ipi_addr, text, sizeof text);
        local = std::string(text) + ":" + std::to_string(port);
      }
      udp::endpoint sender(asio::ip::address_v4(ntohl(from.sin_addr.s_addr)), ntohs(from.sin_port));
      OnDatagramBytes({datagram_buf_.data(), static_cast<size_t>(n)}, sender, local);
      if (closed_) return;
    }
    Receive(socket);
  });
}

void Transport::OnDatagramBytes(std::string_view bytes, const udp::endpoint& from,
                                std::string_view local) {
  stats_.bytes_received += bytes.size();
  uint32_t sender = 0;
  DatagramKind kind;
  std::string_view payload;
  const DatagramVerdict verdict = auth_.Open(bytes, local, NowMs(), &sender, &kind, &payload);
  if (verdict != DatagramVerdict::kOk) {
    handler_->OnRefusedDatagram(verdict, from);
    return;
  }
  handler_->OnDatagram(sender, payload, from, kind == DatagramKind::kBroadcast);
}

void Transport::Accept() {
  auto link = std::make_shared<Link>(io_, config_.key, config_.self_id, false);
  acceptor_.async_accept(link->socket, [this, link](asio::error_code ec) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and friends: retrying at once would spin. Back off, then accept again.
      accept_backoff_ = std::min(accept_backoff_ * 2, std::chrono::milliseconds(1000));
      accept_timer_.expires_after(accept_backoff_);
      accept_timer_.async_wait([this](asio::error_code e) {
        if (!e && !closed_) Accept();
      });
      return;
    }
    accept_backoff_ = std::chrono::milliseconds(50);
    AdmitInbound(link);
    Accept();
  });
}

void Transport::AdmitInbound(std::shared_ptr<Link> link) {
  asio::error_code ec;
  link->source = link->socket.remote_endpoint(ec).address();
  if (ec) {  // already reset by the peer
    link->socket.close(ec);
    return;
  }
  if (pending_by_source_[link->source] >= kMaxPendingPerSource) EvictOldestPending(&link->source);
  if (pending_inbound_.size() >= kMaxPendingInbound) EvictOldestPending(nullptr);
  link->pending = true;
  pending_inbound_.push_back(link);
  pending_by_source_[link->source]++;
  StartLink(link);
}

void Transport::EvictOldestPending(const asio::ip::address* source) {
  for (auto& link : pending_inbound_) {
    if (source && link->source != *source) continue;
    stats_.handshakes_evicted++;
    stats_.links_refused++;
    DropLink(link, "evicted by a newer handshake");  // erases it from pending_inbound_
    return;
  }
}

void Transport::EndPending(Link& link) {
  if (!link.pending) return;
  link.pending = false;
  for (auto it = pending_inbound_.begin(); it != pending_inbound_.end(); ++it) {
    if (it->get() == &link) {
      pending_inbound_.erase(it);
      break;
    }
  }
  auto count = pending_by_source_.find(link.source);
  if (count != pending_by_source_.end() && --count->second == 0) pending_by_source_.erase(count);
}

void Transport::Connect(uint32_t peer, const tcp::endpoint& to) {
  auto& wanted = wanted_[peer];
  bool changed = wanted.endpoint != to;
  wanted.endpoint = to;
  if (!wanted.timer) wanted.timer = std::make_unique<asio::steady_timer>(io_);
  if ((links_.count(peer) || wanted.dialing) && !changed) return;
  wanted.dialing = true;
  auto link = std::make_shared<Link>(io_, config_.key, config_.self_id, true);
  link->expected_peer = peer;
  link->socket.async_connect(to, [this, link, peer](asio::error_code ec) {
    if (closed_) return;
    if (ec) {
      EndDial(peer);
      ScheduleReconnect(peer);
      return;
    }
    StartLink(link);
  });
}

void Transport::EndDial(uint32_t peer) {
  if (auto w = wanted_.find(peer); w != wanted_.end()) w->second.dialing = false;
}

void Transport::ScheduleReconnect(uint32_t peer) {
  auto it = wanted_.find(peer);
  if (it == wanted_.end() || closed_) return;
  auto& w = it->second;
  w.timer->expires_after(w.backoff);
  w.backoff = std::min(w.backoff * 2, kMaxBackoff);
  w.timer->async_wait([this, peer](asio::error_code ec) {
    if (ec || closed_) return;
    auto it = wanted_.find(peer);
    if (it != wanted_.end() && !links_.count(peer)) Connect(peer, it->second.endpoint);
  });
}

void Transport::Forget(uint32_t peer) {
  auto it = wanted_.find(peer);
  if (it != wanted_.end()) {
    if (it->second.timer) it->second.timer->cancel();
    wanted_.erase(it);
  }
  auto link = links_.find(peer);
  if (link != links_.end()) DropLink(link->second, "forgotten");
}

bool Transport::LinkUp(uint32_t peer) const { return links_.count(peer) > 0; }

void Transport::StartLink(std::shared_ptr<Link> link) {
  asio::error_code ec;
  link->socket.set_option(tcp::no_delay(true), ec);
  link->deadline.expires_after(kHandshakeDeadline);
  link->deadline.async_wait([this, link](asio::error_code e) {
    if (e || closed_ || link->dead || link->session.established()) return;
    stats_.handshakes_timed_out++;
    stats_.links_refused++;
    DropLink(link, "handshake not completed in time");
  });
  link->queue.push_back(link->session.Start());
  WriteLink(link);
  ReadLink(link);
}

void Transport::ReadLink(std::shared_ptr<Link> link) {
  link->socket.async_read_some(
      asio::buffer(link->buf), [this, link](asio::error_code ec, size_t n) {
        if (closed_ || link->dead) return;
        if (ec) {
          DropLink(link, ec.message());
          return;
        }
        stats_.bytes_received += n;
        std::vector<std::string> messages;
        std::string reply;
        bool was_established = link->session.established();
        if (!link->session.Feed({link->buf.data(), n}, &messages, &reply)) {
          if (!was_established) stats_.handshakes_failed++;
          stats_.links_refused++;
          DropLink(link, link->session.failure());
          return;
        }
        if (!reply.empty()) {
          link->queue.push_back(std::move(reply));
          WriteLink(link);
        }
        if (!was_established && link->session.established()) {
          link->deadline.cancel();
          EndPending(*link);
          link->buf.resize(kLinkBuffer);
          uint32_t peer = link->session.peer_id();
          if (peer == config_.self_id || (link->outbound && peer != link->expected_peer)) {
            stats_.handshakes_failed++;
            stats_.links_refused++;
            DropLink(link, "unexpected peer id");
            return;
          }
          // One link per pair: a newer link replaces an older one (the peer may have restarted).
          auto old = links_.find(peer);
          if (old != links_.end() && old->second != link) {
            old->second->registered = false;
            DropLink(old->second, "replaced");
          }
          links_[peer] = link;
          link->registered = true;
          if (link->outbound) EndDial(peer);
          stats_.links_up++;
          if (auto w = wanted_.find(peer); w != wanted_.end())
            w->second.backoff = std::chrono::milliseconds(100);
          handler_->OnLinkUp(peer);
        }
        for (auto& m : messages) {
          if (link->dead) return;
          stats_.frames_received++;
          handler_->OnLinkMessage(link->session.peer_id(), std::move(m));
        }
        if (!link->dead) ReadLink(link);
      });
}

bool Transport::Send(uint32_t peer, std::string_view message) {
  auto it = links_.find(peer);
  if (it == links_.end() || !it->second->session.established()) return false;
  auto& link = it->second;
  if (link->queue.size() >= kMaxQueuedFrames) {
    stats_.send_queue_full++;
    DropLink(link, "peer too slow: send queue full");
    return false;
  }
  link->queue.push_back(link->session.Seal(message));
  stats_.frames_sent++;
  WriteLink(link);
  return true;
}

void Transport::WriteLink(std::shared_ptr<Link> link) {
  if (link->writing || link->queue.empty() || link->dead) return;
  link->writing = true;
  // Everything queued goes out in one gathered write (bounded), not one system call per
  // frame: a report, a release and the next assignment often leave in the same turn.
  std::vector<asio::const_buffer> buffers;
  size_t bytes = 0;
  for (const std::string& frame : link->queue) {
    if (!buffers.empty() && (buffers.size() >= kMaxGatheredFrames || bytes >= kMaxGatheredBytes))
      break;
    buffers.push_back(asio::buffer(frame));
    bytes += frame.size();
  }
  size_t frames = buffers.size();
  asio::async_write(link->socket, buffers, [this, link, frames](asio::error_code ec, size_t n) {
    link->writing = false;
    if (closed_ || link->dead) return;
    if (ec) {
      DropLink(link, ec.message());
      return;
    }
    stats_.bytes_sent += n;
    for (size_t i = 0; i < frames; i++) link->queue.pop_front();
    WriteLink(link);
  });
}

void Transport::DropLink(std::shared_ptr<Link> link, const std::string& /*why*/) {
  if (link->dead) return;
  link->dead = true;
  EndPending(*link);
  link->deadline.cancel();
  asio::error_code ec;
  link->socket.close(ec);
  uint32_t peer = link->session.peer_id();
  bool was_registered = link->registered;
  if (was_registered) {
    link->registered = false;
    auto it = links_.find(peer);
    if (it != links_.end() && it->second == link) links_.erase(it);
    stats_.links_down++;
    handler_->OnLinkDown(peer);
  }
  uint32_t redial = link->outbound ? link->expected_peer : 0;
  if (redial && !was_registered) EndDial(redial);  // the dial failed
  if (redial && !links_.count(redial)) ScheduleReconnect(redial);
}

}  // namespace velum::net
