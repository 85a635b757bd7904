#!/usr/bin/env bash
# templates_test.sh VELUM_BINARY SOURCE_DIR: builds templates/c and templates/rust in a fresh
# temporary folder exactly as their READMEs say, and checks every output the READMEs show.
#   C     the indented line of templates/c/README.md that starts with `clang ` is the build
#   Rust  templates/rust/build.sh (Debian's cargo and rustc, offline, CARGO_HOME and
#         CARGO_TARGET_DIR in the temporary folder), then again with a fake rustc and cargo
#         first on PATH (the hint line must be printed and Debian's build must still succeed),
#         and for wasm32-wasi when Debian has that target's std
#   runs  each indented `velum run ARGS` line of a README must print the indented lines below
#         it; each indented `scatter FILE FUNC START END ... # N` line must agree with
#         `velum run FILE FUNC START END` printing N
# Nothing is duplicated from the READMEs, so a README and its template cannot drift apart.
# Prints one FAIL line per difference; exit status 0 only when every check passes.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: templates_test.sh VELUM_BINARY SOURCE_DIR" >&2
  exit 2
fi
velum=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
[ -x "$velum" ] || { echo "FAIL: $velum is not an executable"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CARGO_HOME="$tmp/cargo-home"
unset CARGO_TARGET_DIR RUSTC RUSTFLAGS CARGO_BUILD_TARGET RUSTC_WRAPPER 2>/dev/null || true

checks=0
failures=0
pass() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }

