"""Bad disks and bad command lines against ./node (issue 9): a read-only home, a log file that
cannot be opened, a journal overwritten with garbage, the home's mode and owner, and hostile
arguments (/proc/self/mem, /dev/zero, nan timeouts, bytes that are not UTF-8). Each must give
one clear line (one {"error": ...} line under --json) and a non-zero exit, or, for the
journal, a node that starts and runs a job. Python 3 standard library.

A damaged module in the store is replaced; a job whose module is gone fails at the restart.

Usage: disk_test.py NODE_BINARY VELUM_BINARY WASM_DIR CASE (readonly, journal, modules, home,
badinput)"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import SKIP, TestFailure, check, free_port, log, wait_for  # noqa: E402

NODE, VELUM, WASM = sys.argv[1], sys.argv[2], sys.argv[3]


def node(home, args, node_id=1, prefix=(), env=None, stdin=None):
    """Runs ./node to its end: (exit code, stdout, stderr)."""
    argv = list(prefix) + [NODE, str(node_id), "--port", str(free_port()), "--discovery-port",
                           "0", "--no-broadcast", "--home", home] + list(args)
    p = subprocess.run(argv, capture_output=True, timeout=60, env=env, input=stdin)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def expect_failure(what, result, want, json_mode):
    """Non-zero exit (not a signal), one stderr line "node: ..." with `want`, and under
    --json exactly one stdout line, a JSON object whose error says `want`."""
    code, out, err = result
    check(code > 0, f"{what}: exit {code} (a signal is negative), stderr {err!r}")
    lines = err.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("node: ") and want in lines[0],
          f"{what}: stderr is not one 'node: ...{want}...' line: {err!r}")
    if json_mode:
        out_lines = out.strip().splitlines()
        check(len(out_lines) == 1, f"{what}: stdout is not one line: {out!r}")
        check(want in json.loads(out_lines[0]).get("error", ""), f"{what}: JSON {out!r}")
    else:
        check(out == "", f"{what}: stdout {out!r}")


def expect_json_error(what, result, want, want_code):
    """A -c command that fails: exit `want_code` (2: the command line is wrong, 1: the work
    failed), one JSON line whose error says `want`."""
    code, out, err = result
    check(code == want_code, f"{what}: exit {code}, not {want_code}; stderr {err[-500:]!r}")
    lines = out.strip().splitlines()
    check(len(lines) == 1, f"{what}: stdout is not one line: {out!r}")
    e = json.loads(lines[0]).get("error", "")
    check(want in e, f"{what}: error {e!r} lacks {want!r}")


def populated_home(tmp):
    """A home a node has already used: logs/, journal/, nodes/, cluster.key."""
    home = os.path.join(tmp, "home")
    code, out, err = node(home, ["--json", "-c", "status"])
    check(code == 0, f"first start: exit {code}: {err}")
    return home


def case_readonly(tmp):
    home = populated_home(tmp)
    # The home on a read-only mount (root: a private mount namespace, gone with the process).
    if os.geteuid() == 0 and shutil.which("unshare"):
        ro = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', home]
        probe = subprocess.run(ro + ["true"], capture_output=True)
        if probe.returncode == 0:
            for json_mode in (False, True):
                args = (["--json"] if json_mode else []) + ["-c", "status"]
                expect_failure(f"read-only home (json {json_mode})", node(home, args, prefix=ro),
                               "is not writable: Read-only file system", json_mode)
            p = subprocess.run(ro + [VELUM, "run", os.path.join(WASM, "sum.wasm"), "sum", "1",
                                     "2", "3"], capture_output=True,
                               env=dict(os.environ, VELUM_HOME=home), timeout=60)
            err = p.stderr.decode()
            check(p.returncode == 1 and err.count("\n") == 1 and "velum: " in err and
                  "is not writable: Read-only file system" in err,
                  f"velum run in a read-only home: exit {p.returncode}, {err!r}")
            log("read-only bind mount: node and velum refuse it in one line")
        else:
            log(f"no read-only bind mount here ({probe.stderr.decode().strip()}); skipped")
    else:
        log("not root: the read-only mount part is skipped (the unit test covers mode 0500)")
    # A log file that cannot be opened (a directory in its place): spdlog threw before.
    os.makedirs(os.path.join(home, "logs", "node-2.log"))
    for json_mode in (False, True):
        args = (["--json"] if json_mode else []) + ["-c", "status"]
        expect_failure(f"unopenable log (json {json_mode})", node(home, args, node_id=2),
                       "cannot open the log", json_mode)
    # A file where the home should be.
    plain = os.path.join(tmp, "plain")
    open(plain, "w").close()
    expect_failure("home is a file", node(plain, ["--json", "-c", "status"]),
                   "is not a directory", True)


def case_journal(tmp):
    home = populated_home(tmp)
    journal = os.path.join(home, "journal", "node-1.db")
    check(os.path.exists(journal), "no journal after the first start")
    garbage = bytes((i * 131 + 7) % 251 for i in range(16384))
    for suffix in ("", "-wal", "-shm"):
        with open(journal + suffix, "wb") as f:
            f.write(garbage)
    primes = os.path.join(WASM, "primes.wasm")
    code, out, err = node(home, ["--json", "-c", f"scatter {primes} count_primes 0 100000"])
    check(code == 0, f"node with a garbage journal: exit {code}: {err[-800:]}")
    check(json.loads(out.strip().splitlines()[-1]).get("result") == 9592, f"scatter: {out}")
    aside = sorted(n for n in os.listdir(os.path.dirname(journal)) if ".bad-" in n)
    check(len(aside) == 3 and aside[1] == aside[0] + "-shm" and aside[2] == aside[0] + "-wal",
          f"moved aside: {aside}")
    with open(os.path.join(os.path.dirname(journal), aside[0]), "rb") as f:
        check(f.read() == garbage, "the file moved aside is not the garbage")
    with open(os.path.join(home, "logs", "node-1.log"), errors="replace") as f:
        said = f.read().count("is not a database")
    check(said == 1, f"the log says it {said} times, not once")
    # The new journal is a journal: the next start neither moves nor complains.
    code, out, err = node(home, ["--json", "-c", "jobs"])
    check(code == 0 and len(json.loads(out)["jobs"]) == 1, f"restart: {code} {out} {err}")
    check(len([n for n in os.listdir(os.path.dirname(journal)) if ".bad-" in n]) == 3,
          "a second move on restart")
    log(f"garbage journal moved to {aside[0]}; the node started and ran a job")


def module_file(home):
    """The one module in the home's store."""
    store = os.path.join(home, "modules")
    files = [n for n in os.listdir(store) if n.endswith(".wasm")]
    check(len(files) == 1, f"modules in the store: {files}")
    return os.path.join(store, files[0])


