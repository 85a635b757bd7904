#!/usr/bin/env bash
# End-to-end test of the velum command line: results on stdout, one "velum: " line on stderr
# for every error, exit codes. Usage: cli_test.sh VELUM_BINARY WASM_DIR
set -u

VELUM=${1:?usage: cli_test.sh VELUM_BINARY WASM_DIR}
WASM=${2:?usage: cli_test.sh VELUM_BINARY WASM_DIR}
VELUM_HOME=$(mktemp -d "${TMPDIR:-/tmp}/velum-e2e-XXXXXX")
export VELUM_HOME
trap 'rm -rf "$VELUM_HOME"' EXIT
OUT=$VELUM_HOME/out
ERR=$VELUM_HOME/err

failures=0
checks=0
fail() {
  echo "FAIL: $*" >&2
  echo "  stdout: $(cat "$OUT")" >&2
  echo "  stderr: $(cat "$ERR")" >&2
  failures=$((failures + 1))
}

# run ARGS...: runs velum, keeps stdout, stderr and the exit code.
run() {
  "$VELUM" "$@" >"$OUT" 2>"$ERR"
  code=$?
  checks=$((checks + 1))
}

# expect_ok STDOUT ARGS...: exit 0, stdout exactly STDOUT, stderr empty.
expect_ok() {
  local want=$1
  shift
  run "$@"
  if [[ $code -ne 0 ]]; then fail "velum $* exited $code"; return; fi
  if [[ "$(cat "$OUT")" != "$want" ]]; then fail "velum $*: stdout is not '$want'"; return; fi
  if [[ -s "$ERR" ]]; then fail "velum $*: unexpected stderr"; fi
}

# expect_error SUBSTRING ARGS...: non-zero exit, nothing on stdout, exactly one stderr line
# that starts with "velum: " and contains SUBSTRING.
expect_error() {
  local want=$1
  shift
  run "$@"
  if [[ $code -eq 0 ]]; then fail "velum $* succeeded"; return; fi
  if [[ -s "$OUT" ]]; then fail "velum $*: output on stdout"; fi
  if [[ $(wc -l <"$ERR") -ne 1 ]]; then fail "velum $*: stderr is not one line"; return; fi
  if [[ "$(cat "$ERR")" != "velum: "* ]]; then fail "velum $*: stderr does not start with 'velum: '"; fi
  if [[ "$(cat "$ERR")" != *"$want"* ]]; then fail "velum $*: stderr lacks '$want'"; fi
}

[[ -x "$VELUM" ]] || { echo "no velum binary at $VELUM" >&2; exit 1; }
for m in sum primes traps; do
  [[ -f "$WASM/$m.wasm" ]] || { echo "missing $WASM/$m.wasm (build velum_wasm first)" >&2; exit 1; }
done

# Results.
expect_ok 60 run "$WASM/sum.wasm" sum 10 20 30
expect_ok 0 run "$WASM/sum.wasm" sum -5 2 3
expect_ok -1 run "$WASM/sum.wasm" sum 4294967295 0 0
expect_ok 16 run "$WASM/sum.wasm" sum 0x10 0 0
expect_ok 2.5 run "$WASM/sum.wasm" mean3 1.5 2.5 3.5
expect_ok 9592 run "$WASM/primes.wasm" count_primes 0 100000 --engine interp
expect_ok 9592 run "$WASM/primes.wasm" count_primes 0 100000 --engine aot
expect_ok 9592 run "$WASM/primes.wasm" count_primes 0 100000 --engine auto
expect_ok $'5\n2.5\n2.5' run "$WASM/traps.wasm" multi 5 2.5
expect_ok 256 run "$WASM/traps.wasm" grow_all --max-memory 16

