// The shell's command table, as Redis's: each command's name, arguments, flags, one-line
// summary and handler in one row. Dispatch, help, typo suggestions and argument checks read it.
#ifndef VELUM_SHELL_COMMAND_TABLE_H_
#define VELUM_SHELL_COMMAND_TABLE_H_

#include <string>
#include <vector>

#include "node/node.h"
#include "shell/commands.h"

namespace velum::shell {

// What a positional argument or a flag's value is, so Tab can complete it.
enum class ArgKind {
  kModule,   // a .wasm path or a bare module name (FILE)
  kExport,   // a function export of the module named by the first argument (FUNC)
  kInteger,  // a range bound, a node id
  kJob,      // a job id of this node
  kCommand,  // a command name (help CMD)
  kSeconds,  // a duration
  kMib,      // a memory size
  kChoice,   // one of the words listed in ArgSpec::choices
  kValue,    // anything (an export's arguments)
  kPath,     // a file or folder of this machine
  kText,     // a word taken as it is (NAME=VALUE)
};

struct ArgSpec {
  const char* name;  // as usage shows it: "FILE"
  ArgKind kind;
  const char* choices = nullptr;  // kChoice: "sum|min|max|first"
};

struct FlagSpec {
  const char* name;  // "--reduce"
  ArgSpec value;     // {nullptr, ...} for a switch
  bool switch_only() const { return value.name == nullptr; }
};

using CommandHandler = CommandResult (*)(Node& node, const std::vector<std::string>& words,
                                         const ShellContext& context);

struct CommandSpec {
  const char* name;
  const char* alias;    // another name it answers to ("exit"), or nullptr
  const char* summary;  // one line, for help
  const char* details;  // more lines for `help CMD` (may be "")
  CommandHandler handler;
  std::vector<ArgSpec> args;  // positional arguments, in order
  size_t required;            // how many of `args` must be given
  bool variadic;              // more arguments may follow `args` (wasm's ARGS...)
  std::vector<FlagSpec> flags;
  bool background;  // a trailing & runs it in the background
  // Words after the first argument may be a program's own (wasm's WASI commands): there an
  // unknown option is an argument, and the handler decides.
  bool program_words = false;

  // "scatter FILE FUNC START END [--reduce sum|min|max|first] ... [&]"
  std::string Usage() const;
  // "scatter FILE FUNC START END [&]": the arguments without the flags.
  std::string Synopsis() const;
  const FlagSpec* FindFlag(const std::string& name) const;
};

// Every command, in the order help lists them.
const std::vector<CommandSpec>& Commands();

// The command called `name` (or aliased so), or nullptr.
const CommandSpec* FindCommand(const std::string& name);

// The command a typo most likely meant ("scater", "Scatter", "scat" -> "scatter"), or "" when
// none is close.
std::string SuggestCommand(const std::string& typo);

// The words of a command line checked against its row: unknown flags, flags without a
// value, missing and extra arguments. "" when they fit, else one line (the usage follows).
std::string CheckArguments(const CommandSpec& spec, const std::vector<std::string>& words);

// Runs one line through the table: an unknown command gets a suggestion, arguments that do
// not fit get one error and the usage, the rest go to the row's handler.
CommandResult Dispatch(Node& node, const std::string& line, const ShellContext& context);
// The same for a line already split into words (no quoting to undo): the HTTP API's way in.
CommandResult DispatchWords(Node& node, const std::vector<std::string>& words,
                            const ShellContext& context);

// `help` and `help CMD`.
CommandResult HelpCommand(Node& node, const std::vector<std::string>& words,
                          const ShellContext& context);

}  // namespace velum::shell

#endif  // VELUM_SHELL_COMMAND_TABLE_H_