cp -R "$src/templates/c" "$tmp/c"
cp -R "$src/templates/rust" "$tmp/rust"
# Leftovers of a build in the source tree must not stand in for this one's.
rm -rf "$tmp/c"/*.wasm "$tmp/rust/target" "$tmp/rust"/*.wasm

# check_readme README DIR: the `velum run` and `scatter` lines of README, run in DIR.
check_readme() {
  local readme=$1 dir=$2 name runs=0 scatters=0 i j line args expected got n
  name=${readme#"$tmp/"}
  local -a lines
  mapfile -t lines < "$readme"
  for ((i = 0; i < ${#lines[@]}; i++)); do
    line=${lines[i]}
    if [[ $line =~ ^\ \ \ \ (\.\./\.\./)?velum\ run\ (.*[^\ ])\ *$ ]]; then
      args=${BASH_REMATCH[2]}
      expected=""
      for ((j = i + 1; j < ${#lines[@]}; j++)); do
        if [[ ${lines[j]} =~ ^\ \ \ \ (\.\./\.\./)?velum\  ]]; then break; fi
        [[ ${lines[j]} =~ ^\ \ \ \ ([^\ ].*)$ ]] || break
        expected+="${BASH_REMATCH[1]}"$'\n'
      done
      expected=${expected%$'\n'}
      runs=$((runs + 1))
      if [ -z "$expected" ]; then
        fail "$name: 'velum run $args' shows no output below it"
        continue
      fi
      # shellcheck disable=SC2086  # the README's arguments, split as a shell would
      if ! got=$(cd "$dir" && "$velum" run $args 2>&1); then
        fail "$name: 'velum run $args' failed: $got"
      elif [ "$got" != "$expected" ]; then
        fail "$name: 'velum run $args' printed '${got//$'\n'/\\n}', the README says '${expected//$'\n'/\\n}'"
      else
        pass "$name: velum run $args -> ${got//$'\n'/, }"
      fi
    elif [[ $line =~ ^\ \ \ \ scatter\ ([^\ ]+\ [^\ ]+\ [^\ ]+\ [^\ ]+).*#\ *([^\ ]+)\ *$ ]]; then
      args=${BASH_REMATCH[1]}
      n=${BASH_REMATCH[2]}
      scatters=$((scatters + 1))
      # shellcheck disable=SC2086
      if ! got=$(cd "$dir" && "$velum" run $args 2>&1); then
        fail "$name: 'scatter $args' (# $n): velum run failed: $got"
      elif [ "$got" != "$n" ]; then
        fail "$name: 'scatter $args' says # $n, but velum run over the whole range prints '$got'"
      else
        pass "$name: scatter $args # $n"
      fi
    fi
  done
  [ "$runs" -gt 0 ] || fail "$name: no indented 'velum run' line found"
  [ "$scatters" -gt 0 ] || fail "$name: no indented 'scatter ... # RESULT' line found"
}

# --- C: the one line of the README --------------------------------------------------------
build_lines=$(grep -E '^    clang ' "$tmp/c/README.md" || true)
if [ -z "$build_lines" ] || [ "$(printf '%s\n' "$build_lines" | wc -l)" -ne 1 ]; then
  fail "c/README.md: expected exactly one indented line starting with 'clang ', found: '$build_lines'"
else
  cmd=${build_lines#    }
  if out=$(cd "$tmp/c" && sh -c "$cmd" 2>&1) && [ -f "$tmp/c/range.wasm" ]; then
    pass "c: built with: $cmd"
    check_readme "$tmp/c/README.md" "$tmp/c"
  else
    fail "c: the README's build line failed: $cmd: $out"
  fi
fi

# --- Rust: build.sh with Debian's toolchain ---------------------------------------------
# build_rust LOG ARGS...: runs build.sh with ARGS, its output (stdout and stderr) in LOG.
build_rust() {
  local log=$1
  shift
  "$tmp/rust/build.sh" "$@" > "$log" 2>&1
}
export CARGO_TARGET_DIR="$tmp/target"
if build_rust "$tmp/rust.log" && [ -f "$tmp/rust/range.wasm" ]; then
  pass "rust: build.sh -> range.wasm"
  check_readme "$tmp/rust/README.md" "$tmp/rust"
else
  fail "rust: build.sh failed: $(cat "$tmp/rust.log")"
fi

# A fake rustc and cargo first on PATH: rustc's sysroot is an empty folder (no target), and
# either one, if build.sh ran it to build, would fail the build.
mkdir -p "$tmp/fakebin" "$tmp/empty-sysroot" "$tmp/fake-out"
cat > "$tmp/fakebin/rustc" <<EOF
#!/bin/sh
if [ "\$*" = "--print sysroot" ]; then echo "$tmp/empty-sysroot"; exit 0; fi
echo "fake rustc: must not build (\$*)" >&2; exit 1
EOF
cat > "$tmp/fakebin/cargo" <<'EOF'
#!/bin/sh
echo "fake cargo: must not build ($*)" >&2; exit 1
EOF
chmod +x "$tmp/fakebin/rustc" "$tmp/fakebin/cargo"
hint="build.sh: hint: the rustc first on PATH ($tmp/fakebin/rustc) has no wasm32-unknown-unknown target; this script builds with /usr/bin/cargo and /usr/bin/rustc instead"
# A target folder of its own, so that this is a real build and not cargo's "Fresh".
if PATH="$tmp/fakebin:$PATH" CARGO_TARGET_DIR="$tmp/target-fake" \
    build_rust "$tmp/fake.log" "$tmp/fake-out/range.wasm"; then
  pass "rust: build.sh with a fake rustc and cargo first on PATH still builds"
  cp "$tmp/rust/README.md" "$tmp/fake-out/README.md"
  check_readme "$tmp/fake-out/README.md" "$tmp/fake-out"
else
  fail "rust: build.sh with a fake rustc and cargo first on PATH failed: $(cat "$tmp/fake.log")"
fi
count=$(grep -c '^build.sh: hint: ' "$tmp/fake.log" || true)
if [ "$count" -eq 1 ] && grep -qF "$hint" "$tmp/fake.log"; then
  pass "rust: the hint line is printed once: $(grep '^build.sh: hint: ' "$tmp/fake.log")"
else
  fail "rust: expected one line starting '$hint', got $count hint lines in: $(cat "$tmp/fake.log")"
fi
if grep -q '^fake ' "$tmp/fake.log"; then
  fail "rust: build.sh ran the fake toolchain to build: $(grep '^fake ' "$tmp/fake.log")"
fi

# wasm32-wasi, when Debian's rustc has its std.
if [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/wasm32-wasi" ]; then
  mkdir -p "$tmp/wasi"
  if build_rust "$tmp/wasi.log" --wasi "$tmp/wasi/range.wasm"; then
    if out=$("$velum" inspect "$tmp/wasi/range.wasm" 2>&1); then
      pass "rust: build.sh --wasi builds a module velum inspect loads"
      cp "$tmp/rust/README.md" "$tmp/wasi/README.md"
      check_readme "$tmp/wasi/README.md" "$tmp/wasi"
    else
      fail "rust: velum inspect refuses the wasm32-wasi module: $out"
    fi
  else
    fail "rust: build.sh --wasi failed: $(cat "$tmp/wasi.log")"
  fi
else
  echo "skip: /usr/bin/rustc has no wasm32-wasi std"
fi

if [ "$failures" -eq 0 ]; then
  echo "templates_test: all $checks checks passed"
  exit 0
fi
echo "templates_test: $failures of $checks checks FAILED"
exit 1
