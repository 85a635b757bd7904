// NodeSim (node_sim.h): the event loop of simulated nodes, their network, disks and executors,
// the faults, and the checks after every event, in virtual time from one seeded generator.
#include "tests/sim/node_sim.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <sstream>

#include "core/assert.h"
#include "core/reducer.h"
#include "tests/unit/wasm_bytes.h"

namespace velum::sim {

namespace {

constexpr size_t kMaxBlockingQueued = 4096;   // as the node's call runner
constexpr uint64_t kLinkTimeoutMs = 3000;     // a link across a longer partition breaks
constexpr uint64_t kMaxBackoffMs = 2000;      // redials of a wanted link
constexpr size_t kMaxQueuedEvents = 2000000;  // the simulation's own bound
constexpr char kExecutorDied[] = "the executor died (simulated)";  // a failing executor's error
constexpr uint64_t kJournalLagMs = 1000;  // buffered journal ops are written by then
constexpr uint64_t kDrainMs = 10000;      // quiet time after the end, before the last checks

// A module exporting `name` as (i64, i64) -> `results` x i64; the simulated executor answers
// for it (SimFunction), the module only has to be real: parsed, hashed, stored and sent.
// "mat" also exports its reducer, SimFunction::kMatCombine: (i64 x 8) -> (i64 x 4).
std::vector<uint8_t> RangeModule(const std::string& name, size_t results) {
  std::vector<uint8_t> body;
  for (size_t i = 0; i < results; i++) body.insert(body.end(), {0x42, 0x00});  // i64.const 0
  body.push_back(0x0b);
  if (name != "mat") {
    std::vector<uint8_t> type = {0x01, 0x60, 0x02, 0x7e, 0x7e, static_cast<uint8_t>(results)};
    type.insert(type.end(), results, 0x7e);
    return test::WasmModule({test::Section(1, type), test::Section(3, {0x01, 0x00}),
                             test::ExportFunc(name, 0), test::CodeSection(body)});
  }
  VELUM_ASSERT(results == 4);
  std::vector<uint8_t> types = {0x02, 0x60, 0x02, 0x7e, 0x7e, 0x04,
                                0x7e, 0x7e, 0x7e, 0x7e, 0x60, 0x08};
  types.insert(types.end(), 8, 0x7e);
  types.insert(types.end(), {0x04, 0x7e, 0x7e, 0x7e, 0x7e});
  std::vector<uint8_t> exports = {0x02};
  for (auto [export_name, index] : {std::pair<std::string, uint8_t>{name, 0},
                                    std::pair<std::string, uint8_t>{SimFunction::kMatCombine, 1}}) {
    exports.push_back(static_cast<uint8_t>(export_name.size()));
    exports.insert(exports.end(), export_name.begin(), export_name.end());
    exports.insert(exports.end(), {0x00, index});
  }
  std::vector<uint8_t> code = {0x02};
  for (int i = 0; i < 2; i++) {
    code.push_back(static_cast<uint8_t>(body.size() + 1));
    code.push_back(0x00);  // no locals
    code.insert(code.end(), body.begin(), body.end());
  }
  return test::WasmModule({test::Section(1, types), test::Section(3, {0x02, 0x00, 0x01}),
                           test::Section(7, exports), test::Section(10, code)});
}

}  // namespace

namespace {

// One named configuration: what it changes from the defaults of NodeSimOptions.
struct NodeSimConfig {
  const char* name;
  void (*apply)(NodeSimOptions*);
};

const NodeSimConfig kConfigs[] = {
    {"every-fault", [](NodeSimOptions*) {}},
    {"calm",
     [](NodeSimOptions* o) {
       o->nodes = 3;
       o->faults_per_s = 0;
       o->loss = o->duplicate = 0;
     }},
    {"coordinators",
     [](NodeSimOptions* o) {
       o->crash_coordinators = true;
       o->hangs = o->partitions = o->executor_faults = false;
       o->faults_per_s = 0.6;
     }},
    {"int64",
     [](NodeSimOptions* o) {
       o->int64_ranges = true;
       o->speed_min = 1e15;
       o->speed_max = 1e17;
       o->crash_coordinators = true;
     }},
    {"lonely",
     [](NodeSimOptions* o) {
       o->nodes = 2;
       o->exclude_self = 1.0;
     }},
    {"reducers",
     [](NodeSimOptions* o) {
       o->module_reducers = 1.0;
       o->jobs = 4;
       o->crash_coordinators = true;
     }},
    {"eight",
     [](NodeSimOptions* o) {
       o->nodes = 8;
       o->jobs = 5;
       o->calls = 24;
     }},
};

}  // namespace

bool ApplyNodeSimConfig(const std::string& name, NodeSimOptions* o) {
  for (const NodeSimConfig& c : kConfigs) {
    if (name != c.name) continue;
    o->config = name;
    c.apply(o);
    return true;
  }
  return false;
}

std::string NodeSimConfigNames() {
  std::string names;
  for (const NodeSimConfig& c : kConfigs) names += std::string(names.empty() ? "" : ", ") + c.name;
  return names;
}

// --- The simulated journal and executors ----------------------------------------------------

// The journal on a SimDisk, with the SQLite journal's rules: one transaction per write, a
// finished job's chunks and resumption count dropped, kFinishedJobsKept finished jobs kept.
class NodeSim::SimJournal final : public Journal {
 public:
  static Result<std::unique_ptr<Journal>> Open(SimDisk* disk) {
    if (disk->full) {
      disk->writes_refused++;
      return MakeError(ErrorKind::kIo, "journal: disk full");
    }
    disk->epoch++;
    return std::unique_ptr<Journal>(new SimJournal(disk));
  }
  Result<std::vector<JobRecord>> Load() override {
    std::vector<JobRecord> out;
    for (const auto& [id, job] : disk_->jobs) {
      JobRecord r;
      r.job = job;
      r.job.summary.clear();  // read one job at a time (Find), as SQLite's Load does
      r.job.output.clear();
      auto resumes = disk_->resumes.find(id);
      r.job.resumes = resumes == disk_->resumes.end() ? 0 : resumes->second;
      if (job.state == core::JobState::kRunning)
        for (auto it = disk_->chunks.lower_bound({id, 0});
             it != disk_->chunks.end() && it->first.first == id; ++it)
          r.chunks.push_back(it->second);
      out.push_back(std::move(r));
    }
    return out;
  }
  Result<uint32_t> CountResume(core::JobId job) override {
    if (disk_->full) {
      disk_->writes_refused++;
      return MakeError(ErrorKind::kIo, "journal: disk full");
    }
    return ++disk_->resumes[job];
  }

 protected:
  Status Write(const Jobs& jobs, const Chunks& chunks, core::JobId next_job) override {
    if (disk_->full) {
      disk_->writes_refused++;
      return MakeError(ErrorKind::kIo, "journal: write: disk full");
    }
    for (const auto& [id, job] : jobs) {
      disk_->jobs[id] = job;
      if (job.state == core::JobState::kRunning) continue;
      disk_->chunks.erase(disk_->chunks.lower_bound({id, 0}),
                          disk_->chunks.lower_bound({id + 1, 0}));
      disk_->resumes.erase(id);
    }
    for (const auto& [key, chunk] : chunks) {
      if (auto j = jobs.find(chunk.job);
          j != jobs.end() && j->second.state != core::JobState::kRunning)
        continue;
      disk_->chunks[key] = chunk;
    }
    disk_->next_job = next_job;
    size_t finished = 0;
    for (auto it = disk_->jobs.rbegin(); it != disk_->jobs.rend(); ++it)
      if (it->second.state != core::JobState::kRunning) finished++;
    for (auto it = disk_->jobs.begin(); it != disk_->jobs.end() && finished > kFinishedJobsKept;) {
      if (it->second.state == core::JobState::kRunning) {
        ++it;
        continue;
      }
      it = disk_->jobs.erase(it);
      finished--;
    }
    return {};
  }
  Result<std::optional<core::JournalJob>> FindStored(core::JobId job) override {
    auto it = disk_->jobs.find(job);
    if (it == disk_->jobs.end()) return std::optional<core::JournalJob>();
    return std::optional(it->second);
  }
  Result<std::vector<core::JournalJob>> FinishedStored() override {
    std::vector<core::JournalJob> out;
    for (auto it = disk_->jobs.rbegin(); it != disk_->jobs.rend(); ++it) {
      if (it->second.state == core::JobState::kRunning) continue;
      if (out.size() == kFinishedJobsKept) break;
      out.push_back(it->second);
      out.back().output.clear();
    }
    return out;
  }

