// reduce_matrix: range exports whose results combine by an export of the module (`scatter
// --reduce EXPORT`, tests/e2e/reduce_test.py, tests/api): 2x2 matrix products modulo a prime.
//
// Item i is the matrix M(i) = [[k + 2, 1], [k, 1]] with k = i mod 1009. Such matrices do not
// commute, so a fold out of range order, a piece counted twice or one left out all give a
// wrong answer. prodN(start, end) is M(start) M(start + 1) ... M(end - 1); matmulN(x, y) is
// x y, the lower range on the left. Built with multi-value returns (cmake MULTIVALUE):
//   prod4/matmul4  four i64 results [a, b, c, d], modulo P = 1 000 000 007
//   prod2/matmul2  two i64 results, each two 32-bit entries: a | b << 32, c | d << 32, mod P
//   prod1/matmul1  one i64: the four entries in 16 bits each, modulo Q = 65521
// and, for the bad cases and the overhead figure: boom (traps), wrong (the wrong type),
// sumsq (the sum of i*i xor i/2 modulo 2^64) with add, which reduce alike by `sum` and by `add`.
typedef long long i64;
typedef unsigned long long u64;

// The moduli and the period are variables, not constants: a division by a constant would
// become a 128-bit multiplication by its inverse, a compiler-rt call whose ABI differs from
// multi-value's.
i64 period = 1009;
u64 modulus_p = 1000000007ULL;
u64 modulus_q = 65521ULL;
#define P modulus_p
#define Q modulus_q

typedef struct {
  i64 a, b, c, d;
} mat4;
typedef struct {
  i64 lo, hi;
} mat2;

static mat4 mul(mat4 x, mat4 y, u64 m) {
  mat4 r;
  // Entries are below m < 2^30: each product is below 2^60, a sum of two below 2^61.
  r.a = (i64)(((u64)x.a * (u64)y.a + (u64)x.b * (u64)y.c) % m);
  r.b = (i64)(((u64)x.a * (u64)y.b + (u64)x.b * (u64)y.d) % m);
  r.c = (i64)(((u64)x.c * (u64)y.a + (u64)x.d * (u64)y.c) % m);
  r.d = (i64)(((u64)x.c * (u64)y.b + (u64)x.d * (u64)y.d) % m);
  return r;
}

static mat4 item(i64 i) {
  i64 k = ((i % period) + period) % period;
  mat4 m = {k + 2, 1, k, 1};
  return m;
}

static mat4 product(i64 start, i64 end, u64 m) {
  mat4 acc = {1, 0, 0, 1};
  for (i64 i = start; i < end; i++) acc = mul(acc, item(i), m);
  return acc;
}

mat4 prod4(i64 start, i64 end) { return product(start, end, P); }
mat4 matmul4(i64 a, i64 b, i64 c, i64 d, i64 e, i64 f, i64 g, i64 h) {
  mat4 x = {a, b, c, d}, y = {e, f, g, h};
  return mul(x, y, P);
}

static mat2 pack2(mat4 m) {
  mat2 p = {(i64)((u64)m.a | (u64)m.b << 32), (i64)((u64)m.c | (u64)m.d << 32)};
  return p;
}
static mat4 unpack2(i64 lo, i64 hi) {
  mat4 m = {(i64)((u64)lo & 0xffffffffULL), (i64)((u64)lo >> 32), (i64)((u64)hi & 0xffffffffULL),
            (i64)((u64)hi >> 32)};
  return m;
}
mat2 prod2(i64 start, i64 end) { return pack2(product(start, end, P)); }
mat2 matmul2(i64 lo1, i64 hi1, i64 lo2, i64 hi2) {
  return pack2(mul(unpack2(lo1, hi1), unpack2(lo2, hi2), P));
}

static i64 pack1(mat4 m) {
  return (i64)((u64)m.a | (u64)m.b << 16 | (u64)m.c << 32 | (u64)m.d << 48);
}
static mat4 unpack1(i64 v) {
  u64 u = (u64)v;
  mat4 m = {(i64)(u & 0xffff), (i64)(u >> 16 & 0xffff), (i64)(u >> 32 & 0xffff),
            (i64)(u >> 48 & 0xffff)};
  return m;
}
i64 prod1(i64 start, i64 end) { return pack1(product(start, end, Q)); }
i64 matmul1(i64 x, i64 y) { return pack1(mul(unpack1(x), unpack1(y), Q)); }

// A reducer that traps whenever it is called.
i64 boom(i64 x, i64 y) {
  (void)x;
  (void)y;
  __builtin_trap();
}
// A reducer of the wrong type for every range export here.
i64 wrong(int x, int y) { return (i64)x + y; }

// Item i is i*i xor i/2 (logical shift): the xor keeps the compiler from summing in closed
// form with 128-bit products (compiler-rt calls, see above).
i64 sumsq(i64 start, i64 end) {
  u64 total = 0;
  for (i64 i = start; i < end; i++) total += ((u64)i * (u64)i) ^ ((u64)i >> 1);
  return (i64)total;
}
i64 add(i64 x, i64 y) { return (i64)((u64)x + (u64)y); }
