// velum-executor: the sandbox process started by the executor pool; never run by hand.
// Usage: velum-executor FD [MAX_DATA_BYTES]. It serves the channel on FD until it closes.
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/executor.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "velum-executor: started by the node's executor pool, not by hand\n");
    return 2;
  }
  int fd = std::atoi(argv[1]);
  // Die with the parent, never dump core, and cap writable memory as a backstop to the
  // per-instance limit (the reserved-but-inaccessible guard regions do not count).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  rlimit core{0, 0};
  setrlimit(RLIMIT_CORE, &core);
  if (argc > 2) {
    rlim_t data = std::strtoull(argv[2], nullptr, 10);
    if (data > 0) {
      rlimit lim{data, data};
      setrlimit(RLIMIT_DATA, &lim);
    }
  }
  // Every call builds and frees an instance; without this glibc returns the freed heap to
  // the kernel after each call and faults it back in on the next (measured: interpreter
  // p50 of a trivial call 190 us -> 60 us).
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  return velum::RunExecutor(fd);
}
