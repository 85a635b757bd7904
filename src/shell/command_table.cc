// The rows of the command table and what reads them: dispatch, help, "did you mean", and the
// argument check that refuses unknown flags and extra arguments before any handler runs.
#include "shell/command_table.h"

#include <algorithm>
#include <cctype>

#include "shell/job_commands.h"
#include "shell/map_command.h"
#include "shell/shell_limits.h"
#include "shell/shell_util.h"

namespace velum::shell {

namespace {

using nlohmann::json;
using WordList = std::vector<std::string>;

const ArgSpec kFile{"FILE", ArgKind::kModule};
const ArgSpec kFunc{"FUNC", ArgKind::kExport};
const ArgSpec kJobArg{"JOB", ArgKind::kJob};
const FlagSpec kTimeout{"--timeout", {"SECONDS", ArgKind::kSeconds}};
const FlagSpec kMaxMemory{"--max-memory", {"MIB", ArgKind::kMib}};

std::vector<CommandSpec> BuildTable() {
  std::vector<CommandSpec> t;
  t.push_back({"wasm",
               nullptr,
               "run an export, or a WASI command, once on the best live peer",
               "FILE FUNC ARGS: calls FUNC; prints the result, the node it ran on and the time.\n"
               "FILE ARGS, when FILE exports _start (a WASI command): runs it with ARGS as its\n"
               "argv; its output streams back while it runs; its exit code is the status.\n"
               "Options go before FILE (for a function call, after it too):\n"
               "  --local             run here even when peers are alive\n"
               "  --node ID           run on that node\n"
               "  --timeout S         stop the call after S seconds\n"
               "  --max-memory M      the instance's linear memory limit, in MiB\n"
               "  --stdin FILE        a command's stdin (else empty)\n"
               "  --ro-dir HOST[::G]  send HOST's files (by content: sent once per node) and\n"
               "                      preopen them read-only as G (default HOST)\n"
               "  --out DIR           an empty writable /out whose files come back into DIR\n"
               "  --env NAME=VALUE    a variable of the command's environment\n"
               "  --json              one line: exit_code, stdout, stderr, node, elapsed_ms",
               WasmCommand,
               {kFile, kFunc},
               1,
               true,
               {{"--local", {}},
                {"--node", {"ID", ArgKind::kInteger}},
                kTimeout,
                kMaxMemory,
                {"--stdin", {"FILE", ArgKind::kPath}},
                {"--ro-dir", {"HOST[::GUEST]", ArgKind::kPath}},
                {"--out", {"DIR", ArgKind::kPath}},
                {"--env", {"NAME=VALUE", ArgKind::kText}},
                {"--json", {}}},
               false,
               true});
  t.push_back({"map",
               nullptr,
               "run a WASI command once per input file or line, over every live worker",
               "FILE ARGS ::: INPUT...: each INPUT file is an item (a folder: each file in it,\n"
               "sorted by name); with --lines each line of each INPUT is one. An item's bytes are\n"
               "its stdin, VELUM_ITEM its index and VELUM_INPUT its name; its stdout is its\n"
               "output. Outputs print in input order, each once, as soon as every earlier item\n"
               "has ended. A failed item runs again on another node; then it is reported with\n"
               "its node, exit code and stderr's tail, and the others go on.\n"
               "Options go before FILE:\n"
               "  --out DIR         each output into DIR under its input's name (lines:\n"
               "                    NNNNNNNN.out), whole or not at all\n"
               "  --lines           each line of the inputs is an item\n"
               "  --recursive       folders' subfolders too\n"
               "  --retries N       runs of a failed item after its first (default 1)\n"
               "  --env NAME=VALUE  a variable of every item's environment\n"
               "  --exclude-self    leave this node's slots to other work\n"
               "  --timeout S       per item\n"
               "  --max-memory M    each instance's linear memory limit, in MiB\n"
               "  --json            one line: job, items, ok, failed, elapsed_ms, workers, out\n"
               "Ctrl-C cancels it; a node that stops resumes its map jobs when it starts again.",
               MapCommand,
               {kFile},
               1,
               true,
               {{"--out", {"DIR", ArgKind::kPath}},
                {"--lines", {}},
                {"--recursive", {}},
                {"--retries", {"N", ArgKind::kInteger}},
                {"--env", {"NAME=VALUE", ArgKind::kText}},
                {"--exclude-self", {}},
                kTimeout,
                kMaxMemory,
                {"--json", {}}},
               false,
               true});
  t.push_back({"scatter",
               nullptr,
               "split [START, END) over every live worker, gather and reduce",
               "FUNC(start, end) is called on slices of the range; the results are reduced.\n"
               "Prints the result and a per-node table; a progress bar while it runs.\n"
               "An export that imports WASI may printf: each slice's output follows the table,\n"
               "tagged [node N, START..END) stdout: (64 KiB per slice, 1 MiB per job).\n"
               "  --reduce R      sum (default), min, max, first, or an EXPORT of the module\n"
               "                  that combines two results, (T..., T...) -> (T...), lower\n"
               "                  range first (associative; need not be commutative)\n"
               "  --chunk N       items per chunk\n"
               "  --exclude-self  leave this node's slots to other work\n"
               "  --timeout S     stop the job after S seconds\n"
               "  --max-memory M  each instance's linear memory limit, in MiB\n"
               "  &               run in the background; the prompt says when it ends\n"
               "Ctrl-C cancels a scatter in the foreground.",
               ScatterCommand,
               {kFile, kFunc, {"START", ArgKind::kInteger}, {"END", ArgKind::kInteger}},
               4,
               false,
               {{"--reduce", {"sum|min|max|first|EXPORT", ArgKind::kChoice, "sum|min|max|first"}},
                {"--chunk", {"ITEMS", ArgKind::kInteger}},
                {"--exclude-self", {}},
                kTimeout,
                kMaxMemory},
               true});
  t.push_back({"jobs",
               nullptr,
               "running and recent jobs with their progress",
               "  --all   also every finished job the journal keeps (the last 256, after restarts\n"
               "          too), newest first\n"
               "  --json  one line: {\"jobs\": [...]}",
               [](Node& node, const WordList& words, const ShellContext&) {
                 return JobsCommand(node, words);
               },
               {},
               0,
               false,
               {{"--all", {}}, {"--json", {}}},
               false});
  t.push_back({"result",
               nullptr,
               "print a finished job's result again, also after a restart",
               "A finished job: its result, workers, losses and output as its scatter printed\n"
               "them, or its failure (the slice's node, items and error), read from the journal\n"
               "after this node restarted. A running job: its progress now (wait JOB follows\n"
               "it). The exit status is the job's: 0 done, 1 failed or cancelled.\n"
               "  --json  one line: the object scatter --json prints",
               [](Node& node, const WordList& words, const ShellContext&) {
                 return ResultCommand(node, words);
               },
               {kJobArg},
               1,
               false,
               {{"--json", {}}},
               false});
  t.push_back({"wait",
               nullptr,
               "follow a job to its end and print its result",
               "Ctrl-C stops waiting and leaves the job running (cancel JOB stops it).",
               WaitCommand,
               {kJobArg},
               1,
               false,
               {},
               false});
  t.push_back({"cancel",
               nullptr,
               "stop a job's work everywhere",
               "",
               [](Node& node, const WordList& words, const ShellContext&) {
                 return CancelCommand(node, words);
               },
               {kJobArg},
               1,
               false,
               {},
               false});
  t.push_back({"peers",
               nullptr,
               "the members: id, address, state, slots, load, link",
               "  --all  also the members that left or died a while ago",
               PeersCommand,
               {},
               0,
               false,
               {{"--all", {}}},
               false});
  t.push_back({"status",
               nullptr,
               "this node: counters of traffic, jobs and modules",
               "",
               StatusCommand,
               {},
               0,
               false,
               {},
               false});
  t.push_back({"help",
               "?",
               "the commands, or one command in full",
               "",
               HelpCommand,
               {{"COMMAND", ArgKind::kCommand}},
               0,
               false,
               {},
               false});
  t.push_back({"quit",
               "exit",
               "leave the mesh gracefully and exit (Ctrl-D too)",
               "Jobs this node coordinates and that are still running resume when it starts\n"
               "again with the same home.",
               QuitCommand,
               {},
               0,
               false,
               {},
               false});
  return t;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours ("sactter") each cost 1. Both words are short (kMaxSuggestBytes at most).
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); i++) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); j++) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); i++)
    for (size_t j = 1; j <= b.size(); j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// A word as an error message may quote it: cut after kShownWordBytes, control characters as ?.
// Other bytes stay (a bad UTF-8 sequence becomes U+FFFD in JSON, as the rest of the shell).
std::string Shown(const std::string& word) {
  std::string out;
  for (unsigned char c : word.substr(0, kShownWordBytes))
    out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
  return word.size() > kShownWordBytes ? out + "..." : out;
}

CommandResult ArgumentFailure(const CommandSpec& spec, const std::string& message) {
  // People get the usage on a line of its own; the JSON error stays one line and carries it.
  CommandResult r = UsageFailure(message + "\nusage: " + spec.Usage());
  r.json = {{"error", message + " (usage: " + spec.Usage() + ")"}, {"usage", spec.Usage()}};
  return r;
}

}  // namespace

