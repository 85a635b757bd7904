#!/usr/bin/env python3
"""End-to-end tests of results that outlive their jobs (issue 12): `result JOB` and
`jobs --all` on real node processes on loopback, before and after the coordinator restarts.

Usage: results_test.py NODE_BINARY WASM_DIR [restart|text|all]

Cases:
  restart  nodes 1 and 2: a scatter that is done (primes), one whose WASI slices printed
           (wasi_range count, fixed chunks), one that fails (ranges trap_at) and one cancelled
           while running; `result JOB --json` of each equals what its scatter answered (result,
           workers, figures, output, the failure record: trap, node, items around 77777); a
           running job's `result` says running with its progress. Node 1 is killed (SIGKILL)
           and restarted with the same id and home: `result JOB` of each is still the same,
           read from the journal, and `jobs --all` lists them newest first. `result 999`
           (unknown), `result abc`, `result 99999999999999999999999`, `result -3`, `result`
           and `result 1 2`: one clear error each, and the node still answers
  text     one-command runs of node 1 (`node 1 -c "scatter ..."`, each a new process on the
           same home, so each `result` is read back after a restart): the text `result JOB`
           prints is byte for byte what the finished scatter printed, with the same exit
           status (0 done, 1 failed), for a done, a printing and a failed job

Every node is ended by PID whatever happens (mesh_lib)."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import KnownBugs, check, log, run_homes_cases, submit, wait_for  # noqa: E402

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None
TRAP_ITEM = 77777  # ranges.wat's trap_at traps in the sub-range holding it

# What `result --json` must repeat of a scatter's answer: everything it printed but `held`
# (a running job's figure), the flags of where the summary came from, and stale_reports:
# a late report of an attempt closed at the job's end still counts in memory.
SAME_KEYS = ["job", "state", "module", "func", "start", "end", "reducer", "items_done",
             "items_total", "elapsed_ms", "chunks", "reassigned", "reassigned_items",
             "recomputed", "backups", "retries", "detection_ms", "failures",
             "result", "found", "error", "failure", "output", "output_truncated", "output_lost"]


def wasm(name):
    path = os.path.join(WASM, name + ".wasm")
    check(os.path.exists(path), f"module {path} is missing (build the velum_wasm target)")
    return path


def workers_of(r):
    return [{k: w[k] for k in ("id", "chunks", "items", "seconds")} for w in r["workers"]]


def check_same(got, want, label):
    for k in SAME_KEYS:
        check(got.get(k) == want.get(k),
              f"{label}: '{k}' is {got.get(k)!r}, the scatter said {want.get(k)!r}")
    check(workers_of(got) == workers_of(want),
          f"{label}: workers {workers_of(got)}, the scatter said {workers_of(want)}")


def error_of(node, line, timeout=10):
    """A command that must fail with one line."""
    r = node.cmd(line, timeout=timeout)
    check("error" in r and isinstance(r["error"], str) and r["error"],
          f"{node.name}: '{line}' should fail but answered {r}")
    check("\n" not in r["error"], f"'{line}': the error is not one line: {r['error']!r}")
    log(f"  '{line}' -> {r['error']}")
    return r["error"]


def case_restart(mesh):
    one, two = mesh.add(1), mesh.add(2)
    mesh.form([one, two], "2 nodes")
    done = one.cmd(f"scatter {wasm('primes')} count_primes 0 300000", timeout=90)
    check(done.get("state") == "done" and done["result"] == 25997, f"primes: {done}")
    printed = one.cmd(f"scatter {wasm('wasi_range')} count 0 6000 --chunk 1000", timeout=90)
    check(printed.get("state") == "done" and printed.get("output"), f"wasi_range: {printed}")
    failed = one.cmd(f"scatter {wasm('ranges')} trap_at 0 200000 --chunk 10000", timeout=90)
    check(failed.get("state") == "failed" and "error" in failed, f"trap_at: {failed}")
    f = failed.get("failure")
    check(isinstance(f, dict) and f["kind"] == "trap" and f["node"] in (1, 2) and
          f["start"] <= TRAP_ITEM < f["end"] and f["retryable"] is False,
          f"the failure record of trap_at: {f}")
    # A running job: its progress, not a wait; then cancelled, and so recorded.
    running = submit(one, f"scatter {wasm('primes')} count_primes 0 2000000000")
    r = one.cmd(f"result {running} --json")
    check(r.get("state") == "running" and r.get("items_total") == 2000000000 and
          "error" not in r, f"result of a running job: {r}")
    check(one.cmd(f"cancel {running}").get("cancelled") == running, "cancel")
    wait_for(f"job {running} cancelled",
             lambda: (lambda x: (x.get("state") == "cancelled", x))(
                 one.cmd(f"result {running}")), 20)
    cancelled = one.cmd(f"result {running}")

    jobs = {done["job"]: done, printed["job"]: printed, failed["job"]: failed,
            running: cancelled}
    for job_id, want in jobs.items():
        check_same(one.cmd(f"result {job_id} --json"), want, f"result {job_id} (same run)")

    # The coordinator dies and comes back with the same id and home.
    one.kill()
    one.start()
    mesh.form([one, two], "node 1 restarted")
    for job_id, want in jobs.items():
        got = one.cmd(f"result {job_id} --json")
        check(got.get("from_journal") is True and got.get("details") == "kept",
              f"result {job_id} after the restart: not from the journal: {got}")
        check_same(got, want, f"result {job_id} after the restart")
    log(f"  {len(jobs)} results read back after the restart")
    listed = one.cmd("jobs --all --json")
    ids = [j["job"] for j in listed.get("jobs", [])]
    check(ids == sorted(jobs, reverse=True), f"jobs --all lists {ids}, want {sorted(jobs)[::-1]}")
    states = {j["job"]: j["state"] for j in listed["jobs"]}
    check(states == {k: v["state"] for k, v in jobs.items()}, f"jobs --all states {states}")
    check(all("output" not in j for j in listed["jobs"]), "jobs --all lists output")
    # A new job after the restart gets a new id and is listed first.
    again = one.cmd(f"scatter {wasm('primes')} count_primes 0 1000", timeout=60)
    check(again.get("result") == 168 and again["job"] > max(jobs), f"a new job: {again}")
    check(one.cmd("jobs --all --json")["jobs"][0]["job"] == again["job"], "newest first")

    # Unknown ids and bad arguments: one error each, and the node stays up.
    e = error_of(one, "result 999")
    check("no job 999" in e, f"unknown job: {e}")
    for bad in ["abc", "99999999999999999999999", "-3", "0", "1.5"]:
        e = error_of(one, f"result {bad}")
        check(bad in e or "usage" in e, f"result {bad}: {e}")
    error_of(one, "result")
    error_of(one, "result 1 2")
    error_of(one, "jobs --everything")
    check(one.status()["id"] == 1, "node 1 answers after the bad arguments")
    check(one.running(), "node 1 is still running")


LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:.]+\] ")  # spdlog's, on stderr


def one_shot(mesh, node, command, timeout=90):
    """`node ID ARGS -c COMMAND` as a process of its own: (exit status, stdout, stderr without
    the node's log lines). A failed command's text goes to stderr."""
    argv = [mesh.h.binary, str(node.id)] + node.args + ["-c", command]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    log(f"  node {node.id} -c '{command.replace(WASM + '/', '')}' -> exit {p.returncode}")
    err = "".join(line for line in p.stderr.splitlines(keepends=True) if not LOG_LINE.match(line))
    return p.returncode, p.stdout, err


def case_text(mesh):
    one = mesh.add(1)  # its arguments and home; each command is a process of its own
    runs = [(f"scatter {wasm('primes')} count_primes 0 100000", 0),
            (f"scatter {wasm('wasi_range')} count 0 3000 --chunk 1000", 0),
            (f"scatter {wasm('ranges')} trap_at 0 100000 --chunk 10000", 1)]
    for job_id, (command, status) in enumerate(runs, start=1):
        rc, out, err = one_shot(mesh, one, command)
        check(rc == status, f"'{command}': exit {rc}, want {status}: {out} {err}")
        check(f"job {job_id}:" in out + err, f"'{command}' was not job {job_id}: {out} {err}")
        rc, shown_out, shown_err = one_shot(mesh, one, f"result {job_id}")
        check(rc == status, f"result {job_id}: exit {rc}, want {status}")
        check((shown_out, shown_err) == (out, err),
              f"result {job_id} prints\n{shown_out}{shown_err}\nthe scatter printed\n{out}{err}")
    rc, listed, _ = one_shot(mesh, one, "jobs --all")
    rows = [line.split()[0] for line in listed.splitlines()[1:] if line.split()]
    check(rc == 0 and rows[:3] == ["3", "2", "1"], f"jobs --all: exit {rc}:\n{listed}")
    rc, out, err = one_shot(mesh, one, "result 4")
    check(rc == 1 and out == "" and "no job 4" in err,
          f"result 4 (unknown): exit {rc}, stdout {out!r}, stderr {err!r}")


CASES = {"restart": case_restart, "text": case_text}


def main():
    global WASM
    if len(sys.argv) >= 3:
        WASM = sys.argv[2]
    return run_homes_cases(__doc__, CASES, "results", bugs)


if __name__ == "__main__":
    sys.exit(main())
