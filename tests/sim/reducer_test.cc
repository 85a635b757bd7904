// Unit tests of the reducers: identity and associativity on random cuts of random sequences,
// Wasm's fmin/fmax rules, slice partials, the shape checks on remote partials, and FormatNum.
#include "core/reducer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/random.h"

namespace velum::core {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

Partial P(std::vector<Num> values) { return Partial{std::move(values)}; }

std::string Show(const Partial& p) {
  if (p.empty()) return "{}";
  std::string s = "{";
  for (const Num& n : p.values) s += std::string(NumKindName(n.kind)) + ":" + FormatNum(n) + " ";
  return s + "}";
}

// Reduces items [lo, hi) one by one, left to right: the reference grouping.
Partial Fold(ReducerKind r, const std::vector<Partial>& items, size_t lo, size_t hi) {
  Partial acc;
  for (size_t i = lo; i < hi; i++) acc = Combine(r, acc, items[i]);
  return acc;
}

// Reduces [lo, hi) through a random binary tree over random cut points: any grouping must give
// the same answer as the fold.
Partial RandomTree(ReducerKind r, const std::vector<Partial>& items, size_t lo, size_t hi,
                   Rng* rng) {
  if (hi - lo <= 1) return hi == lo ? Partial{} : items[lo];
  size_t mid = lo + 1 + rng->Uniform(hi - lo - 1);  // both sides non-empty
  // Sometimes an empty partial is combined in as well: it must change nothing.
  Partial left = RandomTree(r, items, lo, mid, rng);
  Partial right = RandomTree(r, items, mid, hi, rng);
  if (rng->Chance(0.1)) left = Combine(r, Partial{}, left);
  if (rng->Chance(0.1)) right = Combine(r, right, Partial{});
  return Combine(r, left, right);
}

// Checks, over many random sequences and groupings, that the reduction equals `expect`'s.
void CheckGroupings(ReducerKind r, const std::vector<Partial>& items, const Partial& expect,
                    Rng* rng) {
  Partial fold = Fold(r, items, 0, items.size());
  ASSERT_EQ(fold, expect) << ReducerName(r) << ": fold " << Show(fold) << " want " << Show(expect);
  for (int t = 0; t < 20; t++) {
    Partial tree = RandomTree(r, items, 0, items.size(), rng);
    ASSERT_EQ(tree, expect) << ReducerName(r) << ": tree " << Show(tree) << " want "
                            << Show(expect);
  }
  // Contiguous segments reduced on their own, then combined in order (what the ledger does
  // with checkpoints and chunks): every random cut gives the same answer.
  for (int t = 0; t < 20; t++) {
    Partial acc;
    size_t at = 0;
    while (at < items.size()) {
      size_t len = 1 + rng->Uniform(std::min<size_t>(items.size() - at, 7));
      acc = Combine(r, acc, Fold(r, items, at, at + len));
      at += len;
    }
    ASSERT_EQ(acc, expect) << ReducerName(r) << ": segments " << Show(acc);
  }
}

int64_t RandomInt(Rng* rng) {
  switch (rng->Uniform(4)) {
    case 0:
      return static_cast<int64_t>(rng->Next());  // anything, so sums wrap
    case 1:
      return rng->Chance(0.5) ? INT64_MAX : INT64_MIN;
    case 2:
      return static_cast<int64_t>(rng->Uniform(21)) - 10;
    default:
      return static_cast<int64_t>(rng->Uniform(1'000'000)) - 500'000;
  }
}

double RandomFloat(Rng* rng, bool f32) {
  double v;
  switch (rng->Uniform(8)) {
    case 0:
      v = rng->Chance(0.5) ? kNaN : -kNaN;
      break;
    case 1:
      v = 0.0;
      break;
    case 2:
      v = -0.0;
      break;
    case 3:
      v = rng->Chance(0.5) ? kInf : -kInf;
      break;
    default:
      v = (rng->Real() - 0.5) * 1e6;
  }
  return f32 ? static_cast<double>(static_cast<float>(v)) : v;
}

TEST(Reducer, EmptyIsTheIdentity) {
  std::vector<Partial> samples = {P({Num::Int(5), Num::Int(-7)}), P({Num::F64(-0.0)}),
                                  P({Num::F32(kNaN)}), P({Num::Int(INT64_MIN)})};
  for (ReducerKind r :
       {ReducerKind::kSum, ReducerKind::kMin, ReducerKind::kMax, ReducerKind::kFirst}) {
    EXPECT_TRUE(Combine(r, Partial{}, Partial{}).empty());
    for (const Partial& p : samples) {
      EXPECT_EQ(Combine(r, Partial{}, p), p) << ReducerName(r) << " " << Show(p);
      EXPECT_EQ(Combine(r, p, Partial{}), p) << ReducerName(r) << " " << Show(p);
    }
  }
}

TEST(Reducer, IntegerSumWrapsAndIsAssociative) {
  Rng rng(11);
  for (int run = 0; run < 200; run++) {
    size_t n = 1 + rng.Uniform(40);
    std::vector<Partial> items;
    uint64_t a = 0, b = 0;  // the wrapping sums, element-wise
    for (size_t i = 0; i < n; i++) {
      int64_t x = RandomInt(&rng), y = RandomInt(&rng);
      a += static_cast<uint64_t>(x);
      b += static_cast<uint64_t>(y);
      items.push_back(P({Num::Int(x), Num::Int(y)}));
    }
    Partial expect = P({Num::Int(static_cast<int64_t>(a)), Num::Int(static_cast<int64_t>(b))});
    CheckGroupings(ReducerKind::kSum, items, expect, &rng);
  }
  // Wrapping at the edges, exactly.
  EXPECT_EQ(Combine(ReducerKind::kSum, P({Num::Int(INT64_MAX)}), P({Num::Int(1)})),
            P({Num::Int(INT64_MIN)}));
  EXPECT_EQ(Combine(ReducerKind::kSum, P({Num::Int(INT64_MIN)}), P({Num::Int(-1)})),
            P({Num::Int(INT64_MAX)}));
}

TEST(Reducer, FloatSumAddsInF64) {
  // Small integers add exactly in f64 whatever the grouping.
  Rng rng(12);
  for (int run = 0; run < 100; run++) {
    size_t n = 1 + rng.Uniform(30);
    std::vector<Partial> items;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
      double v = static_cast<double>(static_cast<int64_t>(rng.Uniform(2001)) - 1000);
      total += v;
      items.push_back(SlicePartial(ReducerKind::kSum, {Num::F32(static_cast<float>(v))}));
    }
    CheckGroupings(ReducerKind::kSum, items, P({Num::F64(total)}), &rng);
  }
  // f32 values are widened before they add: 2^24 + 1 is not an f32, but is the f64 sum.
  Partial big = SlicePartial(ReducerKind::kSum, {Num::F32(16777216.0f)});
  Partial one = SlicePartial(ReducerKind::kSum, {Num::F32(1.0f)});
  EXPECT_EQ(Combine(ReducerKind::kSum, big, one), P({Num::F64(16777217.0)}));
}

