#!/usr/bin/env python3
"""Runs the commands of the README and the docs as a reader would paste them (issue 14).

Every code block of README.md, docs/*.md, examples/*/README.md and templates/*/README.md is read;
each line that is a command is either run or named as not run with the reason, by the table
RULES below. A block whose first line looks like a command no rule knows fails the test, so a
new command in the docs is either checked or consciously skipped, never silently.

What is run, in a scratch folder that looks like the repository (./velum, ./node, build/ with
a private copy of build/wasm, examples/, templates/, docs/):
- `./velum ...`: exit status 0, or, when its comment is `velum: ...`, a failure whose stderr
  starts so; a numeric comment (`# 60`) is the expected first line of stdout; in a `$ `
  transcript the lines that follow are the expected output (`...` skips any lines).
- `./node N --local` lines start nodes (one fresh home per block); `velum[N]> CMD` lines are
  typed into node N, bare shell commands (`scatter ...`) into node 1 of a two-node loopback mesh
  started for the block. The node must end with status 0 after the block; the numbers printed
  under a command (or in its comment) must appear in its output in order.
- `clang ...` and `/usr/bin/rustc ...` must succeed; `make demo` runs scripts/demo and checks its
  three answers.

Usage: commands_test.py --source DIR --build DIR [--only FILE]
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 180  # one block, nodes included

# (pattern on the command, action, reason). First match wins. Actions: velum, node, shell,
# build (a compiler line), demo, skip.
RULES = [
    (r"^(\./|\.\./\.\./)velum (run|inspect)\b", "velum", ""),
    (r"^\./node \d+\b.*--local\b", "node", ""),
    (r"^\./node \d+\b", "skip", "starts a node on the LAN; tests keep to loopback (the --local "
     "quickstart is run)"),
    (r"^velum\[\d+\]> ", "shell", ""),
    (r"^(scatter|wasm|peers|status|jobs|wait|cancel|help) ", "shell", ""),
    (r"^(clang|/usr/bin/rustc) ", "build", ""),
    (r"^make demo\b", "demo", ""),
    (r"^make test\b", "skip", "this test runs inside make test"),
    (r"^make bench\b", "skip", "the benchmarks (minutes; figures in docs/BENCHMARKS.md)"),
    (r"^make\b", "skip", "the build itself: make test has just run it"),
    (r"^(cd build && )?ctest\b", "skip", "ctest, from inside ctest"),
    (r"^(python3 bench/|git worktree|\(cd |cmake --build build --target velum-bench)", "skip",
     "benchmarks and their A/B runs (make bench)"),
    (r"^(cmake |ninja )", "skip", "builds and installs: the build of make test; api.install "
     "installs and builds examples/embed"),
    (r"^embed ", "skip", "api.install runs both embedding examples with these options"),
    (r"^(\./|templates/rust/)build\.sh\b", "build", ""),
    (r"^((\./)?build/velum-sim|ninja -C build velum-sim|VELUM_SIM_SEED=)", "skip",
     "the simulators (a minute of CPU each; ctest -L sim runs their checks)"),
    (r"^(cd fuzz\b|mkdir -p fuzz/|\.\./build/tests/fuzz/)", "skip",
     "fuzzing for an hour, and reproducing what it found"),
    (r"^([A-Z_]+=\S* )*(\./)?scripts/bench", "skip", "benchmarks and their A/B runs (make bench)"),
    (r"^python3 tests/e2e/reduce_test\.py .* overhead$", "skip",
     "the module reducers' figures (ctest -L e2e runs reduce_test.py's checks)"),
    (r"^python3 tests/conformance/wasi_suite\.py\b", "skip",
     "the WASI suite (ctest -R conformance.wasi runs it, against ../shared beside the repository)"),
    (r"^build/tests/conformance/velum-conformance\b", "skip",
     "the spec suite (ctest -L conformance runs it, against ../shared beside the repository)"),
    (r"^(valgrind|callgrind_annotate|for |done\b)", "skip",
     "profiling under valgrind (minutes), a measurement the doc reports"),
]
# A line that may be a command (for lines no rule knows): a path to run, or a first word that
# is a program on PATH.
COMMANDISH = re.compile(r"^(\$ )?([A-Z_]+=\S* )*(\./|\.\./|/usr/bin/|[a-z][a-z0-9_./-]*( |$))")


def looks_like_command(line):
    m = COMMANDISH.match(line)
    if not m:
        return False
    words = (line[2:] if line.startswith("$ ") else line).split()
    while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the program
        words = words[1:]
    word = words[0] if words else ""
    return (word.startswith(("./", "../", "/usr/bin/", "build/")) or
            shutil.which(word) is not None)
NUMBER = re.compile(r"^-?\d[\d.e+-]*$")
failures = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(where, msg):
    failures.append(f"{where}: {msg}")
    log(f"FAIL {where}: {msg}")


def blocks_of(path):
    """The code blocks of a Markdown file: (first line number, [lines]) with the indent removed.
    Indented blocks (four spaces after a blank line) and fenced ones without a language or in
    sh/bash/console."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if lang in ("", "sh", "bash", "console", "shell"):
                out.append((i + 2, lines[i + 1:j]))
            i = j + 1
            continue
        if line.startswith("    ") and (i == 0 or lines[i - 1].strip() == ""):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or lines[j].strip() == ""):
                j += 1
            body = [l[4:] for l in lines[i:j]]
            while body and not body[-1].strip():
                body.pop()
            out.append((i + 1, body))
            i = j
            continue
        i += 1
    return out


