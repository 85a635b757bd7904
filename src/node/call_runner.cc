// The runner's threads take work in order; a stop drains the queue before joining, so a
// posted completion always runs (and posts its answer back to the loop, or finds it gone).
#include "node/call_runner.h"

#include <algorithm>

namespace velum {

CallRunner::CallRunner(size_t threads, size_t max_queued) : max_queued_(max_queued) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); i++)
    threads_.emplace_back([this] { Loop(); });
}

CallRunner::~CallRunner() { Stop(); }

void CallRunner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

bool CallRunner::Post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
  return true;
}

size_t CallRunner::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void CallRunner::Loop() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace velum
