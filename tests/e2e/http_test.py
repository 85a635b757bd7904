#!/usr/bin/env python3
"""End-to-end tests of a node's HTTP server (issue 13): the JSON API against the shell's own
answers, the bearer token, the event stream, /metrics through promtool, hostile requests, and
the Python client (clients/python/velum_client.py) against a live mesh.

Usage: http_test.py NODE_BINARY WASM_DIR [api|client|events|hostile|access|logs|all]

Cases:
  api      nodes 1 (--http) and 2: GET /api/peers, /api/status, /api/jobs, /api/jobs/ID give
           what `peers`, `status`, `jobs` and `result ID` print under --json; HOME/http.token
           is 0600; reads are open on loopback, a POST without the token or with a wrong one
           is 401 and counted in status (http.unauthorized); answers carry the headers that
           keep other sites out and no Access-Control-Allow-Origin; /metrics passes
           `promtool check metrics`
  client   the Python client on a 2-node mesh: scatter (same result as the shell's), a call,
           a WASI command with stdin and env, map over inline items and over a folder on the
           node, a module sent once and then named by its hash, cancel, wait, jobs()
  events   GET /api/events while node 3 joins and leaves and a job runs: member, job,
           job_end and failure events, in order, with increasing ids; Last-Event-ID resumes
  hostile  bodies that are not JSON, wrong types, unknown kinds, NUL bytes, paths as module
           names, options as function names, oversized bodies, half requests and garbage on
           the socket: each one clear 4xx error, and the node still answers
  access   --http-bind 0.0.0.0: every /api and /metrics request needs the token; a token
           file others may read, a --http-bind that is no address, a taken port: the node
           refuses to start with one clear line
  logs     --log-format json: every line of the log file is one JSON object with time,
           level, node, event and fields

Every node is ended by PID whatever happens (mesh_lib)."""

import base64
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from mesh_lib import (KnownBugs, check, free_port, log, run_homes_cases,  # noqa: E402
                      wait_for)
from velum_client import Client, VelumError  # noqa: E402

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None


def wasm(name):
    path = os.path.join(WASM, name + ".wasm")
    check(os.path.exists(path), f"module {path} is missing (build the velum_wasm target)")
    return path


