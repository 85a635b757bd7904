#!/usr/bin/env python3
"""End-to-end tests of jobs (issue 4): `scatter`, `wasm`, `jobs`, `wait` and `cancel` on real
node processes on loopback.

Usage: jobs_test.py NODE_BINARY WASM_DIR [results|transfer|badinput|int64|cancel|output|rejoin|all]

Every node has its own --home (its own module store and journal: modules travel between
nodes) and the same --cluster-key file; nodes find each other by unicast beacons to one free
discovery port (mesh_lib.HomesMesh). WASM_DIR holds the example modules (primes, sum, search,
range64) and tests/wasm/ranges.wat assembled (first_hit, min_mix, max_mix, trap_at).

Cases:
  results   scatter primes count_primes 0 500000 = 41538 on 1, 2 and 4 nodes (one mesh that
            grows), every node contributing; `wasm sum 10 20 30` = 60 runs here when alone
            and on another node when peers exist; i64 (sum_squares, wrapping), f64 (harmonic),
            --reduce min / max / first with fixed and dynamic chunks
  transfer  a module crosses the network once per node: two scatters of the same module,
            then modules_fetched == 1 and module_bytes_fetched == its size on each worker,
            modules_served == the number of workers on the coordinator
  badinput  unknown export, bad wasm arguments, a scatter of an export of the wrong type,
            START >= END, a module over --max-module-mib (the user's node and a worker's),
            no workers (--exclude-self alone), a trap inside a scatter: each a clear message,
            every node still answers and the next scatter is exact
  cancel    a long scatter in the background, `cancel JOB`: `jobs` says cancelled, every
            worker's busy_slots back to 0, then a new job is exact
  int64     ranges of the whole int64 domain (0..INT64_MAX, INT64_MIN..INT64_MAX, one item,
            ending at INT64_MAX) on 3 nodes with range64's O(1) sum_squares_closed and the
            loop sum_squares: exact answers, every item counted once, every node alive
  output    the JSON of `scatter &`, `jobs`, `wait JOB` and `scatter` (fields and values)
  rejoin    `node 1 --wait-peers 2 -c "scatter ..."` run 4 times against nodes 2 and 3, as
            `make demo` does: each run's node 1 assigns work the moment it sees its peers,
            while they still hold the last run's node 1 as left. Every answer is exact with
            no reassignment (workers dropped those first assignments, and each job waited
            the coordinator's 10 s silence before reassigning them)

Figures are printed as `FIGURE name=value` lines."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import (HomesMesh, KnownBugs, busy_slots, check, check_job_shape,  # noqa: E402
                      child_sockets, figure, free_port, idle, job_row, log, run_homes_cases,
                      submit, wait_for)

PRIMES_500K = 41538  # primes below 500000

# Checks that a known, reported bug in src/ makes fail (see mesh_lib.KnownBugs).
KNOWN_BUGS = {}
bugs = KnownBugs(KNOWN_BUGS, os.path.abspath(__file__))

WASM = None  # the modules' directory, from the command line


def wasm(name):
    path = os.path.join(WASM, name + ".wasm")
    check(os.path.exists(path), f"module {path} is missing (build the velum_wasm target)")
    return path


def scatter(node, args, timeout=60):
    """A foreground scatter: the job's summary (state done) or a TestFailure."""
    t0 = time.monotonic()
    r = node.cmd(f"scatter {args}", timeout=timeout)
    check("error" not in r and r.get("state") == "done",
          f"{node.name}: scatter {args} answered {r}")
    check_job_shape(r, f"scatter {args}")
    log(f"  scatter {args} on {node.name}: {r['result']} in {r['elapsed_ms']:.0f} ms "
        f"({time.monotonic() - t0:.2f} s), workers {[(w['id'], w['items']) for w in r['workers']]}")
    return r


def error_of(node, line, timeout=10):
    """A command that must fail: its error message."""
    r = node.cmd(line, timeout=timeout)
    check("error" in r and isinstance(r["error"], str) and r["error"],
          f"{node.name}: '{line}' should fail but answered {r}")
    check("\n" not in r["error"], f"'{line}': the error is not one line: {r['error']!r}")
    log(f"  '{line.replace(WASM + '/', '')}' -> {r['error']}")
    return r["error"]


