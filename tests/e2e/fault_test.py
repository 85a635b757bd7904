#!/usr/bin/env python3
"""End-to-end tests of faults during jobs (issue 5): workers and the coordinator killed,
stopped and restarted while a scatter runs, on real node processes on loopback.

Usage: fault_test.py NODE_BINARY WASM_DIR [kill_worker|kill_two|sigstop|coordinator|crashloop|all]

Four nodes with separate homes (mesh_lib.HomesMesh), --slots 1 each so that each node's share
of the work is clear; node 1 coordinates `scatter primes count_primes 0 N` in the background
(`scatter ... &`) and the test follows it with `jobs` (JSON: items_done, and per worker the
items committed). Every job is first warmed up (each node fetches and compiles the module),
and the answer is checked exactly against a sieve.

Cases:
  kill_worker  a no-failure baseline of the job, then the same job with kill -9 of a worker
               once 90% of its share (the items it committed plus those it holds) is
               committed: exact result, reassigned >= 1, detection_ms reported, recomputed <=
               10% of the share plus one slice (the victim's items/s times the slice time).
               The victim is stopped (SIGSTOP) for the few ms it takes to confirm in `jobs`
               that it still holds work, then killed: that window adds to detection_ms.
  kill_two     kill -9 of two of the four workers at once mid-job: exact result
  sigstop      SIGSTOP of a worker mid-job, SIGCONT after the job ended: exact result; the
               node comes back alive, its obsolete work is cancelled (busy_slots 0, no more
               slices), the job's result does not change
  coordinator  kill -9 of the coordinator mid-job, restart with the same id and home: `jobs`
               shows the job resumed from its checkpoints and `wait JOB` ends it exactly
  crashloop    kill -9 of a lone coordinator every time it has resumed its job: resumed 5
               times, failed at the 6th restart ("restarted 6 times") and still failed after
               one more; a new job is exact

Figures are printed as `FIGURE name=value` lines (times in ms). FAULT_ITEMS=N changes the
job's size; FAULT_DEBUG=1 prints the nodes' TCP sockets (ss) when the mesh does not heal."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import (KnownBugs, TestFailure, busy_slots, check, check_job_shape,  # noqa: E402
                      failure_of, figure, full_mesh, idle, job_row, log, prime_count,
                      run_homes_cases, states_are, submit, views, wait_for)

# The job: several seconds on 4 nodes of 1 slot each on 2 loaded cores.
N = int(os.environ.get("FAULT_ITEMS", "16000000"))
SLICE_MS = 150  # the coordinator's --slice-ms (its default, given explicitly)

# Checks that a known, reported bug in src/ makes fail (see mesh_lib.KnownBugs).
KNOWN_BUGS = {}
bugs = KnownBugs(KNOWN_BUGS, os.path.abspath(__file__))

WASM = None
_expected = {}


def expected(n):
    if n not in _expected:
        _expected[n] = prime_count(n)
    return _expected[n]


def primes_line(n=N):
    return f"scatter {os.path.join(WASM, 'primes.wasm')} count_primes 0 {n}"


def four_nodes(mesh):
    nodes = [mesh.add(i, ["--slice-ms", str(SLICE_MS)], slots=1) for i in (1, 2, 3, 4)]
    t = mesh.form(nodes, "4 nodes")
    log(f"4 nodes with links in {t * 1000:.0f} ms")
    # Warm up: every node fetches and compiles the module, so the timed runs compare.
    r = nodes[0].cmd(primes_line(500000), timeout=60)
    check(r.get("result") == 41538 and len([w for w in r["workers"] if w["items"]]) == 4,
          f"warm-up scatter: {r}")
    return nodes


def baseline(coord):
    t0 = time.monotonic()
    r = coord.cmd(primes_line(), timeout=120)
    check(r.get("state") == "done" and r["result"] == expected(N), f"baseline run: {r}")
    check(r["reassigned"] == 0 and r["failures"] == [] and r["detection_ms"] is None,
          f"the baseline run reports failures: {r}")
    # Without failures only a losing backup computes items twice.
    check(r["recomputed"] == 0 or r["backups"] > 0, f"recomputed without failures or backups: {r}")
    log(f"baseline: {N} items in {r['elapsed_ms']:.0f} ms ({time.monotonic() - t0:.2f} s), "
        f"workers {[(w['id'], w['items']) for w in r['workers']]}, backups {r['backups']}")
    figure("fault_baseline_ms", float(r["elapsed_ms"]), "ms")
    return r


def items_of(row, worker_id):
    for w in row["workers"]:
        if w["id"] == worker_id:
            return w["items"]
    return 0


def follow(coord, job, until, what, timeout=60):
    """Polls `jobs` on the coordinator until until(row) is true; returns that row. Fails if the
    job ends first (the fault would come too late to test anything)."""
    last = {}

    def pred():
        row = job_row(coord, job)
        last["row"] = row
        check(row is not None, f"job {job} vanished from `jobs`")
        check(row["state"] == "running", f"job {job} ended ({row['state']}) before {what}: {row}")
        return until(row), (row["items_done"], [(w["id"], w["items"]) for w in row["workers"]])
    wait_for(what, pred, timeout, interval=0.03)
    return last["row"]


def kill9(node):
    node.signal(signal.SIGKILL)
    rc = node.wait_exit(5)
    check(rc == -signal.SIGKILL, f"{node.name} did not die of SIGKILL: exit {rc}")


def finish(coord, job, timeout=120, restored=0):
    """Waits for the job; checks the exact result. `restored`: items the coordinator had done
    when it resumed the job after its restart (the per-worker table counts work since then)."""
    r = coord.cmd(f"wait {job}", timeout=timeout)
    check_job_shape(r, f"wait {job}")
    check(r.get("state") == "done", f"wait {job}: {r}")
    check(r["result"] == expected(N), f"job {job}: {r['result']} primes below {N}, want {expected(N)}")
    check(r["items_done"] == r["items_total"] == N,
          f"job {job} items {r['items_done']}/{r['items_total']}")
    items = sum(w["items"] for w in r["workers"])
    check(N - restored <= items <= N,
          f"the workers' committed items add up to {items}, want {N - restored}" +
          (f" to {N} ({restored} restored from the journal)" if restored else ""))
    return r


def held_of(row, worker_id):
    for w in row["workers"]:
        if w["id"] == worker_id:
            return w.get("held", 0)
    return 0


def ninety_percent(row, node):
    """The node's share so far is what it committed plus what it holds; 90% of it committed,
    and something still held (else a kill would cost nothing and test nothing)."""
    done, held = items_of(row, node.id), held_of(row, node.id)
    return held > 0 and done >= 0.9 * (done + held) and row["items_done"] >= 0.5 * N


def freeze_at_ninety_percent(coord, job, workers):
    """Stops (SIGSTOP) the first worker found with >= 90% of its share committed, still holding
    work and computing a slice (whose result the kill will lose), and returns (node, row) once `jobs` shows it still holds work while stopped:
    a stopped node sends no report, so the kill that follows finds that work unfinished.
    A worker that finished its work before it stopped is continued and the search goes on."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = follow(coord, job, lambda row: any(ninety_percent(row, n) for n in workers),
                     "a worker with 90% of its share committed")
        node = next(n for n in workers if ninety_percent(row, n))
        if node.status()["busy_slots"] < 1:
            continue  # between two slices: wait for it to be computing one, to lose it
        node.signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        wait_for(f"{node.name} stopped", lambda: (node.state() == "T", node.state()), 5,
                 interval=0.001)
        # Two reads of `jobs` that agree: any report it sent before it stopped has arrived.
        first = job_row(coord, job)
        second = job_row(coord, job)
        if (second["state"] == "running" and held_of(second, node.id) > 0 and
                items_of(first, node.id) == items_of(second, node.id)):
            return node, second, t_stop
        node.signal(signal.SIGCONT)
        log(f"node {node.id} finished its work as it stopped; looking again")
    raise TestFailure("no worker was found holding work at 90% of its share")