# The AOT run above left its compiled module in the fresh home's cache.
if ! ls "$VELUM_HOME"/aot/*.so >/dev/null 2>&1; then
  echo "FAIL: no compiled module in $VELUM_HOME/aot" >&2
  failures=$((failures + 1))
fi

# inspect: hash (BLAKE2b-256 of the file) and typed exports.
run inspect "$WASM/sum.wasm"
if [[ $code -ne 0 ]]; then
  fail "inspect exited $code"
else
  grep -Eq '^hash +[0-9a-f]{64}$' "$OUT" || fail "inspect: no hash line"
  if command -v b2sum >/dev/null; then
    want=$(b2sum -l 256 "$WASM/sum.wasm" | cut -d' ' -f1)
    grep -q "^hash *$want\$" "$OUT" || fail "inspect: hash is not BLAKE2b-256 $want"
  fi
  grep -qF 'sum(i32, i32, i32) -> i32' "$OUT" || fail "inspect: no 'sum(i32, i32, i32) -> i32'"
  grep -qF 'sum64(i64, i64) -> i64' "$OUT" || fail "inspect: no 'sum64(i64, i64) -> i64'"
  [[ -s "$ERR" ]] && fail "inspect: unexpected stderr"
fi

# Errors: one line on stderr, non-zero exit.
echo 'not a module' >"$VELUM_HOME/notes.wasm"
head -c 20 "$WASM/sum.wasm" >"$VELUM_HOME/truncated.wasm"
expect_error "export not found: no function 'nope'" run "$WASM/sum.wasm" nope 1 2 3
expect_error "argument 2: 'abc' is not a valid i32" run "$WASM/sum.wasm" sum 1 abc 3
expect_error "expected 3 arguments (i32, i32, i32) -> i32, got 2" run "$WASM/sum.wasm" sum 1 2
expect_error "invalid module: notes.wasm: not a wasm module" run "$VELUM_HOME/notes.wasm" sum 1 2 3
expect_error "invalid module: truncated.wasm" run "$VELUM_HOME/truncated.wasm" sum 1 2 3
expect_error "invalid module: notes.wasm" inspect "$VELUM_HOME/notes.wasm"
expect_error "cannot open" run "$VELUM_HOME/missing.wasm" sum 1 2 3
expect_error "unknown engine 'bogus'" run "$WASM/sum.wasm" sum 1 2 3 --engine bogus
expect_error "trap: integer divide by zero" run "$WASM/traps.wasm" div 1 0
expect_error "trap: unreachable" run "$WASM/traps.wasm" unreachable
expect_error "memory limit exceeded" run "$WASM/traps.wasm" grow_bomb --max-memory 16
expect_error "deadline exceeded" run "$WASM/traps.wasm" spin --timeout 0.5
expect_error "deadline exceeded" run "$WASM/traps.wasm" spin --timeout 0.5 --engine aot
# A valid module of 1,000,000 nested blocks (3 MB) once overflowed the parser's stack; 300,000
# empty functions took 250 MiB to parse. Each is now refused by the bounded pre-pass.
python3 - "$VELUM_HOME" <<'PY'
import sys
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)
def section(i, payload):
    return bytes([i]) + leb(len(payload)) + payload
def module(body, count):
    funcs = leb(count) + bytes(count)
    code = leb(count) + (leb(len(body)) + body) * count
    return (b"\0asm\1\0\0\0" + section(1, b"\1\x60\0\0") + section(3, funcs)
            + section(7, b"\1\1f\0\0") + section(10, code))
depth = 1000000
open(sys.argv[1] + "/nest.wasm", "wb").write(module(b"\0" + b"\2\x40" * depth + b"\x0b" * (depth + 1), 1))
open(sys.argv[1] + "/funcs.wasm", "wb").write(module(b"\0\x0b", 300000))
PY
expect_error "invalid module: nest.wasm: module too complex: nesting depth in function 0 10001 exceeds the limit of 10000" run "$VELUM_HOME/nest.wasm" f
expect_error "invalid module: nest.wasm: module too complex: nesting depth" inspect "$VELUM_HOME/nest.wasm"
expect_error "invalid module: funcs.wasm: module too complex: parsing would take an estimated" run "$VELUM_HOME/funcs.wasm" f
expect_error "over the budget of 256 MiB" inspect "$VELUM_HOME/funcs.wasm"
expect_error "velum: " run            # no file: a usage error
expect_error "velum: " frobnicate     # no such subcommand

# Hostile files and numbers (issue 9): one line each, and nothing else happens: the home
# (a fresh path here) is not even created.
untouched() {
  local home=$VELUM_HOME/untouched
  VELUM_HOME=$home "$@"
  if [[ -e $home ]]; then fail "velum ${*:3}: created the home"; rm -rf "$home"; fi
}
untouched expect_error "cannot read /proc/self/mem" run /proc/self/mem f
untouched expect_error "cannot read /proc/self/mem" inspect /proc/self/mem
untouched expect_error "/dev/zero is more than 64 MiB, over the module size limit" run /dev/zero f
untouched expect_error "it is a directory" run "$WASM" f
for bad in nan -nan inf -inf -1 0 1e308 604801 99999999999999999999 abc 1x ''; do
  untouched expect_error "--timeout: takes a number of seconds in (0, 604800], not '$bad'" \
    run "$WASM/sum.wasm" sum 1 2 3 --timeout "$bad"
done
for bad in 0 -1 4097 nan 1.5 1e308; do
  untouched expect_error "--max-memory: takes a whole number of MiB in [1, 4096]" \
    run "$WASM/sum.wasm" sum 1 2 3 --max-memory "$bad"
done
expect_ok 6 run "$WASM/sum.wasm" sum 1 2 3 --timeout 604800 --max-memory 4096

# The home: created 0700 with its missing parents; refused when others may write to it or it
# cannot be written (a regular file stands in for a read-only one: root ignores modes).
nested=$VELUM_HOME/p/q/home
VELUM_HOME=$nested expect_ok 6 run "$WASM/sum.wasm" sum 1 2 3
for d in "$VELUM_HOME/p" "$VELUM_HOME/p/q" "$nested"; do
  [[ "$(stat -c %a "$d")" == 700 ]] || fail "velum run left $d mode $(stat -c %a "$d"), not 700"
done
chmod 0777 "$nested"
VELUM_HOME=$nested expect_error "is writable by others (mode 0777); chmod 700 it" \
  run "$WASM/sum.wasm" sum 1 2 3
chmod 0700 "$nested"
touch "$VELUM_HOME/plainfile"
VELUM_HOME=$VELUM_HOME/plainfile expect_error "is not a directory" run "$WASM/sum.wasm" sum 1 2 3
if [[ $(id -u) -eq 0 ]]; then
  chown 65534 "$nested"
  VELUM_HOME=$nested expect_error "belongs to uid 65534" run "$WASM/sum.wasm" sum 1 2 3
  chown 0 "$nested"
  # HOME unset: the account's home from the password database, never a shared /tmp folder.
  # nobody's is /nonexistent: a clear refusal.
  if command -v setpriv >/dev/null && [[ "$(getent passwd 65534 | cut -d: -f6)" == /nonexistent ]]; then
    run_nobody() {
      env -u HOME -u VELUM_HOME setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$VELUM" "$@" >"$OUT" 2>"$ERR"
      code=$?
      checks=$((checks + 1))
    }
    chmod 0755 "$VELUM_HOME"
    cp "$WASM/sum.wasm" "$VELUM_HOME/nobody.wasm"
    chmod 0644 "$VELUM_HOME/nobody.wasm"
    # Only where nobody can run the binary at all (the checkout may be private).
    if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$VELUM"; then
      run_nobody run "$VELUM_HOME/nobody.wasm" sum 1 2 3
      if [[ $code -eq 0 ]] || ! grep -q "cannot create home /nonexistent" "$ERR"; then
        fail "velum run without HOME as nobody: exit $code"
      fi
    fi
    chmod 0700 "$VELUM_HOME"
  fi
fi

# --help.
run --help
[[ $code -eq 0 ]] || fail "--help exited $code"
grep -q 'run' "$OUT" || fail "--help does not mention run"
run run --help
[[ $code -eq 0 ]] || fail "run --help exited $code"
grep -q -- '--engine' "$OUT" || fail "run --help does not mention --engine"

# The same answer from both engines.
interp=$("$VELUM" run "$WASM/primes.wasm" count_primes 0 100000 --engine interp 2>/dev/null)
aot=$("$VELUM" run "$WASM/primes.wasm" count_primes 0 100000 --engine aot 2>/dev/null)
if [[ "$interp" != 9592 || "$aot" != "$interp" ]]; then
  echo "FAIL: interp gave '$interp', aot gave '$aot'" >&2
  failures=$((failures + 1))
fi

# A WASI command (issue 11): every word after FILE is the program's argv; stdin is read;
# stdout and stderr are the program's; velum exits with its exit code.
WC=$WASM/wasi_wc.wasm
printf 'one two\nthree\n' | "$VELUM" run --env GREETING=hi "$WC" -v --out x >"$OUT" 2>"$ERR"
code=$?
checks=$((checks + 1))
want=$'argv[0]=wasi_wc.wasm\nargv[1]=-v\nargv[2]=--out\nargv[3]=x\nGREETING=hi\n2 3 14'
if [[ $code -ne 0 || "$(cat "$OUT")" != "$want" || "$(cat "$ERR")" != "wc: done" ]]; then
  fail "wasi_wc with stdin: exit $code"
fi
run run "$WC" exit 7 </dev/null
[[ $code -eq 7 ]] || fail "wasi_wc exit 7: exited $code"
grep -q 'GREETING=(unset)' "$OUT" || fail "wasi_wc saw a variable it was not given"
run run "$WC" spam 7000000 </dev/null
[[ $code -eq 0 ]] || fail "wasi_wc spam: exited $code"
[[ $(stat -c %s "$OUT") -le $((6 * 1024 * 1024)) ]] || fail "wasi_wc spam: output not capped"
grep -q 'cut at its cap' "$ERR" || fail "wasi_wc spam: the cap is not said"
expect_error "--env wants NAME=VALUE" run --env nonsense "$WC"
run run "$WC" --invoke x </dev/null  # velum's option names after FILE are the program's words
grep -q 'argv\[1\]=--invoke' "$OUT" || fail "wasi_wc --invoke x: not passed to the program"
run run "$WC" exit 300 </dev/null  # 300 does not fit an exit status: not 300 & 0xff = 44
[[ $code -eq 1 ]] && grep -q 'does not fit' "$ERR" || fail "wasi_wc exit 300: exited $code"
expect_error "cannot open" run "$WASM/nosuch.wasm" -v
run run "$WC" abort </dev/null  # a trap after output: the output, then the error
[[ $code -eq 1 ]] && grep -q 'argv\[1\]=abort' "$OUT" && grep -q 'wc: giving up' "$ERR" &&
  grep -q 'velum: trap' "$ERR" || fail "wasi_wc abort: exited $code"

# The same command natively: the same output, stdin, exit codes, cap and trap, and no note.
printf 'one two\nthree\n' | "$VELUM" run --engine aot --env GREETING=hi "$WC" -v --out x \
  >"$OUT" 2>"$ERR"
code=$?
checks=$((checks + 1))
if [[ $code -ne 0 || "$(cat "$OUT")" != "$want" || "$(cat "$ERR")" != "wc: done" ]]; then
  fail "wasi_wc --engine aot with stdin: exit $code"
fi
run run --engine aot "$WC" exit 7 </dev/null
[[ $code -eq 7 ]] || fail "wasi_wc --engine aot exit 7: exited $code"
run run --engine aot "$WC" spam 7000000 </dev/null
[[ $code -eq 0 && $(stat -c %s "$OUT") -le $((6 * 1024 * 1024)) ]] &&
  grep -q 'cut at its cap' "$ERR" || fail "wasi_wc --engine aot spam: exited $code"
run run --engine aot "$WC" abort </dev/null
[[ $code -eq 1 ]] && grep -q 'argv\[1\]=abort' "$OUT" && grep -q 'wc: giving up' "$ERR" &&
  grep -q 'velum: trap' "$ERR" || fail "wasi_wc --engine aot abort: exited $code"
# Compiled now: the default engine runs it natively too.
run run --time "$WC" exit 3 </dev/null
[[ $code -eq 3 ]] && grep -q 'on the aot engine' "$ERR" || fail "wasi_wc on auto: not native"
# Preopened directories: the program runs in a files executor confined to them (Landlock);
# a HOST that is not a directory is one line and exit 2, before anything runs.
DATA=$VELUM_HOME/data
mkdir -p "$DATA"
: >"$VELUM_HOME/afile"
run run --dir "$DATA" --ro-dir "$DATA::/ro" --dir="$DATA::." "$WC" exit 4 </dev/null
# A kernel without Landlock refuses such a call, and says so.
grep -q 'need Landlock' "$ERR" || [[ $code -eq 4 ]] || fail "wasi_wc with --dir: exited $code"
expect_error "--dir $VELUM_HOME/nosuch: no such directory" run --dir "$VELUM_HOME/nosuch" "$WC"
[[ $code -eq 2 ]] || fail "--dir of a missing directory: exited $code, not 2"
expect_error "--ro-dir $VELUM_HOME/afile: not a directory" run --ro-dir "$VELUM_HOME/afile" "$WC"
[[ $code -eq 2 ]] || fail "--ro-dir of a file: exited $code, not 2"
expect_error "no name for the program after '::'" run --dir "$DATA::" "$WC"
expect_error "are for WASI programs" run --dir "$DATA" "$WASM/sum.wasm" sum 1 2 3
run run "$WC" --dir /nonexistent </dev/null  # after FILE: the program's words, not velum's
grep -q 'argv\[1\]=--dir' "$OUT" || fail "wasi_wc --dir after FILE: not passed to the program"
run run --help
grep -q -- '--ro-dir' "$OUT" || fail "run --help does not mention --ro-dir"

# Output streams: a command's writes reach velum's stdout and stderr while it runs (the
# ticker prints five ticks, then spins until its deadline), on both engines; what it wrote
# before a deadline kill is kept.
TICKER=$WASM/wasi_ticker.wasm
for engine in interp aot; do
  "$VELUM" run --engine "$engine" --timeout 60 "$TICKER" >"$OUT" 2>"$ERR" &
  pid=$!
  checks=$((checks + 1))
  for _ in $(seq 1 600); do  # 60 s at most; polled, not slept on
    grep -q 'tick 4' "$OUT" && break
    sleep 0.1
  done
  if grep -q 'tick 4' "$OUT" && grep -q '^err$' "$ERR" && kill -0 "$pid" 2>/dev/null; then
    :
  else
    fail "ticker on $engine: output did not arrive while it ran"
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
done
run run --timeout 2 "$TICKER" </dev/null
[[ $code -eq 1 ]] && grep -q 'tick 4' "$OUT" && grep -q 'deadline exceeded' "$ERR" ||
  fail "ticker past its deadline: exited $code, its output lost"

# A repeatable option takes one word each time, never FILE or ARGS after it.
expect_ok 6 run --invoke sum --env A=B "$WASM/sum.wasm" 1 2 3

echo "cli_test: $checks runs, $failures failures"
[[ $failures -eq 0 ]]