TEST(Reducer, IntegerMinMaxAssociative) {
  Rng rng(13);
  for (int run = 0; run < 200; run++) {
    size_t n = 1 + rng.Uniform(40);
    std::vector<Partial> items;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
      int64_t x = RandomInt(&rng);
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      items.push_back(P({Num::Int(x)}));
    }
    CheckGroupings(ReducerKind::kMin, items, P({Num::Int(lo)}), &rng);
    CheckGroupings(ReducerKind::kMax, items, P({Num::Int(hi)}), &rng);
  }
}

TEST(Reducer, FloatMinMaxFollowWasm) {
  // The table of the special cases.
  struct Case {
    double a, b, min, max;
  } cases[] = {
      {-0.0, 0.0, -0.0, 0.0},  {0.0, -0.0, -0.0, 0.0},   {1.0, kNaN, kNaN, kNaN},
      {kNaN, 1.0, kNaN, kNaN}, {-kInf, 3.0, -kInf, 3.0}, {kInf, -1e300, -1e300, kInf},
      {2.5, 2.5, 2.5, 2.5},
  };
  for (const Case& c : cases) {
    for (NumKind k : {NumKind::kF32, NumKind::kF64}) {
      Num a{k, 0, c.a}, b{k, 0, c.b};
      Partial mn = Combine(ReducerKind::kMin, P({a}), P({b}));
      Partial mx = Combine(ReducerKind::kMax, P({a}), P({b}));
      ASSERT_EQ(mn.values.size(), 1u);
      EXPECT_EQ(mn.values[0].kind, k);
      EXPECT_EQ(Bits(mn.values[0].f), Bits(c.min)) << "min(" << c.a << ", " << c.b << ")";
      EXPECT_EQ(Bits(mx.values[0].f), Bits(c.max)) << "max(" << c.a << ", " << c.b << ")";
    }
  }
}

