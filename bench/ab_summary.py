#!/usr/bin/env python3
# Table of medians for scripts/bench-ab: old and new runs of the runtime, call and dispatch
# benchmarks, read from DIR/{rt,calls,disp}-{old,new}-ROUND.json, with the ratio new / old.
"""Usage: ab_summary.py DIR"""
import glob
import json
import statistics
import sys

DIR = sys.argv[1] if len(sys.argv) > 1 else "."
TIME_SCALE_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def rounds():
    """The rounds that have every file of both sides (a round still running is left out)."""
    complete = []
    for path in glob.glob(f"{DIR}/disp-new-*.json"):
        r = path.rsplit("-", 1)[1][:-len(".json")]
        try:
            for kind in ("rt", "calls", "disp"):
                for side in ("old", "new"):
                    with open(f"{DIR}/{kind}-{side}-{r}.json") as f:
                        json.load(f)
        except (OSError, ValueError):
            continue
        complete.append(int(r))
    return sorted(complete)


ROUNDS = rounds()


def load(kind, side):
    """The JSON of one kind and side, one per complete round, in round order."""
    out = []
    for r in ROUNDS:
        with open(f"{DIR}/{kind}-{side}-{r}.json") as f:
            out.append(json.load(f))
    return out


def bench_values(kind, side, name, key):
    """One value per run of benchmark `name`: a counter, or real time in ms ("real_ms")."""
    values = []
    for data in load(kind, side):
        for b in data["benchmarks"]:
            if b.get("error_occurred") or not (b["name"] == name or b["name"].startswith(name + "/")):
                continue
            if key == "real_ms":
                values.append(b["real_time"] * TIME_SCALE_MS[b["time_unit"]])
            elif key in b:
                values.append(b[key])
    return values


def rate_m(name):
    return lambda side: [v / 1e6 for v in bench_values("rt", side, name, "items_per_second")]


def rt(name, key):
    return lambda side: bench_values("rt", side, name, key)


def calls(name, key):
    return lambda side: bench_values("calls", side, name, key)


def dispatch(key):
    return lambda side: [d["rows"][0][key] for d in load("disp", side)]


ROWS = [
    ("primes/aot, M items per CPU-s", rate_m("primes/aot")),
    ("primes/native, M items per CPU-s", rate_m("primes/native")),
    ("pi/aot, M items per CPU-s", rate_m("pi/aot")),
    ("pi/native, M items per CPU-s", rate_m("pi/native")),
    ("pool_sum/aot p50 us", rt("pool_sum/aot", "p50_us")),
    ("pool_sum/aot p99 us", rt("pool_sum/aot", "p99_us")),
    ("pool_sum/interp p50 us", rt("pool_sum/interp", "p50_us")),
    ("pool_sum/interp p99 us", rt("pool_sum/interp", "p99_us")),
    ("pool_startup: Start() us", rt("pool_startup", "start_us")),
    ("pool_startup: Start() + first answer ms", rt("pool_startup", "real_ms")),
    ("pool_idle_rss: until both slots answered ms", rt("pool_idle_rss", "real_ms")),
    ("idle executor VmRSS KiB", rt("pool_idle_rss", "idle_rss_kib")),
    ("idle executor Pss KiB", rt("pool_idle_rss", "idle_pss_kib")),
    ("pool_rebind p50 us", rt("pool_rebind", "p50_us")),
    ("remote call p50 us", calls("mesh_sum/remote", "p50_us")),
    ("remote call p99 us", calls("mesh_sum/remote", "p99_us")),
    ("local call p50 us", calls("mesh_sum/local", "p50_us")),
    ("dispatch, elapsed per chunk us (2 nodes)", dispatch("per_chunk_us")),
    ("dispatch, overhead per chunk us", dispatch("overhead_per_chunk_us")),
    ("dispatch, CPU per chunk us", dispatch("cpu_us_per_chunk")),
    ("dispatch, executor per chunk us", dispatch("executor_us_per_chunk")),
]


def fmt(x):
    return "-" if x is None else (f"{x:.1f}" if x < 1000 else f"{x:.0f}")


def spread(xs):
    return f"{fmt(min(xs))}-{fmt(max(xs))}" if xs else "-"


print(f"{len(ROUNDS)} rounds. new / old: ratio of the medians; paired: median of the ratios of the")
print("two runs of each round (old and new ran back to back, so both saw the same load).")
print()
print("| metric | old median | new median | new / old | paired | old range | new range |")
print("|---|---|---|---|---|---|---|")
for label, values in ROWS:
    old, new = values("old"), values("new")
    mo = statistics.median(old) if old else None
    mn = statistics.median(new) if new else None
    ratio = f"{mn / mo:.2f}x" if mo and mn else "-"
    pairs = [n / o for o, n in zip(old, new) if o] if len(old) == len(new) else []
    paired = f"{statistics.median(pairs):.2f}x" if pairs else "-"
    print(f"| {label} | {fmt(mo)} | {fmt(mn)} | {ratio} | {paired} "
          f"| {spread(old)} | {spread(new)} |")