# ---------------------------------------------------------------------------------------------
def case_kill_worker(mesh):
    nodes = four_nodes(mesh)
    coord = nodes[0]
    base = baseline(coord)
    job = submit(coord, primes_line())
    t_submit = time.monotonic()
    victim, row, t_stop = freeze_at_ninety_percent(coord, job, nodes[1:])
    committed, held = items_of(row, victim.id), held_of(row, victim.id)
    share = committed + held
    kill9(victim)
    t_kill = time.monotonic()
    log(f"kill -9 of node {victim.id} at {committed} items committed ({committed / share:.1%} of "
        f"its share of {share}: {held} held), {t_kill - t_submit:.2f} s into the job, stopped "
        f"{(t_kill - t_stop) * 1000:.0f} ms before; job at {row['items_done']}/{N}")
    r = finish(coord, job)
    t_done = time.monotonic()
    others = [n for n in nodes if n is not victim]
    v = [w for w in r["workers"] if w["id"] == victim.id]
    check(v and v[0]["items"] >= committed, f"the victim's committed items shrank: {v} < {committed}")
    rate = v[0]["items_per_s"]
    slice_items = rate * SLICE_MS / 1000.0
    bound = 0.1 * share + slice_items
    log(f"after the kill: result exact in {r['elapsed_ms']:.0f} ms ({t_done - t_kill:.2f} s after "
        f"the kill); reassigned {r['reassigned']} ({r['reassigned_items']} items), recomputed "
        f"{r['recomputed']}, backups {r['backups']}, stale {r['stale_reports']}, detection "
        f"{r['detection_ms']} ms; victim {rate:.0f} items/s, one slice ~{slice_items:.0f} items; "
        f"failures {r['failures']}")
    check(r["reassigned"] >= 1, f"nothing was reassigned after the kill: {r}")
    check(r["detection_ms"] is not None and r["detection_ms"] >= 0, f"no detection_ms: {r}")
    lost = failure_of(r, victim.id)
    check(len(lost) == 1 and len(r["failures"]) == 1,
          f"want one failure record, of node {victim.id}: {r['failures']}")
    lost = lost[0]
    check(lost["attempts"] >= 1 and lost["reassigned_items"] > 0 and lost["detection_ms"] >= 0,
          f"the victim's failure record: {lost}")
    check(lost["recomputed_items"] <= r["recomputed"], f"{lost} vs recomputed {r['recomputed']}")
    # What the loss cost (a losing backup's duplicate work, if any, is counted apart).
    check(lost["recomputed_items"] <= bound,
          f"the kill made {lost['recomputed_items']} items be computed again, more than 10% of the "
          f"share ({0.1 * share:.0f}) plus one slice ({slice_items:.0f})")
    figure("fault_kill_elapsed_ms", float(r["elapsed_ms"]), "ms")
    figure("fault_kill_time_added_ms", float(r["elapsed_ms"] - base["elapsed_ms"]), "ms")
    figure("fault_kill_recomputed_items", lost["recomputed_items"])
    figure("fault_kill_recomputed_share", lost["recomputed_items"] / share)
    figure("fault_kill_recomputed_total_items", r["recomputed"])
    figure("fault_kill_backups", r["backups"])
    figure("fault_kill_slice_items", float(slice_items))
    figure("fault_kill_detection_ms", r["detection_ms"])
    figure("fault_kill_stopped_before_kill_ms", (t_kill - t_stop) * 1000, "ms")
    figure("fault_kill_reassigned_items", r["reassigned_items"])
    # The survivors know the victim is gone and are idle.
    wait_for("the survivors see the victim dead", states_are(others, [victim.id], {"dead"}), 10)
    wait_for("the survivors idle", idle(others), 10)


