#!/usr/bin/env python3
"""End-to-end tests of one vocabulary for ./velum and the node's shell, and of what the shell
shows of a job (issue 14), on real processes.

Usage: vocabulary_test.py NODE_BINARY WASM_DIR [same|text|cancel|all]

./velum is the program beside NODE_BINARY. `node 1 ... -c COMMAND` runs one command on a node
alone on loopback (its own free port and home, no discovery), printing text as a user sees it.

Cases:
  same    the same inputs to `velum run` and to the shell's `wasm` (via node -c) give the same
          answers: bare module names (primes), 0x10, 2e9, 1_000; the same refusal of an i32
          argument that does not fit; exit codes 0, 1 (missing export) and 2 (usage: unknown
          option, bad number, no arguments) from both; both --help list the exit codes
  text    scatter's text: the result, `(wall)` and `slot time` labelled apart, no recovery
          figures in a healthy run; `--reduce first` with no hit says `no hit`; `jobs` is an
          aligned table; `peers --all` accepted and `peers x` refused (2); velum inspect
          marks scatterable exports and hides toolchain ones (--all shows them); velum --time
          is a line of its own after the results
  cancel  a long scatter in the background, cancelled once it made progress: `jobs` and
          `wait` keep its items_done (above 0) and elapsed time"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import (KnownBugs, check, free_port, job_row, log, run_homes_cases,  # noqa: E402
                      submit, wait_for)

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None
NODE = None
VELUM = None


def velum(*args, env_home):
    env = dict(os.environ, VELUM_HOME=env_home)
    env.pop("VELUM_WASM_PATH", None)  # bare names must be found beside the program
    return subprocess.run([VELUM, *args], capture_output=True, text=True, timeout=60, env=env)


def node_c(mesh, command, stdin=None, extra=()):
    """`node 1 -c COMMAND` alone on loopback (None: the commands piped in `stdin`): the
    CompletedProcess."""
    home = os.path.join(mesh.tmp, "home-c")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ)
    env.pop("VELUM_WASM_PATH", None)
    argv = [NODE, "1", "--port", str(free_port()), "--no-broadcast", "--bind", "127.0.0.1",
            "--discovery-port", "0", "--home", home, "--cluster-key", mesh.key,
            "--slots", "0x2", *extra]  # 0x2: the node's own options take the forms too
    if command is not None:
        argv += ["-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env,
                          input=stdin if stdin is not None else "")


def case_same(mesh):
    home = os.path.join(mesh.tmp, "velum-home")
    # Bare names, and every integer form, give the same answers in both programs.
    for func, args, want in [("count_primes", "0 5e5", "41538"),
                             ("count_primes", "0 500_000", "41538"),
                             ("count_primes", "0x0 0x7a120", "41538")]:
        r = velum("run", "primes", func, *args.split(), env_home=home)
        check(r.returncode == 0 and r.stdout.strip() == want,
              f"velum run primes {func} {args}: exit {r.returncode}, {r.stdout!r} {r.stderr!r}")
        n = node_c(mesh, f"wasm primes {func} {args}")
        check(n.returncode == 0 and n.stdout.splitlines()[0] == want,
              f"node -c 'wasm primes {func} {args}': exit {n.returncode}, {n.stdout!r} {n.stderr!r}")
    r = velum("run", "sum", "sum", "0x10", "2e1", "1_0", env_home=home)
    check(r.stdout.strip() == "46", f"velum run sum sum 0x10 2e1 1_0: {r.stdout!r} {r.stderr!r}")
    n = node_c(mesh, "wasm sum sum 0x10 2e1 1_0")
    check(n.stdout.splitlines()[:1] == ["46"], f"wasm sum sum 0x10 2e1 1_0: {n.stdout!r}")
    # Counted options take the same forms in ./velum (CLI11), ./node and the shell.
    r = velum("run", "sum", "sum", "1", "2", "3", "--max-memory", "2e2", env_home=home)
    check(r.returncode == 0 and r.stdout.strip() == "6", f"--max-memory 2e2: {r.stderr!r}")
    r = velum("run", "sum", "sum", "1", "2", "3", "--max-memory", "0x100", env_home=home)
    check(r.returncode == 0 and r.stdout.strip() == "6", f"--max-memory 0x100: {r.stderr!r}")
    n = node_c(mesh, "wasm sum sum 1 2 3 --max-memory 0x100 --timeout 2.5")
    check(n.returncode == 0 and n.stdout.splitlines()[:1] == ["6"], f"wasm 0x100: {n.stderr!r}")
    n = node_c(mesh, "scatter primes count_primes 0 5e5 --chunk 1e5")
    check(n.returncode == 0 and n.stdout.splitlines()[:1] == ["41538"], f"--chunk 1e5: {n.stderr!r}")
    # The same refusals, the same exit codes.
    cases = [
        (["run", "primes", "count_primes", "0", "5e9"], "wasm primes count_primes 0 5e9", 2,
         "'5e9' does not fit in i32"),
        (["run", "primes", "count_primes", "0", "1.5"], "wasm primes count_primes 0 1.5", 2,
         "'1.5' is not a valid i32"),
        (["run", "primes", "count_primes"], "wasm primes count_primes", 2, "expected 2 arguments"),
        (["run", "primes", "nosuch"], "wasm primes nosuch", 1, "nosuch"),
        (["run", "no_such_module", "f"], "wasm no_such_module f", 1, "no_such_module"),
        (["run", "primes", "count_primes", "0", "1", "--bogus"],
         "wasm primes count_primes 0 1 --bogus", 2, "--bogus"),
        (["run", "primes", "count_primes", "0", "1", "--timeout", "0"],
         "wasm primes count_primes 0 1 --timeout 0", 2, "takes a number of seconds in (0, 604800]"),
    ]
    for vargs, cmd, code, words in cases:
        r = velum(*vargs, env_home=home)
        check(r.returncode == code and words in r.stderr and r.stdout == "",
              f"velum {' '.join(vargs)}: exit {r.returncode} (want {code}), stderr {r.stderr!r}")
        n = node_c(mesh, cmd)
        check(n.returncode == code and words in n.stderr,
              f"node -c '{cmd}': exit {n.returncode} (want {code}), stderr {n.stderr!r}")
    for cmd in ["scatter primes count_primes 0 1e30", "scatter primes", "frobnicate", "jobs x",
                "peers x", "scatter primes count_primes 0 10 --reduce avg"]:
        n = node_c(mesh, cmd)
        check(n.returncode == 2, f"node -c '{cmd}': exit {n.returncode} (want 2), {n.stderr!r}")
    n = node_c(mesh, "scatter primes count_primes 0 1e30")
    check("END takes an integer in the int64 range" in n.stderr, f"END 1e30: {n.stderr!r}")
    # Piped commands: 2 if a line could not run, else 1 if one failed; `quit` keeps the count.
    for lines, code in [("wasm sum nosuch\nquit\n", 1), ("frobnicate\nwasm sum sum 1 2 3\n", 2),
                        ("wasm sum nosuch\npeers x\nquit\n", 2),
                        ("wasm sum sum 1 2 3\nquit\n", 0)]:
        n = node_c(mesh, None, stdin=lines)
        check(n.returncode == code, f"piped {lines!r}: exit {n.returncode} (want {code}), "
              f"{n.stdout!r} {n.stderr!r}")
    # An address the node refuses at start is a usage error too.
    n = node_c(mesh, "status", extra=["--join", "foo"])
    check(n.returncode == 2 and "--join" in n.stderr, f"--join foo: exit {n.returncode}, {n.stderr!r}")
    for argv in ([VELUM, "--help"], [NODE, "--help"]):
        h = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        check(h.returncode == 0 and "Exit codes: 0 success; 1 the work failed" in h.stdout
              and "2 the command line cannot run" in h.stdout, f"{argv}: {h.stdout[-400:]!r}")
    h = subprocess.run([VELUM, "run", "--help"], capture_output=True, text=True, timeout=10)
    check("default 60" in h.stdout and "default 256" in h.stdout, f"velum run --help: {h.stdout!r}")


def case_text(mesh):
    n = node_c(mesh, "scatter primes count_primes 0 5e5")
    lines = n.stdout.splitlines()
    check(n.returncode == 0 and lines[0] == "41538", f"scatter: {n.returncode} {n.stdout!r}")
    check(re.match(r"job 1: count_primes over \[0, 500000\) by sum in [0-9.]+ m?s \(wall\), "
                   r"\d+ chunks? on 1 node$", lines[1]), f"the summary line: {lines[1]!r}")
    check("slot time" in lines[2] and "items/slot-s" in lines[2], f"the table: {n.stdout!r}")
    for word in ("reassigned", "recomputed", "backups", "stale", "recovery"):
        check(word not in n.stdout, f"a healthy run shows '{word}': {n.stdout!r}")
    # search over [0, 100000) finds nothing (see jobs_test.py case results).
    n = node_c(mesh, "scatter search search 0 100000 --reduce first")
    check(n.returncode == 0 and n.stdout.startswith("no hit: search found nothing in [0, 100000)"),
          f"first without a hit: {n.stdout!r}")
    n = node_c(mesh, "peers --all")
    check(n.returncode == 0 and n.stdout.startswith("id "), f"peers --all: {n.stdout!r}")
    # velum inspect: scatter marks, toolchain exports hidden.
    home = os.path.join(mesh.tmp, "velum-home")
    r = velum("inspect", "primes", env_home=home)
    check(r.returncode == 0, f"velum inspect primes: {r.returncode} {r.stderr!r}")
    func_lines = [line for line in r.stdout.splitlines() if line.startswith("  func")]
    cp = [line for line in func_lines if " count_primes(" in line]
    check(len(cp) == 1 and cp[0].endswith("  scatter"), f"count_primes not marked: {r.stdout!r}")
    check(not any(" __" in line for line in func_lines), f"toolchain exports shown: {r.stdout!r}")
    a = velum("inspect", "--all", "primes", env_home=home)
    hidden = re.search(r"\((\d+) toolchain exports? hidden", r.stdout)
    if hidden:  # the module has some: --all shows them
        check(" __" in a.stdout, f"inspect --all hides them: {a.stdout!r}")
    r = subprocess.run(f"'{VELUM}' run sum sum 10 20 30 --time 2>&1", shell=True,
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, VELUM_HOME=home))
    out = r.stdout.splitlines()
    check(len(out) == 2 and out[0] == "60" and out[1].startswith("velum: time: sum in "),
          f"--time: {r.stdout!r}")


def case_cancel(mesh):
    n1 = mesh.add(1, slots=1)
    mesh.form([n1], "cancel")
    job = submit(n1, f"scatter {os.path.join(WASM, 'primes.wasm')} count_primes 0 2e9")
    wait_for("the job made progress", lambda: (job_row(n1, job)["items_done"] > 0,
                                                job_row(n1, job)), 30)
    r = n1.cmd(f"cancel {job}")
    check(r == {"cancelled": job}, f"cancel: {r}")
    row = job_row(n1, job)
    check(row["state"] == "cancelled" and 0 < row["items_done"] < row["items_total"]
          and row["elapsed_ms"] > 0, f"jobs after the cancel: {row}")
    w = n1.cmd(f"wait {job}", timeout=10)
    check(w.get("items_done") == row["items_done"], f"wait after the cancel: {w}")
    log(f"  cancelled after {row['items_done']} of {row['items_total']} items")


CASES = {"same": case_same, "text": case_text, "cancel": case_cancel}


def main():
    global WASM, NODE, VELUM
    if len(sys.argv) > 2:
        NODE = os.path.abspath(sys.argv[1])
        VELUM = os.path.join(os.path.dirname(NODE), "velum")
        WASM = os.path.abspath(sys.argv[2])
    return run_homes_cases(__doc__, CASES, "vocabulary", bugs)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
