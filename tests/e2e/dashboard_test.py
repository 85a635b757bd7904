#!/usr/bin/env python3
"""The dashboard in a real browser (issue 13): Debian's chromium, headless, loads GET / from
node 1 of a 3-node mesh on loopback while a job runs, and the page it renders is read back with
--dump-dom (polled with a deadline until it shows what is checked).

Usage: dashboard_test.py NODE_BINARY WASM_DIR [render|lost|all] [--screenshot PNG]

Cases:
  render  nodes 1, 2, 3 (node 1 with --http PORT); `scatter primes count_primes 0 5000000` on
          node 1 (its GET /api/jobs/ID/timeline checked), then one over [0, 2e9) that runs
          while the page is loaded: the page shows 3 members alive (node 1 itself, marked
          data-self, and its 2 peers), the first job done with its result 348513 in its row
          and as the selected job's result with a chunk timeline (its canvas says how many
          spans it drew), and the second job running. It is cancelled at the end.
  lost    the same mesh, a job over [0, 2e9); node 3 is killed (SIGKILL) while it holds items:
          GET /api/jobs/ID/timeline gets a `lost` span of node 3, and the page counts it under
          the timeline and lists node 3 lost under recent failures. The
          browser's console shows no Content-Security-Policy violation and no uncaught error. With --screenshot, the page
          is also captured at 1280x900 (docs/dashboard.png).

Skips (exit 77) with a clear message only if chromium is missing or cannot start. Every node
is ended by PID whatever happens (mesh_lib)."""

import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import (SKIP, KnownBugs, check, free_port, log, run_homes_cases, submit,  # noqa: E402
                      wait_for)

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None
SCREENSHOT = None
PRIMES_BELOW_5M = 348513  # seconds of work: the page is loaded while it runs
# Root in a container has no user namespace for the sandbox; no GPU in CI.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  "--no-first-run", "--disable-extensions", "--disable-background-networking",
                  "--enable-logging=stderr", "--v=0"]


