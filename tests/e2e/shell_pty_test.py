#!/usr/bin/env python3
"""The interactive shell driven through a pseudo-terminal, as a person types (issue 14):
Ctrl-C at the prompt drops the line and never ends the node; only Ctrl-D and quit leave;
history; Tab completion of commands, modules, exports and folders; Ctrl-C during a scatter
cancels it, during `wait` detaches; background jobs announced at the prompt; and the
terminal's modes (termios, as `stty -a` shows them) restored after every way out: quit,
Ctrl-D, SIGTERM, SIGINT, a crash, an error at start-up.

The node runs in its own session with the pty's slave as its controlling terminal, so the
Ctrl-C byte becomes SIGINT exactly as on a real terminal. The test keeps the slave open and
reads its modes after each exit. Python 3 standard library.

usage: shell_pty_test.py NODE_BINARY WASM_DIR CASE"""

import fcntl
import os
import re
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesh_lib import TestFailure, check, free_port, log  # noqa: E402

NODE = WASM = None
PROMPT = "velum[1]> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\x07")


class PtyNode:
    """./node 1 with stdin, stdout and stderr on a fresh pty, in its own session."""

    def __init__(self, home, cwd, extra=(), port=None):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.initial_modes = termios.tcgetattr(self.slave)
        self.port = port or free_port()
        argv = [NODE, "1", "--port", str(self.port), "--discovery-port", "0",
                "--no-broadcast", *extra]
        env = dict(os.environ, VELUM_HOME=home, VELUM_WASM_PATH=WASM, TERM="xterm")
        env.pop("EDITRC", None)

        def child():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the crash case dumps no core

        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     cwd=cwd, env=env, preexec_fn=child, close_fds=True)
        self.out = ""  # everything read, escape sequences removed
        self.seen = 0  # how much of `out` the last expect consumed

    def read_some(self, timeout):
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave descriptor of the child is closed
            return False
        self.out += ANSI.sub("", data.decode("utf-8", "replace"))
        return bool(data)

    def expect(self, pattern, timeout=10.0, what=None):
        """Waits for `pattern` (a regex) in the output after the last match; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.out, self.seen)
            if m:
                self.seen = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"{what or pattern!r} not seen within {timeout} s; output "
                                  f"ends with {self.out[-1500:]!r}")
            self.read_some(min(left, 0.1))

    def send(self, text):
        os.write(self.master, text.encode())

    def line(self, text):
        self.send(text + "\r")

    def prompt(self, timeout=10.0):
        self.expect(re.escape(PROMPT), timeout, "the prompt")

    def wait_exit(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TestFailure(f"node still running {timeout} s after it was told to leave; "
                                  f"output ends with {self.out[-800:]!r}")
            self.read_some(0.05)
        while self.read_some(0.05):
            pass
        return self.proc.returncode

    def modes(self):
        return termios.tcgetattr(self.slave)

    def check_modes_restored(self, way):
        now = self.modes()
        names = ["iflag", "oflag", "cflag", "lflag"]
        for i, name in enumerate(names):
            check(now[i] == self.initial_modes[i],
                  f"after {way}: {name} is {now[i]:#o}, was {self.initial_modes[i]:#o}")
        check(now[3] & termios.ICANON and now[3] & termios.ECHO,
              f"after {way}: the terminal is left -icanon or -echo")
        check(now[6] == self.initial_modes[6], f"after {way}: control characters changed")
        log(f"after {way}: terminal modes as before (icanon echo isig)")

    def close(self):
        if self.proc.poll() is None and self.proc.pid > 0:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def start(tmp, extra=(), cwd=None):
    node = PtyNode(os.path.join(tmp, "home"), cwd or tmp, extra)
    node.expect(r"VelumOS node 1 at port", 15, "the banner")
    node.prompt()
    return node


def editing_modes(node):
    """While a line is edited: no canonical mode, no echo, and Ctrl-C a key (no ISIG)."""
    m = node.modes()
    return not (m[3] & termios.ICANON) and not (m[3] & termios.ISIG)


def wait_editing(node):
    deadline = time.monotonic() + 5
    while not editing_modes(node):
        check(time.monotonic() < deadline, "the line editor never took the terminal")
        time.sleep(0.02)


def case_keys(tmp):
    """Ctrl-C at the prompt (twice, and on a typed line), history, completion, typos, Ctrl-D."""
    os.makedirs(os.path.join(tmp, "mods", "deeper"))
    shutil.copy(os.path.join(WASM, "primes.wasm"), os.path.join(tmp, "mods", "primes.wasm"))
    node = start(tmp)
    try:
        wait_editing(node)
        # Ctrl-C on a typed line drops it; twice more on an empty line; the node stays.
        node.send("bogus words")
        node.expect("bogus words")
        node.send("\x03")
        node.expect(r"\^C\r?\n", what="^C and a new line")
        node.prompt()
        for _ in range(2):
            node.send("\x03")
            node.prompt()
        check(node.proc.poll() is None, "Ctrl-C at the prompt ended the node")
        node.line("status")
        node.expect(r"node 1 at 127\.0\.0\.1|node 1 at ", what="status")
        node.prompt()
        check("bogus" not in node.out[node.out.find("status"):],
              "the line dropped by Ctrl-C was run")
        # An external SIGINT at the prompt does not end the interactive shell either.
        if node.proc.pid > 0:
            os.kill(node.proc.pid, signal.SIGINT)
        node.expect(r"\^C\r?\n", what="^C for the SIGINT")
        node.prompt()
        node.line("help")
        node.expect("commands \\(help COMMAND")
        node.prompt()
        check(node.proc.poll() is None, "SIGINT at the prompt ended the node")
        # Typos and extra arguments: one error each, with a suggestion or the usage.
        node.line("scater primes count_primes 0 10")
        node.expect("did you mean `scatter`\\?")
        node.prompt()
        node.line("peers 1")
        node.expect("peers takes no arguments, not 1: '1' is one too many")
        node.prompt()
        # History: Up recalls the last line (run again, it fails the same way).
        node.send("\x1b[A\r")
        node.expect("peers takes no arguments", what="the recalled line's error")
        node.prompt()
        # Completion, judged by what the completed line does (libedit redraws the line with
        # carriage returns, so the screen text is not matched): a command, a bare module name
        # (VELUM_WASM_PATH), an export, a flag and its choice.
        node.send("sca\tprim\tcount\t0 1e5 --red\tsu\t\r")
        node.expect(r"[\r\n]9592\r?\n", what="the completed scatter's result (9592 primes below 1e5)")
        node.expect(r"count_primes over \[0, 100000\) by sum")
        node.prompt()
        # A folder completes with / and no space; two candidates in it are listed; a file.
        node.send("wasm mo\t\t")
        node.expect(r"deeper/ +primes\.wasm", what="the folder's two entries listed")
        node.send("p\tcount\t0 100\r")
        node.expect(r"[\r\n]25\r?\n", what="wasm mods/primes.wasm count_primes 0 100 = 25")
        node.prompt()
        # A command's extra argument, an unknown flag: one error each.
        node.line("wait 1 2")
        node.expect("wait takes 1 argument, not 2: '2' is one too many")
        node.prompt()
        node.line("scatter primes count_primes 0 10 --bogus")
        node.expect("scatter: unknown option --bogus")
        node.prompt()
        # Ctrl-D on an empty line: a newline, then quit's goodbye, exit 0.
        node.send("\x04")
        node.expect(r"\r?\n(\^D)?\r?\n?left the mesh", what="a newline and 'left the mesh'")
        code = node.wait_exit()
        check(code == 0, f"Ctrl-D: exit {code}")
        node.check_modes_restored("Ctrl-D")
        history = open(os.path.join(tmp, "home", "history"), errors="replace").read()
        history = history.replace("\\040", " ")  # libedit writes it vis(3)-encoded
        check("peers 1" in history and "mods/primes.wasm" in history, f"history: {history!r}")
        check("bogus words" not in history, "a line dropped by Ctrl-C went into the history")
    finally:
        node.close()
    # A second start recalls the first one's history.
    node = start(tmp)
    try:
        wait_editing(node)
        node.send("\x1b[A\x1b[A\x1b[A\r")  # three lines back: the wasm call
        node.expect(r"[\r\n]25\r?\n", what="the recalled wasm call's result")
        node.prompt()
        node.send("\x12mods/pr\r")  # Ctrl-R: search the history, as in bash
        node.expect(r"[\r\n]25\r?\n", what="the wasm call found by Ctrl-R")
        node.prompt()
        node.line("quit")
        node.expect("left the mesh")
        check(node.wait_exit() == 0, "quit: exit code")
        node.check_modes_restored("quit")
    finally:
        node.close()


def case_jobs(tmp):
    """Ctrl-C during a scatter cancels it (and a second Ctrl-C is harmless); Ctrl-C during
    wait detaches; cancel says so once; a background job's end is announced at the prompt."""
    node = start(tmp)
    try:
        big = "scatter primes count_primes 0 2e9 --chunk 100000"
        node.line(big)
        # The bar: items done of the total, a measured rate and an ETA from it.
        node.expect(r"\d+% +[\d.]+[kMG]? of 2\.00G items +[\d.]+[kMG]?/s +ETA \d", 20,
                    "the progress bar with items, rate and ETA")
        node.send("\x03")
        node.expect(r"job (\d+) cancelled", 20, "the cancelled scatter")
        # A cancelled job keeps its progress figures.
        node.expect(r"cancelled after [1-9]\d* of 2000000000 items", 10,
                    "the cancelled job's progress")
        node.prompt()
        node.send("\x03")  # the one too many of issue 14
        node.prompt()
        check(node.proc.poll() is None, "a second Ctrl-C ended the node")
        # wait N: Ctrl-C detaches and leaves the job running.
        node.line(big + " &")
        job = node.expect(r"job (\d+) started").group(1)
        node.prompt()
        node.line(f"wait {job}")
        node.expect(r"\d+%", 20, "wait's progress bar")
        node.send("\x03")
        node.expect(f"job {job} keeps running in the background", 10)
        node.prompt()
        node.line("jobs")
        node.expect(rf"\n *{job} +running", 10, f"job {job} still running")
        node.prompt()
        # cancel: "job N cancelled", said once (no announcement at the next prompts).
        node.line(f"cancel {job}")
        node.expect(f"job {job} cancelled")
        node.prompt()
        mark = len(node.out)
        for _ in range(3):
            node.line("")
            node.prompt()
        time.sleep(0.3)
        node.line("")
        node.prompt()
        check(f"[job {job}]" not in node.out[mark:], f"job {job} announced after cancel")
        # A background job that ends is announced once at a later prompt.
        node.line("scatter primes count_primes 0 1e5 &")
        small = node.expect(r"job (\d+) started").group(1)
        node.prompt()
        deadline = time.monotonic() + 30
        while f"[job {small}]" not in node.out:
            check(time.monotonic() < deadline, f"job {small}'s end never announced")
            node.line("")
            node.prompt()
            time.sleep(0.1)
        check(re.search(rf"\[job {small}\] done: 9592 in \d+\.\d s\r?\n", node.out),
              f"job {small}'s announcement: {node.out[-300:]!r}")
        node.line("")
        node.prompt()
        node.line("")
        node.prompt()
        check(node.out.count(f"[job {small}]") == 1, f"job {small} announced more than once")
        node.line("quit")
        node.expect("left the mesh")
        check(node.wait_exit() == 0, "quit: exit code")
        node.check_modes_restored("quit after jobs")
    finally:
        node.close()


