/* The embedding API of VelumOS (libvelum): a program joins the mesh as a node and runs Wasm
 * exports on it, one call or scattered over a range, or WASI commands, once or once per item
 * of a list (velum_map), from C or C++ (velum.hpp wraps it).
 *
 * The node is a process-wide singleton: velum_init starts it, velum_shutdown stops it, and
 * every other function works on it. All functions are thread-safe (a mutex guards the node);
 * calls from several threads run concurrently on the mesh. Blocking functions say so. A
 * handle (velum_call, velum_job, velum_command, velum_map_summary, ...) may be used from several
 * threads, never after its release.
 *
 *   velum_init(1, 0);                                   // node 1 on port 8001
 *   velum_wait_peers(1, 5000);
 *   velum_result r = velum_spawn_wasm_distributed("primes.wasm", "count_primes", 0, 500000);
 *   if (r.code == VELUM_OK) printf("%lld\n", (long long)r.values[0].as.i64);  // 41538
 *   else fprintf(stderr, "%s\n", r.error);
 *   velum_shutdown();
 *
 * Errors are codes (VELUM_OK = 0, errors < 0) with a one-line message: in the result's
 * `error`, or from velum_last_error() for functions that return an int or a handle. */
#ifndef VELUM_VELUM_H_
#define VELUM_VELUM_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define VELUM_EXPORT __attribute__((visibility("default")))
#else
#define VELUM_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Codes ---- */

enum {
  VELUM_OK = 0,
  VELUM_PENDING = 1,                  /* a wait timed out: not finished yet (not an error) */
  VELUM_ERR_INVALID_ARGUMENT = -1,    /* NULL pointer, bad option, wrong Wasm arguments,
                                         empty range, export of the wrong shape */
  VELUM_ERR_NOT_INITIALIZED = -2,     /* no velum_init, or velum_shutdown since */
  VELUM_ERR_ALREADY_INITIALIZED = -3, /* velum_init twice without velum_shutdown */
  VELUM_ERR_IO = -4,                  /* file missing or unreadable, port in use, ... */
  VELUM_ERR_INVALID_MODULE = -5,      /* not valid Wasm, or imports that cannot be met */
  VELUM_ERR_EXPORT_NOT_FOUND = -6,    /* the message lists the module's function exports */
  VELUM_ERR_TRAP = -7,                /* the Wasm code trapped (divide by zero, ...) */
  VELUM_ERR_DEADLINE = -8,            /* the call ran past its time limit */
  VELUM_ERR_MEMORY_LIMIT = -9,        /* linear memory would exceed the limit */
  VELUM_ERR_EXECUTOR = -10,           /* the sandbox process died; the node stays up */
  VELUM_ERR_UNAVAILABLE = -11,        /* no node can do it now: no workers, peer lost */
  VELUM_ERR_LIMIT = -12,              /* module too large, too many jobs, ... */
  VELUM_ERR_CANCELLED = -13,          /* cancelled by the caller or by velum_shutdown */
  VELUM_ERR_JOB_FAILED = -14,         /* a scatter failed; the message says why */
  VELUM_ERR_TIMEOUT = -15,            /* velum_wait_peers: not enough peers in time */
  VELUM_ERR_INTERNAL = -16
};

/* A static English name of a code, e.g. "export not found". Never NULL. */
VELUM_EXPORT const char* velum_strerror(int code);

/* The message of the last failure of a function on this thread that returns an int code or
 * a handle (thread-local; successful calls leave it unchanged). Never NULL; "" at first.
 * Valid until the next failure on this thread. */
VELUM_EXPORT const char* velum_last_error(void);
/* The code of that same failure (VELUM_OK at first). */
VELUM_EXPORT int velum_last_error_code(void);

/* ---- The node ---- */

typedef enum velum_engine {
  VELUM_ENGINE_AUTO = 0, /* compiled code when cached; meanwhile the interpreter */
  VELUM_ENGINE_INTERP = 1,
  VELUM_ENGINE_AOT = 2
} velum_engine;

typedef enum velum_log {
  VELUM_LOG_DEFAULT = 0, /* warnings on stderr, info in HOME/logs/node-ID.log (as ./node) */
  VELUM_LOG_VERBOSE = 1, /* info on stderr too */
  VELUM_LOG_QUIET = 2    /* the log file only */
} velum_log;