def split_comment(text):
    """'cmd   # note' -> ('cmd', 'note'): a comment is two spaces or more, then '#'."""
    m = re.search(r"\s{2,}#\s?(.*)$", text)
    if not m:
        return text.strip(), ""
    return text[:m.start()].strip(), m.group(1).strip()


def parse(block):
    """[(command, comment, [expected output lines], transcript)] and the lines no rule knows.
    Lines under a command are its output when the block shows a session (`$ ` or a node's
    prompt); in a block of commands alone, a line that looks like a command is one."""
    items, unknown, i = [], [], 0
    session = any(l.startswith(("$ ", "velum[")) for l in block)
    while i < len(block):
        raw = block[i]
        transcript = raw.startswith("$ ")
        text = raw[2:] if transcript else raw
        while text.endswith("\\") and i + 1 < len(block):  # continuation lines
            i += 1
            text = text[:-1] + " " + block[i].strip()
        command, comment = split_comment(text)
        rule = next((r for r in RULES if re.search(r[0], command)), None)
        if rule is None:
            if (not items or not session) and command and not raw.startswith(" ") and \
                    looks_like_command(raw):
                unknown.append(command)
            elif items:
                items[-1][2].append(raw)
            i += 1
            continue
        items.append([command, comment, [], transcript, rule])
        i += 1
    return items, unknown


def sandbox(source, build):
    """A folder that looks like the repository: commands write into it, not into the tree."""
    root = tempfile.mkdtemp(prefix="velum-docs-")
    for name in ("examples", "docs", "tests", "scripts", "include", "src"):
        if os.path.exists(os.path.join(source, name)):
            os.symlink(os.path.join(source, name), os.path.join(root, name))
    # The templates are built where they are, as their READMEs say: a copy.
    shutil.copytree(os.path.join(source, "templates"), os.path.join(root, "templates"),
                    ignore=shutil.ignore_patterns("target", "*.wasm"))
    os.mkdir(os.path.join(root, "build"))
    for name in os.listdir(build):
        if name != "wasm":
            os.symlink(os.path.join(build, name), os.path.join(root, "build", name))
    shutil.copytree(os.path.join(build, "wasm"), os.path.join(root, "build", "wasm"))
    os.symlink(os.path.join(build, "velum"), os.path.join(root, "velum"))
    os.symlink(os.path.join(build, "node"), os.path.join(root, "node"))
    return root


def env_for(root, home):
    env = dict(os.environ)
    env["VELUM_HOME"] = home
    env["HOME"] = root
    env.pop("VELUM_WASM_PATH", None)
    return env


def contains_in_order(output_lines, expected):
    """Each expected line appears, in order, as a whole line (stripped); '...' skips."""
    pos = 0
    got = [" ".join(l.split()) for l in output_lines]
    for want in expected:
        want = " ".join(want.split())
        if not want or want == "...":
            continue
        while pos < len(got) and got[pos] != want:
            pos += 1
        if pos == len(got):
            return want
        pos += 1
    return None


