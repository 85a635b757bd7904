// Tab completion for the shell, from the command table: command names, flags and their
// choices, files and bare module names (a folder completes with /), a module's exports, jobs.
#ifndef VELUM_SHELL_COMPLETION_H_
#define VELUM_SHELL_COMPLETION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "shell/shell_limits.h"

namespace velum::shell {

struct Completion {
  std::string word;                     // the partial word before the cursor being completed
  std::vector<std::string> candidates;  // whole words, sorted; folders end with "/"
};

// What the table cannot know by itself: the ids of this node's jobs.
struct CompletionSources {
  std::function<std::vector<uint64_t>()> job_ids;
};

// The candidates for the last (possibly empty) word of `before_cursor`.
Completion Complete(const std::string& before_cursor, const CompletionSources& sources = {});

// The longest prefix all candidates share.
std::string CommonPrefix(const std::vector<std::string>& candidates);

}  // namespace velum::shell

#endif  // VELUM_SHELL_COMPLETION_H_