def check_primes(node, nodes, label):
    """scatter primes over [0, 500000) is exact; returns the summary."""
    r = scatter(node, f"{wasm('primes')} count_primes 0 500000")
    check(r["result"] == PRIMES_500K,
          f"{label}: primes below 500000 = {r['result']}, want {PRIMES_500K}")
    check(r["items_done"] == r["items_total"] == 500000,
          f"{label}: items {r['items_done']}/{r['items_total']}")
    items = sum(w["items"] for w in r["workers"])
    check(items == 500000, f"{label}: the workers' items add up to {items}, not 500000: {r['workers']}")
    ids = sorted(w["id"] for w in r["workers"] if w["items"] > 0)
    check(ids == sorted(n.id for n in nodes),
          f"{label}: work done by {ids}, want every node of {sorted(n.id for n in nodes)}")
    return r


def all_answer(nodes, label):
    for n in nodes:
        check(n.running(), f"{label}: {n.name} is down (exit {n.proc.returncode}); "
              f"stderr: {n.stderr_tail()}")
        s = n.status()
        check(s["id"] == n.id, f"{label}: {n.name} status says id {s['id']}")


def sum_squares(a, b):
    """sum of i*i over [a, b) as the module computes it: i64 arithmetic, wrapping."""
    def s(n):  # sum over [0, n) of i*i, n >= 0
        return (n - 1) * n * (2 * n - 1) // 6
    total = (s(b) if b > 0 else 0) - (s(a) if a > 0 else 0)
    if a < 0:  # the negative part [a, min(b, 0))
        total += s(-a + 1) - (s(-b + 1) if b < 0 else 0)
    total %= 1 << 64
    return total - (1 << 64) if total >= 1 << 63 else total


def mix(i):
    return (i * 2654435761) % 1000003


def first_hit(a, b):
    for i in range(a, b):
        if i * 123 % 99991 == 1:
            return i
    return 0


