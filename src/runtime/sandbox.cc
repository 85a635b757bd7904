// Confinement of the executor process: rlimits, namespaces and the seccomp allow-list.
// The allow-list is the whole of what a confined executor can ask of the kernel.
#include "runtime/sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace velum {

namespace {

// Calls a confined executor makes, with why. Anything else kills it.
constexpr int kAllowedSyscalls[] = {
    // The channel to the pool (recvmsg: module descriptors), reading a received module, and
    // descriptors the executor has (dup, fstat: no path).
    SCMP_SYS(read),
    SCMP_SYS(readv),
    SCMP_SYS(pread64),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(recvmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg),
    SCMP_SYS(sendto),
    SCMP_SYS(lseek),
    SCMP_SYS(close),
    SCMP_SYS(dup),
    SCMP_SYS(fstat),
    // Memory: the heap, linear memories and their guard regions (mmap and mprotect only
    // without PROT_EXEC, below).
    SCMP_SYS(brk),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    // Signals: wasm2c's trap handler (SIGSEGV/SIGBUS on its alternate stack, siglongjmp).
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(restart_syscall),
    // Time: deadlines, the engine's run time, the CPU budget.
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(getrusage),
    // Locks, identity (getppid: the parent watch), randomness.
    SCMP_SYS(futex),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getppid),
    SCMP_SYS(getrandom),
    // Leaving.
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(VELUM_SANITIZE_UNDEFINED)
#define VELUM_SANITIZER_RUNTIME 1
// Sanitized builds only (make sanitize, -DVELUM_SANITIZE=...): what the sanitizer runtimes
// ask of the kernel inside a confined executor, beyond the list above. A release build
// compiles none of it (and none of the /proc/self/maps emulation below).
constexpr int kSanitizerSyscalls[] = {
    // __sanitizer::IsAccessibleMemoryRange probes memory by writing it into a pipe: UBSan's
    // vptr check calls it on every dynamic-type cache miss (seen: ~AotEngine at exit).
    SCMP_SYS(pipe2),
    SCMP_SYS(pipe),
#if defined(__SANITIZE_THREAD__)
    // TSan's dlopen interceptor names the loaded object (readlink of /proc/self/fd/N).
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
#endif
};
// Also: ASan's longjmp interceptor (a wasm2c trap leaves the signal stack by siglongjmp)
// asks pthread_getattr_np for the stack bounds, which reads /proc/self/maps (openat, served
// from a descriptor opened before confinement by OnTrappedSyscall, which also answers the
// fstat stdio makes of it) and calls getrlimit
// (prlimit64 with no new limit: allowed read-only below) and sched_getaffinity (of itself).
#else
constexpr int kSanitizerSyscalls[] = {-1};  // none; -1 is skipped
#endif

}  // namespace

std::string SandboxReport::Describe() const {
  if (namespaces) return "seccomp allow-list, rlimits, user/mount/network namespaces";
  return std::string("seccomp allow-list, rlimits; no namespaces (unshare: ") +
         std::strerror(namespaces_errno) + ")";
}

std::vector<uint8_t> SandboxReport::Encode() const {
  std::vector<uint8_t> frame(1 + sizeof(int32_t));
  frame[0] = namespaces;
  int32_t err = namespaces_errno;
  std::memcpy(frame.data() + 1, &err, sizeof err);
  return frame;
}

bool SandboxReport::Decode(const std::vector<uint8_t>& frame, SandboxReport* out) {
  if (frame.size() != 1 + sizeof(int32_t) || frame[0] > 1) return false;
  out->namespaces = frame[0];
  int32_t err;
  std::memcpy(&err, frame.data() + 1, sizeof err);
  out->namespaces_errno = err;
  return true;
}

void EnterNamespaces(SandboxReport* report) {
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) == 0) {
    report->namespaces = true;
    report->namespaces_errno = 0;
  } else {
    report->namespaces = false;
    report->namespaces_errno = errno;
  }
}

