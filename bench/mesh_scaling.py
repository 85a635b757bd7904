#!/usr/bin/env python3
"""Mesh scaling (issue 4): Monte Carlo pi (pi.wasm pi_hits) and primes (primes.wasm
count_primes) scattered over 1, 2, 4 and 8 node processes on loopback, each with --slots 1
(one worker per node, as in the original), all sharing one private temporary home.

Usage: mesh_scaling.py [--build DIR] [--out FILE] [--charts DIR] [--reps N] [--nodes 1,2,4,8]
BENCH_QUICK=1: small ranges and one repetition (a check that everything works, not figures).

The mesh grows (1 node, then 2, 4, 8); on each size one untimed run of each kernel over a
tenth of its range comes first (the very first compiles the module into the shared AOT cache;
later ones load it in the new nodes' executors), then each kernel runs --reps times, the
kernels alternating. Every run must give the exact answer (computed natively beforehand;
primes also by a sieve in Python) with every item counted once, or the script fails. Times
are the coordinator's elapsed_ms (submit to result). Writes FILE (JSON) and, with gnuplot,
DIR/scaling_pi.png and DIR/scaling_primes.png (time and speedup against nodes)."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_bench_lib import (CORES, Build, SharedHomeMesh, check, expected_answer,  # noqa: E402
                            loadavg, log, median, quick, run_main, scatter, write_json)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# Full ranges: at least ~5 s on one node here (pi at ~0.55 G samples/s, primes at ~5 M/s).
KERNELS_FULL = {
    "pi": ("pi", "pi_hits", -2000000000, 2000000000),  # 4e9 samples (the original: 2e9)
    "primes": ("primes", "count_primes", 0, 25000000),
}
KERNELS_QUICK = {
    "pi": ("pi", "pi_hits", 0, 200000000),
    "primes": ("primes", "count_primes", 0, 3000000),
}


def summarize(kernel, nodes, runs, base):
    """One row of the table: medians over the runs and the median run's per-node split."""
    times = sorted(r["elapsed_ms"] for r in runs)
    t = median(times)
    mid = min(runs, key=lambda r: abs(r["elapsed_ms"] - t))
    items = runs[0]["items_total"]
    busy = sum(w["seconds"] for w in mid["workers"]) or 1
    row = {
        "kernel": kernel, "nodes": nodes, "runs_ms": [r["elapsed_ms"] for r in runs],
        "time_s": t / 1000, "items": items, "items_per_s": items / (t / 1000),
        "split": [{"id": w["id"], "items": w["items"], "share": w["items"] / items,
                   "time_share": w["seconds"] / busy, "chunks": w["chunks"],
                   "seconds": w["seconds"], "items_per_s": w["items_per_s"]}
                  for w in mid["workers"]],
        # Of the median run: CPU seconds of the nodes and executors, the cores that makes on
        # average over the run, items per CPU-second, and how busy the workers' slots were.
        "cpu_s": mid["cpu_s"], "cores_used": mid["cpu_s"] / (mid["elapsed_ms"] / 1000),
        "items_per_cpu_s": items / mid["cpu_s"] if mid["cpu_s"] else None,
        "slots_busy": busy / (nodes * mid["elapsed_ms"] / 1000),
        "chunks": mid["chunks"], "backups": mid["backups"], "recomputed": mid["recomputed"],
        "result": mid["result"],
    }
    if base:
        row["speedup"] = base["time_s"] / row["time_s"]
        row["efficiency_cores"] = row["speedup"] / min(nodes, CORES)
        row["efficiency_nodes"] = row["speedup"] / nodes
    return row


def title(kernel, data):
    """The chart's title: what ran, when, and how loaded the machine was."""
    kk = data["kernels"][kernel]
    loads = [data["loadavg_before"][0]] + [x["loadavg"][0] for x in data["loadavg_by_size"]]
    return (f"{kernel}: {kk['func']} over {kk['end'] - kk['start']:.3g} items, node processes on "
            f"loopback, {data['cores']} cores; {data['when'][:16]}, load {min(loads):.1f}-"
            f"{max(loads):.1f}{' (BENCH_QUICK)' if data['quick'] else ''}")


