// The C embedding API (include/velum/velum.h) over velum::Node: the process-wide node and its
// lifecycle, single calls and scatter jobs (blocking or with handles), results as C structs.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "node/node.h"
#include "runtime/home.h"
#include "velum/velum.h"

namespace {

// An enum field of a caller's struct as the integer it holds. C lets any int sit in an enum
// variable; in C++ loading an out-of-range value as the enum type is undefined, so the
// checks below read the bytes instead.
template <class E>
std::underlying_type_t<E> RawEnum(const E& field) {
  std::underlying_type_t<E> raw;
  static_assert(sizeof raw == sizeof field);
  std::memcpy(&raw, &field, sizeof raw);
  return raw;
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using velum::ErrorKind;

const char kNotInitialized[] = "the node is not running: call velum_init first";

// ---- Errors ----------------------------------------------------------------------------

thread_local std::string t_error;
thread_local int t_code = VELUM_OK;

// Records a failure for velum_last_error on this thread; returns `code`.
int Fail(int code, std::string message) {
  t_code = code;
  t_error = std::move(message);
  return code;
}

int CodeOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidModule:
    case ErrorKind::kUnlinkable:
      return VELUM_ERR_INVALID_MODULE;
    case ErrorKind::kExportNotFound:
      return VELUM_ERR_EXPORT_NOT_FOUND;
    case ErrorKind::kBadArguments:
      return VELUM_ERR_INVALID_ARGUMENT;
    case ErrorKind::kTrap:
      return VELUM_ERR_TRAP;
    case ErrorKind::kDeadlineExceeded:
      return VELUM_ERR_DEADLINE;
    case ErrorKind::kMemoryLimitExceeded:
      return VELUM_ERR_MEMORY_LIMIT;
    case ErrorKind::kExecutorCrashed:
      return VELUM_ERR_EXECUTOR;
    case ErrorKind::kIo:
      return VELUM_ERR_IO;
    case ErrorKind::kCancelled:
      return VELUM_ERR_CANCELLED;
    case ErrorKind::kUnavailable:
      return VELUM_ERR_UNAVAILABLE;
    case ErrorKind::kLimitExceeded:
      return VELUM_ERR_LIMIT;
    case ErrorKind::kCompilerUnavailable:
    case ErrorKind::kCompilerFailed:
    case ErrorKind::kInternal:
      return VELUM_ERR_INTERNAL;
  }
  return VELUM_ERR_INTERNAL;
}

int Fail(const velum::Error& error) { return Fail(CodeOf(error.kind), error.ToString()); }

// Records a failure; returns a null handle.
template <typename Handle>
Handle* FailNull(int code, std::string message) {
  Fail(code, std::move(message));
  return nullptr;
}

velum_result EmptyResult() {
  velum_result r;
  std::memset(&r, 0, sizeof r);
  r.detection_ms = -1;
  return r;
}

// A result holding the failure just recorded by Fail.
velum_result FailedResult(int code, const std::string& message) {
  Fail(code, message);
  velum_result r = EmptyResult();
  r.code = code;
  std::snprintf(r.error, sizeof r.error, "%s", message.c_str());
  return r;
}
velum_result FailedResult(const velum::Error& error) {
  return FailedResult(CodeOf(error.kind), error.ToString());
}

// ---- The process-wide node -------------------------------------------------------------

struct Runtime {
  std::mutex lifecycle;  // serializes velum_init and velum_shutdown
  std::mutex mu;         // guards everything below
  std::condition_variable idle;
  std::unique_ptr<velum::Node> node;            // null: not initialized
  uint64_t generation = 0;                      // of the current node; handles remember theirs
  size_t leases = 0;                            // operations using the node right now
  std::atomic<bool> stopping{false};            // velum_shutdown is under way
  std::set<std::atomic<bool>*> cancels;         // flags of the calls in progress
  std::set<velum_job*> jobs;                    // live job handles
  std::shared_ptr<spdlog::logger> host_logger;  // spdlog's default before velum_init
};