std::string CommandSpec::Synopsis() const {
  std::string out = name;
  for (size_t i = 0; i < args.size(); i++)
    out += i < required ? std::string(" ") + args[i].name : std::string(" [") + args[i].name + "]";
  if (variadic) out += " [ARGS...]";
  if (background) out += " [&]";
  return out;
}

std::string CommandSpec::Usage() const {
  std::string out = name;
  for (size_t i = 0; i < args.size(); i++)
    out += i < required ? std::string(" ") + args[i].name : std::string(" [") + args[i].name + "]";
  if (variadic) out += " [ARGS...]";
  for (const auto& f : flags)
    out +=
        std::string(" [") + f.name + (f.switch_only() ? "" : std::string(" ") + f.value.name) + "]";
  if (background) out += " [&]";
  return out;
}

const FlagSpec* CommandSpec::FindFlag(const std::string& flag) const {
  for (const auto& f : flags)
    if (flag == f.name) return &f;
  return nullptr;
}

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> table = BuildTable();
  return table;
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& spec : Commands())
    if (name == spec.name || (spec.alias && name == spec.alias)) return &spec;
  return nullptr;
}

std::string SuggestCommand(const std::string& typo_in) {
  if (typo_in.empty() || typo_in.size() > kMaxSuggestBytes) return "";
  std::string typo = Lower(typo_in);
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& spec : Commands()) {
    std::string name = spec.name;
    size_t d = EditDistance(typo, name);
    // A prefix of two letters or more ("scat") is as good as one typo.
    if (typo.size() >= 2 && name.rfind(typo, 0) == 0) d = std::min<size_t>(d, 1);
    // Short names tolerate one typo, longer ones two; never more than half the name.
    size_t allowed = name.size() <= 4 ? 1 : 2;
    if (d <= allowed && d < best_distance && d * 2 <= std::max(typo.size(), name.size())) {
      best = name;
      best_distance = d;
    }
  }
  return best;
}