// The reference reduction of a float sequence: the first NaN in range order if any; else the
// extreme value, with -0 below +0.
double FloatExtreme(const std::vector<double>& v, bool max) {
  for (double x : v)
    if (std::isnan(x)) return x;
  double best = v[0];
  for (double x : v) {
    bool better = max ? (x > best || (x == best && !std::signbit(x) && std::signbit(best)))
                      : (x < best || (x == best && std::signbit(x) && !std::signbit(best)));
    if (better) best = x;
  }
  return best;
}

TEST(Reducer, FloatMinMaxAssociativeWithNaNAndSignedZeros) {
  Rng rng(14);
  for (bool f32 : {false, true}) {
    for (int run = 0; run < 300; run++) {
      size_t n = 1 + rng.Uniform(30);
      std::vector<Partial> items;
      std::vector<double> values;
      bool allow_nan = rng.Chance(0.3);
      for (size_t i = 0; i < n; i++) {
        double v = RandomFloat(&rng, f32);
        if (std::isnan(v) && !allow_nan) v = f32 ? -0.0 : 0.0;
        values.push_back(v);
        items.push_back(P({Num{f32 ? NumKind::kF32 : NumKind::kF64, 0, v}}));
      }
      NumKind k = f32 ? NumKind::kF32 : NumKind::kF64;
      CheckGroupings(ReducerKind::kMin, items, P({Num{k, 0, FloatExtreme(values, false)}}), &rng);
      CheckGroupings(ReducerKind::kMax, items, P({Num{k, 0, FloatExtreme(values, true)}}), &rng);
    }
  }
}

TEST(Reducer, FirstLowestNonZeroWins) {
  Rng rng(15);
  for (int run = 0; run < 300; run++) {
    size_t n = 1 + rng.Uniform(40);
    std::vector<Partial> items;
    Partial expect;
    for (size_t i = 0; i < n; i++) {
      // (int, f64) results, mostly zeros of either sign ("nothing here").
      std::vector<Num> results = {Num::Int(0), Num::F64(rng.Chance(0.5) ? 0.0 : -0.0)};
      if (rng.Chance(0.15)) {
        if (rng.Chance(0.5))
          results[0] = Num::Int(static_cast<int64_t>(i) + 1);
        else
          results[1] = Num::F64(static_cast<double>(i) + 0.5);
      }
      Partial p = SlicePartial(ReducerKind::kFirst, results);
      if (expect.empty() && !p.empty()) expect = p;
      items.push_back(p);
    }
    CheckGroupings(ReducerKind::kFirst, items, expect, &rng);
  }
  // The lower range wins even when both found something.
  EXPECT_EQ(Combine(ReducerKind::kFirst, P({Num::Int(9)}), P({Num::Int(3)})), P({Num::Int(9)}));
}