/* Options of velum_init_with. Fill with velum_options_default first, then change fields.
 * Strings and arrays are copied by velum_init_with; NULL means the default. */
typedef struct velum_options {
  uint32_t node_id;           /* 1, 2, ... unique in the mesh (required) */
  uint16_t port;              /* TCP and gossip (UDP) port; 0: 8000 + node_id */
  uint16_t discovery_port;    /* UDP beacon port; default 8888; 0: no beacons */
  bool broadcast;             /* beacons to the LAN's broadcast addresses; default on */
  const char* home;           /* default $VELUM_HOME or ~/.velum */
  const char* bind;           /* address to listen on; default 0.0.0.0 */
  const char* advertise;      /* address peers reach us at; default: bind if not
                                 0.0.0.0, else the first non-loopback IPv4 */
  const char* cluster_key;    /* key file; default HOME/cluster.key, made if missing */
  const char* const* joins;   /* seeds "HOST:PORT" (their TCP/gossip port) ... */
  size_t njoins;              /* ... and how many */
  const char* const* beacons; /* extra unicast beacon targets "HOST:PORT" ... */
  size_t nbeacons;            /* ... and how many */
  uint32_t slots;             /* executor processes offered to the mesh; default 2 */
  velum_engine engine;        /* default VELUM_ENGINE_AUTO */
  uint32_t max_module_mib;    /* largest module accepted; default 64 */
  uint32_t max_memory_mib;    /* linear memory per instance run here; default 256 */
  uint32_t max_call_ms;       /* one export call run here; default 300000 */
  velum_log log;              /* default VELUM_LOG_DEFAULT */
  uint32_t compile_jobs;      /* AOT compiles at once, 1..64; default 1 */
  uint32_t max_cache_mib;     /* HOME/modules + HOME/aot, LRU-evicted; default 1024; 0: none */
} velum_options;

/* Fills `options` with the defaults of ./node (node_id 0: set it). Does not block. */
VELUM_EXPORT void velum_options_default(velum_options* options);

/* Starts this process's node and joins the mesh: velum_init_with with the defaults and the
 * given id and port (0: 8000 + node_id). Returns VELUM_OK or an error code (message in
 * velum_last_error). Blocks briefly (sockets, executor processes); peers are found in the
 * background: see velum_wait_peers. */
VELUM_EXPORT int velum_init(uint32_t node_id, uint16_t port);
VELUM_EXPORT int velum_init_with(const velum_options* options);

/* Leaves the mesh gracefully (peers mark this node "left" at once) and stops everything:
 * running calls and jobs are cancelled (their handles stay valid and report the outcome),
 * the executors end. Blocks until then (usually well under a second). Does nothing when not
 * initialized. velum_init may be called again afterwards. Runs at exit (atexit) if the
 * program has not called it. */
VELUM_EXPORT void velum_shutdown(void);

/* This node's id, 0 when not initialized. Does not block. */
VELUM_EXPORT uint32_t velum_node_id(void);

/* Peers alive or suspect now (not counting this node); 0 when not initialized. */
VELUM_EXPORT size_t velum_peers_alive(void);

/* Blocks until at least `n` peers are alive and linked to this node (ready to take calls and
 * chunks), or `timeout_ms` passes (< 0: no limit). Returns VELUM_OK, VELUM_ERR_TIMEOUT,
 * VELUM_ERR_NOT_INITIALIZED, or VELUM_ERR_CANCELLED if velum_shutdown is called meanwhile. */
VELUM_EXPORT int velum_wait_peers(size_t n, int timeout_ms);

/* ---- Results ---- */

typedef enum velum_type { VELUM_I32 = 0, VELUM_I64 = 1, VELUM_F32 = 2, VELUM_F64 = 3 } velum_type;

typedef struct velum_value {
  velum_type type;
  union {
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
  } as;
} velum_value;

#define VELUM_MAX_VALUES 16
#define VELUM_ERROR_SIZE 512

/* The outcome of a call or a job, returned by value. For a scatter, values are reduced in 64
 * bits: integer results come back as VELUM_I64, f32 sums as VELUM_F64. */
