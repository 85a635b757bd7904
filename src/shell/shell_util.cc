// Parsing and rendering helpers of the shell. Numbers are parsed exactly: a range bound that
// is not an integer is an error, never silently rounded.
#include "shell/shell_util.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/reducer.h"

namespace velum::shell {

std::vector<std::string> Words(const std::string& line, std::string* error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // "" is a word: an empty argument
  char quote = 0;        // the quote character of the open quote, or 0
  for (size_t i = 0; i < line.size(); i++) {
    const char c = line[i];
    if (quote == '\'') {  // single quotes: everything literal up to the next one
      if (c == '\'') {
        quote = 0;
      } else {
        word += c;
      }
    } else if (quote == '"') {  // double quotes: \" and \\ are escapes, the rest literal
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        word += line[++i];
      } else {
        word += c;
      }
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {  // outside quotes: the next byte as is
      word += line[++i];
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (error) {
    *error =
        quote ? std::string("unterminated ") + (quote == '"' ? "double" : "single") + " quote" : "";
  }
  return words;
}

CommandResult Failure(const std::string& message) {
  CommandResult r;
  r.ok = false;
  r.text = "error: " + message;
  r.json = {{"error", message}};
  return r;
}

CommandResult UsageFailure(const std::string& message) {
  CommandResult r = Failure(message);
  r.usage = true;
  return r;
}

CommandResult ErrorFailure(const Error& error) {
  CommandResult r = Failure(error.ToString());
  r.usage = error.kind == ErrorKind::kBadArguments;
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

bool ParseInt64(const std::string& text, int64_t* out) {
  uint64_t magnitude;
  bool negative;
  if (!ParseIntegerText(text, &magnitude, &negative)) return false;
  uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (magnitude > limit) return false;
  *out = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return true;
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