def damage(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x5A
        f.seek(0)
        f.write(data)


def case_modules(tmp):
    """A stored module damaged on disk is found so and written again; a job whose coordinator
    restarts without a good copy of its module fails at once, saying why."""
    home = os.path.join(tmp, "home")
    primes = os.path.join(WASM, "primes.wasm")
    with open(primes, "rb") as f:
        original = f.read()
    scatter = f"scatter {primes} count_primes 0 100000"
    code, out, err = node(home, ["--json", "-c", scatter])
    check(code == 0 and json.loads(out.strip().splitlines()[-1]).get("result") == 9592,
          f"first scatter: {code} {out} {err[-800:]}")
    stored = module_file(home)
    damage(stored)
    code, out, err = node(home, ["--json", "-c", scatter])
    check(code == 0 and json.loads(out.strip().splitlines()[-1]).get("result") == 9592,
          f"scatter with the stored copy damaged: {code} {out} {err[-800:]}")
    with open(stored, "rb") as f:
        check(f.read() == original, "the damaged copy was not replaced by the module's bytes")

    # A job left running (the node killed), its module then damaged: the restart says the
    # module is gone and leaves the job to workers that hold it (none here: it waits).
    journal = os.path.join(home, "journal", "node-1.db")
    err_path = os.path.join(tmp, "long-node.err")
    argv = [NODE, "1", "--port", str(free_port()), "--discovery-port", "0", "--no-broadcast",
            "--home", home, "--json", "-c", f"scatter {primes} count_primes 0 2000000000"]
    with open(err_path, "wb") as err_file:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        def running_job():
            if proc.poll() is not None:
                with open(err_path, errors="replace") as f:
                    raise TestFailure(f"the node ended ({proc.returncode}): {f.read()[-800:]}")
            try:
                db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=0.1)
                try:
                    rows = db.execute("SELECT id FROM jobs WHERE state = 0").fetchall()
                    return len(rows) == 1, f"running jobs {rows}"
                finally:
                    db.close()
            except sqlite3.Error as e:
                return False, str(e)
        wait_for("a running job in the journal", running_job, 30)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    damage(stored)
    code, out, err = node(home, ["--json", "-c", "jobs"])
    check(code == 0, f"jobs after the restart: {code} {out} {err[-800:]}")
    running = [j for j in json.loads(out)["jobs"] if j.get("state") == "running"]
    check(len(running) == 1 and running[0].get("resumed"), f"the resumed job: {out}")
    with open(os.path.join(home, "logs", "node-1.log"), errors="replace") as f:
        said = [line for line in f if "is not in this node's store" in line]
    check(len(said) == 1 and "goes on with the workers that hold the module" in said[0],
          f"the log about the lost module: {said}")
    log("a damaged module was replaced; a resumed job without its module was said so: "
        + said[0].strip())


