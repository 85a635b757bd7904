// checksum: the FNV-1a 64-bit hash and the length of stdin, then the input's name and the
// arguments: one line per item of a map job (README, docs/JOBS.md), built natively as well.
// "sleep=MS" waits that long first (a slow item, for tests); an input that starts with FAIL
// is refused: a word on stderr and exit code 3.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "sleep=", 6) == 0) usleep((useconds_t)atoi(argv[i] + 6) * 1000);
  static unsigned char buf[1 << 16];
  uint64_t hash = 1469598103934665603ull, length = 0;
  char head[4] = {0};
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, stdin)) > 0) {
    for (size_t i = 0; i < got; i++) {
      if (length + i < 4) head[length + i] = (char)buf[i];
      hash = (hash ^ buf[i]) * 1099511628211ull;
    }
    length += got;
  }
  const char* name = getenv("VELUM_INPUT");
  if (memcmp(head, "FAIL", 4) == 0) {
    fprintf(stderr, "checksum: %s starts with FAIL\n", name ? name : "-");
    return 3;
  }
  printf("%016llx %llu %s", (unsigned long long)hash, (unsigned long long)length,
         name ? name : "-");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\n");
  return 0;
}
