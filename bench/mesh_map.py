#!/usr/bin/env python3
"""The map benchmark (issue 12): examples/wasi/checksum.c over 10 000 small files, on 1, 2
and 4 node processes (each with its own home, so inputs really travel), against `xargs -P 2`
(and GNU parallel when installed) running the native build of the same program on the same
files, each writing every output to a folder; then 1 GB of inputs on 2 nodes: throughput and
the node processes' peak memory (VmHWM).

Usage: bench/mesh_map.py --build DIR [--items N] [--big-mib M]   (BENCH_QUICK=1: small)
Writes DIR/bench/mesh_map.json."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_bench_lib import check, loadavg, log, quick, run_main, wait_for, write_json  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from mesh_lib import HomesMesh  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "examples", "wasi", "checksum.c")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def shell_runner(tmp, native, inputs, out, how):
    """The native program once per file, 2 at a time, its output into out/NAME."""
    os.makedirs(out)
    script = f'VELUM_INPUT="${{1##*/}}" "{native}" < "$1" > "{out}/${{1##*/}}"'
    files = "\n".join(os.path.join(inputs, n) for n in sorted(os.listdir(inputs))) + "\n"
    if how == "xargs":
        argv = ["xargs", "-P", "2", "-n", "1", "-d", "\n", "sh", "-c", script, "_"]
    else:
        argv = ["parallel", "-j", "2", "sh", "-c", script, "_", "{}"]
    t0 = time.monotonic()
    subprocess.run(argv, input=files.encode(), check=True)
    return time.monotonic() - t0


def body():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--items", type=int, default=200 if quick() else 10000)
    ap.add_argument("--big-mib", type=int, default=64 if quick() else 1024)
    a = ap.parse_args()
    node_bin = os.path.abspath(os.path.join(a.build, "node"))
    wasm = os.path.abspath(os.path.join(a.build, "wasm", "wasi_checksum.wasm"))
    tmp = tempfile.mkdtemp(prefix="velum-bench-map-")
    result = {"load_before": loadavg(), "items": a.items, "cores": os.cpu_count()}
    try:
        native = os.path.join(tmp, "checksum-native")
        subprocess.run(["cc", "-O2", "-o", native, SRC], check=True)
        inputs = os.path.join(tmp, "in")
        os.makedirs(inputs)
        for i in range(a.items):
            with open(os.path.join(inputs, f"{i:05d}"), "wb") as f:
                f.write(f"{i}\n".encode())
        runners = ["xargs"] + (["parallel"] if shutil.which("parallel") else [])
        for how in runners:
            secs = shell_runner(tmp, native, inputs, os.path.join(tmp, f"out-{how}"), how)
            result[f"{how}_s"] = secs
            result[f"{how}_items_per_s"] = a.items / secs
            log(f"{how} -P 2, native: {a.items} items in {secs:.2f} s, "
                f"{a.items / secs:.0f} items/s")
        want = {}
        for n in ("00000", f"{a.items // 2:05d}", f"{a.items - 1:05d}"):
            with open(os.path.join(tmp, "out-xargs", n), "rb") as f:
                want[n] = f.read()

        for count in (1, 2, 4):
            mtmp = os.path.join(tmp, f"mesh{count}")
            os.makedirs(mtmp)
            mesh = HomesMesh(node_bin, mtmp)
            slots = 2 if count == 1 else 1  # 2 slots in all on 2 cores, or 4 for 4 nodes
            try:
                nodes = [mesh.add(i, slots=slots) for i in range(1, count + 1)]
                mesh.form(nodes, "bench")
                for n in nodes:  # each node has the program compiled before the clock starts
                    wait_for(f"node {n.id} to run checksum natively",
                             lambda n=n: (lambda r: (r.get("engine") == "aot", r))(
                                 nodes[0].cmd(f"wasm --node {n.id} --stdin {SRC} {wasm}",
                                              timeout=60)), 120, interval=0.5)
                for run in ("first", "again"):
                    out = os.path.join(mtmp, f"out-{run}")
                    t0 = time.monotonic()
                    r = nodes[0].cmd(f"map --out {out} {wasm} ::: {inputs}", timeout=1800)
                    secs = time.monotonic() - t0
                    check(r.get("ok") == a.items and not r.get("failed"), f"map: {r}")
                    for name, data in want.items():
                        with open(os.path.join(out, name), "rb") as f:
                            check(f.read() == data, f"output {name} differs from native")
                    total_slots = slots * count
                    key = f"mesh{count}_{run}"
                    result[key + "_s"] = secs
                    result[key + "_items_per_s"] = a.items / secs
                    result[key + "_slot_us_per_item"] = secs * total_slots / a.items * 1e6
                    result[key + "_workers"] = r["workers"]
                    log(f"map on {count} node(s) ({total_slots} slots), {run} run"
                        f"{' (inputs travel)' if run == 'first' else ' (inputs kept)'}: "
                        f"{secs:.2f} s, {a.items / secs:.0f} items/s, "
                        f"{secs * total_slots / a.items * 1e6:.0f} slot-us per item; "
                        f"by node {[(w['node'], w['items']) for w in r['workers']]}")
            finally:
                mesh.h.cleanup()
        for count in (1, 2, 4):
            result[f"mesh{count}_vs_xargs"] = (result[f"mesh{count}_again_items_per_s"] /
                                              result["xargs_items_per_s"])
            log(f"map on {count} node(s) / xargs -P 2: "
                f"{result[f'mesh{count}_vs_xargs']:.2f}x (inputs kept), "
                f"{result[f'mesh{count}_first_items_per_s'] / result['xargs_items_per_s']:.2f}x "
                f"(inputs travel)")

        # 1 GB of inputs on 2 nodes: 8 files, each read and hashed by its worker.
        big = os.path.join(tmp, "big")
        os.makedirs(big)
        block = os.urandom(1 << 20)
        per = a.big_mib // 8
        for k in range(8):
            with open(os.path.join(big, f"part{k}"), "wb") as f:
                for i in range(per):
                    f.write(block[i % 997:] + block[:i % 997])
        mtmp = os.path.join(tmp, "meshbig")
        os.makedirs(mtmp)
        mesh = HomesMesh(node_bin, mtmp)
        try:
            nodes = [mesh.add(i, slots=1) for i in (1, 2)]
            mesh.form(nodes, "bench")
            for n in nodes:
                wait_for(f"node {n.id} to run checksum natively",
                         lambda n=n: (lambda r: (r.get("engine") == "aot", r))(
                             nodes[0].cmd(f"wasm --node {n.id} --stdin {SRC} {wasm}",
                                          timeout=60)), 120, interval=0.5)
            t0 = time.monotonic()
            r = nodes[0].cmd(f"map --out {mtmp}/out {wasm} ::: {big}", timeout=1800)
            secs = time.monotonic() - t0
            check(r.get("ok") == 8, f"map of 1 GB: {r}")
            mib = per * 8
            result.update({"big_mib": mib, "big_s": secs, "big_mib_per_s": mib / secs,
                           "big_workers": r["workers"],
                           "big_coordinator_peak_kib": peak_rss_kib(nodes[0].pid),
                           "big_worker_peak_kib": peak_rss_kib(nodes[1].pid)})
            log(f"map over {mib} MiB in 8 files on 2 nodes: {secs:.1f} s, {mib / secs:.0f} MiB/s "
                f"(by node {[(w['node'], w['items']) for w in r['workers']]}); peak RSS: "
                f"coordinator node {result['big_coordinator_peak_kib'] / 1024:.0f} MiB, "
                f"worker node {result['big_worker_peak_kib'] / 1024:.0f} MiB (node processes; "
                f"executors apart)")
        finally:
            mesh.h.cleanup()
        result["load_after"] = loadavg()
        path = os.path.join(a.build, "bench", "mesh_map.json")
        write_json(path, result)
        log(f"load {result['load_before']} -> {result['load_after']}; JSON: {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_main(body)
