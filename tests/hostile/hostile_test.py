#!/usr/bin/env python3
"""The hostile corpus (issue 9) through every way a module reaches code: `velum run` on both
engines, a local node (`wasm FILE FUNC --local`) and a remote one (`wasm FILE FUNC --node 2`).

Usage: hostile_test.py VELUM NODE WASM_DIR OUT_DIR [CASE ...]

gen_hostile.py writes the modules into OUT_DIR (the build dir) at test time. For each case and
each of the four runners the test checks: the call returns the case's value or fails with one
clear error line (as the case allows), within RUN_CPU_SECONDS of CPU time and RUN_RSS_MIB of
peak memory (wait4 for `velum run` and the executors and compilers it waited for, VmHWM for the
nodes; CPU time, not wall time, because a loaded machine stretches the wall clock tenfold, with
RUN_WALL_SECONDS as the bound on a run that hangs); both nodes are alive afterwards and still answer a normal
call; no file appeared in the watched directories (HOME, the working directory, OUT_DIR) and
the marker file the injected-name payload would create does not exist. Every process runs with
HOME, TMPDIR and the working directory in a fresh temporary directory and its own home. The C
compiler keeps scratch files in TMPDIR while it runs (and leaves them when it is killed), so
TMPDIR is only reported, at the end.

Cases another branch is fixing are listed in KNOWN_BROKEN below: they print XFAIL instead of
failing, and XPASS (which fails the test) once fixed, so that the lead removes them."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import gen_hostile  # noqa: E402
from mesh_lib import HomesMesh, KnownBugs, TestFailure, check, log, wait_for  # noqa: E402

# --- Cases that fail today, each with its owner; an entry prints XPASS (and fails the test)
# once fixed, so that it is removed.
KNOWN_BROKEN = {}
bugs = KnownBugs(KNOWN_BROKEN, os.path.abspath(__file__))

# Limits of one call of a hostile module, whatever the runner: CPU time (the process and the
# children it waited for), peak memory, and the wall-clock bound on a run that hangs.
RUN_CPU_SECONDS = 10
RUN_RSS_MIB = 768
RUN_WALL_SECONDS = 30  # the call deadline (10 s) and start-up, on a loaded machine
CALL_TIMEOUT_S = 10   # the deadline given to the call itself (--timeout)
CALL_MEMORY_MIB = 64  # the linear memory limit given to the call (--max-memory)
AOT_WAIT_S = 20       # how long the marker case waits for a node to switch to native code


def one_clear_line(text):
    """An error message a user can read: one non-empty line, no crash report."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) != 1:
        return False, f"{len(lines)} lines: {text.strip()[:400]!r}"
    crash = ("crashed", "signal", "assert", "abort", "terminate", "std::", "Segmentation")
    bad = [w for w in crash if w in lines[0]]
    if bad:
        return False, f"a crash, not an answer ({bad}): {lines[0][:400]!r}"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in lines[0]):
        return False, f"control characters from the module reach the user: {lines[0][:400]!r}"
    return True, lines[0]


def judge(case, ok_value, value_text, error_text):
    """Whether one runner's outcome is what the case allows; returns (ok, description)."""
    if ok_value:
        if case.expect == "error":
            return False, f"returned {value_text!r}, want an error"
        if value_text != str(case.value):
            return False, f"returned {value_text!r}, want {case.value}"
        return True, f"= {value_text}"
    ok, line = one_clear_line(error_text)
    if not ok:
        return False, line
    if case.expect == "value":
        return False, f"failed ({line}), want {case.value}"
    return True, f"error: {line[:160]}"


def velum_run(velum, case, path, engine, env, cwd):
    """`velum run` as a child: (ok, description, peak RSS MiB, CPU seconds, wall seconds), from
    wait4 (the process and the children it waited for: executors, wasm2c, cc)."""
    argv = [velum, "run", "--engine", engine, "--timeout", str(CALL_TIMEOUT_S),
            "--max-memory", str(CALL_MEMORY_MIB), path, case.func] + case.args
    out_path, err_path = os.path.join(cwd, "..", "run.out"), os.path.join(cwd, "..", "run.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd,
                                start_new_session=True)
        status, rusage = None, None
        while time.monotonic() - t0 < RUN_WALL_SECONDS:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        else:
            kill_tree(proc.pid)
            _, _, rusage = os.wait4(proc.pid, 0)
            cpu = rusage.ru_utime + rusage.ru_stime
            return (False, f"still running after {RUN_WALL_SECONDS} s (killed)",
                    rusage.ru_maxrss / 1024, cpu, RUN_WALL_SECONDS)
        seconds = time.monotonic() - t0
        cpu = rusage.ru_utime + rusage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mib = rusage.ru_maxrss / 1024
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace").strip()
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace").strip()
    if proc.returncode < 0:
        return (False, f"killed by signal {-proc.returncode}: {stderr[-300:]!r}", rss_mib, cpu,
                seconds)
    if proc.returncode == 0:
        ok, what = judge(case, True, stdout, "")
    else:
        ok, what = judge(case, False, "", stderr)
    return ok, what, rss_mib, cpu, seconds