typedef struct velum_result {
  int code;                     /* VELUM_OK, VELUM_PENDING (waits only) or an error */
  char error[VELUM_ERROR_SIZE]; /* one line, "" when code is VELUM_OK or VELUM_PENDING */
  size_t nvalues;               /* results of the export, in order */
  velum_value values[VELUM_MAX_VALUES];
  uint32_t node;     /* single call: the node it ran on */
  char engine[8];    /* single call: "interp" or "aot" */
  double elapsed_ms; /* single call: time of the call where it ran;
                        scatter: from submission to the end (or now) */
  uint64_t job;      /* scatter: the job's id on this node */
  uint32_t workers;  /* scatter: nodes that completed chunks */
  uint64_t chunks;   /* scatter: chunks the range was cut into so far */
  uint64_t items_done, items_total;
  uint64_t reassigned;    /* chunks moved off a lost or slow worker */
  uint64_t recomputed;    /* items computed twice: in flight on a lost worker, or done by
                             the losing copy of a straggler's backup */
  uint64_t stale_reports; /* reports of superseded attempts, ignored */
  int64_t detection_ms;   /* slowest failure detection during the job; -1: none */
} velum_result;

/* ---- One call ---- */

/* Runs export `func` of the module at `path` once, on the best live node (this one or a
 * peer). argv holds argc arguments as text, parsed against the export's signature ("-5",
 * "0x10", "3.5", "inf", "nan"). Blocks until the answer. The export's results must be
 * i32, i64, f32 or f64. */
VELUM_EXPORT velum_result velum_spawn_wasm(const char* path, const char* func, int argc,
                                           const char* const* argv);

/* The same without blocking. Reading the module and checking the arguments happen now (an
 * error returns NULL, see velum_last_error); the call then runs on a thread of its own. */
typedef struct velum_call velum_call;
VELUM_EXPORT velum_call* velum_spawn_wasm_async(const char* path, const char* func, int argc,
                                                const char* const* argv);
/* Waits up to `timeout_ms` (< 0: no limit, 0: just look) for the call. Returns VELUM_PENDING
 * if it has not ended, else the call's code; fills *out (if not NULL) either way. Can be
 * called again after the end (same answer). */
VELUM_EXPORT int velum_call_wait(velum_call* call, int timeout_ms, velum_result* out);
/* Asks the call to stop (the executor running it is stopped; a remote call is cancelled on
 * its node). Returns at once: VELUM_OK, or VELUM_ERR_INVALID_ARGUMENT if it has ended. The
 * wait then returns VELUM_ERR_CANCELLED (or the answer, if that came first). */
VELUM_EXPORT int velum_call_cancel(velum_call* call);
/* Frees the handle. Does not cancel: a call still running finishes and is forgotten. */
VELUM_EXPORT void velum_call_release(velum_call* call);

/* ---- Scatter: one export over a range, on every live node ---- */

typedef enum velum_reducer {
  VELUM_REDUCE_SUM = 0, /* element-wise; integers wrap modulo 2^64, floats add in f64 */
  VELUM_REDUCE_MIN = 1,
  VELUM_REDUCE_MAX = 2,
  VELUM_REDUCE_FIRST = 3, /* result of the lowest sub-range that is not all zeros (search) */
  /* An export of the module, named by reduce_export, combines two results: its type is
   * (T..., T...) -> (T...) where T... are func's results, lower range first. Associative; need
   * not be commutative: it is applied in range order, so the answer is the same however the
   * range is cut. Checked when the job is submitted. */
  VELUM_REDUCE_EXPORT = 4
} velum_reducer;

typedef struct velum_scatter_options {
  velum_reducer reducer;   /* default VELUM_REDUCE_SUM */
  uint64_t chunk_items;    /* fixed chunk size; 0 (default): sized from measured speed */
  bool exclude_self;       /* this node coordinates but does not compute */
  uint32_t timeout_ms;     /* per call of the export (one slice); default 60000 */
  uint32_t max_memory_mib; /* per instance; default 256 */
  /* VELUM_REDUCE_EXPORT: the name of the combining export (read only with that reducer, so a
   * program built before this field existed never has it read). Default NULL. */
  const char* reduce_export;
} velum_scatter_options;

