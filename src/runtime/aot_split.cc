// Splitting wasm2c's output into translation units: a line-level reading of the one file
// wasm2c 1.0.32 writes, refusing anything it does not recognise rather than guessing.
#include "runtime/aot_split.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "core/assert.h"

namespace velum {

namespace {

// The functions and func_types shared between units: visible across the units of one shared
// object, never exported from it (the host finds only velum_module_m<N>).
constexpr char kHidden[] = "__attribute__((visibility(\"hidden\"))) ";
constexpr std::string_view kStatic = "static ";
constexpr std::string_view kFuncTypes = "static u32 func_types[";
constexpr std::string_view kInitializedFlag = "static bool s_module_initialized = false;";

Error Unrecognised(const std::string& what) {
  return MakeError(ErrorKind::kCompilerFailed, "wasm2c output not split: " + what);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::vector<std::string_view> Lines(const std::string& text) {
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    if (end == std::string_view::npos) end = rest.size();
    lines.push_back(rest.substr(0, end));
    rest.remove_prefix(end < rest.size() ? end + 1 : end);
  }
  return lines;
}

// The identifier just before the first '(' of a top-level `static` line, if it is a wasm2c
// function name (w2c_...) preceded by its return type; else empty.
std::string_view FunctionName(std::string_view line) {
  if (!StartsWith(line, kStatic)) return {};
  size_t paren = line.find('(');
  if (paren == std::string_view::npos) return {};
  size_t begin = paren;
  while (begin > kStatic.size() && IsIdentChar(line[begin - 1])) begin--;
  if (begin == kStatic.size() || line[begin - 1] != ' ') return {};  // no return type
  std::string_view name = line.substr(begin, paren - begin);
  return StartsWith(name, "w2c_") ? name : std::string_view{};
}

// wasm2c wraps a long parameter list onto indented lines: the index of the line ending with
// `suffix` that closes the head begun at `first`, or npos (a bound keeps the scan short).
constexpr size_t kMaxHeadLines = 64;
size_t HeadEnd(const std::vector<std::string_view>& lines, size_t first, std::string_view suffix) {
  for (size_t i = first; i < lines.size() && i < first + kMaxHeadLines; i++) {
    if (i > first && (lines[i].empty() || lines[i][0] != ' ')) return std::string_view::npos;
    if (lines[i].find('{') != std::string_view::npos && suffix.back() != '{')
      return std::string_view::npos;
    if (EndsWith(lines[i], suffix)) return i;
  }
  return std::string_view::npos;
}

// The last line of the forward declaration starting at `first`, or npos if none starts there.
size_t DeclarationEnd(const std::vector<std::string_view>& lines, size_t first) {
  if (FunctionName(lines[first]).empty()) return std::string_view::npos;
  return HeadEnd(lines, first, ");");
}

void Append(std::string* out, std::string_view line) {
  out->append(line);
  out->push_back('\n');
}

}  // namespace

Result<SplitSource> SplitWasm2cSource(const std::string& source, const std::string& prefix,
                                      uint64_t unit_c_bytes, uint32_t max_units) {
  if (unit_c_bytes == 0 || max_units == 0) return Unrecognised("no room for a unit");
  for (char c : prefix)
    if (!IsIdentChar(c)) return Unrecognised("prefix is not an identifier");
  const std::vector<std::string_view> lines = Lines(source);
  size_t first_decl = 0;
  while (first_decl < lines.size() && DeclarationEnd(lines, first_decl) == std::string_view::npos)
    first_decl++;
  size_t end_decl = first_decl;
  std::unordered_set<std::string_view> declared;
  for (size_t last; end_decl < lines.size() &&
                    (last = DeclarationEnd(lines, end_decl)) != std::string_view::npos;
       end_decl = last + 1)
    declared.insert(FunctionName(lines[end_decl]));
  if (declared.empty()) return Unrecognised("no function declarations");

  // The head every unit starts with (and `main` too, with func_types defined, not declared).
  std::string unit_head, main_head;
  bool func_types_seen = false;
  for (size_t i = 0; i < first_decl; i++) {
    std::string_view line = lines[i];
    bool variable = StartsWith(line, kStatic) && line.find('(') == std::string_view::npos;
    if (variable && StartsWith(line, kFuncTypes)) {
      if (func_types_seen || !EndsWith(line, "];")) return Unrecognised(std::string(line));
      func_types_seen = true;
      std::string_view decl = line.substr(kStatic.size());
      std::string define = "#define func_types velum_" + prefix + "_func_types\n";
      unit_head += define + "extern " + kHidden + std::string(decl) + "\n";
      main_head += define + kHidden + std::string(decl) + "\n";
      continue;
    }
    // A static variable is per unit: only the init code in `main` may use one, and the
    // only other such variable wasm2c 1.0.32 writes is its init flag.
    if (variable && line != kInitializedFlag) return Unrecognised(std::string(line));
    Append(&unit_head, line);
    Append(&main_head, line);
  }
  for (size_t i = first_decl; i < end_decl; i++) {
    std::string_view name = FunctionName(lines[i]);
    if (name.empty()) {  // a continuation line of a wrapped declaration
      Append(&unit_head, lines[i]);
      Append(&main_head, lines[i]);
      continue;
    }
    std::string text = "#define " + std::string(name) + " velum_" + prefix + "_" +
                       std::string(name) + "\n" + kHidden +
                       std::string(lines[i].substr(kStatic.size())) + "\n";
    unit_head += text;
    main_head += text;
  }

  // Definitions, in order, each from its `static T w2c_NAME(...) {` line to its "}" line;
  // everything else stays in `main`, in order.
  struct Definition {
    size_t first, last;  // line indices, inclusive
    uint64_t bytes;
  };
  std::vector<Definition> definitions;
  std::string main = main_head;
  std::unordered_set<std::string_view> main_statics;  // data, init code: only `main` has them
  uint64_t total_bytes = 0;
  for (size_t i = end_decl; i < lines.size(); i++) {
    std::string_view line = lines[i];
    std::string_view name = FunctionName(line);
    size_t head_end =
        name.empty() || EndsWith(line, ";") ? std::string_view::npos : HeadEnd(lines, i, ") {");
    if (head_end == std::string_view::npos) {
      if (StartsWith(line, kStatic)) {
        size_t end = line.find_first_of("([=;");
        if (end == std::string_view::npos) return Unrecognised(std::string(line));
        size_t begin = end;
        while (begin > 0 && line[begin - 1] == ' ') begin--;
        size_t ident_end = begin;
        while (begin > 0 && IsIdentChar(line[begin - 1])) begin--;
        main_statics.insert(line.substr(begin, ident_end - begin));
      }
      Append(&main, line);
      continue;
    }
    if (!declared.count(name)) return Unrecognised("undeclared " + std::string(name));
    size_t last = head_end + 1;
    uint64_t bytes = 0;
    for (size_t h = i; h <= head_end; h++) bytes += lines[h].size() + 1;
    // Bodies are indented: the first line at column 0 must be the closing brace.
    for (; last < lines.size() && (lines[last].empty() || lines[last][0] == ' '); last++)
      bytes += lines[last].size() + 1;
    if (last == lines.size() || lines[last] != "}")
      return Unrecognised("body of " + std::string(name));
    definitions.push_back({i, last, bytes + 2});
    total_bytes += bytes + 2;
    i = last;
  }
  if (definitions.empty()) return Unrecognised("no function definitions");

  uint64_t aim = std::max<uint64_t>(unit_c_bytes, (total_bytes + max_units - 1) / max_units);
  SplitSource split;
  split.main = std::move(main);
  std::string unit;
  uint64_t unit_bytes = 0;
  for (const Definition& d : definitions) {
    if (unit.empty()) unit = unit_head;
    // A static definition of `main` (a data segment, an init function) is not visible here.
    for (size_t l = d.first; l <= d.last; l++) {
      std::string_view line = lines[l];
      for (size_t k = 0; k < line.size();) {
        if (!IsIdentChar(line[k])) {
          k++;
          continue;
        }
        size_t start = k;
        while (k < line.size() && IsIdentChar(line[k])) k++;
        std::string_view word = line.substr(start, k - start);
        if (main_statics.count(word)) return Unrecognised("a function uses " + std::string(word));
      }
      Append(&unit, l == d.first ? line.substr(kStatic.size()) : line);
    }
    unit += "\n";
    unit_bytes += d.bytes;
    if (unit_bytes >= aim) {
      split.units.push_back(std::move(unit));
      unit.clear();
      unit_bytes = 0;
    }
  }
  if (!unit.empty()) split.units.push_back(std::move(unit));
  VELUM_ASSERT(!split.units.empty());
  VELUM_ASSERT(split.units.size() <= max_units);
  return split;
}

}  // namespace velum
