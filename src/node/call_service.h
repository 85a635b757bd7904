// Remote calls both ways: calls this node sends to the best peer and waits for (Call), and
// calls peers send here (Serve). Owns every call in flight; the node only routes frames to it.
#ifndef VELUM_NODE_CALL_SERVICE_H_
#define VELUM_NODE_CALL_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/types.h"
#include "node/module_fetcher.h"
#include "node/node.h"
#include "runtime/executor_pool.h"
#include "wire/job_codec.h"

namespace velum {

class CallService {
 public:
  struct Hooks {
    std::function<bool(core::NodeId, const wire::LinkMessage&)> send;  // on the peer's link
    // The module a peer's call names: from the store, else fetched from that peer.
    std::function<void(const ModuleHash&, uint64_t size, core::NodeId, ModuleFetcher::Done)> fetch;
    std::function<bool(std::function<void()>)> blocking;  // off the loop: waits for an executor
    std::function<void(std::function<void()>)> loop;      // back onto the loop
    std::function<void(std::function<void()>)> on_loop;   // runs on the loop and waits for it
    std::function<Result<CallOutcome>(const CallSpec&)> execute;  // the executor pool
    // The node's one rule for an executor call's limits (JobDriver::SpecFor).
    std::function<CallSpec(ModulePtr, std::string, std::vector<Value>, uint32_t timeout_ms,
                           uint32_t memory_pages, const std::atomic<bool>*)>
        spec;
    // The best peer for a call, not one of `tried`; this node's id when there is none.
    std::function<core::NodeId(const std::vector<core::NodeId>& tried)> pick_target;
    std::function<void()> load_changed;  // busy() may have moved (loop thread)
    std::function<uint64_t()> now_us;
  };
  // A call is tried on at most this many nodes before it fails.
  static constexpr int kMaxAttempts = 4;
  // Peers' calls held at once (fetching their module, queued, running): past it, refused.
  static constexpr size_t kMaxServing = 4096;

  CallService(core::NodeId self, Hooks hooks);

  // Any thread but the loop's: runs the export here or on the best peer, moving to the next
  // best when a node is lost or lacks the module. `module` is validated and kept by then.
  Result<CallReply> Call(const ModulePtr& module, const std::string& func,
                         const std::vector<Value>& args, const CallOptions& options,
                         const std::atomic<bool>* cancel);

  // Any thread but the loop's: runs `spec` on this node's executors as one of its own calls
  // (counted in busy(), so peers see the load). Call's local path is built on it.
  Result<CallOutcome> RunSpecHere(const CallSpec& spec);

  // Loop thread: sends a call to `target` (not this node); `done` runs on the loop with its
  // answer, or the error that ended it (the peer lost, the node stopped; possibly within
  // this call, when the failed send drops the link). Its id, or 0 when it could not be sent
  // and `done` will not run. Call is built on it.
  using Done = std::function<void(Result<CallReply>)>;
  uint64_t Start(core::NodeId target, const ModulePtr& module, const std::string& func,
                 const std::vector<Value>& args, const CallOptions& options, Done done);
  // Loop thread: the caller gives up on call `id`: the target is told to stop; `done` never
  // runs.
  void Abandon(uint64_t id);

  // Loop thread: frames from `peer`, and its loss.
  void Serve(core::NodeId peer, wire::CallRequest request);
  void OnResult(core::NodeId peer, const wire::CallResult& result);
  void OnCancel(core::NodeId peer, uint64_t id);
  void OnPeerLost(core::NodeId peer);
  // The node leaves: calls sent fail with `why`, calls served are cancelled, none start.
  void Stop(const std::string& why);
  // After the loop has ended (any thread): calls still in executors are told to stop.
  void CancelServed();

  uint32_t busy() const { return static_cast<uint32_t>(serving_.size()) + local_calls_.load(); }
  uint64_t served() const { return served_; }
  size_t pending() const { return pending_.size(); }  // loop thread: calls sent, unanswered

 private:
  struct PendingCall {
    core::NodeId target = core::kNoNode;
    Done done;
    uint64_t sent_us = 0;
  };
  using Cancel = std::shared_ptr<std::atomic<bool>>;

  Result<CallReply> RunHere(const ModulePtr& module, const std::string& func,
                            const std::vector<Value>& args, const CallOptions& options,
                            const std::atomic<bool>* cancel, const std::string& note);
  void RunServed(core::NodeId peer, const wire::CallRequest& request, const Cancel& cancel,
                 ModulePtr module);
  void ReplyError(core::NodeId peer, uint64_t id, const Error& error);
  // Removes the served call (peer, id) if it is still the one `cancel` belongs to.
  bool EndServed(core::NodeId peer, uint64_t id, const Cancel& cancel);

  const core::NodeId self_;
  Hooks hooks_;
  bool stopped_ = false;
  // Calls this node serves for peers, by (peer, call id): their cancel flags.
  std::map<std::pair<core::NodeId, uint64_t>, Cancel> serving_;
  std::map<uint64_t, PendingCall> pending_;  // calls this node sent, by id
  uint64_t next_id_ = 1;
  std::atomic<uint32_t> local_calls_{0};  // calls running here for this node's own shell
  uint64_t served_ = 0;
};

}  // namespace velum

#endif  // VELUM_NODE_CALL_SERVICE_H_
