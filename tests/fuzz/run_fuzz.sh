#!/usr/bin/env bash
# ctest fuzz.*.short: runs a libFuzzer target for SECONDS on a copy of its seed corpus. Fails on
# any crash, sanitizer report or broken invariant.
# Usage: run_fuzz.sh FUZZER SEEDS ARTIFACTS SECONDS [LIBFUZZER OPTIONS...]
set -u

fuzzer=$1 seeds=$2 artifacts=$3 seconds=${4:-20}
shift $(($# < 4 ? $# : 4))
name=$(basename "$fuzzer")
if [ ! -x "$fuzzer" ] || [ ! -d "$seeds" ]; then
  echo "run_fuzz: $fuzzer or the seeds in $seeds are missing; build the fuzz targets" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/velum-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp "$seeds"/* "$work/corpus/"
count=$(ls "$work/corpus" | wc -l)

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "run_fuzz: $count seeds, $seconds s, crash inputs go to $artifacts/"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$work/corpus" >"$work/log" 2>&1
rc=$?

# The last status line carries the coverage; the final stats the throughput.
grep -E '^#[0-9]+' "$work/log" | tail -n 1
grep -E 'stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$work/log"
if [ $rc -ne 0 ]; then
  echo "run_fuzz: $name failed (exit $rc); the input that failed is in $artifacts/" >&2
  grep -vE '^#[0-9]+|^INFO:|NEW_FUNC|Uses: [0-9]+$' "$work/log" | tail -n 80 >&2
  exit 1
fi
echo "run_fuzz: $name: no crash in $seconds s"