def http(port, method, path, body=None, token=None, headers=None, host="127.0.0.1"):
    """(status, headers, parsed JSON or text) of one request."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = dict(headers or {})
    if data is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, hdrs, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode("utf-8", "replace")


def token_of(mesh, node_id):
    with open(os.path.join(mesh.homes[node_id], "http.token")) as f:
        return f.read().strip()


def http_node(mesh, node_id, extra=()):
    port = free_port()
    node = mesh.add(node_id, extra=["--http", str(port)] + list(extra))
    node.http_port = port
    return node


def answers(port):
    def pred():
        try:
            s, _, _ = http(port, "GET", "/api/status")
            return s == 200, s
        except OSError as e:
            return False, str(e)
    return pred


def without(d, volatile):
    if isinstance(d, dict):
        return {k: without(v, volatile) for k, v in d.items() if k not in volatile}
    if isinstance(d, list):
        return [without(v, volatile) for v in d]
    return d


def case_api(mesh):
    n1 = http_node(mesh, 1)
    n2 = mesh.add(2)
    mesh.form([n1, n2], "api")
    wait_for("http answers", answers(n1.http_port), 10)
    port = n1.http_port
    mode = stat.S_IMODE(os.stat(os.path.join(mesh.homes[1], "http.token")).st_mode)
    check(mode == 0o600, f"http.token has mode {oct(mode)}, not 0600")
    token = token_of(mesh, 1)

    # Reads: the shell's JSON, field for field (figures that move between the two looks aside).
    s, hdrs, peers = http(port, "GET", "/api/peers")
    check(s == 200, f"/api/peers: {s} {peers}")
    volatile = {"last_heard_ms", "link_rtt_us", "load"}
    check(without(peers, volatile) == without(n1.cmd("peers"), volatile),
          f"/api/peers {peers} differs from `peers`")
    for name, value in (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY")):
        check(hdrs.get(name) == value, f"{name} is {hdrs.get(name)!r}")
    check("frame-ancestors 'none'" in hdrs.get("Content-Security-Policy", ""),
          f"no CSP keeping frames out: {hdrs}")
    check(not any(k.lower().startswith("access-control-") for k in hdrs),
          f"CORS headers present: {hdrs}")
    # A cross-site preflight gets no permission either.
    s, hdrs, _ = http(port, "OPTIONS", "/api/jobs",
                      headers={"Origin": "https://evil.example",
                               "Access-Control-Request-Method": "POST"})
    check(not any(k.lower().startswith("access-control-") for k in hdrs),
          f"preflight answered with CORS headers ({s}): {hdrs}")
    # DNS rebinding: a page of another name that resolves to 127.0.0.1 reads nothing.
    for host in ("attacker.example", "attacker.example:%d" % port, "127.0.0.1.evil.example"):
        s, _, err = http(port, "GET", "/api/status", headers={"Host": host})
        check(s == 403 and "loopback" in err.get("error", ""), f"Host {host}: {s} {err}")
    for host in ("localhost:%d" % port, "127.0.0.1", "LOCALHOST"):
        s, _, _ = http(port, "GET", "/api/status", headers={"Host": host})
        check(s == 200, f"Host {host}: {s}")
    s, _, st = http(port, "GET", "/api/status")
    shell_status = n1.cmd("status")
    check(s == 200 and set(st) == set(shell_status), f"/api/status keys differ: {set(st) ^ set(shell_status)}")
    check(st["id"] == 1 and st["http"]["address"] == f"127.0.0.1:{port}", f"status: {st}")

    # A job by the shell, read back over HTTP.
    r = n1.cmd(f"scatter {wasm('pi')} pi_hits 0 2000000", timeout=60)
    s, _, job = http(port, "GET", f"/api/jobs/{r['job']}")
    check(s == 200 and job == n1.cmd(f"result {r['job']}"), f"/api/jobs/{r['job']}: {job}")
    s, _, jobs = http(port, "GET", "/api/jobs")
    check(s == 200 and jobs == n1.cmd("jobs"), f"/api/jobs {jobs} differs from `jobs`")
    s, _, jobs_all = http(port, "GET", "/api/jobs?all=1")
    check(s == 200 and jobs_all == n1.cmd("jobs --all"), "/api/jobs?all=1 differs from `jobs --all`")
    s, _, missing = http(port, "GET", "/api/jobs/987654")
    check(s == 404 and "error" in missing, f"unknown job: {s} {missing}")

    # Changes need the token; refusals are counted.
    body = {"kind": "scatter", "module_name": "pi", "func": "pi_hits", "start": 0, "end": 1000}
    before = n1.cmd("status")["http"]["unauthorized"]
    s, hdrs, err = http(port, "POST", "/api/jobs", body)
    check(s == 401 and "Bearer" in hdrs.get("WWW-Authenticate", ""), f"no token: {s} {err}")
    s, _, err = http(port, "POST", "/api/jobs", body, token=token + "x")
    check(s == 401, f"wrong token: {s} {err}")
    s, _, err = http(port, "POST", f"/api/jobs/{r['job']}/cancel", {})
    check(s == 401, f"cancel without a token: {s} {err}")
    after = n1.cmd("status")["http"]["unauthorized"]
    check(after - before == 3, f"status counted {after - before} refusals, not 3")
    s, _, ok = http(port, "POST", "/api/jobs", body, token=token)
    check(s == 202 and isinstance(ok.get("job"), int), f"with the token: {s} {ok}")

    # /metrics in Prometheus' own checker.
    s, _, text = http(port, "GET", "/metrics")
    check(s == 200 and "velum_" in text, f"/metrics: {s} {text[:200]}")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    check(p.returncode == 0, f"promtool check metrics: {p.stdout.decode()} {p.stderr.decode()}")


def case_client(mesh):
    n1 = http_node(mesh, 1)
    n2 = mesh.add(2)
    mesh.form([n1, n2], "client")
    wait_for("http answers", answers(n1.http_port), 10)
    c = Client(f"http://127.0.0.1:{n1.http_port}", token=token_of(mesh, 1))
    check(sorted(p["id"] for p in c.peers()) == [2], f"peers: {c.peers()}")

    job = c.scatter(wasm("primes"), "count_primes", 0, 200000)
    got = c.wait(job, timeout=120)
    want = n1.cmd(f"scatter {wasm('primes')} count_primes 0 200000", timeout=120)
    check(got["state"] == "done" and got["result"] == want["result"],
          f"scatter over HTTP {got.get('result')} vs the shell's {want.get('result')}")
    # The same module again: sent by its hash, not its bytes.
    uploads = len(os.listdir(os.path.join(mesh.homes[1], "http", "modules")))
    job = c.scatter(wasm("primes"), "count_primes", 0, 1000, reduce="max")
    check(c.wait(job, timeout=60)["state"] == "done", "second scatter")
    check(len(os.listdir(os.path.join(mesh.homes[1], "http", "modules"))) == uploads,
          "the module was stored twice")

    call = c.wait(c.wasm(wasm("pi"), "pi_hits", [0, 100000]), timeout=60)
    shell_call = n1.cmd(f"wasm {wasm('pi')} pi_hits 0 100000", timeout=60)
    check(call["state"] == "done" and call["result"] == shell_call["result"],
          f"call: {call} vs {shell_call}")

    data = "hello from the python client\n"
    cmd = c.wait(c.wasm(wasm("wasi_checksum"), args=["x"], stdin=data,
                        env=["VELUM_INPUT=given"]), timeout=60)
    digest = 1469598103934665603
    for ch in data.encode():
        digest = ((digest ^ ch) * 1099511628211) % (1 << 64)
    check(cmd["state"] == "done" and cmd["exit_code"] == 0 and
          cmd["stdout"].startswith(f"{digest:016x} {len(data)} "),
          f"a WASI command with stdin: {cmd}")

    items = ["alpha", "", "gamma\n", "ünïcode"]
    m = c.wait(c.map(wasm("wasi_checksum"), args=["x"], items=items), timeout=120)
    check(m["state"] == "done" and m["ok"] == len(items) and len(m["outputs"]) == len(items),
          f"map over items: {m}")
    for i, (out, item) in enumerate(zip(m["outputs"], items)):
        check(out.split()[1] == str(len(item.encode())) and f"item-{i:08d}" in out,
              f"map output {i}: {out!r} for {item!r}")
    folder = os.path.join(mesh.tmp, "inputs")
    os.makedirs(folder)
    for i in range(5):
        with open(os.path.join(folder, f"f{i}.txt"), "w") as f:
            f.write("x" * i)
    out_dir = os.path.join(mesh.tmp, "out")
    m = c.wait(c.map(wasm("wasi_checksum"), args=["x"], inputs=[folder], out=out_dir),
               timeout=120)
    check(m["state"] == "done" and m["ok"] == 5 and sorted(os.listdir(out_dir)) ==
          [f"f{i}.txt" for i in range(5)], f"map over a folder into out: {m}")

    # Cancel: a long job stops and says so.
    job = c.scatter(wasm("pi"), "pi_hits", 0, 2_000_000_000)
    wait_for("the long job runs", lambda: (c.job(job)["items_done"] > 0, c.job(job)), 60)
    c.cancel(job)
    end = c.wait(job, timeout=60)
    check(end["state"] == "cancelled", f"cancelled job: {end}")
    try:
        c.cancel(job)
        check(False, "cancelling an ended job was accepted")
    except VelumError as e:
        check(e.status == 409, f"cancel of an ended job: {e}")
    call_job = c.wasm(wasm("pi"), "pi_hits", [0, 10])
    c.wait(call_job, timeout=60)
    try:
        c.cancel(call_job)
        check(False, "cancelling an ended call was accepted")
    except VelumError as e:
        check(e.status == 409, f"cancel of an ended call: {e}")
    listed = c.jobs()
    check(any(j["job"] == job for j in listed["jobs"]) and listed.get("calls"),
          f"jobs(): {listed}")
    try:
        Client(f"http://127.0.0.1:{n1.http_port}").scatter("pi", "pi_hits", 0, 10)
        check(False, "a submission without a token was accepted")
    except VelumError as e:
        check(e.status == 401, f"without a token: {e}")


def read_events(client, into, stop):
    try:
        for e in client.events():
            into.append(e)
            if stop.is_set():
                return
    except Exception as e:  # noqa: BLE001
        into.append(e)


def case_events(mesh):
    n1 = http_node(mesh, 1)
    n2 = mesh.add(2)
    mesh.form([n1, n2], "events")
    wait_for("http answers", answers(n1.http_port), 10)
    c = Client(f"http://127.0.0.1:{n1.http_port}", token=token_of(mesh, 1))
    got, stop = [], threading.Event()
    t = threading.Thread(target=read_events, args=(c, got, stop), daemon=True)
    t.start()
    # The stream's first event says it is open: every change after it is an event.
    wait_for("the stream's hello", lambda: (any(getattr(e, "type", "") == "hello" for e in got),
                                            got[:3]), 10)
    n3 = mesh.add(3)
    mesh.form([n1, n2, n3], "events")

    def seen(pred):
        return lambda: (any(not isinstance(e, Exception) and pred(e) for e in got), got[-5:])
    wait_for("member event of node 3 alive",
             seen(lambda e: e.type == "member" and e.data["id"] == 3 and e.data["state"] == "alive"), 20)
    call = c.wasm(wasm("pi"), "pi_hits", [0, 1000])
    wait_for("job_end event of a call", seen(lambda e: e.type == "job_end" and
                                             e.data["job"] == call and e.data["kind"] == "wasm"), 30)
    job = c.scatter(wasm("pi"), "pi_hits", 0, 1_000_000_000)  # seconds: looked at running
    wait_for("job_end event", seen(lambda e: e.type == "job_end" and e.data["job"] == job), 120)
    check(any(e.type == "job" and e.data["job"] == job for e in got),
          "no progress event of the job before its end")
    n3.kill()
    wait_for("member event of node 3 not alive",
             seen(lambda e: e.type == "member" and e.data["id"] == 3 and e.data["state"] != "alive"),
             30)
    # A map with a failing item: a failure event with its input.
    m = c.map(wasm("wasi_checksum"), args=["x"], items=["FAIL here"], retries=0)
    c.wait(m, timeout=60)
    wait_for("failure event", seen(lambda e: e.type == "failure" and e.data.get("job") == m), 20)
    ids = [e.id for e in got if not isinstance(e, Exception) and e.type != "hello"]
    check(ids == sorted(ids) and len(set(ids)) == len(ids), f"event ids not increasing: {ids}")
    # Resuming from an id gives what came after it.
    resumed = []
    for e in c.events(last_id=ids[0]):
        if e.type == "hello":
            continue
        resumed.append(e)
        if len(resumed) == 2:
            break
    check([e.id for e in resumed] == ids[1:3], f"Last-Event-ID {ids[0]}: {resumed} vs {ids[1:3]}")
    stop.set()


def raw_socket(port, payload, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(payload)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    except OSError:
        return b""
    finally:
        s.close()


def case_hostile(mesh):
    n1 = http_node(mesh, 1)
    n1.start()
    wait_for("http answers", answers(n1.http_port), 10)
    port, token = n1.http_port, token_of(mesh, 1)
    pi = base64.b64encode(open(wasm("pi"), "rb").read()).decode()
    bad = [
        (b"not json", 400), (b"[1,2]", 400), (b"{}", 400), (b"\xff\xfe", 400),
        ({"kind": "nope", "module_name": "pi"}, 400),
        ({"kind": 3, "module_name": "pi"}, 400),
        ({"kind": "scatter", "func": "pi_hits", "start": 0, "end": 10}, 400),
        ({"kind": "scatter", "module_name": "pi", "module_hash": "0" * 64, "func": "pi_hits",
          "start": 0, "end": 10}, 400),
        ({"kind": "scatter", "module_name": "../../etc/passwd", "func": "f", "start": 0, "end": 1}, 400),
        ({"kind": "scatter", "module_name": "no_such_module", "func": "f", "start": 0, "end": 1}, 404),
        ({"kind": "scatter", "module_hash": "a" * 64, "func": "f", "start": 0, "end": 1}, 404),
        ({"kind": "scatter", "module_hash": "../x", "func": "f", "start": 0, "end": 1}, 400),
        ({"kind": "scatter", "module": "!!!not base64", "func": "f", "start": 0, "end": 1}, 400),
        ({"kind": "scatter", "module": base64.b64encode(b"\0asm junk").decode(), "func": "f",
          "start": 0, "end": 1}, 400),
        ({"kind": "scatter", "module": pi, "func": "--json", "start": 0, "end": 1}, 400),
        ({"kind": "scatter", "module": pi, "func": "pi_hits", "start": "1e999", "end": 1}, 400),
        ({"kind": "scatter", "module": pi, "func": "pi_hits", "start": 99999999999999999999999,
          "end": 1}, 400),
        ({"kind": "scatter", "module": pi, "func": "pi_hits", "start": [], "end": 1}, 400),
        ({"kind": "scatter", "module": pi, "func": "pi\u0000hits", "start": 0, "end": 1}, 400),
        ({"kind": "scatter", "module": pi, "func": "pi_hits", "start": 0, "end": 1,
          "reduce": "&"}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [{"a": 1}]}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": "0 1"}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [0, 1], "node": -1}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [0, 1], "stdin": 5}, 400),
        ({"kind": "map", "module_name": "wasi_checksum", "args": [":::"], "items": ["a"]}, 400),
        ({"kind": "map", "module_name": "wasi_checksum", "inputs": ["relative/path"]}, 400),
        ({"kind": "map", "module_name": "wasi_checksum"}, 400),
        ({"kind": "map", "module_name": "wasi_checksum", "inputs": ["/nonexistent/x"]}, 400),
        ({"kind": "map", "module_name": "wasi_checksum", "items": ["a"], "out": "rel"}, 400),
        ({"kind": "map", "module_name": "pi", "items": ["a"]}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [0, 1], "timeout": "abc"}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [0, 1],
          "timeout": 18446744073709551615}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [0, 1],
          "max_memory": 99999999999}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [0, 1], "node": "abc"}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": ["--node", "2"]}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [5, "--local"]}, 400),
        ({"kind": "wasm", "module": pi, "func": "-x", "args": [0, 1], "stdin": "x" * 100000}, 400),
        ({"kind": "wasm", "module": pi, "func": "pi_hits", "args": [{}], "stdin": "x"}, 400),
        ({"kind": "map", "module_name": "wasi_checksum", "items": ["a"], "args": [":::"]}, 400),
        ({"kind": "map", "module_name": "wasi_checksum", "items": ["a"], "retries": -1}, 400),
        ({"kind": "scatter", "module": pi, "func": "pi_hits", "start": 0, "end": 1,
          "chunk": 0}, 400),
    ]
    for body, want in bad:
        s, _, err = http(port, "POST", "/api/jobs", body, token=token)
        check(s == want and isinstance(err, dict) and err.get("error"),
              f"{str(body)[:120]}: {s} {err} (wanted {want} with an error)")
    # Refused submissions leave no temporary files behind.
    tmp = os.path.join(mesh.homes[1], "http", "tmp")
    left = os.listdir(tmp) if os.path.isdir(tmp) else []
    check(left == [], f"refused submissions left {left} in {tmp}")
    for path in ("/api/jobs/abc", "/api/jobs/99999999999999999999", "/api/jobs/-1", "/nope",
                 "/api/jobs/0", "/api/jobs/00", "/api/jobs/0/timeline", "/api/jobs/abc/timeline",
                 "/api/jobs/99999999999999999999/timeline", "/api/jobs/424242/timeline",
                 "/assets/%2e%2e/%2e%2e/etc/passwd", "/assets/index.html%00.js",
                 "/api/jobs/1/2", "/../../etc/passwd", "/assets/../../x"):
        s, _, err = http(port, "GET", path)
        check(s == 404, f"GET {path}: {s} {err}")
    # A form's content type (what another site's page may post unasked) is refused.
    for ctype in ("application/x-www-form-urlencoded", "text/plain"):
        s, _, err = http(port, "POST", "/api/jobs", {"kind": "scatter"}, token=token,
                         headers={"Content-Type": ctype})
        check(s == 415 and "application/json" in err.get("error", ""), f"{ctype}: {s} {err}")
    # A multipart body that is no multipart: cpp-httplib refuses it before the handler.
    s, _, err = http(port, "POST", "/api/jobs", {"kind": "scatter"}, token=token,
                     headers={"Content-Type": "multipart/form-data"})
    check(s in (400, 415) and "error" in err, f"multipart: {s} {err}")
    for path in ("/api/jobs/abc/cancel", "/api/jobs/0/cancel"):
        s, _, err = http(port, "POST", path, {}, token=token)
        check(s == 404, f"POST {path}: {s}")
    s, _, err = http(port, "POST", "/api/jobs/424242/cancel", {}, token=token)
    check(s == 404 and "error" in err, f"cancel of no job: {s} {err}")
    # A body past the bound: refused before it is read whole.
    # (the bound: a module of --max-module-mib 64 in base64, and 64 MiB of the rest)
    huge = b"{" + b" " * (160 << 20) + b"}"
    try:
        s, _, err = http(port, "POST", "/api/jobs", huge, token=token)
        check(s == 413, f"a 160 MiB body: {s}")
    except (ConnectionError, OSError):
        pass  # the node may close the socket while the body still comes: also a refusal
    # Garbage and half requests on the socket.
    for payload in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n",
                    b"POST /api/jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                    b"POST /api/jobs HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                    b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
                    b"GET /api/status HTTP/1.1\r\n" + b"X: y\r\n" * 10000 + b"\r\n"):
        raw_socket(port, payload)
    # Many connections that say nothing, then a normal request still answers.
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
    try:
        wait_for("answers beside idle connections", answers(port), 30)
    finally:
        for s in idle:
            s.close()
    check(n1.running(), "the node died")
    check(n1.cmd("status")["id"] == 1, "the node's shell stopped answering")


def case_access(mesh):
    n1 = http_node(mesh, 1, extra=["--http-bind", "0.0.0.0"])
    n1.start()
    port = n1.http_port
    def refuses_without_token():
        try:
            return http(port, "GET", "/api/status")[0] == 401, None
        except OSError as e:  # not listening yet
            return False, str(e)
    wait_for("http up", refuses_without_token, 20)
    token = token_of(mesh, 1)
    for path in ("/api/status", "/api/peers", "/api/jobs", "/metrics", "/api/events"):
        s, _, _ = http(port, "GET", path)
        check(s == 401, f"GET {path} beyond loopback without a token: {s}")
    for path in ("/api/status", "/api/peers", "/api/jobs", "/metrics"):
        s, _, _ = http(port, "GET", path, token=token)
        check(s == 200, f"GET {path} with the token: {s}")
    n1.kill()

    # Refusals at start: one line, no serving.
    def refused(extra, words, code, chmod=None, home_id=5):
        node = mesh.add(home_id, extra=extra)
        if chmod is not None:
            path = os.path.join(mesh.homes[home_id], "http.token")
            with open(path, "w") as f:
                f.write("t" * 40 + "\n")
            os.chmod(path, chmod)
        p = subprocess.run(node.argv() + ["-c", "status"], capture_output=True, timeout=30)
        err = p.stderr.decode()
        check(p.returncode == code and all(w in err for w in words),
              f"{extra}: exit {p.returncode}, stderr {err!r} (wanted {code} and {words})")
    refused(["--http", str(free_port())], ["http.token", "chmod 600"], 2, chmod=0o644, home_id=5)
    refused(["--http", str(free_port()), "--http-bind", "example.com"], ["--http-bind"], 2,
            home_id=6)
    refused(["--http-bind", "127.0.0.1"], ["--http"], 2, home_id=7)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        refused(["--http", str(taken.getsockname()[1])], ["cannot serve HTTP"], 1, home_id=8)
    finally:
        taken.close()
    # Another node's HTTP port is taken too (no SO_REUSEPORT sharing of requests).
    n9 = http_node(mesh, 9)
    n9.start()
    wait_for("node 9 serves", answers(n9.http_port), 10)
    refused(["--http", str(n9.http_port)], ["cannot serve HTTP"], 1, home_id=10)


def case_logs(mesh):
    n1 = mesh.add(1, extra=["--log-format", "json"])
    n2 = mesh.add(2)
    mesh.form([n1, n2], "logs")
    n1.cmd(f"scatter {wasm('pi')} pi_hits 0 100000", timeout=60)
    n1.kill()
    path = os.path.join(mesh.homes[1], "logs", "node-1.log")
    lines = open(path, encoding="utf-8").read().splitlines()
    check(len(lines) >= 3, f"only {len(lines)} log lines")
    for line in lines:
        try:
            j = json.loads(line)
        except ValueError:
            check(False, f"not JSON: {line!r}")
        check(set(j) == {"time", "level", "node", "event", "fields"} and j["node"] == 1 and
              j["time"].endswith("Z") and isinstance(j["fields"], dict),
              f"log line shape: {line}")


def main():
    global WASM
    if len(sys.argv) > 2:
        WASM = os.path.abspath(sys.argv[2])
    cases = {"api": case_api, "client": case_client, "events": case_events,
             "hostile": case_hostile, "access": case_access, "logs": case_logs}
    return run_homes_cases(__doc__, cases, "http", bugs)


if __name__ == "__main__":
    sys.exit(main())
