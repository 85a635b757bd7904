// The four built-in reducers. Each is associative with the empty partial as identity, which is
// what lets the ledger combine checkpoints, chunks and restarted attempts in any grouping.
// A module reducer (kModule) is wasm: it is never combined here, only carried.
#include "core/reducer.h"

#include <charconv>
#include <cmath>

#include "core/assert.h"

namespace velum::core {

namespace {

Num AddNum(const Num& a, const Num& b) {
  VELUM_ASSERT(a.kind == b.kind);
  if (a.kind == NumKind::kInt)
    return Num::Int(static_cast<int64_t>(static_cast<uint64_t>(a.i) + static_cast<uint64_t>(b.i)));
  return Num::F64(a.f + b.f);
}

// Wasm's fmin/fmax: NaN wins; -0 is below +0.
Num MinMaxNum(const Num& a, const Num& b, bool max) {
  VELUM_ASSERT(a.kind == b.kind);
  if (a.kind == NumKind::kInt) return Num::Int(max ? std::max(a.i, b.i) : std::min(a.i, b.i));
  if (std::isnan(a.f)) return a;
  if (std::isnan(b.f)) return b;
  if (a.f == b.f) return (std::signbit(a.f) != max) ? a : b;
  return (a.f < b.f) != max ? a : b;
}

}  // namespace

const char* NumKindName(NumKind kind) {
  switch (kind) {
    case NumKind::kInt:
      return "int";
    case NumKind::kF32:
      return "f32";
    case NumKind::kF64:
      return "f64";
  }
  return "?";
}

const char* ReducerName(ReducerKind kind) {
  switch (kind) {
    case ReducerKind::kSum:
      return "sum";
    case ReducerKind::kMin:
      return "min";
    case ReducerKind::kMax:
      return "max";
    case ReducerKind::kFirst:
      return "first";
    case ReducerKind::kModule:
      return "module";
  }
  return "?";
}

bool ParseReducer(const std::string& text, ReducerKind* out) {
  for (ReducerKind k :
       {ReducerKind::kSum, ReducerKind::kMin, ReducerKind::kMax, ReducerKind::kFirst}) {
    if (text == ReducerName(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

Partial Combine(ReducerKind reducer, const Partial& lower, const Partial& upper) {
  if (lower.empty()) return upper;
  if (upper.empty()) return lower;
  // Module partials are folded in wasm by the drivers, never here (the ledger and the worker
  // keep them one per chunk and attempt).
  VELUM_ASSERT(reducer != ReducerKind::kModule);
  if (reducer == ReducerKind::kFirst) return lower;  // the lower range's find wins
  VELUM_ASSERT(lower.values.size() == upper.values.size());
  Partial out;
  out.values.reserve(lower.values.size());
  for (size_t i = 0; i < lower.values.size(); i++) {
    const Num& a = lower.values[i];
    const Num& b = upper.values[i];
    VELUM_ASSERT(a.kind == b.kind);
    out.values.push_back(reducer == ReducerKind::kSum
                             ? AddNum(a, b)
                             : MinMaxNum(a, b, reducer == ReducerKind::kMax));
  }
  VELUM_ASSERT(out.values.size() == lower.values.size());
  return out;
}

Partial SlicePartial(ReducerKind reducer, const std::vector<Num>& results) {
  Partial p;
  if (reducer == ReducerKind::kFirst) {
    bool found = false;
    for (const Num& n : results) found = found || !n.is_zero() || (n.is_float() && std::isnan(n.f));
    if (found) p.values = results;
    return p;
  }
  p.values = results;
  if (reducer == ReducerKind::kSum) {
    for (Num& n : p.values)
      if (n.kind == NumKind::kF32) n = Num::F64(n.f);
  }
  VELUM_ASSERT(p.values.size() == results.size());
  return p;
}

std::vector<NumKind> ReducedKinds(ReducerKind reducer, const std::vector<NumKind>& results) {
  std::vector<NumKind> out = results;
  if (reducer == ReducerKind::kSum)
    for (NumKind& k : out)
      if (k == NumKind::kF32) k = NumKind::kF64;
  VELUM_ASSERT(out.size() == results.size());
  return out;
}

bool Conforms(const Partial& partial, const std::vector<NumKind>& kinds) {
  if (partial.empty()) return true;
  if (partial.values.size() != kinds.size()) return false;
  for (size_t i = 0; i < kinds.size(); i++) {
    const Num& n = partial.values[i];
    if (n.kind != kinds[i]) return false;
    // The unused half must be zero, so that equal numbers are equal values.
    uint64_t fbits;
    std::memcpy(&fbits, &n.f, sizeof fbits);
    if (n.is_float() ? n.i != 0 : fbits != 0) return false;
    if (n.kind == NumKind::kF32 && !std::isnan(n.f) &&
        static_cast<double>(static_cast<float>(n.f)) != n.f)
      return false;
  }
  return true;
}

std::vector<Num> FinalValues(const Partial& partial, const std::vector<NumKind>& kinds) {
  // A ledger's result: every chunk's partial was checked against the kinds.
  VELUM_ASSERT(partial.empty() || partial.values.size() == kinds.size());
  if (!partial.empty()) return partial.values;
  std::vector<Num> zeros;
  for (NumKind k : kinds) zeros.push_back(Num{k, 0, 0});
  VELUM_ASSERT(zeros.size() == kinds.size());
  return zeros;
}

std::string FormatNum(const Num& num) {
  if (num.kind == NumKind::kInt) return std::to_string(num.i);
  if (std::isnan(num.f)) return std::signbit(num.f) ? "-nan" : "nan";
  if (std::isinf(num.f)) return num.f < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = num.kind == NumKind::kF32
               ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(num.f))
               : std::to_chars(buf, buf + sizeof buf, num.f);
  return std::string(buf, r.ptr);
}

}  // namespace velum::core
