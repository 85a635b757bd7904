"""Helpers of the mesh benchmarks (bench/mesh_scaling.py, mesh_dispatch.py, mesh_failures.py):
node processes on loopback sharing a private temporary home, exact reference answers, the
machine's load, medians and JSON output. Python 3 standard library; the node processes are
driven by tests/e2e/mesh_lib.py (stdin/stdout with --json, free ports, ended by PID)."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from mesh_lib import (Harness, TestFailure, check, free_port, free_udp_port,  # noqa: E402,F401
                      full_mesh, job_row, log, prime_count, submit, wait_for)

CORES = os.cpu_count() or 1


def quick():
    """BENCH_QUICK=1: short settings, to check that everything works (figures meaningless)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def loadavg():
    """The 1, 5 and 15 minute load averages of the machine."""
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def median(xs):
    return statistics.median(xs) if xs else None


def write_json(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    log(f"wrote {path}")


def tree_cpu_seconds(pids):
    """User + system CPU seconds used so far by the processes `pids` and all their descendants
    (a node's executors): on a shared machine, what the mesh really got of the cores."""
    clk = os.sysconf("SC_CLK_TCK")
    children, cpu = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(d)
        children.setdefault(int(fields[1]), []).append(pid)
        # utime + stime, plus cutime + cstime: what its reaped children used (an executor
        # killed and replaced, a compiler run), so that nothing is lost when a process ends.
        cpu[pid] = sum(int(x) for x in fields[11:15]) / clk
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


class Build:
    """Where the programs and modules of a build directory are."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.node = os.path.join(self.dir, "node")
        self.mesh_bench = os.path.join(self.dir, "bench", "velum-bench-mesh")
        for path in (self.node, self.mesh_bench):
            check(os.access(path, os.X_OK), f"{path} is not built (ninja -C {self.dir} node "
                  "velum-bench-mesh velum_wasm velum-executor)")

    def wasm(self, name):
        path = os.path.join(self.dir, "wasm", name + ".wasm")
        check(os.path.exists(path), f"module {path} is missing (build the velum_wasm target)")
        return path

    def native(self, func, start, end):
        """The exact answer of pi_hits or count_primes over [start, end), computed natively
        from the modules' own C source (velum-bench-mesh --native, two threads)."""
        out = subprocess.run([self.mesh_bench, "--native", func, str(start), str(end)],
                             check=True, capture_output=True, text=True)
        return int(out.stdout.strip())


def expected_answer(build, func, start, end):
    """The exact answer a scatter must give. count_primes from a sieve in Python (independent
    of the module's code), and checked against the native build of the module's source;
    pi_hits from the native build only (4e9 splitmix draws are out of Python's reach)."""
    t0 = time.monotonic()
    native = build.native(func, start, end)
    if func == "count_primes":
        check(start == 0, "count_primes references are computed from 0")
        sieve = prime_count(end)
        check(sieve == native, f"count_primes 0 {end}: sieve {sieve} != native {native}")
    log(f"reference {func} [{start}, {end}) = {native} ({time.monotonic() - t0:.1f} s)")
    return native


class SharedHomeMesh:
    """Node processes on loopback sharing one private temporary --home (they find each other
    through HOME/nodes and a shared discovery port, share the cluster key, the module store
    and the AOT cache: a module compiled once is warm for every node)."""

    def __init__(self, build, label):
        self.build = build
        self.tmp = tempfile.mkdtemp(prefix=f"velum-bench-{label}-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.h = Harness(build.node, self.tmp)
        self.discovery = free_udp_port()
        self.nodes = {}

    def add(self, node_id, slots=1, extra=()):
        args = ["--port", str(free_port()), "--no-broadcast", "--bind", "127.0.0.1",
                "--advertise", "127.0.0.1", "--home", self.home,
                "--discovery-port", str(self.discovery), "--beacon", f"127.0.0.1:{self.discovery}",
                "--slots", str(slots)] + list(extra)
        n = self.h.node(node_id, args)
        self.nodes[node_id] = n
        return n

    def form(self, timeout=30):
        """Starts the nodes not running; waits until all are alive and linked to each other."""
        nodes = list(self.nodes.values())
        for n in nodes:
            if not n.running():
                n.start()
        wait_for(f"full mesh of {sorted(self.nodes)} with links", full_mesh(nodes, links=True),
                 timeout)

    def cpu_seconds(self):
        """CPU seconds used so far by the running nodes and their executors."""
        return tree_cpu_seconds([n.pid for n in self.nodes.values() if n.running()])

    def close(self, keep=False):
        self.h.cleanup()
        if keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def dump_logs(self):
        self.h.dump_logs([self.home])


def scatter(node, line, want, timeout):
    """A foreground scatter that must be done with the exact answer `want`, every item
    computed once in the tally; its summary."""
    r = node.cmd(f"scatter {line}", timeout=timeout)
    check("error" not in r and r.get("state") == "done", f"{node.name}: scatter {line} -> {r}")
    check(r["result"] == want, f"scatter {line}: result {r['result']}, want {want}")
    check(r["items_done"] == r["items_total"], f"scatter {line}: items {r['items_done']} of "
          f"{r['items_total']}")
    items = sum(w["items"] for w in r["workers"])
    check(items == r["items_total"], f"scatter {line}: the workers' items add up to {items}, not "
          f"{r['items_total']}: {r['workers']}")
    return r


def wait_job(node, job, want, timeout):
    """`wait JOB`: the job must be done with the exact answer; its summary."""
    r = node.cmd(f"wait {job}", timeout=timeout)
    check("error" not in r and r.get("state") == "done", f"{node.name}: wait {job} -> {r}")
    check(r["result"] == want, f"job {job}: result {r['result']}, want {want}")
    check(r["items_done"] == r["items_total"], f"job {job}: items {r['items_done']} of "
          f"{r['items_total']}")
    return r


def run_main(body):
    """Runs body(); on a failed check prints why and exits 1, so that a broken run cannot
    produce a figure (the scripts print the nodes' logs on the way out)."""
    try:
        body()
    except TestFailure as e:
        log(f"FAILED: {e}")
        sys.exit(1)
