// The shell's commands for running Wasm on the mesh: wasm, scatter, jobs, wait and cancel.
#ifndef VELUM_SHELL_JOB_COMMANDS_H_
#define VELUM_SHELL_JOB_COMMANDS_H_

#include <string>
#include <vector>

#include "node/node.h"
#include "shell/commands.h"

namespace velum::shell {

CommandResult WasmCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context);
CommandResult ScatterCommand(Node& node, const std::vector<std::string>& words,
                             const ShellContext& context);
CommandResult JobsCommand(Node& node, const std::vector<std::string>& words);
CommandResult WaitCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context);
CommandResult CancelCommand(Node& node, const std::vector<std::string>& words);

// A job's summary as the shell shows it (scatter and wait): JSON and text.
CommandResult JobResult(const JobSummary& job);

}  // namespace velum::shell

#endif  // VELUM_SHELL_JOB_COMMANDS_H_