def case_kill_two(mesh):
    nodes = four_nodes(mesh)
    coord = nodes[0]
    job = submit(coord, primes_line())
    row = follow(coord, job, lambda row: row["items_done"] >= 0.3 * N and
                 all(items_of(row, n.id) > 0 for n in nodes), "30% of the job done by all 4")
    victims = nodes[2:]
    for v in victims:
        v.signal(signal.SIGKILL)
    for v in victims:
        rc = v.wait_exit(5)
        check(rc == -signal.SIGKILL, f"{v.name} did not die of SIGKILL: exit {rc}")
    log(f"kill -9 of nodes 3 and 4 at {row['items_done']}/{N} items")
    r = finish(coord, job)
    log(f"result exact; reassigned {r['reassigned']} ({r['reassigned_items']} items), recomputed "
        f"{r['recomputed']}, detection {r['detection_ms']} ms, elapsed {r['elapsed_ms']:.0f} ms")
    check(r["reassigned"] >= 2, f"two workers lost, {r['reassigned']} remainders reassigned: {r}")
    check(sorted(f["worker"] for f in r["failures"]) == [3, 4] and
          all(f["attempts"] >= 1 for f in r["failures"]), f"failure records: {r['failures']}")
    check(r["detection_ms"] is not None, f"no detection_ms: {r}")
    figure("fault_kill_two_detection_ms", r["detection_ms"])
    figure("fault_kill_two_recomputed_items", r["recomputed"])
    figure("fault_kill_two_elapsed_ms", float(r["elapsed_ms"]), "ms")
    # The job is done by the two survivors: a new one runs on them alone.
    r2 = coord.cmd(primes_line(500000), timeout=60)
    check(r2.get("result") == 41538 and {w["id"] for w in r2["workers"] if w["items"]} <= {1, 2},
          f"a job after losing two workers: {r2}")


