// The node's shell commands (help, peers, status, quit), rendered as text or as one JSON line.
// Shared by the interactive shell, piped scripts and `node -c COMMAND`.
#ifndef VELUM_SHELL_COMMANDS_H_
#define VELUM_SHELL_COMMANDS_H_

#include <nlohmann/json.hpp>
#include <string>

#include "node/node.h"

namespace velum::shell {

struct CommandResult {
  bool ok = true;
  bool quit = false;    // the command asks the shell to end
  std::string text;     // for people: the result, then any detail
  nlohmann::json json;  // for scripts: one object ({"error": ...} when !ok)
};

// Runs one command line against `node`.
CommandResult RunCommand(Node& node, const std::string& line);

// The names of the commands, for completion and help.
const char* const* CommandNames();

}  // namespace velum::shell

#endif  // VELUM_SHELL_COMMANDS_H_
