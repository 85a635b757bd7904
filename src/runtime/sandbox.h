// The executor's confinement: rlimits, namespaces and a seccomp-bpf allow-list, in that order.
// After Confine() the process can compute, map memory, use its open descriptors and exit.
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
  uint64_t open_files = 16;  // RLIMIT_NOFILE: 0-3, the parent watcher and a received module
  // RLIMIT_FSIZE is 0 and RLIMIT_NPROC 0 (forking is refused by seccomp as well).
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
  // Serving calls: the allow-list only; no executable mapping, no open at all.
  kServing,
};

// Sets PR_SET_NO_NEW_PRIVS and installs the seccomp allow-list of `stage` on every thread;
// any other system call kills the process with SIGSYS. Irreversible.
Status InstallSyscallFilter(FilterStage stage);

// dlopen of the object open as `fd` (taken over), under the kLoading filter: the only file
// it can open is that descriptor. Null on failure, with dlerror's message in `error`.
void* LoadObjectConfined(int fd, std::string* error);

// Test only (executor --try-forbidden NAME): performs the named forbidden operation, which
// must kill a confined process. Returns if it did not (or the name is unknown: false).
bool TryForbiddenCall(const std::string& name);

}  // namespace velum

#endif  // VELUM_RUNTIME_SANDBOX_H_
