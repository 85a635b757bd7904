// Confinement of the executor process: rlimits, namespaces and the seccomp allow-list.
// The allow-list is the whole of what a confined executor can ask of the kernel.
#include "runtime/sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
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

// Files executors only (ExecutorMode::kFiles): what a WASI host asks of the kernel for its
// program's files, on descriptors it holds (the preopened directories and what it opened
// beneath them); Landlock decides where a path may lead. Calls that may also name a path
// relative to the working directory are below, allowed with argument checks.
constexpr int kFilesSyscalls[] = {
    // Paths from a directory descriptor: path_create_directory, path_unlink_file,
    // path_remove_directory, path_rename, path_link, path_symlink, path_readlink.
    SCMP_SYS(mkdirat),
    SCMP_SYS(unlinkat),
    SCMP_SYS(renameat),
    SCMP_SYS(renameat2),
    SCMP_SYS(linkat),
    SCMP_SYS(symlinkat),
    SCMP_SYS(readlinkat),
    // Open files and directories: fd_readdir, fd_filestat_set_size, fd_allocate, fd_sync,
    // fd_datasync, fd_advise, fd_fdstat_set_flags, fd_pread/fd_pwrite (pread64 is common).
    SCMP_SYS(getdents64),
    SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(fadvise64),
    SCMP_SYS(fcntl),
    SCMP_SYS(pwrite64),
    SCMP_SYS(preadv),
    SCMP_SYS(pwritev),
    // poll_oneoff.
    SCMP_SYS(ppoll),
    SCMP_SYS(poll),
    // The Landlock layer, put in place on the call's arrival: it can only take rights away.
    SCMP_SYS(landlock_create_ruleset),
    SCMP_SYS(landlock_add_rule),
    SCMP_SYS(landlock_restrict_self),
};

// Calls that name a path from a directory descriptor or, given AT_FDCWD, from the working
// directory. A files executor may make them on a descriptor only; with AT_FDCWD they do what
// they do in every other executor (trapped while loading and in sanitized builds, else fatal).
constexpr int kFilesAtSyscalls[] = {
    SCMP_SYS(openat),  // path_open
    SCMP_SYS(openat2),
    SCMP_SYS(newfstatat),  // path_filestat_get, fd_filestat_get
    SCMP_SYS(statx),
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

namespace {
// Writes `text` to a /proc/self file; false if it could not.
bool WriteProcSelf(const char* name, const std::string& text) {
  int fd = open(name, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}
}  // namespace

void EnterNamespaces(SandboxReport* report) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) == 0) {
    // The executor stays its user inside its namespace: unmapped, it could create no file in
    // a preopened directory (the kernel refuses owners it cannot name), and no capability
    // outside the namespace comes with the mapping.
    WriteProcSelf("/proc/self/setgroups", "deny");
    WriteProcSelf("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1");
    WriteProcSelf("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1");
    // ... but with no capability at all, in the namespace either: mapped root keeps no
    // privilege over files it owns beyond their permission bits.
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[2] = {};
    syscall(SYS_capset, &header, none);
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
      {RLIMIT_FSIZE, limits.file_size_bytes, "RLIMIT_FSIZE"},
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

namespace {

// The kernel reads a directory descriptor as an int, the low half of the register: AT_FDCWD
// is any value whose low 32 bits are -100, whatever the high ones.
const scmp_arg_cmp kDirfdIsCwd = {0, SCMP_CMP_MASKED_EQ, 0xffffffffu,
                                  static_cast<uint32_t>(AT_FDCWD)};
// A descriptor as a caller passes it (an int, sign-extended: a non-negative one has a zero high
// half). There is no "masked not equal": this cannot be AT_FDCWD, and a descriptor with
// garbage in its high half is refused (the default action) rather than guessed at.
const scmp_arg_cmp kDirfdIsDescriptor = {0, SCMP_CMP_LE, 0x7fffffffu, 0};
// utimensat's path (A1) is NULL: futimens, on a descriptor.
const scmp_arg_cmp kNoPath = {1, SCMP_CMP_EQ, 0, 0};

// Adds the rules of the calls that name a path from a directory (kFilesAtSyscalls): from the
// working directory, openat and newfstatat trap if `trap_open` (else the default kills); from a
// descriptor, a files executor may make them all. Then the rest of a files executor's calls.
int AddAtRules(scmp_filter_ctx ctx, ExecutorMode mode, bool trap_open) {
  int rc = 0;
  for (int sys : kFilesAtSyscalls) {
    bool trapped = trap_open && (sys == SCMP_SYS(openat) || sys == SCMP_SYS(newfstatat));
    if (mode == ExecutorMode::kCompute) {
      if (rc == 0 && trapped) rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, sys, 0);
      continue;
    }
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys, 1, kDirfdIsDescriptor);
    if (rc == 0 && trapped) rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, sys, 1, kDirfdIsCwd);
  }
  if (mode == ExecutorMode::kCompute) return rc;
  for (int sys : kFilesSyscalls)
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys, 0);
  // futimens (fd_filestat_set_times), and utimensat(fd, "", AT_EMPTY_PATH) on an O_PATH
  // descriptor the host opened beneath a preopen (path_filestat_set_times: a symlink's own
  // times too). The filter cannot read the path: escaped native code could set the times of
  // a file outside the preopens that it may write (never read or change its contents).
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(utimensat), 1, kNoPath);
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(utimensat), 1,
                          SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
  return rc;
}

}  // namespace

