// The node's shell commands (wasm, scatter, jobs, wait, cancel, peers, status, help, quit),
// rendered as text or as one JSON line. Shared by the interactive shell, piped scripts and
// `node -c COMMAND`.
#ifndef VELUM_SHELL_COMMANDS_H_
#define VELUM_SHELL_COMMANDS_H_

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "node/node.h"

namespace velum::shell {

struct CommandResult {
  bool ok = true;
  bool quit = false;    // the command asks the shell to end
  std::string text;     // for people: the result, then any detail
  nlohmann::json json;  // for scripts: one object ({"error": ...} when !ok)
  // A job left running in the background (scatter ... &, a wait detached by Ctrl-C): the
  // interactive shell announces its end at a later prompt.
  uint64_t background_job = 0;
  // A job whose end the user has just seen or caused (wait, cancel): nothing more to announce.
  uint64_t settled_job = 0;
  bool usage = false;  // !ok because the command line was wrong (exit code 2), not the work
  // A WASI command's exit code: `node -c` exits with it. -1: not a command.
  int exit_status = -1;
  bool json_line = false;  // printed as its JSON line even without the node's --json
};

// How a command may interact while it runs.
struct ShellContext {
  bool progress = false;  // draw a progress bar on stderr (a terminal) while a job runs
  // Set by another thread (Ctrl-C) to cancel the running command.
  const std::atomic<bool>* interrupt = nullptr;
  bool json = false;  // results are printed as JSON: a command's output is gathered, not streamed
  // A job that runs until the command returns (map) calls this with its id once it has one.
  std::function<void(uint64_t job)> on_job;
};

// Runs one command line against `node`, through the command table (shell/command_table.h).
CommandResult RunCommand(Node& node, const std::string& line, const ShellContext& context = {});

// The handlers of the mesh commands; `words` have passed the table's argument check.
CommandResult PeersCommand(Node& node, const std::vector<std::string>& words,
                           const ShellContext& context);
CommandResult StatusCommand(Node& node, const std::vector<std::string>& words,
                            const ShellContext& context);
CommandResult QuitCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context);

// `peers` hides a dead or departed member once it has not been heard from for this long
// (`peers --all` shows it): a mesh that ran for days does not list every node it ever had.
inline constexpr int64_t kHideDepartedAfterMs = 60000;
bool IsLongDeparted(const PeerInfo& peer);
// What `peers` prints (text and JSON) of these peers: the long departed hidden unless `all`.
CommandResult PeersResult(const std::vector<PeerInfo>& peers, bool all);

}  // namespace velum::shell

#endif  // VELUM_SHELL_COMMANDS_H_
