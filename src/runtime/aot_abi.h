/* The binary interface between the host and a compiled (wasm2c) module's shared object.
   Plain C; the host includes it and the code generator pastes it into every glue file. */
#ifndef VELUM_RUNTIME_AOT_ABI_H_
#define VELUM_RUNTIME_AOT_ABI_H_

#include <stddef.h>
#include <stdint.h>

/* 4: modules are rewritten with generated names before wasm2c (aot_rewrite.h), so objects
   compiled from C that carried module-chosen names are never loaded again. */
#define VELUM_AOT_ABI_VERSION 4

/* Every Wasm value crosses the boundary in one 32-byte cell (a v128 or a funcref fits). */
typedef struct velum_val {
  uint64_t w[4];
} velum_val;

/* Calls a function with arguments and results as cells. */
typedef void (*velum_thunk)(void* instance, const velum_val* args, velum_val* results);

/* One resolved import of an instance: a function (thunk + its instance) or a pointer to a
   memory, table or global. */
typedef struct velum_import_slot {
  void* target;
  velum_thunk thunk;
} velum_import_slot;

/* Slot 0 of an instance's import array is a header holding this marker; import i is slot
   i + 1. wasm2c 1.0.32 passes imported functions stored in tables the address of the
   instance field that points to the array instead of the array itself (a bug fixed in later
   versions); the marker tells the two apart. */
#define VELUM_SLOTS_MAGIC ((void*)0x56454c554d534c54ull)

enum { VELUM_EXTERN_FUNC = 0, VELUM_EXTERN_TABLE, VELUM_EXTERN_MEMORY, VELUM_EXTERN_GLOBAL };

typedef struct velum_export_desc {
  int kind;
  velum_thunk call;             /* functions */
  void* (*get)(void* instance); /* memories, tables, globals: pointer to the object */
} velum_export_desc;

typedef struct velum_module_desc {
  uint32_t abi_version;
  uint32_t num_exports;
  uint32_t num_imports;
  size_t instance_size;
  void (*init_module)(void);
  /* imports: a header slot, then one slot per import of the module, in module order */
  void (*instantiate)(void* instance, velum_import_slot* imports);
  void (*free_instance)(void* instance);
  const velum_export_desc* exports; /* in module export order */
} velum_module_desc;

#endif /* VELUM_RUNTIME_AOT_ABI_H_ */
