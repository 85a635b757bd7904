#!/usr/bin/env bash
# Writes the seed corpus of velum-fuzz-module: every binary module of the spec suite's .wast
# scripts (valid, invalid and malformed), converted by wast2json. Usage: SUITE WAST2JSON OUT MAX_BYTES
set -eu

suite=$1 wast2json=$2 out=$3 max_bytes=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/velum-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"
for wast in "$suite"/*.wast; do
  name=$(basename "$wast" .wast)
  mkdir -p "$work/$name"
  # A script wabt cannot convert whole still leaves the modules before the failure.
  "$wast2json" "$wast" -o "$work/$name/$name.json" >/dev/null 2>&1 || true
  find "$work/$name" -name '*.wasm' -size -$((max_bytes + 1))c -exec cp -t "$out" {} +
  rm -rf "${work:?}/$name"
done
echo "module_seeds: $(ls "$out" | wc -l) modules from $suite"
