// The job simulator's event loop: deliveries, slices, ticks, journal flushes and faults, in
// virtual time from one seeded generator, so a seed replays the same run exactly.
#include "tests/sim/job_sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/assert.h"
#include "core/reducer.h"

namespace velum::sim {

using core::Num;
using core::Partial;

namespace {
constexpr NodeId kCoordinator = 1;
constexpr uint64_t kFlushMs = 20;  // the node batches journal writes about this often
constexpr uint64_t kMaxTickMs = 100;

int64_t Wrap(__int128 v) { return static_cast<int64_t>(static_cast<uint64_t>(v)); }
}  // namespace

// --- Simulated exports --------------------------------------------------------------------

std::optional<SimFunction> SimFunction::Parse(const std::string& func) {
  SimFunction f;
  if (func == "sum") {
    f.kind = Kind::kSum;
  } else if (func == "min") {
    f.kind = Kind::kMin;
  } else if (func == "max") {
    f.kind = Kind::kMax;
  } else if (func.rfind("first:", 0) == 0) {
    f.kind = Kind::kFirst;
    size_t colon = func.find(':', 6);
    if (colon == std::string::npos) return std::nullopt;
    f.modulus = std::stoll(func.substr(6, colon - 6));
    f.residue = std::stoll(func.substr(colon + 1));
    if (f.modulus < 2 || f.residue <= 0 || f.residue >= f.modulus) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return f;
}

std::vector<Num> SimFunction::Call(int64_t lo, int64_t hi) const {
  VELUM_ASSERT(lo < hi);
  switch (kind) {
    case Kind::kSum: {
      __int128 count = static_cast<__int128>(hi) - lo;
      __int128 sum = count * (static_cast<__int128>(lo) + hi - 1) / 2;
      return {Num::Int(Wrap(sum)), Num::Int(Wrap(count))};
    }
    case Kind::kMin:
      return {Num::Int(lo)};
    case Kind::kMax:
      return {Num::Int(hi - 1)};
    case Kind::kFirst: {
      int64_t r0 = ((lo % modulus) + modulus) % modulus;
      int64_t d = ((residue - r0) % modulus + modulus) % modulus;
      __int128 i = static_cast<__int128>(lo) + d;
      return {Num::Int(i < hi ? static_cast<int64_t>(i) : 0)};
    }
  }
  return {};
}

Partial SimFunction::Reference(int64_t lo, int64_t hi) const {
  if (lo >= hi) return {};
  core::ReducerKind r = kind == Kind::kSum   ? core::ReducerKind::kSum
                        : kind == Kind::kMin ? core::ReducerKind::kMin
                        : kind == Kind::kMax ? core::ReducerKind::kMax
                                             : core::ReducerKind::kFirst;
  return core::SlicePartial(r, Call(lo, hi));
}

// A range [*lo, *hi) drawn from the whole int64 domain, weighted toward its edges: the whole
// domain, ranges ending at INT64_MAX or starting at INT64_MIN, 1-item ranges, sizes spread
// log-uniformly over 1 .. 2^64 - 1 at random places.
void RandomInt64Range(core::Rng& rng, int64_t* lo, int64_t* hi) {
  // A size in [1, 2^64 - 1], its bit length uniform.
  auto size = [&rng]() -> uint64_t {
    unsigned bits = 1 + static_cast<unsigned>(rng.Uniform(64));
    uint64_t top = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
    uint64_t n = rng.Next() & top;
    return n == 0 ? 1 : n;
  };
  // A start at which `n` items fit: [INT64_MIN, INT64_MAX - n].
  auto start_for = [&rng](uint64_t n) -> int64_t {
    uint64_t room = UINT64_MAX - n;  // starts available, minus one
    uint64_t off = room == UINT64_MAX ? rng.Next() : rng.Uniform(room + 1);
    return static_cast<int64_t>(static_cast<uint64_t>(INT64_MIN) + off);
  };
  auto set = [lo, hi](int64_t start, uint64_t n) {
    *lo = start;
    *hi = static_cast<int64_t>(static_cast<uint64_t>(start) + n);
  };
  switch (rng.Uniform(8)) {
    case 0:
      *lo = INT64_MIN, *hi = INT64_MAX;  // 2^64 - 1 items
      break;
    case 1: {  // ending at INT64_MAX
      uint64_t n = size();
      set(static_cast<int64_t>(static_cast<uint64_t>(INT64_MAX) - n), n);
      break;
    }
    case 2:  // starting at INT64_MIN
      set(INT64_MIN, size());
      break;
    case 3: {  // one item, anywhere (the edges included)
      uint64_t pick = rng.Uniform(4);
      int64_t at = pick == 0 ? INT64_MIN : pick == 1 ? INT64_MAX - 1 : start_for(1);
      set(at, 1);
      break;
    }
    case 4:  // [0, INT64_MAX): the range of the report
      *lo = 0, *hi = INT64_MAX;
      break;
    default: {
      uint64_t n = size();
      set(start_for(n), n);
    }
  }
}

// --- Setup ---------------------------------------------------------------------------------

JobSim::JobSim(JobSimOptions options) : options_(options), rng_(options.seed) {
  trace_ = std::getenv("VELUM_SIM_TRACE") != nullptr;
  VELUM_ASSERT(options_.workers >= 1 && options_.workers < 1000);
  workers_.resize(options_.workers);
  for (uint32_t i = 0; i < options_.workers; i++) {
    WorkerNode& w = workers_[i];
    w.id = static_cast<NodeId>(i + 2);
    w.slots = 1 + static_cast<uint32_t>(rng_.Uniform(options_.max_slots));
    w.speed = options_.speed_min + rng_.Real() * (options_.speed_max - options_.speed_min);
  }
  StartCoordinator();
  for (WorkerNode& w : workers_) StartWorker(w);
  if (options_.faults_per_s > 0 &&
      (options_.crashes || options_.hangs || options_.cuts || options_.coordinator_crashes)) {
    double mean_gap_ms = 1000.0 / options_.faults_per_s;
    for (double t = mean_gap_ms * rng_.Real() * 2; t < options_.chaos_ms;
         t += mean_gap_ms * rng_.Real() * 2)
      Push(Make(static_cast<uint64_t>(t), Kind::kFault, 0));
  }
  Push(Make(options_.chaos_ms, Kind::kHeal, 0));
}

JobSim::~JobSim() = default;

void JobSim::AddJob(const core::JobSpec& spec, uint64_t at_ms) {
  auto f = SimFunction::Parse(spec.func);
  VELUM_ASSERT(f.has_value());
  SimJob job;
  job.spec = spec;
  job.function = *f;
  job.submit_at_ms = at_ms;
  jobs_.push_back(job);
  Event e = Make(at_ms, Kind::kSubmit, 0);
  e.slice = jobs_.size() - 1;
  Push(std::move(e));
}

void JobSim::AddRandomJobs(size_t count) {
  for (size_t i = 0; i < count; i++) {
    core::JobSpec spec;
    uint64_t kind = rng_.Uniform(6);
    if (kind <= 2) {
      spec.func = "sum";
      spec.reducer = core::ReducerKind::kSum;
      spec.result_kinds = {core::NumKind::kInt, core::NumKind::kInt};
    } else if (kind == 3) {
      spec.func = rng_.Chance(0.5) ? "min" : "max";
      spec.reducer = spec.func == "min" ? core::ReducerKind::kMin : core::ReducerKind::kMax;
      spec.result_kinds = {core::NumKind::kInt};
    } else {
      // A search: sometimes the answer exists (early in the range or late), sometimes not.
      int64_t m = static_cast<int64_t>(1000 + rng_.Uniform(50'000'000));
      spec.func = "first:" + std::to_string(m) + ":" + std::to_string(1 + rng_.Uniform(m - 1));
      spec.reducer = core::ReducerKind::kFirst;
      spec.result_kinds = {core::NumKind::kInt};
    }
    int64_t size = static_cast<int64_t>(1000 + rng_.Uniform(40'000'000));
    spec.start = static_cast<int64_t>(rng_.Uniform(1'000'000'000)) - 500'000'000;
    if (spec.reducer == core::ReducerKind::kFirst) spec.start = std::max<int64_t>(spec.start, 1);
    if (rng_.Chance(0.1)) spec.start = INT64_MAX - size - 1;  // far ends of the 64-bit range
    if (rng_.Chance(0.05) && spec.reducer != core::ReducerKind::kFirst) spec.start = INT64_MIN;
    spec.end = spec.start + size;
    if (options_.int64_ranges) {
      RandomInt64Range(rng_, &spec.start, &spec.end);
      size =
          static_cast<int64_t>(std::min<uint64_t>(core::ItemsIn(spec.start, spec.end), INT64_MAX));
      // A search's closed form needs lo >= 0 for its modulus arithmetic: searches keep to
      // the upper half, which still reaches INT64_MAX.
      if (spec.reducer == core::ReducerKind::kFirst && spec.start < 1) {
        spec.start = 1;
        if (spec.end <= spec.start) spec.end = spec.start + 1;
        size = static_cast<int64_t>(core::ItemsIn(spec.start, spec.end));
      }
    }
    spec.wide = true;
    // Fixed chunks: from a handful to a couple of hundred (each step checks every chunk).
    if (rng_.Chance(0.2))
      spec.chunk_items = static_cast<uint64_t>(size) / (4 + rng_.Uniform(200)) + 1;
    spec.exclude_self = options_.coordinator_works ? rng_.Chance(0.3) : true;
    spec.timeout_ms = 60000;
    spec.label = "job" + std::to_string(i);
    uint64_t at = i == 0 ? 0 : rng_.Uniform(options_.chaos_ms + 1);
    AddJob(spec, at);
  }
}

JobSim::Event JobSim::Make(uint64_t time, Kind kind, NodeId node) {
  Event e;
  e.time = time;
  e.order = 0;
  e.kind = kind;
  e.node = node;
  e.gen = 0;
  e.link_gen = 0;
  return e;
}

void JobSim::Push(Event e) {
  e.order = order_++;
  queue_.push(std::move(e));
}

uint64_t JobSim::Latency() {
  uint64_t span = options_.latency_max_ms - options_.latency_min_ms + 1;
  uint64_t d = options_.latency_min_ms + rng_.Uniform(span);
  if (rng_.Chance(options_.tail)) d += rng_.Uniform(options_.tail_max_ms + 1);
  return d;
}

JobSim::WorkerNode* JobSim::Worker(NodeId id) {
  if (id < 2 || id - 2 >= workers_.size()) return nullptr;
  return &workers_[id - 2];
}

// --- Lifecycle -----------------------------------------------------------------------------

void JobSim::StartCoordinator() {
  VELUM_ASSERT(!coordinator_);
  coord_gen_++;
  epoch_++;
  JobId first = 1;
  for (const auto& [id, j] : durable_jobs_) first = std::max(first, id + 1);
  coordinator_ =
      std::make_unique<core::Coordinator>(kCoordinator, options_.coordinator, epoch_, first);
  gate_ = std::make_unique<core::PeerGate>(kCoordinator, workers_.size() + 1);
  for (const auto& [id, j] : durable_jobs_) {
    std::vector<core::JournalChunk> chunks;
    for (auto it = durable_chunks_.lower_bound({id, 0});
         it != durable_chunks_.end() && it->first.first == id; ++it)
      chunks.push_back(it->second);
    coordinator_->Restore(j, chunks, now_);
  }
  coordinator_->CheckInvariants();
  verified_.clear();  // a new ledger: check every chunk again
  coord_tick_at_ = self_tick_at_ = UINT64_MAX;
  if (options_.coordinator_works) {
    core::WorkerConfig wc = options_.worker;
    wc.slots = 1 + static_cast<uint32_t>(rng_.Uniform(options_.max_slots));
    self_worker_ = std::make_unique<core::Worker>(kCoordinator, wc);
    ProcessCoordinator(coordinator_->OnWorkerUp(kCoordinator, wc.slots, now_));
  }
  // Peers come back as the membership and the links find them again.
  for (WorkerNode& w : workers_) {
    w.known_down = false;
    w.registered = 0;
    if (w.running && !w.paused && !w.cut) Register(w, 20 + rng_.Uniform(400));
  }
  ScheduleTick(kCoordinator);
}

void JobSim::GateFact(const WorkerNode& w, bool link, bool up) {
  VELUM_ASSERT(coordinator_ && gate_);
  auto change = link ? gate_->OnLink(w.id, up) : gate_->OnMember(w.id, up, w.slots);
  if (!change) return;
  switch (change->kind) {
    case core::PeerChangeKind::kUp:
    case core::PeerChangeKind::kSlotsChanged:
      ProcessCoordinator(coordinator_->OnWorkerUp(w.id, change->slots, now_));
      break;
    case core::PeerChangeKind::kDown:
      ProcessCoordinator(coordinator_->OnWorkerDown(w.id, now_));
      break;
    case core::PeerChangeKind::kLinkLost:
      break;  // the worker was not held up here: nothing for the coordinator
  }
}

void JobSim::CrashCoordinator(uint64_t restart_after_ms) {
  if (!coordinator_) return;
  faults_++;
  coordinator_.reset();
  gate_.reset();
  self_worker_.reset();
  journal_buffer_.clear();  // not yet durable: lost with the process
  flush_scheduled_ = false;
  for (WorkerNode& w : workers_) {
    if (!w.running) continue;
    w.link_gen++;
    // tcp: the reset reaches every worker; otherwise some never hear of it (a cut).
    if (options_.tcp || rng_.Chance(0.7)) {
      Event e = Make(now_ + rng_.Uniform(500), Kind::kCoordDownAtWorker, w.id);
      e.gen = w.gen;
      Push(std::move(e));
    }
  }
  Push(Make(now_ + restart_after_ms, Kind::kRestartCoordinator, 0));
}

void JobSim::StartWorker(WorkerNode& w) {
  w.gen++;
  w.running = true;
  w.paused = w.cut = false;
  w.deferred.clear();
  core::WorkerConfig wc = options_.worker;
  wc.slots = w.slots;
  w.core = std::make_unique<core::Worker>(w.id, wc);
  w.tick_at = UINT64_MAX;
  w.registered = 0;
  Register(w, 20 + rng_.Uniform(300));
  ScheduleTick(w.id);
}

void JobSim::CrashWorker(WorkerNode& w, uint64_t restart_after_ms) {
  if (!w.running) return;
  faults_++;
  w.running = false;
  w.paused = false;
  w.core.reset();
  w.deferred.clear();
  w.link_gen++;
  DetectDown(w, 200 + rng_.Uniform(1500));
  Event e = Make(now_ + restart_after_ms, Kind::kRestartWorker, w.id);
  e.gen = w.gen;
  Push(std::move(e));
}

// The failure detector reports the worker down after a delay, unless it is back by then.
void JobSim::DetectDown(WorkerNode& w, uint64_t delay_ms) {
  Event e = Make(now_ + delay_ms, Kind::kWorkerDown, w.id);
  e.gen = w.gen;
  e.link_gen = coord_gen_;
  Push(std::move(e));
}

void JobSim::RandomFault() {
  std::vector<int> kinds;
  if (options_.crashes) kinds.push_back(0);
  if (options_.hangs) kinds.push_back(1);
  if (options_.cuts) kinds.push_back(2);
  if (options_.coordinator_crashes) kinds.push_back(3);
  if (kinds.empty()) return;
  int kind = kinds[rng_.Uniform(kinds.size())];
  if (kind == 3) {
    CrashCoordinator(200 + rng_.Uniform(3000));
    return;
  }
  WorkerNode& w = workers_[rng_.Uniform(workers_.size())];
  if (!w.running || w.paused || w.cut) return;
  if (kind == 0) {
    CrashWorker(w, 300 + rng_.Uniform(5000));
  } else if (kind == 1) {
    // SIGSTOP: nothing is processed; long hangs are detected, short ones are not.
    faults_++;
    w.paused = true;
    uint64_t hang = 100 + rng_.Uniform(4000);
    uint64_t detect = 1000 + rng_.Uniform(1000);
    if (hang > detect) DetectDown(w, detect);
    Event e = Make(now_ + hang, Kind::kResumeWorker, w.id);
    e.gen = w.gen;
    Push(std::move(e));
  } else {
    // A network cut: messages are lost both ways; long cuts are detected as deaths.
    faults_++;
    w.cut = true;
    uint64_t cut = 100 + rng_.Uniform(4000);
    uint64_t detect = 1000 + rng_.Uniform(1000);
    if (cut > detect) DetectDown(w, detect);
    Event e = Make(now_ + cut, Kind::kHealCut, w.id);
    e.gen = w.gen;
    Push(std::move(e));
  }
}

void JobSim::CrashWorkerAt(NodeId id, uint64_t at_ms, uint64_t restart_after_ms) {
  Event e = Make(at_ms, Kind::kFault, id);
  e.slice = restart_after_ms;
  e.gen = 1;  // scripted
  Push(std::move(e));
}

void JobSim::CrashCoordinatorAt(uint64_t at_ms, uint64_t restart_after_ms) {
  Event e = Make(at_ms, Kind::kFault, kCoordinator);
  e.slice = restart_after_ms;
  e.gen = 1;
  Push(std::move(e));
}

// The membership (and a new link) reports the worker alive to the coordinator after a delay.
void JobSim::Register(WorkerNode& w, uint64_t delay_ms) {
  if (!CoordinatorUp()) return;
  Event e = Make(now_ + delay_ms, Kind::kWorkerUp, w.id);
  e.gen = w.gen;
  e.link_gen = coord_gen_;
  Push(std::move(e));
}

// A link that resets: what was in flight on it is lost (tcp), and the worker may notice.
void JobSim::ResetLink(WorkerNode& w, bool worker_notices) {
  w.link_gen++;
  if (worker_notices && w.core) ProcessWorker(w.id, w.core->OnCoordinatorDown(kCoordinator, now_));
}

void JobSim::Heal() {
  chaos_ = false;
  for (WorkerNode& w : workers_) {
    if (!w.running) {
      StartWorker(w);
    } else if (w.paused) {
      Event e = Make(now_, Kind::kResumeWorker, w.id);
      e.gen = w.gen;
      Push(std::move(e));
    } else if (w.cut) {
      Event e = Make(now_, Kind::kHealCut, w.id);
      e.gen = w.gen;
      Push(std::move(e));
    }
  }
  if (!coordinator_) Push(Make(now_, Kind::kRestartCoordinator, 0));
}

// --- Messages ------------------------------------------------------------------------------

void JobSim::SendToWorker(NodeId to, const core::ToWorker& m) {
  if (to == kCoordinator) {
    if (!self_worker_) return;
    Event e = Make(now_, Kind::kToWorker, to);
    e.gen = coord_gen_;
    e.payload = m;
    Push(std::move(e));
    return;
  }
  WorkerNode* w = Worker(to);
  if (!w || !w->running) return;
  uint64_t copies = 1;
  if (!options_.tcp) {
    if (rng_.Chance(options_.loss)) return;
    if (rng_.Chance(options_.duplicate)) copies = 2;
  }
  for (uint64_t c = 0; c < copies; c++) {
    uint64_t at = now_ + Latency();
    if (options_.tcp) at = w->last_from_coord_ms = std::max(at, w->last_from_coord_ms);
    Event e = Make(at, Kind::kToWorker, to);
    e.gen = w->gen;
    e.link_gen = w->link_gen;
    e.payload = m;
    Push(std::move(e));
  }
}

void JobSim::SendToCoordinator(NodeId from, const core::Report& r) {
  if (from == kCoordinator) {
    Event e = Make(now_, Kind::kToCoordinator, from);
    e.gen = coord_gen_;
    e.payload = r;
    Push(std::move(e));
    return;
  }
  WorkerNode* w = Worker(from);
  VELUM_ASSERT(w != nullptr);
  uint64_t copies = 1;
  if (!options_.tcp) {
    if (rng_.Chance(options_.loss)) return;
    if (rng_.Chance(options_.duplicate)) copies = 2;
  }
  for (uint64_t c = 0; c < copies; c++) {
    uint64_t at = now_ + Latency();
    if (options_.tcp) at = w->last_to_coord_ms = std::max(at, w->last_to_coord_ms);
    Event e = Make(at, Kind::kToCoordinator, from);
    e.gen = coord_gen_;  // addressed to this coordinator process
    e.link_gen = w->link_gen;
    e.payload = r;
    Push(std::move(e));
  }
}

void JobSim::ProcessCoordinator(core::CoordinatorOutput out) {
  for (auto& [to, m] : out.messages) {
    if (trace_) {
      if (auto* a = std::get_if<core::Assign>(&m))
        std::fprintf(stderr, "%8llu coord -> %u assign job %llu attempt %llx [%lld, %lld)\n",
                     (unsigned long long)now_, to, (unsigned long long)a->job,
                     (unsigned long long)a->attempt, (long long)a->start, (long long)a->end);
      else
        std::fprintf(stderr, "%8llu coord -> %u cancel job %llu attempt %llx\n",
                     (unsigned long long)now_, to,
                     (unsigned long long)std::get<core::Cancel>(m).job,
                     (unsigned long long)std::get<core::Cancel>(m).attempt);
    }
    SendToWorker(to, m);
  }
  if (!out.journal.empty()) {
    for (auto& op : out.journal) journal_buffer_.push_back(std::move(op));
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      Event e = Make(now_ + kFlushMs, Kind::kFlush, 0);
      e.gen = coord_gen_;
      Push(std::move(e));
    }
  }
  for (const auto& ev : out.events) {
    const core::Job* job = coordinator_->job(ev.job);
    VELUM_ASSERT(job != nullptr);
    if (ev.state != core::JobState::kDone) {
      if (failure_.empty())
        failure_ = "job " + std::to_string(ev.job) + " ended " + core::JobStateName(ev.state) +
                   ": " + job->error;
      continue;
    }
    finished_stats_[ev.job] = job->stats;
  }
  ScheduleTick(kCoordinator);
}

void JobSim::ProcessWorker(NodeId id, core::WorkerOutput out) {
  for (auto& [to, r] : out.reports) {
    VELUM_ASSERT(to == kCoordinator);
    if (trace_)
      std::fprintf(stderr,
                   "%8llu %u -> coord report job %llu attempt %llx upto %lld running %lld%s%s\n",
                   (unsigned long long)now_, id, (unsigned long long)r.job,
                   (unsigned long long)r.attempt, (long long)r.upto, (long long)r.running_to,
                   r.partial.empty() ? "" : " found/partial", r.has_error ? " ERROR" : "");
    SendToCoordinator(id, r);
  }
  WorkerNode* w = Worker(id);
  double speed = w ? w->speed : 10000;
  uint32_t gen = w ? w->gen : coord_gen_;
  for (const core::SliceRun& run : out.start) {
    auto f = SimFunction::Parse(run.func);
    VELUM_ASSERT(f.has_value());
    double items = static_cast<double>(core::ItemsIn(run.lo, run.hi));
    double jitter = 0.8 + 0.4 * rng_.Real();
    // At most a virtual day: a slice of 2^64 items at a low speed must not overflow.
    uint64_t us = static_cast<uint64_t>(std::min(items / speed * 1000.0 * jitter, 864e8)) + 50;
    Event e = Make(now_ + us / 1000, Kind::kSliceDone, id);
    e.gen = gen;
    e.slice = run.id;
    e.result.ok = true;
    e.result.values = f->Call(run.lo, run.hi);
    e.result.busy_us = us;
    Push(std::move(e));
  }
  ScheduleTick(id);
}

void JobSim::ScheduleTick(NodeId id) {
  uint64_t* at;
  uint64_t deadline;
  uint32_t gen;
  if (id == kCoordinator) {
    // The coordinator node ticks both of its cores with one timer.
    if (!coordinator_) return;
    deadline = coordinator_->NextDeadlineMs();
    if (self_worker_) deadline = std::min(deadline, self_worker_->NextDeadlineMs());
    at = &coord_tick_at_;
    gen = coord_gen_;
  } else {
    WorkerNode* w = Worker(id);
    if (!w || !w->core) return;
    deadline = w->core->NextDeadlineMs();
    at = &w->tick_at;
    gen = w->gen;
  }
  uint64_t when = std::clamp(deadline, now_ + 1, now_ + kMaxTickMs);
  if (when >= *at && *at > now_) return;  // an earlier tick is already scheduled
  *at = when;
  Event e = Make(when, Kind::kTick, id);
  e.gen = gen;
  Push(std::move(e));
}

// --- The loop ------------------------------------------------------------------------------

void JobSim::DeliverToWorker(WorkerNode& w, const Event& e) {
  if (e.kind == Kind::kToWorker) {
    const auto& m = std::get<core::ToWorker>(e.payload);
    if (const auto* a = std::get_if<core::Assign>(&m))
      ProcessWorker(w.id, w.core->OnAssign(kCoordinator, *a, now_));
    else
      ProcessWorker(w.id, w.core->OnCancel(kCoordinator, std::get<core::Cancel>(m), now_));
  } else if (e.kind == Kind::kSliceDone) {
    ProcessWorker(w.id, w.core->OnSliceDone(e.slice, e.result, now_));
  } else if (e.kind == Kind::kTick) {
    if (e.time != w.tick_at) return;
    w.tick_at = UINT64_MAX;
    ProcessWorker(w.id, w.core->Tick(now_));
  }
}

void JobSim::Dispatch(Event& e) {
  switch (e.kind) {
    case Kind::kSubmit: {
      SimJob& job = jobs_[e.slice];
      if (!coordinator_) {
        // The user's process is down: the job is submitted once it is back.
        Event again = Make(now_ + 100, Kind::kSubmit, 0);
        again.slice = e.slice;
        Push(std::move(again));
        return;
      }
      JobId id = 0;
      std::string error;
      auto out = coordinator_->Submit(job.spec, now_, &id, &error);
      VELUM_ASSERT(error.empty());
      job.id = id;
      job_index_[id] = e.slice;
      ProcessCoordinator(std::move(out));
      // The shell makes a new job durable before it answers with the job's id.
      Event flush = Make(now_, Kind::kFlush, 0);
      flush.gen = coord_gen_;
      Dispatch(flush);
      return;
    }
    case Kind::kToWorker: {
      if (e.node == kCoordinator) {
        if (e.gen == coord_gen_ && self_worker_) {
          const auto& m = std::get<core::ToWorker>(e.payload);
          core::WorkerOutput out =
              std::holds_alternative<core::Assign>(m)
                  ? self_worker_->OnAssign(kCoordinator, std::get<core::Assign>(m), now_)
                  : self_worker_->OnCancel(kCoordinator, std::get<core::Cancel>(m), now_);
          ProcessWorker(kCoordinator, std::move(out));
        }
        return;
      }
      WorkerNode* w = Worker(e.node);
      if (!w->running || e.gen != w->gen || w->cut) return;
      if (options_.tcp && e.link_gen != w->link_gen) return;  // sent on a link that reset
      if (w->paused) {
        w->deferred.push_back(e);
        return;
      }
      DeliverToWorker(*w, e);
      return;
    }
    case Kind::kToCoordinator: {
      if (!coordinator_ || e.gen != coord_gen_) return;  // sent to a process that died
      const auto& r = std::get<core::Report>(e.payload);
      if (e.node != kCoordinator) {
        WorkerNode* w = Worker(e.node);
        if (w->cut) return;
        if (options_.tcp && e.link_gen != w->link_gen) return;
      }
      ProcessCoordinator(coordinator_->OnReport(e.node, r, now_));
      return;
    }
    case Kind::kSliceDone:
    case Kind::kTick: {
      if (e.node == kCoordinator) {
        if (e.gen != coord_gen_ || !coordinator_) return;
        if (e.kind == Kind::kSliceDone) {
          if (self_worker_)
            ProcessWorker(kCoordinator, self_worker_->OnSliceDone(e.slice, e.result, now_));
          return;
        }
        if (e.time != coord_tick_at_) return;
        coord_tick_at_ = UINT64_MAX;
        ProcessCoordinator(coordinator_->Tick(now_));
        if (self_worker_) ProcessWorker(kCoordinator, self_worker_->Tick(now_));
        return;
      }
      WorkerNode* w = Worker(e.node);
      if (!w->running || e.gen != w->gen) return;
      if (w->paused) {
        w->deferred.push_back(e);
        return;
      }
      DeliverToWorker(*w, e);
      return;
    }
    case Kind::kFlush: {
      if (e.gen != coord_gen_ || !coordinator_) return;
      flush_scheduled_ = false;
      for (auto& op : journal_buffer_) {
        if (auto* j = std::get_if<core::JournalJob>(&op)) {
          durable_jobs_[j->id] = *j;
        } else {
          auto& c = std::get<core::JournalChunk>(op);
          durable_chunks_[{c.job, c.index}] = c;
        }
      }
      journal_buffer_.clear();
      return;
    }
    case Kind::kFault: {
      if (e.gen == 1) {  // scripted
        if (e.node == kCoordinator) {
          CrashCoordinator(e.slice);
        } else if (WorkerNode* w = Worker(e.node)) {
          CrashWorker(*w, e.slice);
        }
        return;
      }
      if (chaos_) RandomFault();
      return;
    }
    case Kind::kWorkerDown: {
      WorkerNode* w = Worker(e.node);
      if (!coordinator_ || e.link_gen != coord_gen_) return;
      // Not about a process that was since replaced (its restart told the coordinator), nor
      // if it came back (resumed, healed) before the detector fired.
      if (e.gen != w->gen || w->known_down) return;
      if (w->running && !w->paused && !w->cut) return;
      w->known_down = true;
      w->registered = 0;
      GateFact(*w, false, false);  // the membership holds it dead
      // The coordinator drops its link to a member it holds dead.
      GateFact(*w, true, false);
      ResetLink(*w, false);
      return;
    }
    case Kind::kWorkerUp: {
      WorkerNode* w = Worker(e.node);
      if (!coordinator_ || e.link_gen != coord_gen_ || e.gen != w->gen) return;
      if (!w->running || w->paused || w->cut) return;
      w->known_down = false;
      w->registered = coord_gen_;
      GateFact(*w, true, true);   // a new link
      GateFact(*w, false, true);  // and the membership's word that it is alive
      return;
    }
    case Kind::kCoordDownAtWorker: {
      WorkerNode* w = Worker(e.node);
      if (!w->running || e.gen != w->gen || !w->core) return;
      if (w->paused) {
        w->deferred.push_back(e);
        return;
      }
      ProcessWorker(w->id, w->core->OnCoordinatorDown(kCoordinator, now_));
      return;
    }
    case Kind::kRestartWorker: {
      WorkerNode* w = Worker(e.node);
      if (w->running) return;
      // The coordinator learns of the old process's end at the latest now (its link resets).
      if (coordinator_ && !w->known_down && w->registered == coord_gen_) {
        w->known_down = true;
        GateFact(*w, true, false);
      }
      StartWorker(*w);
      return;
    }
    case Kind::kResumeWorker: {
      WorkerNode* w = Worker(e.node);
      if (!w->running || !w->paused || e.gen != w->gen) return;
      w->paused = false;
      if (w->known_down) {
        // Held dead while stopped: its link was dropped. With tcp it sees the reset at once;
        // otherwise it may go on reporting, and its stale reports must be ignored.
        bool notices = options_.tcp || rng_.Chance(0.5);
        if (notices) ProcessWorker(w->id, w->core->OnCoordinatorDown(kCoordinator, now_));
      }
      if (w->known_down || w->registered != coord_gen_) Register(*w, 50 + rng_.Uniform(300));
      std::vector<Event> deferred;
      deferred.swap(w->deferred);
      for (Event& d : deferred) {
        if (!w->running || w->paused || d.gen != w->gen) break;
        if (d.kind == Kind::kTick) continue;  // one tick below stands for all that came due
        if (d.kind == Kind::kToWorker && options_.tcp && d.link_gen != w->link_gen) continue;
        if (d.kind == Kind::kCoordDownAtWorker) {
          ProcessWorker(w->id, w->core->OnCoordinatorDown(kCoordinator, now_));
          continue;
        }
        DeliverToWorker(*w, d);
      }
      w->tick_at = UINT64_MAX;
      ProcessWorker(w->id, w->core->Tick(now_));
      return;
    }
    case Kind::kHealCut: {
      WorkerNode* w = Worker(e.node);
      if (!w->running || !w->cut || e.gen != w->gen) return;
      w->cut = false;
      if (w->known_down) ResetLink(*w, options_.tcp || rng_.Chance(0.5));
      if (w->known_down || w->registered != coord_gen_) Register(*w, 50 + rng_.Uniform(300));
      return;
    }
    case Kind::kRestartCoordinator:
      if (!coordinator_) {
        coordinator_restarts_++;
        StartCoordinator();
      }
      return;
    case Kind::kHeal:
      Heal();
      return;
  }
}

bool JobSim::CheckAll() {
  if (coordinator_) {
    coordinator_->CheckInvariants();
    // Every committed prefix is exactly the reduction of its items: nothing twice, no gap.
    for (const auto& [id, job] : coordinator_->jobs()) {
      if (job.state != core::JobState::kRunning) continue;
      auto it = job_index_.find(id);
      VELUM_ASSERT(it != job_index_.end());
      const SimFunction& f = jobs_[it->second].function;
      std::vector<int64_t>& verified = verified_[id];
      verified.resize(job.ledger.chunks().size(), INT64_MIN);
      for (size_t i = 0; i < job.ledger.chunks().size() && job.ledger.Relevant(i); i++) {
        const core::Chunk& c = job.ledger.chunk(i);
        if (verified[i] == c.done_upto) continue;  // unchanged since it was last checked
        verified[i] = c.done_upto;
        if (!(c.done == f.Reference(c.begin, c.done_upto))) {
          failure_ = "job " + std::to_string(id) + " chunk " + std::to_string(i) + " [" +
                     std::to_string(c.begin) + ", " + std::to_string(c.end) + ") committed up to " +
                     std::to_string(c.done_upto) + " does not match the reference";
          return false;
        }
      }
    }
  }
  if (self_worker_) self_worker_->CheckInvariants();
  for (const WorkerNode& w : workers_)
    if (w.core) w.core->CheckInvariants();
  return failure_.empty();
}

bool JobSim::AllDone() {
  if (!coordinator_) return false;
  for (SimJob& job : jobs_) {
    if (!job.id) return false;
    const core::Job* j = coordinator_->job(*job.id);
    if (!j || j->state != core::JobState::kDone) return false;
    if (!job.finished_ms) job.finished_ms = now_;
  }
  return true;
}

bool JobSim::Run() {
  while (!queue_.empty()) {
    Event e = queue_.top();
    queue_.pop();
    VELUM_ASSERT(e.time >= now_);
    if (e.time > options_.limit_ms) break;
    now_ = e.time;
    events_++;
    Dispatch(e);
    if (!CheckAll()) return false;
    if (!chaos_ && AllDone()) {
      // Exact answers, whatever happened on the way.
      for (const SimJob& job : jobs_) {
        const core::Job* j = coordinator_->job(*job.id);
        auto want = core::FinalValues(job.function.Reference(job.spec.start, job.spec.end),
                                      job.spec.result_kinds);
        if (j->result != want) {
          std::ostringstream msg;
          msg << "job " << *job.id << " (" << job.spec.func << " over [" << job.spec.start << ", "
              << job.spec.end << ")) = ";
          for (const auto& n : j->result) msg << core::FormatNum(n) << " ";
          msg << "but the reference is ";
          for (const auto& n : want) msg << core::FormatNum(n) << " ";
          failure_ = msg.str();
          return false;
        }
      }
      return true;
    }
  }
  if (failure_.empty()) failure_ = "not every job finished by " + std::to_string(now_) + " ms";
  return false;
}

uint64_t JobSim::total_reassigned() const {
  uint64_t n = 0;
  for (const auto& [id, s] : finished_stats_) n += s.reassigned;
  return n;
}
uint64_t JobSim::total_recomputed() const {
  uint64_t n = 0;
  for (const auto& [id, s] : finished_stats_) n += s.recomputed;
  return n;
}
uint64_t JobSim::total_stale() const {
  uint64_t n = 0;
  for (const auto& [id, s] : finished_stats_) n += s.stale_reports;
  return n;
}

std::string JobSim::Summary() const {
  std::ostringstream s;
  s << "seed=" << options_.seed << " (replay: VELUM_SIM_SEED=" << options_.seed << ") t=" << now_
    << " ms, events " << events_ << ", faults " << faults_ << ", coordinator restarts "
    << coordinator_restarts_ << (options_.tcp ? ", tcp" : ", lossy") << "; jobs:";
  for (const SimJob& job : jobs_) {
    s << " [" << job.spec.func << " " << job.spec.start << ".." << job.spec.end;
    if (job.id && coordinator_) {
      if (const core::Job* j = coordinator_->job(*job.id))
        s << " " << core::JobStateName(j->state) << " " << j->ledger.items_done() << "/"
          << j->ledger.items_total() << " chunks " << j->ledger.chunks().size() << " active "
          << j->ledger.active_attempts();
    }
    s << "]";
  }
  s << "; workers:";
  for (const WorkerNode& w : workers_)
    s << " " << w.id
      << (w.running ? (w.paused ? "P"
                       : w.cut  ? "C"
                                : "")
                    : "X")
      << (w.core ? "(" + std::to_string(w.core->tasks()) + ")" : "");
  return s.str();
}

}  // namespace velum::sim
