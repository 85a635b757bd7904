// A WASI command for the mesh's /out tests: copies stdin to /out/copy.txt, writes N bytes of
// a known pattern to /out/sub/big.bin (N = argv[1]), and lists what it was given under /in;
// with argv[3] "link", also leaves /out/key, a link to the cluster key beside the nodes' homes.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  FILE* copy = fopen("/out/copy.txt", "w");
  if (!copy) {
    perror("/out/copy.txt");
    return 3;
  }
  int c;
  while ((c = getchar()) != EOF) fputc(c, copy);
  fclose(copy);
  mkdir("/out/sub", 0755);
  FILE* big = fopen("/out/sub/big.bin", "w");
  if (!big) {
    perror("/out/sub/big.bin");
    return 4;
  }
  for (long i = 0; i < n; i++) fputc((int)((i * 7 + i / 251) & 0xff), big);
  fclose(big);
  DIR* in = opendir("/in");
  if (in) {
    struct dirent* e;
    while ((e = readdir(in)))
      if (e->d_name[0] != '.') printf("in: %s\n", e->d_name);
    closedir(in);
  }
  if (argc > 3 && strcmp(argv[3], "link") == 0 &&
      symlink("../../../../cluster.key", "/out/key") != 0)
    perror("symlink");
  fprintf(stderr, "wrote %ld bytes\n", n);
  return argc > 2 ? atoi(argv[2]) : 0;
}
