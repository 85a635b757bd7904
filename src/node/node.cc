// The node kernel's event loop: the transport's datagrams and links into the mesh driver,
// beacons, timers, and the node's start, status and stop; jobs and calls go to the job driver.
#include "node/node.h"

#include <fcntl.h>
#include <google/protobuf/stubs/logging.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "core/membership.h"
#include "net/cluster_key.h"
#include "net/transport.h"
#include "node/node_impl.h"
#include "runtime/aot_compiler.h"
#include "runtime/home.h"
#include "wire/codec.h"

namespace velum {

namespace fs = std::filesystem;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr uint32_t kDefaultPortBase = 8000;  // a node's default port: 8000 + id
// At start, while there are signs of a mesh (nodes registered in the home, seeds, beacon
// targets), the node waits at most MeshDriver::kIdSettleMs for its id to be settled: joined,
// no duplicate check in flight. A duplicate is then refused before its shell starts.
constexpr uint64_t kIdSettleMs = MeshDriver::kIdSettleMs;

// What a second process with a live id is told (and exits with).
std::string IdTakenMessage(uint32_t id, const std::string& where) {
  return "id " + std::to_string(id) + " is already alive at " + where +
         ": pick another id, or stop that node first";
}

// The address a node registered in HOME/nodes/ID ("" if none or unreadable).
std::string RegisteredAddress(const fs::path& file) {
  std::ifstream in(file);
  std::string addr;
  if (!std::getline(in, addr) || addr.size() > core::kMaxMetaString) return "";
  return addr;
}

// "host:port" -> (host, port); false when malformed.
bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) return false;
  *host = text.substr(0, colon);
  try {
    int p = std::stoi(text.substr(colon + 1));
    if (p <= 0 || p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

bool ParseEndpoint(const std::string& text, udp::endpoint* out) {
  std::string host;
  uint16_t port;
  if (!SplitHostPort(text, &host, &port)) return false;
  asio::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return false;
  *out = udp::endpoint(addr, port);
  return true;
}

// The first IPv4 address of an interface that is up and not loopback, else 127.0.0.1.
std::string DefaultAdvertiseHost() {
  ifaddrs* list = nullptr;
  std::string found = "127.0.0.1";
  if (getifaddrs(&list) != 0) return found;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    found = buf;
    break;
  }
  freeifaddrs(list);
  return found;
}

// Broadcast addresses of the interfaces that are up, computed from address and netmask
// (getifaddrs reports the interface's own address when no broadcast address was set), plus
// the limited broadcast address.
std::vector<asio::ip::address> BroadcastAddresses() {
  std::vector<asio::ip::address> out = {asio::ip::address_v4::broadcast()};
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    uint32_t addr = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    uint32_t mask = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
    if (mask == 0xffffffffu || mask == 0xfffffffeu) continue;  // /32 and /31 have none
    out.push_back(asio::ip::address_v4(addr | ~mask));
  }
  freeifaddrs(list);
  return out;
}

uint64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

uint64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t SteadyUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

MeshDriver::Hooks Node::Impl::MeshHooks() {
  MeshDriver::Hooks h;
  h.send_datagram = [this](const std::string& addr, std::string payload) {
    udp::endpoint to;
    if (ParseEndpoint(addr, &to)) transport->SendDatagram(to, payload);
  };
  h.dial = [this](core::NodeId peer, const std::string& addr) {
    std::string host;
    uint16_t port;
    asio::error_code ec;
    if (!SplitHostPort(addr, &host, &port)) return;
    auto ip = asio::ip::make_address(host, ec);
    if (!ec) transport->Connect(peer, tcp::endpoint(ip, port));
  };
  h.forget = [this](core::NodeId peer) { transport->Forget(peer); };
  h.send_link = [this](core::NodeId peer, std::string frame) {
    return transport->Send(peer, std::move(frame));
  };
  h.link_up = [this](core::NodeId peer) { return transport->LinkUp(peer); };
  // SteadyMs counts milliseconds of steady_clock, the timer's own clock: at the wake,
  // SteadyMs() >= at_ms, so the deadline that asked for it has passed.
  h.wake_at = [this](uint64_t at_ms) {
    mesh_timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(at_ms)));
    mesh_timer.async_wait([this, at_ms](asio::error_code ec) {
      if (!ec && !left) mesh->OnWake(at_ms);
    });
  };
  h.now_ms = [] { return SteadyMs(); };
  h.now_us = [] { return SteadyUs(); };
  h.refused = [this] { Refuse(); };
  h.notice = [this](const core::Notice& n) { SayNotice(n); };
  return h;
}

