// velum-executor: the sandbox process started by the executor pool; never run by hand.
// Usage: velum-executor FD [MAX_DATA_BYTES [PARENT_PID]]. It serves the channel on FD until
// it closes, and dies with the parent process.
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/executor.h"

namespace {

pid_t parent_pid = 0;

// Ends this process when the parent process ends, even in the middle of a call.
// PR_SET_PDEATHSIG cannot do it: it fires when the parent *thread* that spawned us exits,
// and the pool respawns executors from whichever thread saw the old one die.
void* WatchParent(void*) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, parent_pid, 0));
  if (fd >= 0) {
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, -1) < 0) {
    }
    _exit(1);
  }
  for (;;) {  // no pidfd (an old kernel): being reparented means the parent is gone
    if (getppid() != parent_pid) _exit(1);
    sleep(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "velum-executor: started by the node's executor pool, not by hand\n");
    return 2;
  }
  int fd = std::atoi(argv[1]);
  // Die with the parent, never dump core, and cap writable memory as a backstop to the
  // per-instance limit (the reserved-but-inaccessible guard regions do not count).
  parent_pid = argc > 3 ? static_cast<pid_t>(std::atol(argv[3])) : getppid();
  if (getppid() != parent_pid) return 1;  // the parent died before we got here
  // Wasm is batch work: SCHED_BATCH lets the scheduler give it longer time slices and keeps
  // its wake-ups from preempting others, so the node's own loop (heartbeats, reports) runs
  // promptly and executors sharing a core switch less (fewer cold caches). No privilege needed.
  sched_param batch{};
  sched_setscheduler(0, SCHED_BATCH, &batch);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 << 10);
  pthread_t watcher;
  if (pthread_create(&watcher, &attr, WatchParent, nullptr) != 0) return 1;
  pthread_attr_destroy(&attr);
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
