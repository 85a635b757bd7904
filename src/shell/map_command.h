// The shell's `map` command: a WASI command over files, folders or lines on every live worker
// (Node::Map), its outputs in input order or in a folder, and a summary of every failure.
#ifndef VELUM_SHELL_MAP_COMMAND_H_
#define VELUM_SHELL_MAP_COMMAND_H_

#include <optional>
#include <string>
#include <vector>

#include "node/node.h"
#include "shell/commands.h"

namespace velum::shell {

CommandResult MapCommand(Node& node, const std::vector<std::string>& words,
                         const ShellContext& context);

// `jobs`: the map jobs of this node added to its answer, as "maps" and as lines after the
// table: the running ones, and with `all` the finished ones its journal keeps.
void AddMapJobs(Node& node, CommandResult* result, bool all);

// `result JOB` of a map job: its summary, as `map` printed it; nullopt if JOB is no map job.
std::optional<CommandResult> MapJobResult(Node& node, uint64_t id);

// `wait JOB` of a map job: polls it until it ends (Ctrl-C stops waiting, the job goes on),
// then its summary; nullopt if JOB is no map job.
std::optional<CommandResult> WaitMapJob(Node& node, uint64_t id, const ShellContext& context);

// For people: counts, time, items by node, then one line per failed item with its stderr.
std::string MapSummaryText(const MapSummary& summary);

}  // namespace velum::shell

#endif  // VELUM_SHELL_MAP_COMMAND_H_