 private:
  explicit SimJournal(SimDisk* disk) : Journal(disk->epoch, disk->next_job), disk_(disk) {}
  SimDisk* disk_;
};

// The module store on a SimDisk, with the disk store's rules: Find re-checks the stored bytes
// against their hash (a damaged copy is missing), Keep replaces a damaged copy and fails on a
// full disk; a module this process read or kept is taken as good while the disk has it. The
// process's cache is lost with it and holds the kCacheEntries modules read or kept last (the
// oldest goes first, as in the disk store), so that the disk is read again and damage found.
class NodeSim::SimModuleStore final : public ModuleStore {
 public:
  static constexpr size_t kCacheEntries = 2;
  SimModuleStore(NodeSim* sim, Node* node, uint64_t max_bytes)
      : ModuleStore(max_bytes), sim_(sim), node_(node) {}

  ModulePtr Find(const ModuleHash& hash) override {
    if (ModulePtr cached = Cached(hash)) return cached;
    SimDisk& disk = node_->disk;
    auto stored = disk.modules.find(hash);
    if (stored == disk.modules.end()) return nullptr;
    auto module = Module::FromBytes(stored->second);
    if (!module.ok() || (*module)->hash() != hash) {
      disk.damaged_reads++;
      sim_->lost_modules_.insert({node_->id, hash});
      return nullptr;
    }
    Remember(*module);
    return *module;
  }
  ModulePtr Cached(const ModuleHash& hash) override {
    for (const ModulePtr& m : cache_)
      if (m->hash() == hash) return m;
    return nullptr;
  }
  Status Keep(const ModulePtr& module) override {
    SimDisk& disk = node_->disk;
    if (Cached(module->hash()) && disk.modules.count(module->hash())) return {};
    auto stored = disk.modules.find(module->hash());
    if (stored == disk.modules.end() || stored->second != module->bytes()) {
      if (disk.full) {
        disk.writes_refused++;
        disk.module_writes_refused++;
        return MakeError(ErrorKind::kIo, "cannot write module " + module->hash_hex().substr(0, 12) +
                                             " (disk full)");
      }
      disk.modules[module->hash()] = module->bytes();
    }
    Remember(module);
    return {};
  }

 private:
  void Remember(const ModulePtr& module) {
    if (Cached(module->hash())) return;
    if (cache_.size() >= kCacheEntries) cache_.pop_front();
    cache_.push_back(module);
    VELUM_ASSERT(cache_.size() <= kCacheEntries);
  }

  NodeSim* sim_;
  Node* node_;
  std::deque<ModulePtr> cache_;  // oldest first
};

// Blocking work runs as an event a little later; an executor call takes the virtual time its
// items take at the node's speed, moving the clock of the work that made it.
class NodeSim::Executors final : public velum::Executors {
 public:
  Executors(NodeSim* sim, core::NodeId node) : sim_(sim), node_(node) {}
  bool Post(std::function<void()> work) override {
    Node& n = sim_->N(node_);
    if (n.blocking_queued >= kMaxBlockingQueued) return false;
    sim_->Blocking(n, std::move(work), 20 + sim_->rng_.Uniform(500));
    return true;
  }
  Result<CallOutcome> Call(const CallSpec& spec) override {
    return sim_->ExecuteCall(sim_->N(node_), spec);
  }

