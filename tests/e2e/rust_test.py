#!/usr/bin/env python3
"""End-to-end test of user code in another language (issue 4): the Rust module
examples/rust/ranges.rs, built for wasm32-unknown-unknown by Debian's rustc, scattered on a
2-node loopback mesh, its answers compared with values computed here independently.

Usage: rust_test.py NODE_BINARY VELUM_BINARY WASM_DIR

The nodes have separate homes (so the module travels from node 1 to node 2 over their link)
and one --cluster-key file; node 2 joins node 1 by --join, nothing leaves loopback. Checked:
  - `velum inspect` lists the three exports as (i64, i64) -> i64: scatterable, 64-bit ranges
  - popcount_sum over [0, 10^6), over [2^32 - 5*10^5, 2^32 + 5*10^5) (crossing 2^32: a module
    that took i32 would answer differently, checked too) and over [-3*10^5, 3*10^5) (negative
    i64 items), against a closed form (itself checked against a plain loop on small ranges)
  - collatz_steps over [2^32 - 5000, 2^32 + 5000) against a plain loop here
  - collatz_longest over [1, 300000) with --reduce max against a memoized loop here
  - both nodes computed part of every job, and node 2 fetched the module exactly once
Figures are printed as `FIGURE name=value` lines."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import (Harness, TestFailure, check, figure, free_port, full_mesh, log,  # noqa: E402
                      wait_for)

MODULE = "rust_ranges.wasm"
EXPORTS = ("popcount_sum", "collatz_steps", "collatz_longest")


# --- References, computed without the module -----------------------------------------------
def ones_below(n):
    """Set bits of all of 0 .. n-1 (n >= 0), bit by bit: bit k is set in 2^k of every 2^(k+1)
    consecutive numbers."""
    total = 0
    k = 0
    while (1 << k) < n:
        period = 1 << (k + 1)
        total += (n // period) * (1 << k) + max(0, n % period - (1 << k))
        k += 1
    return total


def popcount_sum(a, b):
    """Sum over [a, b) of the set bits of i as an i64 (two's complement): for i < 0, i has
    64 - popcount(-i - 1) bits set, and -i - 1 runs over [max(0, -b), -a)."""
    total = 0
    if b > 0:
        total += ones_below(b) - ones_below(max(a, 0))
    if a < 0:
        lo, hi = max(0, -b), -a  # j = -i - 1 for i in [a, min(b, 0))
        total += 64 * (hi - lo) - (ones_below(hi) - ones_below(lo))
    return total


def popcount_loop(a, b):
    return sum(bin(i & (2**64 - 1)).count("1") for i in range(a, b))


def collatz(n):
    steps = 0
    while n > 1:
        n = 3 * n + 1 if n & 1 else n >> 1
        steps += 1
    return steps


def collatz_longest(a, b):
    """The longest orbit in [a, b), b small: steps memoized below b."""
    memo = {1: 0}
    best = 0
    for start in range(max(a, 1), b):
        n, path = start, []
        while n not in memo:
            path.append(n)
            n = 3 * n + 1 if n & 1 else n >> 1
        steps = memo[n]
        for m in reversed(path):
            steps += 1
            if m < b:
                memo[m] = steps
        best = max(best, memo[start])
    return best


def i32(v):
    v &= 0xffffffff
    return v - (1 << 32) if v >= 1 << 31 else v


# ---------------------------------------------------------------------------------------------
def check_inspect(velum, module):
    out = subprocess.run([velum, "inspect", module], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"velum inspect {module} failed: {out.stderr.strip()}")
    for name in EXPORTS:
        check(re.search(rf"^\s*func\s+{name}\(i64, i64\) -> i64\s+scatter\s*$", out.stdout, re.M),
              f"velum inspect does not list {name}(i64, i64) -> i64 as scatterable:\n{out.stdout}")
    log(f"velum inspect: {', '.join(EXPORTS)} are (i64, i64) -> i64")


def scatter(node, nodes, module, func, a, b, extra=""):
    line = f"scatter {module} {func} {a} {b} {extra}".strip()
    t0 = time.monotonic()
    r = node.cmd(line, timeout=120)
    check("error" not in r and r.get("state") == "done", f"{node.name}: '{line}' answered {r}")
    check(r["items_done"] == r["items_total"] == b - a,
          f"'{line}': items {r['items_done']}/{r['items_total']}, want {b - a}")
    items = {w["id"]: w["items"] for w in r["workers"]}
    check(sum(items.values()) == b - a, f"'{line}': the workers' items add up to "
          f"{sum(items.values())}, not {b - a}: {r['workers']}")
    check(all(items.get(n.id, 0) > 0 for n in nodes),
          f"'{line}': not every node computed part of it: {r['workers']}")
    log(f"  {func} [{a}, {b}) = {r['result']} in {r['elapsed_ms']:.0f} ms "
        f"({time.monotonic() - t0:.2f} s), items per node {items}")
    return r


def run(node_binary, velum, wasm_dir, tmp):
    module = os.path.join(wasm_dir, MODULE)
    check(os.path.exists(module), f"{module} is missing (build the velum_wasm target)")
    size = os.path.getsize(module)
    figure("rust_module_bytes", size)
    check_inspect(velum, module)

    # The references check themselves first: closed form against a plain loop.
    for a, b in ((0, 1), (0, 1000), (5, 77), (-1, 0), (-1000, 1000), (-70, -3),
                 (2**32 - 300, 2**32 + 300), (-2**40 - 5, -2**40 + 5)):
        check(popcount_sum(a, b) == popcount_loop(a, b), f"popcount reference wrong on [{a}, {b})")

    key = os.path.join(tmp, "cluster.key")
    with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(os.urandom(32))
    h = Harness(node_binary, tmp)
    try:
        ports = [free_port(), free_port()]
        common = ["--no-broadcast", "--bind", "127.0.0.1", "--advertise", "127.0.0.1",
                  "--discovery-port", "0", "--cluster-key", key]
        n1 = h.node(1, ["--port", str(ports[0]), "--home", os.path.join(tmp, "home1")] + common)
        n2 = h.node(2, ["--port", str(ports[1]), "--home", os.path.join(tmp, "home2"),
                        "--join", f"127.0.0.1:{ports[0]}"] + common)
        nodes = [n1, n2]
        for n in nodes:
            n.start()
        wait_for("2 nodes linked", full_mesh(nodes, links=True), 20)

        # popcount_sum: 64-bit items, fixed chunks so that both nodes take some.
        cases = [(0, 1_000_000), (2**32 - 500_000, 2**32 + 500_000), (-300_000, 300_000)]
        for a, b in cases:
            want = popcount_sum(a, b)
            r = scatter(n1, nodes, module, "popcount_sum", a, b, "--chunk 50000")
            check(r["result"] == want, f"popcount_sum [{a}, {b}) = {r['result']}, want {want}")
            if b > 2**31:
                # The same range through i32 parameters would be another range: the check above
                # could tell a module that truncated its items.
                truncated = popcount_sum(i32(a), i32(a) + (b - a))
                check(truncated != want, f"[{a}, {b}): the i32 answer is the same ({want})")
            figure(f"rust_popcount_{'neg' if a < 0 else 'hi' if a > 2**31 else 'lo'}_items_per_s",
                   float((b - a) / max(r["elapsed_ms"], 1) * 1000))

        # collatz_steps just above 2^32: orbits of 64-bit numbers.
        a, b = 2**32 - 5000, 2**32 + 5000
        want = sum(collatz(i) for i in range(a, b))
        r = scatter(n1, nodes, module, "collatz_steps", a, b, "--chunk 1000")
        check(r["result"] == want, f"collatz_steps [{a}, {b}) = {r['result']}, want {want}")

        # collatz_longest with --reduce max.
        a, b = 1, 300_000
        want = collatz_longest(a, b)
        r = scatter(n1, nodes, module, "collatz_longest", a, b, "--reduce max --chunk 20000")
        check(r["result"] == want, f"collatz_longest [{a}, {b}) = {r['result']}, want {want}")

        # The module crossed the link once: node 2 has its own home.
        s2 = n2.status()
        check(s2["modules_fetched"] == 1 and s2["module_bytes_fetched"] == size,
              f"node 2 fetched {s2['modules_fetched']} modules, {s2['module_bytes_fetched']} bytes; "
              f"want 1 module of {size} bytes")
        s1 = n1.status()
        check(s1["modules_served"] >= 1, f"node 1 served {s1['modules_served']} modules")
        for n in nodes:
            check(n.running(), f"{n.name} is down: {n.stderr_tail()}")
        log("PASS: the Rust module scatters over 2 nodes with exact answers")
    except TestFailure:
        h.dump_logs([os.path.join(tmp, "home1"), os.path.join(tmp, "home2")])
        raise
    finally:
        h.cleanup()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    node_binary, velum, wasm_dir = (os.path.abspath(p) for p in sys.argv[1:4])
    tmp = tempfile.mkdtemp(prefix="velum-rust-test.")
    try:
        run(node_binary, velum, wasm_dir, tmp)
    except TestFailure as e:
        log(f"FAIL: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