def case_exits(tmp):
    """SIGTERM at the prompt, a crash (SIGSEGV, SIGABRT), SIGINT to a --no-shell node and a
    start-up error: the terminal's modes are as before each time."""
    for sig, want in [(signal.SIGTERM, 0), (signal.SIGSEGV, -signal.SIGSEGV),
                      (signal.SIGABRT, -signal.SIGABRT)]:
        node = start(tmp)
        try:
            wait_editing(node)  # libedit holds the terminal in its own modes now
            node.send("half a line")
            node.expect("half a line")
            if node.proc.pid > 0:
                os.kill(node.proc.pid, sig)
            code = node.wait_exit()
            check(code == want, f"{sig.name}: exit {code}, not {want}")
            if want < 0:
                check("node: crashed (signal" in node.out, f"{sig.name}: no crash line")
            node.check_modes_restored(sig.name + " at the prompt")
        finally:
            node.close()
    node = PtyNode(os.path.join(tmp, "home"), tmp, ["--no-shell"])
    try:
        node.expect("serving at port", 15)
        if node.proc.pid > 0:
            os.kill(node.proc.pid, signal.SIGINT)
        check(node.wait_exit() == 0, "--no-shell: SIGINT exit code")
        node.check_modes_restored("SIGINT to --no-shell")
    finally:
        node.close()
    node = PtyNode(os.path.join(tmp, "home"), tmp, ["--engine", "bogus"])
    try:
        code = node.wait_exit()
        check(code == 2, f"a bad --engine: exit {code}, not 2")
        node.check_modes_restored("an error at start-up")
    finally:
        node.close()


def main():
    global NODE, WASM
    NODE, WASM, case = sys.argv[1], sys.argv[2], sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="velum-pty-")
    try:
        globals()["case_" + case](tmp)
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"PASS: shell {case}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