Status ApplyLimits(const SandboxLimits& limits) {
  struct Limit {
    int resource;
    rlim_t value;
    const char* name;
  };
  const Limit all[] = {
      {RLIMIT_AS, limits.address_space_bytes, "RLIMIT_AS"},
      {RLIMIT_DATA, limits.data_bytes ? limits.data_bytes : RLIM_INFINITY, "RLIMIT_DATA"},
      {RLIMIT_CPU, limits.cpu_seconds, "RLIMIT_CPU"},
      {RLIMIT_FSIZE, 0, "RLIMIT_FSIZE"},
      {RLIMIT_NOFILE, limits.open_files, "RLIMIT_NOFILE"},
      {RLIMIT_NPROC, 0, "RLIMIT_NPROC"},
      {RLIMIT_CORE, 0, "RLIMIT_CORE"},
  };
  for (const Limit& l : all) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // ASan and TSan reserve terabytes of shadow address space at start: no RLIMIT_AS.
    if (l.resource == RLIMIT_AS) continue;
#endif
    rlimit current{};
    if (getrlimit(l.resource, &current) != 0) continue;
    // Never raise: a limit the operator set lower stays.
    rlim_t value = std::min(l.value, current.rlim_max);
    rlimit lim{value, value};
    if (setrlimit(l.resource, &lim) != 0)
      return MakeError(ErrorKind::kInternal,
                       std::string("cannot set ") + l.name + ": " + std::strerror(errno));
  }
  // A write past RLIMIT_FSIZE fails with EFBIG instead of killing the executor.
  signal(SIGXFSZ, SIG_IGN);
  return {};
}

namespace {

// The object LoadObjectConfined is loading: its descriptor and the path dlopen opens it by.
int loading_fd = -1;
char loading_path[32];
#ifdef VELUM_SANITIZER_RUNTIME
int proc_maps_fd = -1;  // /proc/self/maps, opened before the first filter (see above)
#endif

// SIGSYS from a trapped call of the kLoading filter (the call did not run). Emulates the two
// calls dlopen makes for the object being loaded, and nothing else: any other call dies of
// SIGSYS, as the kServing filter would kill it.
void OnTrappedSyscall(int, siginfo_t* info, void* context) {
  int saved_errno = errno;
  greg_t* regs = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  const char* path = reinterpret_cast<const char*>(regs[REG_RSI]);
  long result = 0;
  if (info->si_syscall == SYS_openat && loading_fd >= 0 && path &&
      std::strcmp(path, loading_path) == 0) {
    result = syscall(SYS_dup, loading_fd);
#ifdef VELUM_SANITIZER_RUNTIME
  } else if (proc_maps_fd >= 0 && ((info->si_syscall == SYS_openat && path &&
                                    std::strcmp(path, "/proc/self/maps") == 0) ||
                                   (info->si_syscall == SYS_open && regs[REG_RDI] &&
                                    std::strcmp(reinterpret_cast<const char*>(regs[REG_RDI]),
                                                "/proc/self/maps") == 0))) {
    // The copy shares the offset: rewind, the runtime reads it from the start each time.
    result = syscall(SYS_lseek, proc_maps_fd, 0, SEEK_SET);
    if (result == 0) result = syscall(SYS_dup, proc_maps_fd);
#endif
  } else if (info->si_syscall == SYS_newfstatat && (regs[REG_R10] & AT_EMPTY_PATH) && path &&
             path[0] == 0) {
    result = syscall(SYS_fstat, regs[REG_RDI], regs[REG_RDX]);  // fstat of an open descriptor
  } else {
    signal(SIGSYS, SIG_DFL);
    raise(SIGSYS);  // delivered, and fatal, when this handler returns
    return;
  }
  regs[REG_RAX] = result < 0 ? -errno : result;
  errno = saved_errno;
}

}  // namespace

Status InstallSyscallFilter(FilterStage stage) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return MakeError(ErrorKind::kInternal,
                     std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno));
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_KILL_PROCESS),
                                                       seccomp_release);
  if (!ctx) return MakeError(ErrorKind::kInternal, "seccomp_init failed");
  // Every thread, should there ever be more than one.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1);
  for (int sys : kAllowedSyscalls)
    if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, sys, 0);
  for (int sys : kSanitizerSyscalls)
    if (rc == 0 && sys >= 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, sys, 0);
