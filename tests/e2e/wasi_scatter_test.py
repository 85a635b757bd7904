#!/usr/bin/env python3
"""End-to-end tests of scattering range exports that import WASI (printf, malloc), on a mesh
of 3 real node processes on loopback, with tests/wasm/wasi_range.c built as a reactor.

Usage: wasi_scatter_test.py NODE_BINARY WASM_DIR [output|caps|exit|resume|all]

Cases:
  output  scatter wasi_range count over [0, 300000) with fixed chunks on 3 nodes: the result
          equals the sequential sum; --json's "output" holds one stdout block per slice,
          tagged with a live node id, whose line names exactly that block's [start, end); the
          blocks tile the range once (no slice printed twice); the text form tags each block
          `[node N, A..B) stdout:`; a second job with a 4th node started by a one-command
          run (`node 4 -c`, text output) shows the same tags
  caps    scatter wasi_range chatty (100 bytes per item) over a range whose slices pass the
          64 KiB per-slice cap and whose job passes the 1 MiB cap: the job succeeds with the
          exact result, slices are marked truncated, the job's output is marked truncated
          and holds at most 1 MiB
  exit    scatter wasi_range quits (proc_exit(3) at item 500): the job fails with one line
          naming proc_exit, the failing slice's stderr comes back with the summary, and the
          next job on the same mesh is exact
  resume  the coordinator of a running count job is killed with SIGKILL and restarted: the
          job resumes from its journal and ends exact; its output says that what came before
          the restart is lost, and what it holds still tiles its slices once

Every node is ended by PID whatever happens (mesh_lib)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import KnownBugs, check, log, run_homes_cases, wait_for  # noqa: E402

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None
SLICE_CAP = 64 << 10
JOB_CAP = 1 << 20


def module():
    path = os.path.join(WASM, "wasi_range.wasm")
    check(os.path.exists(path), f"module {path} is missing (build the velum_wasm target)")
    return path


def count(a, b):
    def upto(n):  # sum of i % 1000 over [0, n), n >= 0
        return (n // 1000) * 499500 + (n % 1000) * (n % 1000 - 1) // 2
    return upto(b) - upto(a)


def mesh_of_three(mesh):
    nodes = [mesh.add(i) for i in (1, 2, 3)]
    mesh.form(nodes, "3 nodes")
    return nodes


def check_count_output(r, a, b, ids, label):
    """The blocks of `count` over [a, b): one stdout line per slice, tiling [a, b) once."""
    out = r.get("output")
    check(isinstance(out, list) and out, f"{label}: no output array: {r}")
    check(r["output_truncated"] is False and r["output_lost"] is False, f"{label}: flags {r}")
    at, total = a, 0
    for blk in sorted(out, key=lambda blk: blk["start"]):
        check(set(blk) >= {"node", "start", "end", "stream", "data"}, f"{label}: block {blk}")
        check(blk["stream"] == "stdout", f"{label}: unexpected stream in {blk}")
        check(blk["node"] in ids, f"{label}: block from node {blk['node']}, not one of {ids}")
        check(blk["start"] == at, f"{label}: blocks leave a gap or overlap at {at}: {blk}")
        s, e = blk["start"], blk["end"]
        want = f"count [{s}, {e}) = {count(s, e)}\n"
        check(blk["data"] == want, f"{label}: block [{s}, {e}) holds {blk['data']!r}, want {want!r}")
        at = e
        total += 1
    check(at == b, f"{label}: the blocks end at {at}, not {b}")
    # In range order as given, too.
    check([blk["start"] for blk in out] == sorted(blk["start"] for blk in out),
          f"{label}: blocks not in range order")
    return total


def case_output(mesh):
    nodes = mesh_of_three(mesh)
    ids = {n.id for n in nodes}
    a, b = 0, 300000
    r = nodes[0].cmd(f"scatter {module()} count {a} {b} --chunk 20000", timeout=90)
    check(r.get("state") == "done", f"scatter answered {r}")
    check(r["result"] == count(a, b), f"result {r['result']}, want {count(a, b)}")
    blocks = check_count_output(r, a, b, ids, "3 nodes")
    workers = {blk["node"] for blk in r["output"]}
    check(workers == {w["id"] for w in r["workers"] if w["items"] > 0},
          f"output from {workers}, work by {r['workers']}")
    log(f"  {blocks} blocks from nodes {sorted(workers)}; result {r['result']}")
    # `wait` of the same job gives the same output; `jobs` lists none.
    w = nodes[0].cmd(f"wait {r['job']}", timeout=10)
    check(w.get("output") == r["output"], f"wait {r['job']}: another output: {w}")
    j = nodes[0].cmd("jobs")
    check(all("output" not in x for x in j["jobs"]), f"jobs lists output: {j}")

    # The text form, from a one-command run of a fourth node.
    four = mesh.add(4)
    argv = [mesh.h.binary, "4"] + four.args + ["--wait-peers", "3", "--wait-timeout", "20",
                                               "-c", f"scatter {module()} count 0 5000 --chunk 1000"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"node 4 -c: exit {p.returncode}: {p.stdout} {p.stderr}")
    lines = p.stdout.splitlines()
    check(lines and lines[0] == str(count(0, 5000)), f"node 4 -c: first line {lines[:1]}")
    tags = [m for m in (re.fullmatch(r"\[node (\d+), (-?\d+)\.\.(-?\d+)\) stdout:", x)
                        for x in lines) if m]
    spans = sorted((int(m[2]), int(m[3])) for m in tags)
    check(spans and spans[0][0] == 0 and spans[-1][1] == 5000 and
          all(x[1] == y[0] for x, y in zip(spans, spans[1:])),
          f"node 4 -c: tags do not tile [0, 5000): {spans}\n{p.stdout}")
    check({int(m[1]) for m in tags} <= {1, 2, 3, 4}, f"node 4 -c: node ids {tags}")
    for m in tags:
        s, e = int(m[2]), int(m[3])
        i = lines.index(m[0])
        check(lines[i + 1] == f"count [{s}, {e}) = {count(s, e)}",
              f"node 4 -c: under {m[0]}: {lines[i + 1]!r}")
    log(f"  text: {len(tags)} tagged blocks")


def case_caps(mesh):
    nodes = mesh_of_three(mesh)
    # 100 bytes per item: 2000-item chunks write 200 KB each (past the slice cap unless the
    # worker cuts slices small), 40000 items write 4 MB (past the job cap).
    a, b = 0, 40000
    r = nodes[0].cmd(f"scatter {module()} chatty {a} {b} --chunk 2000", timeout=90)
    check(r.get("state") == "done", f"scatter answered {r}")
    check(r["result"] == b - a, f"result {r['result']}, want {b - a}")
    check(r["output_truncated"] is True, f"the job's output is not marked truncated")
    size = sum(len(blk["data"].encode()) for blk in r["output"])
    check(0 < size <= JOB_CAP, f"output of {size} bytes kept (cap {JOB_CAP})")
    for blk in r["output"]:
        check(len(blk["data"].encode()) <= SLICE_CAP, f"a block of {len(blk['data'])} bytes")
        if blk["stream"] == "stdout" and not blk["truncated"]:
            n = blk["end"] - blk["start"]
            check(len(blk["data"]) == 100 * n, f"slice [{blk['start']}, {blk['end']}) wrote "
                  f"{len(blk['data'])} bytes, want {100 * n}")
    cut = [blk for blk in r["output"] if blk["truncated"]]
    log(f"  {len(r['output'])} blocks, {size} bytes kept, {len(cut)} cut at the slice cap")
    # A slice that passed the cap: its stdout block is the cap's worth.
    big = nodes[0].cmd(f"scatter {module()} chatty 0 3000 --chunk 3000", timeout=60)
    check(big.get("state") == "done" and big["result"] == 3000, f"chatty 0 3000: {big}")
    cut = [blk for blk in big["output"] if blk["truncated"] and blk["stream"] == "stdout"]
    if cut:
        check(all(len(blk["data"]) <= SLICE_CAP for blk in cut), "a cut block past the cap")
    # Whatever the slicing, 300 KB over at most 3000 items in slices: either a slice was cut,
    # or the slices were small enough; in both cases nothing is past the cap.
    total = sum(len(blk["data"]) for blk in big["output"] if blk["stream"] == "stdout")
    check(total <= 3000 * 100, f"more stdout than was written: {total}")
    # The mesh still answers exactly.
    ok = nodes[1].cmd(f"scatter {module()} count 0 10000", timeout=60)
    check(ok.get("result") == count(0, 10000), f"count after caps: {ok}")


def case_exit(mesh):
    nodes = mesh_of_three(mesh)
    r = nodes[0].cmd(f"scatter {module()} quits 0 2000 --chunk 250", timeout=60)
    check("error" in r and "proc_exit(3)" in r["error"], f"quits answered {r}")
    check("\n" not in r["error"], f"the error is not one line: {r['error']!r}")
    errs = [blk for blk in r.get("output", []) if blk["stream"] == "stderr"]
    check(any(blk["data"] == "quitting at 500\n" and blk["start"] <= 500 < blk["end"]
              for blk in errs), f"the failing slice's stderr is not in the output: {r}")
    log(f"  -> {r['error']}")
    ok = nodes[0].cmd(f"scatter {module()} count 0 20000", timeout=60)
    check(ok.get("result") == count(0, 20000), f"count after the exit: {ok}")
    for n in nodes:
        check(n.running(), f"{n.name} is down")


def case_resume(mesh):
    nodes = [mesh.add(i, slots=1) for i in (1, 2, 3)]
    mesh.form(nodes, "3 nodes")
    coord = nodes[0]
    n = 3_000_000_000  # about 10 s on three slots, natively; longer while interpreted
    r = coord.cmd(f"scatter {module()} count 0 {n} --chunk 30000000 &")
    check(r.get("state") == "running", f"scatter & answered {r}")
    job = r["job"]

    def row():
        rows = [j for j in coord.cmd("jobs")["jobs"] if j["job"] == job]
        check(rows and rows[0]["state"] == "running", f"job {job} ended too soon: {rows}")
        return rows[0]
    def tenth():
        x = row()
        return x["items_done"] >= n // 10, x["items_done"]
    wait_for("a tenth of the job done", tenth, 90, interval=0.1)
    time.sleep(0.3)  # what was committed is journaled within 50 ms
    coord.signal(signal.SIGKILL)
    check(coord.wait_exit(5) == -signal.SIGKILL, "the coordinator did not die of SIGKILL")
    coord.start()
    mesh.form(nodes, "after the restart")
    r = coord.cmd(f"wait {job}", timeout=110)
    check(r.get("state") == "done", f"wait {job} after the restart: {r}")
    check(r["resumed"] is True, f"job {job} is not marked resumed: {r}")
    check(r["result"] == count(0, n), f"result {r['result']}, want {count(0, n)}")
    check(r["output_lost"] is True, f"the output before the restart is not marked lost: {r}")
    at = -1
    for blk in r["output"]:
        s, e = blk["start"], blk["end"]
        check(s >= at, f"blocks overlap or are out of order at {blk}")
        check(blk["data"] == f"count [{s}, {e}) = {count(s, e)}\n", f"block {blk}")
        at = e
    log(f"  resumed and exact; {len(r['output'])} blocks after the restart")


CASES = {"output": case_output, "caps": case_caps, "exit": case_exit, "resume": case_resume}


def main():
    global WASM
    if len(sys.argv) > 2:
        WASM = os.path.abspath(sys.argv[2])
    return run_homes_cases(__doc__, CASES, "wasi-scatter", bugs)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
