// Tab completion: the command table says what each word of a line is (a command, a FILE, a
// FUNC, a flag or its value, a JOB); this file lists the candidates for that kind.
#include "shell/completion.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <set>

#include "runtime/module.h"
#include "shell/command_table.h"
#include "shell/module_lookup.h"
#include "shell/shell_util.h"

namespace velum::shell {

namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool IsFlag(const std::string& w) { return w.size() > 2 && w[0] == '-' && w[1] == '-'; }

void AddIfMatches(const std::string& candidate, const std::string& word,
                  std::set<std::string>* out) {
  if (out->size() < kMaxCompletions && StartsWith(candidate, word)) out->insert(candidate);
}

// Entries of the folder named by `word` (up to its last /) whose names continue it; folders
// end with "/". Hidden entries only when the name part starts with a dot.
void AddFiles(const std::string& word, std::set<std::string>* out) {
  size_t slash = word.rfind('/');
  std::string dir_part = slash == std::string::npos ? "" : word.substr(0, slash + 1);
  std::string name_part = slash == std::string::npos ? word : word.substr(slash + 1);
  fs::path dir = dir_part.empty() ? fs::path(".") : fs::path(dir_part);
  std::error_code ec;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  size_t seen = 0;
  for (; !ec && it != fs::directory_iterator() && seen < kMaxFolderEntries; it.increment(ec)) {
    seen++;
    std::string name = it->path().filename().string();
    if (!StartsWith(name, name_part) || (name[0] == '.' && !StartsWith(name_part, "."))) continue;
    std::error_code type_ec;
    bool folder = it->is_directory(type_ec);  // follows symlinks, as a shell does
    AddIfMatches(dir_part + name + (folder ? "/" : ""), word, out);
  }
}

// Bare module names (primes for primes.wasm) found where ResolveModule looks.
void AddModuleNames(const std::string& word, std::set<std::string>* out) {
  if (word.find('/') != std::string::npos) return;
  for (const auto& dir : ModuleSearchDirs()) {
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    size_t seen = 0;
    for (; !ec && it != fs::directory_iterator() && seen < kMaxFolderEntries; it.increment(ec)) {
      seen++;
      if (it->path().extension() == ".wasm") AddIfMatches(it->path().stem().string(), word, out);
    }
  }
}

// The function exports of the module a line names, without the toolchain's own (__wasm_*,
// __dso_handle, ...). The last module read is kept, since Tab is pressed again and again.
void AddExports(const std::string& module_word, const std::string& word,
                std::set<std::string>* out) {
  static std::mutex mu;
  static fs::path cached_path;
  static fs::file_time_type cached_time;
  static std::vector<std::string> cached_exports;
  std::lock_guard<std::mutex> lock(mu);
  fs::path path = ResolveModule(module_word);
  std::error_code ec;
  auto time = fs::last_write_time(path, ec);
  if (ec || !fs::is_regular_file(path, ec)) return;
  if (path != cached_path || time != cached_time) {
    cached_exports.clear();
    cached_path = path;
    cached_time = time;
    auto module = Module::FromFile(path);
    if (!module.ok()) return;
    for (const auto& e : (*module)->exports())
      if (e.kind == ExternKind::kFunc && !StartsWith(e.name, "__"))
        cached_exports.push_back(e.name);
  }
  for (const auto& name : cached_exports) AddIfMatches(name, word, out);
}

void AddChoices(const std::string& choices, const std::string& word, std::set<std::string>* out) {
  for (size_t start = 0; start <= choices.size();) {
    size_t bar = choices.find('|', start);
    if (bar == std::string::npos) bar = choices.size();
    AddIfMatches(choices.substr(start, bar - start), word, out);
    start = bar + 1;
  }
}

void AddValues(const ArgSpec& arg, const std::vector<std::string>& positional,
               const std::string& word, const CompletionSources& sources,
               std::set<std::string>* out) {
  switch (arg.kind) {
    case ArgKind::kModule:
      AddFiles(word, out);
      AddModuleNames(word, out);
      break;
    case ArgKind::kExport:
      if (!positional.empty()) AddExports(positional[0], word, out);
      break;
    case ArgKind::kJob:
      if (sources.job_ids)
        for (uint64_t id : sources.job_ids()) AddIfMatches(std::to_string(id), word, out);
      break;
    case ArgKind::kCommand:
      for (const auto& spec : Commands()) AddIfMatches(spec.name, word, out);
      break;
    case ArgKind::kChoice:
      if (arg.choices) AddChoices(arg.choices, word, out);
      break;
    case ArgKind::kPath:
      AddFiles(word, out);
      break;
    default:
      break;  // numbers and free values: nothing to offer
  }
}

}  // namespace

Completion Complete(const std::string& before_cursor, const CompletionSources& sources) {
  Completion c;
  std::vector<std::string> words = Words(before_cursor);
  bool new_word =
      before_cursor.empty() || std::isspace(static_cast<unsigned char>(before_cursor.back()));
  if (!new_word) {
    c.word = words.back();
    words.pop_back();
  }
  std::set<std::string> found;
  if (words.empty()) {
    for (const auto& spec : Commands()) AddIfMatches(spec.name, c.word, &found);
  } else if (const CommandSpec* spec = FindCommand(words[0])) {
    // Walk the words before the cursor: flags, their values and positional arguments.
    std::vector<std::string> positional;
    const FlagSpec* pending_value = nullptr;
    for (size_t i = 1; i < words.size(); i++) {
      if (pending_value) {
        pending_value = nullptr;
      } else if (IsFlag(words[i])) {
        const FlagSpec* f = spec->FindFlag(words[i]);
        if (f && !f->switch_only()) pending_value = f;
      } else {
        positional.push_back(words[i]);
      }
    }
    if (pending_value) {
      AddValues(pending_value->value, positional, c.word, sources, &found);
    } else if (StartsWith(c.word, "-")) {
      for (const auto& f : spec->flags) AddIfMatches(f.name, c.word, &found);
    } else if (positional.size() < spec->args.size()) {
      AddValues(spec->args[positional.size()], positional, c.word, sources, &found);
    }
  }
  c.candidates.assign(found.begin(), found.end());
  return c;
}

std::string CommonPrefix(const std::vector<std::string>& candidates) {
  if (candidates.empty()) return "";
  std::string prefix = candidates[0];
  for (const auto& c : candidates) {
    size_t n = 0;
    while (n < prefix.size() && n < c.size() && prefix[n] == c[n]) n++;
    prefix.resize(n);
  }
  return prefix;
}

}  // namespace velum::shell
