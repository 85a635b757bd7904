// The process-wide node of the C API and its lifecycle: velum_init, velum_shutdown (which
// stops every operation and waits for them), the node's id and its peers.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "api/api_internal.h"
#include "node/node_log.h"
#include "node/node_waits.h"
#include "runtime/home.h"

namespace velum::api {

namespace {

struct Runtime {
  std::mutex lifecycle;  // serializes velum_init and velum_shutdown
  std::mutex mu;         // guards everything below
  std::condition_variable idle;
  std::unique_ptr<Node> node;                   // null: not initialized
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

// The logger of ./node, minus what a host program would not want: with VELUM_LOG_QUIET
// nothing on stderr, and no log file rather than no node when the file is unusable.
void InstallLogger(velum_log mode, uint32_t id, const std::filesystem::path& home) {
  ConsoleLog console = mode == VELUM_LOG_QUIET     ? ConsoleLog::kQuiet
                       : mode == VELUM_LOG_VERBOSE ? ConsoleLog::kVerbose
                                                   : ConsoleLog::kWarnings;
  R().host_logger = spdlog::default_logger();
  InstallNodeLogger("velum", console, id, home, LogFile::kIfPossible);  // cannot fail so
}

void RestoreLogger() {
  if (R().host_logger) spdlog::set_default_logger(R().host_logger);
  R().host_logger.reset();
}

// velum_options as NodeOptions: VELUM_OK, or a failure for what the caller got wrong.
int NodeOptionsOf(const velum_options* o, NodeOptions* out) {
  NodeOptions& n = *out;
  if (o->node_id == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "node ids start at 1");
  if ((o->njoins && !o->joins) || (o->nbeacons && !o->beacons))
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "joins or beacons is NULL with a count above 0");
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
  n.home = o->home && *o->home ? std::filesystem::path(o->home) : DefaultHome();
  if (o->cluster_key) n.cluster_key = o->cluster_key;
  n.slots = o->slots;
  switch (RawEnum(o->engine)) {
    case VELUM_ENGINE_AUTO:
      n.engine = EngineKind::kAuto;
      break;
    case VELUM_ENGINE_INTERP:
      n.engine = EngineKind::kInterp;
      break;
    case VELUM_ENGINE_AOT:
      n.engine = EngineKind::kAot;
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
  return VELUM_OK;
}

}  // namespace

Lease::Lease() {
  Runtime& r = R();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.node && !r.stopping) {
    node_ = r.node.get();
    generation_ = r.generation;
    r.leases++;
  }
}

Lease::~Lease() {
  if (!node_) return;
  Runtime& r = R();
  std::lock_guard<std::mutex> lock(r.mu);
  if (--r.leases == 0) r.idle.notify_all();
}

CancelScope::CancelScope(std::atomic<bool>* flag) : flag_(flag) {
  std::lock_guard<std::mutex> lock(R().mu);
  R().cancels.insert(flag_);
  if (R().stopping) flag_->store(true);
}

CancelScope::~CancelScope() {
  std::lock_guard<std::mutex> lock(R().mu);
  R().cancels.erase(flag_);
}

bool ShuttingDown() { return R().stopping; }

void TrackJob(velum_job* job) {
  std::lock_guard<std::mutex> lock(R().mu);
  R().jobs.insert(job);
}

void UntrackJob(velum_job* job) {
  std::lock_guard<std::mutex> lock(R().mu);
  R().jobs.erase(job);
}

}  // namespace velum::api

using velum::api::DeadlineOf;
using velum::api::Fail;
using velum::api::InstallLogger;
using velum::api::kNotInitialized;
using velum::api::Lease;
using velum::api::NodeOptionsOf;
using velum::api::R;
using velum::api::RestoreLogger;
using velum::api::Runtime;
using velum::api::ShuttingDown;

extern "C" {

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
  velum::NodeOptions n;
  if (int code = NodeOptionsOf(o, &n); code != VELUM_OK) return code;

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
  velum::PeerWaitResult waited =
      velum::WaitForPeers(*lease.node(), n, DeadlineOf(timeout_ms), ShuttingDown);
  switch (waited.end) {
    case velum::PeerWaitEnd::kReached:
      return VELUM_OK;
    case velum::PeerWaitEnd::kStopped:
      return Fail(VELUM_ERR_CANCELLED, "velum_shutdown was called");
    case velum::PeerWaitEnd::kDeadline:
      break;
  }
  return Fail(VELUM_ERR_TIMEOUT, "only " + std::to_string(waited.ready) + " of " +
                                     std::to_string(n) + " peers alive and linked after " +
                                     std::to_string(timeout_ms) + " ms");
}

}  // extern "C"