def chart(kernel, rows, charts_dir, title):
    """A PNG with two panels: time against nodes, speedup against nodes (with the ideal
    lines: linear in nodes, and bounded by the cores)."""
    gnuplot = shutil.which("gnuplot")
    check(gnuplot, "gnuplot is not installed (scripts/install-deps installs gnuplot-nox)")
    os.makedirs(charts_dir, exist_ok=True)
    dat = os.path.join(charts_dir, f"scaling_{kernel}.dat")
    png = os.path.join(charts_dir, f"scaling_{kernel}.png")
    with open(dat, "w") as f:
        f.write("# nodes time_s speedup ideal_nodes ideal_cores\n")
        for r in rows:
            f.write(f"{r['nodes']} {r['time_s']:.4f} {r['speedup']:.4f} {r['nodes']} "
                    f"{min(r['nodes'], CORES)}\n")
    top = max(r["nodes"] for r in rows)
    script = f"""
set terminal pngcairo noenhanced size 1100,420 font ",10"
set output '{png}'
set multiplot layout 1,2 title "{title}"
set grid
set key top right
set xrange [0.5:{top + 0.5}]
set xtics (1, 2, 4, 8)
set xlabel 'nodes (1 worker each, {CORES} cores)'
set ylabel 'time (s)'
set yrange [0:*]
set title 'time'
set key bottom left
plot '{dat}' using 1:2 with linespoints lw 2 pt 7 title 'measured', \\
     '' using 1:({rows[0]['time_s']:.4f} / $5) with lines dt 2 title 'ideal on {CORES} cores'
set ylabel 'speedup vs 1 node'
set key top left
set yrange [0:{top + 0.5}]
set title 'speedup'
plot '{dat}' using 1:3 with linespoints lw 2 pt 7 title 'measured', \\
     '' using 1:4 with lines dt 3 title 'linear (nodes)', \\
     '' using 1:5 with lines dt 2 title 'bound: min(nodes, {CORES} cores)'
unset multiplot
"""
    subprocess.run([gnuplot], input=script, text=True, check=True)
    log(f"wrote {png}")
    return png


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None, help="JSON (default BUILD/bench/mesh_scaling.json)")
    ap.add_argument("--charts", default=None, help="PNG directory (default BUILD/bench/charts)")
    ap.add_argument("--reps", type=int, default=1 if quick() else 3)
    ap.add_argument("--nodes", default="1,2,4,8")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the charts of an earlier run")
    args = ap.parse_args()
    if args.replot:
        data = json.load(open(args.replot))
        for k, rows in data["results"].items():
            chart(k, rows, args.charts or os.path.dirname(os.path.abspath(args.replot)) + "/charts",
                  title(k, data))
        return
    build = Build(args.build)
    out = args.out or os.path.join(build.dir, "bench", "mesh_scaling.json")
    charts_dir = args.charts or os.path.join(build.dir, "bench", "charts")
    counts = sorted(int(x) for x in args.nodes.split(","))
    kernels = KERNELS_QUICK if quick() else KERNELS_FULL

    load_before = loadavg()
    log(f"load average {load_before}, {CORES} cores, nodes {counts}, {args.reps} reps"
        + (" (BENCH_QUICK)" if quick() else ""))
    want = {k: expected_answer(build, func, a, b) for k, (_, func, a, b) in kernels.items()}
    lines = {k: f"{build.wasm(mod)} {func} {a} {b}" for k, (mod, func, a, b) in kernels.items()}
    warm = {k: f"{build.wasm(mod)} {func} {a} {a + (b - a) // 10}"
            for k, (mod, func, a, b) in kernels.items()}
    warm_want = {k: expected_answer(build, func, a, a + (b - a) // 10)
                 for k, (_, func, a, b) in kernels.items()}

    mesh = SharedHomeMesh(build, "scaling")
    results = {k: [] for k in kernels}
    loads = []
    try:
        for n in counts:
            for i in range(len(mesh.nodes) + 1, n + 1):
                mesh.add(i, slots=1)
            mesh.form()
            coordinator = mesh.nodes[1]
            for k in kernels:  # untimed: AOT cache warm, module loaded in every executor
                r = scatter(coordinator, warm[k], warm_want[k], timeout=600)
                log(f"  {n} nodes, warm-up {k}: {r['elapsed_ms']:.0f} ms")
            runs = {k: [] for k in kernels}
            for rep in range(args.reps):
                for k in kernels:
                    cpu0 = mesh.cpu_seconds()
                    r = scatter(coordinator, lines[k], want[k], timeout=1200)
                    r["cpu_s"] = mesh.cpu_seconds() - cpu0
                    check(len(r["workers"]) == n and all(w["items"] > 0 for w in r["workers"]),
                          f"{k} on {n} nodes: not every node worked: {r['workers']}")
                    runs[k].append(r)
                    split = [(w["id"], round(w["items"] / r["items_total"], 3))
                             for w in r["workers"]]
                    log(f"  {n} nodes, {k} run {rep + 1}: {r['elapsed_ms'] / 1000:.2f} s, "
                        f"split {split}")
            loads.append({"nodes": n, "loadavg": loadavg()})
            for k in kernels:
                base = results[k][0] if results[k] else None
                results[k].append(summarize(k, n, runs[k], base))
    except Exception:
        mesh.dump_logs()
        raise
    finally:
        mesh.close(keep=args.keep)

    for k in kernels:
        results[k][0].update(speedup=1.0, efficiency_cores=1.0, efficiency_nodes=1.0)
    checks = {}
    for k in kernels:
        by = {r["nodes"]: r for r in results[k]}
        if 1 in by and 2 in by:
            checks[f"{k}_2_nodes_speedup_ge_1.9"] = {"value": by[2]["speedup"],
                                                      "met": by[2]["speedup"] >= 1.9}
        if 2 in by and 8 in by:
            kept = by[8]["items_per_s"] / by[2]["items_per_s"]
            checks[f"{k}_8_nodes_keep_ge_95pct_of_2"] = {"value": kept, "met": kept >= 0.95}

    data = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick(), "cores": CORES,
            "reps": args.reps, "loadavg_before": load_before, "loadavg_after": loadavg(),
            "loadavg_by_size": loads,
            "kernels": {k: {"module": v[0], "func": v[1], "start": v[2], "end": v[3],
                            "expected": want[k]} for k, v in kernels.items()},
            "results": results, "targets": checks,
            "command": "bench/mesh_scaling.py " + " ".join(sys.argv[1:])}
    write_json(out, data)

    print()
    print(f"Mesh scaling ({CORES} cores, --slots 1 per node, median of {args.reps}; "
          f"load {load_before} -> {data['loadavg_after']}):")
    for k in kernels:
        _, func, a, b = kernels[k]
        print(f"  {k}: {func} [{a}, {b}) = {want[k]}")
        print(f"    {'nodes':>5} {'time s':>8} {'speedup':>8} {'eff/cores':>9} {'eff/nodes':>9} "
              f"{'items/s':>10} {'cores':>6} {'items/cpu-s':>11} {'busy':>5}  split")
        for r in results[k]:
            split = " ".join(f"{w['id']}:{w['share'] * 100:.0f}%" for w in r["split"])
            print(f"    {r['nodes']:>5} {r['time_s']:>8.2f} {r['speedup']:>7.2f}x "
                  f"{r['efficiency_cores']:>9.2f} {r['efficiency_nodes']:>9.2f} "
                  f"{r['items_per_s'] / 1e6:>9.1f}M {r['cores_used']:>6.2f} "
                  f"{(r['items_per_cpu_s'] or 0) / 1e6:>10.1f}M {r['slots_busy']:>5.2f}  "
                  f"items: {split}")
            busy = " ".join(f"{w['id']}:{w['time_share'] * 100:.0f}%" for w in r["split"])
            print(f"    {'':>74}  executor time: {busy}")
        chart(k, results[k], charts_dir, title(k, data))
    for name, c in checks.items():
        print(f"  {name}: {c['value']:.3f}  [{'met' if c['met'] else 'MISSED'}]")


if __name__ == "__main__":
    run_main(main)
