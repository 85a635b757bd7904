// The node kernel: membership, job coordinator and worker cores, transport, executor pool and
// journal, around one Asio event loop thread. Public methods are thread-safe: they post into
// the loop and wait for the answer.
#ifndef VELUM_NODE_NODE_H_
#define VELUM_NODE_NODE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/coordinator.h"
#include "core/types.h"
#include "node/node_metrics.h"
#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/module.h"
#include "runtime/value.h"

namespace velum {

struct CallSpec;     // runtime/executor_pool.h
struct CallOutcome;  // runtime/executor_pool.h

struct NodeOptions {
  uint32_t id = 0;
  // 0: 8000 + id, or a free port the system picks when that one is taken (port() says which).
  // A port given is used or the start fails.
  uint16_t port = 0;
  // Loopback only: bind and advertise 127.0.0.1, no LAN broadcast, beacons heard on loopback.
  bool local = false;
  uint16_t discovery_port = 8888;      // 0: no beacons at all
  bool broadcast = true;               // beacons to the LAN broadcast addresses (off in tests)
  std::vector<std::string> joins;      // seeds HOST:PORT (gossip port = TCP port)
  std::vector<std::string> beacon_to;  // extra unicast beacon targets HOST:PORT (discovery port)
  std::string bind = "0.0.0.0";
  std::string advertise;              // host others reach us at; empty: first non-loopback IPv4
  std::filesystem::path home;         // empty: $VELUM_HOME or ~/.velum
  std::filesystem::path cluster_key;  // empty: <home>/cluster.key, created if missing
  uint32_t slots = 2;
  EngineKind engine = EngineKind::kAuto;
  // This node's own limits as a worker, whatever a coordinator or caller asks.
  uint64_t max_module_bytes = Module::kDefaultMaxBytes;  // modules it accepts, from users or peers
  uint32_t max_call_ms = 300000;                         // per export call
  uint32_t max_memory_mib = 256;                         // linear memory per instance
  // AOT compiles at once (a queue holds the rest); each runs up to
  // AotUnits::max_parallel_units cc when its module is large (runtime/aot_budget.h).
  uint32_t compile_jobs = 1;
  uint64_t max_cache_bytes = 1024ull << 20;  // <home>/modules and <home>/aot together; 0: none
  core::CoordinatorConfig coordinator;       // scheduling of the jobs this node coordinates
  // After the start: another live process turned out to hold this id first (the message says
  // where). The node has stopped without a word to the mesh. Called on the node's thread.
  std::function<void(const std::string& message)> on_refused;
};

// `scatter`: run FUNC over [start, end) on every live worker and reduce.
struct ScatterRequest {
  std::filesystem::path path;  // the module's file, read by this node ...
  ModulePtr module;            // ... unless already loaded
  std::string func;
  int64_t start = 0, end = 0;
  core::ReducerKind reducer = core::ReducerKind::kSum;
  // kModule: the export that combines two results, (T..., T...) -> (T...) where T... are
  // func's results, lower range first; checked before the job is accepted. Else empty.
  std::string reduce_func;
  uint64_t chunk_items = 0;  // fixed chunk size; 0: sized from measured throughput
  bool exclude_self = false;
  uint32_t timeout_ms = 60000;    // per call (a slice)
  uint32_t max_memory_mib = 256;  // per instance
};

struct WorkerRow {
  uint32_t id = 0;
  uint64_t chunks = 0;  // completed
  uint64_t items = 0;   // of the result, computed there
  double seconds = 0;   // executor time there
  uint64_t held = 0;    // a running job: items it holds and has not yet reported done
};

// One worker lost during a job: what its loss cost (backups' duplicate work is not in here).
struct FailureRow {
  uint32_t worker = 0;
  int64_t detection_ms = 0;       // from the last word heard from it to its loss
  uint32_t attempts = 0;          // active attempts it held
  uint64_t reassigned_items = 0;  // left to do in them, handed to other workers
  uint64_t recomputed_items = 0;  // in flight beyond their checkpoints: computed again
};

// What one slice of a WASI export wrote on one stream, tagged with where it ran.
struct OutputBlock {
  uint32_t node = 0;
  int64_t start = 0, end = 0;                               // the slice's items [start, end)
  core::OutputStream stream = core::OutputStream::kStdout;  // OutputStreamName gives its word
  std::string data;
  bool truncated = false;  // the slice wrote more than 64 KiB on a stream: cut there
};

// How much of a job's summary is known: all of it, or (read back from the journal) only its
// spec, state, result, error and figures, because the record predates the journal keeping
// details (an older node wrote it) or its details do not decode (damaged on disk).
enum class JobDetails : uint8_t { kKept, kNotRecorded, kDamaged };

struct JobSummary {
  uint64_t id = 0;
  core::JobState state = core::JobState::kRunning;  // JobStateName gives its word
  std::string label;                                // the module's file name
  std::string func;
  int64_t start = 0, end = 0;
  core::ReducerKind reducer = core::ReducerKind::kSum;
  std::string reduce_func;        // kModule: the reducer export
  std::vector<core::Num> result;  // done: the reduced values
  std::string error;              // failed or cancelled: why
  uint64_t items_done = 0, items_total = 0;
  double elapsed_ms = 0;
  bool resumed = false;  // restored from the journal after this node restarted
  size_t chunks = 0;
  std::vector<WorkerRow> workers;
  uint64_t reassigned = 0, reassigned_items = 0, recomputed = 0, stale_reports = 0;
  uint64_t backups = 0, retries = 0;
  int64_t detection_ms = -1;         // the slowest failure detection during the job; -1: none
  std::vector<FailureRow> failures;  // the first 64 workers lost during the job
  // A WASI export's output: of each slice whose result was accepted, once, in range order
  // (a recomputed or backup slice's output is not repeated); for a job failed by a slice,
  // that slice's output last. Empty in the list of Node::Jobs (only Job and WaitJob fill it).
  std::vector<OutputBlock> output;
  bool output_truncated = false;  // past 1 MiB in all (core::kMaxJobOutputBytes), more was dropped
  bool output_lost = false;       // output before the coordinator's restart is not kept
  // Failed by a slice's error: its kind (TaskError::kind), the worker's words, node and items.
  std::optional<core::JobFailure> failure;
  // Read back from the journal: a job that ended before this node's restart (or one no longer
  // held in memory). Its details (workers, losses, output) are what the journal recorded.
  bool from_journal = false;
  JobDetails details = JobDetails::kKept;
  bool finished() const { return state != core::JobState::kRunning; }
};

// `wasm`: one call of an export, on the best live peer (or here).
struct CallOptions {
  bool local = false;   // run here even when peers are alive
  uint32_t target = 0;  // a specific node (0: the best one)
  uint32_t timeout_ms = 60000;
  uint32_t max_memory_mib = 256;
};
struct CallReply {
  std::vector<Value> values;
  uint32_t node = 0;  // where it ran
  double elapsed_ms = 0;
  std::string engine;  // interp or aot
  std::string note;    // e.g. why the call moved to another node
};

// `wasm [OPTIONS] FILE ARGS`: a WASI command (a module exporting _start) run once, on the
// best live peer (or here). Its folders and stdin travel by content (a file the worker has
// already is not sent again); its output comes back while it runs.
struct CommandOptions {
  bool local = false;   // run here even when peers are alive
  uint32_t target = 0;  // a specific node (0: the best one)
  uint32_t timeout_ms = 60000;
  uint32_t max_memory_mib = 256;
  std::vector<std::string> args;  // argv, argv[0] first (not empty)
  std::vector<std::string> env;   // NAME=VALUE, nothing else of any host's environment
  std::optional<std::filesystem::path> stdin_file;  // unset: empty stdin (or stdin_bytes)
  std::optional<std::string> stdin_bytes;  // stdin given as bytes (at most 4 MiB), not a file
  struct Dir {
    std::filesystem::path host;
    std::string guest;  // the program's name for it ("/data", "."); not empty
  };
  std::vector<Dir> ro_dirs;  // sent and preopened read-only
  // Set: the program gets an empty writable /out whose files are written here (created if
  // missing) when it exits, each whole or not at all.
  std::optional<std::filesystem::path> out_dir;
  // Each write of the program as it arrives (stream 1 or 2), on the caller's thread, in
  // order; unset: the output is in the reply.
  std::function<void(int stream, const std::string& data)> on_output;
};
struct CommandReply {
  uint32_t exit_code = 0;
  std::string stdout_data, stderr_data;  // when no on_output was given
  bool truncated = false;                // output hit the cap
  std::optional<Error> failure;          // it trapped (or hit a limit) after its output
  std::vector<std::string> out_files;    // written into out_dir, by path under it
  uint32_t node = 0;
  double elapsed_ms = 0;
  std::string engine;
  std::string note;
};

// `map`: a WASI command run once per item over the mesh, each item's bytes on its stdin.
struct MapItem {
  std::string name;      // VELUM_INPUT; its output's name under out_dir (a relative path) ...
  std::string out_name;  // ... unless this is set (a line's: NNNNNNNN.out)
  std::optional<std::filesystem::path> file;  // its bytes: this file's, sent by content ...
  std::string bytes;                          // ... or these (a line), when no file
};
struct MapRequest {
  std::vector<std::string> args;  // argv, argv[0] first (not empty)
  std::vector<std::string> env;   // NAME=VALUE; VELUM_ITEM and VELUM_INPUT are added per item
  std::vector<MapItem> items;
  // Set: each item's output is written here under its name, whole or not at all; unset: each
  // goes to on_output.
  std::optional<std::filesystem::path> out_dir;
  uint32_t retries = 1;         // runs of a failed item after its first, on other nodes if any
  bool exclude_self = false;    // this node coordinates only: its slots are left to other work
  uint32_t timeout_ms = 60000;  // per item
  uint32_t max_memory_mib = 256;
  // Each output in item order, exactly once, as soon as every earlier item has ended (a
  // failed item passes with none); on the caller's thread.
  std::function<void(uint64_t item, const std::string& output)> on_output;
  // Once the job has its id and is in the journal, before any item runs; on the caller's
  // thread. (The HTTP API answers a submission with the id while the job runs.)
  std::function<void(uint64_t job)> on_started;
};
struct MapFailure {
  uint64_t item = 0;
  std::string input;  // its name
  uint32_t node = 0;  // where it failed last
  uint32_t exit_code = 0;
  std::string error;        // a trap, a limit, or "exit code N"
  std::string stderr_tail;  // the last bytes it wrote to stderr
};
struct MapSummary {
  uint64_t job = 0;
  core::JobState state = core::JobState::kRunning;
  std::string error;  // a job-level failure (kFailed, kCancelled)
  uint64_t items = 0, ok = 0;
  std::vector<MapFailure> failed;        // every failed item, by item
  std::map<uint32_t, uint64_t> workers;  // items each node finished
  uint64_t reruns = 0;                   // runs handed back after a loss or a failure
  double elapsed_ms = 0;
  std::string out;       // out_dir, if one
  bool resumed = false;  // finished after this node restarted
};

struct JobCounters {
  uint64_t modules_fetched = 0, module_bytes_fetched = 0, modules_served = 0;
  uint64_t calls_served = 0, slices_run = 0, commands_served = 0;
  uint64_t command_files_fetched = 0, command_bytes_fetched = 0;  // inputs received by content
  uint64_t jobs_running = 0, jobs_resumed = 0;
};

// The node's HTTP server (src/http), when it serves one: counted there, shown by `status`.
struct HttpCounters {
  std::string address;  // "127.0.0.1:8080"; empty: no HTTP server
  uint64_t requests = 0;
  uint64_t unauthorized = 0;  // answered 401: no token or a wrong one
};

struct PeerInfo {
  uint32_t id = 0;
  std::string addr;
  core::MemberState state = core::MemberState::kAlive;  // StateName gives its word
  uint64_t incarnation = 0;
  uint32_t slots = 0;
  std::vector<std::string> engines;
  uint32_t load = 0;
  std::string version;
  int64_t last_heard_ms_ago = -1;  // -1: never heard directly
  bool link_up = false;
  int64_t link_rtt_us = -1;  // round trip of the last heartbeat on the link; -1: none yet
};

struct NodeStatus {
  uint32_t id = 0;
  std::string addr;
  uint64_t incarnation = 0;
  uint64_t uptime_ms = 0;
  size_t alive_peers = 0;  // other members alive or suspect
  size_t known_members = 0;
  uint64_t datagrams_accepted = 0;
  uint64_t datagrams_dropped = 0;  // malformed, misdirected, bad MAC, stale or replayed
  uint64_t dropped_bad_mac = 0, dropped_malformed = 0, dropped_stale = 0, dropped_replayed = 0;
  uint64_t dropped_misdirected = 0;  // sealed for another destination (a replay elsewhere)
  uint64_t undecodable = 0;          // authenticated but not a valid message
  // Job frames from a peer held dead or left, kept until it is live again; dropped: its link
  // went down first, or they were too many or too old (JobDriver::HeldFrames).
  uint64_t frames_held = 0, frames_held_dropped = 0;
  uint64_t links_up = 0;
  uint64_t links_refused = 0;  // TCP connections dropped before or at authentication, by
  uint64_t handshakes_timed_out = 0, handshakes_evicted = 0, handshakes_failed = 0;  // reason
  uint64_t probes = 0, suspicions = 0, declared_dead = 0, refutations = 0;
  // Why peers may be missing, by reason (each also said once in the log, at info level).
  uint64_t wrong_key_datagrams = 0, wrong_key_sources = 0;  // under another cluster key
  uint64_t duplicate_id_claims = 0;  // a live member's id claimed from another address
  uint64_t own_id_elsewhere = 0;     // messages from another process with this node's id
  uint64_t seeds_silent = 0;         // rounds of requests to a --join seed left unanswered
  std::string home;
  uint32_t slots = 0, busy_slots = 0;
  JobCounters jobs;
  HttpCounters http;
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Start(NodeOptions options);
  ~Node();  // leaves the mesh if still in it, stops the loop

