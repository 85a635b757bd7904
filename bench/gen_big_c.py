#!/usr/bin/env python3
# A large C program for the AOT compile benchmark (scripts/bench-aot-split): N functions of
# random but well-defined u32 arithmetic, loops, switches, calls and a table, printing a hash.
# Deterministic (seeded) and free of undefined behaviour, so wasm and native print the same;
# 2000 functions give a 1.4 MB module (clang --target=wasm32-wasi -O2) and 15 MB of wasm2c C.
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
random.seed(7)
out = ["#include <stdint.h>", "#include <stdio.h>", "typedef uint32_t u;", "static u table_[256];"]
out += [f"u f{i}(u a, u b);" for i in range(n)]
out.append(f"static u (*const ptrs[{n}])(u, u) = {{" + ",".join(f"f{i}" for i in range(n)) + "};")


def expr(d=0):
    if d > 1 or random.random() < 0.3:
        return random.choice(["a", "b", "x", "y", str(random.randint(1, 1 << 30)) + "u"])
    op = random.choice(["+", "-", "*", "^", "&", "|", "<<", ">>", "/", "%"])
    left, right = expr(d + 1), expr(d + 1)
    if op in ("<<", ">>"):
        return f"({left} {op} ({right} & 31u))"  # shifts stay below the width
    if op in ("/", "%"):
        return f"({left} {op} ({right} | 1u))"  # never by zero
    return f"({left} {op} {right})"


for i in range(n):
    body = [f"u f{i}(u a, u b) {{", f"  u x = a ^ {i}u, y = b + 1u;"]
    for s in range(random.randint(8, 16)):
        k = random.random()
        if k < 0.45:
            body.append(f"  x = {expr()}; y ^= {expr()};")
        elif k < 0.6:
            body.append(f"  for (u j = 0; j < (y & 7u); j++) {{ x += {expr()}; y = (y >> 1) ^ x; }}")
        elif k < 0.75:
            body.append(f"  switch ((x ^ y) & 3u) {{ case 0: x += {expr()}; break; "
                        f"case 1: y -= {expr()}; break; case 2: x ^= y << 3; break; "
                        f"default: y = {expr()}; }}")
        elif k < 0.85:
            body.append(f"  if (x > y) x = {expr()}; else y = {expr()};")
        elif k < 0.93:
            body.append(f"  table_[(x + {s}u) & 255u] += y; y ^= table_[x & 255u];")
        elif i > 0:  # calls go to earlier functions only: no recursion
            body.append(f"  if ((x & 15u) == 3u) x += f{random.randint(max(0, i - 50), i - 1)}(y, x);")
    body.append("  return x ^ y;\n}")
    out += body
out.append("int main(void) {\n  u h = 1;")
out.append(f"  for (u r = 0; r < 3; r++) for (u i = 0; i < {n}u; i++) h = h * 31u + ptrs[i](h ^ i, r);")
out.append('  printf("%u\\n", h);\n  return 0;\n}')
print("\n".join(out))
