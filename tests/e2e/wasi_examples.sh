#!/usr/bin/env bash
# The WASI examples (examples/wasi: C, C++, Rust) through `velum run` on both engines, each
# checked byte for byte against the same source built natively and run on the same input.
# Usage: wasi_examples.sh VELUM WASM_DIR EXAMPLES_DIR
set -euo pipefail
velum=$1 wasm=$2 src=$3
tmp=$(mktemp -d /tmp/velum-wasi-examples-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

cc -O2 -o "$tmp/wc" "$src/wc.c"
c++ -O2 -std=c++17 -o "$tmp/words" "$src/words.cpp"
/usr/bin/rustc -O -o "$tmp/tree" "$src/tree.rs"

# Input: a folder of text and binary files, names with spaces and non-ASCII, a subfolder.
data=$tmp/data
mkdir -p "$data/sub dir"
printf 'the quick brown fox\njumps over the lazy dog\nthe end\n' > "$data/fox.txt"
seq 1 5000 | sed 's/$/ word/' > "$data/sub dir/numbers – ünïcode.txt"
head -c 100000 /dev/urandom > "$data/blob.bin"
: > "$data/empty"
cat "$data"/*.txt "$data/sub dir"/* > "$tmp/stdin.txt"

# check NAME EXPECTED_CMD -- VELUM_ARGS...: same stdout and exit code on every engine.
check() {
  local name=$1 want_out=$tmp/$1.want
  shift
  local native=()
  while [[ $1 != -- ]]; do native+=("$1"); shift; done
  shift
  local want_rc=0
  (cd "$tmp" && "${native[@]}") < "$tmp/stdin.txt" > "$want_out" 2>/dev/null || want_rc=$?
  for engine in interp aot; do
    local got_rc=0
    "$velum" run --engine "$engine" "$@" < "$tmp/stdin.txt" > "$tmp/$name.$engine" 2>"$tmp/$name.$engine.err" || got_rc=$?
    if [[ $got_rc != "$want_rc" ]] || ! cmp -s "$want_out" "$tmp/$name.$engine"; then
      echo "FAIL $name on $engine: exit $got_rc (native $want_rc)"
      diff <(head -c 2000 "$want_out") <(head -c 2000 "$tmp/$name.$engine") | head -10 || true
      head -5 "$tmp/$name.$engine.err"
      fail=1
    else
      echo "ok   $name on $engine ($(wc -c < "$want_out") bytes)"
    fi
  done
}

# wc prints its argv: the native one runs under the module's name, as velum names argv[0].
check wc-stdin bash -c 'exec -a wasi_wc.wasm ./wc' -- "$wasm/wasi_wc.wasm"
check wc-files ./wc -f data/fox.txt "data/sub dir/numbers – ünïcode.txt" data/blob.bin data/empty \
  -- --ro-dir "$data::data" "$wasm/wasi_wc.wasm" -f data/fox.txt \
  "data/sub dir/numbers – ünïcode.txt" data/blob.bin data/empty
check wc-missing ./wc -f data/none -- --ro-dir "$data::data" "$wasm/wasi_wc.wasm" -f data/none
check words ./words 5 -- "$wasm/wasi_words.wasm" 5
check tree ./tree data -- --ro-dir "$data::data" "$wasm/wasi_tree.wasm" data
exit $fail
