#!/usr/bin/env python3
# The WASI preview 1 test suite (../shared/wasi-testsuite) through `velum run`, on one engine:
# each test's spec (args, env, preopened root, exit code, output) checked, exclusions from docs.
"""Usage: wasi_suite.py --velum PATH --suite DIR --engine interp|aot [--exclusions FILE]
                     [--test NAME]... [--json FILE] [--timeout S] [--verbose]

Runs every NAME.wasm of DIR/c and DIR/rust as a WASI command with `velum run`, as the
suite's SPECIFICATION.md says: `root` (copied to a temporary folder first, since tests
create, rename and delete files there) preopened read-write as the guest's `/`, `args`
after the file, `env` as `--env`. A test passes when its exit code, and its stdout and
stderr where the spec gives them, are as expected. Exclusions are the rows of the table
under "## WASI" in docs/CONFORMANCE.md: `| suite/test | engines | reason |`; an excluded
test that passes is an error too, so the list stays true. Exit: 0 all as expected, 1 not,
2 usage.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def load_exclusions(path, engine):
    """{ 'c/name': reason } for the engine, from the WASI table of CONFORMANCE.md."""
    out = {}
    if not path:
        return out
    in_wasi = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                in_wasi = line.strip().startswith("## WASI")
                continue
            if not in_wasi:
                continue
            m = re.match(r"^\|\s*`?((?:c|rust)/[\w.-]+)`?\s*\|\s*([\w, ]+)\|\s*(.+?)\s*\|\s*$", line)
            if not m:
                continue
            engines = {e.strip() for e in m.group(2).split(",")}
            if engine in engines or "both" in engines:
                out[m.group(1)] = m.group(3)
    return out


def spec_of(wasm):
    spec = {"args": [], "env": {}, "root": None, "exit_code": 0}
    path = wasm[: -len(".wasm")] + ".json"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            spec.update(json.load(f))
    return spec


def clean(folder):
    """Removes every *.cleanup left in the suite's folder (SPECIFICATION.md), if writable."""
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            if name.endswith(".cleanup"):
                p = os.path.join(root, name)
                try:
                    shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
                except OSError:
                    pass


def run_one(args, suite_dir, name, tmp):
    wasm = os.path.join(suite_dir, name + ".wasm")
    spec = spec_of(wasm)
    cmd = [args.velum, "run", "--engine", args.engine, "--timeout", str(args.timeout * 1000)]
    if spec.get("root"):
        root = os.path.join(tmp, "root")
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(os.path.join(suite_dir, spec["root"]), root, symlinks=True)
        clean(root)
        # The suite's folder is read-only, and copies keep its modes: the copy is the test's own.
        for here, dirs, files in os.walk(root):
            for n in [here] + [os.path.join(here, f) for f in dirs + files]:
                if not os.path.islink(n):
                    os.chmod(n, os.stat(n).st_mode | 0o200)
        cmd += ["--dir", root + "::/"]
    for k, v in sorted(spec.get("env", {}).items()):
        cmd += ["--env", f"{k}={v}"]
    cmd += [wasm] + [str(a) for a in spec.get("args", [])]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=args.timeout + 30)
        code, out, err = p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode(
            "utf-8", "replace")
    except subprocess.TimeoutExpired:
        code, out, err = None, "", "killed after %d s" % (args.timeout + 30)
    elapsed = time.monotonic() - start
    problems = []
    want = spec.get("exit_code", 0)
    if code != want:
        problems.append(f"exit code {code}, expected {want}")
    for stream, got in (("stdout", out), ("stderr", err)):
        if spec.get(stream) and got != spec[stream]:
            problems.append(f"{stream} {got[:200]!r}, expected {spec[stream][:200]!r}")
    return {"test": name, "ok": not problems, "problems": problems, "stderr": err[-2000:],
            "elapsed_s": round(elapsed, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--velum", required=True)
    ap.add_argument("--suite", required=True)
    ap.add_argument("--engine", choices=["interp", "aot"], default="interp")
    ap.add_argument("--exclusions")
    ap.add_argument("--test", action="append", default=[], help="suite/name, e.g. c/lseek")
    ap.add_argument("--part", choices=["c", "rust"], action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per test")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(args.suite) or not os.access(args.velum, os.X_OK):
        print(f"wasi_suite: no suite at {args.suite} or no velum at {args.velum}", file=sys.stderr)
        return 2
    excluded = load_exclusions(args.exclusions, args.engine)
    results, unexpected = [], 0
    with tempfile.TemporaryDirectory(prefix="velum-wasi-suite-") as tmp:
        for part in args.part or ["c", "rust"]:
            suite_dir = os.path.join(args.suite, part)
            for file in sorted(os.listdir(suite_dir)):
                if not file.endswith(".wasm"):
                    continue
                name = part + "/" + file[: -len(".wasm")]
                if args.test and name not in args.test:
                    continue
                r = run_one(args, suite_dir, file[: -len(".wasm")], tmp)
                r["test"] = name
                reason = excluded.get(name)
                if r["ok"] and reason:
                    status, bad = "XPASS", True
                    r["problems"] = ["passes, but docs/CONFORMANCE.md excludes it: " + reason]
                elif r["ok"]:
                    status, bad = "PASS", False
                elif reason:
                    status, bad = "EXCL", False
                else:
                    status, bad = "FAIL", True
                unexpected += bad
                r["status"] = status
                results.append(r)
                print(f"{status:5} {args.engine:6} {name:45} {r['elapsed_s']:7.2f}s", flush=True)
                if bad or args.verbose:
                    for p in r["problems"]:
                        print(f"      {p}")
                    if not r["ok"] and r["stderr"].strip():
                        tail = r["stderr"].strip().splitlines()[-3:]
                        print("      stderr: " + " | ".join(tail))
    counts = {s: sum(r["status"] == s for r in results) for s in ("PASS", "FAIL", "EXCL", "XPASS")}
    missing = sorted(set(excluded) - {r["test"] for r in results})
    if not args.test and not args.part and missing:
        print("excluded tests that do not exist: " + ", ".join(missing))
        unexpected += len(missing)
    print(f"TOTAL {len(results)} tests on {args.engine}: {counts['PASS']} passed, "
          f"{counts['EXCL']} excluded, {counts['FAIL']} failed, {counts['XPASS']} passed "
          f"though excluded")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"engine": args.engine, "counts": counts, "results": results}, f, indent=1)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