// Never destroyed: a call thread still running at exit may touch it.
Runtime& R() {
  static Runtime* runtime = new Runtime;
  return *runtime;
}

// Use of the node by one operation; velum_shutdown waits until no lease is held, so the node
// outlives every operation that started before it. Null node: not initialized or stopping.
class Lease {
 public:
  Lease() {
    Runtime& r = R();
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.node && !r.stopping) {
      node_ = r.node.get();
      generation_ = r.generation;
      r.leases++;
    }
  }
  Lease(Lease&& other) noexcept : node_(other.node_), generation_(other.generation_) {
    other.node_ = nullptr;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() {
    if (!node_) return;
    Runtime& r = R();
    std::lock_guard<std::mutex> lock(r.mu);
    if (--r.leases == 0) r.idle.notify_all();
  }
  velum::Node* node() const { return node_; }
  uint64_t generation() const { return generation_; }

 private:
  velum::Node* node_ = nullptr;
  uint64_t generation_ = 0;
};

// Registers a call's cancel flag, so velum_shutdown can stop the call.
class CancelScope {
 public:
  explicit CancelScope(std::atomic<bool>* flag) : flag_(flag) {
    std::lock_guard<std::mutex> lock(R().mu);
    R().cancels.insert(flag_);
    if (R().stopping) flag_->store(true);
  }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  ~CancelScope() {
    std::lock_guard<std::mutex> lock(R().mu);
    R().cancels.erase(flag_);
  }

 private:
  std::atomic<bool>* flag_;
};