#ifdef VELUM_SANITIZER_RUNTIME
  if (proc_maps_fd < 0) proc_maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (rc == 0)
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                          SCMP_A2(SCMP_CMP_EQ, 0));
  if (rc == 0)
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(sched_getaffinity), 1,
                          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid())));
  if (stage == FilterStage::kServing)
    for (int sys : {SCMP_SYS(openat), SCMP_SYS(newfstatat)})
      if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_TRAP, sys, 0);
  // TSan's own reader of /proc/self/maps uses open (served the same way), in both stages.
  if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_TRAP, SCMP_SYS(open), 0);
#endif
  if (stage == FilterStage::kServing) {
    // Memory may be mapped and protected, never executable: every piece of code the
    // executor runs (itself, its libraries, a compiled module) is loaded by now.
    for (int sys : {SCMP_SYS(mmap), SCMP_SYS(mprotect)})
      if (rc == 0)
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, sys, 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  } else {
    for (int sys : {SCMP_SYS(mmap), SCMP_SYS(mprotect)})
      if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, sys, 0);
    for (int sys : {SCMP_SYS(openat), SCMP_SYS(newfstatat)})
      if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_TRAP, sys, 0);
    // Installing the kServing filter: adding a filter can only take rights away.
    if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0);
    if (rc == 0)
      rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                            SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
    if (rc == 0) {
      struct sigaction action {};
      action.sa_sigaction = OnTrappedSyscall;
      action.sa_flags = SA_SIGINFO;
      sigemptyset(&action.sa_mask);
      if (sigaction(SIGSYS, &action, nullptr) != 0) rc = -errno;
    }
  }
  // Signals to itself only: abort() and raise() use tgkill on the own process.
  if (rc == 0)
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid())));
  if (rc == 0) rc = seccomp_load(ctx.get());
  if (rc != 0)
    return MakeError(ErrorKind::kInternal,
                     std::string("cannot install the seccomp filter: ") + std::strerror(-rc));
  return {};
}

void* LoadObjectConfined(int fd, std::string* error) {
  // A unique name per descriptor: dlopen would return an object loaded under the same name.
  std::snprintf(loading_path, sizeof loading_path, "/proc/self/fd/%d", fd);
  loading_fd = fd;
  void* handle = dlopen(loading_path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) *error = std::string("dlopen: ") + dlerror();
  loading_fd = -1;
  close(fd);
  return handle;
}

bool TryForbiddenCall(const std::string& name) {
  // Raw system calls, so that each name is exactly one syscall whatever glibc prefers.
  long r = 0;
  if (name == "open") {
    r = syscall(SYS_open, "/etc/hostname", O_RDONLY);
  } else if (name == "openat") {
    r = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
  } else if (name == "stat") {
    struct stat st;
    r = syscall(SYS_newfstatat, AT_FDCWD, "/etc/hostname", &st, 0);
  } else if (name == "socket") {
    r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
  } else if (name == "connect") {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    r = syscall(SYS_connect, 3, &addr, sizeof addr);
  } else if (name == "fork") {
    r = fork();
  } else if (name == "clone3") {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    r = syscall(SYS_clone3, &args, sizeof args);
  } else if (name == "execve") {
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    r = syscall(SYS_execve, "/bin/true", argv, nullptr);
  } else if (name == "ptrace") {
    r = syscall(SYS_ptrace, PTRACE_ATTACH, getppid(), 0, 0);
  } else if (name == "kill") {
    r = syscall(SYS_kill, getppid(), 0);
  } else if (name == "tgkill") {
    r = syscall(SYS_tgkill, getppid(), getppid(), 0);
  } else if (name == "mmap_exec") {
    r = reinterpret_cast<long>(
        mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  } else if (name == "mprotect_exec") {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r = syscall(SYS_mprotect, p, 4096, PROT_READ | PROT_EXEC);
  } else if (name == "unshare") {
    r = syscall(SYS_unshare, CLONE_NEWNET);
  } else if (name == "mount") {
    r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, nullptr);
  } else if (name == "setrlimit") {
    rlimit lim{RLIM_INFINITY, RLIM_INFINITY};
    r = syscall(SYS_setrlimit, RLIMIT_CPU, &lim);
  } else if (name == "memfd_create") {
    r = syscall(SYS_memfd_create, "x", 0);
  } else if (name == "process_vm_readv") {
    r = syscall(SYS_process_vm_readv, getppid(), nullptr, 0, nullptr, 0, 0);
  } else {
    return false;
  }
  (void)r;
  return true;
}

}  // namespace velum
