// A WASI command in plain C (wasi-libc): counts the lines, words and bytes of its stdin like
// wc, after printing its arguments and one variable of its environment. `exit N` as its
// arguments ends it with exit code N; `spam N` writes N bytes to stdout (the output cap);
// `abort` says so on stderr, then aborts (a trap, its output kept). `-f FILE...` counts each
// FILE instead, read whole into memory from a preopened folder (velum run --dir).
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Counts {
  long lines, words, bytes;
};

static struct Counts Count(const unsigned char* data, long n) {
  struct Counts c = {0, 0, 0};
  int in_word = 0;
  for (long i = 0; i < n; i++) {
    c.bytes++;
    if (data[i] == '\n') c.lines++;
    if (isspace(data[i])) {
      in_word = 0;
    } else if (!in_word) {
      in_word = 1;
      c.words++;
    }
  }
  return c;
}

// Each file read whole into a malloc'd buffer; a missing one is said on stderr (exit 1).
static int CountFiles(int n, char** names) {
  int status = 0;
  for (int i = 0; i < n; i++) {
    FILE* f = fopen(names[i], "rb");
    if (!f) {
      fprintf(stderr, "wc: %s: %s\n", names[i], strerror(errno));
      status = 1;
      continue;
    }
    size_t size = 0, cap = 4096;
    unsigned char* data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + size, 1, cap - size, f)) > 0) {
      size += got;
      if (size == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) {
      fprintf(stderr, "wc: out of memory\n");
      return 1;
    }
    struct Counts c = Count(data, (long)size);
    free(data);
    printf("%ld %ld %ld %s\n", c.lines, c.words, c.bytes, names[i]);
  }
  return status;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "-f") == 0) return CountFiles(argc - 2, argv + 2);
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  const char* greeting = getenv("GREETING");
  printf("GREETING=%s\n", greeting ? greeting : "(unset)");
  if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
  if (argc == 2 && strcmp(argv[1], "abort") == 0) {
    fflush(stdout);
    fprintf(stderr, "wc: giving up\n");
    abort();
  }
  if (argc == 3 && strcmp(argv[1], "spam") == 0) {
    long n = atol(argv[2]);
    for (long i = 0; i < n; i++) putchar('x');
    return 0;
  }
  long lines = 0, words = 0, bytes = 0;
  int in_word = 0, c;
  while ((c = getchar()) != EOF) {
    bytes++;
    if (c == '\n') lines++;
    if (isspace(c)) {
      in_word = 0;
    } else if (!in_word) {
      in_word = 1;
      words++;
    }
  }
  printf("%ld %ld %ld\n", lines, words, bytes);
  fprintf(stderr, "wc: done\n");
  return 0;
}