// The logger of ./node: warnings (or everything) on stderr, info in HOME/logs/node-ID.log.
void InstallLogger(velum_log mode, uint32_t id, const std::filesystem::path& home) {
  std::vector<spdlog::sink_ptr> sinks;
  if (mode != VELUM_LOG_QUIET) {
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_level(mode == VELUM_LOG_VERBOSE ? spdlog::level::info : spdlog::level::warn);
    sinks.push_back(console);
  }
  if (velum::EnsureDirectory(home / "logs")) {
    try {
      auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(
          (home / "logs" / ("node-" + std::to_string(id) + ".log")).string());
      file->set_level(spdlog::level::info);
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex&) {
      // An unwritable log file is no reason to refuse to start; stderr still works.
    }
  }
  auto logger = std::make_shared<spdlog::logger>("velum", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  R().host_logger = spdlog::default_logger();
  spdlog::set_default_logger(logger);
}

void RestoreLogger() {
  if (R().host_logger) spdlog::set_default_logger(R().host_logger);
  R().host_logger.reset();
}

// ---- Results ---------------------------------------------------------------------------

void CopyText(char* out, size_t size, const std::string& text) {
  std::snprintf(out, size, "%s", text.c_str());
}

velum_value ValueOf(const velum::Value& v) {
  velum_value out;
  std::memset(&out, 0, sizeof out);
  switch (v.type) {
    case velum::ValType::kI64:
      out.type = VELUM_I64;
      out.as.i64 = v.i64();
      break;
    case velum::ValType::kF32:
      out.type = VELUM_F32;
      out.as.f32 = v.f32();
      break;
    case velum::ValType::kF64:
      out.type = VELUM_F64;
      out.as.f64 = v.f64();
      break;
    default:  // i32; other types are refused before the call
      out.type = VELUM_I32;
      out.as.i32 = v.i32();
      break;
  }
  return out;
}

velum_value ValueOf(const velum::core::Num& n) {
  velum_value out;
  std::memset(&out, 0, sizeof out);
  switch (n.kind) {
    case velum::core::NumKind::kInt:
      out.type = VELUM_I64;
      out.as.i64 = n.i;
      break;
    case velum::core::NumKind::kF32:
      out.type = VELUM_F32;
      out.as.f32 = static_cast<float>(n.f);
      break;
    case velum::core::NumKind::kF64:
      out.type = VELUM_F64;
      out.as.f64 = n.f;
      break;
  }
  return out;
}

velum_result CallResult(const velum::CallReply& reply) {
  velum_result r = EmptyResult();
  r.code = VELUM_OK;
  r.nvalues = std::min<size_t>(reply.values.size(), VELUM_MAX_VALUES);
  for (size_t i = 0; i < r.nvalues; i++) r.values[i] = ValueOf(reply.values[i]);
  r.node = reply.node;
  CopyText(r.engine, sizeof r.engine, reply.engine);
  r.elapsed_ms = reply.elapsed_ms;
  return r;
}

// The result of a job so far: VELUM_PENDING while it runs.
velum_result JobResult(const velum::JobSummary& s) {
  velum_result r = EmptyResult();
  r.job = s.id;
  r.elapsed_ms = s.elapsed_ms;
  r.workers = static_cast<uint32_t>(s.workers.size());
  r.chunks = s.chunks;
  r.items_done = s.items_done;
  r.items_total = s.items_total;
  r.reassigned = s.reassigned;
  r.recomputed = s.recomputed;
  r.stale_reports = s.stale_reports;
  r.detection_ms = s.detection_ms;
  std::string what = "job " + std::to_string(s.id);
  if (!s.finished()) {
    r.code = VELUM_PENDING;
  } else if (s.state == velum::core::JobState::kDone) {
    r.code = VELUM_OK;
    r.nvalues = std::min<size_t>(s.result.size(), VELUM_MAX_VALUES);
    for (size_t i = 0; i < r.nvalues; i++) r.values[i] = ValueOf(s.result[i]);
  } else if (s.state == velum::core::JobState::kCancelled) {
    r.code = VELUM_ERR_CANCELLED;
    CopyText(
        r.error, sizeof r.error,
        what + " cancelled" + (s.error.empty() || s.error == "cancelled" ? "" : ": " + s.error));
  } else {
    r.code = VELUM_ERR_JOB_FAILED;
    CopyText(r.error, sizeof r.error,
             what + " " + velum::core::JobStateName(s.state) + ": " + s.error);
  }
  if (r.code < 0) Fail(r.code, r.error);
  return r;
}

// ---- Calls -----------------------------------------------------------------------------

struct PreparedCall {
  velum::ModulePtr module;
  std::string func;
  std::vector<velum::Value> args;
};

// Reads the module and parses the arguments against the export; VELUM_OK or a failure.
int PrepareCall(velum::Node& node, const char* path, const char* func, int argc,
                const char* const* argv, PreparedCall* out) {
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  if (!func) return Fail(VELUM_ERR_INVALID_ARGUMENT, "func is NULL");
  if (argc < 0 || (argc > 0 && !argv))
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "argc is negative or argv is NULL");
  std::vector<std::string> texts;
  for (int i = 0; i < argc; i++) {
    if (!argv[i])
      return Fail(VELUM_ERR_INVALID_ARGUMENT, "argv[" + std::to_string(i) + "] is NULL");
    texts.emplace_back(argv[i]);
  }
  auto module = node.LoadModule(path);
  if (!module.ok()) return Fail(module.error());
  auto exported = (*module)->FindFunction(func);
  if (!exported.ok()) return Fail(exported.error());
  const velum::FuncSig& sig = (*exported)->sig;
  if (sig.results.size() > VELUM_MAX_VALUES)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, std::string(func) + " returns more than " +
                                                std::to_string(VELUM_MAX_VALUES) + " values");
  for (velum::ValType t : sig.results) {
    if (t != velum::ValType::kI32 && t != velum::ValType::kI64 && t != velum::ValType::kF32 &&
        t != velum::ValType::kF64)
      return Fail(VELUM_ERR_INVALID_ARGUMENT, std::string(func) + " " + sig.ToString() +
                                                  " returns " + velum::ValTypeName(t) +
                                                  ": the C API returns i32, i64, f32 and f64 only");
  }
  auto args = velum::ParseArgs(texts, sig);
  if (!args.ok()) return Fail(args.error());
  out->module = *module;
  out->func = func;
  out->args = std::move(*args);
  return VELUM_OK;
}

