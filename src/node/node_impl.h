// The node kernel's state, shared by node.cc (membership, links, beacons) and node_jobs.cc
// (coordinator, worker, module transfers, remote calls). Everything here lives on the loop
// thread unless marked otherwise.
#ifndef VELUM_NODE_NODE_IMPL_H_
#define VELUM_NODE_NODE_IMPL_H_

#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "core/coordinator.h"
#include "core/membership.h"
#include "core/peer_gate.h"
#include "core/worker.h"
#include "net/transport.h"
#include "node/call_runner.h"
#include "node/call_service.h"
#include "node/journal.h"
#include "node/module_fetcher.h"
#include "node/node.h"
#include "runtime/executor_pool.h"
#include "runtime/module_store.h"
#include "wire/job_codec.h"

namespace velum {

uint64_t SteadyMs();
uint64_t SteadyUs();

struct Node::Impl : net::Transport::Handler {
  NodeOptions options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<net::Transport> transport;
  std::unique_ptr<core::Membership> membership;
  asio::steady_timer tick_timer{io};
  asio::steady_timer beacon_timer{io};
  asio::steady_timer heartbeat_timer{io};
  // Wakes the job cores and the fetcher at their next deadline (ScheduleJobTick).
  asio::steady_timer job_timer{io};
  uint64_t job_timer_at_ms = UINT64_MAX;      // when job_timer fires (SteadyMs); MAX: not armed
  uint64_t journal_flush_at_ms = UINT64_MAX;  // journaled progress is flushed by then
  std::thread loop;
  uint64_t started_ms = SteadyMs();
  core::NodeMeta meta;
  std::vector<asio::ip::udp::endpoint> beacon_targets;
  std::filesystem::path registry;  // <home>/nodes/<id>: lets nodes sharing a home find each other
  uint64_t undecodable = 0;
  uint64_t bad_link_frames = 0;
  uint64_t heartbeat_seq = 0;
  std::map<uint32_t, uint64_t> rtt_us;  // last measured round trip per linked peer
  bool left = false;
  bool refused = false;  // another process held this id first: stopped without a Leave
  bool started = false;
  bool dials_deferred = false;  // live members not dialled yet: this id was not settled  // Start
                                // returned: a refusal goes to options.on_refused from then on
  int id_lock_fd = -1;          // flock on HOME/run/node-ID.lock: one process per id and home
  // Why peers may be missing, said once each (by kind and address; bounded).
  static constexpr size_t kMaxSaid = 256;
  std::set<std::pair<int, std::string>> said;
  std::set<asio::ip::address> wrong_key_sources;  // bounded by kMaxSaid

  // --- Jobs (node_jobs.cc) ---
  std::unique_ptr<ModuleStore> store;
  std::unique_ptr<ExecutorPool> pool;
  std::unique_ptr<CallRunner> runner;  // blocking work; threads post results back to the loop
  std::unique_ptr<Journal> journal;
  std::unique_ptr<core::Coordinator> coordinator;
  std::unique_ptr<core::Worker> worker;
  std::unique_ptr<ModuleFetcher> fetcher;
  // The one place a peer is declared up (a worker for this node's jobs) or down (what was in
  // flight with it has ended): fed by link events and membership events, read by OnPeerChange.
  std::unique_ptr<core::PeerGate> peer_gate;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> slice_cancels;  // running slices
  std::unique_ptr<CallService> calls;  // remote calls, sent and served
  JobCounters counters;
  uint32_t published_load = 0;
  // Job frames over a link from a peer this node still holds dead or left. A restarted node's
  // link, and the work it assigns at once, can beat its first gossip by some milliseconds:
  // dropping those frames cost the job a whole Coordinator silence_ms. They wait here, and
  // run once the peer is live again; its link going down or age drops them. Bounded.
  struct HeldFrames {
    static constexpr size_t kMaxPeers = 16;
    static constexpr size_t kMaxFrames = 64;      // per peer
    static constexpr size_t kMaxBytes = 4 << 20;  // per peer, as they came over the link
    static constexpr uint64_t kMaxAgeMs = 5000;   // longer than any join takes
    struct Frame {
      uint64_t arrived_ms;
      size_t wire_bytes;
      wire::LinkMessage message;
    };
    std::deque<Frame> frames;
    size_t bytes = 0;
  };
  std::map<uint32_t, HeldFrames> held_frames;
  uint64_t held_frames_total = 0, held_frames_dropped = 0;
  // Job endings wake WaitJob (any thread).
  std::mutex done_mu;
  std::condition_variable done_cv;
  uint64_t done_events = 0;

  // Runs `fn` on the loop thread and returns its result.
  template <typename F>
  auto OnLoop(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto future = task.get_future();
    asio::post(io, [&task] { task(); });
    return future.get();
  }

  // node.cc: membership, links, beacons.
  void Dispatch(core::Output out);
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
  bool IdSettled() const;
  void Dial(const core::Member& m);
  void SendLinkPing(uint32_t peer);
  void ScheduleHeartbeat();
  void ScheduleTick();
  void SendBeacon();
  void ScheduleBeacon();
  void DoLeave();
  bool IsLiveMember(uint32_t id) const;

  // node_jobs.cc
  velum::Status StartJobs();
  void StopJobs();
  // Arms job_timer for the earliest deadline of the coordinator, the worker, the module
  // fetcher and the journal's next flush; called after anything that may have moved one
  // (RunCoordinator, RunWorker, the fetcher's steps). Only ever brought forward: a wake before a
  // deadline that moved later ticks the cores for nothing and re-arms, which costs less than
  // re-arming on every report.
  void ScheduleJobTick();
  // Facts for the peer gate, from node.cc: a membership event, a link up or down.
  void OnMemberEvent(const core::Event& event);
  void OnJobLink(uint32_t peer, bool up);
  // Acts on the gate's verdict: a worker joins or leaves the coordinator's table; a lost peer
  // ends the work it gave this node, its module transfers and the calls to and from it.
  void OnPeerChange(std::optional<core::PeerChange> change);
  void EndWorkWith(uint32_t peer);
  void OnJobMessage(uint32_t peer, wire::LinkMessage message, size_t wire_bytes);
  void HoldFrame(uint32_t peer, wire::LinkMessage message, size_t wire_bytes);
  void ReleaseHeldFrames(uint32_t peer);
  bool SendLink(uint32_t peer, const wire::LinkMessage& message);
  void RunCoordinator(core::CoordinatorOutput out);
  void RunWorker(core::WorkerOutput out);
  void StartSlice(const core::SliceRun& run);
  void FinishSlice(uint64_t slice, const core::SliceResult& result);
  void ServeModule(uint32_t peer, const ModuleHash& hash);
  void PublishLoad();
  uint32_t PickTarget(const std::vector<uint32_t>& tried) const;
  JobSummary Summarize(const core::Job& job) const;
  // The one place an executor call is specified, for a slice, a peer's call or this node's
  // own: the asked timeout and memory clamped to this node's (core::ClampToOwnLimit).
  CallSpec SpecFor(ModulePtr module, std::string func, std::vector<Value> args, uint32_t timeout_ms,
                   uint32_t memory_pages, const std::atomic<bool>* cancel) const;
  void FlushJournal();
};

}  // namespace velum

#endif  // VELUM_NODE_NODE_IMPL_H_