# ---------------------------------------------------------------------------------------------
def case_results(mesh):
    n1 = mesh.add(1)
    mesh.form([n1], "alone")
    # Alone: the node does everything itself.
    r = n1.cmd(f"wasm {wasm('sum')} sum 10 20 30")
    check(r.get("result") == 60 and r.get("node") == 1, f"alone: wasm sum 10 20 30 answered {r}")
    check_primes(n1, [n1], "1 node")

    # Two nodes, then four: the same job, the same answer, every node contributing.
    n2 = mesh.add(2)
    mesh.form([n1, n2], "2 nodes")
    check_primes(n1, [n1, n2], "2 nodes")
    r = n1.cmd(f"wasm {wasm('sum')} sum 10 20 30")
    check(r.get("result") == 60 and r.get("node") == 2,
          f"2 nodes: wasm sum 10 20 30 on node 1 should run on node 2: {r}")
    n3, n4 = mesh.add(3), mesh.add(4)
    nodes = [n1, n2, n3, n4]
    t = mesh.form(nodes, "4 nodes")
    log(f"4 nodes: mesh with links {t * 1000:.0f} ms")
    r4 = check_primes(n1, nodes, "4 nodes")
    figure("jobs_primes_500k_4_nodes_ms", float(r4["elapsed_ms"]), "ms")
    check_primes(n3, nodes, "4 nodes, node 3 coordinating")
    for caller in (n1, n4):
        r = caller.cmd(f"wasm {wasm('sum')} sum 10 20 30")
        check(r.get("result") == 60 and r.get("node") in {1, 2, 3, 4} - {caller.id},
              f"4 nodes: wasm sum 10 20 30 on {caller.name} should run on another node: {r}")
    r = n1.cmd(f"wasm {wasm('sum')} sum 10 20 30 --local")
    check(r.get("result") == 60 and r.get("node") == 1, f"wasm --local answered {r}")
    r = n1.cmd(f"wasm {wasm('sum')} sum64 -5000000000 7")
    check(r.get("result") == -4999999993, f"wasm sum64 -5000000000 7 answered {r}")

    # 64-bit: an i64 export whose sum wraps around 2^64 (as the module's own arithmetic does).
    a, b = -1000000, 20000000
    want = sum_squares(a, b)
    for lo, hi in ((0, 4), (-7, 3), (-9, -2), (5, 11)):
        check(sum_squares(lo, hi) == sum(i * i for i in range(lo, hi)), f"sum_squares({lo}, {hi})")
    r = scatter(n1, f"{wasm('range64')} sum_squares {a} {b}")
    check(r["result"] == want, f"sum_squares over [{a}, {b}) = {r['result']}, want {want}")
    check(r["reducer"] == "sum", f"reducer {r['reducer']}")
    # f64: close to Python's sum (the cut changes the rounding, not the value).
    a, b = 1, 3000000
    want = math.fsum(1.0 / i for i in range(a, b))
    r = scatter(n2, f"{wasm('range64')} harmonic {a} {b}")
    check(isinstance(r["result"], float) and math.isclose(r["result"], want, rel_tol=1e-12),
          f"harmonic over [{a}, {b}) = {r['result']}, want {want}")

    # min and max: exact whatever the cut.
    a, b = 1, 300000  # mix(0) = 0: from 1 the minimum lies inside the range
    mn, mx = min(mix(i) for i in range(a, b)), max(mix(i) for i in range(a, b))
    for chunk in ("--chunk 7000", ""):
        r = scatter(n1, f"{wasm('ranges')} min_mix {a} {b} --reduce min {chunk}")
        check(r["result"] == mn and r["reducer"] == "min", f"min_mix {chunk}: {r['result']}, want {mn}")
        r = scatter(n1, f"{wasm('ranges')} max_mix {a} {b} --reduce max {chunk}")
        check(r["result"] == mx and r["reducer"] == "max", f"max_mix {chunk}: {r['result']}, want {mx}")
        # The same export by sum is another answer: the reducer really matters.
        if chunk:
            r = scatter(n1, f"{wasm('ranges')} max_mix {a} {b} {chunk}")
            check(r["result"] > mx, f"max_mix summed over chunks gives {r['result']}, not above {mx}")

    # first: search over [0, 100000) finds nothing (gcd(123, 99999) = 3, so i*123 is never
    # 1 mod 99999); first_hit has a hit every 99991 items: the lowest one wins, whatever the cut.
    r = scatter(n1, f"{wasm('search')} search 0 100000 --reduce first")
    check(r["result"] == 0 and r["reducer"] == "first",
          f"search over [0, 100000): {r['result']}, want 0")
    a, b = 70000, 700000
    want = first_hit(a, b)
    check(want == 162587 and first_hit(want + 1, b) == want + 99991, f"first_hit({a}, {b}) = {want}")
    chunks = {}
    for chunk in ("--chunk 1000", "--chunk 99991", ""):
        r = scatter(n1, f"{wasm('ranges')} first_hit {a} {b} --reduce first {chunk}")
        check(r["result"] == want, f"first_hit {chunk}: {r['result']}, want the lowest hit {want}")
        chunks[chunk or "dynamic"] = r["chunks"]
    # "first" may stop once everything below the lowest hit is done: not all chunks are cut.
    check((want - a) // 1000 < chunks["--chunk 1000"] <= (b - a) // 1000,
          f"--chunk 1000 made {chunks} chunks")
    check(chunks["dynamic"] < chunks["--chunk 1000"], f"dynamic chunks: {chunks}")
    # By sum the same export adds the hits of every chunk: more than the first.
    r = scatter(n1, f"{wasm('ranges')} first_hit {a} {b} --chunk 1000")
    check(r["result"] > want, f"first_hit summed: {r['result']}")
    all_answer(nodes, "results")
    # The executors hold no socket of the node (it would keep a closed link open).
    for n in nodes:
        children, leaked = child_sockets(n)
        check(children, f"{n.name} has no executor processes")
        check(not leaked, f"{n.name}'s executors hold its sockets (fds by pid): {leaked}")


