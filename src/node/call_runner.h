// A small fixed pool of threads for the node's blocking work: executor calls (which wait for
// a child process), module validation and disk reads, so the event loop never blocks.
#ifndef VELUM_NODE_CALL_RUNNER_H_
#define VELUM_NODE_CALL_RUNNER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace velum {

class CallRunner {
 public:
  // max_queued bounds the backlog; Post refuses work beyond it.
  CallRunner(size_t threads, size_t max_queued);
  ~CallRunner();  // Stop()
  // Runs what is queued, then joins; Post refuses work from then on. Idempotent.
  void Stop();
  CallRunner(const CallRunner&) = delete;
  CallRunner& operator=(const CallRunner&) = delete;

  // False (and `work` dropped) when the backlog is full or the runner is stopping.
  bool Post(std::function<void()> work);
  size_t queued() const;

 private:
  void Loop();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace velum

#endif  // VELUM_NODE_CALL_RUNNER_H_
