// The accepted range of every numeric option of ./node, ./velum and the shell's commands, in
// one table, and the one check they all go through: a finite number, in range, whole if counted.
#ifndef VELUM_SHELL_OPTION_LIMITS_H_
#define VELUM_SHELL_OPTION_LIMITS_H_

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "runtime/value.h"

namespace velum::shell {

enum class NumberKind { kReal, kWhole };

struct NumberRange {
  const char* name;  // as the user types it: "--timeout"
  const char* unit;  // "seconds", "MiB"
  double min, max;   // inclusive, except min when min_open
  bool min_open;     // durations: above 0, not 0
  NumberKind kind;
};

// The defaults of one call, the same in the shell's wasm and scatter and in velum run (the
// node's CallOptions and ScatterRequest start from these values too).
inline constexpr double kDefaultCallTimeoutS = 60;
inline constexpr unsigned kDefaultCallMemoryMib = 256;

// Per call: the shell's wasm and scatter, and velum run (a week is far past any real call).
inline constexpr NumberRange kCallTimeout{"--timeout", "seconds", 0,
                                          7 * 86400.0, true,      NumberKind::kReal};
// Linear memory of one instance: the shell's wasm and scatter (the node caps it again).
inline constexpr NumberRange kCallMemory{"--max-memory", "MiB", 1,
                                         65536,          false, NumberKind::kWhole};
// map: runs of a failed item after its first.
inline constexpr NumberRange kMapRetries{"--retries", "runs", 0, 100, false, NumberKind::kWhole};
// velum run: one local call.
inline constexpr NumberRange kRunMemory{"--max-memory", "MiB", 1, 4096, false, NumberKind::kWhole};
// ./node's own limits and settings.
inline constexpr NumberRange kNodeId{"id", "", 1, 4294967295.0, false, NumberKind::kWhole};
inline constexpr NumberRange kPort{"--port", "", 0, 65535, false, NumberKind::kWhole};
inline constexpr NumberRange kHttpPort{"--http", "", 0, 65535, false, NumberKind::kWhole};
inline constexpr NumberRange kDiscoveryPort{"--discovery-port", "", 0, 65535, false,
                                            NumberKind::kWhole};
inline constexpr NumberRange kSlots{"--slots", "slots", 1, 256, false, NumberKind::kWhole};
inline constexpr NumberRange kMaxModule{"--max-module-mib", "MiB", 1, 4096, false,
                                        NumberKind::kWhole};
inline constexpr NumberRange kMaxCall{"--max-call-seconds", "seconds", 0, 86400, true,
                                      NumberKind::kReal};
inline constexpr NumberRange kMaxMemory{"--max-memory-mib", "MiB", 1, 65536, false,
                                        NumberKind::kWhole};
inline constexpr NumberRange kCompileJobs{"--compile-jobs",  "compiles", 1, 64, false,
                                          NumberKind::kWhole};
inline constexpr NumberRange kMaxCacheMib{"--max-cache-mib", "MiB", 0,
                                          16777216,          false, NumberKind::kWhole};
inline constexpr NumberRange kSliceMs{"--slice-ms", "ms", 10, 10000, false, NumberKind::kWhole};
inline constexpr NumberRange kWaitPeers{"--wait-peers", "peers", 0,
                                        4096,           false,   NumberKind::kWhole};
inline constexpr NumberRange kWaitTimeout{"--wait-timeout", "seconds", 0, 86400, false,
                                          NumberKind::kReal};

// What `range` accepts, for messages: "--timeout takes seconds in (0, 604800]".
inline std::string DescribeRange(const NumberRange& r) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s takes %s%s%s in %c%.15g, %.15g]", r.name,
                r.kind == NumberKind::kWhole ? "a whole number" : "a number", *r.unit ? " of " : "",
                r.unit, r.min_open ? '(' : '[', r.min, r.max);
  return buf;
}

// Parses `text` as a number `range` accepts: "" and *out set, or one line saying what is
// accepted. nan, inf, 1e308, -1, trailing junk and fractions of whole numbers are refused;
// whole numbers also take 0x10 and 1_000 (ParseIntegerText), as arguments and ranges do.
inline std::string CheckNumber(const NumberRange& range, const std::string& text, double* out) {
  double v = 0;
  const char* b = text.data();
  const char* e = b + text.size();
  auto r = std::from_chars(b, e, v);
  bool parsed = !text.empty() && r.ec == std::errc() && r.ptr == e;
  // Counts take every integer form the arguments take (0x10, 1_000, 2e3), exactly.
  uint64_t magnitude;
  bool negative;
  if (!parsed && range.kind == NumberKind::kWhole &&
      ParseIntegerText(text, &magnitude, &negative)) {
    v = negative ? -static_cast<double>(magnitude) : static_cast<double>(magnitude);
    parsed = true;
  }
  bool ok = parsed && std::isfinite(v) && (range.min_open ? v > range.min : v >= range.min) &&
            v <= range.max && (range.kind == NumberKind::kReal || v == std::floor(v));
  if (!ok) {
    std::string shown = text.size() > 40 ? text.substr(0, 40) + "..." : text;
    std::string printable;
    for (unsigned char c : shown) printable += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
    return DescribeRange(range) + ", not '" + printable + "'";
  }
  *out = v;
  return "";
}

}  // namespace velum::shell

#endif  // VELUM_SHELL_OPTION_LIMITS_H_