Status InstallSyscallFilter(FilterStage stage, ExecutorMode mode) {
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
  // openat and newfstatat trap to OnTrappedSyscall while loading (dlopen of the bound object)
  // and, in sanitized builds, while serving too (their runtimes' /proc/self/maps).
  bool trap_open = stage == FilterStage::kLoading;
#ifdef VELUM_SANITIZER_RUNTIME
  trap_open = true;
  if (proc_maps_fd < 0) proc_maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (rc == 0)
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                          SCMP_A2(SCMP_CMP_EQ, 0));
  if (rc == 0)
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(sched_getaffinity), 1,
                          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid())));
  // TSan's own reader of /proc/self/maps uses open (served the same way), in both stages.
  if (rc == 0) rc = seccomp_rule_add(ctx.get(), SCMP_ACT_TRAP, SCMP_SYS(open), 0);
#endif
  if (rc == 0) rc = AddAtRules(ctx.get(), mode, trap_open);
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

namespace {

// Landlock's rights by the ABI version that brought them. The system's linux/landlock.h may be
// older than the running kernel: the values are the kernel's (uapi), so they are named here.
constexpr uint64_t kFsWriteFile = 1ull << 1;
constexpr uint64_t kFsReadFile = 1ull << 2;
constexpr uint64_t kFsReadDir = 1ull << 3;
constexpr uint64_t kFsRemoveDir = 1ull << 4;
constexpr uint64_t kFsRemoveFile = 1ull << 5;
constexpr uint64_t kFsMakeDir = 1ull << 7;
constexpr uint64_t kFsMakeReg = 1ull << 8;
constexpr uint64_t kFsMakeSym = 1ull << 12;
constexpr uint64_t kFsAbi1 = (1ull << 13) - 1;  // EXECUTE .. MAKE_SYM, MAKE_CHAR/SOCK/... too
constexpr uint64_t kFsRefer = 1ull << 13;       // ABI 2: rename and link across directories
constexpr uint64_t kFsTruncate = 1ull << 14;    // ABI 3
constexpr uint64_t kFsIoctlDev = 1ull << 15;    // ABI 5
constexpr uint64_t kNetBindTcp = 1ull << 0;     // ABI 4
constexpr uint64_t kNetConnectTcp = 1ull << 1;  // ABI 4
constexpr uint64_t kScopeAbstractUnixSocket = 1ull << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ull << 1;              // ABI 6

// struct landlock_ruleset_attr as of ABI 6. The kernel takes a longer struct than it knows
// when the fields it does not know are zero: those of a newer ABI are left zero on an older one.
struct RulesetAttr {
  uint64_t handled_access_fs = 0;
  uint64_t handled_access_net = 0;
  uint64_t scoped = 0;
};

// struct landlock_path_beneath_attr: packed in the uapi header too.
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};