def case_home(tmp):
    os.umask(0o022)
    home = os.path.join(tmp, "a", "b", "home")
    code, out, err = node(home, ["--json", "-c", "status"])
    check(code == 0, f"fresh home: exit {code}: {err}")
    for d in (os.path.join(tmp, "a"), os.path.join(tmp, "a", "b"), home):
        mode = os.stat(d).st_mode & 0o7777
        check(mode == 0o700, f"{d} created with mode {mode:o}, not 700")
    key = os.path.join(home, "cluster.key")
    os.chmod(key, 0o640)
    expect_failure("a key readable by the group", node(home, ["--json", "-c", "status"]),
                   "is open to group or others (mode 0640); chmod 600 it", True)
    os.chmod(key, 0o600)
    os.chmod(home, 0o770)
    expect_failure("a group-writable home", node(home, ["--json", "-c", "status"]),
                   "is writable by others (mode 0770)", True)
    os.chmod(home, 0o700)
    if os.geteuid() != 0:
        log("not root: the wrong-owner part is skipped")
        return
    os.chown(key, 65534, 65534)
    expect_failure("another user's key", node(home, ["--json", "-c", "status"]),
                   "belongs to uid 65534", True)
    os.chown(key, 0, 0)
    os.chown(home, 65534, 65534)
    expect_failure("another user's home", node(home, ["--json", "-c", "status"]),
                   "belongs to uid 65534", True)
    os.chown(home, 0, 0)
    code, out, err = node(home, ["--json", "-c", "status"])
    check(code == 0, f"the home given back: exit {code}: {err}")
    log("home 0700 with its parents; other owners and open modes refused")


def case_badinput(tmp):
    home = os.path.join(tmp, "home")
    sum_wasm = os.path.join(WASM, "sum.wasm")
    # Numeric flags of ./node: finite and in range, refused before anything starts.
    for flag, value in [("--max-call-seconds", "nan"), ("--max-call-seconds", "1e308"),
                        ("--wait-timeout", "inf"), ("--wait-timeout", "-1"),
                        ("--slice-ms", "nan"), ("--slots", "0"), ("--slots", "1e9"),
                        ("--max-module-mib", "0"), ("--max-memory-mib", "-1")]:
        r = node(home, ["--json", flag, value, "-c", "status"])
        expect_failure(f"{flag} {value}", r, f"{flag}: takes", True)
        check(r[0] == 2, f"{flag} {value}: exit {r[0]}, not 2")
    check(not os.path.exists(home), "a refused command line created the home")
    # Shell commands: hostile files, numbers and bytes, each one JSON error.
    bad = [("wasm /proc/self/mem f", "cannot read /proc/self/mem"),
           ("wasm /dev/zero f", "/dev/zero is more than 64 MiB"),
           (f"wasm {WASM} f", "it is a directory"),
           ("scatter /proc/self/mem f 0 10", "cannot read /proc/self/mem"),
           (f"wasm {sum_wasm} sum 1 2 3 --timeout nan", "--timeout takes a number of seconds"),
           (f"wasm {sum_wasm} sum 1 2 3 --timeout 1e308", "--timeout takes"),
           (f"wasm {sum_wasm} sum 1 2 3 --timeout -1", "--timeout takes"),
           (f"wasm {sum_wasm} sum 1 2 3 --max-memory inf", "--max-memory takes"),
           (f"scatter {sum_wasm} sum 0 10 --timeout inf", "--timeout takes"),
           (f"scatter {sum_wasm} sum 0 10 --max-memory 0", "--max-memory takes")]
    for line, want in bad:
        # Numbers out of range are usage errors (2); unreadable files are failures (1).
        code = 2 if "takes" in want else 1
        expect_json_error(line, node(home, ["--json", "-c", line]), want, code)
    # Arguments that are not UTF-8: the JSON line carries U+FFFD, the node does not abort.
    raw = [(b"wasm " + sum_wasm.encode() + b" sum \xff\xfe 1 2", "is not a valid i32", 2),
           (b"\xc3\x28 hello", "unknown command", 2),
           (b"wasm /tmp/\xff.wasm f", "cannot open", 1),
           (b"scatter " + sum_wasm.encode() + b" \xff 0 10", "", 1)]
    for line, want, code in raw:
        r = node(home, ["--json", "-c", line])
        expect_json_error(repr(line), r, want, code)
        check("\ufffd" in r[1], f"{line!r}: no U+FFFD in {r[1]!r}")
    # The same lines through one piped shell: every line answered, the node still up after.
    script = b"\n".join([b.encode() for b, _ in bad] + [r for r, _, _ in raw] + [b"status"]) + b"\n"
    code, out, err = node(home, ["--json"], stdin=script)
    lines = out.strip().splitlines()
    check(len(lines) == len(bad) + len(raw) + 1, f"piped shell answered {len(lines)} lines: "
          f"{out[-800:]!r} {err[-800:]!r}")
    check(all("error" in json.loads(x) for x in lines[:-1]), "a bad line did not fail")
    check(json.loads(lines[-1]).get("id") == 1, f"status after the bad lines: {lines[-1]}")
    # Some lines could not run at all (usage errors), so the session's exit is 2, not 1.
    check(code == 2, f"piped shell with usage errors among its failures: exit {code}")
    log(f"{len(bad) + len(raw)} hostile commands: one JSON error each, node alive")


def main():
    case = sys.argv[4]
    tmp = tempfile.mkdtemp(prefix="velum-disk-")
    try:
        globals()["case_" + case](tmp)
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    finally:
        for root, dirs, _ in os.walk(tmp):
            for d in dirs:
                try:
                    os.chmod(os.path.join(root, d), 0o700)
                except OSError:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"disk_test {case}: ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
