// Announcing the end of background jobs at the prompt: the shell asks the node for each
// watched job's state before it draws the prompt, and says each ending once.
#include "shell/background_jobs.h"

#include <cstdio>

#include "core/reducer.h"

namespace velum::shell {

void BackgroundJobs::Observe(const CommandResult& result) {
  if (result.settled_job) watched_.erase(result.settled_job);
  if (result.background_job) {
    watched_.insert(result.background_job);
    if (watched_.size() > kMaxWatchedJobs) watched_.erase(watched_.begin());
  }
}

std::vector<std::string> BackgroundJobs::TakeNotices(Node& node) {
  std::vector<std::string> notices;
  for (auto it = watched_.begin(); it != watched_.end();) {
    auto job = node.Job(*it);
    if (job && !job->finished()) {
      ++it;
      continue;
    }
    if (job) notices.push_back(JobNotice(*job));
    it = watched_.erase(it);
  }
  return notices;
}

std::string JobNotice(const JobSummary& job) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f s", job.elapsed_ms / 1000);
  std::string head = "[job " + std::to_string(job.id) + "] ";
  if (job.state == core::JobState::kDone) {
    std::string values;
    for (const auto& v : job.result) values += (values.empty() ? "" : " ") + core::FormatNum(v);
    return head + "done: " + (values.empty() ? "(no result)" : values) + " in " + seconds;
  }
  if (job.state == core::JobState::kCancelled) return head + "cancelled after " + seconds;
  return head + core::JobStateName(job.state) + (job.error.empty() ? "" : ": " + job.error) +
         " after " + seconds;
}

}  // namespace velum::shell