VELUM_EXPORT void velum_scatter_options_default(velum_scatter_options* options);

/* Runs export `func(start, end)` over [start, end) cut into chunks on every live worker,
 * with checkpoints, reassignment of lost work, and reduction. The export takes (i32, i32) or
 * (i64, i64) and returns its partial results for the sub-range it is given. `options` NULL:
 * the defaults. Blocks until the job ends. */
VELUM_EXPORT velum_result velum_scatter(const char* path, const char* func, int64_t start,
                                        int64_t end, const velum_scatter_options* options);

/* velum_scatter with the default options (sum). */
VELUM_EXPORT velum_result velum_spawn_wasm_distributed(const char* path, const char* func,
                                                       int64_t start, int64_t end);

/* The same without blocking: the job is submitted (and journaled) now and runs on the mesh.
 * An error returns NULL (see velum_last_error). */
typedef struct velum_job velum_job;
VELUM_EXPORT velum_job* velum_scatter_async(const char* path, const char* func, int64_t start,
                                            int64_t end, const velum_scatter_options* options);
/* Waits up to `timeout_ms` (< 0: no limit, 0: just look) for the job to end. Returns
 * VELUM_PENDING if it is still running (*out then holds its progress figures), else the
 * job's code (VELUM_OK, VELUM_ERR_JOB_FAILED, VELUM_ERR_CANCELLED, ...). Fills *out if not
 * NULL. Can be called again after the end (same answer), also after velum_shutdown. */
VELUM_EXPORT int velum_job_wait(velum_job* job, int timeout_ms, velum_result* out);
/* Cancels the job everywhere. Returns at once: VELUM_OK, or VELUM_ERR_INVALID_ARGUMENT if it
 * has already ended. */
VELUM_EXPORT int velum_job_cancel(velum_job* job);
/* The job's id on this node (the shell's `jobs` shows it); 0 for a NULL handle. */
VELUM_EXPORT uint64_t velum_job_id(const velum_job* job);
/* Fraction of the range done, in [0, 1]; -1 for a NULL handle. Does not block for long. */
VELUM_EXPORT double velum_job_progress(velum_job* job);
/* Frees the handle. Does not cancel: the job runs to its end on the node. */
VELUM_EXPORT void velum_job_release(velum_job* job);
/* A handle on a job this node coordinates, by its id (velum_job_id, the shell's `jobs`): a
 * running one, or a finished one its journal keeps (the last 256), also one that ended before
 * the node restarted with the same id and home. velum_job_wait then gives its result or
 * failure, velum_job_output its output (as far as the journal kept it). NULL if the node
 * knows no such job (VELUM_ERR_INVALID_ARGUMENT) or is not running; see velum_last_error. */
VELUM_EXPORT velum_job* velum_job_open(uint64_t id);

/* What the slices of an export that imports WASI wrote (printf): one block per stream of each
 * slice whose result the job kept, in range order, each slice's once. At most 64 KiB per
 * stream and slice, 1 MiB per job. Known once velum_job_wait has returned the job's end. */
typedef enum velum_stream { VELUM_STDOUT = 1, VELUM_STDERR = 2 } velum_stream;
typedef struct velum_output {
  uint32_t node;      /* where the slice ran */
  int64_t start, end; /* the slice's items [start, end) */
  velum_stream stream;
  const char* data; /* `size` bytes then a NUL; valid until the handle is released */
  size_t size;
  bool truncated; /* the slice wrote more than 64 KiB on a stream: cut there */
} velum_output;
/* The number of blocks (0 while the job runs, or for a NULL handle). *incomplete (if not NULL)
 * is set when the job's output passed 1 MiB and the rest was dropped, or when its coordinator
 * restarted (output is not journaled). */
VELUM_EXPORT size_t velum_job_output_count(velum_job* job, bool* incomplete);
/* Block `index` into *out: VELUM_OK, or VELUM_ERR_INVALID_ARGUMENT (NULL, index past the
 * count). */
VELUM_EXPORT int velum_job_output(velum_job* job, size_t index, velum_output* out);

/* ---- WASI commands, run on this node or on the mesh ---- */

