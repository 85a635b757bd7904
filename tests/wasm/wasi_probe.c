// A WASI command (wasi-libc) that uses the host one way per first argument, so both engines can
// be shown to give the same stdout, stderr and exit code; bench_* are loops for the benchmarks.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

extern char** environ;

static void SayAtExit(void) { printf("atexit handler ran\n"); }

// Calls itself `depth` times, then ends the program from the bottom with proc_exit: no
// return, no atexit handler, no stdio flush (what was flushed before is all that is out).
static int Descend(int depth, int code) {
  if (depth == 0) {
    printf("bottom reached\n");
    fflush(stdout);
    __wasi_proc_exit((__wasi_exitcode_t)code);
  }
  volatile int frame = depth;  // a frame on the shadow stack too, and no loop made of this
  return Descend(depth - 1, code) + frame;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "hello";
  if (strcmp(mode, "hello") == 0) {
    printf("hello, world\n");
    fprintf(stderr, "hello, stderr\n");
    return 0;
  }
  if (strcmp(mode, "args") == 0) {  // argv, then the environment as given
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (char** e = environ; *e; e++) printf("env %s\n", *e);
    return 0;
  }
  if (strcmp(mode, "cat") == 0) {  // stdin to stdout, in reads of varied sizes
    char buf[7];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
      fwrite(buf, 1, n, stdout);
      total += (long)n;
    }
    fprintf(stderr, "cat: %ld bytes\n", total);
    return 0;
  }
  if (strcmp(mode, "exit") == 0 && argc == 3) {  // exit(3): atexit handlers, stdio flushed
    atexit(SayAtExit);
    printf("exiting with %s\n", argv[2]);
    exit(atoi(argv[2]));
  }
  if (strcmp(mode, "deep") == 0 && argc == 4) {
    printf("descending %s\n", argv[2]);
    int r = Descend(atoi(argv[2]), atoi(argv[3]));
    printf("not reached %d\n", r);
    return 0;
  }
  if (strcmp(mode, "trap") == 0) {  // output, then a trap: the output is kept
    printf("before the trap\n");
    fflush(stdout);
    fprintf(stderr, "trapping now\n");
    __builtin_trap();
  }
  if (strcmp(mode, "spam") == 0 && argc == 3) {  // N bytes of stdout: the output cap
    long n = atol(argv[2]);
    for (long i = 0; i < n; i++) putchar('x');
    fflush(stdout);
    fprintf(stderr, "spam: %s\n", ferror(stdout) ? "write failed" : "written");
    return 0;
  }
  if (strcmp(mode, "clock") == 0) {  // i64 arguments and results; values vary, so not printed
    struct timespec a, b;
    int ok = clock_gettime(CLOCK_MONOTONIC, &a) == 0 && clock_gettime(CLOCK_MONOTONIC, &b) == 0 &&
             (b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec)) &&
             clock_gettime(CLOCK_REALTIME, &a) == 0 && a.tv_sec > 1700000000;
    unsigned char r1[16] = {0}, r2[16] = {0};
    ok = ok && getentropy(r1, sizeof r1) == 0 && getentropy(r2, sizeof r2) == 0 &&
         memcmp(r1, r2, sizeof r1) != 0;
    printf("clock and random: %s\n", ok ? "ok" : "wrong");
    return ok ? 0 : 1;
  }
  fprintf(stderr, "wasi_probe: unknown mode '%s'\n", mode);
  return 2;
}

// ---- Benchmarks: `n` WASI calls each, nothing else but the loop ---------------------------

__attribute__((export_name("bench_fd_write"))) int BenchFdWrite(int n) {
  static const char kLine[] = "a line of text\n";  // 15 bytes
  __wasi_ciovec_t iov = {(const uint8_t*)kLine, sizeof kLine - 1};
  int failed = 0;
  for (int i = 0; i < n; i++) {
    __wasi_size_t written;
    failed += __wasi_fd_write(1, &iov, 1, &written) != 0;
  }
  return failed;
}

__attribute__((export_name("bench_clock_time_get"))) int BenchClockTimeGet(int n) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    __wasi_timestamp_t t;
    failed += __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t) != 0;
  }
  return failed;
}

__attribute__((export_name("bench_random_get"))) int BenchRandomGet(int n) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    uint8_t buf[16];
    failed += __wasi_random_get(buf, sizeof buf) != 0;
  }
  return failed;
}
