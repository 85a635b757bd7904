// Helpers shared by the shell's commands: words and flags of a command line, numbers, module
// paths, and rendering of results as text and JSON.
#ifndef VELUM_SHELL_SHELL_UTIL_H_
#define VELUM_SHELL_SHELL_UTIL_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/job_types.h"
#include "runtime/error.h"
#include "runtime/value.h"
#include "shell/commands.h"
#include "shell/module_lookup.h"

namespace velum::shell {

// The words of a command line, split at whitespace as a POSIX shell would without its
// expansions: '...' keeps everything literal, "..." all but \" and \\, a backslash outside
// quotes the next byte; "" is an empty word. An unterminated quote sets *error (if given).
std::vector<std::string> Words(const std::string& line, std::string* error = nullptr);
CommandResult Failure(const std::string& message);
// A command line that cannot run as written (unknown option, bad number, wrong arguments):
// `node -c` exits 2 for these, as ./velum does, and 1 for a failure of the work itself.
CommandResult UsageFailure(const std::string& message);
// An error of the runtime or the node: a usage failure when it is about the arguments given.
CommandResult ErrorFailure(const Error& error);

// A command's words split into positional arguments and --flags. `valued` flags take the next
// word as their value; others are switches. Unknown flags are an error.
struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::set<std::string> switches;
  std::string error;
};
ParsedArgs ParseFlags(const std::vector<std::string>& words, size_t first,
                      const std::set<std::string>& valued, const std::set<std::string>& bare);

// An integer for a range bound or a count, in the forms every program accepts
// (ParseIntegerText: 500000, -5, 0x10, 2e9, 1_000_000). False if not exact or not in int64.
bool ParseInt64(const std::string& text, int64_t* out);

// The one way results leave as JSON: strings that are not UTF-8 (a user's argument, a file
// name) are dumped with U+FFFD in place of the bad bytes instead of throwing type_error.
std::string DumpJson(const nlohmann::json& value);

// A number for JSON: integers as integers, finite floats as floats, others as strings.
nlohmann::json NumJson(const core::Num& n);
nlohmann::json ValueJson(const Value& v);

}  // namespace velum::shell

#endif  // VELUM_SHELL_SHELL_UTIL_H_
