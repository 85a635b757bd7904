#!/usr/bin/env python3
"""End-to-end tests of WASI commands on the mesh (`wasm [OPTIONS] FILE [ARGS...]`), on real
node processes on loopback, each with its own home, so modules and inputs really travel.

Usage: command_test.py NODE_BINARY WASM_DIR [examples|files|stream|badinput|all]

Cases:
  examples  examples/wasi (C wc, C++ words, Rust tree) run with `--node 2` and `--node 3` of a
            3-node mesh give byte for byte the stdout and exit code of the same sources built
            natively, on a folder with spaces and non-ASCII in its names, a binary and an
            empty file; stdin through --stdin, files through --ro-dir HOST::GUEST; the second
            run on a node fetches no file again (status: command_files_fetched)
  files     tests/wasm/wasi_outfiles.c on node 2: --stdin is copied to /out, 3 MB written to
            /out/sub come back byte-exact into --out DIR, the files of --ro-dir are listed
            under /in, --env reaches the program, the exit code is the command's; changing
            one input sends that one file only; a program that writes no /out leaves DIR empty
  stream    a fourth node started as `node 4 -c "wasm --node 2 ... wasi_ticker.wasm"`: the
            ticker's lines reach node 4's stdout while the command still runs (it spins until
            its --timeout), then the command ends with a timeout and a non-zero exit; a
            command's exit code is `node -c`'s exit status
  badinput  missing or unreadable FILE, --stdin, --ro-dir and --out, a bad --env, a function
            module given --stdin, a command module without FUNC where one is needed, an
            unknown --node, a text file as module: one clear error each, and every node stays
            up and runs the next command

Every node is ended by PID whatever happens (mesh_lib)."""

import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import KnownBugs, check, log, run_homes_cases, wait_for  # noqa: E402

bugs = KnownBugs({}, os.path.abspath(__file__))
WASM = None
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                        "wasi")


def wasm(name):
    return os.path.join(WASM, name)


def mesh_of(mesh, ids):
    nodes = [mesh.add(i) for i in ids]
    mesh.form(nodes, "command")
    return nodes


def fetched(node):
    s = node.status()
    return s["command_files_fetched"], s["command_bytes_fetched"]


def run(node, line, timeout=120):
    r = node.cmd(line, timeout=timeout)
    check("error" not in r, f"'{line}' failed: {r}")
    return r


