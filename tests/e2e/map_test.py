#!/usr/bin/env python3
"""End-to-end tests of `map` (a WASI command once per input over the mesh), on real node
processes on loopback, each with its own home, so modules and inputs really travel.

Usage: map_test.py NODE_BINARY WASM_DIR [exact|fail|worker|coordinator|many|big|badinput|all]

Cases:
  exact        examples/wasi/checksum.c over a folder with names with spaces and non-ASCII,
               an empty file, a binary file and two files of the same contents: the outputs
               (--out DIR, and in order on stdout) equal the native build's run on each
               input, on 1, 2 and 4 nodes; --recursive; --lines; the second run on a node
               fetches no input again; identical inputs are sent once
  fail         an input that fails everywhere (exit 3) is retried once on another node, then
               reported with its input, node, exit code and stderr; the others finish
  worker       a worker killed mid-job: every output is complete and correct, none missing
  coordinator  the coordinator killed mid-job and restarted with its home: it resumes the
               job from its journal, every output is written, and the outputs it wrote before
               the kill are not written again (same inode and mtime)
  many         10 000 tiny inputs on 2 nodes: all outputs right, items per second printed
  big          a 200 MB input on a peer (--exclude-self): the checksum is the native one
  badinput     missing :::, no input, a missing input, --out on a file, a bad --retries, a
               module that is no command, two inputs with one output name: one error each,
               the nodes stay up

Every node is ended by PID whatever happens (mesh_lib)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import KnownBugs, check, figure, log, run_homes_cases, wait_for  # noqa: E402

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "wasi",
                   "checksum.c")
NATIVE = None


def wasm(name):
    return os.path.join(WASM, name)


def native_build(tmp):
    global NATIVE
    if NATIVE is None or not os.path.exists(NATIVE):
        NATIVE = os.path.join(tmp, "checksum-native")
        subprocess.run(["cc", "-O2", "-o", NATIVE, SRC], check=True)
    return NATIVE


def native(tmp, data, name, args=()):
    env = dict(os.environ, VELUM_INPUT=name)
    r = subprocess.run([native_build(tmp)] + list(args), input=data, capture_output=True,
                       env=env)
    return r.stdout


def run(node, line, timeout=300):
    r = node.cmd(line, timeout=timeout)
    check("error" not in r or r.get("failed"), f"'{line}' failed: {r}")
    return r


def make_inputs(root):
    """A folder of inputs with awkward names; returns {relative name: bytes}."""
    files = {
        "plain.txt": b"hello map\n",
        "with space.txt": b"a line\nanother\n",
        "caf\u00e9 \u00fcber.txt".encode().decode(): "non-ascii name\n".encode(),
        "empty": b"",
        "binary.bin": bytes(range(256)) * 40,
        "same-a": b"identical contents\n",
        "same-b": b"identical contents\n",
    }
    for i in range(20):
        files[f"n{i:02d}.dat"] = (f"item {i}\n" * (i + 1)).encode()
    os.makedirs(root, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return files


def mesh_nodes(mesh, ids):
    nodes = [mesh.add(i) for i in ids]
    mesh.form(nodes, "map")
    return nodes


def check_out_dir(out, expected):
    got = sorted(os.listdir(out))
    check(got == sorted(expected), f"{out} holds {got}, wanted {sorted(expected)}")
    for name, want in expected.items():
        with open(os.path.join(out, name), "rb") as f:
            data = f.read()
        check(data == want, f"{out}/{name}: {data!r} != native {want!r}")


def case_exact(mesh):
    tmp = mesh.tmp
    inputs = make_inputs(os.path.join(tmp, "in put"))
    expected = {n: native(tmp, d, n) for n, d in inputs.items()}
    names = sorted(inputs)
    ck = wasm("wasi_checksum.wasm")
    one = mesh_nodes(mesh, (1,))
    nodes = one
    for count in (1, 2, 4):
        if count > len(nodes):
            nodes = nodes + [mesh.add(i) for i in range(len(nodes) + 1, count + 1)]
            mesh.form(nodes, "map")
        out = os.path.join(tmp, f"out{count}")
        r = run(nodes[0], f"map --out '{out}' {ck} ::: '{tmp}/in put'")
        check(r["items"] == len(inputs) and r["ok"] == len(inputs) and r["failed"] == [],
              f"{count} nodes: {r}")
        check_out_dir(out, expected)
        used = sorted(w["node"] for w in r["workers"])
        log(f"  {count} node(s): {r['items']} items, by node {r['workers']}, "
            f"{r['elapsed_ms']:.0f} ms")
        check(len(used) == count or r["items"] < 2 * count,
              f"{count} nodes: only {used} ran items")
        # Outputs on stdout, in input order, each once, with ARGS.
        r = run(nodes[0], f"map {ck} x 'y z' ::: '{tmp}/in put'")
        want = [native(tmp, inputs[n], n, ["x", "y z"]).decode() for n in names]
        check(r["outputs"] == want, f"{count} nodes, stdout: {r['outputs']} != {want}")
        if count == 2:
            # Inputs travel by content: node 2 alone (--exclude-self) fetches each distinct
            # input once (same-a and same-b are one), and nothing on a second run.
            runs = []
            for k in range(2):
                f0 = nodes[1].status()["command_files_fetched"]
                r = run(nodes[0], f"map --exclude-self --out {tmp}/ex{k} {ck} ::: '{tmp}/in put'")
                check([w["node"] for w in r["workers"]] == [2], f"--exclude-self: {r}")
                check_out_dir(f"{tmp}/ex{k}", expected)
                runs.append(nodes[1].status()["command_files_fetched"] - f0)
            distinct = len(set(inputs.values()))
            check(runs[0] <= distinct and runs[1] == 0,
                  f"inputs fetched {runs} ({distinct} distinct contents)")
            log(f"  node 2 fetched {runs[0]} then {runs[1]} inputs ({distinct} distinct)")
    # --recursive, and an input named directly.
    os.makedirs(os.path.join(tmp, "tree", "sub", "deeper"))
    for rel, data in (("a", b"A\n"), ("sub/b", b"B\n"), ("sub/deeper/c", b"C\n")):
        with open(os.path.join(tmp, "tree", rel), "wb") as f:
            f.write(data)
    r = run(nodes[0], f"map --recursive --out {tmp}/rec {ck} ::: {tmp}/tree '{tmp}/in put/plain.txt'")
    for rel, data in (("a", b"A\n"), ("sub/b", b"B\n"), ("sub/deeper/c", b"C\n")):
        with open(os.path.join(tmp, "rec", rel), "rb") as f:
            check(f.read() == native(tmp, data, rel), f"--recursive: rec/{rel}")
    check(r["items"] == 4, f"--recursive made {r['items']} items, wanted 4")
    check(os.path.exists(os.path.join(tmp, "rec", "plain.txt")), "--recursive: plain.txt")
    r = run(nodes[0], f"map {ck} ::: {tmp}/tree")
    check(r["items"] == 1, f"without --recursive: {r['items']} items, wanted 1 (the file a)")
    # An empty folder is no item: the job is done at once.
    os.makedirs(os.path.join(tmp, "nothing"))
    r = run(nodes[0], f"map --out {tmp}/none {ck} ::: {tmp}/nothing")
    check(r["items"] == 0 and r["ok"] == 0 and r["state"] == "done", f"no items: {r}")
    # --lines: one item per line, newline included, outputs NNNNNNNN.out.
    lines = [b"first\n", b"\n", b"caf\xc3\xa9\n", b"last without newline"]
    with open(os.path.join(tmp, "lines.txt"), "wb") as f:
        f.write(b"".join(lines))
    r = run(nodes[0], f"map --lines --out {tmp}/lines {ck} ::: {tmp}/lines.txt")
    check(r["items"] == 4, f"--lines: {r}")
    check_out_dir(os.path.join(tmp, "lines"),
                  {f"{i:08d}.out": native(tmp, line, f"lines.txt:{i + 1}")
                   for i, line in enumerate(lines)})


def case_fail(mesh):
    tmp = mesh.tmp
    nodes = mesh_nodes(mesh, (1, 2, 3))
    os.makedirs(os.path.join(tmp, "in"))
    for i in range(12):
        with open(os.path.join(tmp, "in", f"f{i:02d}"), "wb") as f:
            f.write(b"FAIL here\n" if i == 5 else f"fine {i}\n".encode())
    r = nodes[0].cmd(f"map --out {tmp}/out {wasm('wasi_checksum.wasm')} ::: {tmp}/in",
                     timeout=120)
    check(r["items"] == 12 and r["ok"] == 11 and len(r["failed"]) == 1, f"{r}")
    f = r["failed"][0]
    check(f["item"] == 5 and f["input"] == "f05" and f["exit_code"] == 3 and
          "starts with FAIL" in f["stderr"] and f["node"] in (1, 2, 3), f"failure record {f}")
    check(r["reruns"] >= 1, f"the failed item was not run again: {r}")
    check(sorted(os.listdir(f"{tmp}/out")) == [f"f{i:02d}" for i in range(12) if i != 5],
          f"outputs: {sorted(os.listdir(tmp + '/out'))}")
    log(f"  failure: {f}")
    # --retries 0: run once.
    r = nodes[0].cmd(f"map --retries 0 {wasm('wasi_checksum.wasm')} ::: {tmp}/in/f05",
                     timeout=60)
    check(r["failed"] and r["reruns"] == 0, f"--retries 0: {r}")


def slow_inputs(tmp, n):
    root = os.path.join(tmp, "slow")
    os.makedirs(root)
    data = {}
    for i in range(n):
        data[f"s{i:04d}"] = f"slow item {i}\n".encode()
        with open(os.path.join(root, f"s{i:04d}"), "wb") as f:
            f.write(data[f"s{i:04d}"])
    return root, data


def case_worker(mesh):
    tmp = mesh.tmp
    nodes = mesh_nodes(mesh, (1, 2, 3))
    root, data = slow_inputs(tmp, 150)
    out = os.path.join(tmp, "out")
    ck = wasm("wasi_checksum.wasm")
    # Warm the module on every node, so the kill lands among running items.
    run(nodes[0], f"map {ck} ::: {root}/s0000 {root}/s0001 {root}/s0002 {root}/s0003")
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=nodes[0].cmd(f"map --out {out} {ck} sleep=40 ::: {root}", timeout=300)))
    t.start()
    wait_for("some outputs written", lambda: (os.path.isdir(out) and len(os.listdir(out)) >= 20,
                                              len(os.listdir(out)) if os.path.isdir(out) else 0),
             60)
    nodes[2].kill()
    log(f"  node 3 killed with {len(os.listdir(out))} outputs written")
    t.join(timeout=300)
    r = result.get("r")
    check(r and r["ok"] == 150 and r["failed"] == [], f"after a worker's death: {r}")
    check_out_dir(out, {n: native(tmp, d, n, ["sleep=40"]) for n, d in data.items()})
    log(f"  workers {r['workers']}, reruns {r['reruns']}")


def case_coordinator(mesh):
    tmp = mesh.tmp
    nodes = mesh_nodes(mesh, (1, 2))
    root, data = slow_inputs(tmp, 150)
    out = os.path.join(tmp, "out")
    ck = wasm("wasi_checksum.wasm")
    n1 = nodes[0]
    # The shell's command blocks: it is written, and the node killed while it runs.
    n1.proc.stdin.write(f"map --out {out} {ck} sleep=40 ::: {root}\n".encode())
    n1.proc.stdin.flush()
    wait_for("some outputs written", lambda: (os.path.isdir(out) and len(os.listdir(out)) >= 30,
                                              len(os.listdir(out)) if os.path.isdir(out) else 0),
             60)
    n1.kill()
    before = {}
    for name in os.listdir(out):
        if not name.startswith(".velum"):
            st = os.stat(os.path.join(out, name))
            before[name] = (st.st_ino, st.st_mtime_ns)
    log(f"  node 1 killed with {len(before)} outputs written")
    n1.start()
    mesh.form(nodes, "map")

    maps = n1.cmd("jobs --all").get("maps", [])
    check(len(maps) == 1, f"jobs --all after the restart: {maps}")
    m = n1.cmd(f"wait {maps[0]['job']}", timeout=120)  # follows the resumed job to its end
    check(m["state"] == "done" and m["ok"] == 150 and m.get("resumed"), f"resumed job: {m}")
    check_out_dir(out, {n: native(tmp, d, n, ["sleep=40"]) for n, d in data.items()})
    for name, (ino, mtime) in before.items():
        st = os.stat(os.path.join(out, name))
        check((st.st_ino, st.st_mtime_ns) == (ino, mtime), f"{name} was written again")
    log(f"  resumed: {m['ok']} ok; {len(before)} outputs from before the kill untouched")


def case_many(mesh):
    tmp = mesh.tmp
    nodes = mesh_nodes(mesh, (1, 2))
    root = os.path.join(tmp, "many")
    os.makedirs(root)
    n = 10000
    for i in range(n):
        with open(os.path.join(root, f"{i:05d}"), "wb") as f:
            f.write(f"{i}\n".encode())
    ck = wasm("wasi_checksum.wasm")
    run(nodes[0], f"map {ck} ::: {root}/00000")  # compiled and warm
    t0 = time.monotonic()
    r = run(nodes[0], f"map --out {tmp}/out {ck} ::: {root}", timeout=600)
    secs = time.monotonic() - t0
    check(r["ok"] == n and not r["failed"], f"{r['ok']} ok, failed {r['failed'][:3]}")
    outs = os.listdir(f"{tmp}/out")
    check(len(outs) == n, f"{len(outs)} outputs")
    for i in (0, 1, 4999, 9999):
        with open(f"{tmp}/out/{i:05d}", "rb") as f:
            check(f.read() == native(tmp, f"{i}\n".encode(), f"{i:05d}"), f"output {i}")
    figure("map_10000_items_per_s", round(n / secs, 1), "items/s")
    log(f"  10 000 items in {secs:.2f} s on 2 nodes: by node {r['workers']}")


def case_big(mesh):
    tmp = mesh.tmp
    nodes = mesh_nodes(mesh, (1, 2))
    big = os.path.join(tmp, "big.bin")
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for i in range(200):
            f.write(block[i:] + block[:i])
    ck = wasm("wasi_checksum.wasm")
    # Node 2 has the program compiled first: a WASI command runs on the interpreter until it
    # is (a 200 MB input would take a minute there).
    wait_for("node 2 to run checksum natively",
             lambda: (lambda r: (r.get("engine") == "aot", r))(
                 nodes[0].cmd(f"wasm --node 2 --stdin {SRC} {ck}", timeout=60)), 120,
             interval=0.5)
    # --exclude-self: node 1 coordinates, node 2 runs it, so the input travels.
    r = run(nodes[0], f"map --exclude-self --out {tmp}/out {ck} ::: {big}", timeout=300)
    check([w["node"] for w in r["workers"]] == [2], f"ran on {r['workers']}")
    with open(big, "rb") as f:
        want = native(tmp, f.read(), "big.bin")
    with open(f"{tmp}/out/big.bin", "rb") as f:
        got = f.read()
    check(got == want, f"200 MB: {got!r} != {want!r}")
    log(f"  200 MB input on node {r['workers']}: {r['elapsed_ms']:.0f} ms")


def case_badinput(mesh):
    tmp = mesh.tmp
    nodes = mesh_nodes(mesh, (1, 2))
    ck = wasm("wasi_checksum.wasm")
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("x\n")
    os.makedirs(os.path.join(tmp, "d1"))
    os.makedirs(os.path.join(tmp, "d2"))
    for d in ("d1", "d2"):
        with open(os.path.join(tmp, d, "same"), "w") as f:
            f.write(d)
    cases = [
        (f"map {ck} {text}", ":::"),
        (f"map {ck} :::", "INPUT"),
        (f"map {ck} ::: {tmp}/missing", "missing"),
        (f"map --out {text} {ck} ::: {text}", "notes.txt"),
        (f"map --retries -1 {ck} ::: {text}", "--retries"),
        (f"map --retries x {ck} ::: {text}", "--retries"),
        (f"map --bogus {ck} ::: {text}", "--bogus"),
        (f"map {wasm('add.wasm')} ::: {text}", "_start"),
        (f"map {text} ::: {text}", "notes.txt"),
        (f"map --out {tmp}/o {ck} ::: {tmp}/d1 {tmp}/d2", "same"),
        ("map", "FILE"),
    ]
    for line, names in cases:
        r = nodes[0].cmd(line, timeout=60)
        msg = str(r.get("error", ""))
        check(msg and names in msg, f"'{line}': wanted one error naming {names!r}, got {r}")
        log(f"  {line.replace(tmp, '$TMP').replace(WASM, '$WASM')}: {msg.replace(tmp, '$TMP')}")
        for n in nodes:
            n.status()
    r = run(nodes[0], f"map {ck} ::: {text}")
    check(r["ok"] == 1, f"after the bad input: {r}")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        WASM = sys.argv[2]
    sys.exit(run_homes_cases(__doc__, {"exact": case_exact, "fail": case_fail,
                                       "worker": case_worker, "coordinator": case_coordinator,
                                       "many": case_many, "big": case_big,
                                       "badinput": case_badinput},
                             "map", bugs))