TEST(Reducer, SlicePartials) {
  // Sums widen f32 to f64 (the same value); integers and f64 stay.
  Partial s = SlicePartial(ReducerKind::kSum, {Num::F32(0.1f), Num::Int(-3), Num::F64(0.1)});
  ASSERT_EQ(s.values.size(), 3u);
  EXPECT_EQ(s.values[0], Num::F64(static_cast<double>(0.1f)));
  EXPECT_EQ(s.values[1], Num::Int(-3));
  EXPECT_EQ(s.values[2], Num::F64(0.1));
  // min/max keep f32 as f32.
  EXPECT_EQ(SlicePartial(ReducerKind::kMin, {Num::F32(0.1f)}).values[0], Num::F32(0.1f));
  EXPECT_EQ(SlicePartial(ReducerKind::kMax, {Num::F32(-2.0f)}).values[0], Num::F32(-2.0f));
  // Zeros are an item's real result for sum, min and max.
  EXPECT_EQ(SlicePartial(ReducerKind::kSum, {Num::Int(0)}), P({Num::Int(0)}));
  EXPECT_EQ(SlicePartial(ReducerKind::kMin, {Num::Int(0)}), P({Num::Int(0)}));
  // first: all zeros (either sign) is nothing found; any non-zero or NaN is a find, kept as is.
  EXPECT_TRUE(SlicePartial(ReducerKind::kFirst, {Num::Int(0)}).empty());
  EXPECT_TRUE(
      SlicePartial(ReducerKind::kFirst, {Num::Int(0), Num::F64(0.0), Num::F32(-0.0f)}).empty());
  EXPECT_EQ(SlicePartial(ReducerKind::kFirst, {Num::Int(0), Num::Int(7)}),
            P({Num::Int(0), Num::Int(7)}));
  EXPECT_EQ(SlicePartial(ReducerKind::kFirst, {Num::F32(kNaN)}), P({Num::F32(kNaN)}));
  EXPECT_EQ(SlicePartial(ReducerKind::kFirst, {Num::F32(0.5f)}), P({Num::F32(0.5f)}));
  EXPECT_EQ(SlicePartial(ReducerKind::kFirst, {Num::Int(-1)}), P({Num::Int(-1)}));
}

TEST(Reducer, ReducedKindsAndFinalValues) {
  std::vector<NumKind> in = {NumKind::kInt, NumKind::kF32, NumKind::kF64};
  EXPECT_EQ(ReducedKinds(ReducerKind::kSum, in),
            (std::vector<NumKind>{NumKind::kInt, NumKind::kF64, NumKind::kF64}));
  EXPECT_EQ(ReducedKinds(ReducerKind::kMin, in), in);
  EXPECT_EQ(ReducedKinds(ReducerKind::kFirst, in), in);
  // Nothing found reads as zeros of the reduced kinds.
  std::vector<Num> zeros = FinalValues(Partial{}, in);
  ASSERT_EQ(zeros.size(), 3u);
  EXPECT_EQ(zeros[0], Num::Int(0));
  EXPECT_EQ(zeros[1], Num::F32(0.0f));
  EXPECT_EQ(zeros[2], Num::F64(0.0));
  EXPECT_EQ(FinalValues(P({Num::Int(4)}), {NumKind::kInt}), std::vector<Num>{Num::Int(4)});
  ReducerKind k;
  for (ReducerKind r :
       {ReducerKind::kSum, ReducerKind::kMin, ReducerKind::kMax, ReducerKind::kFirst}) {
    ASSERT_TRUE(ParseReducer(ReducerName(r), &k));
    EXPECT_EQ(k, r);
  }
  EXPECT_FALSE(ParseReducer("avg", &k));
  EXPECT_FALSE(ParseReducer("", &k));
}

