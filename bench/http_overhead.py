#!/usr/bin/env python3
"""The HTTP server's cost (issue 13): node 1 of a 3-node mesh serves --http; its CPU is
measured over a quiet window, then over a window of the same length in which a real browser
(Debian's chromium, headless) keeps the dashboard open (it polls the API and holds the event
stream) while a scraper GETs /metrics every second, as Prometheus would. The difference, as a
share of one core, is what serving costs (target: under 2 %).

Usage: bench/http_overhead.py --build DIR [--seconds S]   (BENCH_QUICK=1: 10 s windows)
Writes DIR/bench/http_overhead.json."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_bench_lib import (check, loadavg, log, quick, run_main, tree_cpu_seconds,  # noqa: E402
                            wait_for, write_json)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from mesh_lib import HomesMesh, free_port  # noqa: E402


def own_cpu_seconds(pid):
    """User + system CPU seconds of the process itself (not its executors)."""
    clk = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / clk


def window(pid, seconds):
    c0, t0 = own_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # a measurement window, not a wait for a condition
    return (own_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=float, default=10.0 if quick() else 60.0)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    browser = shutil.which("chromium")
    check(browser is not None, "chromium is not installed (scripts/install-deps installs it)")
    tmp = tempfile.mkdtemp(prefix="velum-bench-http-")
    mesh = HomesMesh(os.path.join(build, "node"), tmp)
    port = free_port()
    nodes = [mesh.add(1, extra=["--http", str(port)]), mesh.add(2), mesh.add(3)]
    chrome = None
    try:
        mesh.form(nodes, "http bench")
        url = f"http://127.0.0.1:{port}"
        wait_for("http up", lambda: (urllib.request.urlopen(url + "/api/status").status == 200,
                                     None), 10)
        # Some history for the page to show: finished jobs, as a mesh in use has.
        for _ in range(5):
            nodes[0].cmd(f"scatter {os.path.join(build, 'wasm', 'pi.wasm')} pi_hits 0 1000000",
                         timeout=60)
        pid = nodes[0].pid
        log(f"quiet window: {args.seconds:.0f} s")
        quiet = window(pid, args.seconds)

        stop = threading.Event()
        scrapes = [0]

        def scrape():
            while not stop.is_set():
                with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
                    r.read()
                scrapes[0] += 1
                stop.wait(1.0)
        profile = os.path.join(tmp, "chromium")
        chrome = subprocess.Popen([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                                   "--remote-debugging-port=0", f"--user-data-dir={profile}",
                                   url + "/"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        wait_for("the dashboard's event stream is open",
                 lambda: ("velum_http_event_clients 1" in
                          urllib.request.urlopen(url + "/metrics").read().decode(), None), 30)
        requests0 = nodes[0].cmd("status")["http"]["requests"]
        log(f"dashboard + /metrics each second: {args.seconds:.0f} s")
        browser_cpu0 = tree_cpu_seconds([chrome.pid])
        served = window(pid, args.seconds)
        browser_cpu = (tree_cpu_seconds([chrome.pid]) - browser_cpu0) / args.seconds
        requests = nodes[0].cmd("status")["http"]["requests"] - requests0
        stop.set()
        scraper.join()
        overhead = served - quiet
        result = {
            "seconds": args.seconds, "loadavg": loadavg(),
            "node_cpu_quiet": quiet, "node_cpu_served": served,
            "overhead_share_of_a_core": overhead, "requests_in_window": requests,
            "scrapes": scrapes[0], "browser_cpu_share": browser_cpu,
        }
        log(f"node 1 CPU: quiet {quiet * 100:.2f} % of a core, with the dashboard and "
            f"/metrics each second {served * 100:.2f} %: serving costs {overhead * 100:.2f} % "
            f"({requests} requests in {args.seconds:.0f} s; the browser itself "
            f"{browser_cpu * 100:.1f} %)")
        write_json(os.path.join(build, "bench", "http_overhead.json"), result)
    finally:
        if chrome:
            chrome.kill()
            chrome.wait()
        mesh.h.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_main(main)
