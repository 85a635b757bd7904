// Where the job driver's blocking work runs, off the loop: executor calls, module reads and
// writes. The node's are the executor pool on the call runner's threads (PoolExecutors).
#ifndef VELUM_NODE_EXECUTORS_H_
#define VELUM_NODE_EXECUTORS_H_

#include <functional>
#include <memory>

#include "node/call_runner.h"
#include "node/node.h"
#include "node/node_metrics.h"
#include "runtime/executor_pool.h"

namespace velum {

class Executors {
 public:
  virtual ~Executors() = default;
  // Runs `work` off the loop, later; false (and `work` dropped) when the backlog is full.
  virtual bool Post(std::function<void()> work) = 0;
  // One executor call, blocking until it ends (its spec's cancel flag ends it early). Only
  // from work given to Post.
  virtual Result<CallOutcome> Call(const CallSpec& spec) = 0;
  // Runs the queued work and ends the threads, this object still whole (queued work may
  // call Call and Post; Post then refuses). Before destruction; idempotent.
  virtual void Stop() {}
  // The pool's figures for the node's metrics (none here); reads the disk: off the loop.
  virtual PoolFigures Figures() const { return {}; }
  // Calls of Call so far, by engine and result, with their wall time (any thread).
  const CallFigures& calls() const { return calls_; }

 protected:
  CallFigures calls_;  // counted by Call
};

// The executor pool of options (slots, home, compile jobs, cache) and a call runner with a
// thread per slot and two for module reads and writes. Destroyed: queued work runs, the
// threads are joined, then the pool's executors end.
class PoolExecutors final : public Executors {
 public:
  static Result<std::unique_ptr<PoolExecutors>> Start(const NodeOptions& options);
  ~PoolExecutors() override;
  bool Post(std::function<void()> work) override { return runner_->Post(std::move(work)); }
  Result<CallOutcome> Call(const CallSpec& spec) override;
  void Stop() override { runner_->Stop(); }
  PoolFigures Figures() const override;

 private:
  PoolExecutors() = default;
  std::unique_ptr<ExecutorPool> pool_;
  std::unique_ptr<CallRunner> runner_;
};

}  // namespace velum

#endif  // VELUM_NODE_EXECUTORS_H_
