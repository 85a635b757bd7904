// Parsing and rendering helpers of the shell. Numbers are parsed exactly: a range bound that
// is not an integer is an error, never silently rounded.
#include "shell/shell_util.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/reducer.h"

namespace velum::shell {

namespace fs = std::filesystem;

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

CommandResult Failure(const std::string& message) {
  CommandResult r;
  r.ok = false;
  r.text = "error: " + message;
  r.json = {{"error", message}};
  return r;
}

ParsedArgs ParseFlags(const std::vector<std::string>& words, size_t first,
                      const std::set<std::string>& valued, const std::set<std::string>& bare) {
  ParsedArgs p;
  for (size_t i = first; i < words.size(); i++) {
    const std::string& w = words[i];
    // Negative numbers are arguments, not flags.
    bool flag = w.size() > 2 && w[0] == '-' && w[1] == '-';
    if (!flag) {
      p.positional.push_back(w);
      continue;
    }
    std::string name = w, value;
    bool has_value = false;
    if (size_t eq = w.find('='); eq != std::string::npos) {
      name = w.substr(0, eq);
      value = w.substr(eq + 1);
      has_value = true;
    }
    if (valued.count(name)) {
      if (!has_value) {
        if (i + 1 >= words.size()) {
          p.error = name + " needs a value";
          return p;
        }
        value = words[++i];
      }
      p.values[name] = value;
    } else if (bare.count(name) && !has_value) {
      p.switches.insert(name);
    } else {
      p.error = "unknown option " + name;
      return p;
    }
  }
  return p;
}

bool ParseInt64(const std::string& text_in, int64_t* out) {
  std::string text;
  for (char c : text_in)
    if (c != '_') text += c;
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  bool neg = *b == '-';
  const char* digits = neg || *b == '+' ? b + 1 : b;
  if (e - digits > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    uint64_t v;
    auto r = std::from_chars(digits + 2, e, v, 16);
    if (r.ec != std::errc() || r.ptr != e) return false;
    if (neg ? v > static_cast<uint64_t>(INT64_MAX) + 1 : v > static_cast<uint64_t>(INT64_MAX))
      return false;
    *out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
    return true;
  }
  int64_t v;
  auto r = std::from_chars(b, e, v);
  if (r.ec == std::errc() && r.ptr == e) {
    *out = v;
    return true;
  }
  // 2e9, 1.5e6: allowed when the value is an exact integer within range.
  if (text.find_first_of("eE") == std::string::npos) return false;
  double d;
  auto rd = std::from_chars(b, e, d);
  if (rd.ec != std::errc() || rd.ptr != e || !std::isfinite(d) || d != std::floor(d) ||
      std::fabs(d) >= 9.2e18)
    return false;
  *out = static_cast<int64_t>(d);
  return true;
}

std::vector<fs::path> ModuleSearchDirs() {
  std::error_code ec;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("VELUM_WASM_PATH"); env && *env) {
    std::string path = env;
    for (size_t start = 0; start <= path.size();) {
      size_t colon = path.find(':', start);
      if (colon == std::string::npos) colon = path.size();
      if (colon > start) dirs.emplace_back(path.substr(start, colon - start));
      start = colon + 1;
    }
  }
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(self.parent_path() / "build" / "wasm");
    dirs.push_back(self.parent_path() / "wasm");
  }
  return dirs;
}

fs::path ResolveModule(const std::string& text) {
  std::error_code ec;
  fs::path given(text);
  if (fs::exists(given, ec) || text.find('/') != std::string::npos) return given;
  std::vector<std::string> names = {text};
  if (given.extension() != ".wasm") names.push_back(text + ".wasm");
  for (const auto& dir : ModuleSearchDirs())
    for (const auto& name : names)
      if (fs::exists(dir / name, ec)) return dir / name;
  return given;  // not found: reading it reports the error with the name the user gave
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json NumJson(const core::Num& n) {
  if (n.kind == core::NumKind::kInt) return n.i;
  if (!std::isfinite(n.f)) return core::FormatNum(n);
  // f32: the shortest text that reads back to the same float, not the double's digits.
  return n.kind == core::NumKind::kF32 ? std::stod(core::FormatNum(n)) : n.f;
}

nlohmann::json ValueJson(const Value& v) {
  switch (v.type) {
    case ValType::kI32:
      return v.i32();
    case ValType::kI64:
      return v.i64();
    case ValType::kF32:
      return std::isfinite(v.f32()) ? nlohmann::json(std::stod(FormatValue(v)))
                                    : nlohmann::json(FormatValue(v));
    case ValType::kF64:
      return std::isfinite(v.f64()) ? nlohmann::json(v.f64()) : nlohmann::json(FormatValue(v));
    default:
      return FormatValue(v);
  }
}

}  // namespace velum::shell