std::string CheckArguments(const CommandSpec& spec, const std::vector<std::string>& words_in) {
  std::vector<std::string> words = words_in;
  if (spec.background && words.size() > 1 && words.back() == "&") words.pop_back();
  std::vector<std::string> positional;
  for (size_t i = 1; i < words.size(); i++) {
    const std::string& w = words[i];
    // Negative numbers are arguments, not flags.
    if (!(w.size() > 2 && w[0] == '-' && w[1] == '-')) {
      positional.push_back(w);
      continue;
    }
    size_t eq = w.find('=');
    std::string name = w.substr(0, eq);
    const FlagSpec* flag = spec.FindFlag(name);
    if (!flag && spec.program_words && !positional.empty()) {
      positional.push_back(w);  // perhaps the program's own option: the handler decides
      continue;
    }
    if (!flag) {
      std::string known;
      for (const auto& f : spec.flags) known += (known.empty() ? "" : ", ") + std::string(f.name);
      return std::string(spec.name) + ": unknown option " + Shown(name) +
             (known.empty() ? " (it takes none)" : " (it takes " + known + ")");
    }
    if (flag->switch_only() && eq != std::string::npos)
      return std::string(spec.name) + ": " + flag->name + " takes no value";
    if (!flag->switch_only() && eq == std::string::npos) {
      if (i + 1 >= words.size())
        return std::string(spec.name) + ": " + flag->name + " needs a value (" + flag->value.name +
               ")";
      i++;
    }
  }
  if (positional.size() < spec.required) {
    std::string missing;
    for (size_t i = positional.size(); i < spec.required; i++)
      missing += (missing.empty() ? "" : " ") + std::string(spec.args[i].name);
    return std::string(spec.name) + ": missing " + missing;
  }
  if (!spec.variadic && positional.size() > spec.args.size()) {
    const std::string& extra = positional[spec.args.size()];
    size_t n = spec.args.size();
    std::string takes = n == 0   ? "no arguments"
                        : n == 1 ? "1 argument"
                                 : std::to_string(n) + " arguments";
    return std::string(spec.name) + " takes " + takes + ", not " +
           std::to_string(positional.size()) + ": '" + Shown(extra) + "' is one too many";
  }
  return "";
}

