// The jobs an interactive shell left running in the background (scatter ... &, a wait
// detached by Ctrl-C). Each one's end is announced once, at the next prompt, as bash does.
#ifndef VELUM_SHELL_BACKGROUND_JOBS_H_
#define VELUM_SHELL_BACKGROUND_JOBS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "node/node.h"
#include "shell/commands.h"
#include "shell/shell_limits.h"

namespace velum::shell {

class BackgroundJobs {
 public:
  // Takes note of what a command did: a job sent to the background is watched (at most
  // kMaxWatchedJobs: the oldest is dropped, never announced); one the user waited for to its
  // end or cancelled is not announced again.
  void Observe(const CommandResult& result);

  // One line per watched job that has ended since: "[job 4] done: 3562115 in 16.2 s". Each is
  // said once. A job the node no longer knows is dropped silently.
  std::vector<std::string> TakeNotices(Node& node);

  size_t watched() const { return watched_.size(); }

 private:
  std::set<uint64_t> watched_;  // job ids are increasing: begin() is the oldest
};

// The announcement of an ended job: "[job 4] done: 3562115 in 16.2 s",
// "[job 5] failed: ...", "[job 6] cancelled after 2.1 s".
std::string JobNotice(const JobSummary& job);

}  // namespace velum::shell

#endif  // VELUM_SHELL_BACKGROUND_JOBS_H_