def case_sigstop(mesh):
    nodes = four_nodes(mesh)
    coord, stopped = nodes[0], nodes[2]
    others = [n for n in nodes if n is not stopped]
    job = submit(coord, primes_line())
    row = follow(coord, job, lambda row: row["items_done"] >= 0.3 * N and items_of(row, stopped.id) > 0,
                 "30% of the job done, node 3 contributing")
    wait_for("node 3 running a slice", lambda: (stopped.status()["busy_slots"] == 1,
                                                busy_slots([stopped])), 10, interval=0.01)
    stopped.signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    log(f"SIGSTOP of node 3 at {row['items_done']}/{N} items ({items_of(row, 3)} by node 3)")
    r = finish(coord, job)
    t_done = time.monotonic()
    check(stopped.running(), "the stopped node exited")
    log(f"job done {t_done - t_stop:.2f} s after SIGSTOP: reassigned {r['reassigned']} "
        f"({r['reassigned_items']} items), recomputed {r['recomputed']}, stale {r['stale_reports']},"
        f" detection {r['detection_ms']} ms")
    check(r["reassigned"] >= 1, f"the stopped worker's remainder was not reassigned: {r}")
    check([f["worker"] for f in r["failures"]] == [3], f"failure records: {r['failures']}")
    check(r["detection_ms"] is not None, f"no detection_ms: {r}")
    figure("fault_sigstop_detection_ms", r["detection_ms"])
    figure("fault_sigstop_elapsed_ms", float(r["elapsed_ms"]), "ms")
    # The others hold it dead by now (the job could only end without it).
    wait_for("node 3 dead for the others", states_are(others, [3], {"dead"}), 10)
    log(f"views before SIGCONT: {views(others, [3])}")

    stopped.signal(signal.SIGCONT)
    t_cont = time.monotonic()
    try:
        wait_for("node 3 alive again everywhere after SIGCONT", full_mesh(nodes, links=True), 20)
    except Exception:
        if os.environ.get("FAULT_DEBUG"):
            os.system(f"ss -tanpoi | grep -A1 -E '{'|'.join(str(p) for p in mesh.ports.values())}'")
        raise
    back = time.monotonic() - t_cont
    log(f"views after SIGCONT: {views(nodes, [1, 2, 3, 4])}")
    log(f"after SIGCONT node 3 is alive and linked everywhere in {back * 1000:.0f} ms")
    figure("fault_sigcont_recovery_ms", back * 1000, "ms")
    wait_for("node 3's obsolete work cancelled (busy_slots 0)", idle([stopped]), 10)
    s1 = stopped.status()
    # ... and it stays cancelled: no slice of the old job starts again.
    t_idle = time.monotonic()
    while time.monotonic() - t_idle < 1.5:
        s = stopped.status()
        check(s["busy_slots"] == 0 and s["slices_run"] == s1["slices_run"],
              f"node 3 keeps working on an obsolete job: {s['busy_slots']} busy, slices "
              f"{s1['slices_run']} -> {s['slices_run']}")
        time.sleep(0.1)
    after = job_row(coord, job)
    check(after["state"] == "done" and after["result"] == expected(N),
          f"the job changed after node 3 came back: {after}")
    figure("fault_sigstop_stale_reports", after["stale_reports"])
    # The node works again: a new job uses it.
    r2 = coord.cmd(primes_line(2000000), timeout=60)
    check(r2.get("result") == expected(2000000) and items_of(r2, 3) > 0,
          f"a job after SIGCONT, node 3 should take part: {r2}")