bool Node::Impl::FirstTime(int kind, const std::string& key) {
  if (said.size() >= kMaxSaid) return false;  // bounded: past that, the counters speak
  return said.insert({kind, key}).second;
}

void Node::Impl::SayNotice(const core::Notice& n) {
  if (!FirstTime(static_cast<int>(n.kind), n.addr)) return;
  switch (n.kind) {
    case core::NoticeKind::kIdClaimedElsewhere:
      spdlog::info(
          "peer id {} is claimed from {} while alive at {}: a duplicate id (or a restart there "
          "before the old process is found dead); {} stays as it is",
          n.id, n.addr, n.held_addr, n.held_addr);
      break;
    case core::NoticeKind::kOwnIdElsewhere:
      if (!mesh->membership().refused())
        spdlog::info(
            "another process with this node's id {} is at {}: it is refused, this "
            "node keeps the id",
            n.id, n.addr);
      break;
    case core::NoticeKind::kSeedSilent:
      spdlog::info(
          "--join {} does not answer: no node there, another port, or another cluster key "
          "(its log then says so); still trying",
          n.addr);
      break;
  }
}

void Node::Impl::OnRefusedDatagram(net::DatagramVerdict verdict, const udp::endpoint& from) {
  if (verdict != net::DatagramVerdict::kBadMac || left) return;
  if (wrong_key_sources.size() < kMaxSaid) wrong_key_sources.insert(from.address());
  const std::string addr = from.address().to_string() + ":" + std::to_string(from.port());
  if (!FirstTime(-1, from.address().to_string())) return;
  const fs::path key =
      options.cluster_key.empty() ? options.home / "cluster.key" : options.cluster_key;
  spdlog::info(
      "traffic from {} is under a different cluster key: ignored. Nodes of one mesh share one "
      "key: copy {} to the other node's HOME/cluster.key, or pass --cluster-key FILE to both",
      addr, key.string());
}

void Node::Impl::Refuse() {
  if (refused) return;
  refused = true;
  const std::string& addr = mesh->membership().refused_by();
  const std::string message = IdTakenMessage(options.id, addr);
  if (options.on_refused) {
    spdlog::info("{}", message);
  } else {
    spdlog::error("{}", message);
  }
  // Stopped without a word to the mesh: a Leave would mark the other process left.
  left = true;
  mesh_timer.cancel();
  beacon_timer.cancel();
  StopJobs();
  transport->Close();
  // The lock kept out a second process of this home, so the entry is ours alone: a node of
  // this home started later must not beacon to an address with nobody behind it.
  std::error_code ec;
  if (!registry.empty()) fs::remove(registry, ec);
  if (options.on_refused && started) options.on_refused(message);
}

