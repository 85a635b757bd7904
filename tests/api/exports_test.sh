#!/bin/bash
# libvelum.so exports exactly the functions declared VELUM_EXPORT in velum.h (and the version
# script lists exactly those): no kernel, wabt or C++ symbol leaks into programs that link it.
# usage: exports_test.sh LIBVELUM.so velum.h libvelum.map
set -euo pipefail
lib=$1 header=$2 map=$3
declared=$(grep -o '^VELUM_EXPORT [^(]*(' "$header" | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort)
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
listed=$(sed -n '/global:/,/local:/p' "$map" | grep -o 'velum_[a-z_0-9]*' | sort)
fail=0
if [ "$declared" != "$exported" ]; then
  echo "FAIL: exported symbols differ from the header's VELUM_EXPORT functions:"
  diff <(echo "$declared") <(echo "$exported") || true
  fail=1
fi
if [ "$declared" != "$listed" ]; then
  echo "FAIL: the version script lists other functions than the header:"
  diff <(echo "$declared") <(echo "$listed") || true
  fail=1
fi
if readelf -d "$lib" | grep -q TEXTREL; then
  echo "FAIL: $lib has text relocations"
  fail=1
fi
count=$(echo "$exported" | wc -l)
echo "FIGURE api_exported_symbols=$count"
[ $fail = 0 ] && echo "ok: $count functions exported, all declared in velum.h"
exit $fail
