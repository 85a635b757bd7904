"""A client of a VelumOS node's HTTP API (`./node ID --http PORT`), standard library only.

    from velum_client import Client
    c = Client("http://127.0.0.1:8080", token=open("/root/.velum/http.token").read().strip())
    job = c.scatter("build/wasm/pi.wasm", "pi_hits", 0, 10**8)
    print(c.wait(job)["result"])
    for event in c.events():          # membership changes, job progress, ends and failures
        print(event.type, event.data)

Reads need no token when the node serves loopback; submitting and cancelling always do.
Every method raises VelumError (with .status, the HTTP status, 0 when the node could not be
reached) on an answer that is not a success; the JSON the node sent is in .body.
"""

import base64
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections import namedtuple

__all__ = ["Client", "VelumError", "Event"]

# One event of GET /api/events: its id (resume with Last-Event-ID), its type ("member", "job",
# "job_end", "failure"; first of all "hello", id 0: the stream is open) and its data (a dict).
Event = namedtuple("Event", ["id", "type", "data"])


class VelumError(Exception):
    def __init__(self, status, message, body=None):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body


class Client:
    def __init__(self, url="http://127.0.0.1:8080", token=None, timeout=60.0):
        """`token`: the node's, from $VELUM_HOME/http.token (None: reads only, on loopback)."""
        self.url = url.rstrip("/")
        self.token = token.strip() if token else None
        self.timeout = timeout
        self._uploaded = set()  # hashes of modules this client has sent to this node

    # -- reading ------------------------------------------------------------------------
    def peers(self, all=False):
        """The node's view of the other members: a list of dicts (id, addr, state, ...)."""
        return self._get("/api/peers" + ("?all=1" if all else ""))["peers"]

    def status(self):
        return self._get("/api/status")

    def jobs(self, all=False):
        """{"jobs": [...scatter jobs...], "maps": [...] (when any), "calls": [...] (when any)}:
        running and recent ones; all=True: every finished one the node's journal keeps."""
        return self._get("/api/jobs" + ("?all=1" if all else ""))

    def job(self, job):
        """One job as the shell's `result JOB --json` prints it (a call: as `wasm --json`)."""
        return self._get(f"/api/jobs/{int(job)}")

    def metrics(self):
        """The Prometheus text of GET /metrics."""
        return self._request("GET", "/metrics", raw=True).decode()

    # -- submitting ---------------------------------------------------------------------
    def wasm(self, module, func=None, args=(), node=None, local=False, stdin=None, env=(),
             timeout=None, max_memory=None):
        """Runs an export (`func` with numeric `args`) or a WASI command (no `func`; `args` are
        its argv) once, on the best node (or `node`). Returns the job id; wait() gives the
        result: {"result": ...} for a call, {"exit_code", "stdout", "stderr", ...} for a command."""
        body = {"kind": "wasm", "func": func, "args": list(args), "node": node, "local": local,
                "stdin": stdin, "env": list(env), "timeout": timeout, "max_memory": max_memory}
        return self._submit(module, body)

    def scatter(self, module, func, start, end, reduce=None, chunk=None, exclude_self=False,
                timeout=None, max_memory=None):
        """Splits [start, end) of `func` over every live worker; `reduce`: sum (default), min,
        max, first or the name of an export of the module. Returns the job id."""
        body = {"kind": "scatter", "func": func, "start": int(start), "end": int(end),
                "reduce": reduce, "chunk": chunk, "exclude_self": exclude_self,
                "timeout": timeout, "max_memory": max_memory}
        return self._submit(module, body)

    def map(self, module, args=(), items=None, inputs=None, lines=False, recursive=False,
            out=None, retries=None, env=(), exclude_self=False, timeout=None, max_memory=None):
        """Runs a WASI command once per item: `items` (strings, each one's bytes on stdin) or
        `inputs` (absolute paths of files or folders on the node). Without `out` (a folder on
        the node), the outputs come in the finished job's "outputs", in item order."""
        body = {"kind": "map", "args": list(args), "items": list(items) if items else None,
                "inputs": list(inputs) if inputs else None, "lines": lines,
                "recursive": recursive, "out": out, "retries": retries, "env": list(env),
                "exclude_self": exclude_self, "timeout": timeout, "max_memory": max_memory}
        return self._submit(module, body)

    def cancel(self, job):
        return self._request("POST", f"/api/jobs/{int(job)}/cancel", body={})

    def wait(self, job, timeout=None, interval=0.2):
        """Polls the job until it has ended; its final JSON. TimeoutError after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            j = self.job(job)
            if j.get("state") not in (None, "running"):
                return j
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job} still running after {timeout} s")
            time.sleep(interval)

    def events(self, last_id=None, timeout=60.0):
        """Iterates over the node's events as they come (Event(id, type, data)). The node
        says it is there every 15 s, so `timeout` s of silence means it is gone (VelumError)."""
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        resp = self._open("GET", "/api/events", None, headers, timeout)
        with resp:
            fields = {}
            while True:
                try:
                    line = resp.readline()
                except OSError as e:
                    raise VelumError(0, f"the event stream ended: {e}") from e
                if not line:
                    return
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if "data" in fields:
                        yield Event(int(fields.get("id", 0)), fields.get("event", "message"),
                                    json.loads(fields["data"]))
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value

    # -- plumbing -----------------------------------------------------------------------
    def _submit(self, module, body):
        # Unset options are left out (0 is a value: only None, False and [] mean "not given").
        body = {k: v for k, v in body.items() if v is not None and v is not False and v != []}
        if isinstance(module, (bytes, bytearray)):
            data = bytes(module)
        elif os.path.exists(str(module)):
            with open(module, "rb") as f:
                data = f.read()
        elif "/" not in str(module):
            return self._request("POST", "/api/jobs", {**body, "module_name": str(module)})["job"]
        else:
            raise VelumError(0, f"no module file {module}")
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._uploaded:  # the node has it: send its hash, not its bytes again
            try:
                return self._request("POST", "/api/jobs", {**body, "module_hash": digest})["job"]
            except VelumError as e:
                if e.status != 404:
                    raise
        job = self._request("POST", "/api/jobs",
                            {**body, "module": base64.b64encode(data).decode()})["job"]
        self._uploaded.add(digest)
        return job

    def _get(self, path):
        return self._request("GET", path)

    def _open(self, method, path, data, headers, timeout):
        headers = dict(headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                answer = json.loads(raw)
                message = answer.get("error", raw.decode("utf-8", "replace"))
            except ValueError:
                answer, message = None, raw.decode("utf-8", "replace")
            raise VelumError(e.code, message, answer) from None
        except (urllib.error.URLError, OSError) as e:
            raise VelumError(0, f"cannot reach {self.url}: {e}") from None

    def _request(self, method, path, body=None, raw=False):
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        with self._open(method, path, data, headers, self.timeout) as resp:
            content = resp.read()
        return content if raw else json.loads(content)