# ---------------------------------------------------------------------------------------------
def case_transfer(mesh):
    nodes = [mesh.add(i) for i in (1, 2, 3)]
    n1 = nodes[0]
    mesh.form(nodes, "transfer")
    size = os.path.getsize(wasm("primes"))
    before = {n.id: n.status() for n in nodes}
    for n in nodes:
        s = before[n.id]
        check(s["modules_fetched"] == 0 and s["module_bytes_fetched"] == 0 and s["modules_served"] == 0,
              f"{n.name} counts module transfers before any job: {s}")
    for i in (1, 2):
        check_primes(n1, nodes, f"transfer, job {i}")
    after = {n.id: n.status() for n in nodes}
    log(f"transfer: module of {size} bytes; " + ", ".join(
        f"node {i}: fetched {s['modules_fetched']} ({s['module_bytes_fetched']} B), served "
        f"{s['modules_served']}" for i, s in after.items()))
    for n in nodes[1:]:
        s = after[n.id]
        check(s["modules_fetched"] == 1,
              f"{n.name} fetched primes {s['modules_fetched']} times in 2 jobs, want once")
        check(s["module_bytes_fetched"] == size,
              f"{n.name} fetched {s['module_bytes_fetched']} bytes, want the module's {size}")
        check(s["modules_served"] == 0, f"{n.name} served modules: {s}")
        check(s["slices_run"] > before[n.id]["slices_run"], f"{n.name} ran no slice")
        check(os.path.exists(os.path.join(mesh.homes[n.id], "modules")), f"{n.name} has no module store")
    s1 = after[1]
    check(s1["modules_fetched"] == 0, f"the coordinator fetched its own module: {s1}")
    check(s1["modules_served"] == len(nodes) - 1,
          f"the coordinator served primes {s1['modules_served']} times, want {len(nodes) - 1}")
    figure("module_transfers_per_worker_2_jobs", max(after[n.id]["modules_fetched"] for n in nodes[1:]))
    # Another module is fetched once more by each node that runs it.
    size2 = os.path.getsize(wasm("range64"))
    scatter(n1, f"{wasm('range64')} sum_squares 0 3000000")
    for n in nodes[1:]:
        s = n.status()
        check(s["modules_fetched"] == 2 and s["module_bytes_fetched"] == size + size2,
              f"{n.name} after a second module: {s['modules_fetched']} fetched, "
              f"{s['module_bytes_fetched']} bytes (want 2, {size + size2})")
    served = n1.status()["modules_served"]
    check(served == 2 * (len(nodes) - 1), f"node 1 served {served} modules, want {2 * (len(nodes) - 1)}")


# ---------------------------------------------------------------------------------------------
def big_module(path, mib):
    """A valid module over `mib` MiB: primes.wasm with a large custom section appended."""
    with open(wasm("primes"), "rb") as f:
        base = f.read()
    name = b"velum-test-padding"
    payload_len = mib * (1 << 20) + 12345
    body_len = 1 + len(name) + payload_len

    def leb(n):
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)
    with open(path, "wb") as f:
        f.write(base + b"\x00" + leb(body_len) + bytes([len(name)]) + name)
        f.write(b"\x5a" * payload_len)
    return path