/* The most stdin bytes a command is given (4 MiB): they travel to the sandbox in one frame. */
#define VELUM_MAX_STDIN_BYTES (4u << 20)

/* A directory of this machine that a command may reach; it reaches nothing else of the file
 * system. */
typedef struct velum_dir {
  const char* host;  /* the directory here (required) */
  const char* guest; /* the program's name for it: "/data", "."; NULL: `host` as written */
  bool read_only;    /* the program may read it, never change it */
} velum_dir;

/* Receives a command's output as the program writes it: `stream` 1 is stdout, 2 stderr;
 * `size` bytes at `data` (not NUL-terminated), valid during the call only. */
typedef void (*velum_output_fn)(void* context, int stream, const char* data, size_t size);

/* Options of velum_run_command. Fill with velum_command_options_default first, then change
 * fields. Strings and arrays are copied before velum_run_command returns; NULL means none. */
typedef struct velum_command_options {
  const char* argv0;         /* the program's argv[0]; NULL: the file's name ("wc.wasm") */
  const char* const* args;   /* argv[1], argv[2], ... */
  size_t nargs;              /* ... and how many */
  const char* const* env;    /* "NAME=VALUE" each: the program's whole environment ... */
  size_t nenv;               /* ... and how many */
  const void* stdin_data;    /* the program's stdin, then end of file; NULL: empty */
  size_t stdin_size;         /* at most VELUM_MAX_STDIN_BYTES (else VELUM_ERR_LIMIT) */
  const velum_dir* dirs;     /* preopened directories, fds 3, 4, ... in order ... */
  size_t ndirs;              /* ... and how many (at most 63) */
  velum_engine engine;       /* default VELUM_ENGINE_AUTO: the node's engine */
  uint32_t timeout_ms;       /* default 60000; at most the node's max_call_ms */
  uint32_t max_memory_mib;   /* linear memory; default 256; at most the node's */
  uint64_t max_output_bytes; /* of stdout and of stderr each; default and most 6 MiB */
  /* Set: each write of the program goes to on_output as it arrives, in order, on the thread
   * that called velum_run_command, and the handle's stdout and stderr stay empty. */
  velum_output_fn on_output; /* must return (no longjmp, no C++ exception) */
  void* output_context;      /* passed to on_output */
  /* false (the default): the program runs on this node's executors, as described above.
   * true: on a node of the mesh, the best one (`node` 0) or node `node` (this node's own id
   * runs it here the same way). Its stdin bytes and its directories' files travel to that
   * node by content (a file the node already has is not sent again); every directory must
   * be read_only, `engine` must be VELUM_ENGINE_AUTO (the worker chooses) and the worker's
   * own output cap applies (max_output_bytes is for this node's executors). */
  bool on_mesh;
  uint32_t node;
  /* With on_mesh: a folder of this machine (created if missing). The program gets an empty
   * writable /out; when it exits, each file it left there is written under this folder,
   * whole or not at all. NULL: no /out. */
  const char* out_dir;
} velum_command_options;

/* Fills `options` with the defaults. Does not block. */
VELUM_EXPORT void velum_command_options_default(velum_command_options* options);

/* The outcome of a command that ran to its end: exit code and captured output. */
typedef struct velum_command velum_command;

/* Runs the WASI command (a module exporting _start) at `path`: on this node's executors (its
 * stdin, output and directories are this process's), or on the mesh with `on_mesh`.
 * `options` NULL: the defaults. Blocks until the program exits. Returns a handle (release it with
 * velum_command_release) whatever the exit code; NULL when it could not run or did not end
 * by exiting: a missing file or directory, not a command, a trap, the deadline, ... (see
 * velum_last_error and velum_last_error_code; output written before a trap is lost). */
VELUM_EXPORT velum_command* velum_run_command(const char* path,
                                              const velum_command_options* options);
/* The program's exit code: 0 when _start returned, else what it passed to exit(). */
VELUM_EXPORT uint32_t velum_command_exit_code(const velum_command* command);
/* What the program wrote to stdout or stderr: `*size` bytes (if `size` is not NULL), then a
 * NUL byte (the output may hold NULs of its own). Valid until the handle is released; ""
 * for a NULL handle. */