velum_result RunCall(velum::Node& node, const PreparedCall& call, std::atomic<bool>* cancel) {
  CancelScope scope(cancel);
  auto reply = node.Call(call.module, call.func, call.args, velum::CallOptions{}, cancel);
  if (!reply.ok()) return FailedResult(reply.error());
  return CallResult(*reply);
}

// ---- Jobs ------------------------------------------------------------------------------

// Submits a scatter job: VELUM_OK and its id, or a failure.
int SubmitJob(velum::Node& node, const char* path, const char* func, int64_t start, int64_t end,
              const velum_scatter_options* options, uint64_t* id) {
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  if (!func) return Fail(VELUM_ERR_INVALID_ARGUMENT, "func is NULL");
  velum_scatter_options o;
  velum_scatter_options_default(&o);
  if (options) o = *options;
  velum::ScatterRequest req;
  switch (RawEnum(o.reducer)) {
    case VELUM_REDUCE_SUM:
      req.reducer = velum::core::ReducerKind::kSum;
      break;
    case VELUM_REDUCE_MIN:
      req.reducer = velum::core::ReducerKind::kMin;
      break;
    case VELUM_REDUCE_MAX:
      req.reducer = velum::core::ReducerKind::kMax;
      break;
    case VELUM_REDUCE_FIRST:
      req.reducer = velum::core::ReducerKind::kFirst;
      break;
    default:
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  "reducer " + std::to_string(RawEnum(o.reducer)) + " is not a velum_reducer");
  }
  if (o.timeout_ms == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms must be above 0");
  if (o.max_memory_mib == 0 || o.max_memory_mib > 65536)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "max_memory_mib must be in [1, 65536]");
  req.path = path;
  req.func = func;
  req.start = start;
  req.end = end;
  req.chunk_items = o.chunk_items;
  req.exclude_self = o.exclude_self;
  req.timeout_ms = o.timeout_ms;
  req.max_memory_mib = o.max_memory_mib;
  auto submitted = node.Submit(req);
  if (!submitted.ok()) return Fail(submitted.error());
  *id = *submitted;
  return VELUM_OK;
}

// Follows a job until it ends or until `deadline` (nullopt: no limit); nullopt if the node
// does not know the job. When velum_shutdown begins, the job is cancelled and followed on.
std::optional<velum::JobSummary> FollowJob(velum::Node& node, uint64_t id,
                                           std::optional<Clock::time_point> deadline) {
  bool cancelled = false;
  for (;;) {
    milliseconds slice(100);  // short slices notice velum_shutdown
    if (deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(*deadline - Clock::now());
      slice = std::clamp(left, milliseconds(0), slice);
    }
    auto s = node.WaitJob(id, slice);
    if (!s || s->finished()) return s;
    if (R().stopping && !cancelled) {
      cancelled = true;
      node.CancelJob(id);
      continue;
    }
    if (deadline && Clock::now() >= *deadline) return s;
  }
}

std::optional<Clock::time_point> DeadlineOf(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return Clock::now() + milliseconds(timeout_ms);
}

}  // namespace

// ---- Handles ---------------------------------------------------------------------------

struct velum_job {
  std::mutex mu;
  uint64_t generation = 0;  // of the node that coordinates it
  uint64_t id = 0;
  std::optional<velum::JobSummary> final;  // once it has ended (or at velum_shutdown)
};

namespace {

struct CallState {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  velum_result result;
  std::atomic<bool> cancel{false};
};

}  // namespace

struct velum_call {
  std::shared_ptr<CallState> state;  // shared with the thread running the call
};

// ---- Codes -----------------------------------------------------------------------------