def case_badinput(mesh):
    # Node 2 accepts modules of at most 1 MiB; the others the default 64 MiB.
    n1, n2, n3 = mesh.add(1), mesh.add(2, ["--max-module-mib", "1"]), mesh.add(3)
    nodes = [n1, n2, n3]
    mesh.form(nodes, "badinput")
    primes, sumw, ranges = wasm("primes"), wasm("sum"), wasm("ranges")

    # An unknown export: the message lists the module's exports.
    for line in (f"scatter {primes} nosuch 0 1000", f"wasm {primes} nosuch 1 2"):
        e = error_of(n1, line)
        check("nosuch" in e and "count_primes(i32, i32) -> i32" in e,
              f"'{line}': the error should name the export and list the exports: {e}")
    # Bad arguments for wasm: count and types.
    e = error_of(n1, f"wasm {sumw} sum 1 2")
    check("3 arguments" in e and "got 2" in e, f"wrong argument count: {e}")
    e = error_of(n1, f"wasm {sumw} sum 1 2 3 4")
    check("3 arguments" in e and "got 4" in e, f"wrong argument count: {e}")
    for bad in ("x", "2.5", "99999999999"):
        e = error_of(n1, f"wasm {sumw} sum 1 {bad} 3")
        check("argument 2" in e and bad in e and "i32" in e, f"bad argument {bad}: {e}")
    # A scatter of an export that is not a range export.
    for line, typ in ((f"scatter {sumw} sum 0 100", "(i32, i32, i32) -> i32"),
                      (f"scatter {ranges} one_arg 0 100", "(i32) -> i32"),
                      (f"scatter {ranges} no_result 0 100", "(i32, i32) -> ()")):
        e = error_of(n1, line)
        check(typ in e and "scatter needs (i32, i32) or (i64, i64)" in e, f"'{line}': {e}")
    # START >= END, and i32 bounds for an i32 export.
    for lo, hi in ((10, 10), (10, 5)):
        e = error_of(n1, f"scatter {primes} count_primes {lo} {hi}")
        check(f"[{lo}, {hi})" in e and "START must be below END" in e, f"[{lo}, {hi}): {e}")
    e = error_of(n1, f"scatter {primes} count_primes 0 5000000000")
    check("i32" in e, f"an i32 export over 5e9: {e}")
    e = error_of(n1, f"scatter {primes} count_primes 0 x")
    check("END" in e, f"END x: {e}")
    e = error_of(n1, f"scatter {primes} count_primes 0 10 --reduce avg")
    check("avg" in e, f"--reduce avg: {e}")
    e = error_of(n1, f"scatter {mesh.tmp}/missing.wasm f 0 10")
    check("missing.wasm" in e, f"a missing file: {e}")

    # A module over --max-module-mib: refused by the user's node itself (node 2, 1 MiB) ...
    big = big_module(os.path.join(mesh.tmp, "big.wasm"), 2)
    size = os.path.getsize(big)
    e = error_of(n2, f"scatter {big} count_primes 0 500000")
    def says_limit(e):
        return "limit" in e and "1 MiB" in e.replace("1.0 MiB", "1 MiB") and "2.0 MiB" in e
    check(says_limit(e), f"a {size}-byte module on a node with --max-module-mib 1: {e}")
    e = error_of(n2, f"wasm {big} count_primes 0 10 --local")
    check(says_limit(e), f"wasm of the big module on node 2: {e}")
    # ... and by a worker: node 1 accepts it, node 2 cannot fetch it; the job is exact anyway.
    t0 = time.monotonic()
    r = scatter(n1, f"{big} count_primes 0 500000", timeout=60)
    check(r["result"] == PRIMES_500K, f"the big module's scatter: {r['result']}")
    w2 = [w for w in r["workers"] if w["id"] == 2]
    check(not w2 or w2[0]["items"] == 0, f"node 2 computed with a module over its limit: {w2}")
    check(n2.status()["modules_fetched"] == 0 and n3.status()["modules_fetched"] == 1,
          f"fetched: node 2 {n2.status()['modules_fetched']}, node 3 {n3.status()['modules_fetched']}")
    log(f"  big module scatter with a worker refusing it: {time.monotonic() - t0:.2f} s, "
        f"retries {r['retries']}")
    figure("jobs_big_module_refused_retries", r["retries"])

    # A trap inside one sub-range fails the job with the trap's message.
    r = n1.cmd(f"scatter {ranges} trap_at 0 200000 --chunk 5000", timeout=30)
    check(r.get("state") == "failed" and "error" in r, f"a trapping scatter answered {r}")
    check("unreachable" in r["error"] and "trap" in r["error"],
          f"the failed job's error should say it trapped: {r['error']}")
    log(f"  trapping scatter -> {r['error']}")
    # The message says where: items from the attempt's last checkpoint in the chunk
    # [75000, 80000) that holds item 77777. (Its end is where the coordinator last heard the
    # attempt run to: the failed slice's own end is not in the worker's error report.)
    m = re.search(r"items \[(\d+), (\d+)\)", r["error"])
    check(m, f"the trap's message does not say where: {r['error']}")
    lo, hi = int(m.group(1)), int(m.group(2))
    check(75000 <= lo <= 77777 and lo <= hi <= 80000,
          f"the trap's message names items [{lo}, {hi}), not in the chunk holding item 77777")
    row = job_row(n1, r["job"])
    check(row and row["state"] == "failed" and "unreachable" in row.get("error", ""),
          f"jobs shows the trapped job as {row}")
    # A trap in a remote call.
    e = error_of(n1, f"wasm {wasm('traps')} div 1 0")
    check("trap" in e and "divi" in e, f"div 1 0: {e}")
    wait_for("no slot busy after the trap", idle(nodes), 10)

    # Every node still answers, and the next jobs are exact.
    all_answer(nodes, "badinput")
    check_primes(n1, nodes, "after bad input")
    check_primes(n2, nodes, "after bad input, node 2 coordinating")
    r = n1.cmd(f"wasm {sumw} sum 10 20 30")
    check(r.get("result") == 60, f"wasm after bad input: {r}")

    # No workers: alone, excluding itself.
    os.makedirs(os.path.join(mesh.tmp, "lone"))
    lone = HomesMesh(mesh.h.binary, os.path.join(mesh.tmp, "lone"))
    lone.h = mesh.h  # one harness kills everything
    n9 = lone.add(9)
    lone.form([n9], "lone")
    e = error_of(n9, f"scatter {primes} count_primes 0 1000 --exclude-self")
    check("no workers" in e, f"--exclude-self alone: {e}")
    r = scatter(n9, f"{primes} count_primes 0 500000")
    check(r["result"] == PRIMES_500K, f"the lone node without --exclude-self: {r['result']}")
    all_answer(nodes + [n9], "badinput, the end")