def run_velum(where, root, item, env):
    command, comment, expected, transcript, _ = item
    p = subprocess.run(["bash", "-c", command], cwd=root, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=DEADLINE_S)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    shown = f"exit {p.returncode}, stdout {out[-400:]!r}, stderr {err[-400:]!r}"
    if comment.startswith("velum:"):
        prefix = comment.split("...")[0].strip()
        if p.returncode == 0 or not err.startswith(prefix):
            fail(where, f"`{command}` should fail with '{prefix}...': {shown}")
        return
    if p.returncode != 0:
        fail(where, f"`{command}`: {shown}")
        return
    if NUMBER.match(comment) and (out.splitlines() or [""])[0].strip() != comment:
        fail(where, f"`{command}` should print {comment}: {shown}")
    numbers = [l for l in expected if NUMBER.match(l.strip())]
    if not transcript and numbers:
        missing = contains_in_order(out.splitlines(), numbers)
        if missing is not None:
            fail(where, f"`{command}` should print {missing}: {shown}")
    if transcript and expected:
        missing = contains_in_order(out.splitlines(), expected)
        if missing is not None:
            fail(where, f"`{command}`: the output has no line '{missing}' where the doc shows it:"
                 f" {shown}")


def run_build(where, root, item, env):
    command = item[0]
    p = subprocess.run(["bash", "-c", command], cwd=root, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=DEADLINE_S)
    if p.returncode != 0:
        fail(where, f"`{command}`: exit {p.returncode}: {p.stdout.decode(errors='replace')[-800:]}")