  std::vector<PeerInfo> Peers();  // every other known member, by id
  NodeStatus Status();
  // Every figure for monitoring (node_metrics.h); reads the cache directory on the caller's
  // thread, the rest from the loop and the counters of the parts that own them.
  NodeMetrics Metrics();
  size_t AlivePeers();
  // Leaves gracefully: peers mark this node "left" without waiting for a timeout.
  void Leave();
  uint32_t id() const;
  uint16_t port() const;  // the TCP and gossip port in use
  const NodeOptions& options() const;

  // Reads a module the user named (checked against max_module_bytes) and keeps it in the
  // module store, where peers that need it fetch it.
  Result<ModulePtr> LoadModule(const std::filesystem::path& path);

  // One call of an export. Blocks; `cancel` (set by another thread, e.g. on Ctrl-C) stops it.
  Result<CallReply> Call(const ModulePtr& module, const std::string& func,
                         const std::vector<Value>& args, const CallOptions& options,
                         const std::atomic<bool>* cancel = nullptr);

  // One WASI command, here or on the best peer. Blocks; `cancel` stops it everywhere.
  Result<CommandReply> RunCommand(const ModulePtr& module, const CommandOptions& options,
                                  const std::atomic<bool>* cancel = nullptr);

  // One executor call run here, never on a peer (a WASI command's stdin, output and
  // directories are this process's): its timeout and memory are clamped to this node's
  // limits (max_call_ms, max_memory_mib), and kAuto is the node's engine. Blocks; the spec's
  // cancel flag stops it.
  Result<CallOutcome> RunLocal(CallSpec spec);