def case_coordinator(mesh):
    nodes = four_nodes(mesh)
    coord = nodes[0]
    job = submit(coord, primes_line())
    early = follow(coord, job, lambda row: row["items_done"] >= 0.25 * N, "25% of the job done")
    t_early = time.monotonic()
    # Keep following for a while: what was committed at `early` is surely in the journal by
    # the kill (flushed every 50 ms).
    last = follow(coord, job, lambda row: time.monotonic() - t_early >= 0.5, "half a second more")
    kill9(coord)
    t_kill = time.monotonic()
    log(f"kill -9 of the coordinator at {last['items_done']}/{N} items "
        f"(at least {early['items_done']} journaled)")
    workers = nodes[1:]
    wait_for("the workers idle after losing their coordinator", idle(workers), 10)
    coord.start()  # the same id, port and home
    wait_for("the restarted coordinator back in the mesh", full_mesh(nodes, links=True), 20)
    row = job_row(coord, job)
    t_back = time.monotonic()
    check(row is not None, f"the restarted coordinator does not list job {job}: {coord.cmd('jobs')}")
    check(row["resumed"] is True, f"job {job} after the restart is not marked resumed: {row}")
    check(row["items_done"] >= early["items_done"],
          f"the resumed job has {row['items_done']} items done, less than the {early['items_done']} "
          f"committed half a second before the kill")
    warm = job_row(coord, 1)
    check(warm and warm["state"] == "done" and warm["result"] == 41538 and warm["resumed"] is False,
          f"the warm-up job after the restart: {warm}")
    st = coord.status()
    check(st["jobs_resumed"] == 1, f"status after the restart: jobs_resumed {st['jobs_resumed']}")
    log(f"restarted coordinator: job {job} {row['state']}, resumed, {row['items_done']}/{N} items "
        f"({last['items_done'] - row['items_done']} of the last seen lost)")
    figure("fault_coordinator_items_lost", max(0, last["items_done"] - row["items_done"]))
    r = finish(coord, job, restored=row["items_done"])
    check(r["resumed"] is True, f"the finished job is not marked resumed: {r}")
    t_done = time.monotonic()
    log(f"resumed job done {t_done - t_kill:.2f} s after the kill ({t_done - t_back:.2f} s after "
        f"the restart)")
    figure("fault_coordinator_kill_to_done_ms", (t_done - t_kill) * 1000, "ms")
    # A new job gets the next id.
    r2 = coord.cmd(primes_line(500000), timeout=60)
    check(r2.get("result") == 41538 and r2["job"] > job, f"a job after the restart: {r2}")


# ---------------------------------------------------------------------------------------------
MAX_RESUMES = 5  # core::CoordinatorConfig::max_resumes


def case_crashloop(mesh):
    # A coordinator killed again and again while its job runs (the way a job that took its
    # node down used to be replayed on every restart): resumed MAX_RESUMES times, then failed
    # with a clear error, and a new job still runs.
    coord = mesh.add(1, ["--slice-ms", str(SLICE_MS)], slots=1)
    mesh.form([coord], "crashloop")
    job = submit(coord, primes_line(2000000000))  # minutes: it never ends by itself here
    for restart in range(1, MAX_RESUMES + 2):
        wait_for(f"job {job} running before kill {restart}", lambda: (
            (job_row(coord, job) or {}).get("state") == "running", job_row(coord, job)), 20)
        kill9(coord)
        coord.start()
        mesh.form([coord], f"restart {restart}")
        row = job_row(coord, job)
        check(row is not None, f"restart {restart}: job {job} is gone: {coord.cmd('jobs')}")
        if restart <= MAX_RESUMES:
            check(row["state"] == "running" and row["resumed"] is True,
                  f"restart {restart}: job {job} should be resumed: {row}")
        else:
            check(row["state"] == "failed" and
                  f"restarted {restart} times" in row.get("error", ""),
                  f"restart {restart}: job {job} should have failed for its restarts: {row}")
    log(f"job {job} failed after {MAX_RESUMES + 1} restarts: {row['error']}")
    # It stays failed across one more restart; the node works.
    kill9(coord)
    coord.start()
    mesh.form([coord], "after the crash loop")
    row = job_row(coord, job)
    check(row is not None and row["state"] == "failed", f"job {job} after one more restart: {row}")
    check(coord.status()["jobs_resumed"] == 0, f"status: {coord.status()}")
    r = coord.cmd(primes_line(500000), timeout=60)
    check(r.get("result") == 41538, f"a job after the crash loop: {r}")


# ---------------------------------------------------------------------------------------------
CASES = {"kill_worker": case_kill_worker, "kill_two": case_kill_two, "sigstop": case_sigstop,
         "coordinator": case_coordinator, "crashloop": case_crashloop}


def main():
    global WASM
    if len(sys.argv) > 2:
        WASM = os.path.abspath(sys.argv[2])
    return run_homes_cases(__doc__, CASES, "fault", bugs, lambda mesh: f", {N} items")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup runs in the finally blocks
    sys.exit(main())
