// range.c: a VelumOS range export to copy and change. Build it (see README.md) with:
//   clang --target=wasm32 -O3 -nostdlib -Wl,--no-entry -Wl,--export-all -o range.wasm range.c
//   $(clang --target=wasm32-wasi -print-libgcc-file-name)
//
// A range export takes the items [start, end) as (long long, long long), i.e. Wasm
// (i64, i64), or as (int, int), i.e. (i32, i32), and returns a number. `scatter` cuts
// [START, END) into chunks, calls the export on each chunk on some node and adds the
// results up (--reduce sum, the default). The answer is the same however the range is cut
// only if the result for a chunk depends on nothing but start and end: no globals carried
// between calls, no clock, no randomness that is not a function of the item.
//
// No libc here (-nostdlib): no printf, no malloc, no <math.h>. Plain arithmetic, loops and
// your own helper functions are fine; every non-static function is exported
// (--export-all), so mark helpers `static`.

// The sum of i*i for every i in [start, end), modulo 2^64 (as `scatter --reduce sum` adds
// 64-bit results). Unsigned arithmetic, because signed overflow is undefined in C and
// unsigned wraps; -O3 turns the loop into a closed form, whose 128-bit multiply is what
// needs clang's builtins library at the end of the build line.
long long sum_squares(long long start, long long end) {
  unsigned long long total = 0;
  for (long long i = start; i < end; i++) total += (unsigned long long)i * (unsigned long long)i;
  return (long long)total;
}
