// PoolExecutors (executors.h): the node's executor pool, started and said once in the log,
// and the call runner whose threads wait for it.
#include "node/executors.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace velum {

namespace {
constexpr size_t kMaxQueued = 4096;  // blocking work waiting for a thread, across all kinds

CallResult ResultOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kTrap:
      return CallResult::kTrap;
    case ErrorKind::kDeadlineExceeded:
      return CallResult::kTimeout;
    case ErrorKind::kMemoryLimitExceeded:
    case ErrorKind::kLimitExceeded:
      return CallResult::kLimit;
    case ErrorKind::kCancelled:
      return CallResult::kCancelled;
    case ErrorKind::kExecutorCrashed:
      return CallResult::kCrashed;
    default:
      return CallResult::kError;
  }
}

CallEngine EngineOf(EngineKind kind) {
  switch (kind) {
    case EngineKind::kInterp:
      return CallEngine::kInterp;
    case EngineKind::kAot:
      return CallEngine::kAot;
    default:
      return CallEngine::kUnknown;
  }
}
}  // namespace

Result<CallOutcome> PoolExecutors::Call(const CallSpec& spec) {
  const auto start = std::chrono::steady_clock::now();
  Result<CallOutcome> outcome = pool_->Call(spec);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (!outcome.ok()) {
    // The engine asked for, when it is one (auto's engine is not known when nothing ran).
    calls_.Record(EngineOf(spec.engine), ResultOf(outcome.error().kind), elapsed);
  } else {
    calls_.Record(EngineOf(outcome->engine),
                  outcome->failure ? ResultOf(outcome->failure->kind) : CallResult::kOk, elapsed);
  }
  return outcome;
}

PoolFigures PoolExecutors::Figures() const {
  const PoolStats s = pool_->stats();
  PoolFigures f;
  f.slots = static_cast<uint32_t>(pool_->slots());
  f.compiles = s.compiles;
  f.compiles_failed = s.compiles_failed;
  f.compiles_refused = s.compiles_refused;
  f.cache_bytes = pool_->CacheBytes();
  f.cache_evictions = s.cache_evictions;
  f.executors_started = s.executors_started;
  f.executors_replaced = s.executors_replaced;
  return f;
}

Result<std::unique_ptr<PoolExecutors>> PoolExecutors::Start(const NodeOptions& options) {
  std::unique_ptr<PoolExecutors> e(new PoolExecutors());
  PoolOptions po;
  po.slots = std::max<uint32_t>(options.slots, 1);
  po.home = options.home;
  po.compile_jobs = std::max<uint32_t>(options.compile_jobs, 1);
  po.max_cache_bytes = options.max_cache_bytes;
  po.on_compile_failed = [](const ModulePtr& module, const Error& error) {
    spdlog::warn("module {}: not compiled, the interpreter runs it: {}",
                 module->hash_hex().substr(0, 12), error.ToString());
  };
  e->pool_ = std::make_unique<ExecutorPool>(po);
  if (Status s = e->pool_->Start(); !s.ok()) return s.error();
  spdlog::info("executor pool: {} slots of {}", po.slots, e->pool_->executor_path());
  // Said once per node, not per executor: every executor is confined the same way.
  spdlog::info("executor confinement: {}", e->pool_->confinement());
  if (!e->pool_->namespaces())
    spdlog::warn("executors run without namespaces (the kernel refused them): {}",
                 e->pool_->confinement());
  e->runner_ = std::make_unique<CallRunner>(po.slots + 2, kMaxQueued);
  return e;
}

PoolExecutors::~PoolExecutors() {
  runner_.reset();  // its threads may be waiting in the pool
  pool_.reset();
}

}  // namespace velum
