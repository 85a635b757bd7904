"""Network namespaces on a bridge, for the tests that need separate hosts (netns_test.py,
jobs_netns_test.py): created for one run, named after its pid, removed on the way out."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from mesh_lib import SKIP, TestFailure  # noqa: E402


def ip(*args, check_rc=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise TestFailure(f"ip {' '.join(args)}: {r.stderr.strip()} (exit {r.returncode})")
    return r


def skip(msg):
    print(f"SKIP: {msg}", flush=True)
    sys.exit(SKIP)


class Bridge:
    """One namespace holding a bridge br0 and one namespace per node id, each with an eth0
    (SUBNET.ID/24) on a veth into the bridge. Both ends of every veth are created inside
    namespaces: nothing appears in the host's own network namespace."""

    def __init__(self, bridge_prefix, node_prefix, ids):
        pid = os.getpid()
        self.bridge_ns = f"{bridge_prefix}-{pid}"
        self.node_ns = {i: f"{node_prefix}{i}-{pid}" for i in ids}
        self.subnet = f"10.{100 + pid % 150}.0"  # inside private namespaces: cannot clash
        self.created = []

    def set_up(self, purpose):
        """Creates it all, or exits with SKIP (77) saying why it cannot (not root, no `ip`,
        no namespaces or bridges in this kernel or container)."""
        if os.geteuid() != 0:
            skip(f"needs root (ip netns); run as root to {purpose}")
        if not shutil.which("ip"):
            skip("`ip` (iproute2) not found")
        r = ip("netns", "add", self.bridge_ns, check_rc=False)
        if r.returncode != 0:
            skip(f"`ip netns add` failed: {r.stderr.strip()}")
        self.created.append(self.bridge_ns)
        r = ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge", check_rc=False)
        if r.returncode != 0:
            skip(f"cannot create a bridge in a namespace: {r.stderr.strip()}")
        ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        for i, ns in self.node_ns.items():
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", self.bridge_ns, "link", "add", f"veth{i}", "type", "veth", "peer", "name",
               "eth0", "netns", ns)
            ip("-n", self.bridge_ns, "link", "set", f"veth{i}", "master", "br0")
            ip("-n", self.bridge_ns, "link", "set", f"veth{i}", "up")
            ip("-n", ns, "addr", "add", f"{self.subnet}.{i}/24", "brd", "+", "dev", "eth0")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", "eth0", "up")

    def tear_down(self):
        for ns in reversed(self.created):
            ip("netns", "del", ns, check_rc=False)
        self.created.clear()