extern "C" {

const char* velum_strerror(int code) {
  switch (code) {
    case VELUM_OK:
      return "ok";
    case VELUM_PENDING:
      return "not finished yet";
    case VELUM_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case VELUM_ERR_NOT_INITIALIZED:
      return "not initialized";
    case VELUM_ERR_ALREADY_INITIALIZED:
      return "already initialized";
    case VELUM_ERR_IO:
      return "i/o error";
    case VELUM_ERR_INVALID_MODULE:
      return "invalid module";
    case VELUM_ERR_EXPORT_NOT_FOUND:
      return "export not found";
    case VELUM_ERR_TRAP:
      return "trap";
    case VELUM_ERR_DEADLINE:
      return "deadline exceeded";
    case VELUM_ERR_MEMORY_LIMIT:
      return "memory limit exceeded";
    case VELUM_ERR_EXECUTOR:
      return "executor crashed";
    case VELUM_ERR_UNAVAILABLE:
      return "unavailable";
    case VELUM_ERR_LIMIT:
      return "limit exceeded";
    case VELUM_ERR_CANCELLED:
      return "cancelled";
    case VELUM_ERR_JOB_FAILED:
      return "job failed";
    case VELUM_ERR_TIMEOUT:
      return "timed out";
    case VELUM_ERR_INTERNAL:
      return "internal error";
  }
  return "unknown code";
}

const char* velum_last_error(void) { return t_error.c_str(); }

int velum_last_error_code(void) { return t_code; }

// ---- The node --------------------------------------------------------------------------

void velum_options_default(velum_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  velum::NodeOptions d;
  options->discovery_port = d.discovery_port;
  options->broadcast = d.broadcast;
  options->slots = d.slots;
  options->engine = VELUM_ENGINE_AUTO;
  options->max_module_mib = static_cast<uint32_t>(d.max_module_bytes >> 20);
  options->max_memory_mib = d.max_memory_mib;
  options->max_call_ms = d.max_call_ms;
  options->log = VELUM_LOG_DEFAULT;
  options->compile_jobs = d.compile_jobs;
  options->max_cache_mib = static_cast<uint32_t>(d.max_cache_bytes >> 20);
}

int velum_init(uint32_t node_id, uint16_t port) {
  velum_options options;
  velum_options_default(&options);
  options.node_id = node_id;
  options.port = port;
  return velum_init_with(&options);
}

int velum_init_with(const velum_options* o) {
  if (!o) return Fail(VELUM_ERR_INVALID_ARGUMENT, "options is NULL");
  Runtime& r = R();
  std::lock_guard<std::mutex> lifecycle(r.lifecycle);
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.node)
      return Fail(VELUM_ERR_ALREADY_INITIALIZED,
                  "node " + std::to_string(r.node->id()) + " is already running in this process");
  }
  if (o->node_id == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "node ids start at 1");
  if ((o->njoins && !o->joins) || (o->nbeacons && !o->beacons))
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "joins or beacons is NULL with a count above 0");
  velum::NodeOptions n;
  n.id = o->node_id;
  n.port = o->port;
  n.discovery_port = o->discovery_port;
  n.broadcast = o->broadcast;
  for (size_t i = 0; i < o->njoins; i++) {
    if (!o->joins[i])
      return Fail(VELUM_ERR_INVALID_ARGUMENT, "joins[" + std::to_string(i) + "] is NULL");
    n.joins.emplace_back(o->joins[i]);
  }
  for (size_t i = 0; i < o->nbeacons; i++) {
    if (!o->beacons[i])
      return Fail(VELUM_ERR_INVALID_ARGUMENT, "beacons[" + std::to_string(i) + "] is NULL");
    n.beacon_to.emplace_back(o->beacons[i]);
  }
  if (o->bind && *o->bind) n.bind = o->bind;
  if (o->advertise) n.advertise = o->advertise;
  n.home = o->home && *o->home ? std::filesystem::path(o->home) : velum::DefaultHome();
  if (o->cluster_key) n.cluster_key = o->cluster_key;
  n.slots = o->slots;
  switch (RawEnum(o->engine)) {
    case VELUM_ENGINE_AUTO:
      n.engine = velum::EngineKind::kAuto;
      break;
    case VELUM_ENGINE_INTERP:
      n.engine = velum::EngineKind::kInterp;
      break;
    case VELUM_ENGINE_AOT:
      n.engine = velum::EngineKind::kAot;
      break;
    default:
      return Fail(VELUM_ERR_INVALID_ARGUMENT, "engine is not a velum_engine");
  }
  if (auto log = RawEnum(o->log);
      log != VELUM_LOG_DEFAULT && log != VELUM_LOG_VERBOSE && log != VELUM_LOG_QUIET)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "log is not a velum_log");
  if (o->max_module_mib == 0 || o->max_memory_mib == 0 || o->max_memory_mib > 65536 ||
      o->max_call_ms == 0 || o->max_call_ms > 86400000 || o->compile_jobs == 0 ||
      o->compile_jobs > 64 || o->max_cache_mib > (1u << 24))
    return Fail(VELUM_ERR_INVALID_ARGUMENT,
                "max_module_mib must be above 0, max_memory_mib in [1, 65536], max_call_ms "
                "in [1, 86400000], compile_jobs in [1, 64] and max_cache_mib in [0, 16777216]");
  n.compile_jobs = o->compile_jobs;
  n.max_cache_bytes = static_cast<uint64_t>(o->max_cache_mib) << 20;
  n.max_module_bytes = static_cast<uint64_t>(o->max_module_mib) << 20;
  n.max_memory_mib = o->max_memory_mib;
  n.max_call_ms = o->max_call_ms;
  if (n.port == 0 && n.id <= 57535) n.port = static_cast<uint16_t>(8000 + n.id);

  // The home is checked before the logger writes to it; nothing below may throw across the
  // C boundary (Node::Start turns its own exceptions into errors; this catches the rest).
  if (velum::Status s = velum::PrepareHome(n.home); !s.ok()) return Fail(s.error());
  velum::Result<std::unique_ptr<velum::Node>> node =
      velum::MakeError(velum::ErrorKind::kInternal, "not started");
  try {
    InstallLogger(o->log, n.id, n.home);
    node = velum::Node::Start(n);
  } catch (const std::exception& e) {
    node = velum::MakeError(velum::ErrorKind::kInternal,
                            std::string("cannot start the node: ") + e.what());
  }
  if (!node.ok()) {
    RestoreLogger();
    return Fail(node.error());
  }
  spdlog::info("embedded node {} started at port {}", n.id, n.port);
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.node = std::move(*node);
    r.generation++;
  }
  // A program that returns from main without velum_shutdown still leaves the mesh cleanly,
  // before the libraries the node uses are torn down.
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit([] { velum_shutdown(); }); });
  return VELUM_OK;
}

