// A WASI command for the streaming tests: prints "tick 0" .. "tick 4" (flushed, 0.2 s apart)
// and "err" on stderr, then spins until it is stopped: its output must arrive while it runs.
#include <stdio.h>
#include <time.h>

int main(void) {
  fprintf(stderr, "err\n");
  for (int i = 0; i < 5; i++) {
    printf("tick %d\n", i);
    fflush(stdout);
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, 0);
  }
  for (volatile unsigned long spin = 0;; spin++) {
  }
}
