// CLI11 glue of the numeric option table (shell/option_limits.h): ./node and ./velum check
// every numeric flag with the same CheckNumber the shell's commands use.
#ifndef VELUM_SHELL_CLI_OPTIONS_H_
#define VELUM_SHELL_CLI_OPTIONS_H_

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "shell/option_limits.h"

namespace velum::shell {

// The exit codes of ./node and ./velum, for both programs' --help.
inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 success; 1 the work failed (a trap, a timeout, an unreadable module, a\n"
    "missing export, no workers); 2 the command line cannot run as written (an unknown\n"
    "option, a missing or malformed argument, a number out of range).";

// A CLI11 transform that refuses what `range` does not accept, with CheckNumber's message,
// and hands CLI11 the value in plain decimal (use it with ->transform, not ->check).
inline CLI::Validator InRange(const NumberRange& range) {
  return CLI::Validator(
      [&range](std::string& text) {
        double value;
        std::string error = CheckNumber(range, text, &value);
        // CLI11 then converts the canonical form: "2e3" and "0x10" are not its integers.
        if (error.empty()) {
          char canonical[40];
          std::snprintf(canonical, sizeof canonical, "%.17g", value);
          text = canonical;
        }
        // CLI11 names the option itself: "--timeout: takes seconds in ...".
        std::string name = std::string(range.name) + " ";
        return error.rfind(name, 0) == 0 ? error.substr(name.size()) : error;
      },
      "", range.name);
}

}  // namespace velum::shell

#endif  // VELUM_SHELL_CLI_OPTIONS_H_