def run_demo(where, root, env):
    demo_env = dict(env)
    demo_env["VELUM_DEMO_HOME"] = os.path.join(root, "demo-home")
    script = os.path.join(os.path.realpath(os.path.join(root, "scripts")), "demo")
    # Its own process group: on a timeout the nodes it started go with it (its trap would not
    # run under SIGKILL).
    p = subprocess.Popen([script], env=demo_env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
    out = out.decode(errors="replace")
    lines = [l.strip() for l in out.splitlines()]
    ok = p.returncode == 0 and "60" in lines and "41538" in lines and "pi ~= 4 * " in out
    if not ok or not re.search(r"pi ~= .* = 3\.14", out):
        fail(where, f"make demo (scripts/demo): exit {p.returncode}, output ends {out[-1200:]!r}")


class Mesh:
    """The nodes of one block, each reading its commands from a pipe as if typed."""

    def __init__(self, root, home, env):
        self.root, self.home, self.env = root, home, env
        self.procs = {}  # id -> (Popen, output file)

    def start(self, where, command):
        node_id = int(command.split()[1])
        out = open(os.path.join(self.home, f"out-{node_id}.txt"), "w+b")
        argv = shlex.split(command)
        p = subprocess.Popen(argv, cwd=self.root, env=self.env, stdin=subprocess.PIPE,
                             stdout=out, stderr=subprocess.STDOUT)
        self.procs[node_id] = (p, out)
        # Up when it has registered its address in the home; the next node starts after.
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(self.home, "nodes", str(node_id))):
            if p.poll() is not None or time.monotonic() > deadline:
                fail(where, f"`{command}` did not come up: {self.output(node_id)[-800:]!r}")
                return False
            time.sleep(0.05)
        return True

    def wait_joined(self, where, node_id, peers):
        """Waits, as a reader would, until node `node_id` has seen `peers` others join (its log
        in the block's home says so)."""
        log_file = os.path.join(self.home, "logs", f"node-{node_id}.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text = open(log_file, errors="replace").read()
            except OSError:
                text = ""
            if len(set(re.findall(r"member (\d+) joined", text))) >= peers:
                return True
            time.sleep(0.05)
        fail(where, f"node {node_id} did not see {peers} peer(s) join within 30 s")
        return False

    def output(self, node_id):
        out = self.procs[node_id][1]
        out.flush()
        out.seek(0)
        return out.read().decode(errors="replace")

    def type_into(self, node_id, lines):
        p = self.procs[node_id][0]
        p.stdin.write(("\n".join(lines) + "\n").encode())
        p.stdin.close()

    def finish(self, where, node_id):
        p = self.procs[node_id][0]
        try:
            rc = p.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            fail(where, f"node {node_id} still running {DEADLINE_S} s after its commands")
        return rc

    def stop(self):
        for node_id, (p, out) in self.procs.items():
            if p.poll() is None:
                if not p.stdin.closed:
                    p.stdin.close()  # end of input: the node leaves
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            out.close()


def run_mesh_block(where, root, cwd, items, block_no):
    home = os.path.join(root, f"home-{block_no}")
    os.makedirs(home, mode=0o700)
    env = env_for(root, home)
    mesh = Mesh(cwd, home, env)
    try:
        starts = [it for it in items if it[4][1] == "node"]
        if not starts:  # bare shell lines: a two-node loopback mesh, typed into node 1
            node = os.path.join(root, "node")
            starts = [[f"{node} 1 --local", "", [], False, None],
                      [f"{node} 2 --local", "", [], False, None]]
        for it in starts:
            if not mesh.start(where, it[0]):
                return
        if not mesh.wait_joined(where, 1, len(starts) - 1):
            return
        typed = {}
        checks = {}
        for it in items:
            if it[4][1] != "shell":
                continue
            m = re.match(r"^velum\[(\d+)\]> (.*)$", it[0])
            node_id, line = (int(m.group(1)), m.group(2)) if m else (1, it[0])
            typed.setdefault(node_id, []).append(line)
            # Numbers printed as shown; lines without digits (headers, words) as shown, but
            # for runs of spaces; lines with timings or counts are not compared.
            wants = [" ".join(l.split()) for l in it[2]
                     if NUMBER.match(l.strip()) or (l.strip() and not re.search(r"\d", l))]
            if NUMBER.match(it[1]):
                wants.append(it[1])
            checks.setdefault(node_id, []).extend(wants)
        for node_id, lines in typed.items():
            if node_id not in mesh.procs:
                fail(where, f"commands typed into node {node_id}, which the block does not start")
                return
            log(f"{where}: typed into node {node_id}: {lines}")
            mesh.type_into(node_id, lines)
        for node_id in typed:
            rc = mesh.finish(where, node_id)
            out = mesh.output(node_id)
            if rc != 0:
                fail(where, f"node {node_id} ended with exit status {rc}: {out[-1500:]!r}")
                continue
            missing = contains_in_order(out.splitlines(), checks[node_id])
            if missing is not None:
                fail(where, f"node {node_id} never printed {missing} (in the doc's order): "
                     f"{out[-1500:]!r}")
            else:
                log(f"{where}: node {node_id} printed {checks[node_id]} in order")
    finally:
        mesh.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--only", help="one Markdown file (relative to the source)")
    a = ap.parse_args()
    source, build = os.path.realpath(a.source), os.path.realpath(a.build)
    files = [a.only] if a.only else (
        ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(source, "docs"))
                               if f.endswith(".md")) +
        sorted(os.path.join(d, sub, "README.md") for d in ("examples", "templates")
               if os.path.isdir(os.path.join(source, d))
               for sub in os.listdir(os.path.join(source, d))
               if os.path.exists(os.path.join(source, d, sub, "README.md"))))
    root = sandbox(source, build)
    ran = skipped = 0
    try:
        block_no = 0
        for rel in files:
            for first_line, block in blocks_of(os.path.join(source, rel)):
                block_no += 1
                where = f"{rel}:{first_line}"
                items, unknown = parse(block)
                for command in unknown:
                    fail(where, f"`{command}` looks like a command no rule of "
                         "tests/docs/commands_test.py knows: add one (run it, or say why not)")
                if not items:
                    continue
                env = env_for(root, os.path.join(root, f"home-{block_no}"))
                # A template's README speaks from its own folder; the others from the root.
                cwd = os.path.join(root, os.path.dirname(rel)) if rel.startswith(
                    "templates/") else root
                for it in items:
                    action, reason = it[4][1], it[4][2]
                    if action == "skip":
                        skipped += 1
                        log(f"{where}: not run: `{it[0]}`: {reason}")
                    elif action in ("velum", "build", "demo"):
                        log(f"{where}: run: `{it[0]}`")
                    if action == "velum":
                        ran += 1
                        run_velum(where, cwd, it, env)
                    elif action == "build":
                        ran += 1
                        run_build(where, cwd, it, env)
                    elif action == "demo":
                        ran += 1
                        run_demo(where, root, env)
                if any(it[4][1] in ("node", "shell") for it in items):
                    ran += sum(1 for it in items if it[4][1] in ("node", "shell"))
                    run_mesh_block(where, root, cwd, items, block_no)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    log(f"{ran} commands run, {skipped} not run (each with its reason above), "
        f"{len(failures)} failures")
    if failures:
        print("\n".join(["FAILED:"] + failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
