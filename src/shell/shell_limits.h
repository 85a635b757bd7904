// The bounds of the interactive shell in one place: history, completion, watched background
// jobs and the words quoted back in messages. Numeric options have theirs in option_limits.h.
#ifndef VELUM_SHELL_SHELL_LIMITS_H_
#define VELUM_SHELL_SHELL_LIMITS_H_

#include <cstddef>

namespace velum::shell {

// Lines kept in HOME/history.
inline constexpr int kHistoryLines = 1000;
// Tab: candidates offered at most, and folder entries read at most per folder.
inline constexpr size_t kMaxCompletions = 512;
inline constexpr size_t kMaxFolderEntries = 8192;
// Background jobs whose end the shell will announce; the oldest is dropped past it.
inline constexpr size_t kMaxWatchedJobs = 256;
// A typed command longer than this is not compared with the table for "did you mean".
inline constexpr size_t kMaxSuggestBytes = 64;
// A user's word quoted in an error message is cut after this many bytes.
inline constexpr size_t kShownWordBytes = 40;

}  // namespace velum::shell

#endif  // VELUM_SHELL_SHELL_LIMITS_H_