velum::Status Node::Impl::StartJobs() {
  JobDriver::Hooks h;
  h.send = [this](core::NodeId peer, const wire::LinkMessage& m) {
    return transport->Send(peer, wire::EncodeLink(m));
  };
  h.loop = [this](std::function<void()> work) { asio::post(io, std::move(work)); };
  h.on_loop = [this](std::function<void()> work) {
    OnLoop([&work] {
      work();
      return 0;
    });
  };
  // SteadyMs counts milliseconds of steady_clock, the timer's own clock: at the wake,
  // SteadyMs() >= at_ms, so the core that asked for it finds its deadline passed.
  h.wake_at = [this](uint64_t at_ms) {
    job_timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(at_ms)));
    job_timer.async_wait([this, at_ms](asio::error_code ec) {
      if (!ec && !left) jobs->OnWake(at_ms);
    });
  };
  h.held_gone = [this](core::NodeId peer) { return mesh->HeldGone(peer); };
  h.pick_target = [this](const std::vector<core::NodeId>& tried) {
    return mesh->PickTarget(tried);
  };
  h.publish_load = [this](uint32_t load) { mesh->PublishLoad(load); };
  h.now_ms = [] { return SteadyMs(); };
  h.now_us = [] { return SteadyUs(); };
  auto env = JobDriver::OpenEnv(options);
  if (!env.ok()) return env.error();
  auto started_jobs = JobDriver::Start(options, std::move(h), std::move(*env));
  if (!started_jobs.ok()) return started_jobs.error();
  jobs = std::move(*started_jobs);
  mesh->SetListener(jobs.get());
  return {};
}

velum::Status Node::Impl::StartMaps() {
  std::string note;
  auto journal = MapJournal::Open(
      options.home / "journal" / ("maps-node-" + std::to_string(options.id) + ".db"), &note);
  if (!journal.ok()) return journal.error();
  if (!note.empty()) spdlog::warn("{}", note);
  // Its jobs' ids came from the node's sequence: should the node's journal have been lost,
  // the sequence must still not give them again.
  auto last = (*journal)->LastId();
  if (!last.ok()) return last.error();
  if (*last > 0)
    if (velum::Status s = jobs->ReserveJobIdsThrough(*last); !s.ok()) return s.error();
  MapService::Hooks h;
  h.run = [this](const ModulePtr& module, const CommandOptions& o,
                 const std::atomic<bool>* cancel) { return jobs->RunCommand(module, o, cancel); };
  h.workers = [this] {
    return OnLoop([this] {
      std::map<uint32_t, uint32_t> workers;
      if (options.slots > 0) workers[options.id] = options.slots;
      for (const auto& [id, m] : mesh->membership().members())
        if (id != options.id && m.state == core::MemberState::kAlive && m.meta.slots > 0 &&
            transport->LinkUp(id))
          workers[id] = m.meta.slots;
      return workers;
    });
  };
  h.reserve_id = [this] { return jobs->ReserveJobId(); };
  h.log = [](const std::string& line) { spdlog::info("{}", line); };
  h.self = options.id;
  h.spool = options.home / "maps";
  maps = std::make_unique<MapService>(std::move(*journal), std::move(h));
  maps->ResumeAll();
  return {};
}

void Node::Impl::StopJobs() {
  job_timer.cancel();
  std::vector<core::NodeId> peers;
  for (const auto& [id, m] : mesh->membership().members())
    if (id != options.id) peers.push_back(id);
  jobs->Stop(peers);
}

void Node::Impl::OnDatagram(uint32_t sender, std::string_view payload, const udp::endpoint& from,
                            bool beacon) {
  (void)from;
  if (!left) mesh->OnDatagram(sender, payload, beacon);
}

void Node::Impl::OnLinkUp(uint32_t peer) { mesh->OnLinkUp(peer); }

void Node::Impl::OnLinkDown(uint32_t peer) { mesh->OnLinkDown(peer); }

void Node::Impl::OnLinkMessage(uint32_t peer, std::string message) {
  mesh->OnLinkFrame(peer, std::move(message));
}

void Node::Impl::SendBeacon() {
  const std::string payload = mesh->BeaconPayload();
  for (const auto& target : beacon_targets) transport->SendBeacon(target, payload);
  // Nodes sharing this home (the same machine, the same key) register their address.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(registry.parent_path(), ec)) {
    if (entry.path() == registry) continue;
    std::ifstream in(entry.path());
    std::string addr;
    udp::endpoint ep;
    if (std::getline(in, addr) && ParseEndpoint(addr, &ep)) transport->SendBeacon(ep, payload);
  }
}

