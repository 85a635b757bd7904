// A WASI command in plain C (wasi-libc): counts the lines, words and bytes of its stdin like
// wc, after printing its arguments and one variable of its environment. `exit N` as its
// arguments ends it with exit code N; `spam N` writes N bytes to stdout (the output cap);
// `abort` says so on stderr, then aborts (a trap, its output kept).
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
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
