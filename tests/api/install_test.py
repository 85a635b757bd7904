"""The installed package from the outside: `cmake --install` into a fresh prefix, then
examples/embed configured with find_package(velum) and built in a fresh directory, run against
one installed `node` on loopback (free port, its own home, a shared cluster key). Checks the
answers (41538 primes, sum 60, the error case), that the library's dependencies are shared
system libraries, and that the library and the node run the *installed* executor: each node
logs the executor its pool started (HOME/logs/node-ID.log), and VELUM_EXECUTOR is unset, so
nothing but the library's own lookup (PREFIX/lib/../libexec/velum) can point there.
Python 3 standard library; every process is ended by PID."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import mesh_lib  # noqa: E402
from mesh_lib import TestFailure, check, figure, free_port, log  # noqa: E402


def run(argv, timeout, env=None, cwd=None):
    log("$ " + " ".join(argv))
    start = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                       env=env, cwd=cwd)
    out = p.stdout.decode(errors="replace")
    return p.returncode, out, (time.monotonic() - start) * 1000


def must(argv, timeout, env=None):
    rc, out, ms = run(argv, timeout, env)
    if rc != 0:
        raise TestFailure(f"{argv[0]} exited {rc}:\n{out}")
    return out, ms


def clean_env():
    """The environment of a user of the installed package: no pointers into the build tree."""
    env = dict(os.environ)
    for name in ("VELUM_EXECUTOR", "VELUM_HOME", "VELUM_WASM_PATH", "LD_LIBRARY_PATH",
                 "CMAKE_PREFIX_PATH"):
        env.pop(name, None)
    return env


def check_installed(prefix):
    for rel in ("lib/libvelum.so", "include/velum/velum.h", "include/velum/velum.hpp",
                "libexec/velum/velum-executor", "bin/velum-node", "bin/velum",
                "lib/cmake/velum/velumConfig.cmake", "lib/cmake/velum/velumConfigVersion.cmake",
                "lib/cmake/velum/velumTargets.cmake"):
        check(os.path.exists(os.path.join(prefix, rel)), f"not installed: {rel}")
    check(not os.path.exists(os.path.join(prefix, "bin", "node")),
          "bin/node installed: it would shadow Node.js's node (the node is bin/velum-node)")
    lib = os.path.realpath(os.path.join(prefix, "lib/libvelum.so"))
    out, _ = must(["readelf", "-d", lib], 30)
    check("RPATH" not in out and "RUNPATH" not in out, f"libvelum.so has an RPATH:\n{out}")
    out, _ = must(["ldd", lib], 30)
    for line in out.splitlines():
        line = line.strip()
        check("not found" not in line, f"ldd: {line}")
        m = re.search(r"=> (\S+)", line)
        if m:
            check(m.group(1).startswith(("/lib/", "/usr/lib/")),
                  f"libvelum.so resolves a dependency outside the system: {line}")
    log("libvelum.so depends on: " +
        ", ".join(sorted(set(re.findall(r"^\s*(\S+\.so[.\d]*) =>", out, re.M)))))


def logged_executor(home, node_id):
    path = os.path.join(home, "logs", f"node-{node_id}.log")
    check(os.path.exists(path), f"no log {path}")
    with open(path, errors="replace") as f:
        found = re.findall(r"executor pool: \d+ slots of (\S+)", f.read())
    check(found, f"{path} does not name its executor")
    return found[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--wasm", required=True)
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--generator", default="Ninja")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="velum-install-")
    prefix = os.path.join(tmp, "prefix")
    env = clean_env()
    peer = None
    try:
        _, ms = must([a.cmake, "--install", a.build, "--prefix", prefix], 300)
        figure("api_install_ms", ms, "ms")
        check_installed(prefix)
        executor = os.path.join(prefix, "libexec", "velum", "velum-executor")

        embed_build = os.path.join(tmp, "embed-build")
        must([a.cmake, "-S", os.path.join(a.source, "examples", "embed"), "-B", embed_build,
              "-G", a.generator, f"-DCMAKE_PREFIX_PATH={prefix}"], 120, env)
        _, ms = must([a.cmake, "--build", embed_build], 300, env)
        figure("api_embed_build_ms", ms, "ms")

        # Both examples take the same options the same way: --help, and one line for a bad one.
        for program in ("embed", "embed_cpp"):
            path = os.path.join(embed_build, program)
            rc, out, _ = run([path, "--help"], 30, env)
            check(rc == 0 and "--local" in out and "--join HOST:PORT" in out,
                  f"{program} --help: exit {rc}, {out!r}")
            for bad in (["--id", "x", "dir"], ["--id", "1"], ["--id", "1", "--port", "70000", "d"],
                        ["--id", "1", "--local", "--bind", "0.0.0.0", "d"], ["--nope", "d"],
                        ["--id", "1", "--join", "", "d"], ["--id", "1", "--beacon", "h:0", "d"],
                        ["--id", "1", "--join", "127.0.0.1", "d"]):
                rc, out, _ = run([path] + bad, 30, env)
                check(rc == 2 and "usage:" in out, f"{program} {bad}: exit {rc}, {out!r}")

        # The peer: the installed node, in its own home, with a key shared by file.
        key = os.path.join(tmp, "cluster.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key, 0o600)
        peer_home = os.path.join(tmp, "peer-home")
        port = free_port()
        loopback = ["--no-broadcast", "--discovery-port", "0", "--bind", "127.0.0.1",
                    "--advertise", "127.0.0.1", "--cluster-key", key]
        peer = mesh_lib.Node(os.path.join(prefix, "bin", "velum-node"), 2,
                             ["--port", str(port), "--home", peer_home] + loopback, tmp)
        peer.start()
        log(f"peer node 2 pid {peer.pid} at 127.0.0.1:{port}")
        check(peer.status()["id"] == 2, "the peer does not answer")

        # The C example, then the C++ one, each a node of its own joining the peer.
        home = os.path.join(tmp, "embed-home")
        argv = [os.path.join(embed_build, "embed"), "--id", "1", "--port", str(free_port()),
                "--home", home, "--join", f"127.0.0.1:{port}", "--peers", "1"] + loopback
        argv += [a.wasm]
        rc, out, ms = run(argv, 120, env)
        print(out, end="", flush=True)
        check(rc == 0, f"embed exited {rc}")
        check(re.search(r"^scatter count_primes \[0, 500000\): 41538$", out, re.M),
              "embed did not print 41538")
        check(re.search(r"^wasm sum 10 20 30: 60 \(node 2,", out, re.M),
              "embed did not print 60 from node 2")
        check("error case: export not found (-6)" in out, "embed did not show the error case")
        m = re.search(r"job \d+: ([\d.]+) ms", out)
        if m:
            figure("api_embed_scatter_ms", float(m.group(1)), "ms")
        figure("api_embed_run_ms", ms, "ms")

        home_cpp = os.path.join(tmp, "embed-cpp-home")
        argv = [os.path.join(embed_build, "embed_cpp"), "--id", "3", "--port", str(free_port()),
                "--home", home_cpp, "--join", f"127.0.0.1:{port}", "--local",
                "--discovery-port", "0", "--cluster-key", key, a.wasm]
        rc, out, _ = run(argv, 120, env)
        print(out, end="", flush=True)
        check(rc == 0, f"embed_cpp exited {rc}")
        check("c++ scatter count_primes [0, 500000): 41538" in out, "embed_cpp: no 41538")
        check("c++ wasm sum 10 20 30: 60" in out, "embed_cpp: no 60")

        # Which executor ran: the installed one, for the library and for bin/velum-node.
        for who, h, node_id in (("embed (libvelum.so)", home, 1), ("embed_cpp", home_cpp, 3),
                                ("bin/velum-node", peer_home, 2)):
            used = logged_executor(h, node_id)
            log(f"{who} started executors from {used}")
            check(os.path.realpath(used) == os.path.realpath(executor),
                  f"{who} used {used}, not the installed {executor}")

        # The peer did work for them: remote calls and slices of the jobs.
        status = peer.status()
        check(status.get("calls_served", 0) >= 1, f"the peer served no calls: {status}")
        check(status.get("slices_run", 0) >= 1, f"the peer ran no slices: {status}")
        figure("api_peer_calls_served", status["calls_served"])
        figure("api_peer_slices_run", status["slices_run"])
        log("ok")
        return 0
    except (TestFailure, subprocess.TimeoutExpired) as e:
        print(f"FAIL: {e}", flush=True)
        if peer is not None:
            print(f"peer stderr: {peer.stderr_tail()}", flush=True)
        return 1
    finally:
        if peer is not None:
            peer.kill()  # by PID
        if a.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