void velum_shutdown(void) {
  Runtime& r = R();
  std::lock_guard<std::mutex> lifecycle(r.lifecycle);
  velum::Node* node;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.node) return;
    r.stopping = true;  // no new operation starts from here
    for (auto* flag : r.cancels) flag->store(true);
    node = r.node.get();
  }
  auto cancel_running = [node] {
    for (const auto& s : node->Jobs())
      if (!s.finished()) node->CancelJob(s.id);
  };
  cancel_running();
  std::unique_lock<std::mutex> lock(r.mu);
  r.idle.wait(lock, [&r] { return r.leases == 0; });
  // Operations that were submitting when the flag went up have ended: their jobs too.
  lock.unlock();
  cancel_running();
  lock.lock();
  for (velum_job* job : r.jobs) {
    std::lock_guard<std::mutex> job_lock(job->mu);
    if (job->generation == r.generation && !job->final) job->final = node->Job(job->id);
  }
  std::unique_ptr<velum::Node> stopped = std::move(r.node);
  lock.unlock();
  spdlog::info("embedded node {} leaving the mesh", stopped->id());
  stopped.reset();  // leaves the mesh, stops the loop and the executors
  RestoreLogger();
  r.stopping = false;
}

uint32_t velum_node_id(void) {
  Lease lease;
  return lease.node() ? lease.node()->id() : 0;
}

size_t velum_peers_alive(void) {
  Lease lease;
  return lease.node() ? lease.node()->AlivePeers() : 0;
}