def chromium_binary():
    for name in (os.environ.get("VELUM_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def run_chromium(binary, args, profile, timeout=60):
    """One headless run; (stdout, stderr). A fresh profile each time (no state between runs)."""
    argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def chromium_starts(binary, tmp):
    try:
        code, out, err = run_chromium(binary, ["--dump-dom", "data:text/html,<p id=x>ok</p>"],
                                      os.path.join(tmp, "probe"))
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    tail = "\n".join(line for line in err.splitlines() if "dbus" not in line)[-800:]
    return 'id="x"' in out, f"exit {code}: {tail}"


class Page(html.parser.HTMLParser):
    """What the test reads of the dumped DOM: the rows of #members and #jobs with their data
    attributes and cells, the body's data-ready, #job-result and #timeline's data-spans."""

    def __init__(self):
        super().__init__()
        self.ready = None
        self.table = None
        self.rows = {"members": [], "jobs": [], "failures": []}
        self.row = None
        self.cell = None
        self.text_of = {}  # element id -> its text
        self.capture = None
        self.timeline_spans = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.ready = a.get("data-ready")
        if tag == "table" and a.get("id") in self.rows:
            self.table = a["id"]
        if tag == "tr" and self.table and ("data-member" in a or "data-job" in a):
            self.row = {"attrs": a, "cells": [], "classes": []}
            self.rows[self.table].append(self.row)
        if tag == "td" and self.row is not None:
            self.cell = []
            self.row["classes"].append(a.get("class") or "")
        if tag == "span" and a.get("id") in ("job-result", "job-title"):
            self.capture = a["id"]
            self.text_of[self.capture] = ""
        if tag == "canvas" and a.get("id") == "timeline":
            self.timeline_spans = a.get("data-spans")
        if tag == "p" and a.get("id") == "timeline-note":
            self.capture = a["id"]
            self.text_of[self.capture] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        if tag == "tr":
            self.row = None
        if tag == "td" and self.row is not None and self.cell is not None:
            self.row["cells"].append("".join(self.cell).strip())
            self.cell = None
        if tag in ("span", "p"):
            self.capture = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self.capture:
            self.text_of[self.capture] += data

    def result_of(self, row):
        for cls, text in zip(row["classes"], row["cells"]):
            if "result" in cls.split():
                return text
        return None


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, json.loads(r.read().decode())


def wait_http(url, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            status, _ = http_json(url)
            if status == 200:
                return
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.1)
    check(False, f"{url} never answered 200: {last}")


def check_timeline(base, job):
    status, t = http_json(f"{base}/api/jobs/{job}/timeline")
    check(status == 200 and t.get("job") == job and t.get("state") == "done", f"timeline: {t}")
    cols = t.get("columns")
    check(cols == ["worker", "begin", "end", "done", "started_ms", "ended_ms", "outcome", "backup"],
          f"timeline columns: {cols}")
    spans = [dict(zip(cols, s)) for s in t["spans"]]
    check(spans, "the timeline of a finished job has no spans")
    check({s["worker"] for s in spans} <= {1, 2, 3}, f"timeline workers: {t['workers']}")
    check({s["outcome"] for s in spans} <= {"done", "stopped"},
          f"outcomes of a job without faults: {sorted({s['outcome'] for s in spans})}")
    done = [s for s in spans if s["outcome"] == "done"]
    check(done and min(s["begin"] for s in spans) == 0 and max(s["end"] for s in done) == 5000000,
          f"done spans do not cover [0, 5000000): {done[:5]}")
    for s in spans:
        check(0 <= s["started_ms"] <= s["ended_ms"] <= t["elapsed_ms"] and
              s["begin"] <= s["done"] <= s["end"], f"span out of bounds: {s} (job {t['elapsed_ms']} ms)")
    log(f"  timeline: {len(spans)} spans over {t['elapsed_ms']} ms on workers {t['workers']}")


def job_row(page, job):
    rows = [j for j in page.rows["jobs"] if j["attrs"].get("data-job") == str(job)]
    return rows[0] if len(rows) == 1 else None


def case_render(mesh):
    browser = chromium_binary()
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    one = mesh.add(1, extra=["--http", str(http_port)])
    two, three = mesh.add(2), mesh.add(3)
    mesh.form([one, two, three], "3 nodes")
    wait_http(f"{base}/api/status", time.monotonic() + 20)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=mesh.tmp)
    primes = os.path.join(WASM, "primes.wasm")
    done = submit(one, f"scatter {primes} count_primes 0 5000000")
    r = one.cmd(f"wait {done}", timeout=120)
    check(r.get("state") == "done" and r.get("result") == PRIMES_BELOW_5M, f"wait {done}: {r}")
    check_timeline(base, done)
    # A job that runs until cancelled: the page is loaded while the mesh works on it.
    running = submit(one, f"scatter {primes} count_primes 0 2000000000")
    log(f"  job {done} done, job {running} running; loading the page")
    refusals = []

    def dump(extra=()):
        code, out, err = run_chromium(browser, ["--virtual-time-budget=4000", *extra,
                                                f"{base}/?job={done}"], profile)
        # The page's console, as chromium logs it: a CSP violation or an uncaught error fails.
        refusals.extend(line for line in err.splitlines() if ":CONSOLE" in line and (
            "Content Security Policy" in line or "Uncaught" in line))
        page = Page()
        page.feed(out)
        return page

    deadline = time.monotonic() + 90
    detail = None
    while time.monotonic() < deadline:
        page = dump(["--dump-dom"])
        members = page.rows["members"]
        alive = [m for m in members if m["attrs"].get("data-state") == "alive"]
        selves = [m["attrs"].get("data-member") for m in members if m["attrs"].get("data-self")]
        finished, busy = job_row(page, done), job_row(page, running)
        ok = (page.ready == "1" and len(members) == 3 and len(alive) == 3 and selves == ["1"] and
              finished is not None and finished["attrs"].get("data-state") == "done" and
              page.result_of(finished) == str(PRIMES_BELOW_5M) and
              busy is not None and busy["attrs"].get("data-state") == "running" and
              page.text_of.get("job-result", "").strip() == str(PRIMES_BELOW_5M) and
              (page.timeline_spans or "0") != "0")
        detail = (f"ready={page.ready}, members {[(m['attrs'].get('data-member'), m['attrs'].get('data-state')) for m in members]} "
                  f"(self {selves}), job rows {[(j['attrs'], j['cells']) for j in page.rows['jobs']]}, "
                  f"#job-result {page.text_of.get('job-result')!r}, timeline spans {page.timeline_spans}")
        if ok:
            break
        time.sleep(0.5)
    else:
        check(False, f"the page never showed 3 members, job {done} done with {PRIMES_BELOW_5M} "
                     f"and job {running} running: {detail}")
    log(f"  the page shows: {detail}")
    members = sorted(int(m["attrs"]["data-member"]) for m in page.rows["members"])
    check(members == [1, 2, 3], f"members shown: {members}")
    if SCREENSHOT:
        dump(["--window-size=1280,900", f"--screenshot={SCREENSHOT}"])
        check(os.path.getsize(SCREENSHOT) > 10000, f"{SCREENSHOT}: no screenshot written")
        log(f"  screenshot: {SCREENSHOT}")
    check(not refusals, f"the page's console: {refusals[:3]}")
    r = one.cmd(f"cancel {running}")
    check("error" not in r, f"cancel {running}: {r}")


def case_lost(mesh):
    """A worker killed during a job: its lane ends in a `lost` span, and the page's recent
    failures name it."""
    browser = chromium_binary()
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    one = mesh.add(1, extra=["--http", str(http_port)])
    two, three = mesh.add(2), mesh.add(3)
    mesh.form([one, two, three], "3 nodes")
    wait_http(f"{base}/api/status", time.monotonic() + 20)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=mesh.tmp)
    job = submit(one, f"scatter {os.path.join(WASM, 'primes.wasm')} count_primes 0 2000000000")

    def holding():
        rows = [j for j in one.cmd("jobs")["jobs"] if j["job"] == job]
        held = {w["id"]: w.get("held", 0) for w in rows[0]["workers"]} if rows else {}
        return held.get(3, 0) > 0, f"held per worker {held}"
    wait_for("node 3 holding items of the job", holding, 60)
    three.kill()
    log(f"  node 3 killed while it held items of job {job}")

    def lost_span():
        status, t = http_json(f"{base}/api/jobs/{job}/timeline")
        lost = [s for s in t["spans"] if s[0] == 3 and s[6] == "lost"]
        return bool(lost), f"node 3's spans {[s for s in t['spans'] if s[0] == 3][:4]}"
    wait_for("a lost span of node 3 in the timeline", lost_span, 60, interval=0.2)

    deadline = time.monotonic() + 60
    detail = None
    while time.monotonic() < deadline:
        code, out, err = run_chromium(browser, ["--virtual-time-budget=4000", "--dump-dom",
                                                f"{base}/?job={job}"], profile)
        page = Page()
        page.feed(out)
        failures = [f for f in page.rows["failures"] if f["attrs"].get("data-job") == str(job)]
        note = page.text_of.get("timeline-note", "")
        ok = (any(len(f["cells"]) > 3 and f["cells"][1] == "3" and "lost" in f["cells"][3]
                  for f in failures) and " lost" in note)
        detail = f"failures {[f['cells'] for f in failures]}, timeline note {note!r}"
        if ok:
            break
        time.sleep(0.5)
    else:
        check(False, f"the page never showed node 3 lost in job {job}: {detail}")
    log(f"  the page shows: {detail}")
    r = one.cmd(f"cancel {job}")
    check("error" not in r, f"cancel {job}: {r}")


CASES = {"render": case_render, "lost": case_lost}


def main():
    global WASM, SCREENSHOT
    argv = sys.argv
    if "--screenshot" in argv:
        i = argv.index("--screenshot")
        check(i + 1 < len(argv), "--screenshot needs a file")
        SCREENSHOT = os.path.abspath(argv[i + 1])
        del argv[i:i + 2]
    if len(argv) >= 3:
        WASM = argv[2]
    browser = chromium_binary()
    if not browser:
        print("SKIP: no chromium on PATH (Debian's `chromium`, scripts/install-deps; or set "
              "VELUM_CHROMIUM): the dashboard's browser test cannot run", flush=True)
        return SKIP
    probe = tempfile.mkdtemp(prefix="velum-chromium-probe-")
    try:
        started, why = chromium_starts(browser, probe)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if not started:
        print(f"SKIP: {browser} cannot start headless ({why}): the dashboard's browser test "
              "cannot run", flush=True)
        return SKIP
    return run_homes_cases(__doc__, CASES, "dashboard", bugs)


if __name__ == "__main__":
    sys.exit(main())