def make_data(tmp):
    """A folder of inputs: text, a name with spaces and non-ASCII, binary, empty, a subfolder."""
    data = os.path.join(tmp, "data")
    os.makedirs(os.path.join(data, "sub dir"))
    with open(os.path.join(data, "fox.txt"), "w") as f:
        f.write("the quick brown fox\njumps over the lazy dog\nthe end\n")
    with open(os.path.join(data, "sub dir", "numbers – ünïcode.txt"), "w") as f:
        f.write("".join(f"{i} word\n" for i in range(1, 5001)))
    with open(os.path.join(data, "blob.bin"), "wb") as f:
        f.write(bytes((i * 131 + i // 7) & 0xff for i in range(100000)))
    open(os.path.join(data, "empty"), "w").close()
    return data


def case_examples(mesh):
    tmp = mesh.tmp
    data = make_data(tmp)
    stdin_path = os.path.join(tmp, "stdin.txt")
    with open(stdin_path, "wb") as out:
        for name in ("fox.txt", os.path.join("sub dir", "numbers – ünïcode.txt")):
            with open(os.path.join(data, name), "rb") as f:
                out.write(f.read())
    builds = [["cc", "-O2", "-o", "wc", os.path.join(EXAMPLES, "wc.c")],
              ["c++", "-O2", "-std=c++17", "-o", "words", os.path.join(EXAMPLES, "words.cpp")],
              ["/usr/bin/rustc", "-O", "-o", "tree", os.path.join(EXAMPLES, "tree.rs")]]
    for b in builds:
        p = subprocess.run(b, cwd=tmp, capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, f"native build {b}: {p.stderr}")
    nodes = mesh_of(mesh, (1, 2, 3))
    files = ["data/fox.txt", "data/sub dir/numbers – ünïcode.txt", "data/blob.bin", "data/empty"]
    quoted = " ".join(f'"{f}"' for f in files)
    # (name, native argv (argv[0] as the module's name for wc, which prints its argv), options
    # and arguments of `wasm`)
    runs = [("wc-stdin", ["./wc"], "wasi_wc.wasm", f"--stdin {stdin_path}", ""),
            ("wc-files", ["./wc", "-f"] + files, "wasi_wc.wasm", f'--ro-dir "{data}::data"',
             f"-f {quoted}"),
            ("wc-missing", ["./wc", "-f", "data/none"], "wasi_wc.wasm",
             f'--ro-dir "{data}::data"', "-f data/none"),
            ("words", ["./words", "5"], "wasi_words.wasm", f"--stdin {stdin_path}", "5"),
            ("tree", ["./tree", "data"], "wasi_tree.wasm", f'--ro-dir "{data}::data"', "data")]
    for node_id in (2, 3):
        for name, argv, module, options, args in runs:
            if argv[0] == "./wc":  # wc prints argv[0]: velum names it after the module
                p = subprocess.run(["bash", "-c", 'exec -a wasi_wc.wasm "$@"', "bash"] + argv,
                                   cwd=tmp, stdin=open(stdin_path if "stdin" in options
                                                       else os.devnull, "rb"),
                                   capture_output=True, timeout=60)
            else:
                p = subprocess.run(argv, cwd=tmp, stdin=open(stdin_path if "stdin" in options
                                                             else os.devnull, "rb"),
                                   capture_output=True, timeout=60)
            want_rc, want_out = p.returncode, p.stdout.decode(errors="replace")
            before = fetched(nodes[node_id - 1])
            r = run(nodes[0], f"wasm --node {node_id} {options} {wasm(module)} {args}")
            check(r["node"] == node_id, f"{name}: ran on node {r['node']}, not {node_id}")
            check(r["exit_code"] == want_rc and r["stdout"] == want_out,
                  f"{name} on node {node_id}: exit {r['exit_code']} (native {want_rc}), "
                  f"stdout {r['stdout'][:300]!r}, native {want_out[:300]!r}")
            after = fetched(nodes[node_id - 1])
            log(f"  {name} on node {node_id}: ok ({len(want_out)} bytes, exit {want_rc}, "
                f"{after[0] - before[0]} files fetched)")
        # Everything this node needs it has now: a second round sends nothing.
        before = fetched(nodes[node_id - 1])
        for name, argv, module, options, args in runs:
            run(nodes[0], f"wasm --node {node_id} {options} {wasm(module)} {args}")
        after = fetched(nodes[node_id - 1])
        check(after == before, f"node {node_id}: the second round fetched {after} (was {before})")


def pattern(n):
    return bytes(((i * 7 + i // 251) & 0xff) for i in range(n))


def case_files(mesh):
    tmp = mesh.tmp
    nodes = mesh_of(mesh, (1, 2))
    inputs = os.path.join(tmp, "inputs")
    os.makedirs(inputs)
    for i in range(5):
        with open(os.path.join(inputs, f"file {i}.txt"), "w") as f:
            f.write(f"input {i}\n" * (i + 1))
    stdin_path = os.path.join(tmp, "stdin.bin")
    stdin_bytes = bytes(range(256)) * 4000 + b"end\n"  # 1 MB, every byte value
    with open(stdin_path, "wb") as f:
        f.write(stdin_bytes)
    big = 3 << 20
    out = os.path.join(tmp, "result")
    line = (f'wasm --node 2 --stdin {stdin_path} --ro-dir "{inputs}::in" --out {out} '
            f"{wasm('wasi_outfiles.wasm')} {big} 5")
    r = run(nodes[0], line)
    check(r["exit_code"] == 5, f"exit code {r['exit_code']}, not 5: {r}")
    check(r["node"] == 2, f"ran on node {r['node']}")
    want_list = "".join(f"in: file {i}.txt\n" for i in range(5))
    check(sorted(r["stdout"].splitlines()) == want_list.splitlines(),
          f"/in lists {r['stdout']!r}")
    check(r["stderr"] == f"wrote {big} bytes\n", f"stderr {r['stderr']!r}")
    check(sorted(r["out_files"]) == ["copy.txt", "sub/big.bin"], f"out_files {r['out_files']}")
    with open(os.path.join(out, "copy.txt"), "rb") as f:
        check(f.read() == stdin_bytes, "copy.txt differs from --stdin")
    with open(os.path.join(out, "sub", "big.bin"), "rb") as f:
        got = f.read()
    check(len(got) == big and hashlib.sha256(got).digest() == hashlib.sha256(pattern(big)).digest(),
          f"sub/big.bin: {len(got)} bytes, not the {big}-byte pattern")
    check(sorted(os.listdir(out)) == ["copy.txt", "sub"], f"{out} holds {os.listdir(out)}")
    log(f"  /out: copy.txt ({len(stdin_bytes)} bytes) and sub/big.bin ({big} bytes) byte-exact")

    # The same inputs again: nothing is fetched. One file changed: that one only.
    before = fetched(nodes[1])
    r = run(nodes[0], line)
    check(r["exit_code"] == 5, f"second run: {r}")
    check(fetched(nodes[1]) == before, f"second run fetched {fetched(nodes[1])} (was {before})")
    with open(os.path.join(inputs, "file 3.txt"), "a") as f:
        f.write("one more line\n")
    r = run(nodes[0], line)
    after = fetched(nodes[1])
    check(after[0] - before[0] == 1, f"one changed file: {after[0] - before[0]} files fetched")
    log(f"  unchanged inputs: 0 files fetched; one changed: 1 file, {after[1] - before[1]} bytes")

    # A program that leaves a link out of its /out (to the cluster key beside the homes): the
    # worker refuses to hand it back, and nothing of it reaches DIR.
    hostile = os.path.join(tmp, "hostile")
    r = nodes[0].cmd(f"wasm --node 2 --out {hostile} {wasm('wasi_outfiles.wasm')} 10 0 link",
                     timeout=120)
    check("leads out of" in str(r.get("error", "")), f"a link out of /out: {r}")
    check(not os.path.exists(os.path.join(hostile, "key")), f"{hostile}: {os.listdir(hostile)}")
    log(f"  a link out of /out: {r['error'][-90:]!r}")
    # Every run folder on the worker is gone once its commands are (none keeps /out now).
    runs = os.path.join(mesh.homes[2], "commands")
    wait_for("the worker's run folders removed",
             lambda: (not os.path.isdir(runs) or os.listdir(runs) == [],
                      os.listdir(runs) if os.path.isdir(runs) else None), 30)

    # --env reaches the program, and only what is given (wc prints GREETING).
    r = run(nodes[0], f"wasm --node 2 --env GREETING=héllo {wasm('wasi_wc.wasm')} x")
    check("GREETING=héllo\n" in r["stdout"], f"--env: {r['stdout']!r}")
    r = run(nodes[0], f"wasm --node 2 {wasm('wasi_wc.wasm')} x")
    check("GREETING=(unset)\n" in r["stdout"], f"no --env: {r['stdout']!r}")

    # A program that writes nothing to /out leaves DIR empty (and created).
    empty = os.path.join(tmp, "nothing")
    r = run(nodes[0], f"wasm --node 2 --out {empty} {wasm('wasi_wc.wasm')}")
    check(r["exit_code"] == 0 and r["out_files"] == [] and os.listdir(empty) == [],
          f"no /out files: {r}, {os.listdir(empty) if os.path.isdir(empty) else 'no dir'}")
    # A local run (--local) gives the same /out as a remote one.
    local_out = os.path.join(tmp, "local")
    r = run(nodes[0], f"wasm --local --stdin {stdin_path} --out {local_out} "
                      f"{wasm('wasi_outfiles.wasm')} 1000 0")
    with open(os.path.join(local_out, "copy.txt"), "rb") as f:
        check(r["node"] == 1 and f.read() == stdin_bytes, f"local /out: {r}")


def case_stream(mesh):
    nodes = mesh_of(mesh, (1, 2, 3))
    four = mesh.add(4)
    base = [mesh.h.binary, "4"] + four.args + ["--wait-peers", "3", "--wait-timeout", "20"]
    timeout_s = 10
    argv = base + ["-c", f"wasm --node 2 --timeout {timeout_s} {wasm('wasi_ticker.wasm')}"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ticks = []
        t0 = time.monotonic()
        while len(ticks) < 5:
            raw = p.stdout.readline()
            if not raw:
                check(False, f"node 4 -c ended after {ticks}: {p.stderr.read().decode()[-800:]}")
            ticks.append(raw.decode().rstrip("\n"))
        streamed = time.monotonic() - t0
        # The ticker spins until its timeout: every line read so far came while it ran.
        check(p.poll() is None, f"node 4 -c ended before its --timeout ({p.returncode})")
        check(ticks == [f"tick {i}" for i in range(5)], f"stdout lines {ticks}")
        rest, err = p.communicate(timeout=timeout_s + 60)
        check(rest == b"", f"stdout after the ticks: {rest!r}")
        err = err.decode(errors="replace")
        check(p.returncode != 0, f"a timed-out command exited {p.returncode}")
        check("err\n" in err and "deadline exceeded" in err, f"stderr {err!r}")
        log(f"  5 lines streamed within {streamed:.1f} s while the command ran; it then ended "
            f"with exit {p.returncode}: {err.strip().splitlines()[-1]!r}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # The command's exit code is node -c's exit status; its stdout is the program's.
    out = os.path.join(mesh.tmp, "out4")
    argv = base + ["-c", f"wasm --node 3 --out {out} {wasm('wasi_outfiles.wasm')} 10 7"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    check(p.returncode == 7, f"node 4 -c exit {p.returncode}, not 7: {p.stderr[-800:]}")
    check(p.stdout == "", f"stdout {p.stdout!r}")
    check(os.path.getsize(os.path.join(out, "sub", "big.bin")) == 10, f"{out}: {os.listdir(out)}")
    for n in nodes:
        n.status()


def case_badinput(mesh):
    tmp = mesh.tmp
    nodes = mesh_of(mesh, (1, 2))
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("not a module\n")
    ticker, wc, add = wasm("wasi_ticker.wasm"), wasm("wasi_wc.wasm"), wasm("add.wasm")
    cases = [
        (f"wasm --node 2 {tmp}/none.wasm", "none.wasm"),
        (f"wasm --node 2 --stdin {tmp}/none.txt {wc}", "none.txt"),
        (f"wasm --node 2 --stdin {tmp} {wc}", tmp),
        (f"wasm --node 2 --ro-dir {tmp}/nodir {wc}", "nodir"),
        (f"wasm --node 2 --ro-dir {text} {wc}", "notes.txt"),
        (f"wasm --node 2 --out {text} {wc}", "notes.txt"),
        (f"wasm --node 2 --env NOEQUALS {wc}", "NOEQUALS"),
        (f"wasm --node 2 --stdin {text} {add} add 1 2", "--stdin"),
        (f"wasm --node 2 {add}", "FUNC"),
        (f"wasm --node 99 {wc}", "99"),
        (f"wasm --node 2 {text}", "notes.txt"),
        (f"wasm --node 2 --stdin", "--stdin"),
    ]
    for line, names in cases:
        r = nodes[0].cmd(line, timeout=60)
        msg = str(r.get("error", ""))
        check(msg and names in msg, f"'{line}': wanted one error naming {names!r}, got {r}")
        log(f"  {line.replace(tmp, '$TMP').replace(WASM, '$WASM')}: {msg.replace(tmp, '$TMP')}")
        for n in nodes:
            n.status()
    r = run(nodes[0], f"wasm --node 2 --stdin {text} {wc} -v")
    check(r["exit_code"] == 0 and "1 3 13\n" in r["stdout"], f"after the bad input: {r}")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        WASM = sys.argv[2]
    sys.exit(run_homes_cases(__doc__, {"examples": case_examples, "files": case_files,
                                       "stream": case_stream, "badinput": case_badinput},
                             "command", bugs))