// What a preopened directory grants beneath it. Reading: READ_FILE, READ_DIR. Read-write adds
// what WASI's path_* and fd_* calls do: WRITE_FILE, TRUNCATE, REMOVE_DIR, REMOVE_FILE,
// MAKE_DIR, MAKE_REG, MAKE_SYM, and REFER (rename and link between directories; a read-only
// directory lacks it, so nothing moves out of or into it: EXDEV). WASI creates no device,
// socket or FIFO and executes nothing: MAKE_CHAR, MAKE_BLOCK, MAKE_SOCK, MAKE_FIFO, EXECUTE
// and IOCTL_DEV are never granted.
uint64_t GrantedAccess(bool read_only) {
  const uint64_t read = kFsReadFile | kFsReadDir;
  if (read_only) return read;
  return read | kFsWriteFile | kFsTruncate | kFsRemoveDir | kFsRemoveFile | kFsMakeDir |
         kFsMakeReg | kFsMakeSym | kFsRefer;
}

// Every right the kernel's ABI knows, handled (denied unless a rule grants it).
RulesetAttr HandledAccess(int abi) {
  RulesetAttr attr;
  attr.handled_access_fs = kFsAbi1;
  if (abi >= 2) attr.handled_access_fs |= kFsRefer;
  if (abi >= 3) attr.handled_access_fs |= kFsTruncate;
  if (abi >= 4) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 5) attr.handled_access_fs |= kFsIoctlDev;
  if (abi >= 6) attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
  return attr;
}

}  // namespace

int LandlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

Status RestrictToPreopens(const std::vector<LandlockPreopen>& preopens) {
  int abi = LandlockAbi();
  if (abi == 0)  // errno says why: ENOSYS (not built in), EOPNOTSUPP (left out at boot)
    return MakeError(ErrorKind::kUnavailable,
                     std::string("preopened directories need Landlock (Linux 5.13+), which this "
                                 "kernel does not offer (") +
                         std::strerror(errno) + ")");
  RulesetAttr attr = HandledAccess(abi);
  long ruleset = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (ruleset < 0)
    return MakeError(ErrorKind::kInternal,
                     std::string("landlock_create_ruleset: ") + std::strerror(errno));
  Status status;
  for (const LandlockPreopen& p : preopens) {
    PathBeneathAttr rule{GrantedAccess(p.read_only) & attr.handled_access_fs, p.fd};
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
      status = MakeError(ErrorKind::kInternal,
                         std::string("landlock_add_rule: ") + std::strerror(errno));
      break;
    }
  }
  if (status.ok() && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
    status = MakeError(ErrorKind::kInternal,
                       std::string("landlock_restrict_self: ") + std::strerror(errno));
  close(static_cast<int>(ruleset));
  return status;
}

namespace {

// "ok" or the errno's name, of a call that returned `r` (negative: failed, errno set).
std::string Outcome(long r) {
  if (r >= 0) return "ok";
  const char* name = strerrorname_np(errno);
  return name ? name : "errno " + std::to_string(errno);
}

long Openat2(int dir, const char* path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  return syscall(SYS_openat2, dir, path, &how, sizeof how);
}

// Opens `path` beneath `dir` and reads a byte (a directory: lists it) or, with O_CREAT,
// writes one: whether the whole access worked, not only the open.
long OpenAndUse(int dir, const char* path, int flags) {
  int fd = static_cast<int>(syscall(SYS_openat, dir, path, flags | O_CLOEXEC, 0600));
  if (fd < 0) return -1;
  char buf[256];
  long r;
  if (flags & O_DIRECTORY)
    r = syscall(SYS_getdents64, fd, buf, sizeof buf);
  else if (flags & O_CREAT)
    r = write(fd, "x", 1);
  else
    r = read(fd, buf, 1);
  int saved = errno;
  close(fd);
  errno = saved;
  return r;
}

}  // namespace

