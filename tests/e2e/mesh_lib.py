"""Helpers shared by the mesh end-to-end tests (tests/e2e/mesh_test.py) and the network
namespace test (tests/netns/netns_test.py): node processes driven through their stdin/stdout
with --json, polling with deadlines, free ports, and FIGURE lines. Python 3 standard library.

A Node is started with stdin a pipe kept open and stdout a pipe read by a thread; a query
writes one command line and reads the one JSON line that answers it. Every process dies with
the test: the harness kills them by PID at the end, and PR_SET_PDEATHSIG kills them if the
test itself is killed (even a node stopped by SIGSTOP)."""

import ctypes
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77  # ctest SKIP_RETURN_CODE


class TestFailure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def figure(name, value, unit=""):
    """One parseable line per measured figure: FIGURE name=value."""
    if isinstance(value, float):
        value = f"{value:.0f}" if unit == "ms" else f"{value:.3f}"
    print(f"FIGURE {name}={value}", flush=True)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def _unassigned_port_range():
    """Ports the kernel never hands out on its own: below the ephemeral range, where a port
    released by free_port() cannot be taken meanwhile by some other test's outgoing socket."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    high = max(ephemeral_low, 2048)
    return max(1024, high - 20000), high


_handed_out = set()  # ports this process already gave to a node: never twice


def free_port(host="127.0.0.1"):
    """A port free for both TCP and UDP on `host`, chosen at random below the ephemeral range
    (tests run in parallel: a port from bind(0) may be reused as a client's local port before
    the node binds it)."""
    low, high = _unassigned_port_range()
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1000):
        port = rng.randrange(low, high)
        if port in _handed_out:
            continue
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((host, port))
            u.bind((host, port))
            _handed_out.add(port)
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise TestFailure("no free port found")


def free_udp_port(host="127.0.0.1"):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind((host, 0))
        return u.getsockname()[1]
    finally:
        u.close()


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent(nofile=None):
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setpgid(0, 0)  # own group: a ^C on the test's terminal reaches the test, not the nodes
    if nofile:
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))


class Node:
    """One node process. `argv_prefix` runs it inside something (e.g. ip netns exec NS)."""

    def __init__(self, binary, node_id, args, log_dir, argv_prefix=(), name=None, nofile=None):
        self.binary = binary
        self.id = node_id
        self.args = list(args)
        self.log_dir = log_dir
        self.argv_prefix = list(argv_prefix)
        self.name = name or f"node{node_id}"
        self.nofile = nofile  # RLIMIT_NOFILE of the process, if given
        self.proc = None
        self.lines = None
        self.stopped = False
        self.starts = 0
        self.lock = threading.Lock()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self):
        return self.argv_prefix + [self.binary, str(self.id)] + self.args + ["--json"]

    def start(self):
        if self.proc is not None:
            self.kill()  # a restart: reap the old process, close its pipes
        self.starts += 1
        self.stderr_path = os.path.join(self.log_dir, f"{self.name}.stderr.{self.starts}")
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=err, bufsize=0,
                                     preexec_fn=lambda: _die_with_parent(self.nofile))
        err.close()
        self.stopped = False
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(self.proc, self.lines),
                                       daemon=True)
        self.reader.start()
        return self

    @staticmethod
    def _read(proc, lines):
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)  # EOF

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def cmd(self, line, timeout=5.0):
        """Writes one command, returns the JSON object of the one line that answers it."""
        with self.lock:
            if not self.running():
                raise TestFailure(f"{self.name} is not running (exit code "
                                  f"{self.proc.returncode if self.proc else None}); "
                                  f"stderr: {self.stderr_tail()}")
            while True:  # answers to earlier queries that timed out are stale: drop them
                try:
                    if self.lines.get_nowait() is None:
                        self.lines.put(None)
                        break
                except queue.Empty:
                    break
            try:
                self.proc.stdin.write((line + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as e:
                raise TestFailure(f"{self.name}: cannot write '{line}': {e}")
            try:
                out = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise TestFailure(f"{self.name} did not answer '{line}' within {timeout} s")
            if out is None:
                self.lines.put(None)
                raise TestFailure(f"{self.name} closed stdout instead of answering '{line}'; "
                                  f"stderr: {self.stderr_tail()}")
            try:
                return json.loads(out)
            except ValueError:
                raise TestFailure(f"{self.name} answered '{line}' with non-JSON: {out!r}")

    def peers(self):
        """{id: peer object} from the `peers` command."""
        r = self.cmd("peers")
        check("peers" in r, f"{self.name}: peers answered {r}")
        return {p["id"]: p for p in r["peers"]}

    def status(self):
        r = self.cmd("status")
        check("id" in r and "datagrams_dropped" in r, f"{self.name}: status answered {r}")
        return r

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)
        if sig == signal.SIGSTOP:
            self.stopped = True
        elif sig == signal.SIGCONT:
            self.stopped = False

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """SIGKILL by PID (also works on a stopped process), then reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        # stdout is closed only once its reader has seen EOF: closing it under a reader still
        # in read() frees the descriptor number, the next node's pipe reuses it, and the old
        # reader steals bytes from the new node's answers. A pipe still held open by some
        # leftover child is left open (the reader is a daemon thread).
        self.reader.join(timeout=5)
        if not self.reader.is_alive():
            self.proc.stdout.close()

    def state(self):
        """The process state letter from /proc (R, S, T for stopped, Z...), or None."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, AttributeError):
            return None

    def cpu_seconds(self):
        """User + system CPU time used so far (from /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stderr_tail(self, n=2000):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read()
            return data[-n:].decode(errors="replace").strip() or "(empty)"
        except (OSError, AttributeError):
            return "(none)"


class Harness:
    """Owns the node processes of one test; cleanup() kills them all by PID."""

    def __init__(self, binary, log_dir):
        self.binary = binary
        self.log_dir = log_dir
        self.nodes = []

    def node(self, node_id, args, **kw):
        n = Node(self.binary, node_id, args, self.log_dir, **kw)
        self.nodes.append(n)
        return n

    def cleanup(self):
        for n in self.nodes:
            n.kill()

    def dump_logs(self, homes=()):
        for n in self.nodes:
            print(f"--- {n.name} (pid {n.pid}) stderr: {n.stderr_tail()}", file=sys.stderr)
        for home in homes:
            logs = os.path.join(home, "logs")
            if not os.path.isdir(logs):
                continue
            for name in sorted(os.listdir(logs)):
                with open(os.path.join(logs, name), "rb") as f:
                    tail = f.read()[-3000:].decode(errors="replace")
                print(f"--- {home}/logs/{name} (tail):\n{tail}", file=sys.stderr)


class KnownBugs:
    """Checks that fail because of a known, reported bug in src/. Such a check prints XFAIL and
    does not fail the test; once the bug is fixed it prints XPASS and the test FAILS, so that
    the mark is removed and the check guards against regressions from then on."""

    def __init__(self, bugs, where):
        self.bugs = bugs  # name -> description (file, cause)
        self.where = where
        self.xpassed = []

    def check(self, name, ok, detail):
        if name not in self.bugs:
            check(ok, detail)
            return
        if ok:
            log(f"XPASS {name}: the known bug seems fixed; remove '{name}' from KNOWN_BUGS in "
                f"{self.where} so that this check guards it")
            self.xpassed.append(name)
        else:
            log(f"XFAIL {name} (known bug: {self.bugs[name]}): {detail}")


def run_homes_cases(doc, cases, label, bugs, describe=lambda mesh: ""):
    """The main() of a test of named cases on a HomesMesh: argv is NODE_BINARY WASM_DIR
    [CASE|all]. Each case gets its own temporary directory and mesh, ended by PID whatever
    happens; a failure prints the nodes' logs. Returns the exit status."""
    if len(sys.argv) < 3 or not os.access(sys.argv[1], os.X_OK) or not os.path.isdir(sys.argv[2]):
        print(doc, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    which = sys.argv[3] if len(sys.argv) > 3 else "all"
    names = list(cases) if which == "all" else [which]
    failed = []
    for name in names:
        if name not in cases:
            print(f"unknown case {name}; cases: {', '.join(cases)}", file=sys.stderr)
            return 2
        tmp = tempfile.mkdtemp(prefix=f"velum-{label}-{name}-")
        mesh = HomesMesh(binary, tmp)
        t0 = time.monotonic()
        log(f"=== {name} (tmp {tmp}{describe(mesh)})")
        try:
            cases[name](mesh)
            log(f"=== {name}: PASS ({time.monotonic() - t0:.1f} s)")
        except Exception as e:  # noqa: BLE001 - a crash in the test is a failure too
            log(f"=== {name}: FAIL: {type(e).__name__}: {e}")
            mesh.dump_logs()
            failed.append(name)
        finally:
            mesh.h.cleanup()
            if os.environ.get("MESH_KEEP") == "1":
                log(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    if bugs.xpassed:
        log(f"XPASS (known bugs now fixed: update KNOWN_BUGS): {bugs.xpassed}")
        failed.append("xpass")
    if failed:
        log(f"FAILED: {failed}")
        return 1
    return 0


def wait_for(what, pred, timeout, interval=0.02):
    """Polls pred() -> (ok, detail) until ok or the deadline; returns seconds waited. On
    timeout raises TestFailure with the last detail, so a failure says what was observed."""
    start = time.monotonic()
    detail = None
    while True:
        ok, detail = pred()
        if ok:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TestFailure(f"timed out after {timeout} s waiting for {what}; last seen: {detail}")
        time.sleep(interval)


def views(observers, subject_ids):
    """{observer id: {subject id: state or 'absent'}} from each observer's peers list."""
    out = {}
    for o in observers:
        p = o.peers()
        out[o.id] = {s: p[s]["state"] if s in p else "absent" for s in subject_ids}
    return out


def states_are(observers, subject_ids, wanted):
    """A predicate: every observer sees every subject in a state in `wanted` (a set)."""
    def pred():
        v = views(observers, subject_ids)
        ok = all(st in wanted for row in v.values() for st in row.values())
        return ok, v
    return pred


def full_mesh(nodes, links=False, ids=None):
    """A predicate: every node sees every other node alive (and with links=True, its TCP link
    up), and knows no other live member. `ids`: the members expected (default: the nodes')."""
    ids = set(ids) if ids is not None else {n.id for n in nodes}

    def pred():
        detail = {}
        ok = True
        for n in nodes:
            peers = n.peers()
            row = {}
            for other in ids - {n.id}:
                p = peers.get(other)
                row[other] = "absent" if p is None else p["state"] + ("+link" if p["link"] else "")
                if p is None or p["state"] != "alive" or (links and not p["link"]):
                    ok = False
            extra = [i for i, p in peers.items() if i not in ids and p["state"] in ("alive", "suspect")]
            if extra:
                row["unexpected"] = extra
                ok = False
            detail[n.id] = row
        return ok, detail
    return pred


# --- Jobs (tests/e2e/jobs_test.py, fault_test.py, tests/netns/jobs_netns_test.py) -----------

JOB_FIELDS = ("job", "state", "module", "func", "start", "end", "reducer", "items_done",
              "items_total", "elapsed_ms", "chunks", "workers", "reassigned", "reassigned_items",
              "recomputed", "stale_reports", "backups", "retries", "detection_ms", "failures",
              "resumed")
WORKER_FIELDS = ("id", "chunks", "items", "seconds", "items_per_s", "held")
FAILURE_FIELDS = ("worker", "detection_ms", "attempts", "reassigned_items", "recomputed_items")


def write_cluster_key(path):
    """A fresh random cluster key file (32 bytes, mode 0600) for nodes with separate homes."""
    with open(path, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(path, 0o600)
    return path


class HomesMesh:
    """Nodes on loopback, each with its own --home (its own module store and journal, so
    modules really travel between nodes) and one shared --cluster-key file. They find each
    other by unicast beacons to one shared discovery port (--discovery-port U --beacon
    127.0.0.1:U); `seed=True` also makes each node --join the first one added."""

    def __init__(self, binary, tmp, seed=False):
        self.tmp = tmp
        self.h = Harness(binary, tmp)
        self.key = write_cluster_key(os.path.join(tmp, "cluster.key"))
        self.discovery = free_udp_port()
        self.seed = seed
        self.ports = {}
        self.homes = {}

    def add(self, node_id, extra=(), slots=None, name=None):
        port = free_port()
        home = os.path.join(self.tmp, f"home{node_id}")
        os.makedirs(home, exist_ok=True)
        args = ["--port", str(port), "--no-broadcast", "--bind", "127.0.0.1",
                "--advertise", "127.0.0.1", "--home", home, "--cluster-key", self.key,
                "--discovery-port", str(self.discovery), "--beacon", f"127.0.0.1:{self.discovery}"]
        if self.seed and self.ports:
            args += ["--join", f"127.0.0.1:{next(iter(self.ports.values()))}"]
        if slots is not None:
            args += ["--slots", str(slots)]
        args += list(extra)
        self.ports[node_id] = port
        self.homes[node_id] = home
        return self.h.node(node_id, args, name=name)

    def form(self, nodes, label, timeout=20):
        """Starts the nodes that are not running; waits until all are alive and linked to each
        other (jobs need the links); returns the seconds that took."""
        for n in nodes:
            if not n.running():
                n.start()
        t0 = time.monotonic()
        wait_for(f"{label}: full mesh of {[n.id for n in nodes]} with links",
                 full_mesh(nodes, links=True), timeout)
        return time.monotonic() - t0

    def dump_logs(self):
        self.h.dump_logs(list(self.homes.values()))


def job_row(node, job_id):
    """The job's summary from the node's `jobs` list (None if not listed)."""
    r = node.cmd("jobs")
    check("jobs" in r, f"{node.name}: jobs answered {r}")
    for j in r["jobs"]:
        if j["job"] == job_id:
            return j
    return None


def submit(node, line):
    """Runs `scatter ... &` and returns the job id."""
    r = node.cmd(line + " &")
    check("job" in r and r.get("state") == "running", f"{node.name}: '{line} &' answered {r}")
    return r["job"]


def check_job_shape(j, where):
    """The fields of a job summary (scatter, wait and jobs print the same object)."""
    missing = [f for f in JOB_FIELDS if f not in j]
    check(not missing, f"{where}: job summary lacks {missing}: {j}")
    for w in j["workers"]:
        wm = [f for f in WORKER_FIELDS if f not in w]
        check(not wm, f"{where}: worker row lacks {wm}: {w}")
    for f in j["failures"]:
        fm = [k for k in FAILURE_FIELDS if k not in f]
        check(not fm, f"{where}: failure record lacks {fm}: {f}")
    if j["state"] == "done":
        check("result" in j, f"{where}: a done job without a result: {j}")


def failure_of(j, worker_id):
    """The job summary's failure records of one worker (a list: it may be lost twice)."""
    return [f for f in j["failures"] if f["worker"] == worker_id]


def busy_slots(nodes):
    """{id: busy_slots} of the running nodes."""
    return {n.id: n.status()["busy_slots"] for n in nodes}


def idle(nodes):
    """A predicate: no running slice or call on any of the nodes."""
    def pred():
        b = busy_slots(nodes)
        return all(v == 0 for v in b.values()), b
    return pred


def prime_count(n):
    """pi(n - 1): primes in [0, n), by a sieve (the exact answer of count_primes 0 n)."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for i in range(2, int((n - 1) ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n, i)))
    return sum(sieve)


def child_sockets(node):
    """(child pids, {child pid: [fd, ...]}): the node's child processes (executors, compilers)
    and the sockets they hold beyond their channel (fd 3); an inherited socket would keep a
    link open for the peer after the node closed it."""
    out = {}
    children = []
    try:
        for tid in os.listdir(f"/proc/{node.pid}/task"):
            with open(f"/proc/{node.pid}/task/{tid}/children") as f:
                children += [int(c) for c in f.read().split()]
    except OSError:
        return children, out
    try:
        node_exe = os.readlink(f"/proc/{node.pid}/exe")
    except OSError:
        node_exe = None
    for child in children:
        try:
            # A child spawned for a compiler or an executor that has not reached exec yet is
            # still the node's image: posix_spawn closes its descriptors (beyond the channel)
            # before the exec, so it is not counted.
            if node_exe and os.readlink(f"/proc/{child}/exe") == node_exe:
                continue
            fds = os.listdir(f"/proc/{child}/fd")
        except OSError:
            continue
        leaked = []
        for fd in fds:
            try:
                if int(fd) > 3 and os.readlink(f"/proc/{child}/fd/{fd}").startswith("socket:"):
                    leaked.append(int(fd))
            except OSError:
                pass
        if leaked:
            out[child] = sorted(leaked)
    return children, out