VELUM_EXPORT const char* velum_command_stdout(const velum_command* command, size_t* size);
VELUM_EXPORT const char* velum_command_stderr(const velum_command* command, size_t* size);
/* Whether stdout or stderr reached max_output_bytes and was cut there (the program's further
 * writes failed). */
VELUM_EXPORT bool velum_command_truncated(const velum_command* command);
/* The id of the node that ran the command; 0 for a NULL handle. */
VELUM_EXPORT uint32_t velum_command_node(const velum_command* command);
/* Frees the handle and its output. NULL: nothing. */
VELUM_EXPORT void velum_command_release(velum_command* command);

/* ---- Map: a WASI command once per item, over every live node ---- */

/* A cancel token: velum_cancel_trigger on any thread stops every map given it (now, or at its
 * start if triggered before). One token may serve several maps at once; it stays triggered. */
typedef struct velum_cancel velum_cancel;
/* A new token, not triggered; NULL only when out of memory. Does not need velum_init. */
VELUM_EXPORT velum_cancel* velum_cancel_create(void);
/* Triggers the token: the maps using it stop their items and return VELUM_ERR_CANCELLED.
 * Returns at once. NULL: nothing. */
VELUM_EXPORT void velum_cancel_trigger(velum_cancel* cancel);
/* Frees the token; not while a map that was given it is running. NULL: nothing. */
VELUM_EXPORT void velum_cancel_release(velum_cancel* cancel);

/* One item of a map: its bytes are the program's stdin, its name is VELUM_INPUT (and
 * VELUM_ITEM its index) in the program's environment. */
typedef struct velum_map_item {
  const char* name;     /* required, not empty; under out_dir, its output's name ... */
  const char* out_name; /* ... unless this is set (a relative path, no "." or "..") */
  const char* path;     /* its bytes: this regular file's, sent to workers by content ... */
  const void* data;     /* ... or, when path is NULL, these `size` bytes (NULL: empty). At */
  size_t size;          /* most VELUM_MAX_STDIN_BYTES each, 64 MiB for all items together */
} velum_map_item;

/* Receives item `item`'s output (its stdout): `size` bytes at `data`, valid during the call. */
typedef void (*velum_map_output_fn)(void* context, uint64_t item, const char* data, size_t size);

/* Options of velum_map. Fill with velum_map_options_default first, then change fields.
 * Strings and arrays are copied before velum_map starts the job; NULL means none. */
typedef struct velum_map_options {
  const char* argv0;       /* the program's argv[0]; NULL: the file's name */
  const char* const* args; /* argv[1], argv[2], ... the same for every item ... */
  size_t nargs;            /* ... and how many */
  const char* const* env;  /* "NAME=VALUE" each; VELUM_ITEM and VELUM_INPUT are added ... */
  size_t nenv;             /* ... and how many */
  uint32_t retries;        /* runs of a failed item after its first, on other nodes if any;
                              default 1, at most 100 */
  uint32_t timeout_ms;     /* per item; default 60000 */
  uint32_t max_memory_mib; /* linear memory per item; default 256 */
  bool exclude_self;       /* this node coordinates only: items run on peers */
  /* Set: each item's output is written to this folder of this machine (created if missing)
   * under its out_name (or name), whole or not at all; on_output must then be NULL. */
  const char* out_dir;
  /* Set (and no out_dir): each item's output, in item order, exactly once, as soon as every
   * earlier item has ended (a failed item passes with none), on the thread that called
   * velum_map. Must return (no longjmp, no C++ exception). Neither set: outputs are dropped. */
  velum_map_output_fn on_output;
  void* output_context; /* passed to on_output */
  velum_cancel* cancel; /* NULL: only velum_shutdown stops the map */
} velum_map_options;

/* Fills `options` with the defaults. Does not block. */
VELUM_EXPORT void velum_map_options_default(velum_map_options* options);

/* What a map did: counts, every failed item, items by node. */
typedef struct velum_map_summary velum_map_summary;