int velum_wait_peers(size_t n, int timeout_ms) {
  Lease lease;
  if (!lease.node()) return Fail(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  auto deadline = DeadlineOf(timeout_ms);
  for (;;) {
    size_t alive = 0;  // and linked: ready for calls and chunks
    for (const auto& peer : lease.node()->Peers())
      if (peer.state == velum::core::MemberState::kAlive && peer.link_up) alive++;
    if (alive >= n) return VELUM_OK;
    if (R().stopping) return Fail(VELUM_ERR_CANCELLED, "velum_shutdown was called");
    if (deadline && Clock::now() >= *deadline)
      return Fail(VELUM_ERR_TIMEOUT, "only " + std::to_string(alive) + " of " + std::to_string(n) +
                                         " peers alive and linked after " +
                                         std::to_string(timeout_ms) + " ms");
    std::this_thread::sleep_for(milliseconds(20));  // polling, with the deadline above
  }
}

// ---- One call --------------------------------------------------------------------------

velum_result velum_spawn_wasm(const char* path, const char* func, int argc,
                              const char* const* argv) {
  Lease lease;
  if (!lease.node()) return FailedResult(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  PreparedCall call;
  if (int code = PrepareCall(*lease.node(), path, func, argc, argv, &call); code != VELUM_OK)
    return FailedResult(code, t_error);
  std::atomic<bool> cancel{false};
  return RunCall(*lease.node(), call, &cancel);
}

velum_call* velum_spawn_wasm_async(const char* path, const char* func, int argc,
                                   const char* const* argv) {
  Lease lease;
  if (!lease.node()) return FailNull<velum_call>(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  PreparedCall call;
  if (PrepareCall(*lease.node(), path, func, argc, argv, &call) != VELUM_OK) return nullptr;
  auto* handle = new (std::nothrow) velum_call;
  if (!handle) return FailNull<velum_call>(VELUM_ERR_INTERNAL, "out of memory");
  handle->state = std::make_shared<CallState>();
  try {
    std::thread([state = handle->state, lease = std::move(lease), call = std::move(call)] {
      velum_result result = RunCall(*lease.node(), call, &state->cancel);
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->result = result;
        state->done = true;
      }
      state->done_cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    delete handle;
    return FailNull<velum_call>(VELUM_ERR_INTERNAL,
                                std::string("cannot start a thread: ") + e.what());
  }
  return handle;
}

int velum_call_wait(velum_call* call, int timeout_ms, velum_result* out) {
  if (!call) {
    velum_result r = FailedResult(VELUM_ERR_INVALID_ARGUMENT, "call is NULL");
    if (out) *out = r;
    return r.code;
  }
  CallState& s = *call->state;
  std::unique_lock<std::mutex> lock(s.mu);
  if (timeout_ms < 0)
    s.done_cv.wait(lock, [&s] { return s.done; });
  else
    s.done_cv.wait_for(lock, milliseconds(timeout_ms), [&s] { return s.done; });
  velum_result r = EmptyResult();
  if (s.done)
    r = s.result;
  else
    r.code = VELUM_PENDING;
  lock.unlock();
  if (r.code < 0) Fail(r.code, r.error);
  if (out) *out = r;
  return r.code;
}

int velum_call_cancel(velum_call* call) {
  if (!call) return Fail(VELUM_ERR_INVALID_ARGUMENT, "call is NULL");
  std::lock_guard<std::mutex> lock(call->state->mu);
  if (call->state->done) return Fail(VELUM_ERR_INVALID_ARGUMENT, "the call has already ended");
  call->state->cancel = true;
  return VELUM_OK;
}

void velum_call_release(velum_call* call) { delete call; }

// ---- Scatter ---------------------------------------------------------------------------

void velum_scatter_options_default(velum_scatter_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  velum::ScatterRequest d;
  options->reducer = VELUM_REDUCE_SUM;
  options->chunk_items = d.chunk_items;
  options->exclude_self = d.exclude_self;
  options->timeout_ms = d.timeout_ms;
  options->max_memory_mib = d.max_memory_mib;
}

velum_result velum_scatter(const char* path, const char* func, int64_t start, int64_t end,
                           const velum_scatter_options* options) {
  Lease lease;
  if (!lease.node()) return FailedResult(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  uint64_t id = 0;
  if (int code = SubmitJob(*lease.node(), path, func, start, end, options, &id); code != VELUM_OK)
    return FailedResult(code, t_error);
  auto s = FollowJob(*lease.node(), id, std::nullopt);
  if (!s) return FailedResult(VELUM_ERR_INTERNAL, "job " + std::to_string(id) + " vanished");
  return JobResult(*s);
}

velum_result velum_spawn_wasm_distributed(const char* path, const char* func, int64_t start,
                                          int64_t end) {
  return velum_scatter(path, func, start, end, nullptr);
}

velum_job* velum_scatter_async(const char* path, const char* func, int64_t start, int64_t end,
                               const velum_scatter_options* options) {
  Lease lease;
  if (!lease.node()) return FailNull<velum_job>(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  uint64_t id = 0;
  if (SubmitJob(*lease.node(), path, func, start, end, options, &id) != VELUM_OK) return nullptr;
  auto* job = new (std::nothrow) velum_job;
  if (!job) return FailNull<velum_job>(VELUM_ERR_INTERNAL, "out of memory");
  job->generation = lease.generation();
  job->id = id;
  std::lock_guard<std::mutex> lock(R().mu);
  R().jobs.insert(job);
  return job;
}

int velum_job_wait(velum_job* job, int timeout_ms, velum_result* out) {
  velum_result r;
  if (!job) {
    r = FailedResult(VELUM_ERR_INVALID_ARGUMENT, "job is NULL");
  } else {
    std::optional<velum::JobSummary> final;
    {
      std::lock_guard<std::mutex> lock(job->mu);
      final = job->final;
    }
    if (final) {
      r = JobResult(*final);
    } else {
      Lease lease;
      if (!lease.node() || lease.generation() != job->generation) {
        r = FailedResult(VELUM_ERR_NOT_INITIALIZED,
                         "job " + std::to_string(job->id) + ": its node was shut down");
      } else if (auto s = FollowJob(*lease.node(), job->id, DeadlineOf(timeout_ms)); !s) {
        r = FailedResult(VELUM_ERR_INTERNAL,
                         "job " + std::to_string(job->id) + " is no longer known to its node");
      } else {
        if (s->finished()) {
          std::lock_guard<std::mutex> lock(job->mu);
          job->final = *s;
        }
        r = JobResult(*s);
      }
    }
  }
  if (out) *out = r;
  return r.code;
}

int velum_job_cancel(velum_job* job) {
  if (!job) return Fail(VELUM_ERR_INVALID_ARGUMENT, "job is NULL");
  {
    std::lock_guard<std::mutex> lock(job->mu);
    if (job->final)
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  "job " + std::to_string(job->id) + " has already ended (" +
                      velum::core::JobStateName(job->final->state) + ")");
  }
  Lease lease;
  if (!lease.node() || lease.generation() != job->generation)
    return Fail(VELUM_ERR_NOT_INITIALIZED,
                "job " + std::to_string(job->id) + ": its node was shut down");
  if (velum::Status s = lease.node()->CancelJob(job->id); !s.ok()) return Fail(s.error());
  return VELUM_OK;
}

uint64_t velum_job_id(const velum_job* job) { return job ? job->id : 0; }

double velum_job_progress(velum_job* job) {
  if (!job) return -1;
  std::optional<velum::JobSummary> s;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    s = job->final;
  }
  if (!s) {
    Lease lease;
    if (lease.node() && lease.generation() == job->generation) s = lease.node()->Job(job->id);
  }
  if (!s) return 0;
  if (s->state == velum::core::JobState::kDone) return 1;
  return s->items_total ? static_cast<double>(s->items_done) / s->items_total : 0;
}

void velum_job_release(velum_job* job) {
  if (!job) return;
  {
    std::lock_guard<std::mutex> lock(R().mu);
    R().jobs.erase(job);
  }
  delete job;
}

}  // extern "C"
