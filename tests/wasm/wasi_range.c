// Range exports for `scatter` that import WASI (a reactor: no main): they malloc and printf,
// so the e2e test can check that each slice's output comes back once, tagged with its node.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <wasi/api.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// The sum of i % 1000 over [s, e), through a malloc'd buffer; one line per slice on stdout.
EXPORT(count) int64_t count(int64_t s, int64_t e) {
  size_t n = (size_t)(e - s < 4096 ? e - s : 4096);
  int64_t* buf = malloc(n * sizeof *buf);
  if (!buf) abort();
  int64_t sum = 0;
  for (int64_t i = s; i < e; i += (int64_t)n) {
    int64_t hi = i + (int64_t)n < e ? i + (int64_t)n : e;
    for (int64_t k = i; k < hi; k++) buf[k - i] = k % 1000;
    for (int64_t k = i; k < hi; k++) sum += buf[k - i];
  }
  free(buf);
  printf("count [%lld, %lld) = %lld\n", (long long)s, (long long)e, (long long)sum);
  // An export ends without exit(), which is what flushes stdio: stdout (a pipe, so fully
  // buffered after its first write) must be flushed by the export itself.
  fflush(stdout);
  return sum;
}

// Writes a 100-byte line per item on stdout and one line on stderr: enough to pass both the
// per-slice and the per-job caps. Returns the number of items.
EXPORT(chatty) int64_t chatty(int64_t s, int64_t e) {
  for (int64_t i = s; i < e; i++) printf("%-98lld.\n", (long long)i);
  fflush(stdout);
  fprintf(stderr, "chatty [%lld, %lld) done\n", (long long)s, (long long)e);
  return e - s;
}

// Calls proc_exit(3) in the slice that holds item 500, after saying so on stderr.
EXPORT(quits) int64_t quits(int64_t s, int64_t e) {
  if (s <= 500 && 500 < e) {
    fprintf(stderr, "quitting at 500\n");
    __wasi_proc_exit(3);
  }
  return e - s;
}
