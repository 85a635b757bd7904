// The node kernel's state (node.cc): the transport, timers and beacons around the mesh driver
// and the job driver it feeds. Everything here lives on the loop thread unless marked otherwise.
#ifndef VELUM_NODE_NODE_IMPL_H_
#define VELUM_NODE_NODE_IMPL_H_

#include <asio.hpp>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "net/transport.h"
#include "node/job_driver.h"
#include "node/map_service.h"
#include "node/mesh_driver.h"
#include "node/node.h"

namespace velum {

uint64_t SteadyMs();
uint64_t SteadyUs();

struct Node::Impl : net::Transport::Handler {
  NodeOptions options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<net::Transport> transport;
  std::unique_ptr<MeshDriver> mesh;   // membership and links: the peer facts
  asio::steady_timer mesh_timer{io};  // wakes the mesh driver (MeshDriver::Hooks::wake_at)
  asio::steady_timer beacon_timer{io};
  // Wakes the job driver at the deadline it asked for (JobDriver::Hooks::wake_at).
  asio::steady_timer job_timer{io};
  std::thread loop;
  uint64_t started_ms = SteadyMs();
  std::vector<asio::ip::udp::endpoint> beacon_targets;
  std::filesystem::path registry;  // <home>/nodes/<id>: lets nodes sharing a home find each other
  bool left = false;
  bool refused = false;  // another process held this id first: stopped without a Leave
  bool started = false;  // Start returned: a refusal goes to options.on_refused from then
  int id_lock_fd = -1;   // flock on HOME/run/node-ID.lock: one process per id and home
  // Why peers may be missing, said once each (by kind and address; bounded).
  static constexpr size_t kMaxSaid = 256;
  std::set<std::pair<int, std::string>> said;
  std::set<asio::ip::address> wrong_key_sources;  // bounded by kMaxSaid

  std::unique_ptr<JobDriver> jobs;   // coordinator, worker, journal, modules, calls
  std::unique_ptr<MapService> maps;  // map jobs this node coordinates (threads of their own)
  // The HTTP server's figures (it runs on threads of its own): address set once at its start.
  std::mutex http_mu;
  HttpCounters http;

  // Runs `fn` on the loop thread and returns its result.
  template <typename F>
  auto OnLoop(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto future = task.get_future();
    asio::post(io, [&task] { task(); });
    return future.get();
  }

  // node.cc: the transport's events go to the mesh driver; beacons; notices.
  MeshDriver::Hooks MeshHooks();
  void OnDatagram(uint32_t sender, std::string_view payload, const asio::ip::udp::endpoint& from,
                  bool beacon) override;
  void OnLinkUp(uint32_t peer) override;
  void OnLinkDown(uint32_t peer) override;
  void OnLinkMessage(uint32_t peer, std::string message) override;
  void OnRefusedDatagram(net::DatagramVerdict verdict,
                         const asio::ip::udp::endpoint& from) override;
  bool FirstTime(int kind, const std::string& key);
  void SayNotice(const core::Notice& notice);
  void Refuse();
  void SendBeacon();
  void ScheduleBeacon();
  void DoLeave();

  // The job driver, started with this node's hooks; stopped with every member's id.
  velum::Status StartJobs();
  // The map service over the job driver; its running jobs resume. After the loop runs.
  velum::Status StartMaps();
  void StopJobs();
};

}  // namespace velum

#endif  // VELUM_NODE_NODE_IMPL_H_
