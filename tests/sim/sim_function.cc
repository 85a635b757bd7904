// The simulated exports (SimFunction) and the random int64 ranges the simulators and core tests
// draw: closed-form references that every simulated result is checked against.
#include "tests/sim/sim_function.h"

#include <array>

#include "core/assert.h"
#include "core/reducer.h"

namespace velum::sim {

using core::Num;
using core::Partial;

namespace {
int64_t Wrap(__int128 v) { return static_cast<int64_t>(static_cast<uint64_t>(v)); }

// "mat": 2x2 matrices modulo kP, row-major.
using Mat = std::array<uint64_t, 4>;
constexpr uint64_t kP = 1'000'000'007;
constexpr int64_t kPeriod = 1009;
constexpr Mat kIdentity = {1, 0, 0, 1};
Mat Mul(const Mat& x, const Mat& y) {
  return {(x[0] * y[0] + x[1] * y[2]) % kP, (x[0] * y[1] + x[1] * y[3]) % kP,
          (x[2] * y[0] + x[3] * y[2]) % kP, (x[2] * y[1] + x[3] * y[3]) % kP};
}
int64_t Mod(__int128 i) { return static_cast<int64_t>(((i % kPeriod) + kPeriod) % kPeriod); }
Mat Item(__int128 i) {
  uint64_t k = static_cast<uint64_t>(Mod(i));
  return {k + 2, 1, k, 1};
}
Mat Literal(__int128 lo, __int128 hi) {
  Mat acc = kIdentity;
  for (__int128 i = lo; i < hi; i++) acc = Mul(acc, Item(i));
  return acc;
}
Mat Power(Mat x, unsigned __int128 n) {
  Mat acc = kIdentity;
  for (; n; n >>= 1, x = Mul(x, x))
    if (n & 1) acc = Mul(acc, x);
  return acc;
}
// M(lo) ... M(hi - 1): M depends on i mod kPeriod only, so every aligned run of kPeriod items
// multiplies to the same matrix, raised to a power for any range of the int64 domain.
Mat Product(int64_t lo_in, int64_t hi_in) {
  __int128 lo = lo_in, hi = hi_in;
  if (hi - lo <= 3 * kPeriod) return Literal(lo, hi);
  __int128 head_end = lo + (kPeriod - Mod(lo)) % kPeriod;
  __int128 tail_start = hi - Mod(hi);
  unsigned __int128 periods = static_cast<unsigned __int128>((tail_start - head_end) / kPeriod);
  return Mul(Mul(Literal(lo, head_end), Power(Literal(0, kPeriod), periods)),
             Literal(tail_start, hi));
}
std::vector<Num> NumsOf(const Mat& m) {
  std::vector<Num> out;
  for (uint64_t v : m) out.push_back(Num::Int(static_cast<int64_t>(v)));
  return out;
}
Mat MatOf(const std::vector<Num>& v) {
  VELUM_ASSERT(v.size() == 4);
  return {static_cast<uint64_t>(v[0].i) % kP, static_cast<uint64_t>(v[1].i) % kP,
          static_cast<uint64_t>(v[2].i) % kP, static_cast<uint64_t>(v[3].i) % kP};
}
}  // namespace

std::vector<Num> SimFunction::Combine(const std::vector<Num>& lower,
                                      const std::vector<Num>& upper) {
  return NumsOf(Mul(MatOf(lower), MatOf(upper)));
}

std::optional<SimFunction> SimFunction::Parse(const std::string& func) {
  SimFunction f;
  if (func == "sum") {
    f.kind = Kind::kSum;
  } else if (func == "min") {
    f.kind = Kind::kMin;
  } else if (func == "max") {
    f.kind = Kind::kMax;
  } else if (func == "mat") {
    f.kind = Kind::kMat;
  } else if (func.rfind("first:", 0) == 0) {
    f.kind = Kind::kFirst;
    size_t colon = func.find(':', 6);
    if (colon == std::string::npos) return std::nullopt;
    f.modulus = std::stoll(func.substr(6, colon - 6));
    f.residue = std::stoll(func.substr(colon + 1));
    if (f.modulus < 2 || f.residue <= 0 || f.residue >= f.modulus) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return f;
}

std::vector<Num> SimFunction::Call(int64_t lo, int64_t hi) const {
  VELUM_ASSERT(lo < hi);
  switch (kind) {
    case Kind::kSum: {
      __int128 count = static_cast<__int128>(hi) - lo;
      __int128 sum = count * (static_cast<__int128>(lo) + hi - 1) / 2;
      return {Num::Int(Wrap(sum)), Num::Int(Wrap(count))};
    }
    case Kind::kMin:
      return {Num::Int(lo)};
    case Kind::kMax:
      return {Num::Int(hi - 1)};
    case Kind::kMat:
      return NumsOf(Product(lo, hi));
    case Kind::kFirst: {
      int64_t r0 = ((lo % modulus) + modulus) % modulus;
      int64_t d = ((residue - r0) % modulus + modulus) % modulus;
      __int128 i = static_cast<__int128>(lo) + d;
      return {Num::Int(i < hi ? static_cast<int64_t>(i) : 0)};
    }
  }
  return {};
}

Partial SimFunction::Reference(int64_t lo, int64_t hi) const {
  if (lo >= hi) return {};
  if (kind == Kind::kMat) return Partial{Call(lo, hi)};  // its own fold, in one product
  core::ReducerKind r = kind == Kind::kSum   ? core::ReducerKind::kSum
                        : kind == Kind::kMin ? core::ReducerKind::kMin
                        : kind == Kind::kMax ? core::ReducerKind::kMax
                                             : core::ReducerKind::kFirst;
  return core::SlicePartial(r, Call(lo, hi));
}

// A range [*lo, *hi) drawn from the whole int64 domain, weighted toward its edges: the whole
// domain, ranges ending at INT64_MAX or starting at INT64_MIN, 1-item ranges, sizes spread
// log-uniformly over 1 .. 2^64 - 1 at random places.
void RandomInt64Range(core::Rng& rng, int64_t* lo, int64_t* hi) {
  // A size in [1, 2^64 - 1], its bit length uniform.
  auto size = [&rng]() -> uint64_t {
    unsigned bits = 1 + static_cast<unsigned>(rng.Uniform(64));
    uint64_t top = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
    uint64_t n = rng.Next() & top;
    return n == 0 ? 1 : n;
  };
  // A start at which `n` items fit: [INT64_MIN, INT64_MAX - n].
  auto start_for = [&rng](uint64_t n) -> int64_t {
    uint64_t room = UINT64_MAX - n;  // starts available, minus one
    uint64_t off = room == UINT64_MAX ? rng.Next() : rng.Uniform(room + 1);
    return static_cast<int64_t>(static_cast<uint64_t>(INT64_MIN) + off);
  };
  auto set = [lo, hi](int64_t start, uint64_t n) {
    *lo = start;
    *hi = static_cast<int64_t>(static_cast<uint64_t>(start) + n);
  };
  switch (rng.Uniform(8)) {
    case 0:
      *lo = INT64_MIN, *hi = INT64_MAX;  // 2^64 - 1 items
      break;
    case 1: {  // ending at INT64_MAX
      uint64_t n = size();
      set(static_cast<int64_t>(static_cast<uint64_t>(INT64_MAX) - n), n);
      break;
    }
    case 2:  // starting at INT64_MIN
      set(INT64_MIN, size());
      break;
    case 3: {  // one item, anywhere (the edges included)
      uint64_t pick = rng.Uniform(4);
      int64_t at = pick == 0 ? INT64_MIN : pick == 1 ? INT64_MAX - 1 : start_for(1);
      set(at, 1);
      break;
    }
    case 4:  // [0, INT64_MAX): the range of the report
      *lo = 0, *hi = INT64_MAX;
      break;
    default: {
      uint64_t n = size();
      set(start_for(n), n);
    }
  }
}

}  // namespace velum::sim