  // Jobs this node coordinates. Submit returns at once with the job's id; the job is in the
  // journal by then, so it survives this node's restart.
  Result<uint64_t> Submit(const ScatterRequest& request);
  // Waits up to `wait` for the job to end; its summary either way (nullopt: unknown job).
  std::optional<JobSummary> WaitJob(uint64_t id, std::chrono::milliseconds wait);
  // A job's summary, with its output. A finished job that this run no longer holds, or that
  // ended before this node restarted, is read from the journal (from_journal); nullopt: the
  // job is unknown (never submitted here, or dropped from the journal's history).
  std::optional<JobSummary> Job(uint64_t id);
  std::vector<JobSummary> Jobs();  // running and recent ones, oldest first
  // A job's attempts over time, per worker, for the dashboard; nullopt: not held in memory
  // (a map job, or one finished before this run or beyond the jobs kept).
  std::optional<core::JobTimeline> JobTimeline(uint64_t id);
  // Running jobs and the finished ones the journal keeps (Journal::kFinishedJobsKept), newest
  // first, without output; an error when the journal cannot be read.
  Result<std::vector<JobSummary>> JobHistory();
  velum::Status CancelJob(uint64_t id);

  // A map job, coordinated here: blocks until every item has ended (or `cancel`). Its
  // progress is journaled item by item: if this node stops, its next start resumes the job
  // (outputs then go only to out_dir; on_output is this call's).
  Result<MapSummary> Map(const ModulePtr& module, MapRequest request,
                         const std::atomic<bool>* cancel = nullptr);
  // Map jobs of this node, running and finished (from its journal), newest first.
  std::vector<MapSummary> Maps();

  // An id from the node's one job sequence (journaled, so never given twice), for work that
  // is tracked outside the job driver: a call submitted through the HTTP API.
  Result<uint64_t> ReserveJobId();
  // The HTTP server's figures, for `status`: it calls these as it serves.
  void SetHttpAddress(const std::string& address);
  void CountHttpRequest(bool unauthorized);
  HttpCounters Http();

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  // Start's body; Start turns anything it throws into an error.
  static Result<std::unique_ptr<Node>> StartChecked(NodeOptions options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace velum

#endif  // VELUM_NODE_NODE_H_
