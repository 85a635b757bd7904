#!/bin/sh
# build.sh [--wasi] [OUTPUT.wasm]: builds this crate into a Wasm module for VelumOS with
# Debian's Rust toolchain (/usr/bin/cargo, /usr/bin/rustc, the wasm32 std of the package
# libstd-rust-dev-wasm32), offline, whatever rustc or cargo comes first on PATH.
#   target  wasm32-unknown-unknown, or wasm32-wasi with --wasi
#   output  OUTPUT.wasm if given, else NAME.wasm (NAME-wasi.wasm with --wasi) next to this
#           script, NAME being the package name of Cargo.toml
#   CARGO_TARGET_DIR (default: target/ next to this script) and CARGO_HOME are honoured.
set -eu

usage="usage: build.sh [--wasi] [OUTPUT.wasm]"
here=$(cd "$(dirname "$0")" && pwd)
target=wasm32-unknown-unknown
suffix=
out=
for arg in "$@"; do
  case $arg in
    --wasi) target=wasm32-wasi; suffix=-wasi ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "build.sh: unknown option $arg; $usage" >&2; exit 2 ;;
    *)
      if [ -n "$out" ]; then echo "build.sh: one OUTPUT only; $usage" >&2; exit 2; fi
      out=$arg ;;
  esac
done

cargo=/usr/bin/cargo
rustc=/usr/bin/rustc

# 1. Debian's toolchain, with the std of the target.
if [ ! -x "$rustc" ] || [ ! -x "$cargo" ]; then
  echo "build.sh: Debian's Rust toolchain is missing ($rustc, $cargo): apt-get install rustc cargo libstd-rust-dev-wasm32" >&2
  exit 1
fi
sysroot=$("$rustc" --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/$target" ]; then
  echo "build.sh: $rustc has no std for $target ($sysroot/lib/rustlib/$target is missing): apt-get install libstd-rust-dev-wasm32 (or run scripts/install-deps)" >&2
  exit 1
fi

# 2. A rustc first on PATH (rustup's, typically) without the target would fail on its own;
#    say so once, and build with Debian's anyway.
path_rustc=$(command -v rustc 2>/dev/null || true)
if [ -n "$path_rustc" ] && [ "$(readlink -f "$path_rustc")" != "$(readlink -f "$rustc")" ]; then
  path_sysroot=$("$path_rustc" --print sysroot 2>/dev/null || true)
  if [ -z "$path_sysroot" ] || [ ! -d "$path_sysroot/lib/rustlib/$target" ]; then
    add="rustup target add $target"
    # Rust 1.78 renamed wasm32-wasi to wasm32-wasip1 (and 1.84 dropped the old name).
    if [ "$target" = wasm32-wasi ]; then
      add="rustup target add wasm32-wasip1, the name of wasm32-wasi since Rust 1.78"
    fi
    echo "build.sh: hint: the rustc first on PATH ($path_rustc) has no $target target; this script builds with $cargo and $rustc instead (for that toolchain's own: $add)" >&2
  fi
fi

# 3. Build, and copy the module out.
# The module is named after [lib] name, else [package] name, with - as _ (as cargo does);
# the name is a TOML string in double or single quotes.
name=$(awk '
  /^[[:space:]]*\[/ { section = $0; sub(/#.*/, "", section); gsub(/[[:space:]]/, "", section) }
  /^[[:space:]]*name[[:space:]]*=/ {
    v = $0; sub(/^[^=]*=[[:space:]]*/, "", v)
    q = substr(v, 1, 1)  # a TOML string: "..." or '...'
    if (q == "\"" || q == "\047") { v = substr(v, 2); i = index(v, q); if (i) v = substr(v, 1, i - 1) }
    if (section == "[lib]") lib = v; else if (section == "[package]") pkg = v
  }
  END { n = lib != "" ? lib : pkg; gsub(/-/, "_", n); print n }' "$here/Cargo.toml")
if [ -z "$name" ]; then
  echo "build.sh: no [package] name in $here/Cargo.toml" >&2
  exit 1
fi
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
export CARGO_TARGET_DIR
RUSTC=$rustc "$cargo" build --release --offline --target "$target" --manifest-path "$here/Cargo.toml"

wasm=$CARGO_TARGET_DIR/$target/release/$name.wasm
[ -n "$out" ] || out=$here/$name$suffix.wasm
cp "$wasm" "$out"
echo "build.sh: $out ($target, $(wc -c < "$out") bytes)"
