#!/usr/bin/env python3
"""A job across separate hosts (issue 5): four network namespaces on a bridge, a scatter
running, and one worker's link taken down mid-job: the job still ends with the exact result.

Usage: jobs_netns_test.py NODE_BINARY WASM_DIR   (needs root and `ip netns`; exits 77 otherwise)

Topology, all inside namespaces created for this run (names carry the test's pid):

    vj1-PID (eth0 10.X.0.1/24) --veth--+
    vj2-PID (eth0 10.X.0.2/24) --veth--+
    vj3-PID (eth0 10.X.0.3/24) --veth--+-- br0 in vjb-PID
    vj4-PID (eth0 10.X.0.4/24) --veth--+

Each node: default ports (8000+ID), --discovery-port 18888 with broadcast (no --join, no
--beacon), --slots 1, its own --home (modules travel between the hosts) and the same key
(--cluster-key). Node 1 coordinates `scatter primes count_primes 0 N` in the background; once
node 3 has committed work and a quarter of the job is done, `ip link set eth0 down` in vj3: no
reset reaches anyone, so the coordinator must notice the silence (membership declares node 3
dead) and reassign. Then the link comes back: node 3 rejoins and takes part in a new job.
Figures: `FIGURE netns_job_...=VALUE` lines."""

import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from mesh_lib import (Harness, TestFailure, check, check_job_shape, figure,  # noqa: E402
                      full_mesh, idle, job_row, log, prime_count, states_are, submit, wait_for)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns_lib import Bridge, ip  # noqa: E402

DISCOVERY_PORT = 18888
IDS = (1, 2, 3, 4)
NET = Bridge("vjb", "vj", IDS)
BRIDGE_NS, NODE_NS, SUBNET = NET.bridge_ns, NET.node_ns, NET.subnet
N = int(os.environ.get("FAULT_ITEMS", "16000000"))
DOWN = 3  # the worker whose link goes down


def items_of(row, worker_id):
    return sum(w["items"] for w in row["workers"] if w["id"] == worker_id)


def main():
    if len(sys.argv) != 3 or not os.access(sys.argv[1], os.X_OK) or not os.path.isdir(sys.argv[2]):
        print(__doc__, file=sys.stderr)
        return 2
    binary, wasm_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    primes = os.path.join(wasm_dir, "primes.wasm")
    tmp = tempfile.mkdtemp(prefix="velum-jobs-netns-")
    os.chmod(tmp, 0o755)
    h = Harness(binary, tmp)
    homes = []
    try:
        NET.set_up("test a job across network namespaces")
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
        coord, down = nodes[0], nodes[DOWN - 1]
        others = [n for n in nodes if n is not down]
        for n in nodes:
            n.start()
        t0 = time.monotonic()
        wait_for("full mesh of 4 namespaces with links", full_mesh(nodes, links=True), 20)
        log(f"full mesh across 4 namespaces with links in {(time.monotonic() - t0) * 1000:.0f} ms")
        # Warm-up: every node fetches the module from node 1 over the bridge and compiles it.
        r = coord.cmd(f"scatter {primes} count_primes 0 500000", timeout=60)
        check(r.get("result") == 41538 and len([w for w in r["workers"] if w["items"]]) == 4,
              f"warm-up scatter: {r}")
        for n in nodes[1:]:
            st = n.status()
            check(st["modules_fetched"] == 1, f"node {n.id} fetched {st['modules_fetched']} modules")
        want = prime_count(N)

        job = submit(coord, f"scatter {primes} count_primes 0 {N}")

        def progressed():
            row = job_row(coord, job)
            check(row["state"] == "running", f"the job ended before the link went down: {row}")
            return (row["items_done"] >= 0.25 * N and items_of(row, DOWN) > 0,
                    (row["items_done"], [(w["id"], w["items"]) for w in row["workers"]]))
        wait_for("a quarter of the job done, node 3 contributing", progressed, 60, interval=0.03)
        row = job_row(coord, job)
        t_down = time.monotonic()
        ip("-n", NODE_NS[DOWN], "link", "set", "eth0", "down")
        log(f"link of node {DOWN} down at {row['items_done']}/{N} items "
            f"({items_of(row, DOWN)} by node {DOWN})")
        wait_for(f"node {DOWN} dead for the others", states_are(others, [DOWN], {"dead"}), 15)
        dead_s = time.monotonic() - t_down
        r = coord.cmd(f"wait {job}", timeout=120)
        t_done = time.monotonic()
        check_job_shape(r, f"wait {job}")
        check(r.get("state") == "done" and r["result"] == want,
              f"job {job} after node {DOWN}'s link went down: {r.get('result')} (want {want}): {r}")
        check(r["items_done"] == r["items_total"] == N and sum(w["items"] for w in r["workers"]) == N,
              f"job {job} items: {r}")
        check(r["reassigned"] >= 1, f"nothing reassigned after the link went down: {r}")
        check([f["worker"] for f in r["failures"]] == [DOWN], f"failure records: {r['failures']}")
        check(r["detection_ms"] is not None, f"no detection_ms: {r}")
        check(down.running(), f"node {DOWN} exited when its link went down")
        log(f"exact result {r['result']} {t_done - t_down:.2f} s after the link went down; node "
            f"{DOWN} dead for the others after {dead_s * 1000:.0f} ms; job detection "
            f"{r['detection_ms']} ms, reassigned {r['reassigned']} ({r['reassigned_items']} items), "
            f"recomputed {r['recomputed']}, backups {r['backups']}")
        figure("netns_job_link_down_dead_ms", dead_s * 1000, "ms")
        figure("netns_job_detection_ms", r["detection_ms"])
        figure("netns_job_recomputed_items", r["recomputed"])
        figure("netns_job_link_down_to_done_ms", (t_done - t_down) * 1000, "ms")
        figure("netns_job_elapsed_ms", float(r["elapsed_ms"]), "ms")
        wait_for("the others idle", idle(others), 10)

        # The link comes back: node 3 rejoins, its obsolete work is dropped, and it works again.
        t0 = time.monotonic()
        ip("-n", NODE_NS[DOWN], "link", "set", "eth0", "up")
        wait_for("the mesh of 4 healed after link up", full_mesh(nodes, links=True), 30)
        log(f"after link up, full mesh again in {(time.monotonic() - t0) * 1000:.0f} ms")
        figure("netns_job_heal_ms", (time.monotonic() - t0) * 1000, "ms")
        wait_for(f"node {DOWN} idle after rejoining", idle([down]), 15)
        after = job_row(coord, job)
        check(after["state"] == "done" and after["result"] == want, f"the job changed: {after}")
        r = coord.cmd(f"scatter {primes} count_primes 0 2000000", timeout=60)
        check(r.get("result") == prime_count(2000000) and items_of(r, DOWN) > 0,
              f"a job after the heal, node {DOWN} should take part: {r}")
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