def node_call(node, case, path, where):
    """`wasm FILE FUNC ARGS where` on a node: (ok, description, answer)."""
    line = " ".join([f"wasm {path} {case.func}"] + case.args +
                    [where, f"--timeout {CALL_TIMEOUT_S}", f"--max-memory {CALL_MEMORY_MIB}"])
    try:
        r = node.cmd(line, timeout=RUN_WALL_SECONDS)
    except TestFailure as e:
        return False, str(e)[:400], {}
    if "error" in r:
        ok, what = judge(case, False, "", str(r["error"]))
    else:
        ok, what = judge(case, True, str(r.get("result")), "")
    return ok, what, r


def descendants(pid):
    """Every process below `pid` now (from /proc): a killed parent's compilers and executors
    would outlive it, reparented, so they are collected before the parent is killed."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid):
    """SIGKILL a process and everything below it, by PID."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def peak_rss_mib(node):
    try:
        with open(f"/proc/{node.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def listing(dirs):
    """Every path under the watched directories."""
    seen = set()
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            for n in subdirs + files:
                seen.add(os.path.join(root, n))
    return seen


class Bench:
    """The two nodes, the watched directories and the environment every process runs in."""

    def __init__(self, node_bin, velum, wasm_dir, out_dir, tmp):
        self.velum = velum
        self.wasm_dir = wasm_dir
        self.out_dir = out_dir
        self.tmp = tmp
        self.home = os.path.join(tmp, "home")          # HOME: nothing may be written there
        self.tmpdir = os.path.join(tmp, "tmpdir")      # TMPDIR
        self.cwd = os.path.join(tmp, "cwd")            # the working directory
        self.run_home = os.path.join(tmp, "run-home")  # VELUM_HOME of `velum run`
        for d in (self.home, self.tmpdir, self.cwd, self.run_home):
            os.makedirs(d)
        self.marker = os.path.join(tmp, "INJECTED")
        self.watched = [self.home, self.cwd, self.out_dir]
        self.env = dict(os.environ, HOME=self.home, TMPDIR=self.tmpdir, VELUM_HOME=self.run_home)
        # The nodes inherit this process's environment and directory (mesh_lib starts them).
        os.environ.update(HOME=self.home, TMPDIR=self.tmpdir)
        os.environ.pop("VELUM_HOME", None)
        os.chdir(self.cwd)
        os.makedirs(os.path.join(tmp, "mesh"))
        self.mesh = HomesMesh(node_bin, os.path.join(tmp, "mesh"))
        self.n1 = self.mesh.add(1)
        self.n2 = self.mesh.add(2)
        self.mesh.form([self.n1, self.n2], "start")

    def sum_path(self):
        return os.path.join(self.wasm_dir, "sum.wasm")

    def nodes_answer(self):
        """Both nodes up and answering a normal call, locally and remotely; restarts a node
        that is down (so that later cases are still checked) and says what was wrong."""
        problems = []
        for n in (self.n1, self.n2):
            if not n.running():
                problems.append(f"{n.name} died (exit {n.proc.returncode}): {n.stderr_tail(300)}")
        if problems:
            self.mesh.form([self.n1, self.n2], "restart", timeout=RUN_WALL_SECONDS)
            return problems
        for where in ("--local", "--node 2"):
            try:
                r = self.n1.cmd(f"wasm {self.sum_path()} sum 10 20 30 {where}",
                                timeout=RUN_WALL_SECONDS)
                if r.get("result") != 60:
                    problems.append(f"a normal call ({where}) answered {r}")
            except TestFailure as e:
                problems.append(f"a normal call ({where}) failed: {e}")
        return problems


def wait_native(node, case, path, where, marker):
    """A node compiles in the background: call until it runs on native code or the marker
    appears (the payload ran), for at most AOT_WAIT_S."""
    def pred():
        ok, what, r = node_call(node, case, path, where)
        return os.path.exists(marker) or r.get("engine") == "aot" or not ok, (what, r.get("engine"))
    try:
        wait_for(f"{node.name} to run {case.name} natively", pred, AOT_WAIT_S, interval=0.3)
    except TestFailure as e:
        log(f"    {case.name} {where}: {e} (the node kept it on the interpreter)")


def run_case(bench, case):
    """Every runner on one case; returns the list of problems (empty: the case passed)."""
    path = os.path.join(bench.out_dir, case.name + ".wasm")
    problems = []
    before = listing(bench.watched)
    for engine in ("interp", "aot"):
        ok, what, rss, cpu, seconds = velum_run(bench.velum, case, path, engine, bench.env,
                                                bench.cwd)
        log(f"  {case.name:24} velum run --engine {engine:6} {seconds:5.2f} s, {cpu:5.2f} s CPU, "
            f"{rss:4.0f} MiB  {what}")
        if not ok:
            problems.append(f"velum run --engine {engine}: {what}")
        if rss > RUN_RSS_MIB:
            problems.append(f"velum run --engine {engine}: peak RSS {rss:.0f} MiB > {RUN_RSS_MIB}")
        if cpu > RUN_CPU_SECONDS:
            problems.append(f"velum run --engine {engine}: {cpu:.1f} s of CPU > {RUN_CPU_SECONDS}")
    for where in ("--local", "--node 2"):
        t0 = time.monotonic()
        ok, what, r = node_call(bench.n1, case, path, where)
        seconds = time.monotonic() - t0
        log(f"  {case.name:24} wasm {where:8} on node 1 {seconds:5.2f} s "
            f"(engine {r.get('engine', '-')})  {what}")
        if not ok:
            problems.append(f"wasm {where}: {what}")
        if ok and case.name == "names_inject_marker":
            wait_native(bench.n1, case, path, where, bench.marker)
    for n in (bench.n1, bench.n2):
        rss = peak_rss_mib(n)
        if rss > RUN_RSS_MIB:
            problems.append(f"{n.name}: peak RSS {rss:.0f} MiB > {RUN_RSS_MIB}")
    problems += bench.nodes_answer()
    if os.path.exists(bench.marker):
        problems.append(f"the injected payload ran: {bench.marker} exists")
        os.unlink(bench.marker)
    new = sorted(listing(bench.watched) - before)
    if new:
        problems.append(f"files written outside the homes: {new[:5]}")
        for p in new:
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.exists(p):
                os.unlink(p)
    return problems


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    velum, node_bin, wasm_dir, out_dir = (os.path.abspath(a) for a in sys.argv[1:5])
    only = set(sys.argv[5:])
    for b in (velum, node_bin):
        check(os.access(b, os.X_OK), f"{b} is not an executable")
    global RUN_RSS_MIB
    linked = subprocess.run(["ldd", node_bin], capture_output=True, text=True).stdout
    if "libasan" in linked:
        # make sanitize: ASan's shadow memory and its 256 MiB quarantine of freed blocks come
        # on top of what the node holds; the limit is the release build's, three times over.
        RUN_RSS_MIB *= 3
        log(f"an ASan build: the peak memory limit is {RUN_RSS_MIB} MiB")
    tmp = tempfile.mkdtemp(prefix="velum-hostile-")
    t0 = time.monotonic()
    # The modules are generated now, into the build dir; the marker path is this run's.
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    all_cases = gen_hostile.cases(os.path.join(tmp, "INJECTED"))
    unknown = only - {c.name for c in all_cases}
    check(not unknown, f"unknown cases {sorted(unknown)}")
    chosen = [c for c in all_cases if not only or c.name in only]
    for c in chosen:
        with open(os.path.join(out_dir, c.name + ".wasm"), "wb") as f:
            f.write(c.data)
    log(f"{len(chosen)} hostile modules written to {out_dir} in {time.monotonic() - t0:.1f} s")
    bench = None
    failed = []
    try:
        bench = Bench(node_bin, velum, wasm_dir, out_dir, tmp)
        for case in chosen:
            log(f"--- {case.name}: {case.about} ({len(case.data)} bytes, expect {case.expect}"
                f"{'' if case.value is None else ' ' + str(case.value)})")
            problems = run_case(bench, case)
            try:
                bugs.check(case.name, not problems, "; ".join(problems))
            except TestFailure as e:
                log(f"FAIL {case.name}: {e}")
                failed.append(case.name)
    except Exception as e:  # noqa: BLE001 - a crash of the test is a failure too
        log(f"FAIL: {type(e).__name__}: {e}")
        failed.append("harness")
        if bench:
            bench.mesh.dump_logs()
    finally:
        if bench:
            for n in bench.mesh.h.nodes:  # their compilers and executors too
                if n.running():
                    kill_tree(n.pid)
            bench.mesh.h.cleanup()
            left = sorted(listing([bench.tmpdir]))
            if left:
                log(f"NOTE: {len(left)} files left in TMPDIR (compilers killed mid-run): {left[:3]}")
        os.chdir("/")
        if os.environ.get("HOSTILE_KEEP") == "1":
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if bugs.xpassed:
        failed.append("xpass")
    log(f"{len(chosen)} cases in {time.monotonic() - t0:.1f} s; "
        f"{len(failed)} failed {failed}; known broken (xfail unless fixed): {sorted(KNOWN_BROKEN)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