# ---------------------------------------------------------------------------------------------
def case_cancel(mesh):
    nodes = [mesh.add(i, slots=1) for i in (1, 2, 3)]
    n1 = nodes[0]
    mesh.form(nodes, "cancel")
    # Long enough that it cannot end by itself before the cancel (minutes on this machine).
    job = submit(n1, f"scatter {wasm('primes')} count_primes 0 2000000000")
    wait_for("every node working on the job", lambda: (
        all(v > 0 for v in busy_slots(nodes).values()), busy_slots(nodes)), 20)
    row = job_row(n1, job)
    check(row["state"] == "running", f"the job before the cancel: {row}")
    t0 = time.monotonic()
    r = n1.cmd(f"cancel {job}")
    check(r == {"cancelled": job}, f"cancel {job} answered {r}")
    row = job_row(n1, job)
    check(row["state"] == "cancelled" and "result" not in row, f"jobs after the cancel: {row}")
    check(row["items_done"] < row["items_total"], f"the cancelled job says it is complete: {row}")
    waited = wait_for("every worker idle after the cancel", idle(nodes), 10)
    log(f"cancel: every slot free {waited * 1000:.0f} ms after `cancel`")
    figure("cancel_to_idle_ms", (time.monotonic() - t0) * 1000, "ms")
    # Nothing starts again later: no slot busy, no slice run for half a second.
    slices = {n.id: n.status()["slices_run"] for n in nodes}
    t_idle = time.monotonic()
    while time.monotonic() - t_idle < 0.5:
        now = {n.id: (n.status()["slices_run"], n.status()["busy_slots"]) for n in nodes}
        check(all(now[i] == (slices[i], 0) for i in slices),
              f"work after the cancel: (slices run, busy) {now}, slices before {slices}")
        time.sleep(0.05)
    e = error_of(n1, f"cancel {job}")
    check("already cancelled" in e, f"a second cancel: {e}")
    r = n1.cmd(f"wait {job}", timeout=10)
    check(r.get("state") == "cancelled" and "cancelled" in r.get("error", ""),
          f"wait on the cancelled job: {r}")
    e = error_of(n1, "cancel 999")
    check("no job 999" in e, f"cancel of an unknown job: {e}")
    check_primes(n1, nodes, "after the cancel")
    all_answer(nodes, "cancel")