std::string TryPreopenEscape(int dir) {
  struct Attempt {
    const char* name;
    long result;
  };
  // In order: a rename that got out would take "inside" with it.
  const Attempt attempts[] = {
      {"read_inside", OpenAndUse(dir, "inside", O_RDONLY)},
      {"list_inside", OpenAndUse(dir, ".", O_RDONLY | O_DIRECTORY)},
      {"create_inside", OpenAndUse(dir, "created", O_WRONLY | O_CREAT | O_EXCL)},
      {"dotdot", OpenAndUse(dir, "../outside", O_RDONLY)},
      {"absolute", OpenAndUse(dir, "/etc/passwd", O_RDONLY)},
      {"root_dir", OpenAndUse(dir, "/", O_RDONLY | O_DIRECTORY)},
      {"parent_dir", OpenAndUse(dir, "..", O_RDONLY | O_DIRECTORY)},
      {"openat2_absolute", Openat2(dir, "/etc/passwd")},
      {"openat2_dotdot", Openat2(dir, "../outside")},
      {"symlink_out", OpenAndUse(dir, "link", O_RDONLY)},
      {"create_outside", OpenAndUse(dir, "../created", O_WRONLY | O_CREAT | O_EXCL)},
      {"mkdir_outside", syscall(SYS_mkdirat, dir, "../made", 0700)},
      {"symlink_outside", syscall(SYS_symlinkat, "inside", dir, "../symlinked")},
      {"unlink_outside", syscall(SYS_unlinkat, dir, "../outside", 0)},
      {"rename_out", syscall(SYS_renameat, dir, "inside", dir, "../moved")},
      {"rename_in", syscall(SYS_renameat, dir, "../outside", dir, "moved_in")},
      {"link_out", syscall(SYS_linkat, dir, "inside", dir, "../linked", 0)},
  };
  std::string report;
  for (const Attempt& a : attempts) report += std::string(a.name) + " " + Outcome(a.result) + "\n";
  return report;
}

bool TryForbiddenCall(const std::string& name) {
  // Raw system calls, so that each name is exactly one syscall whatever glibc prefers.
  long r = 0;
  if (name == "open") {
    r = syscall(SYS_open, "/etc/hostname", O_RDONLY);
  } else if (name == "openat") {
    r = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
  } else if (name == "openat_cwd32") {  // AT_FDCWD with a zero high half: still AT_FDCWD
    r = syscall(SYS_openat, 0xffffff9cL, "/etc/hostname", O_RDONLY);
  } else if (name == "openat2_cwd") {
    open_how how{};
    how.flags = O_RDONLY;
    r = syscall(SYS_openat2, AT_FDCWD, "/etc/hostname", &how, sizeof how);
  } else if (name == "statx_cwd") {
    struct statx stx;
    r = syscall(SYS_statx, AT_FDCWD, "/etc/hostname", 0, STATX_BASIC_STATS, &stx);
  } else if (name == "utimensat_path") {  // a files executor has futimens only
    r = syscall(SYS_utimensat, 0, "x", nullptr, 0);
  } else if (name == "openat_dirfd") {  // a files executor's own: killed in any other
    r = syscall(SYS_openat, 0, "/etc/hostname", O_RDONLY);
  } else if (name == "mkdirat") {
    r = syscall(SYS_mkdirat, 0, "x", 0700);
  } else if (name == "getdents64") {
    char buf[64];
    r = syscall(SYS_getdents64, 0, buf, sizeof buf);
  } else if (name == "landlock") {
    r = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
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
