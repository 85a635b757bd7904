// PoolExecutors (executors.h): the node's executor pool, started and said once in the log,
// and the call runner whose threads wait for it.
#include "node/executors.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace velum {

namespace {
constexpr size_t kMaxQueued = 4096;  // blocking work waiting for a thread, across all kinds
}  // namespace

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
