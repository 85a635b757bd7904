// The Asio shell: sockets, reads and writes, reconnect timers. Protocol decisions belong to
// the node; security to DatagramAuth and SecureSession; this file only moves bytes.
#include "net/transport.h"

#include <deque>

#include "net/secure_session.h"

namespace velum::net {

using asio::ip::tcp;
using asio::ip::udp;

namespace {
constexpr size_t kMaxQueuedFrames = 4096;
constexpr std::chrono::milliseconds kMaxBackoff{2000};
// Unauthenticated connections cost a descriptor each: they get a deadline and a cap.
constexpr std::chrono::milliseconds kHandshakeDeadline{5000};
constexpr size_t kMaxPendingHandshakes = 64;
constexpr size_t kHandshakeBuffer = 256;  // hello and proof records are < 64 bytes
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
  bool pending = false;                                         // counted in pending_handshakes_
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

Status Transport::Open() {
  asio::error_code ec;
  auto addr = asio::ip::make_address(config_.bind_host, ec);
  if (ec) return MakeError(ErrorKind::kBadArguments, "bad bind address " + config_.bind_host);
  tcp::endpoint tcp_ep(addr, config_.port);
  acceptor_.open(tcp_ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(tcp_ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return MakeError(ErrorKind::kIo,
                     "TCP port " + std::to_string(config_.port) + ": " + ec.message());
  config_.port = acceptor_.local_endpoint().port();
  gossip_.open(udp::v4(), ec);
  if (!ec) gossip_.set_option(asio::socket_base::broadcast(true), ec);
  if (!ec) gossip_.bind(udp::endpoint(addr, config_.port), ec);
  if (ec)
    return MakeError(ErrorKind::kIo,
                     "UDP port " + std::to_string(config_.port) + ": " + ec.message());
  if (config_.discovery_port) {
    // Several nodes on one machine all listen for beacons: reuse_address lets each socket
    // bind the port, and the kernel delivers every broadcast datagram to all of them.
    discovery_.open(udp::v4(), ec);
    if (!ec) discovery_.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) discovery_.set_option(asio::socket_base::broadcast(true), ec);
    if (!ec)
      discovery_.bind(udp::endpoint(asio::ip::address_v4::any(), config_.discovery_port), ec);
    if (ec)
      return MakeError(ErrorKind::kIo, "discovery port " + std::to_string(config_.discovery_port) +
                                           ": " + ec.message());
    ReceiveBeacon();
  }
  ReceiveGossip();
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
  if (closed_) return;
  auto sealed = std::make_shared<std::string>(auth_.Seal(config_.self_id, payload, NowMs()));
  stats_.bytes_sent += sealed->size();
  gossip_.async_send_to(asio::buffer(*sealed), to, [sealed](asio::error_code, size_t) {});
}

void Transport::ReceiveGossip() {
  gossip_.async_receive_from(asio::buffer(gossip_buf_), gossip_from_,
                             [this](asio::error_code ec, size_t n) {
                               if (closed_ || ec == asio::error::operation_aborted) return;
                               if (!ec)
                                 OnDatagramBytes({gossip_buf_.data(), n}, gossip_from_, false);
                               ReceiveGossip();
                             });
}

void Transport::ReceiveBeacon() {
  discovery_.async_receive_from(asio::buffer(beacon_buf_), beacon_from_,
                                [this](asio::error_code ec, size_t n) {
                                  if (closed_ || ec == asio::error::operation_aborted) return;
                                  if (!ec)
                                    OnDatagramBytes({beacon_buf_.data(), n}, beacon_from_, true);
                                  ReceiveBeacon();
                                });
}

void Transport::OnDatagramBytes(std::string_view bytes, const udp::endpoint& from, bool beacon) {
  stats_.bytes_received += bytes.size();
  uint32_t sender = 0;
  std::string_view payload;
  if (auth_.Open(bytes, NowMs(), &sender, &payload) != DatagramVerdict::kOk) return;
  if (sender == config_.self_id) return;  // our own broadcast, looped back
  handler_->OnDatagram(sender, payload, from, beacon);
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
    if (pending_handshakes_ >= kMaxPendingHandshakes) {
      // Too many strangers mid-handshake: refuse this one rather than run out of descriptors.
      stats_.links_refused++;
      asio::error_code ignored;
      link->socket.close(ignored);
    } else {
      StartLink(link);
    }
    Accept();
  });
}

void Transport::Connect(uint32_t peer, const tcp::endpoint& to) {
  auto& wanted = wanted_[peer];
  bool changed = wanted.endpoint != to;
  wanted.endpoint = to;
  if (!wanted.timer) wanted.timer = std::make_unique<asio::steady_timer>(io_);
  if (links_.count(peer) && !changed) return;
  auto link = std::make_shared<Link>(io_, config_.key, config_.self_id, true);
  link->expected_peer = peer;
  link->socket.async_connect(to, [this, link, peer](asio::error_code ec) {
    if (closed_) return;
    if (ec) {
      ScheduleReconnect(peer);
      return;
    }
    StartLink(link);
  });
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
  link->pending = true;
  pending_handshakes_++;
  link->deadline.expires_after(kHandshakeDeadline);
  link->deadline.async_wait([this, link](asio::error_code e) {
    if (e || closed_ || link->dead || link->session.established()) return;
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
          if (link->pending) link->pending = false, pending_handshakes_--;
          link->buf.resize(kLinkBuffer);
          uint32_t peer = link->session.peer_id();
          if (peer == config_.self_id || (link->outbound && peer != link->expected_peer)) {
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
          stats_.links_up++;
          if (auto w = wanted_.find(peer); w != wanted_.end())
            w->second.backoff = std::chrono::milliseconds(100);
          handler_->OnLinkUp(peer);
        }
        for (auto& m : messages) {
          if (link->dead) return;
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
    DropLink(link, "peer too slow: send queue full");
    return false;
  }
  link->queue.push_back(link->session.Seal(message));
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
  if (link->pending) link->pending = false, pending_handshakes_--;
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
  if (redial && !links_.count(redial)) ScheduleReconnect(redial);
}

}  // namespace velum::net