# ---------------------------------------------------------------------------------------------
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def case_int64(mesh):
    nodes = [mesh.add(i) for i in (1, 2, 3)]
    mesh.form(nodes, "int64")
    # sum_squares_closed answers any slice in O(1), so slices and chunks grow to 2^62 items and
    # more; the report's `scatter range64.wasm sum_squares 0 9223372036854775807` aborted every
    # worker this way (a slice planned through a double, past the range's end).
    jobs = [("sum_squares_closed", 0, INT64_MAX, ""),
            ("sum_squares_closed", INT64_MIN, INT64_MAX, ""),
            ("sum_squares_closed", INT64_MAX - 10**17, INT64_MAX, ""),
            ("sum_squares_closed", INT64_MIN, INT64_MAX, f"--chunk {1 << 62}"),
            ("sum_squares_closed", INT64_MAX - 1, INT64_MAX, ""),  # one item
            ("sum_squares", INT64_MAX - 2000000, INT64_MAX, "")]  # the loop, at the very end
    for k, (func, a, b, extra) in enumerate(jobs):
        coordinator = nodes[k % len(nodes)]
        what = f"{func} over [{a}, {b}) {extra} from {coordinator.name}"
        r = scatter(coordinator, f"{wasm('range64')} {func} {a} {b} {extra}")
        want = sum_squares(a, b)
        check(r["result"] == want, f"{what} = {r['result']}, want {want}")
        items = sum(w["items"] for w in r["workers"])
        check(items == b - a, f"{what}: workers computed {items} items, the range has {b - a}")
        if b - a > 10**9:
            working = [w["id"] for w in r["workers"] if w["items"] > 0]
            check(len(working) >= 2, f"{what}: only nodes {working} worked")
        figure(f"int64_{k}_ms", float(r["elapsed_ms"]), "ms")
        for n in nodes:
            check(n.running(), f"{what}: {n.name} is gone:\n{n.stderr_tail()}")
        all_answer(nodes, what)


