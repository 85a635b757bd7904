// The executor's confinement: rlimits, namespaces, a seccomp-bpf allow-list, and Landlock for
// a files executor. Confined, it can compute, map memory, use its descriptors and exit.
#ifndef VELUM_RUNTIME_SANDBOX_H_
#define VELUM_RUNTIME_SANDBOX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace velum {

// Every limit of a confined executor, in one place.
struct SandboxLimits {
  // RLIMIT_AS. The AOT engine reserves 8 GiB of address space per linear memory (guard
  // regions, wasm-rt-impl.c) and keeps one spare reservation between calls; an instance may
  // also import the spectest memory. 64 GiB leaves room for six such reservations and the
  // heap, and stops a module from reserving the whole address space. Writable memory is
  // bounded by the per-call page limit and, when set, `data_bytes` (RLIMIT_DATA).
  uint64_t address_space_bytes = uint64_t{64} << 30;
  uint64_t data_bytes = 0;  // RLIMIT_DATA; 0: none
  // RLIMIT_CPU, over the executor's whole life: a backstop for a pool that fails to kill at
  // a deadline. The executor retires (answers, then exits) once it has used half of it, so
  // only a single call of more than half this budget can meet the limit.
  uint64_t cpu_seconds = 4 * 3600;
  uint64_t open_files = 16;      // RLIMIT_NOFILE: 0-3, the parent watcher and a received module
  uint64_t file_size_bytes = 0;  // RLIMIT_FSIZE: no executor but a files one writes a file
  // RLIMIT_NPROC is 0 (forking is refused by seccomp as well).

  // A files executor (ExecutorMode::kFiles) holds a call's preopened directories (at most
  // kMaxPassedFds) and what its program opens under them, and writes files there of any size:
  // the user gave it the directory, as to a program run by hand (a quota is the disk's tool).
  static constexpr uint64_t kFilesOpenFiles = 1024;
  void AllowFiles() {
    open_files = kFilesOpenFiles;
    file_size_bytes = UINT64_MAX;  // RLIM_INFINITY
  }
};

// What an executor is for, which decides what its filters allow beyond the common list.
enum class ExecutorMode : uint8_t {
  kCompute,  // every call without files: no path of any kind
  // One WASI call with preopened directories: the file system calls of its host, on
  // descriptors only (never relative to the working directory), and Landlock to confine them
  // to the directories (RestrictToPreopens) before the call runs.
  kFiles,
};

// What a confinement achieved, reported once to the pool.
struct SandboxReport {
  bool namespaces = false;   // user, mount and network namespaces unshared
  int namespaces_errno = 0;  // why not, when the kernel refused
  std::string Describe() const;
  // The frame an executor started with --report sends the pool.
  std::vector<uint8_t> Encode() const;
  static bool Decode(const std::vector<uint8_t>& frame, SandboxReport* out);
};

// Unshares user, mount and network namespaces. Must run while the process has one thread.
// A refusal is not an error: the report says so and confinement goes on without them.
void EnterNamespaces(SandboxReport* report);

// Sets every rlimit of `limits`. Fails only if the kernel refuses to lower a limit.
Status ApplyLimits(const SandboxLimits& limits);

// The executor installs two filters; seccomp keeps both and the stricter answer wins.
enum class FilterStage : uint8_t {
  // While a compiled module is loaded (dlopen runs its constructors and resolvers, which
  // must not run unconfined): executable mappings are allowed, and openat/newfstatat trap
  // to a handler that grants only the object's own descriptor (LoadObjectConfined).
  kLoading,
  // Serving calls: the allow-list only; no executable mapping, no open at all (a files
  // executor: from its descriptors only, under Landlock).
  kServing,
};

// Sets PR_SET_NO_NEW_PRIVS and installs the seccomp allow-list of `stage` and `mode` on
// every thread; any other system call kills the process with SIGSYS. Irreversible. Both
// filters of a files executor carry its additions (of two stacked filters, the stricter wins).
Status InstallSyscallFilter(FilterStage stage, ExecutorMode mode = ExecutorMode::kCompute);

// The Landlock ABI version the kernel offers (1 is Linux 5.13), or 0: none (too old a
// kernel, or Landlock left out at boot).
int LandlockAbi();

// A directory a files executor's program may reach, as Landlock sees it.
struct LandlockPreopen {
  int fd = -1;  // an open directory (not taken over)
  bool read_only = false;
};

// Confines this process, for good, to the directories of `preopens`: every file system access
// right Landlock knows is handled (masked to the kernel's ABI), and each directory is granted,
// to everything beneath it, reading (files and listings) and, unless read-only, writing,
// truncating, creating and removing files, directories and symbolic links, and renaming or
// linking between them. Never: executing or mapping for execution, device files, sockets,
// FIFOs, device ioctls. Nothing else of the file system can be opened, whatever the path (an
// absolute one, `..`, a symbolic link out). TCP and the scopes (abstract UNIX sockets,
// signals to processes outside) are denied too, where the ABI has them. Needs
// PR_SET_NO_NEW_PRIVS (InstallSyscallFilter sets it) and Landlock: without it, an error
// (kUnavailable), never a silent run unconfined.
Status RestrictToPreopens(const std::vector<LandlockPreopen>& preopens);

// dlopen of the object open as `fd` (taken over), under the kLoading filter: the only file
// it can open is that descriptor. Null on failure, with dlerror's message in `error`.
void* LoadObjectConfined(int fd, std::string* error);

// Test only (executor --try-forbidden NAME): performs the named forbidden operation, which
// must kill a confined process. Returns if it did not (or the name is unknown: false).
bool TryForbiddenCall(const std::string& name);

// Test only (executor --files --try-forbidden escape): from a files executor confined to
// `dir` (by RestrictToPreopens), tries to read, list and create inside it, then to reach
// outside it every way native code could: `..`, absolute paths through openat and openat2,
// a symbolic link out ("link", which the test made), creating, renaming, linking and removing
// across its edge. One line per attempt: "NAME ok" or "NAME ERRNO" (EACCES, EXDEV, ...).
std::string TryPreopenEscape(int dir);

}  // namespace velum

#endif  // VELUM_RUNTIME_SANDBOX_H_