CommandResult Dispatch(Node& node, const std::string& line, const ShellContext& context) {
  std::string quote_error;
  auto words = Words(line, &quote_error);
  if (!quote_error.empty()) return UsageFailure(quote_error);
  return DispatchWords(node, words, context);
}

CommandResult DispatchWords(Node& node, const std::vector<std::string>& words,
                            const ShellContext& context) {
  if (words.empty()) return CommandResult{true, false, "", json::object()};
  const CommandSpec* spec = FindCommand(words[0]);
  if (!spec) {
    std::string hint = SuggestCommand(words[0]);
    CommandResult r =
        UsageFailure("unknown command '" + Shown(words[0]) + "'" +
                     (hint.empty() ? " (try help)" : "; did you mean `" + hint + "`?"));
    if (!hint.empty()) r.json["suggestion"] = hint;
    return r;
  }
  if (std::string error = CheckArguments(*spec, words); !error.empty())
    return ArgumentFailure(*spec, error);
  return spec->handler(node, words, context);
}

CommandResult HelpCommand(Node&, const std::vector<std::string>& words, const ShellContext&) {
  CommandResult r;
  if (words.size() == 2) {
    const CommandSpec* spec = FindCommand(words[1]);
    if (!spec) {
      std::string hint = SuggestCommand(words[1]);
      return UsageFailure("no command '" + Shown(words[1]) + "'" +
                          (hint.empty() ? " (help lists them)" : "; did you mean `" + hint + "`?"));
    }
    r.text = "usage: " + spec->Usage() + "\n" + spec->summary;
    if (*spec->details) r.text += "\n" + std::string(spec->details);
    r.json = {{"command", spec->name},
              {"usage", spec->Usage()},
              {"summary", spec->summary},
              {"details", spec->details}};
    return r;
  }
  json names = json::array();
  std::string text = "commands (help COMMAND for one in full):";
  size_t width = 0;
  for (const auto& spec : Commands()) width = std::max(width, spec.Synopsis().size());
  for (const auto& spec : Commands()) {
    names.push_back(spec.name);
    std::string synopsis = spec.Synopsis();
    text += "\n  " + synopsis + std::string(width + 2 - synopsis.size(), ' ') + spec.summary;
  }
  text +=
      "\nFILE: a path, or a name like primes looked up in $VELUM_WASM_PATH and build/wasm"
      "\nnumbers: 500000, -5, 0x10, 2e9, 1_000_000 (integers exact, as in velum run)"
      "\ndefaults: --timeout 60 s and --max-memory 256 MiB per call, as in velum run"
      "\nkeys: Tab completes; Ctrl-C clears the line or stops a scatter; Ctrl-D leaves";
  r.text = text;
  r.json = {{"commands", names}};
  return r;
}

}  // namespace velum::shell