TEST(Reducer, ConformsChecksShape) {
  std::vector<NumKind> kinds = {NumKind::kInt, NumKind::kF32, NumKind::kF64};
  Partial good = P({Num::Int(1), Num::F32(0.1f), Num::F64(0.1)});
  EXPECT_TRUE(Conforms(good, kinds));
  EXPECT_TRUE(Conforms(Partial{}, kinds));
  // Arity.
  EXPECT_FALSE(Conforms(P({Num::Int(1), Num::F32(0.1f)}), kinds));
  EXPECT_FALSE(Conforms(P({Num::Int(1), Num::F32(0.1f), Num::F64(0.1), Num::Int(0)}), kinds));
  // Kinds.
  EXPECT_FALSE(Conforms(P({Num::Int(1), Num::F64(0.5), Num::F64(0.1)}), kinds));
  EXPECT_FALSE(Conforms(P({Num::F64(1), Num::F32(0.5f), Num::F64(0.1)}), kinds));
  // Unused halves must be zero.
  Partial bad = good;
  bad.values[0].f = 1.0;
  EXPECT_FALSE(Conforms(bad, kinds));
  bad = good;
  bad.values[0].f = -0.0;  // a non-zero bit pattern, though it compares equal to 0
  EXPECT_FALSE(Conforms(bad, kinds));
  bad = good;
  bad.values[1].i = 1;
  EXPECT_FALSE(Conforms(bad, kinds));
  bad = good;
  bad.values[2].i = -1;
  EXPECT_FALSE(Conforms(bad, kinds));
  // f32 values must be f32-exact (NaN, infinities and -0 are).
  bad = good;
  bad.values[1].f = 0.1;  // the f64 nearest 0.1 is not an f32
  EXPECT_FALSE(Conforms(bad, kinds));
  bad.values[1].f = 1e300;  // beyond the f32 range
  EXPECT_FALSE(Conforms(bad, kinds));
  for (double ok : {kNaN, kInf, -kInf, -0.0, static_cast<double>(3.4028234663852886e38f),
                    static_cast<double>(1e-45f)}) {
    Partial p = good;
    p.values[1].f = ok;
    EXPECT_TRUE(Conforms(p, kinds)) << ok;
  }
}

TEST(Reducer, FormatNumShortest) {
  EXPECT_EQ(FormatNum(Num::Int(0)), "0");
  EXPECT_EQ(FormatNum(Num::Int(41538)), "41538");
  EXPECT_EQ(FormatNum(Num::Int(-1)), "-1");
  EXPECT_EQ(FormatNum(Num::Int(INT64_MIN)), "-9223372036854775808");
  EXPECT_EQ(FormatNum(Num::Int(INT64_MAX)), "9223372036854775807");
  EXPECT_EQ(FormatNum(Num::F32(0.1f)), "0.1");
  EXPECT_EQ(FormatNum(Num::F32(3.14159f)), "3.14159");
  EXPECT_EQ(FormatNum(Num::F32(1e10f)), "1e+10");
  EXPECT_EQ(FormatNum(Num::F32(-2.0f)), "-2");
  EXPECT_EQ(FormatNum(Num::F64(0.1)), "0.1");
  EXPECT_EQ(FormatNum(Num::F64(static_cast<double>(0.1f))), "0.10000000149011612");
  EXPECT_EQ(FormatNum(Num::F64(1.0)), "1");
  EXPECT_EQ(FormatNum(Num::F64(-0.0)), "-0");
  EXPECT_EQ(FormatNum(Num::F64(5e-324)), "5e-324");
  EXPECT_EQ(FormatNum(Num::F64(kNaN)), "nan");
  EXPECT_EQ(FormatNum(Num::F64(-kNaN)), "-nan");
  EXPECT_EQ(FormatNum(Num::F32(kNaN)), "nan");
  EXPECT_EQ(FormatNum(Num::F64(kInf)), "inf");
  EXPECT_EQ(FormatNum(Num::F64(-kInf)), "-inf");
  EXPECT_EQ(FormatNum(Num::F32(-kInf)), "-inf");
  // Reads back to the same bits, and no shorter text would.
  Rng rng(16);
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = rng.Next();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    std::string s = FormatNum(Num::F64(d));
    EXPECT_EQ(Bits(std::strtod(s.c_str(), nullptr)), bits) << s;
    float f = static_cast<float>(d);
    if (!std::isfinite(f)) continue;
    std::string t = FormatNum(Num::F32(f));
    float back = std::strtof(t.c_str(), nullptr);
    EXPECT_EQ(std::memcmp(&back, &f, sizeof f), 0) << t;
    // f32 text is never longer than the f64 text of the same (widened) value.
    EXPECT_LE(t.size(), FormatNum(Num::F64(static_cast<double>(f))).size()) << t;
  }
}

}  // namespace
}  // namespace velum::core
