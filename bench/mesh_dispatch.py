#!/usr/bin/env python3
"""Dispatch overhead per chunk: scatter of noop.wasm noop (returns end - start: the cheapest
checkable export) over [0, 10000) with --chunk 1, i.e. 10 000 chunks, on 2 and 4 node
processes on loopback (--slots 1 each, one private shared home).

Usage: mesh_dispatch.py [--build DIR] [--out FILE] [--reps N] [--nodes 2,4] [--chunks N]
BENCH_QUICK=1: 1000 chunks, one repetition.

Per run: elapsed / chunks, and (elapsed - ideal) / chunks where ideal = the executor time the
workers reported (the calls themselves), summed and divided by the nodes: what a dispatch
that cost nothing would take. One untimed warm-up run per mesh size. Every run must answer
exactly the range's length, in exactly that many chunks, or the script fails."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_bench_lib import (CORES, Build, SharedHomeMesh, check, loadavg, log,  # noqa: E402
                            quick, run_main, scatter, write_json)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGET_US = 100  # per chunk


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None, help="JSON (default BUILD/bench/mesh_dispatch.json)")
    ap.add_argument("--reps", type=int, default=1 if quick() else 3)
    ap.add_argument("--nodes", default="2,4")
    ap.add_argument("--chunks", type=int, default=1000 if quick() else 10000)
    args = ap.parse_args()
    build = Build(args.build)
    out = args.out or os.path.join(build.dir, "bench", "mesh_dispatch.json")
    counts = sorted(int(x) for x in args.nodes.split(","))
    n_chunks = args.chunks
    line = f"{build.wasm('noop')} noop 0 {n_chunks} --chunk 1"

    load_before = loadavg()
    log(f"load average {load_before}; noop over [0, {n_chunks}) --chunk 1 on {counts} nodes")
    mesh = SharedHomeMesh(build, "dispatch")
    rows = []
    try:
        for n in counts:
            for i in range(len(mesh.nodes) + 1, n + 1):
                mesh.add(i, slots=1)
            mesh.form()
            coordinator = mesh.nodes[1]
            scatter(coordinator, line, n_chunks, timeout=600)  # untimed warm-up
            runs = []
            for rep in range(args.reps):
                cpu0 = mesh.cpu_seconds()
                r = scatter(coordinator, line, n_chunks, timeout=600)
                cpu_us = (mesh.cpu_seconds() - cpu0) * 1e6
                check(r["chunks"] == n_chunks, f"{r['chunks']} chunks, want {n_chunks}")
                check(len(r["workers"]) == n and all(w["chunks"] > 0 for w in r["workers"]),
                      f"not every node worked: {r['workers']}")
                elapsed_us = r["elapsed_ms"] * 1000
                exec_us = sum(w["seconds"] for w in r["workers"]) * 1e6
                ideal_us = exec_us / n
                run = {"elapsed_ms": r["elapsed_ms"], "chunks": r["chunks"],
                       "per_chunk_us": elapsed_us / n_chunks,
                       "overhead_per_chunk_us": (elapsed_us - ideal_us) / n_chunks,
                       "executor_us_per_chunk": exec_us / n_chunks, "ideal_ms": ideal_us / 1000,
                       # CPU of every node and executor (coordinator, workers, calls) per
                       # chunk: what a chunk costs the machine, whatever else runs on it.
                       "cpu_us_per_chunk": cpu_us / n_chunks,
                       "split": [{"id": w["id"], "chunks": w["chunks"]} for w in r["workers"]],
                       "backups": r["backups"], "retries": r["retries"]}
                runs.append(run)
                log(f"  {n} nodes run {rep + 1}: {r['elapsed_ms']:.0f} ms, "
                    f"{run['per_chunk_us']:.0f} us/chunk, overhead "
                    f"{run['overhead_per_chunk_us']:.0f} us/chunk, executor "
                    f"{run['executor_us_per_chunk']:.0f} us/chunk, CPU "
                    f"{run['cpu_us_per_chunk']:.0f} us/chunk")
            mid = sorted(runs, key=lambda x: x["elapsed_ms"])[len(runs) // 2]
            rows.append({"nodes": n, "runs": runs, "elapsed_ms": mid["elapsed_ms"],
                         "per_chunk_us": mid["per_chunk_us"],
                         "overhead_per_chunk_us": mid["overhead_per_chunk_us"],
                         "executor_us_per_chunk": mid["executor_us_per_chunk"],
                         "cpu_us_per_chunk": mid["cpu_us_per_chunk"],
                         "ideal_ms": mid["ideal_ms"], "split": mid["split"],
                         "met": mid["overhead_per_chunk_us"] <= TARGET_US,
                         "loadavg": loadavg()})
    except Exception:
        mesh.dump_logs()
        raise
    finally:
        mesh.close()

    data = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick(), "cores": CORES,
            "reps": args.reps, "chunks": n_chunks, "loadavg_before": load_before,
            "loadavg_after": loadavg(), "target_us_per_chunk": TARGET_US, "rows": rows,
            "command": "bench/mesh_dispatch.py " + " ".join(sys.argv[1:])}
    write_json(out, data)
    print()
    print(f"Dispatch: noop over [0, {n_chunks}) --chunk 1, median of {args.reps} "
          f"(load {load_before} -> {data['loadavg_after']}):")
    print(f"  {'nodes':>5} {'elapsed':>9} {'per chunk':>10} {'overhead':>9} {'executor':>9} "
          f"{'CPU':>7}  split")
    for r in rows:
        split = " ".join(f"{w['id']}:{w['chunks']}" for w in r["split"])
        print(f"  {r['nodes']:>5} {r['elapsed_ms']:>7.0f}ms {r['per_chunk_us']:>8.0f}us "
              f"{r['overhead_per_chunk_us']:>7.0f}us {r['executor_us_per_chunk']:>7.0f}us "
              f"{r['cpu_us_per_chunk']:>5.0f}us  {split}"
              f"  [{'met' if r['met'] else 'MISSED'}: (elapsed - ideal) / chunk <= {TARGET_US} us]")


if __name__ == "__main__":
    run_main(main)