void Node::Impl::ScheduleBeacon() {
  // Fast while the mesh forms, then slow: beacons only matter to newcomers.
  uint64_t age = SteadyMs() - started_ms;
  beacon_timer.expires_after(std::chrono::milliseconds(age < 3000 ? 250 : 1000));
  beacon_timer.async_wait([this](asio::error_code ec) {
    if (ec || left) return;
    SendBeacon();
    ScheduleBeacon();
  });
}

void Node::Impl::DoLeave() {
  if (left) return;
  mesh->Leave();
  left = true;
  mesh_timer.cancel();
  beacon_timer.cancel();
  StopJobs();
  std::error_code ec;
  fs::remove(registry, ec);
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Node>> Node::Start(NodeOptions options) {
  // Start-up touches the file system, SQLite, sockets and threads: whatever throws there is
  // a failed start with one message, never an exception out of ./node or the C API.
  try {
    return StartChecked(std::move(options));
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kInternal, std::string("cannot start the node: ") + e.what());
  }
}

Result<std::unique_ptr<Node>> Node::StartChecked(NodeOptions options) {
  if (options.id == 0) return MakeError(ErrorKind::kBadArguments, "node ids start at 1");
  // The default port is 8000 + id; when it is taken (another program, or a second mesh on
  // this machine), the system picks a free one. A port given is used or the start fails.
  const bool port_given = options.port != 0;
  if (!port_given) {
    if (options.id > 65535 - kDefaultPortBase)
      return MakeError(ErrorKind::kBadArguments, "id too large for port 8000+id; give --port");
    options.port = static_cast<uint16_t>(kDefaultPortBase + options.id);
  }
  if (options.local) {
    // Loopback only: every address this node binds, advertises or beacons to is 127.0.0.1.
    if (options.bind != "0.0.0.0" && options.bind != "127.0.0.1")
      return MakeError(ErrorKind::kBadArguments, "--local binds 127.0.0.1, not " + options.bind);
    if (!options.advertise.empty() && options.advertise != "127.0.0.1")
      return MakeError(ErrorKind::kBadArguments,
                       "--local advertises 127.0.0.1, not " + options.advertise);
    options.bind = "127.0.0.1";
    options.advertise = "127.0.0.1";
    options.broadcast = false;
  }
  if (options.home.empty()) options.home = DefaultHome();
  if (velum::Status s = PrepareHome(options.home); !s.ok()) return s.error();
  if (!EnsureDirectory(options.home / "nodes"))
    return MakeError(ErrorKind::kIo, "cannot create " + (options.home / "nodes").string());
  if (!EnsureDirectory(options.home / "run"))
    return MakeError(ErrorKind::kIo, "cannot create " + (options.home / "run").string());
  // One process per id and home: a second one would share the first's journal and registry
  // entry. The lock dies with its process, so a crashed node's restart is never refused.
  const fs::path lock_file =
      options.home / "run" / ("node-" + std::to_string(options.id) + ".lock");
  const int lock_fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0)
    return MakeError(ErrorKind::kIo, "cannot open " + lock_file.string() + ": " + strerror(errno));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    std::string addr = RegisteredAddress(options.home / "nodes" / std::to_string(options.id));
    return MakeError(ErrorKind::kUnavailable,
                     IdTakenMessage(options.id, (addr.empty() ? "another process" : addr) +
                                                    " (same home " + options.home.string() + ")"));
  }
  // Held by the Impl from here on, closed by ~Node (or below, when the start fails).
  struct LockGuard {
    int fd;
    bool released = false;
    ~LockGuard() {
      if (!released) ::close(fd);
    }
  } lock_guard{lock_fd};
  // Another user's key (or one they can read or replace) is refused before it is used.
  fs::path key_file =
      options.cluster_key.empty() ? options.home / "cluster.key" : options.cluster_key;
  if (velum::Status s = CheckPrivateFile(key_file); !s.ok()) return s.error();
  auto key = options.cluster_key.empty() ? net::LoadOrCreateClusterKey(key_file)
                                         : net::LoadClusterKey(key_file);
  if (!key.ok()) return key.error();

  // protobuf-lite logs every malformed string field to stderr before the codec rejects the
  // message: a key holder could flood the log. The codec's verdict is what counts.
  google::protobuf::SetLogHandler(nullptr);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->id_lock_fd = lock_fd;
  lock_guard.released = true;
  std::string host = !options.advertise.empty()  ? options.advertise
                     : options.bind != "0.0.0.0" ? options.bind
                                                 : DefaultAdvertiseHost();
  net::TransportConfig tc;
  tc.self_id = options.id;
  tc.bind_host = options.bind;
  tc.port = options.port;
  tc.port_fallback = !port_given;
  tc.discovery_port = options.discovery_port;
  tc.key = *key;
  impl->transport = std::make_unique<net::Transport>(impl->io, tc, impl.get());
  if (velum::Status s = impl->transport->Open(); !s.ok()) {
    if (!port_given)
      return MakeError(s.error().kind, s.error().message + " (the default port " +
                                           std::to_string(options.port) + " = 8000 + id)");
    return s.error();
  }
  if (impl->transport->port() != options.port)
    spdlog::info("port {} is taken: this node uses port {} (pass --port to choose)", options.port,
                 impl->transport->port());
  options.port = impl->transport->port();
  impl->options.port = options.port;

  core::NodeMeta meta;
  meta.addr = host + ":" + std::to_string(options.port);
  meta.gossip_addr = meta.addr;
  meta.slots = options.slots;
  meta.engines = core::kEngineInterp;
  if (options.engine != EngineKind::kInterp && AotCompiler().Available().ok())
    meta.engines |= core::kEngineAot;
  meta.version = kVersion;
  core::Config config;
  config.initial_incarnation = WallMs();  // a restarted process is recognised as newer
  uint64_t seed;
  randombytes_buf(&seed, sizeof seed);
  impl->mesh = std::make_unique<MeshDriver>(options.id, meta, config, seed, impl->MeshHooks());

  if (options.discovery_port && options.broadcast) {
    for (const auto& addr : BroadcastAddresses())
      impl->beacon_targets.emplace_back(addr, options.discovery_port);
  }
  for (const auto& target : options.beacon_to) {
    udp::endpoint ep;
    if (!ParseEndpoint(target, &ep))
      return MakeError(ErrorKind::kBadArguments, "bad beacon address '" + target + "' (HOST:PORT)");
    impl->beacon_targets.push_back(ep);
  }
  std::vector<std::string> seeds;
  for (const auto& join : options.joins) {
    std::string h;
    uint16_t p;
    if (!SplitHostPort(join, &h, &p))
      return MakeError(ErrorKind::kBadArguments, "bad --join '" + join + "' (HOST:PORT)");
    asio::error_code ec;
    udp::resolver resolver(impl->io);
    auto results = resolver.resolve(udp::v4(), h, std::to_string(p), ec);
    if (ec || results.empty())
      return MakeError(ErrorKind::kBadArguments,
                       "cannot resolve --join " + join + ": " + ec.message());
    seeds.push_back(results.begin()->endpoint().address().to_string() + ":" + std::to_string(p));
  }
  if (velum::Status s = impl->StartJobs(); !s.ok()) return s.error();
  impl->registry = options.home / "nodes" / std::to_string(options.id);
  // Signs of a mesh: then the start waits (briefly) until this id is settled.
  bool mesh_signs = !seeds.empty() || !options.beacon_to.empty();
  {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(impl->registry.parent_path(), ec))
      mesh_signs = mesh_signs || entry.path() != impl->registry;
  }
  {
    std::ofstream out(impl->registry);
    out << meta.gossip_addr << "\n";
  }

  Impl* raw = impl.get();
  asio::post(raw->io, [raw, seeds] {
    raw->mesh->Start(seeds);
    raw->SendBeacon();
    raw->ScheduleBeacon();
  });
  raw->loop = std::thread([raw] { raw->io.run(); });
  std::unique_ptr<Node> node(new Node(std::move(impl)));
  if (mesh_signs) {
    // Polls the loop with a deadline: joined and no check in flight, refused, or time out.
    const uint64_t deadline = SteadyMs() + kIdSettleMs;
    for (;;) {
      auto [settled, refused] = raw->OnLoop([raw] {
        const auto& m = raw->mesh->membership();
        return std::make_pair(m.joined() && !m.checking_id(), raw->refused);
      });
      if (refused || settled || SteadyMs() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const bool refused = raw->OnLoop([raw] {
    raw->started = true;
    return raw->refused;
  });
  if (refused)
    return MakeError(ErrorKind::kUnavailable, IdTakenMessage(options.id, raw->OnLoop([raw] {
                       return raw->mesh->membership().refused_by();
                     })));
  if (velum::Status s = raw->StartMaps(); !s.ok()) return s.error();
  spdlog::info("node {} up at {} (home {})", options.id, meta.addr, options.home.string());
  return node;
}

Node::~Node() {
  Leave();
  impl_->OnLoop([this] {
    impl_->transport->Close();
    return 0;
  });
  impl_->work.reset();
  impl_->io.stop();
  if (impl_->loop.joinable()) impl_->loop.join();
  // Calls still running in executors are stopped, then the threads that wait for them end.
  if (impl_->jobs) impl_->jobs->Shutdown();
  if (impl_->id_lock_fd >= 0) ::close(impl_->id_lock_fd);
}

void Node::Leave() {
  // Map jobs end first: their items run through the job driver, which stops below.
  if (impl_->maps) impl_->maps->Stop();
  impl_->OnLoop([this] {
    impl_->DoLeave();
    return 0;
  });
  // The goodbye datagrams were handed to the socket on the loop thread above; one more
  // round trip through the loop lets their completions run before anything closes.
  impl_->OnLoop([] { return 0; });
}

uint32_t Node::id() const { return impl_->options.id; }

Result<MapSummary> Node::Map(const ModulePtr& module, MapRequest request,
                             const std::atomic<bool>* cancel) {
  if (!impl_->maps) return MakeError(ErrorKind::kUnavailable, "this node is not running");
  return impl_->maps->Map(module, std::move(request), cancel);
}

std::vector<MapSummary> Node::Maps() {
  if (!impl_->maps) return {};
  return impl_->maps->List();
}

uint16_t Node::port() const { return impl_->options.port; }

std::vector<PeerInfo> Node::Peers() {
  return impl_->OnLoop([this] {
    std::vector<PeerInfo> peers;
    uint64_t now = SteadyMs();
    for (const auto& [id, m] : impl_->mesh->membership().members()) {
      if (id == impl_->options.id) continue;
      PeerInfo p;
      p.id = id;
      p.addr = m.meta.addr;
      p.state = m.state;
      p.incarnation = m.incarnation;
      p.slots = m.meta.slots;
      if (m.meta.engines & core::kEngineInterp) p.engines.push_back("interp");
      if (m.meta.engines & core::kEngineAot) p.engines.push_back("aot");
      p.load = m.meta.load;
      p.version = m.meta.version;
      p.last_heard_ms_ago = m.last_heard_ms ? static_cast<int64_t>(now - m.last_heard_ms) : -1;
      p.link_up = impl_->transport->LinkUp(id);
      if (int64_t rtt = impl_->mesh->rtt_us(id); rtt >= 0 && p.link_up) p.link_rtt_us = rtt;
      peers.push_back(std::move(p));
    }
    std::sort(peers.begin(), peers.end(), [](auto& a, auto& b) { return a.id < b.id; });
    return peers;
  });
}

size_t Node::AlivePeers() {
  return impl_->OnLoop([this] {
    size_t n = 0;
    for (const auto& [id, m] : impl_->mesh->membership().members())
      if (id != impl_->options.id && core::IsLive(m.state)) n++;
    return n;
  });
}

NodeStatus Node::Status() {
  HttpCounters http = Http();
  return impl_->OnLoop([this, &http] {
    NodeStatus s;
    s.http = http;
    const auto& ms = impl_->mesh->membership();
    s.id = impl_->options.id;
    s.addr = impl_->mesh->meta().addr;
    s.incarnation = ms.self().incarnation;
    s.uptime_ms = SteadyMs() - impl_->started_ms;
    s.known_members = ms.members().size() - 1;
    s.alive_peers = ms.live_count() - 1;
    const auto& ts = impl_->transport->stats();
    s.datagrams_accepted = ts.datagrams.accepted;
    s.datagrams_dropped = ts.datagrams.dropped();
    s.dropped_bad_mac = ts.datagrams.bad_mac;
    s.dropped_malformed = ts.datagrams.malformed;
    s.dropped_stale = ts.datagrams.stale;
    s.dropped_replayed = ts.datagrams.replayed;
    s.dropped_misdirected = ts.datagrams.misdirected;
    s.undecodable = impl_->mesh->undecodable();
    s.frames_held = impl_->jobs->frames_held();
    s.frames_held_dropped = impl_->jobs->frames_held_dropped();
    s.links_up = ts.links_up - ts.links_down;
    s.links_refused = ts.links_refused;
    s.handshakes_timed_out = ts.handshakes_timed_out;
    s.handshakes_evicted = ts.handshakes_evicted;
    s.handshakes_failed = ts.handshakes_failed;
    s.probes = ms.stats().probes;
    s.suspicions = ms.stats().suspicions;
    s.declared_dead = ms.stats().declared_dead;
    s.refutations = ms.stats().refutations;
    s.wrong_key_datagrams = ts.datagrams.bad_mac;
    s.wrong_key_sources = impl_->wrong_key_sources.size();
    s.duplicate_id_claims = ms.stats().id_claims_held;
    s.own_id_elsewhere = ms.stats().own_id_elsewhere;
    s.seeds_silent = ms.stats().seeds_silent;
    s.home = impl_->options.home.string();
    s.slots = impl_->options.slots;
    s.busy_slots = impl_->jobs->load();
    s.jobs = impl_->jobs->counters();
    return s;
  });
}

NodeMetrics Node::Metrics() {
  NodeMetrics metrics = impl_->OnLoop([this] {
    NodeMetrics m;
    const auto& ms = impl_->mesh->membership();
    m.id = impl_->options.id;
    m.uptime_seconds = static_cast<double>(SteadyMs() - impl_->started_ms) / 1000.0;
    for (const auto& [id, member] : ms.members()) {
      const size_t state = static_cast<size_t>(member.state);
      if (state < m.members.size()) m.members[state]++;
      if (id == impl_->options.id || !impl_->transport->LinkUp(id)) continue;
      if (int64_t rtt = impl_->mesh->rtt_us(id); rtt >= 0)
        m.rtt.push_back({id, static_cast<double>(rtt) / 1e6});
    }
    m.probes = ms.stats().probes;
    m.suspicions = ms.stats().suspicions;
    m.declared_dead = ms.stats().declared_dead;
    m.refutations = ms.stats().refutations;
    const auto& ts = impl_->transport->stats();
    m.links_up = ts.links_up - ts.links_down;
    m.datagrams_in = ts.datagrams.accepted + ts.datagrams.dropped();
    m.datagrams_out = ts.datagrams_sent;
    m.frames_in = ts.frames_received;
    m.frames_out = ts.frames_sent;
    m.bytes_in = ts.bytes_received;
    m.bytes_out = ts.bytes_sent;
    auto drop = [&m](DropReason r, uint64_t n) { m.dropped[static_cast<size_t>(r)] = n; };
    drop(DropReason::kDatagramMalformed, ts.datagrams.malformed);
    drop(DropReason::kDatagramMisdirected, ts.datagrams.misdirected);
    drop(DropReason::kDatagramBadMac, ts.datagrams.bad_mac);
    drop(DropReason::kDatagramStale, ts.datagrams.stale);
    drop(DropReason::kDatagramReplayed, ts.datagrams.replayed);
    drop(DropReason::kUndecodable, impl_->mesh->undecodable());
    drop(DropReason::kHandshakeTimedOut, ts.handshakes_timed_out);
    drop(DropReason::kHandshakeEvicted, ts.handshakes_evicted);
    drop(DropReason::kHandshakeFailed, ts.handshakes_failed);
    // links_refused counts the handshakes' refusals and bad frames on established links.
    const uint64_t handshakes =
        ts.handshakes_timed_out + ts.handshakes_evicted + ts.handshakes_failed;
    drop(DropReason::kLinkBadFrame,
         ts.links_refused > handshakes ? ts.links_refused - handshakes : 0);
    drop(DropReason::kSendQueueFull, ts.send_queue_full);
    drop(DropReason::kHeldFrameDropped, impl_->jobs->frames_held_dropped());
    drop(DropReason::kPeerTableFull, impl_->jobs->peer_gate().refused());
    const JobCounters c = impl_->jobs->counters();
    m.jobs_running = c.jobs_running;
    m.scatter = impl_->jobs->coordinator().totals();
    m.slices_run = c.slices_run;
    m.calls_served = c.calls_served;
    m.commands_served = c.commands_served;
    m.slots_busy = impl_->jobs->load();
    m.slots = impl_->options.slots;
    m.modules_in = c.modules_fetched;
    m.module_bytes_in = c.module_bytes_fetched;
    m.modules_out = c.modules_served;
    return m;
  });
  // Off the loop: counted by their own threads (atomics), or read from the disk.
  metrics.calls = impl_->jobs->executors().calls().Read();
  metrics.pool = impl_->jobs->executors().Figures();
  if (impl_->maps) metrics.maps = impl_->maps->Figures();
  return metrics;
}

// --- Jobs and calls: the job driver's --------------------------------------------------------

const NodeOptions& Node::options() const { return impl_->options; }

Result<ModulePtr> Node::LoadModule(const fs::path& path) { return impl_->jobs->LoadModule(path); }

Result<CallReply> Node::Call(const ModulePtr& module, const std::string& func,
                             const std::vector<Value>& args, const CallOptions& options,
                             const std::atomic<bool>* cancel) {
  return impl_->jobs->Call(module, func, args, options, cancel);
}

Result<CommandReply> Node::RunCommand(const ModulePtr& module, const CommandOptions& options,
                                      const std::atomic<bool>* cancel) {
  return impl_->jobs->RunCommand(module, options, cancel);
}

Result<CallOutcome> Node::RunLocal(CallSpec spec) { return impl_->jobs->RunLocal(std::move(spec)); }

Result<uint64_t> Node::Submit(const ScatterRequest& req) { return impl_->jobs->Submit(req); }

std::optional<JobSummary> Node::Job(uint64_t id) { return impl_->jobs->Job(id); }

std::vector<JobSummary> Node::Jobs() { return impl_->jobs->Jobs(); }

std::optional<core::JobTimeline> Node::JobTimeline(uint64_t id) {
  return impl_->jobs->Timeline(id);
}

Result<std::vector<JobSummary>> Node::JobHistory() { return impl_->jobs->JobHistory(); }

std::optional<JobSummary> Node::WaitJob(uint64_t id, std::chrono::milliseconds wait) {
  return impl_->jobs->WaitJob(id, wait);
}

Result<uint64_t> Node::ReserveJobId() { return impl_->jobs->ReserveJobId(); }

void Node::SetHttpAddress(const std::string& address) {
  std::lock_guard<std::mutex> lock(impl_->http_mu);
  impl_->http.address = address;
}

void Node::CountHttpRequest(bool unauthorized) {
  std::lock_guard<std::mutex> lock(impl_->http_mu);
  impl_->http.requests++;
  if (unauthorized) impl_->http.unauthorized++;
}

HttpCounters Node::Http() {
  std::lock_guard<std::mutex> lock(impl_->http_mu);
  return impl_->http;
}

velum::Status Node::CancelJob(uint64_t id) {
  if (impl_->maps && impl_->maps->Cancel(id)) return {};
  return impl_->jobs->CancelJob(id);
}

}  // namespace velum
