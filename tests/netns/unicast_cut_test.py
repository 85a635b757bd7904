#!/usr/bin/env python3
"""A host whose unicast traffic is lost while its broadcast beacons still get out (issue 9):
four network namespaces on a bridge, a scatter running, and nftables rules in one worker's
namespace that drop every unicast packet in and out of its eth0 but let broadcast through.
The cut node keeps running local calls, so its load changes and its incarnation moves on
about once a second: every beacon it broadcasts carries a newer number. The others must
declare it dead like a silent host (those beacons must not refute the suspicion nor revive
it), keep it dead while the rules hold, finish the job, and take it back once the rules are
removed. Before the fix it stayed suspect/alive for as long as the rules held.

Usage: unicast_cut_test.py NODE_BINARY WASM_DIR   (needs root, `ip netns` and `nft`; exits 77
otherwise)

Topology, all inside namespaces created for this run (names carry the test's pid):

    vu1-PID .. vu4-PID (eth0 10.X.0.ID/24) --veth-- br0 in vub-PID

Each node: default ports (8000+ID), --discovery-port 18889 with broadcast, --slots 1, its own
--home and the same key. The rules, in vu3-PID only (table inet velum_cut, loaded in one `nft -f` transaction):
    input:  iifname eth0 meta pkttype host drop          (unicast to this host)
    output: oifname eth0 ip daddr != { 10.X.0.255, 255.255.255.255 } drop
Figures: `FIGURE netns_unicast_cut_...=VALUE` lines."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from mesh_lib import (Harness, TestFailure, check, figure, full_mesh, job_row,  # noqa: E402
                      log, prime_count, states_are, submit, views, wait_for)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_lib import Bridge, skip  # noqa: E402

DISCOVERY_PORT = 18889
IDS = (1, 2, 3, 4)
NET = Bridge("vub", "vu", IDS)
BRIDGE_NS, NODE_NS, SUBNET = NET.bridge_ns, NET.node_ns, NET.subnet
N = int(os.environ.get("CUT_ITEMS", "12000000"))
CUT = 3  # the worker whose unicast traffic is dropped
# The others must hold it dead within this (a silent host: <= 3 s at default settings; a
# loaded machine gets slack) and keep it dead for HOLD_S while the rules are in place.
DEAD_LIMIT_S = 6.0
HOLD_S = 6.0


def nft(ns, *args):
    r = subprocess.run(["ip", "netns", "exec", ns, "nft", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise TestFailure(f"nft {' '.join(args)} in {ns}: {r.stderr.strip()}")


def cut_unicast(ns, tmp):
    """Installs the rules in one transaction (nft -f), so they take effect together."""
    rules = os.path.join(tmp, "cut.nft")
    with open(rules, "w") as f:
        f.write("table inet velum_cut {\n"
                "  chain in { type filter hook input priority 0; policy accept;\n"
                "    iifname eth0 meta pkttype host drop\n  }\n"
                "  chain out { type filter hook output priority 0; policy accept;\n"
                f"    oifname eth0 ip daddr != {{ {SUBNET}.255, 255.255.255.255 }} drop\n  }}\n"
                "}\n")
    nft(ns, "-f", rules)


class LocalCalls:
    """A thread that runs `wasm sum.wasm sum 1 2 0 --local` on a node every 100 ms."""

    def __init__(self, node, module):
        self.node, self.module = node, module
        self.done, self.errors = 0, []
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.halt.set()
        self.thread.join(10)

    def _run(self):
        while not self.halt.is_set():
            try:
                r = self.node.cmd(f"wasm {self.module} sum 1 2 0 --local", timeout=10)
                if r.get("result") == 3:
                    self.done += 1
                else:
                    self.errors.append(r)
            except TestFailure as e:
                self.errors.append(str(e))
            self.halt.wait(0.1)


def main():
    if len(sys.argv) != 3 or not os.access(sys.argv[1], os.X_OK) or not os.path.isdir(sys.argv[2]):
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        skip("needs root (ip netns, nft)")
    if not shutil.which("nft"):
        skip("`nft` (nftables) not found")
    binary, wasm_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    primes = os.path.join(wasm_dir, "primes.wasm")
    tmp = tempfile.mkdtemp(prefix="velum-cut-netns-")
    os.chmod(tmp, 0o755)
    h = Harness(binary, tmp)
    homes = []
    try:
        NET.set_up("test a host that loses unicast but not broadcast")
        log(f"namespaces {BRIDGE_NS} (bridge), {', '.join(NODE_NS.values())}; subnet {SUBNET}.0/24")
        key = os.path.join(tmp, "cluster.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key, 0o600)
        nodes = []
        for i, ns in NODE_NS.items():
            home = os.path.join(tmp, f"home{i}")
            os.makedirs(home)
            homes.append(home)
            nodes.append(h.node(i, ["--discovery-port", str(DISCOVERY_PORT), "--home", home,
                                    "--cluster-key", key, "--slots", "1"],
                                argv_prefix=["ip", "netns", "exec", ns]))
        coord, cut = nodes[0], nodes[CUT - 1]
        others = [n for n in nodes if n is not cut]
        for n in nodes:
            n.start()
        wait_for("full mesh of 4 namespaces with links", full_mesh(nodes, links=True), 20)
        r = coord.cmd(f"scatter {primes} count_primes 0 500000", timeout=60)
        check(r.get("result") == 41538, f"warm-up scatter: {r}")

        job = submit(coord, f"scatter {primes} count_primes 0 {N}")

        def cut_is_working():
            row = job_row(coord, job)
            check(row["state"] == "running", f"the job ended before the cut: {row}")
            mine = sum(w["items"] for w in row["workers"] if w["id"] == CUT)
            return mine > 0, (row["items_done"], mine)
        wait_for(f"node {CUT} contributing to the job", cut_is_working, 60, interval=0.03)

        t_cut = time.monotonic()
        cut_unicast(NODE_NS[CUT], tmp)
        log(f"rules in place {(time.monotonic() - t_cut) * 1000:.0f} ms after nft started")
        log(f"unicast of node {CUT} dropped by nftables (broadcast still flows)")
        # It keeps working: local calls, so its load changes and its incarnation moves on (at
        # most once a second), and every beacon it broadcasts carries the new number.
        calls = LocalCalls(cut, os.path.join(wasm_dir, "sum.wasm"))
        calls.start()
        wait_for(f"node {CUT} dead for the others", states_are(others, [CUT], {"dead"}),
                 DEAD_LIMIT_S + 10)
        dead_s = time.monotonic() - t_cut
        log(f"node {CUT} dead for nodes 1, 2, 4 after {dead_s * 1000:.0f} ms")
        figure("netns_unicast_cut_dead_ms", dead_s * 1000, "ms")
        check(dead_s <= DEAD_LIMIT_S,
              f"node {CUT} took {dead_s:.1f} s to be declared dead (limit {DEAD_LIMIT_S} s)")

        # Its beacons keep coming, with ever newer incarnations: it must stay dead (no flapping).
        flaps = []
        end = time.monotonic() + HOLD_S
        while time.monotonic() < end:
            v = views(others, [CUT])
            bad = {o: row[CUT] for o, row in v.items() if row[CUT] != "dead"}
            if bad:
                flaps.append(bad)
            time.sleep(0.1)
        check(not flaps, f"node {CUT} came back while its unicast was dropped: {flaps[:5]}")
        inc_seen = max(o.peers()[CUT]["incarnation"] for o in others)
        inc_cut = cut.status()["incarnation"]
        log(f"node {CUT}'s incarnation {inc_cut}; the others hold {inc_seen}")
        figure("netns_unicast_cut_incarnation_bumps", inc_cut - inc_seen)

        rr = coord.cmd(f"wait {job}", timeout=120)
        check(rr.get("state") == "done" and rr.get("result") == prime_count(N),
              f"job {job} with node {CUT} cut off: {rr}")
        figure("netns_unicast_cut_job_ms", float(rr["elapsed_ms"]), "ms")
        # Node 3's open attempt is taken over either way: reassigned when its death is declared
        # (the coordinator then records node 3's loss), or, when the job's end comes first (the
        # job lasts about as long as detection takes), already duplicated by a backup on an
        # idle worker. A backup that wins before the death is declared ends node 3's attempt,
        # so node 3 then holds nothing to lose and no loss is recorded (seen in CI: backups 1,
        # failures [], node 3 dead 41 ms before the job's end).
        lost = [f for f in rr.get("failures", []) if f["worker"] == CUT and f["attempts"] >= 1]
        by_reassignment = rr["reassigned"] >= 1 and lost and rr["detection_ms"] is not None
        by_backup = rr["backups"] >= 1
        check(by_reassignment or by_backup, f"node {CUT}'s work was not taken over: {rr}")
        log(f"node {CUT}'s attempt taken over by "
            f"{'reassignment' if rr['reassigned'] >= 1 else 'a backup before its death was declared'}")
        figure("netns_unicast_cut_detection_ms", rr["detection_ms"])

        calls.stop()
        check(calls.done > 0 and not calls.errors, f"node {CUT}'s local calls: {calls.done} "
              f"done, errors {calls.errors[:3]}")
        # The rules go: it is alive and linked again everywhere.
        nft(NODE_NS[CUT], "delete", "table", "inet", "velum_cut")
        t0 = time.monotonic()
        wait_for("the mesh of 4 healed after the cut", full_mesh(nodes, links=True), 30)
        figure("netns_unicast_cut_heal_ms", (time.monotonic() - t0) * 1000, "ms")
        check(cut.running(), f"node {CUT} exited")
        log("PASS")
        return 0
    except TestFailure as e:
        log(f"FAIL: {e}")
        h.dump_logs(homes)
        return 1
    finally:
        h.cleanup()
        NET.tear_down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))  # the finally block cleans up
    sys.exit(main())
