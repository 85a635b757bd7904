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

void velum_aot_init(void);
int velum_aot_invoke(velum_thunk fn, void* instance, const velum_val* args, velum_val* results);
int velum_aot_instantiate(const velum_module_desc* desc, void* instance, velum_import_slot* slots);
/* The spectest host object `name`: a data pointer, or a thunk for its print functions. */
void* velum_aot_spectest(const char* name, velum_thunk* thunk);

#ifdef __cplusplus
}
#endif

#endif /* VELUM_RUNTIME_AOT_INVOKE_H_ */