 private:
  NodeSim* sim_;
  core::NodeId node_;
};

Result<CallOutcome> NodeSim::ExecuteCall(Node& n, const CallSpec& spec) {
  if (spec.cancel && spec.cancel->load()) return MakeError(ErrorKind::kCancelled, "cancelled");
  if (spec.fold) {
    // A module reducer's fold ("matmul"): the tuples, then the call's results, in range order.
    const CallSpec::Fold& fold = *spec.fold;
    if (fold.func != SimFunction::kMatCombine || fold.arity != 4 || fold.values.size() % 4)
      return MakeError(ErrorKind::kBadArguments, "not the sim's reducer");
    std::vector<core::Num> acc;
    auto combine = [&acc](std::vector<core::Num> next) {
      acc = acc.empty() ? std::move(next) : SimFunction::Combine(acc, next);
    };
    for (size_t i = 0; i < fold.values.size(); i += 4) {
      std::vector<core::Num> tuple;
      for (size_t k = i; k < i + 4; k++) tuple.push_back(core::Num::Int(fold.values[k].i64()));
      combine(std::move(tuple));
    }
    thread_us_ += 1 + fold.values.size() / 4;  // a microsecond per combine
    if (!spec.func.empty()) {
      CallSpec call = spec;
      call.fold.reset();
      auto out = ExecuteCall(n, call);
      if (!out.ok()) return out;
      std::vector<core::Num> results;
      for (const Value& v : out->values) results.push_back(core::Num::Int(v.i64()));
      combine(std::move(results));
    }
    if (acc.empty()) return MakeError(ErrorKind::kBadArguments, "an empty fold");
    CallOutcome out;
    for (const core::Num& v : acc) out.values.push_back(Value::I64(v.i));
    return out;
  }
  auto f = SimFunction::Parse(spec.func);
  if (!f || spec.args.size() != 2) return MakeError(ErrorKind::kBadArguments, "not a sim export");
  int64_t lo = spec.args[0].i64(), hi = spec.args[1].i64();
  if (lo >= hi) return MakeError(ErrorKind::kBadArguments, "empty range");
  double speed = n.speed * (thread_us_ < n.slow_until_us ? 0.05 : 1.0);
  double ms = static_cast<double>(core::ItemsIn(lo, hi)) / speed;
  uint64_t timeout_ms = static_cast<uint64_t>(spec.timeout.count());
  if (ms >= static_cast<double>(timeout_ms)) {
    thread_us_ += timeout_ms * 1000;
    return MakeError(ErrorKind::kDeadlineExceeded, "the call ran past its deadline");
  }
  thread_us_ += static_cast<uint64_t>(ms * 1000) + 1;
  if (thread_us_ < n.failing_until_us && rng_.Chance(0.3))
    return MakeError(ErrorKind::kExecutorCrashed, kExecutorDied);
  CallOutcome out;
  for (const core::Num& v : f->Call(lo, hi)) out.values.push_back(Value::I64(v.i));
  return out;
}

void NodeSim::Blocking(Node& n, std::function<void()> work, uint64_t delay_us) {
  n.blocking_queued++;
  Event e = Make(Kind::kBlocking, n.id, thread_us_ + delay_us);
  e.fn = std::move(work);
  Push(std::move(e));
}

// --- Setup ---------------------------------------------------------------------------------

NodeSim::NodeSim(NodeSimOptions options) : options_(options), rng_(options.seed) {
  // The drivers' log lines (a node's every fault is said there) only with VELUM_SIM_TRACE.
  trace_ = std::getenv("VELUM_SIM_TRACE") != nullptr;
  spdlog::set_level(trace_ ? spdlog::level::info : spdlog::level::off);
  VELUM_ASSERT(options_.nodes >= 1 && options_.nodes <= 64 && options_.chaos_ms > 1000);
  nodes_.resize(options_.nodes);
  for (uint32_t i = 0; i < options_.nodes; i++) {
    Node& n = nodes_[i];
    n.id = i + 1;
    n.addr = "10.0.0." + std::to_string(n.id) + ":7000";
    n.slots = 1 + static_cast<uint32_t>(rng_.Uniform(2));
    n.speed = options_.speed_min + rng_.Real() * (options_.speed_max - options_.speed_min);
    by_addr_[n.addr] = n.id;
  }
  for (Node& n : nodes_) {
    Event e = Make(Kind::kRestart, n.id, rng_.Uniform(300) * 1000);
    Push(std::move(e));
  }
  AddRandomJobs();
  for (uint32_t i = 0; i < options_.calls; i++) {
    Event e = Make(Kind::kCall, 0, (1000 + rng_.Uniform(options_.chaos_ms - 1000)) * 1000);
    e.job = calls_.size();
    calls_.emplace_back();
    Push(std::move(e));
  }
  if (options_.faults_per_s > 0) {
    double mean_gap_ms = 1000.0 / options_.faults_per_s;
    for (double t = 500 + mean_gap_ms * rng_.Real() * 2; t < options_.chaos_ms;
         t += mean_gap_ms * rng_.Real() * 2)
      Push(Make(Kind::kFault, 0, static_cast<uint64_t>(t) * 1000));
  }
  Push(Make(Kind::kHeal, 0, options_.chaos_ms * 1000));
}

NodeSim::~NodeSim() {
  for (Node& n : nodes_) {
    n.mesh.reset();
    n.jobs.reset();
  }
}

void NodeSim::AddRandomJobs() {
  for (uint32_t i = 0; i < options_.jobs; i++) {
    ScatterRequest r;
    uint64_t kind = rng_.Uniform(6);
    size_t results = 1;
    if (kind <= 2) {
      r.func = "sum";
      r.reducer = core::ReducerKind::kSum;
      results = 2;
    } else if (kind == 3) {
      r.func = rng_.Chance(0.5) ? "min" : "max";
      r.reducer = r.func == "min" ? core::ReducerKind::kMin : core::ReducerKind::kMax;
    } else if (options_.module_reducers > 0 && rng_.Chance(options_.module_reducers)) {
      r.func = "mat";
      r.reducer = core::ReducerKind::kModule;
      r.reduce_func = SimFunction::kMatCombine;
      results = 4;
    } else {
      int64_t m = static_cast<int64_t>(1000 + rng_.Uniform(50'000'000));
      r.func = "first:" + std::to_string(m) + ":" + std::to_string(1 + rng_.Uniform(m - 1));
      r.reducer = core::ReducerKind::kFirst;
    }
    int64_t size = static_cast<int64_t>(1000 + rng_.Uniform(40'000'000));
    r.start = static_cast<int64_t>(rng_.Uniform(1'000'000'000)) - 500'000'000;
    if (r.reducer == core::ReducerKind::kFirst) r.start = std::max<int64_t>(r.start, 1);
    if (rng_.Chance(0.1)) r.start = INT64_MAX - size - 1;
    r.end = r.start + size;
    if (options_.int64_ranges) {
      RandomInt64Range(rng_, &r.start, &r.end);
      // A search's closed form needs lo >= 1 for its modulus arithmetic: searches keep to the
      // upper half, which still reaches INT64_MAX.
      if (r.reducer == core::ReducerKind::kFirst && r.start < 1) {
        r.start = 1;
        if (r.end <= r.start) r.end = r.start + 1;
      }
    }
    uint64_t items = core::ItemsIn(r.start, r.end);
    if (rng_.Chance(0.2)) r.chunk_items = items / (4 + rng_.Uniform(100)) + 1;
    r.exclude_self = rng_.Chance(options_.exclude_self);
    core::NodeId coordinator = 1 + static_cast<core::NodeId>(rng_.Uniform(options_.nodes));
    AddJob(std::move(r), results, coordinator, (1000 + rng_.Uniform(options_.chaos_ms)) * 1000);
  }
}

size_t NodeSim::AddJob(ScatterRequest r, size_t results, core::NodeId coordinator, uint64_t at_us) {
  VELUM_ASSERT(coordinator >= 1 && coordinator <= options_.nodes);
  VELUM_ASSERT(r.start < r.end);
  SimJob job;
  r.timeout_ms = 60000;
  auto module = Module::FromBytes(RangeModule(r.func, results));
  VELUM_ASSERT(module.ok());
  r.module = *module;
  auto function = SimFunction::Parse(r.func);
  VELUM_ASSERT(function.has_value());
  job.function = *function;
  job.request = std::move(r);
  job.coordinator = coordinator;
  jobs_.push_back(std::move(job));
  Event e = Make(Kind::kSubmit, 0, at_us);
  e.job = jobs_.size() - 1;
  Push(std::move(e));
  return jobs_.size() - 1;
}

size_t NodeSim::AddJob(const std::string& func, int64_t start, int64_t end,
                       core::NodeId coordinator, uint64_t at_ms) {
  ScatterRequest r;
  r.func = func;
  auto f = SimFunction::Parse(func);
  VELUM_ASSERT(f.has_value());
  size_t results = 1;
  switch (f->kind) {
    case SimFunction::Kind::kSum:
      r.reducer = core::ReducerKind::kSum;
      results = 2;
      break;
    case SimFunction::Kind::kMin:
      r.reducer = core::ReducerKind::kMin;
      break;
    case SimFunction::Kind::kMax:
      r.reducer = core::ReducerKind::kMax;
      break;
    case SimFunction::Kind::kFirst:
      r.reducer = core::ReducerKind::kFirst;
      break;
    case SimFunction::Kind::kMat:
      r.reducer = core::ReducerKind::kModule;
      r.reduce_func = SimFunction::kMatCombine;
      results = 4;
      break;
  }
  r.start = start;
  r.end = end;
  return AddJob(std::move(r), results, coordinator, at_ms * 1000);
}

void NodeSim::CrashAt(core::NodeId node, uint64_t at_ms, uint64_t restart_after_ms, bool silent) {
  VELUM_ASSERT(node >= 1 && node <= options_.nodes);
  Event e = Make(Kind::kCrash, node, at_ms * 1000);
  e.at_ms = restart_after_ms;
  e.gen = silent;
  Push(std::move(e));
}

size_t NodeSim::CallAt(core::NodeId caller, core::NodeId target, size_t job, int64_t lo, int64_t hi,
                       uint64_t at_ms) {
  VELUM_ASSERT(caller >= 1 && caller <= options_.nodes && target >= 1 && target <= options_.nodes &&
               caller != target);
  VELUM_ASSERT(job < jobs_.size() && lo < hi);
  SimCall call;
  call.scripted = true;
  call.caller = caller;
  call.target = target;
  call.job = job;
  call.lo = lo;
  call.hi = hi;
  size_t index = calls_.size();
  calls_.push_back(call);
  Event e = Make(Kind::kCall, 0, at_ms * 1000);
  e.job = index;
  Push(std::move(e));
  return index;
}

bool NodeSim::call_answered(size_t index) const {
  VELUM_ASSERT(index < calls_.size());
  return calls_[index].ok;
}

void NodeSim::FillDiskAt(core::NodeId node, uint64_t at_ms, uint64_t for_ms) {
  VELUM_ASSERT(node >= 1 && node <= options_.nodes && for_ms > 0);
  Event e = Make(Kind::kFill, node, at_ms * 1000);
  e.at_ms = for_ms;
  Push(std::move(e));
}

void NodeSim::DamageModulesAt(core::NodeId node, uint64_t at_ms) {
  VELUM_ASSERT(node >= 1 && node <= options_.nodes);
  Push(Make(Kind::kDamage, node, at_ms * 1000));
}

size_t NodeSim::damaged_modules_stored(core::NodeId node) const {
  VELUM_ASSERT(node >= 1 && node <= options_.nodes);
  size_t damaged = 0;
  for (const auto& [hash, bytes] : N(node).disk.modules)
    damaged += HashBytes(bytes.data(), bytes.size()) != hash;
  return damaged;
}

const SimJobOutcome& NodeSim::job(size_t index) const {
  VELUM_ASSERT(index < jobs_.size());
  return jobs_[index].outcome;
}

NodeSim::Event NodeSim::Make(Kind kind, core::NodeId node, uint64_t at_us) {
  Event e;
  e.kind = kind;
  e.node = node;
  e.at_us = std::max(at_us, now_us_);
  if (node) e.inc = N(node).inc;
  return e;
}

void NodeSim::Push(Event e) {
  e.order = order_++;
  queue_.push(std::move(e));
  max_queue_ = std::max<uint64_t>(max_queue_, queue_.size());
  VELUM_ASSERT(queue_.size() <= kMaxQueuedEvents);
}

uint64_t NodeSim::Latency() {
  uint64_t span = options_.latency_max_us - options_.latency_min_us + 1;
  uint64_t d = options_.latency_min_us + rng_.Uniform(span);
  if (rng_.Chance(0.03)) d += rng_.Uniform(30000);  // a tail
  return d;
}

bool NodeSim::Reachable(core::NodeId a, core::NodeId b) const { return N(a).group == N(b).group; }

NodeSim::Link& NodeSim::LinkOf(core::NodeId a, core::NodeId b) {
  return links_[{std::min(a, b), std::max(a, b)}];
}

// --- Node processes --------------------------------------------------------------------------

MeshDriver::Hooks NodeSim::MeshHooks(Node& n) {
  MeshDriver::Hooks h;
  h.send_datagram = [this, &n](const std::string& addr, std::string payload) {
    SendDatagram(n, addr, std::move(payload));
  };
  h.dial = [this, &n](core::NodeId peer, const std::string& addr) {
    auto it = by_addr_.find(addr);
    if (it != by_addr_.end() && it->second == peer) Dial(n, peer);
  };
  h.forget = [this, &n](core::NodeId peer) { Forget(n, peer); };
  h.send_link = [this, &n](core::NodeId peer, std::string frame) {
    return SendLink(n, peer, std::move(frame));
  };
  h.link_up = [this, &n](core::NodeId peer) {
    return peer != n.id && peer >= 1 && peer <= nodes_.size() &&
           LinkOf(n.id, peer).up[End(n.id, peer)];
  };
  h.wake_at = [this, &n](uint64_t at_ms) {
    Event e = Make(Kind::kMeshWake, n.id, std::max(at_ms * 1000, thread_us_));
    e.at_ms = at_ms;
    Push(std::move(e));
  };
  h.now_ms = [this] { return thread_us_ / 1000; };
  h.now_us = [this] { return thread_us_; };
  h.refused = [this, &n] {
    if (failure_.empty()) failure_ = "node " + std::to_string(n.id) + " was refused its own id";
  };
  h.notice = [](const core::Notice&) {};
  return h;
}

JobDriver::Hooks NodeSim::JobHooks(Node& n) {
  JobDriver::Hooks h;
  h.send = [this, &n](core::NodeId peer, const wire::LinkMessage& m) {
    return SendLink(n, peer, wire::EncodeLink(m));
  };
  h.loop = [this, &n](std::function<void()> work) {
    Event e = Make(Kind::kLoop, n.id, thread_us_);
    e.fn = std::move(work);
    Push(std::move(e));
  };
  h.on_loop = [](std::function<void()> work) { work(); };  // one thread: it is the loop
  h.wake_at = [this, &n](uint64_t at_ms) {
    Event e = Make(Kind::kJobWake, n.id, std::max(at_ms * 1000, thread_us_));
    e.at_ms = at_ms;
    Push(std::move(e));
  };
  h.held_gone = [&n](core::NodeId peer) { return n.mesh->HeldGone(peer); };
  h.pick_target = [&n](const std::vector<core::NodeId>& tried) {
    return n.mesh->PickTarget(tried);
  };
  h.publish_load = [&n](uint32_t load) { n.mesh->PublishLoad(load); };
  h.now_ms = [this] { return thread_us_ / 1000; };
  h.now_us = [this] { return thread_us_; };
  return h;
}

void NodeSim::StartNode(Node& n) {
  VELUM_ASSERT(!n.running && !n.mesh && !n.jobs);
  // A new ledger, restored from the disk: every chunk of this node's jobs is checked again.
  verified_.erase(verified_.lower_bound({n.id, 0}), verified_.lower_bound({n.id + 1, 0}));
  n.inc++;
  n.paused = false;
  n.deferred.clear();
  n.wanted.clear();
  n.blocking_queued = 0;
  core::NodeMeta meta;
  meta.addr = n.addr;
  meta.gossip_addr = n.addr;
  meta.slots = n.slots;
  meta.engines = core::kEngineInterp;
  meta.version = "sim";
  core::Config config;
  config.initial_incarnation = now_ms() + 1;  // as the node's wall clock: a restart is newer
  n.running = true;
  n.mesh = std::make_unique<MeshDriver>(n.id, meta, config, rng_.Next(), MeshHooks(n));
  NodeOptions o;
  o.id = n.id;
  o.slots = n.slots;
  o.home = "/nonexistent";  // nothing of a simulated node is on a real disk
  o.engine = EngineKind::kInterp;
  JobDriver::Env env;
  env.store = std::make_unique<SimModuleStore>(this, &n, o.max_module_bytes);
  env.executors = std::make_unique<Executors>(this, n.id);
  auto journal = SimJournal::Open(&n.disk);
  Result<std::unique_ptr<JobDriver>> jobs = MakeError(ErrorKind::kIo, "no journal");
  if (journal.ok()) {
    n.journal = journal->get();
    env.journal = std::move(*journal);
    jobs = JobDriver::Start(o, JobHooks(n), std::move(env));
  }
  if (!jobs.ok()) {
    // A full disk: the node does not start, says why (the driver's error), and is tried again.
    n.journal = nullptr;
    n.mesh.reset();
    n.running = false;
    n.inc++;
    Push(Make(Kind::kRestart, n.id, now_us_ + (500 + rng_.Uniform(2000)) * 1000));
    return;
  }
  n.jobs = std::move(*jobs);
  n.mesh->SetListener(n.jobs.get());
  // None, one or two other nodes to join through (--join), as a user starts them: with none,
  // the node is found by its beacons and finds the others by theirs.
  std::vector<std::string> seeds;
  size_t joins = nodes_.size() > 1 ? rng_.Uniform(options_.max_joins + 1) : 0;
  for (size_t i = 0; i < joins; i++) {
    core::NodeId s = 1 + static_cast<core::NodeId>(rng_.Uniform(nodes_.size() - 1));
    seeds.push_back(N(s >= n.id ? s + 1 : s).addr);
  }
  n.started_us = now_us_;
  n.mesh->Start(seeds);
  Push(Make(Kind::kBeacon, n.id, now_us_ + Latency()));
}

void NodeSim::CrashNode(Node& n, uint64_t restart_after_ms, bool silent) {
  if (!n.running) return;
  faults_++;
  disruptions_++;
  // Gone at once: no goodbye, nothing flushed. Pending events of this process are dropped by
  // their generation (raised after the objects are gone, so that nothing they post survives).
  n.mesh.reset();
  n.jobs.reset();
  n.journal = nullptr;
  n.dirty_since_us = 0;
  n.running = false;
  n.paused = false;
  n.deferred.clear();
  n.wanted.clear();
  n.inc++;
  for (Node& p : nodes_) {
    if (p.id == n.id) continue;
    Link& l = LinkOf(n.id, p.id);
    l.up[End(n.id, p.id)] = false;
    // Silent (the machine lost power, no reset is sent): a peer notices at its link's
    // timeout, unless the node's next run links to it sooner and that link replaces this one.
    BreakLink(n.id, p.id, silent ? kLinkTimeoutMs * 1000 : 0);
  }
  Push(Make(Kind::kRestart, n.id, now_us_ + restart_after_ms * 1000));
}

// --- Network -------------------------------------------------------------------------------

void NodeSim::SendDatagram(Node& from, const std::string& addr, std::string payload, bool beacon) {
  auto it = by_addr_.find(addr);
  if (it == by_addr_.end()) return;
  core::NodeId to = it->second;
  if (!Reachable(from.id, to) || rng_.Chance(options_.loss)) return;
  int copies = rng_.Chance(options_.duplicate) ? 2 : 1;
  for (int c = 0; c < copies; c++) {
    Event e = Make(Kind::kDatagram, to, thread_us_ + Latency());
    e.peer = from.id;
    e.bytes = payload;
    e.beacon = beacon;
    Push(std::move(e));
  }
}

// A node's beacon to every other node (the broadcast of its subnet), as Node::Impl sends it:
// every 250 ms while the node is young, then every second.
void NodeSim::Beacon(Node& n) {
  const std::string payload = n.mesh->BeaconPayload();
  for (const Node& p : nodes_)
    if (p.id != n.id) SendDatagram(n, p.addr, payload, /*beacon=*/true);
  uint64_t age_ms = (now_us_ - n.started_us) / 1000;
  Push(Make(Kind::kBeacon, n.id, now_us_ + (age_ms < 3000 ? 250 : 1000) * 1000));
}

void NodeSim::Dial(Node& from, core::NodeId peer) {
  if (from.wanted.count(peer)) return;  // kept up already (redialled with backoff)
  from.wanted[peer] = 100;
  Event e = Make(Kind::kConnect, from.id, thread_us_ + Latency());
  e.peer = peer;
  Push(std::move(e));
}

// One try: the link comes up at both ends, a link the peer still holds is replaced (as the
// transport replaces it); otherwise tried again with backoff while wanted.
void NodeSim::Connect(Node& from, core::NodeId peer) {
  auto wanted = from.wanted.find(peer);
  if (wanted == from.wanted.end()) return;
  Link& l = LinkOf(from.id, peer);
  if (l.up[End(from.id, peer)]) return;
  Node& p = N(peer);
  if (p.running && !p.paused && Reachable(from.id, peer)) {
    l.gen++;
    for (core::NodeId end : {from.id, peer}) {
      Event e = Make(Kind::kLinkUp, end, thread_us_ + Latency());
      e.peer = end == from.id ? peer : from.id;
      e.gen = l.gen;
      // The handshake is on the same stream: no frame of this link overtakes its arrival.
      l.last_at_us[End(end, e.peer)] = e.at_us;
      Push(std::move(e));
    }
    return;
  }
  uint64_t backoff = wanted->second;
  wanted->second = std::min(backoff * 2, kMaxBackoffMs);
  Event e = Make(Kind::kConnect, from.id, thread_us_ + backoff * 1000);
  e.peer = peer;
  Push(std::move(e));
}

void NodeSim::Forget(Node& from, core::NodeId peer) {
  from.wanted.erase(peer);
  if (peer == from.id || peer < 1 || peer > nodes_.size()) return;
  Link& l = LinkOf(from.id, peer);
  int end = End(from.id, peer);
  if (!l.up[end]) return;
  // As the transport: the local end is told at once (the mesh driver hears of it within the
  // call that forgot the peer), the other end when the close reaches it.
  l.up[end] = false;
  BreakLink(from.id, peer);
  from.mesh->OnLinkDown(peer);
}

// The link between a and b ends: what is in flight is lost; an end still up is told after
// the reset reaches it (after the partition, if one is between them), or after `notice_us`.
void NodeSim::BreakLink(core::NodeId a, core::NodeId b, uint64_t notice_us) {
  Link& l = LinkOf(a, b);
  l.gen++;
  for (core::NodeId end : {a, b}) {
    core::NodeId other = end == a ? b : a;
    if (!l.up[End(end, other)] || !N(end).running) continue;
    uint64_t at = thread_us_ + (notice_us ? notice_us : Latency());
    if (!Reachable(a, b)) at = std::max(at, partition_until_us_ + Latency());
    Event e = Make(Kind::kLinkDown, end, at);
    e.peer = other;
    e.gen = l.gen;
    Push(std::move(e));
  }
}

bool NodeSim::SendLink(Node& from, core::NodeId peer, std::string frame) {
  if (peer == from.id || peer < 1 || peer > nodes_.size()) return false;
  Link& l = LinkOf(from.id, peer);
  if (!l.up[End(from.id, peer)]) return false;
  int to_end = End(peer, from.id);
  uint64_t at = thread_us_ + Latency();
  // TCP across a partition: held back and retransmitted when it heals (a long one breaks the
  // link first, and what was held is lost with it).
  if (!Reachable(from.id, peer)) at = std::max(at, partition_until_us_ + Latency());
  at = std::max(at, l.last_at_us[to_end]);  // in order
  l.last_at_us[to_end] = at;
  Event e = Make(Kind::kLinkFrame, peer, at);
  e.peer = from.id;
  e.gen = l.gen;
  e.bytes = std::move(frame);
  Push(std::move(e));
  return true;
}

// --- Faults --------------------------------------------------------------------------------

void NodeSim::RandomFault() {
  std::vector<int> kinds;
  if (options_.crashes) kinds.insert(kinds.end(), {0, 0});
  if (options_.hangs) kinds.push_back(1);
  if (options_.partitions) kinds.push_back(2);
  if (options_.disk_faults) kinds.insert(kinds.end(), {3, 4, 7});
  if (options_.executor_faults) kinds.insert(kinds.end(), {5, 6});
  if (kinds.empty()) return;
  int kind = kinds[rng_.Uniform(kinds.size())];
  Node& n = nodes_[rng_.Uniform(nodes_.size())];
  switch (kind) {
    case 0: {
      Node* victim = &n;
      if (options_.crash_coordinators) {
        std::vector<core::NodeId> coordinators;
        for (const SimJob& job : jobs_) {
          const Node& c = N(job.coordinator);
          if (!job.id || !c.running) continue;
          const core::Job* j = c.jobs->coordinator().job(*job.id);
          if (j && j->state == core::JobState::kRunning) coordinators.push_back(c.id);
        }
        if (!coordinators.empty()) victim = &N(coordinators[rng_.Uniform(coordinators.size())]);
      }
      uint64_t restart_after_ms = 200 + rng_.Uniform(5000);
      bool silent = rng_.Chance(0.5);  // drawn apart: argument order is unspecified
      CrashNode(*victim, restart_after_ms, silent);
      return;
    }
    case 1: {  // SIGSTOP: nothing runs there; its peers may declare it dead
      if (!n.running || n.paused) return;
      faults_++;
      disruptions_++;
      n.paused = true;
      Push(Make(Kind::kResume, n.id, now_us_ + (100 + rng_.Uniform(6000)) * 1000));
      return;
    }
    case 2:
      if (partition_until_us_ > now_us_) return;
      Partition(200 + rng_.Uniform(8000));
      return;
    case 3: {  // the disk fills for a while: flushes fail, a restart then cannot open
      faults_++;
      n.disk.full = true;
      Event e = Make(Kind::kDiskRoom, 0, now_us_ + (200 + rng_.Uniform(4000)) * 1000);
      e.peer = n.id;
      Push(std::move(e));
      return;
    }
    case 4: {  // damage: the journal loses a running job's chunk rows from some index on
      faults_++;
      std::vector<core::JobId> running;
      for (const auto& [id, job] : n.disk.jobs)
        if (job.state == core::JobState::kRunning) running.push_back(id);
      if (running.empty()) return;
      core::JobId id = running[rng_.Uniform(running.size())];
      uint32_t from = static_cast<uint32_t>(rng_.Uniform(8));
      n.disk.chunks.erase(n.disk.chunks.lower_bound({id, from}),
                          n.disk.chunks.lower_bound({id + 1, 0}));
      CrashNode(n, 100 + rng_.Uniform(1000));  // found at the next start
      return;
    }
    case 5:
      faults_++;
      n.slow_until_us = now_us_ + (500 + rng_.Uniform(5000)) * 1000;
      return;
    case 6:
      faults_++;
      failing_executors_++;
      n.failing_until_us = now_us_ + (200 + rng_.Uniform(3000)) * 1000;
      return;
    case 7: {  // damage: a stored module's bytes change (found when it is next read back)
      if (n.disk.modules.empty()) return;
      faults_++;
      auto it = std::next(n.disk.modules.begin(),
                          static_cast<std::ptrdiff_t>(rng_.Uniform(n.disk.modules.size())));
      DamageModule(it->second);
      return;
    }
  }
}

void NodeSim::DamageModule(std::vector<uint8_t>& bytes) {
  VELUM_ASSERT(!bytes.empty());
  modules_damaged_++;
  size_t at = rng_.Uniform(bytes.size());
  bytes[at] ^= static_cast<uint8_t>(1 + rng_.Uniform(255));
}

void NodeSim::Partition(uint64_t duration_ms) {
  faults_++;
  disruptions_++;
  // A random minority (at least one node) on the other side.
  size_t cut = 1 + rng_.Uniform(std::max<size_t>(nodes_.size() / 2, 1));
  for (size_t i = 0; i < cut; i++) nodes_[rng_.Uniform(nodes_.size())].group = 1;
  partition_until_us_ = now_us_ + duration_ms * 1000;
  Push(Make(Kind::kPartitionHeal, 0, partition_until_us_));
  if (duration_ms > kLinkTimeoutMs) {
    // A link silent longer than its timeout breaks at both ends (told after the heal).
    for (auto& [key, l] : links_)
      if (!Reachable(key.first, key.second) && (l.up[0] || l.up[1])) {
        l.gen++;  // what is in flight, or sent from now on, is lost with the link
        for (core::NodeId end : {key.first, key.second}) {
          if (!N(end).running || !l.up[End(end, end == key.first ? key.second : key.first)])
            continue;
          Event e = Make(Kind::kLinkDown, end, now_us_ + kLinkTimeoutMs * 1000);
          e.peer = end == key.first ? key.second : key.first;
          e.gen = l.gen;
          Push(std::move(e));
        }
      }
  }
}

void NodeSim::Heal() {
  chaos_ = false;
  for (Node& n : nodes_) {
    n.group = 0;
    n.disk.full = false;
    n.slow_until_us = n.failing_until_us = 0;
    if (n.paused) Push(Make(Kind::kResume, n.id, now_us_));
    if (!n.running) Push(Make(Kind::kRestart, n.id, now_us_));
  }
  partition_until_us_ = 0;
}

void NodeSim::Submit(size_t index) {
  SimJob& job = jobs_[index];
  Node& n = N(job.coordinator);
  auto retry = [&] {
    Event e = Make(Kind::kSubmit, 0, now_us_ + (200 + rng_.Uniform(1000)) * 1000);
    e.job = index;
    Push(std::move(e));
  };
  if (!n.running || n.paused) {
    retry();
    return;
  }
  auto id = n.jobs->Submit(job.request);
  if (trace_)
    std::fprintf(stderr, "%llu ms: submit job %zu at %u: %s\n",
                 static_cast<unsigned long long>(now_ms()), index, n.id,
                 id.ok() ? "ok" : id.error().ToString().c_str());
  if (!id.ok()) {
    // No workers yet, or the disk is full: the user tries again.
    if (id.error().kind != ErrorKind::kUnavailable && id.error().kind != ErrorKind::kIo &&
        failure_.empty())
      failure_ = "submit of job " + std::to_string(index) + " refused: " + id.error().ToString();
    retry();
    return;
  }
  job.id = *id;
}

// A call from a random node to its best peer, of a random job's export over a small range.
void NodeSim::StartCall(size_t index) {
  SimCall& call = calls_[index];
  Node& n = call.scripted ? N(call.caller) : nodes_[rng_.Uniform(nodes_.size())];
  call.ended = true;  // unless sent
  if (!n.running || n.paused || jobs_.empty()) return;
  const SimJob& job = jobs_[call.scripted ? call.job : rng_.Uniform(jobs_.size())];
  core::NodeId target = call.scripted ? call.target : n.mesh->PickTarget({});
  if (target == n.id) return;  // no peer: a call here runs on the caller's thread, not simulated
  call.caller = n.id;
  call.caller_inc = n.inc;
  call.target = target;
  call.func = job.request.func;
  if (!call.scripted) {
    // A few items from the job's start (within its range), up to 2e6 items, never past
    // INT64_MAX (unsigned arithmetic: the range may start at INT64_MIN).
    uint64_t skip = std::min<uint64_t>(rng_.Uniform(1000),
                                       core::ItemsIn(job.request.start, job.request.end) - 1);
    call.lo = static_cast<int64_t>(static_cast<uint64_t>(job.request.start) + skip);
    uint64_t room = static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(call.lo);
    call.hi = static_cast<int64_t>(static_cast<uint64_t>(call.lo) +
                                   std::min<uint64_t>(1 + rng_.Uniform(2'000'000), room));
  }
  CallOptions options;
  options.timeout_ms = 60000;
  call.ended = false;  // done may run within StartCall (a send that drops the link)
  uint64_t id = n.jobs->StartCall(target, job.request.module, call.func,
                                  {Value::I64(call.lo), Value::I64(call.hi)}, options,
                                  [this, index](Result<CallReply> r) { CallEnded(index, r); });
  if (id == 0) call.ended = true;
  if (trace_)
    std::fprintf(stderr, "%llu ms: call %zu %u -> %u id %llu\n",
                 static_cast<unsigned long long>(now_ms()), index, n.id, target,
                 static_cast<unsigned long long>(id));
}

// A call's answer is the export's exact values from the peer it went to; an error only says
// the peer was lost or its executor failed, never a wrong module, export or arguments.
void NodeSim::CallEnded(size_t index, const Result<CallReply>& reply) {
  SimCall& call = calls_[index];
  VELUM_ASSERT(!call.ended);
  call.ended = true;
  std::string what = "call " + std::to_string(index) + " from " + std::to_string(call.caller) +
                     " to " + std::to_string(call.target) + " (" + call.func + " over [" +
                     std::to_string(call.lo) + ", " + std::to_string(call.hi) + "))";
  if (!reply.ok()) {
    ErrorKind k = reply.error().kind;
    // The target's module disk full: it cannot keep the module it fetched to run it.
    bool full = k == ErrorKind::kIo && N(call.target).disk.module_writes_refused > 0 &&
                reply.error().message.find("(disk full)") != std::string::npos;
    if (k != ErrorKind::kUnavailable && k != ErrorKind::kExecutorCrashed &&
        k != ErrorKind::kDeadlineExceeded && k != ErrorKind::kLimitExceeded && !full &&
        failure_.empty())
      failure_ = what + " failed: " + reply.error().ToString();
    return;
  }
  call.ok = true;
  calls_answered_++;
  std::vector<core::Num> got;
  for (const Value& v : reply->values) got.push_back(core::Num::Int(v.i64()));
  if ((reply->node != call.target ||
       got != SimFunction::Parse(call.func)->Call(call.lo, call.hi)) &&
      failure_.empty())
    failure_ = what + " answered wrongly (by node " + std::to_string(reply->node) + ")";
}

// --- The loop --------------------------------------------------------------------------------

void NodeSim::Dispatch(Event& e) {
  if (e.node) {
    Node& n = N(e.node);
    if (e.kind == Kind::kRestart) {
      if (!n.running) {
        if (n.inc > 0) restarts_++;  // not the first start
        StartNode(n);
      }
      return;
    }
    if (e.kind == Kind::kCrash) {
      CrashNode(n, e.at_ms, e.gen != 0);
      return;
    }
    if (e.kind == Kind::kFill) {
      faults_++;
      n.disk.full = true;
      Event room = Make(Kind::kDiskRoom, 0, now_us_ + e.at_ms * 1000);
      room.peer = n.id;
      Push(std::move(room));
      return;
    }
    if (e.kind == Kind::kDamage) {
      faults_++;
      for (auto& [hash, bytes] : n.disk.modules) DamageModule(bytes);
      return;
    }
    if (e.kind == Kind::kResume) {
      if (!n.running || !n.paused || e.inc != n.inc) return;
      n.paused = false;
      std::vector<Event> deferred = std::move(n.deferred);
      n.deferred.clear();
      for (Event& d : deferred) {
        d.at_us = now_us_;
        Push(std::move(d));
      }
      return;
    }
    if (!n.running || e.inc != n.inc) return;  // for a process that is gone
    if (n.paused) {
      n.deferred.push_back(std::move(e));
      return;
    }
    if (trace_ && e.kind != Kind::kDatagram && e.kind != Kind::kMeshWake &&
        e.kind != Kind::kJobWake && e.kind != Kind::kLoop && e.kind != Kind::kBlocking)
      std::fprintf(stderr, "%llu us: node %u event %d peer %u gen %llu bytes %zu\n",
                   static_cast<unsigned long long>(now_us_), n.id, static_cast<int>(e.kind), e.peer,
                   static_cast<unsigned long long>(e.gen), e.bytes.size());
    switch (e.kind) {
      case Kind::kDatagram:
        n.mesh->OnDatagram(e.peer, e.bytes, e.beacon);
        return;
      case Kind::kBeacon:
        Beacon(n);
        return;
      case Kind::kLinkFrame: {
        Link& l = LinkOf(e.node, e.peer);
        if (l.gen != e.gen) return;
        if (l.up[End(e.node, e.peer)]) {
          n.mesh->OnLinkFrame(e.peer, e.bytes);
        } else if (l.up[End(e.peer, e.node)]) {
          // Half open: this node restarted after a silent crash and knows nothing of the link;
          // as a rebooted host does, it answers with a reset, and the sender's end goes down.
          uint64_t at = now_us_ + Latency();
          if (!Reachable(e.node, e.peer)) at = std::max(at, partition_until_us_ + Latency());
          Event down = Make(Kind::kLinkDown, e.peer, at);
          down.peer = e.node;
          down.gen = l.gen;
          Push(std::move(down));
        }
        return;
      }
      case Kind::kLinkUp: {
        Link& l = LinkOf(e.node, e.peer);
        if (l.gen != e.gen) return;
        links_replaced_ += l.up[End(e.node, e.peer)];  // as the transport: no down for the old
        l.up[End(e.node, e.peer)] = true;
        n.mesh->OnLinkUp(e.peer);
        return;
      }
      case Kind::kLinkDown: {
        Link& l = LinkOf(e.node, e.peer);
        int end = End(e.node, e.peer);
        if (l.gen != e.gen || !l.up[end]) return;  // a newer link replaced it, or told
        l.up[end] = false;
        n.mesh->OnLinkDown(e.peer);
        // The dialling end redials while it wants the link.
        if (n.wanted.count(e.peer)) {
          Event c = Make(Kind::kConnect, n.id, now_us_ + 100 * 1000);
          c.peer = e.peer;
          Push(std::move(c));
        }
        return;
      }
      case Kind::kConnect:
        Connect(n, e.peer);
        return;
      case Kind::kMeshWake:
        n.mesh->OnWake(e.at_ms);
        return;
      case Kind::kJobWake:
        n.jobs->OnWake(e.at_ms);
        return;
      case Kind::kLoop:
        e.fn();
        return;
      case Kind::kBlocking:
        n.blocking_queued--;
        e.fn();
        return;
      default:
        VELUM_ASSERT(false);
    }
  }
  switch (e.kind) {
    case Kind::kFault:
      if (chaos_) RandomFault();
      return;
    case Kind::kDiskRoom:
      N(e.peer).disk.full = false;
      return;
    case Kind::kPartitionHeal:
      for (Node& n : nodes_) n.group = 0;
      partition_until_us_ = 0;
      return;
    case Kind::kSubmit:
      Submit(e.job);
      return;
    case Kind::kCall:
      StartCall(e.job);
      return;
    case Kind::kHeal:
      Heal();
      return;
    default:
      VELUM_ASSERT(false);
  }
}

// After every event: each running node's cores keep their invariants, each running job's
// committed prefixes equal the reference's reduction of their items (nothing counted twice,
// nothing missing), each node's held frames stay within their bound, its drivers agree with
// its links, its journal tells the truth (CheckJournal), and, until the first crash, hang or
// partition, no node holds another dead or left.
bool NodeSim::Check() {
  if (!failure_.empty()) return false;
  for (Node& n : nodes_) {
    if (!n.running) continue;
    const core::Coordinator& c = n.jobs->coordinator();
    c.CheckInvariants();
    n.jobs->worker().CheckInvariants();
    VELUM_ASSERT(n.jobs->frames_held_now() <=
                 JobDriver::HeldFrames::kMaxPeers * JobDriver::HeldFrames::kMaxFrames);
    // The drivers agree with the world: a peer the gate holds up (or linked) has its link up
    // at this end, and one the membership holds dead or left is not up.
    for (const Node& p : nodes_) {
      if (p.id == n.id) continue;
      const Link& l = LinkOf(n.id, p.id);
      const core::PeerGate& gate = n.jobs->peer_gate();
      if ((gate.IsUp(p.id) || gate.HasLink(p.id)) && !l.up[End(n.id, p.id)]) {
        failure_ = "node " + std::to_string(n.id) + " holds peer " + std::to_string(p.id) +
                   (gate.IsUp(p.id) ? " up" : " linked") + " but its link is down";
        return false;
      }
      // Work for a coordinator ends with its link (it reassigns it): none is held without one.
      if (n.jobs->worker().TasksFrom(p.id) > 0 && !l.up[End(n.id, p.id)]) {
        failure_ = "node " + std::to_string(n.id) + " holds work for node " + std::to_string(p.id) +
                   " whose link is down";
        return false;
      }
      if (disruptions_ == 0 && p.running && n.mesh->HeldGone(p.id)) {
        failure_ = "node " + std::to_string(n.id) + " holds node " + std::to_string(p.id) +
                   " dead or left, though it runs and answers and nothing has disrupted it";
        return false;
      }
      if (gate.IsUp(p.id) && n.mesh->HeldGone(p.id)) {
        failure_ = "node " + std::to_string(n.id) + " holds peer " + std::to_string(p.id) +
                   " up but the membership holds it gone";
        return false;
      }
    }
    if (!CheckJournal(n)) return false;
    for (const auto& [id, job] : c.jobs()) {
      if (job.state != core::JobState::kRunning) continue;
      const SimJob* sj = nullptr;
      for (const SimJob& j : jobs_)
        if (j.coordinator == n.id && j.id == id) sj = &j;
      if (!sj) {
        failure_ = "node " + std::to_string(n.id) + " runs job " + std::to_string(id) +
                   " that nobody submitted";
        return false;
      }
      std::vector<int64_t>& verified = verified_[{n.id, id}];
      verified.resize(job.ledger.chunks().size(), INT64_MIN);
      for (size_t i = 0; i < job.ledger.chunks().size() && job.ledger.Relevant(i); i++) {
        const core::Chunk& chunk = job.ledger.chunk(i);
        if (verified[i] == chunk.done_upto) continue;
        verified[i] = chunk.done_upto;
        if (!(chunk.done == sj->function.Reference(chunk.begin, chunk.done_upto))) {
          failure_ = "node " + std::to_string(n.id) + " job " + std::to_string(id) + " chunk " +
                     std::to_string(i) + " committed up to " + std::to_string(chunk.done_upto) +
                     " does not match the reference";
          return false;
        }
      }
    }
  }
  return failure_.empty();
}

// A job may end failed for a fault that makes attempts fail rather than vanish, a chunk then
// failing max_failures times, the last time for that fault (the error says which): executors
// made to fail, a worker's module disk full, or its coordinator's own copy of the module
// found damaged (a worker without the module cannot fetch it from there). Any other ending is
// a bug.
bool NodeSim::FailedForAFault(const SimJob& job, const std::string& error) const {
  if (error.rfind("gave up after ", 0) != 0) return false;
  const ModuleHash& module = job.request.module->hash();
  if (lost_modules_.count({job.coordinator, module}) > 0 &&
      error.find(ModuleStore::Missing(module)) != std::string::npos)
    return true;
  if (failing_executors_ > 0 && error.find(kExecutorDied) != std::string::npos) return true;
  bool refused = false;
  for (const Node& n : nodes_) refused = refused || n.disk.module_writes_refused > 0;
  return refused && error.find("(disk full)") != std::string::npos;
}

// The journal tells the truth: with nothing left to write, the disk holds what the coordinator
// holds (each job's state, and each running job's committed chunks), so that a crash now loses
// nothing. And it does not hold ops back: with room on its disk, what it buffered is written
// within kJournalLagMs (a flush that failed is tried again, not left for the next op).
bool NodeSim::CheckJournal(Node& n) {
  VELUM_ASSERT(n.running && n.journal);
  if (n.paused) {  // nothing runs there: its clock of unwritten ops starts again at the resume
    n.dirty_since_us = 0;
    return true;
  }
  if (n.journal->dirty() && !n.disk.full) {
    if (!n.dirty_since_us) n.dirty_since_us = now_us_;
    if (now_us_ - n.dirty_since_us > kJournalLagMs * 1000) {
      failure_ = "node " + std::to_string(n.id) + " has held unwritten journal ops for " +
                 std::to_string((now_us_ - n.dirty_since_us) / 1000) + " ms with room on its disk";
      return false;
    }
    return true;
  }
  n.dirty_since_us = 0;
  if (n.journal->dirty()) return true;
  auto differ = [&](core::JobId id, const std::string& what) {
    failure_ = "node " + std::to_string(n.id) + " job " + std::to_string(id) +
               ": its journal is flushed but the disk " + what;
    return false;
  };
  for (const auto& [id, job] : n.jobs->coordinator().jobs()) {
    auto stored = n.disk.jobs.find(id);
    if (stored == n.disk.jobs.end()) return differ(id, "does not have the job");
    if (stored->second.state != job.state)
      return differ(id, std::string("says ") + core::JobStateName(stored->second.state) +
                            " and memory " + core::JobStateName(job.state));
    if (job.state != core::JobState::kRunning) continue;
    for (size_t i = 0; i < job.ledger.chunks().size(); i++) {
      const core::Chunk& chunk = job.ledger.chunk(i);
      auto row = n.disk.chunks.find({id, static_cast<uint32_t>(i)});
      if (row == n.disk.chunks.end() || row->second.begin != chunk.begin ||
          row->second.end != chunk.end || row->second.done_upto != chunk.done_upto ||
          row->second.complete != chunk.complete)
        return differ(id, "has chunk " + std::to_string(i) + " behind or different");
    }
  }
  return true;
}

bool NodeSim::AllEnded() {
  // Every call ends, unless its caller is gone (a crash forgets the calls it sent).
  for (const SimCall& call : calls_)
    if (call.caller && !call.ended && N(call.caller).running &&
        N(call.caller).inc == call.caller_inc)
      return false;
  for (SimJob& job : jobs_) {
    if (job.outcome.state) continue;
    if (!job.id) return false;
    Node& n = N(job.coordinator);
    if (!n.running) return false;
    const core::Job* j = n.jobs->coordinator().job(*job.id);
    if (!j) {
      failure_ = "job " + std::to_string(*job.id) + " at node " + std::to_string(n.id) +
                 " is gone (lost from the journal)";
      return false;
    }
    if (j->state == core::JobState::kRunning) return false;
    job.outcome = {j->state, j->result, j->error, j->resumed, j->stats.reassigned};
    reassigned_ += j->stats.reassigned;
    if (j->state != core::JobState::kDone) {
      if (j->state == core::JobState::kFailed && FailedForAFault(job, j->error)) {
        jobs_given_up_++;
        continue;
      }
      failure_ = "job " + std::to_string(*job.id) + " at node " + std::to_string(n.id) + " " +
                 core::JobStateName(j->state) + ": " + j->error;
      return false;
    }
    std::vector<core::NumKind> kinds(job.function.kind == SimFunction::Kind::kSum   ? 2
                                     : job.function.kind == SimFunction::Kind::kMat ? 4
                                                                                    : 1,
                                     core::NumKind::kInt);
    auto want = core::FinalValues(job.function.Reference(job.request.start, job.request.end),
                                  core::ReducedKinds(job.request.reducer, kinds));
    if (job.outcome.result != want) {
      std::ostringstream msg;
      msg << "job " << *job.id << " (" << job.request.func << " over [" << job.request.start << ", "
          << job.request.end << ")) = ";
      for (const auto& v : job.outcome.result) msg << core::FormatNum(v) << " ";
      msg << "but the reference is ";
      for (const auto& v : want) msg << core::FormatNum(v) << " ";
      failure_ = msg.str();
      return false;
    }
  }
  return true;
}

bool NodeSim::Run() {
  // Once everything ended, a quiet while more: then nothing may be left held anywhere.
  std::optional<uint64_t> drain_until_us;
  while (!queue_.empty()) {
    Event e = queue_.top();
    if (drain_until_us && e.at_us > *drain_until_us) break;
    queue_.pop();
    VELUM_ASSERT(e.at_us >= now_us_);
    if (e.at_us > options_.limit_ms * 1000) break;
    now_us_ = thread_us_ = e.at_us;
    events_++;
    Dispatch(e);
    if (!Check()) return false;
    if (!drain_until_us && !chaos_ && AllEnded()) drain_until_us = now_us_ + kDrainMs * 1000;
    if (!failure_.empty()) return false;
  }
  if (!drain_until_us) {
    if (failure_.empty()) failure_ = "not every job ended by " + std::to_string(now_ms()) + " ms";
    return false;
  }
  // Calls served for others end with their answer or their caller: none is held, and no
  // answer is still awaited.
  for (const Node& n : nodes_) {
    if (!n.running) continue;
    if (n.jobs->calls_busy() != 0 || n.jobs->calls_pending() != 0) {
      failure_ = "node " + std::to_string(n.id) + " still holds " +
                 std::to_string(n.jobs->calls_busy()) + " calls served and " +
                 std::to_string(n.jobs->calls_pending()) + " sent, after every call ended";
      return false;
    }
  }
  return true;
}

uint64_t NodeSim::damaged_reads() const {
  uint64_t found = 0;
  for (const Node& n : nodes_) found += n.disk.damaged_reads;
  return found;
}

std::string NodeSim::Summary() const {
  std::ostringstream s;
  s << "seed " << options_.seed;
  if (!options_.config.empty())
    s << " (replay: velum-sim --config " << options_.config << " --nodes " << options_.nodes
      << " --jobs " << options_.jobs << " --seed " << options_.seed << ")";
  s << " t=" << now_ms() << " ms, events " << events_ << ", faults " << faults_ << ", restarts "
    << restarts_ << "; jobs:";
  for (const SimJob& job : jobs_) {
    s << " [" << job.request.func << " " << job.request.start << ".." << job.request.end << " at "
      << job.coordinator;
    if (job.id) s << " id " << *job.id;
    if (job.outcome.state) s << " " << core::JobStateName(*job.outcome.state);
    const Node& n = N(job.coordinator);
    if (job.id && n.running && !job.outcome.state)
      if (const core::Job* j = n.jobs->coordinator().job(*job.id))
        s << " " << core::JobStateName(j->state) << " " << j->ledger.items_done() << "/"
          << j->ledger.items_total();
    s << "]";
  }
  for (size_t i = 0; i < calls_.size(); i++) {
    const SimCall& c = calls_[i];
    if (c.caller && !c.ended && N(c.caller).running && N(c.caller).inc == c.caller_inc)
      s << " [call " << i << " " << c.caller << "->" << c.target << " unanswered]";
  }
  s << "; nodes:";
  for (const Node& n : nodes_) {
    s << " " << n.id << (n.running ? (n.paused ? "P" : "") : "X") << (n.disk.full ? "F" : "");
    if (n.running) {
      size_t links = 0;
      for (const Node& p : nodes_)
        if (p.id != n.id && links_.count({std::min(n.id, p.id), std::max(n.id, p.id)}) &&
            links_.at({std::min(n.id, p.id), std::max(n.id, p.id)}).up[End(n.id, p.id)])
          links++;
      s << "(live " << n.mesh->membership().live_count() << ", links " << links << ", tasks "
        << n.jobs->worker().tasks() << ", slices " << n.jobs->worker().running() << ", calls "
        << n.jobs->calls_busy() << " served " << n.jobs->calls_pending() << " sent, gate up";
      for (const Node& p : nodes_)
        if (p.id != n.id && n.jobs->peer_gate().IsUp(p.id)) s << " " << p.id;
      s << ")";
      for (const auto& [id, job] : n.jobs->coordinator().jobs()) {
        if (job.state != core::JobState::kRunning) continue;
        s << " job " << id << " attempts:";
        for (const auto& chunk : job.ledger.chunks())
          for (const auto& a : chunk.attempts) s << " " << a.worker << (a.backup ? "b" : "");
      }
    }
  }
  return s.str();
}

}  // namespace velum::sim