/* Runs the WASI command (a module exporting _start) at `path` once per item, spread over
 * every live node with slots (this one included unless exclude_self), each item retried on
 * another node if it fails; blocks until every item has ended. `options` NULL: the
 * defaults. Returns VELUM_OK when every item has ended, ok or failed (the failures are in the
 * summary); VELUM_ERR_CANCELLED (by the token or velum_shutdown) or VELUM_ERR_JOB_FAILED (no
 * worker for 30 s, ...) with the summary of what had ended; or an error before the job
 * started (bad arguments, no items, not a command, two items with one output name, ...:
 * *summary is then NULL). Message in velum_last_error. *summary (if `summary` is not NULL)
 * gets a handle to release with velum_map_summary_release. */
VELUM_EXPORT int velum_map(const char* path, const velum_map_item* items, size_t nitems,
                           const velum_map_options* options, velum_map_summary** summary);

/* The job's id on this node (the shell's `jobs --all`, `result JOB`); 0 for NULL. */
VELUM_EXPORT uint64_t velum_map_summary_job(const velum_map_summary* summary);
/* Items in the job, and those that ended ok. */
VELUM_EXPORT uint64_t velum_map_summary_items(const velum_map_summary* summary);
VELUM_EXPORT uint64_t velum_map_summary_ok(const velum_map_summary* summary);
/* Milliseconds from the job's start to its end. */
VELUM_EXPORT double velum_map_summary_elapsed_ms(const velum_map_summary* summary);
/* Runs handed back after a lost worker or a failure. */
VELUM_EXPORT uint64_t velum_map_summary_reruns(const velum_map_summary* summary);
/* The absolute out_dir, "" without one. Valid until the handle is released. */
VELUM_EXPORT const char* velum_map_summary_out_dir(const velum_map_summary* summary);

/* A failed item: its last run's node, exit code, error and the tail of its stderr. */
typedef struct velum_map_failure {
  uint64_t item;
  const char* name; /* the item's name (VELUM_INPUT) */
  uint32_t node;
  uint32_t exit_code;
  const char* error;       /* "exit code 3", a trap, a limit, ... */
  const char* stderr_tail; /* its last (at most 512) bytes of stderr, `stderr_size` of */
  size_t stderr_size;      /* them, then a NUL. Strings valid until the handle is released */
} velum_map_failure;
/* Failed items, in item order. */
VELUM_EXPORT size_t velum_map_summary_failure_count(const velum_map_summary* summary);
/* Failure `index` into *out: VELUM_OK, or VELUM_ERR_INVALID_ARGUMENT (NULL, index past the
 * count). */
VELUM_EXPORT int velum_map_summary_failure(const velum_map_summary* summary, size_t index,
                                           velum_map_failure* out);
/* Nodes that ran items ok, by id, and how many each. */
VELUM_EXPORT size_t velum_map_summary_node_count(const velum_map_summary* summary);
/* Node `index` (by id) into *node and *items: VELUM_OK or VELUM_ERR_INVALID_ARGUMENT. */
VELUM_EXPORT int velum_map_summary_node(const velum_map_summary* summary, size_t index,
                                        uint32_t* node, uint64_t* items);
/* Frees the summary. NULL: nothing. */
VELUM_EXPORT void velum_map_summary_release(velum_map_summary* summary);

/* Items made from paths, as the shell's `map ... ::: INPUT...` makes them: a file is one item
 * named by its file name; a folder gives one per regular file in it, named by its path under
 * the folder, sorted (subfolders too if `recursive`); with `lines`, each line of each of
 * those files is an item instead (its bytes with the newline, named "FILE:N", its output
 * "NNNNNNNN.out"). Does not need velum_init. NULL on error (a missing path, more than
 * 1000000 items, over 64 MiB of lines; see velum_last_error). */
typedef struct velum_map_inputs velum_map_inputs;
VELUM_EXPORT velum_map_inputs* velum_map_inputs_collect(const char* const* paths, size_t npaths,
                                                        bool recursive, bool lines);
/* The items, *count of them (if `count` is not NULL), to pass to velum_map; valid until the
 * handle is released. */
VELUM_EXPORT const velum_map_item* velum_map_inputs_items(const velum_map_inputs* inputs,
                                                          size_t* count);
/* Frees the items. NULL: nothing. */
VELUM_EXPORT void velum_map_inputs_release(velum_map_inputs* inputs);

#ifdef __cplusplus
}
#endif

#endif /* VELUM_VELUM_H_ */
