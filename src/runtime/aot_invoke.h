/* Host-side entry points into compiled Wasm code, with trap recovery.
   Return 0 on success or a wasm_rt_trap_t code when the code trapped. */
#ifndef VELUM_RUNTIME_AOT_INVOKE_H_
#define VELUM_RUNTIME_AOT_INVOKE_H_

#include "runtime/aot_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-process memory limit for compiled code, in pages; 65536 = none. */
extern uint32_t velum_aot_max_pages;
/* Set when the last call or instantiation was refused memory by that limit. */
extern int velum_aot_limit_hit;

/* Codes velum_aot_invoke and velum_aot_instantiate return, beside wasm_rt_trap_t's (all
   below 0x100), when a host function ended the call: the program exited by itself (WASI
   proc_exit: a normal end, not a trap), or the host ran out of memory serving it. */
enum { VELUM_AOT_EXIT = 0x100, VELUM_AOT_HOST_OUT_OF_MEMORY = 0x101 };

void velum_aot_init(void);
int velum_aot_invoke(velum_thunk fn, void* instance, const velum_val* args, velum_val* results);
int velum_aot_instantiate(const velum_module_desc* desc, void* instance, velum_import_slot* slots);
/* Ends the running call at once with `code` (a VELUM_AOT_* above), by the longjmp of a trap:
   the caller must hold nothing that needs destroying. */
__attribute__((noreturn)) void velum_aot_leave(int code);
/* The spectest host object `name`: a data pointer, or a thunk for its print functions. */
void* velum_aot_spectest(const char* name, velum_thunk* thunk);

#ifdef __cplusplus
}
#endif

#endif /* VELUM_RUNTIME_AOT_INVOKE_H_ */
