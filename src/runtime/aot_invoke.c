/* Entering compiled Wasm code from the host: trap recovery (setjmp) and memory limits.
   In C because setjmp/longjmp must not skip C++ destructors. One call at a time per process. */
#include "runtime/aot_invoke.h"

#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wasm-rt-impl.h"

/* What wasm_rt_allocate_memory reserves per memory (wasm-rt-impl.c, signal handler mode). */
#define VELUM_WASM_RT_RESERVATION 0x200000000ul

uint32_t velum_aot_max_pages = 65536;
int velum_aot_limit_hit = 0;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Sanitized builds only: a trap leaves the runtime's 8 KiB signal stack (SIGSTKSZ) through
   the sanitizer's longjmp interceptor, which reads /proc/self/maps on it; in a confined
   executor that read also runs the seccomp SIGSYS handler there (sandbox.cc). Together they
   overflow 8 KiB (seen: SIGSEGV just below the stack), so give the signal stack 256 KiB. */
#define VELUM_SANITIZER_SIGNAL_STACK (256u << 10)
static void velum_enlarge_signal_stack(void) {
  static char* stack = NULL;
  if (stack) return;
  stack = malloc(VELUM_SANITIZER_SIGNAL_STACK);
  if (!stack) return;
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_sp = stack;
  ss.ss_size = VELUM_SANITIZER_SIGNAL_STACK;
  sigaltstack(&ss, NULL);
}
#endif

void velum_aot_init(void) {
  if (!wasm_rt_is_initialized()) wasm_rt_init();
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  velum_enlarge_signal_stack();
#endif
}

int velum_aot_invoke(velum_thunk fn, void* instance, const velum_val* args, velum_val* results) {
  velum_aot_limit_hit = 0;
  int code = wasm_rt_impl_try();
  if (code != 0) return code;
  fn(instance, args, results);
  return 0;
}

int velum_aot_instantiate(const velum_module_desc* desc, void* instance, velum_import_slot* slots) {
  velum_aot_limit_hit = 0;
  int code = wasm_rt_impl_try();
  if (code != 0) return code;
  desc->instantiate(instance, slots);
  return 0;
}

void velum_aot_leave(int code) { wasm_rt_trap((wasm_rt_trap_t)code); }

/* Generated code calls these instead of the wasm2c runtime's (see the -D flags in
   aot_compiler.cc). A limit of 65536 pages (4 GiB) means none: spec behaviour unchanged. */
/* One reservation kept from the last freed memory, so that an executor, which builds a fresh
   instance for every call, does not map and unmap 8 GiB each time (measured: most of the
   cost of a small call). It is returned to pristine state when freed: every byte the old
   instance could write is zeroed, and everything past `spare_rw` is inaccessible. */
static uint8_t* spare = NULL;
static uint64_t spare_rw = 0; /* bytes of `spare` still readable and writable (all zero) */

#define VELUM_PAGE 65536ul
#define VELUM_MEMSET_LIMIT (1ul << 20) /* above this, hand the pages back instead */

void velum_rt_allocate_memory(wasm_rt_memory_t* memory, uint32_t initial, uint32_t max) {
  if (velum_aot_max_pages < 65536 && initial > velum_aot_max_pages) {
    velum_aot_limit_hit = 1;
    wasm_rt_trap(WASM_RT_TRAP_OOB);
  }
  uint64_t bytes = (uint64_t)initial * VELUM_PAGE;
  if (!spare) {
    wasm_rt_allocate_memory(memory, initial, max);
    return;
  }
  /* Exactly [0, bytes) accessible, as a fresh reservation would be. */
  int ok = 1;
  if (spare_rw > bytes) ok = mprotect(spare + bytes, spare_rw - bytes, PROT_NONE) == 0;
  if (ok && spare_rw < bytes)
    ok = mprotect(spare + spare_rw, bytes - spare_rw, PROT_READ | PROT_WRITE) == 0;
  if (!ok) { /* give up on the spare: a fresh reservation */
    munmap(spare, VELUM_WASM_RT_RESERVATION);
    spare = NULL;
    wasm_rt_allocate_memory(memory, initial, max);
    return;
  }
  memory->data = spare;
  memory->size = (uint32_t)bytes;
  memory->pages = initial;
  memory->max_pages = max;
  spare = NULL;
  spare_rw = 0;
}

uint32_t velum_rt_grow_memory(wasm_rt_memory_t* memory, uint32_t delta) {
  if (velum_aot_max_pages < 65536 && (uint64_t)memory->pages + delta > velum_aot_max_pages) {
    velum_aot_limit_hit = 1;
    return (uint32_t)-1;
  }
  return wasm_rt_grow_memory(memory, delta);
}

/* wasm2c 1.0.32 reserves 8 GiB of address space per memory (guard regions) but unmaps only
   the used part when freeing it, so each instance would leak 8 GiB of address space and an
   executor would abort after about 16000 calls. Free the whole reservation. */
void velum_rt_free_memory(wasm_rt_memory_t* memory) {
  if (!memory->data) return;
  uint64_t bytes = (uint64_t)memory->pages * VELUM_PAGE;
  if (!spare) {
    /* Zero what the instance could have written: small memories by hand, large ones by
       handing the pages back (they read as zero when touched again). */
    int ok = 1;
    if (bytes <= VELUM_MEMSET_LIMIT)
      memset(memory->data, 0, bytes);
    else
      ok = madvise(memory->data, bytes, MADV_DONTNEED) == 0;
    if (ok) {
      spare = memory->data;
      spare_rw = bytes;
      memory->data = NULL;
      return;
    }
  }
  munmap(memory->data, VELUM_WASM_RT_RESERVATION);
  memory->data = NULL;
}

/* The spec tests' "spectest" host module. */
static wasm_rt_memory_t spectest_memory;
static wasm_rt_funcref_table_t spectest_table;
static uint32_t spectest_global_i32 = 666;
static uint64_t spectest_global_i64 = 666;
static float spectest_global_f32 = 666.6f;
static double spectest_global_f64 = 666.6;

static void spectest_print(void* instance, const velum_val* args, velum_val* results) {
  (void)instance, (void)args, (void)results;
}

void* velum_aot_spectest(const char* name, velum_thunk* thunk) {
  static int made = 0;
  if (!made) {
    made = 1;
    wasm_rt_allocate_memory(&spectest_memory, 1, 2);
    wasm_rt_allocate_funcref_table(&spectest_table, 10, 20);
  }
  *thunk = 0;
  if (strncmp(name, "print", 5) == 0) {
    *thunk = spectest_print;
    return 0;
  }
  if (strcmp(name, "memory") == 0) return &spectest_memory;
  if (strcmp(name, "table") == 0) return &spectest_table;
  if (strcmp(name, "global_i32") == 0) return &spectest_global_i32;
  if (strcmp(name, "global_i64") == 0) return &spectest_global_i64;
  if (strcmp(name, "global_f32") == 0) return &spectest_global_f32;
  if (strcmp(name, "global_f64") == 0) return &spectest_global_f64;
  return 0;
}
