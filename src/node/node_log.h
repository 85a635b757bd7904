// The logger of a node, for the node program and for a node embedded through the C API:
// warnings (or everything) on stderr, everything from info in HOME/logs/node-ID.log.
#ifndef VELUM_NODE_NODE_LOG_H_
#define VELUM_NODE_NODE_LOG_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "runtime/error.h"

namespace velum {

enum class ConsoleLog { kQuiet, kWarnings, kVerbose };  // what reaches stderr: nothing, ..., info

// What an unusable log file (a read-only home, a directory in its place) does: the node
// program refuses to start, so its log is never silently missing; a host program embedding a
// node starts it anyway, since stderr still says what matters.
enum class LogFile { kRequired, kIfPossible };

// How each line looks, on stderr and in the file alike: spdlog's text, or one JSON object
// per line for log collectors: {"time", "level", "node", "event", "fields": {...}}.
enum class LogFormat { kText, kJson };

// Makes spdlog's default logger a node's, named `name` in its lines. With LogFile::kRequired,
// an unusable log file is an error and the default logger is left as it was.
Status InstallNodeLogger(const std::string& name, ConsoleLog console, uint32_t id,
                         const std::filesystem::path& home, LogFile file,
                         LogFormat format = LogFormat::kText);

// One line of the JSON format (without its newline): exposed for tests.
std::string JsonLogLine(int64_t unix_ms, const char* level, uint32_t node,
                        const std::string& logger, uint64_t thread, const std::string& message);

}  // namespace velum

#endif  // VELUM_NODE_NODE_LOG_H_