# ---------------------------------------------------------------------------------------------
def case_output(mesh):
    nodes = [mesh.add(i) for i in (1, 2)]
    n1 = nodes[0]
    mesh.form(nodes, "output")
    r = n1.cmd("jobs")
    check(r == {"jobs": []}, f"jobs before any job: {r}")
    job = submit(n1, f"scatter {wasm('primes')} count_primes 0 20000000")
    row = job_row(n1, job)
    check_job_shape(row, "jobs (running)")
    check(row["state"] == "running" and "result" not in row and row["items_total"] == 20000000
          and row["items_done"] <= row["items_total"] and row["resumed"] is False
          and row["module"] == "primes.wasm" and row["func"] == "count_primes"
          and row["start"] == 0 and row["end"] == 20000000 and row["reducer"] == "sum",
          f"jobs while running: {row}")
    # Progress is visible while it runs.
    wait_for("progress of the running job", lambda: (
        (lambda j: (0 < j["items_done"] < j["items_total"], j["items_done"]))(job_row(n1, job))), 30)
    r = n1.cmd(f"wait {job}", timeout=90)
    check_job_shape(r, "wait")
    check(r["job"] == job and r["state"] == "done" and r["result"] == 1270607,
          f"wait {job}: {r}")
    check(r["items_done"] == r["items_total"] == 20000000 and r["chunks"] >= 2, f"wait {job}: {r}")
    check(sum(w["items"] for w in r["workers"]) == 20000000, f"workers' items: {r['workers']}")
    for w in r["workers"]:
        check(w["items"] > 0 and w["chunks"] > 0 and w["seconds"] > 0 and
              math.isclose(w["items_per_s"], w["items"] / w["seconds"], rel_tol=1e-6),
              f"worker row {w}")
    check(r["reassigned"] == 0 and r["failures"] == [] and r["detection_ms"] is None,
          f"a job without failures reports {r}")
    row = job_row(n1, job)
    check(row["state"] == "done" and row["result"] == r["result"], f"jobs after the end: {row}")
    r2 = scatter(n1, f"{wasm('primes')} count_primes 0 500000")
    check(r2["job"] == job + 1 and r2["result"] == PRIMES_500K, f"the next job: {r2}")
    listed = [j["job"] for j in n1.cmd("jobs")["jobs"]]
    check(listed == [job, job + 1], f"jobs lists {listed}")
    check(nodes[1].cmd("jobs")["jobs"] == [], "node 2 lists node 1's jobs")
    e = error_of(n1, "wait 999")
    check("999" in e and "not known" in e, f"wait 999: {e}")
    e = error_of(n1, "wait")
    check("usage" in e, f"wait without a job: {e}")
    e = error_of(n1, "jobs 1")
    check("usage" in e, f"jobs 1: {e}")
    # Plain text: -c prints the result first.
    p = subprocess.run([mesh.h.binary, "7", "--port", str(free_port()), "--no-broadcast",
                        "--bind", "127.0.0.1", "--advertise", "127.0.0.1", "--discovery-port", "0",
                        "--home", os.path.join(mesh.tmp, "text-home"),
                        "-c", f"scatter {wasm('primes')} count_primes 0 500000"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and p.stdout.split("\n")[0] == str(PRIMES_500K),
          f"-c scatter (text) exited {p.returncode}, printed {p.stdout!r} {p.stderr!r}")
    p = subprocess.run([mesh.h.binary, "7", "--port", str(free_port()), "--no-broadcast",
                        "--bind", "127.0.0.1", "--advertise", "127.0.0.1", "--discovery-port", "0",
                        "--home", os.path.join(mesh.tmp, "text-home"), "--json",
                        "-c", f"scatter {wasm('primes')} count_primes 5 5"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and p.stdout.startswith('{"error":'),
          f"-c of a bad scatter exited {p.returncode}, printed {p.stdout!r}")


# ---------------------------------------------------------------------------------------------
def case_rejoin(mesh):
    workers = [mesh.add(i) for i in (2, 3)]
    mesh.form(workers, "rejoin")
    one = mesh.add(1)  # never started as a shell: its arguments, for one-command runs
    argv = [mesh.h.binary, "1"] + one.args + ["--json", "--wait-peers", "2", "--wait-timeout",
                                               "20", "-c", f"scatter {wasm('primes')} "
                                               "count_primes 0 500000"]
    for run in range(4):
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - t0
        check(p.returncode == 0, f"run {run}: exit {p.returncode}: {p.stdout} {p.stderr}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        check(r.get("result") == PRIMES_500K, f"run {run}: {r}")
        check(r["reassigned"] == 0 and r["detection_ms"] is None,
              f"run {run}: work was lost and reassigned after {r['detection_ms']} ms "
              f"({elapsed:.2f} s in all): {r}")
        log(f"run {run}: exact in {elapsed:.2f} s, workers "
            f"{[(w['id'], w['items']) for w in r['workers']]}")
        figure(f"rejoin_{run}_ms", elapsed * 1000, "ms")
    held = 0
    for n in workers:
        st = n.status()
        check(st["frames_held_dropped"] == 0, f"{n.name} dropped held frames: {st}")
        held += st["frames_held"]
    # How often the race happened (frames that arrived before node 1 was alive again).
    figure("rejoin_frames_held", float(held), "frames")
    all_answer(workers, "rejoin")


# ---------------------------------------------------------------------------------------------
CASES = {"results": case_results, "transfer": case_transfer, "badinput": case_badinput,
         "int64": case_int64,
         "cancel": case_cancel, "output": case_output, "rejoin": case_rejoin}


def main():
    global WASM
    if len(sys.argv) > 2:
        WASM = os.path.abspath(sys.argv[2])
    return run_homes_cases(__doc__, CASES, "jobs", bugs, lambda mesh: f", discovery port {mesh.discovery}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    sys.exit(main())
