#!/usr/bin/env python3
"""End-to-end tests of module reducers (issue 12): `scatter FILE FUNC START END --reduce EXPORT`,
an export of the module that combines two results, lower range first, on real node processes
on loopback.

Usage: reduce_test.py NODE_BINARY WASM_DIR [results|badinput|kill_worker|coordinator|overhead|all]

The module is tests/wasm/reduce_matrix.c (built as WASM_DIR/reduce_matrix.wasm): item i is a
2x2 matrix M(i) that does not commute with its neighbours, prodN(start, end) the product
M(start) ... M(end - 1) modulo a prime, matmulN the product of two, in three packings: four i64
results (prod4/matmul4), two i64 of two 32-bit entries each (prod2/matmul2) and one i64
(prod1/matmul1, (i64, i64) -> i64). Every answer is checked against the sequential fold computed
here (a literal loop for small ranges; for large ones the same product using M's period).

Cases:
  results      1 node, then 3 nodes: every packing with dynamic chunks and fixed chunks of
               1, 7, 100, 4096 and 100000 items, negative and int64-edge ranges, the same answer
               whatever the cut; sumsq by `sum` and by the export `add` agree
  badinput     --reduce with an export that does not exist, one of the wrong type, one that
               is not a function of the results' shape, one that traps (on the workers and at
               the coordinator's fold): one clear error each, before anything runs for the
               first three; every node still answers and the next job is exact
  kill_worker  kill -9 of a worker mid-job (it holds work): the exact product, reassigned >= 1
  coordinator  kill -9 of the coordinator mid-job and its restart with the same home: the job
               resumes from the journal and ends with the exact product
  overhead     the same export (sumsq) over the same range by `sum` and by `add` on 3 nodes,
               3 runs each: FIGURE lines with the times (the answers must agree)

Figures are printed as `FIGURE name=value` lines. REDUCE_ITEMS=N changes the fault cases' size."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import (KnownBugs, check, check_job_shape, figure, idle, job_row,  # noqa: E402
                      log, run_homes_cases, submit, wait_for, full_mesh)

KNOWN_BUGS = {}
bugs = KnownBugs(KNOWN_BUGS, os.path.abspath(__file__))

WASM = None
P = 1_000_000_007
Q = 65521
PERIOD = 1009
MASK64 = (1 << 64) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# The fault cases' job: several seconds on 3 nodes of 1 slot each on 2 loaded cores.
N = int(os.environ.get("REDUCE_ITEMS", "800000000"))
SLICE_MS = 150


def wasm():
    path = os.path.join(WASM, "reduce_matrix.wasm")
    check(os.path.exists(path), f"module {path} is missing (build the velum_wasm target)")
    return path


# --- The reference: the sequential fold ------------------------------------------------------

def mul(x, y, m):
    a, b, c, d = x
    e, f, g, h = y
    return ((a * e + b * g) % m, (a * f + b * h) % m, (c * e + d * g) % m, (c * f + d * h) % m)


def item(i):
    k = i % PERIOD  # Python's % is the non-negative residue, as the module computes it
    return (k + 2, 1, k, 1)


def fold(a, b, m):
    """M(a) M(a+1) ... M(b-1) mod m, one item at a time, left to right."""
    acc = (1, 0, 0, 1)
    for i in range(a, b):
        acc = mul(acc, item(i), m)
    return acc


def power(x, n, m):
    acc = (1, 0, 0, 1)
    while n:
        if n & 1:
            acc = mul(acc, x, m)
        x = mul(x, x, m)
        n >>= 1
    return acc


def product(a, b, m):
    """The same product as fold(a, b, m), fast for long ranges: M(i) depends on i mod PERIOD
    only, so every aligned run of PERIOD items multiplies to fold(0, PERIOD)."""
    if b - a <= 3 * PERIOD:
        return fold(a, b, m)
    head_end = a + (-a) % PERIOD
    tail_start = b - b % PERIOD
    periods = (tail_start - head_end) // PERIOD
    return mul(mul(fold(a, head_end, m), power(fold(0, PERIOD, m), periods, m), m),
               fold(tail_start, b, m), m)


def signed(v):
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


def expected(func, a, b):
    """The result as `scatter` prints it (an int, or a list of ints)."""
    if func == "prod4":
        return list(product(a, b, P))
    if func == "prod2":
        x = product(a, b, P)
        return [signed(x[0] | x[1] << 32), signed(x[2] | x[3] << 32)]
    if func == "prod1":
        x = product(a, b, Q)
        return signed(x[0] | x[1] << 16 | x[2] << 32 | x[3] << 48)
    raise ValueError(func)


COMBINE = {"prod4": "matmul4", "prod2": "matmul2", "prod1": "matmul1"}


def sumsq(a, b):
    total = 0
    for i in range(a, b):
        u = i & MASK64
        total += ((u * u) & MASK64) ^ (u >> 1)
    return signed(total)


# --- Helpers ---------------------------------------------------------------------------------

def scatter(node, args, timeout=120):
    t0 = time.monotonic()
    r = node.cmd(f"scatter {wasm()} {args}", timeout=timeout)
    check("error" not in r and r.get("state") == "done", f"{node.name}: scatter {args} answered {r}")
    check_job_shape(r, f"scatter {args}")
    log(f"  scatter {args} on {node.name}: {r['result']} in {r['elapsed_ms']:.0f} ms "
        f"({time.monotonic() - t0:.2f} s), {r['chunks']} chunks, workers "
        f"{[(w['id'], w['items']) for w in r['workers']]}")
    return r


def check_product(node, func, a, b, extra="", nodes=None):
    r = scatter(node, f"{func} {a} {b} --reduce {COMBINE[func]} {extra}".strip())
    want = expected(func, a, b)
    check(r["result"] == want, f"{func} [{a}, {b}) {extra}: {r['result']}, want {want}")
    check(r["reducer"] == COMBINE[func], f"the reducer is reported as {r['reducer']}")
    check(r["items_done"] == r["items_total"] == b - a, f"items {r['items_done']}/{b - a}")
    if nodes:
        ids = sorted(w["id"] for w in r["workers"] if w["items"] > 0)
        check(ids == sorted(n.id for n in nodes), f"{func} {extra}: work done by {ids}")
    return r


def error_of(node, line, timeout=30):
    r = node.cmd(line, timeout=timeout)
    check("error" in r and isinstance(r["error"], str) and r["error"],
          f"{node.name}: '{line}' should fail but answered {r}")
    check("\n" not in r["error"], f"'{line}': the error is not one line: {r['error']!r}")
    log(f"  '{line.replace(WASM + '/', '')}' -> {r['error']}")
    return r


def kill9(node):
    node.signal(signal.SIGKILL)
    rc = node.wait_exit(5)
    check(rc == -signal.SIGKILL, f"{node.name} did not die of SIGKILL: exit {rc}")


def three_nodes(mesh, slots=None, extra=()):
    nodes = [mesh.add(i, ["--slice-ms", str(SLICE_MS)] + list(extra), slots=slots) for i in (1, 2, 3)]
    mesh.form(nodes, "3 nodes")
    # Warm up: every node fetches and compiles the module.
    check_product(nodes[0], "prod2", 0, 300000, "--chunk 20000", nodes)
    return nodes


# --- Cases -----------------------------------------------------------------------------------

def case_results(mesh):
    one = mesh.add(1, ["--slice-ms", "50"])
    mesh.form([one], "1 node")
    # The literal fold itself, on a short range, before the period shortcut is trusted.
    check(product(-5000, 12345, P) == fold(-5000, 12345, P), "the period shortcut")
    for func in ("prod4", "prod2", "prod1"):
        check_product(one, func, 0, 200000)
        check_product(one, func, -77777, 123456, "--chunk 1000")
    check_product(one, "prod1", 5, 6)  # one item: nothing to combine
    nodes = [one] + [mesh.add(i, ["--slice-ms", "50"]) for i in (2, 3)]
    mesh.form(nodes, "3 nodes")
    results = {}
    for chunk in ("", "--chunk 1", "--chunk 7", "--chunk 100", "--chunk 4096", "--chunk 100000"):
        a, b = (-3000, 3000) if chunk in ("--chunk 1", "--chunk 7") else (-1_000_000, 2_500_000)
        for func in ("prod4", "prod2", "prod1"):
            r = check_product(one, func, a, b, chunk)
            results.setdefault((func, a, b), set()).add(str(r["result"]))
            if chunk == "--chunk 100000":
                check(r["chunks"] == (b - a + 99999) // 100000, f"chunks {r['chunks']}")
    check(all(len(v) == 1 for v in results.values()), f"answers differ by chunking: {results}")
    # Work on every node, and the int64 edges (items there wrap nothing: i mod 1009).
    check_product(one, "prod4", 0, 6_000_000, "", nodes)
    check_product(one, "prod2", INT64_MAX - 500000, INT64_MAX, "--chunk 30000")
    check_product(one, "prod1", INT64_MIN, INT64_MIN + 500000, "--chunk 30000")
    # A commutative export reduces alike by the built-in sum and by an export that adds.
    by_sum = scatter(one, "sumsq -100000 400000 --chunk 9999")
    by_add = scatter(one, "sumsq -100000 400000 --chunk 9999 --reduce add")
    want = sumsq(-100000, 400000)
    check(by_sum["result"] == by_add["result"] == want,
          f"sumsq: sum {by_sum['result']}, add {by_add['result']}, want {want}")
    # Jobs, wait and the text form name the export as the reducer.
    row = job_row(one, by_add["job"])
    check(row["reducer"] == "add", f"jobs lists the reducer as {row['reducer']}")


def case_badinput(mesh):
    nodes = three_nodes(mesh)
    one = nodes[0]
    path = wasm()
    e = error_of(one, f"scatter {path} prod1 0 1000 --reduce nosuch")["error"]
    check("nosuch" in e and "not a function exported" in e, f"a missing export: {e}")
    e = error_of(one, f"scatter {path} prod1 0 1000 --reduce wrong")["error"]
    check("wrong" in e and "(i32, i32) -> i64" in e and "(i64, i64) -> i64" in e,
          f"a reducer of the wrong type: {e}")
    e = error_of(one, f"scatter {path} prod4 0 1000 --reduce matmul1")["error"]
    check("matmul1" in e and "(i64, i64, i64, i64, i64, i64, i64, i64) -> (i64, i64, i64, i64)" in e,
          f"a reducer of another shape: {e}")
    e = error_of(one, f"scatter {path} prod4 0 1000 --reduce modulus_p")["error"]
    check("modulus_p" in e, f"a global as the reducer: {e}")
    jobs = one.cmd("jobs")["jobs"]
    check(len(jobs) == 1, f"a refused reducer started a job: {jobs}")
    # A reducer that traps: on the workers (many slices per chunk) ...
    r = one.cmd(f"scatter {path} prod1 0 3000000 --reduce boom", timeout=60)
    check(r.get("state") == "failed" and "the reducer boom: trap: unreachable" in r.get("error", ""),
          f"a trapping reducer on the workers: {r}")
    log(f"  boom on the workers -> {r['error']}")
    # ... and at the coordinator's fold (one item per chunk: the workers never combine).
    r = one.cmd(f"scatter {path} prod1 0 20 --chunk 1 --reduce boom", timeout=60)
    check(r.get("state") == "failed" and "the reducer boom: trap: unreachable" in r.get("error", ""),
          f"a trapping reducer at the coordinator's fold: {r}")
    log(f"  boom at the fold -> {r['error']}")
    for n in nodes:
        check(n.status()["id"] == n.id, f"{n.name} does not answer")
    check_product(one, "prod2", 0, 400000, "--chunk 3000", nodes)


def follow(coord, job, until, what, timeout=60):
    last = {}

    def pred():
        row = job_row(coord, job)
        last["row"] = row
        check(row is not None, f"job {job} vanished from `jobs`")
        check(row["state"] == "running", f"job {job} ended ({row['state']}) before {what}: {row}")
        return until(row), (row["items_done"], [(w["id"], w["items"], w["held"]) for w in row["workers"]])
    wait_for(what, pred, timeout, interval=0.03)
    return last["row"]


def finish(coord, job, func, timeout=180):
    r = coord.cmd(f"wait {job}", timeout=timeout)
    check_job_shape(r, f"wait {job}")
    check(r.get("state") == "done", f"wait {job}: {r}")
    want = expected(func, 0, N)
    check(r["result"] == want, f"job {job}: {r['result']}, want {want}")
    check(r["items_done"] == r["items_total"] == N, f"items {r['items_done']}/{N}")
    return r


def held_by(row, worker_id):
    for w in row["workers"]:
        if w["id"] == worker_id:
            return w["items"], w["held"]
    return 0, 0


def case_kill_worker(mesh):
    nodes = three_nodes(mesh, slots=1)
    coord, victim = nodes[0], nodes[2]
    job = submit(coord, f"scatter {wasm()} prod2 0 {N} --reduce matmul2")
    row = follow(coord, job, lambda row: row["items_done"] >= 0.3 * N and held_by(row, victim.id)[0] > 0
                 and held_by(row, victim.id)[1] > 0, "30% done and the victim holding work")
    kill9(victim)
    log(f"kill -9 of node {victim.id} at {row['items_done']}/{N} items, holding "
        f"{held_by(row, victim.id)[1]}")
    r = finish(coord, job, "prod2")
    check(r["reassigned"] >= 1 and any(f["worker"] == victim.id for f in r["failures"]),
          f"the victim's loss is not recorded: {r}")
    log(f"exact after the kill: {r['elapsed_ms']:.0f} ms, reassigned {r['reassigned']}, "
        f"recomputed {r['recomputed']}")
    figure("reduce_kill_worker_ms", float(r["elapsed_ms"]), "ms")
    # The two survivors go on: a new job is exact.
    check_product(coord, "prod4", 0, 500000, "--chunk 25000", nodes[:2])


def case_coordinator(mesh):
    nodes = three_nodes(mesh, slots=1)
    coord = nodes[0]
    job = submit(coord, f"scatter {wasm()} prod4 0 {N} --reduce matmul4")
    early = follow(coord, job, lambda row: row["items_done"] >= 0.3 * N, "30% of the job done")
    t_early = time.monotonic()
    follow(coord, job, lambda row: time.monotonic() - t_early >= 0.3, "0.3 s more")
    kill9(coord)
    log(f"kill -9 of the coordinator (at least {early['items_done']}/{N} items journaled)")
    wait_for("the workers idle after losing their coordinator", idle(nodes[1:]), 15)
    coord.start()
    wait_for("the restarted coordinator back in the mesh", full_mesh(nodes, links=True), 20)
    row = job_row(coord, job)
    check(row is not None and row["resumed"] is True and row["items_done"] >= early["items_done"],
          f"job {job} after the restart: {row}")
    r = finish(coord, job, "prod4")
    check(r["resumed"] is True, f"the finished job is not marked resumed: {r}")
    log(f"exact after the restart: {r['elapsed_ms']:.0f} ms")
    check_product(coord, "prod1", -400000, 400000, "--chunk 50000", nodes)


def case_overhead(mesh):
    nodes = three_nodes(mesh)
    one = nodes[0]
    items = int(os.environ.get("REDUCE_OVERHEAD_ITEMS", "400000000"))
    # Guided chunks, 1e6-item chunks, and 35000 chunks of 100 items (the coordinator's fold of
    # 35000 partials, a worker's fold after every slice of every chunk).
    for tag, n, chunk in (("guided", items, ""), ("fixed", items, "--chunk 1000000"),
                          ("tiny", 3_500_000, "--chunk 100")):
        times = {"sum": [], "add": []}
        answers = set()
        for run in range(3):
            for reducer in ("sum", "add"):
                r = scatter(one, f"sumsq 0 {n} --reduce {reducer} {chunk}".strip(), timeout=300)
                times[reducer].append(r["elapsed_ms"])
                answers.add(r["result"])
        check(len(answers) == 1, f"sum and add disagree: {answers}")
        for reducer, ts in times.items():
            figure(f"reduce_overhead_{tag}_{reducer}_ms", float(sorted(ts)[1]), "ms")
        log(f"  {n} items {tag}: sum {times['sum']} ms, add {times['add']} ms")
    # A costlier item (a 2x2 product mod 65521 each): the same export reduced by the built-in
    # sum (a meaningless number, the same work) and by its combining export.
    n = int(os.environ.get("REDUCE_OVERHEAD_PRODUCTS", "300000000"))
    times = {"sum": [], "matmul1": []}
    for run in range(3):
        for reducer in ("sum", "matmul1"):
            r = scatter(one, f"prod1 0 {n} --reduce {reducer}", timeout=300)
            times[reducer].append(r["elapsed_ms"])
            if reducer == "matmul1":
                check(r["result"] == expected("prod1", 0, n), f"prod1 0 {n}: {r['result']}")
    for reducer, ts in times.items():
        figure(f"reduce_overhead_products_{reducer}_ms", float(sorted(ts)[1]), "ms")
    log(f"  {n} products: sum {times['sum']} ms, matmul1 {times['matmul1']} ms")


CASES = {"results": case_results, "badinput": case_badinput, "kill_worker": case_kill_worker,
         "coordinator": case_coordinator, "overhead": case_overhead}


def main():
    global WASM
    if len(sys.argv) > 2:
        WASM = os.path.abspath(sys.argv[2])
    return run_homes_cases(__doc__, CASES, "reduce", bugs,
                           lambda mesh: f", discovery port {mesh.discovery}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    sys.exit(main())
