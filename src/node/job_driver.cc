// JobDriver (job_driver.h): the job cores driven by link frames, peer changes and deadlines;
// slices run in the executor pool on the runner's threads; the journal keeps jobs alive.
#include "node/job_driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/assert.h"
#include "core/config.h"
#include "core/reducer.h"
#include "node/job_record.h"
#include "node/job_values.h"
#include "runtime/disk_module_store.h"
#include "shell/module_lookup.h"

namespace velum {

namespace {

// Progress journaled by the coordinator is flushed at most this long after it was recorded:
// what a coordinator's crash can cost of committed work (the timer used to flush every tick).
constexpr uint64_t kJournalFlushMs = 50;
constexpr uint64_t kJournalRetryMs = 250;  // after a failed flush (a full disk)

core::SliceResult SliceFailure(const Error& e) {
  core::SliceResult r;
  r.error = TaskErrorOf(e);
  return r;
}

// A slice of an export that imports WASI runs with the host linked and nothing of this node
// given to it: argv is the job's label alone, no environment, an empty stdin, no directory.
// Its output is captured (never streamed) up to the per-slice cap and goes with its report.
CallSpec::Wasi SliceWasi(const core::SliceRun& run) {
  CallSpec::Wasi wasi;
  wasi.args = {run.label.empty() ? std::string("module") : run.label};
  wasi.stdin_data = std::string();
  wasi.max_output_bytes = core::kMaxSliceOutputBytes;
  VELUM_ASSERT(wasi.env.empty() && wasi.preopens.empty() && !wasi.on_output);
  return wasi;
}

// The output of a WASI slice, or nothing if it wrote nothing.
std::optional<core::SliceOutput> SliceOutputOf(const core::SliceRun& run, CallOutcome& outcome) {
  if (outcome.stdout_data.empty() && outcome.stderr_data.empty() && !outcome.output_truncated)
    return std::nullopt;
  core::SliceOutput o;
  o.lo = run.lo;
  o.hi = run.hi;
  // The host stops each stream at the cap; cut again so that no executor can exceed it.
  outcome.stdout_data.resize(std::min(outcome.stdout_data.size(), core::kMaxSliceOutputBytes));
  outcome.stderr_data.resize(std::min(outcome.stderr_data.size(), core::kMaxSliceOutputBytes));
  o.streams[static_cast<size_t>(core::OutputStream::kStdout)] = std::move(outcome.stdout_data);
  o.streams[static_cast<size_t>(core::OutputStream::kStderr)] = std::move(outcome.stderr_data);
  o.truncated = outcome.output_truncated;
  return o;
}

// A partial as the arguments of a module reducer whose range export returns `types`;
// nullopt if it does not have their shape (empty: an empty list).
std::optional<std::vector<Value>> FoldValues(const core::Partial& p,
                                             const std::vector<ValType>& types) {
  std::vector<Value> out;
  if (p.empty()) return out;
  if (p.values.size() != types.size()) return std::nullopt;
  for (size_t i = 0; i < types.size(); i++) {
    if (p.values[i].kind != KindOf(types[i])) return std::nullopt;
    out.push_back(ValueOf(p.values[i], types[i]));
  }
  return out;
}

// The reducer export of a module reducer's job, checked against its range export: the
// results' types, or the error.
Result<std::vector<ValType>> ReducerTypes(const Module& module, const std::string& func,
                                          const std::string& reduce_func) {
  auto range = module.FindFunction(func);
  if (!range.ok()) return range.error();
  auto combine = module.FindFunction(reduce_func);
  if (!combine.ok()) return combine.error();
  if (std::string why = shell::ReducerExportProblem(**range, **combine); !why.empty())
    return MakeError(ErrorKind::kBadArguments, why);
  return (*range)->sig.results;
}

// A coordinator's fold of a module reducer's pieces (each chunk's partial, in range order)
// through the export, in as few executor calls as kMaxFoldValues allows, each folding onto the
// last one's answer. `spec` comes from JobDriver::SpecFor (no function: a fold alone).
Result<std::vector<core::Num>> FoldPieces(Executors& executors, CallSpec spec,
                                          const core::JobSpec& job,
                                          const std::vector<core::Partial>& pieces) {
  auto types = ReducerTypes(*spec.module, job.func, job.reduce_func);
  if (!types.ok()) return types.error();
  const size_t arity = types->size();
  const size_t per_call = kMaxFoldValues / arity * arity;  // values in one request
  std::vector<Value> acc;
  for (size_t i = 0; i < pieces.size();) {
    CallSpec::Fold fold{job.reduce_func, static_cast<uint32_t>(arity), acc};
    for (; i < pieces.size() && fold.values.size() + arity <= per_call; i++) {
      auto values = FoldValues(pieces[i], *types);
      if (!values || values->empty())
        return MakeError(ErrorKind::kInternal, "a chunk's partial does not fit " + job.func);
      fold.values.insert(fold.values.end(), values->begin(), values->end());
    }
    if (fold.values.size() == arity) {  // one tuple: nothing to combine
      acc = std::move(fold.values);
      continue;
    }
    spec.fold = std::move(fold);
    auto out = executors.Call(spec);
    // An executor that crashed or was busy is no reason to lose a finished job: once more.
    if (!out.ok() && Retryable(out.error().kind) && out.error().kind != ErrorKind::kCancelled)
      out = executors.Call(spec);
    if (!out.ok()) return out.error();
    if (out->values.size() != arity)
      return MakeError(ErrorKind::kBadArguments, job.reduce_func + " returned " +
                                                     std::to_string(out->values.size()) +
                                                     " values, not " + std::to_string(arity));
    acc = std::move(out->values);
  }
  std::vector<core::Num> result;
  for (const Value& v : acc) result.push_back(NumOf(v));
  return result;
}

// `spec` comes from JobDriver::SpecFor; the slice adds its bounds as the export's arguments.
core::SliceResult ExecuteSlice(Executors& executors, CallSpec spec, const core::SliceRun& run,
                               const std::function<uint64_t()>& now_us) {
  auto exported = spec.module->FindFunction(run.func);
  if (!exported.ok()) return SliceFailure(exported.error());
  bool wide = false;
  if (std::string why = shell::RangeExportProblem(**exported, &wide);
      !why.empty() || wide != run.wide)
    return SliceFailure(
        MakeError(ErrorKind::kBadArguments, why.empty() ? "the export's parameters changed" : why));
  spec.args = run.wide ? std::vector<Value>{Value::I64(run.lo), Value::I64(run.hi)}
                       : std::vector<Value>{Value::I32(static_cast<int32_t>(run.lo)),
                                            Value::I32(static_cast<int32_t>(run.hi))};
  if (spec.module->ImportsWasi()) spec.wasi = SliceWasi(run);
  if (run.reducer == core::ReducerKind::kModule) {
    // The slice's results are folded onto the attempt's partial in the same instance.
    auto types = ReducerTypes(*spec.module, run.func, run.reduce_func);
    if (!types.ok()) return SliceFailure(types.error());
    auto acc = FoldValues(run.acc, *types);
    if (!acc)
      return SliceFailure(
          MakeError(ErrorKind::kBadArguments, "the partial to fold onto does not fit " + run.func));
    spec.fold =
        CallSpec::Fold{run.reduce_func, static_cast<uint32_t>(types->size()), std::move(*acc)};
  }
  uint64_t t0 = now_us();
  auto out = executors.Call(spec);
  core::SliceResult r;
  r.busy_us = now_us() - t0;
  if (!out.ok()) {
    r.error = TaskErrorOf(out.error());
    if (spec.fold) r.error.message = ReducerErrorText(out.error(), spec.fold->func);
    return r;
  }
  if (spec.wasi) r.output = SliceOutputOf(run, *out);
  if (out->failure) {  // a WASI export that trapped after writing: the output says why
    r.error = TaskErrorOf(*out->failure);
    if (spec.fold) r.error.message = ReducerErrorText(*out->failure, spec.fold->func);
    return r;
  }
  if (spec.wasi && out->values.empty()) {
    // proc_exit ends the instance with no result: the slice cannot be reduced, and would end
    // the same way anywhere else, so the job fails (its output shows what led there).
    r.error = TaskErrorOf(MakeError(ErrorKind::kTrap, run.func + " called proc_exit(" +
                                                          std::to_string(out->exit_code) +
                                                          "): a range export must return"));
    VELUM_ASSERT(!r.error.retryable);
    return r;
  }
  r.ok = true;
  for (const Value& v : out->values) r.values.push_back(NumOf(v));
  return r;
}

wire::LinkMessage ToLink(const core::ToWorker& m) {
  if (const auto* a = std::get_if<core::Assign>(&m)) return *a;
  return std::get<core::Cancel>(m);
}

}  // namespace

// --- Start and stop ----------------------------------------------------------------------

Result<JobDriver::Env> JobDriver::OpenEnv(const NodeOptions& options) {
  Env env;
  env.store = std::make_unique<DiskModuleStore>(options.home / "modules", options.max_module_bytes);
  auto executors = PoolExecutors::Start(options);
  if (!executors.ok()) return executors.error();
  env.executors = std::move(*executors);
  auto journal =
      Journal::Open(options.home / "journal" / ("node-" + std::to_string(options.id) + ".db"));
  if (!journal.ok()) return journal.error();
  env.journal = std::move(*journal);
  return env;
}

Result<std::unique_ptr<JobDriver>> JobDriver::Start(const NodeOptions& options, Hooks hooks,
                                                    Env env) {
  VELUM_ASSERT(hooks.send && hooks.loop && hooks.on_loop && hooks.wake_at && hooks.held_gone &&
               hooks.pick_target && hooks.publish_load && hooks.now_ms && hooks.now_us);
  VELUM_ASSERT(env.store && env.journal && env.executors);
  std::unique_ptr<JobDriver> driver(new JobDriver(options, std::move(hooks), std::move(env)));
  if (Status s = driver->Open(); !s.ok()) return s.error();
  return driver;
}

JobDriver::JobDriver(const NodeOptions& options, Hooks hooks, Env env)
    : options_(options),
      hooks_(std::move(hooks)),
      store_(std::move(env.store)),
      executors_(std::move(env.executors)),
      journal_(std::move(env.journal)) {
  VELUM_ASSERT(options_.id != core::kNoNode);
}

JobDriver::~JobDriver() { Shutdown(); }

Status JobDriver::Open() {
  // Peers with a link or a membership record: each table is bounded by membership's own bound.
  peer_gate_ =
      std::make_unique<core::PeerGate>(options_.id, 2 * size_t{core::Config().max_members});
  coordinator_ = std::make_unique<core::Coordinator>(options_.id, options_.coordinator,
                                                     journal_->epoch(), journal_->next_job_id());
  auto loaded = journal_->Load();
  if (!loaded.ok()) return loaded.error();
  uint64_t now = hooks_.now_ms();
  for (auto& record : *loaded) {
    if (record.job.state == core::JobState::kRunning) {
      auto resumes = journal_->CountResume(record.job.id);
      if (!resumes.ok()) return resumes.error();
      record.job.resumes = *resumes;
      // Without a good copy of its module (removed, or damaged on disk) this node can neither
      // run the job nor serve the module: workers that hold it go on, others fail fetching
      // it and say why. Nothing committed is dropped.
      if (!record.job.spec.exclude_self && !store_->Find(record.job.spec.module)) {
        spdlog::error("job {}: {}; it goes on with the workers that hold the module", record.job.id,
                      ModuleStore::Missing(record.job.spec.module));
        record.job.spec.exclude_self = true;
      }
    }
    core::CoordinatorOutput out = coordinator_->Restore(record.job, record.chunks, now);
    AttachRecords(&out.journal);
    if (!out.journal.empty()) journal_->Add(std::move(out.journal));
    const core::Job* job = coordinator_->job(record.job.id);
    if (job && job->state == core::JobState::kFailed && !out.events.empty()) {
      spdlog::error("job {} ({} over [{}, {})) not resumed: {}", job->id, job->spec.func,
                    job->spec.start, job->spec.end, job->error);
    }
    if (!job || job->state != core::JobState::kRunning) continue;
    jobs_resumed_++;
    spdlog::warn("resuming job {} ({} over [{}, {}), {} of {} items done) from the journal",
                 job->id, job->spec.func, job->spec.start, job->spec.end, job->ledger.items_done(),
                 job->ledger.items_total());
  }
  // Jobs failed for their resumptions stay failed across the next restart.
  if (velum::Status s = journal_->Flush(); !s.ok()) return s;
  core::WorkerConfig wc;
  wc.slots = std::max<uint32_t>(options_.slots, 1);
  wc.max_timeout_ms = options_.max_call_ms;
  wc.max_memory_pages = PagesOf(options_.max_memory_mib);
  worker_ = std::make_unique<core::Worker>(options_.id, wc);
  ModuleFetcher::Hooks hooks;
  hooks.send = hooks_.send;
  hooks.blocking = [this](std::function<void()> work) { return executors_->Post(std::move(work)); };
  // The fetcher's steps on the loop may start or end a transfer, and so move its deadline.
  hooks.loop = [this](std::function<void()> work) {
    hooks_.loop([this, work = std::move(work)] {
      work();
      ScheduleWake();
    });
  };
  hooks.now_ms = hooks_.now_ms;
  fetcher_ = std::make_unique<ModuleFetcher>(store_.get(), std::move(hooks));
  CallService::Hooks ch;
  ch.send = hooks_.send;
  ch.fetch = [this](const ModuleHash& hash, uint64_t size, core::NodeId peer,
                    ModuleFetcher::Done done) { fetcher_->Get(hash, size, peer, std::move(done)); };
  ch.blocking = [this](std::function<void()> work) { return executors_->Post(std::move(work)); };
  ch.loop = hooks_.loop;
  ch.on_loop = hooks_.on_loop;
  ch.execute = [this](const CallSpec& spec) { return executors_->Call(spec); };
  ch.spec = [this](ModulePtr m, std::string func, std::vector<Value> args, uint32_t timeout_ms,
                   uint32_t pages, const std::atomic<bool>* cancel) {
    return SpecFor(std::move(m), std::move(func), std::move(args), timeout_ms, pages, cancel);
  };
  ch.pick_target = hooks_.pick_target;
  ch.load_changed = [this] { PublishLoad(); };
  ch.now_us = hooks_.now_us;
  CommandService::Hooks cmd;
  cmd.send = ch.send;
  cmd.fetch = ch.fetch;
  cmd.blocking = ch.blocking;
  cmd.loop = ch.loop;
  cmd.on_loop = ch.on_loop;
  cmd.execute = ch.execute;
  cmd.spec = ch.spec;
  cmd.pick_target = ch.pick_target;
  cmd.load_changed = ch.load_changed;
  cmd.now_us = ch.now_us;
  cmd.home = options_.home;
  calls_ = std::make_unique<CallService>(options_.id, std::move(ch));
  commands_ = std::make_unique<CommandService>(options_.id, std::move(cmd));
  hooks_.loop([this] {
    // This node works on its own jobs too (unless a job excludes it).
    RunCoordinator(coordinator_->OnWorkerUp(options_.id, options_.slots, hooks_.now_ms()));
  });
  return {};
}

void JobDriver::Stop(const std::vector<core::NodeId>& peers) {
  if (stopped_) return;
  stopped_ = true;
  wake_.Clear();
  uint64_t now = hooks_.now_ms();
  for (const core::PeerChange& down : peer_gate_->DownAll())
    coordinator_->OnWorkerDown(down.id, now);
  for (core::NodeId id : peers)
    if (id != options_.id) worker_->OnCoordinatorDown(id, now);
  for (auto& [id, cancel] : slice_cancels_) cancel->store(true);
  for (auto& [id, cancel] : fold_cancels_) cancel->store(true);
  calls_->Stop("this node left the mesh");
  commands_->Stop("this node left the mesh");
  FlushJournal();
}

void JobDriver::ScheduleWake() {
  if (stopped_) return;
  uint64_t next = std::min({coordinator_->NextDeadlineMs(), worker_->NextDeadlineMs(),
                            fetcher_->NextDeadlineMs(), journal_flush_at_ms_});
  if (wake_.BringForward(next)) hooks_.wake_at(next);
}

void JobDriver::OnWake(uint64_t at_ms) {
  // Stopped, or a wake asked for later than a sooner one that replaced it: that one runs.
  if (stopped_ || !wake_.Arrived(at_ms)) return;
  uint64_t now = hooks_.now_ms();
  RunCoordinator(coordinator_->Tick(now));
  RunWorker(worker_->Tick(now));
  fetcher_->Tick(now);
  FlushJournal();
  ScheduleWake();
}

void JobDriver::FlushJournal() {
  journal_flush_at_ms_ = UINT64_MAX;
  if (!journal_ || !journal_->dirty()) return;
  const uint64_t now = hooks_.now_ms();
  if (journal_retry_at_ms_ && now < journal_retry_at_ms_) {
    journal_flush_at_ms_ = journal_retry_at_ms_;  // failing: only the retry timer tries
    return;
  }
  if (velum::Status s = journal_->Flush(); !s.ok()) {
    // Kept in the buffer: tried again soon, not only when the next op comes (a job's last
    // state may be the last op for a long while). Said once per run of failures: the log
    // may be on the same full disk.
    if (!journal_retry_at_ms_)
      spdlog::warn("{} (tried again every {} ms)", s.error().ToString(), kJournalRetryMs);
    journal_retry_at_ms_ = journal_flush_at_ms_ = now + kJournalRetryMs;
    return;
  }
  if (journal_retry_at_ms_) spdlog::info("the journal is written again");
  journal_retry_at_ms_ = 0;
}

CallSpec JobDriver::SpecFor(ModulePtr module, std::string func, std::vector<Value> args,
                            uint32_t timeout_ms, uint32_t memory_pages,
                            const std::atomic<bool>* cancel) const {
  CallSpec spec;
  spec.module = std::move(module);
  spec.func = std::move(func);
  spec.args = std::move(args);
  spec.engine = options_.engine;
  spec.timeout = std::chrono::milliseconds(core::ClampToOwnLimit(timeout_ms, options_.max_call_ms));
  spec.max_memory_pages = core::ClampToOwnLimit(memory_pages, PagesOf(options_.max_memory_mib));
  spec.cancel = cancel;
  VELUM_ASSERT(spec.module != nullptr);
  VELUM_ASSERT(spec.max_memory_pages <= PagesOf(options_.max_memory_mib));
  return spec;
}

// --- Membership and links ----------------------------------------------------------------

void JobDriver::OnMember(core::NodeId peer, bool live, uint32_t slots) {
  if (stopped_ || peer == options_.id) return;
  OnPeerChange(peer_gate_->OnMember(peer, live, slots));
  // Frames that came over the link before the peer was heard alive run now.
  if (live) ReleaseHeldFrames(peer);
}

void JobDriver::OnLink(core::NodeId peer, bool up) {
  if (stopped_) return;
  if (up && peer_gate_->HasLink(peer)) {
    // A new link that replaced the peer's old one (the transport says no "down" for it): the
    // peer may have restarted, so what came over the old link has ended, as if it had gone
    // down first. Otherwise a restarted caller could be answered for its previous run's call
    // of the same id, and its old run's work would wait out the coordinator's silence.
    OnLink(peer, false);
  }
  if (!up) {
    if (auto held = held_frames_.find(peer); held != held_frames_.end()) {
      held_frames_dropped_ += held->second.frames.size();
      held_frames_.erase(held);
    }
  }
  OnPeerChange(peer_gate_->OnLink(peer, up));
}

void JobDriver::OnHeard(core::NodeId peer) {
  if (!stopped_) coordinator_->OnHeard(peer, hooks_.now_ms());
}

void JobDriver::OnPeerChange(std::optional<core::PeerChange> change) {
  if (!change) return;
  VELUM_ASSERT(change->id != options_.id);
  const uint64_t now = hooks_.now_ms();
  switch (change->kind) {
    case core::PeerChangeKind::kUp:
    case core::PeerChangeKind::kSlotsChanged:
      VELUM_ASSERT(peer_gate_->IsUp(change->id));
      RunCoordinator(coordinator_->OnWorkerUp(change->id, change->slots, now));
      break;
    case core::PeerChangeKind::kDown:
      VELUM_ASSERT(!peer_gate_->IsUp(change->id));
      RunCoordinator(coordinator_->OnWorkerDown(change->id, now));
      EndWorkWith(change->id);
      break;
    case core::PeerChangeKind::kLinkLost:
      EndWorkWith(change->id);  // never a worker here: nothing for the coordinator
      break;
  }
}

void JobDriver::EndWorkWith(core::NodeId peer) {
  uint64_t now = hooks_.now_ms();
  RunWorker(worker_->OnCoordinatorDown(peer, now));
  fetcher_->OnLinkDown(peer);
  calls_->OnPeerLost(peer);  // and both say the load that changed
  commands_->OnPeerLost(peer);
}

void JobDriver::OnMessage(core::NodeId peer, wire::LinkMessage message, size_t wire_bytes) {
  if (stopped_) return;
  // Work and modules only from members. The link already proved the cluster key; a peer
  // this node holds dead or gone gets nothing done until it is heard alive again (one not
  // heard of yet is joining: its link can be up a moment before its first gossip arrives).
  if (hooks_.held_gone(peer)) {
    HoldFrame(peer, std::move(message), wire_bytes);
    return;
  }
  uint64_t now = hooks_.now_ms();
  coordinator_->OnHeard(peer, now);
  std::visit(
      [&](auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, core::Assign>) {
          RunWorker(worker_->OnAssign(peer, m, now));
        } else if constexpr (std::is_same_v<M, core::Cancel>) {
          RunWorker(worker_->OnCancel(peer, m, now));
        } else if constexpr (std::is_same_v<M, core::Report>) {
          RunCoordinator(coordinator_->OnReport(peer, m, now));
        } else if constexpr (std::is_same_v<M, wire::ModuleRequest>) {
          ServeModule(peer, m.hash);
        } else if constexpr (std::is_same_v<M, wire::ModuleData>) {
          fetcher_->OnData(peer, m, now);
        } else if constexpr (std::is_same_v<M, wire::CallRequest>) {
          calls_->Serve(peer, std::move(m));
        } else if constexpr (std::is_same_v<M, wire::CallResult>) {
          calls_->OnResult(peer, m);
        } else if constexpr (std::is_same_v<M, wire::CallCancel>) {
          calls_->OnCancel(peer, m.id);
        } else if constexpr (std::is_same_v<M, wire::CommandRequest>) {
          commands_->Serve(peer, std::move(m));
        } else if constexpr (std::is_same_v<M, wire::CommandOutput>) {
          commands_->OnOutput(peer, m);
        } else if constexpr (std::is_same_v<M, wire::CommandResult>) {
          commands_->OnResult(peer, m);
        } else if constexpr (std::is_same_v<M, wire::CommandCancel>) {
          commands_->OnCancel(peer, m.id);
        } else if constexpr (std::is_same_v<M, wire::BlobRequest>) {
          commands_->OnBlobRequest(peer, m);
        } else if constexpr (std::is_same_v<M, wire::BlobData>) {
          commands_->OnBlobData(peer, std::move(m));
        } else {
          static_assert(std::is_same_v<M, wire::LinkFrame>);
        }
      },
      message);
}

void JobDriver::HoldFrame(core::NodeId peer, wire::LinkMessage message, size_t wire_bytes) {
  using Limits = HeldFrames;
  uint64_t now = hooks_.now_ms();
  auto drop = [this] { held_frames_dropped_++; };
  if (wire_bytes > Limits::kMaxBytes ||
      (!held_frames_.count(peer) && held_frames_.size() >= Limits::kMaxPeers)) {
    drop();
    return;
  }
  HeldFrames& held = held_frames_[peer];
  // The oldest frames go first: past kMaxAgeMs, or to make room.
  while (!held.frames.empty() && (held.frames.front().arrived_ms + Limits::kMaxAgeMs <= now ||
                                  held.frames.size() >= Limits::kMaxFrames ||
                                  held.bytes + wire_bytes > Limits::kMaxBytes)) {
    held.bytes -= held.frames.front().wire_bytes;
    held.frames.pop_front();
    drop();
  }
  held.frames.push_back({now, wire_bytes, std::move(message)});
  held_frames_total_++;
  held.bytes += wire_bytes;
  VELUM_ASSERT(held.frames.size() <= Limits::kMaxFrames && held.bytes <= Limits::kMaxBytes);
  VELUM_ASSERT(held_frames_.size() <= Limits::kMaxPeers);
}

void JobDriver::ReleaseHeldFrames(core::NodeId peer) {
  auto it = held_frames_.find(peer);
  if (it == held_frames_.end() || hooks_.held_gone(peer)) return;
  HeldFrames held = std::move(it->second);
  held_frames_.erase(it);
  uint64_t now = hooks_.now_ms();
  for (auto& frame : held.frames) {
    if (frame.arrived_ms + HeldFrames::kMaxAgeMs <= now) {
      held_frames_dropped_++;
      continue;
    }
    OnMessage(peer, std::move(frame.message), frame.wire_bytes);
  }
}

// --- Driving the cores ---------------------------------------------------------------------

void JobDriver::RunCoordinator(core::CoordinatorOutput out) {
  for (auto& [to, m] : out.messages) {
    if (to == options_.id) {
      // Our own worker: the same messages, through the loop (never re-entrantly).
      hooks_.loop([this, m = std::move(m)] {
        if (stopped_) return;
        uint64_t now = hooks_.now_ms();
        if (const auto* a = std::get_if<core::Assign>(&m))
          RunWorker(worker_->OnAssign(options_.id, *a, now));
        else
          RunWorker(worker_->OnCancel(options_.id, std::get<core::Cancel>(m), now));
      });
    } else {
      hooks_.send(to, ToLink(m));  // no link: the coordinator hears of its loss separately
    }
  }
  if (!out.journal.empty()) {
    AttachRecords(&out.journal);
    journal_->Add(std::move(out.journal));
    journal_flush_at_ms_ = std::min(journal_flush_at_ms_, hooks_.now_ms() + kJournalFlushMs);
  }
  for (auto& fold : out.folds) StartFold(std::move(fold));
  if (!out.events.empty()) {
    for (const auto& ev : out.events) {
      const core::Job* job = coordinator_->job(ev.job);
      if (!job) continue;
      std::string result;
      for (const auto& n : job->result) result += (result.empty() ? "" : " ") + core::FormatNum(n);
      spdlog::info("job {} {}{}{}", ev.job, core::JobStateName(ev.state),
                   result.empty() ? "" : ": " + result,
                   job->error.empty() ? "" : ": " + job->error);
    }
    FlushJournal();  // a job's end is durable before anyone is told
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_events_++;
    }
    done_cv_.notify_all();
  }
  ScheduleWake();
}

void JobDriver::RunWorker(core::WorkerOutput out) {
  for (auto& [to, r] : out.reports) {
    if (to == options_.id) {
      hooks_.loop([this, r = std::move(r)] {
        if (!stopped_) RunCoordinator(coordinator_->OnReport(options_.id, r, hooks_.now_ms()));
      });
    } else {
      hooks_.send(to, r);
    }
  }
  for (const auto& run : out.start) StartSlice(run);
  for (uint64_t id : out.cancel) {
    if (auto it = slice_cancels_.find(id); it != slice_cancels_.end()) {
      it->second->store(true);
      slice_cancels_.erase(it);
    }
  }
  PublishLoad();
  ScheduleWake();
}

void JobDriver::PublishLoad() {
  if (stopped_) return;
  uint32_t load = static_cast<uint32_t>(worker_->running()) + calls_->busy() + commands_->busy();
  if (load == published_load_) return;
  published_load_ = load;
  hooks_.publish_load(load);
}

void JobDriver::StartSlice(const core::SliceRun& run) {
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  slice_cancels_[run.id] = cancel;
  slices_run_++;
  auto execute = [this, run, cancel](ModulePtr m) {
    bool posted = executors_->Post([this, run, cancel, m] {
      core::SliceResult r = ExecuteSlice(
          *executors_, SpecFor(m, run.func, {}, run.timeout_ms, run.max_memory_pages, cancel.get()),
          run, hooks_.now_us);
      hooks_.loop([this, id = run.id, r = std::move(r)] { FinishSlice(id, r); });
    });
    if (!posted)
      FinishSlice(run.id, SliceFailure(MakeError(ErrorKind::kLimitExceeded,
                                                 "this node's call queue is full")));
  };
  // The usual case, a module in memory, goes straight to the runner.
  if (ModulePtr m = store_->Cached(run.module)) {
    execute(m);
    return;
  }
  core::NodeId from = run.coordinator == options_.id ? core::kNoNode : run.coordinator;
  fetcher_->Get(run.module, run.module_size, from,
                [this, run, cancel, execute](Result<ModulePtr> module) {
                  if (cancel->load() || stopped_) return;  // the worker core forgot this slice
                  if (!module.ok()) {
                    FinishSlice(run.id, SliceFailure(module.error()));
                    return;
                  }
                  execute(*module);
                });
}

void JobDriver::StartFold(core::FoldRequest fold) {
  const core::Job* job = coordinator_->job(fold.job);
  VELUM_ASSERT(job && job->folding && fold.pieces.size() >= 2);
  auto work = std::make_shared<FoldWork>();
  work->job = fold.job;
  work->spec = job->spec;
  work->pieces = std::move(fold.pieces);
  work->cancel = std::make_shared<std::atomic<bool>>(false);
  // This node's copy of the module may be gone (removed, damaged on disk): the workers that
  // ran the job hold it, and are asked in turn.
  for (const auto& [worker, share] : job->shares)
    if (worker != options_.id && share.items > 0) work->holders.push_back(worker);
  fold_cancels_[fold.job] = work->cancel;
  FoldWithModule(std::move(work), 0);
}

void JobDriver::FoldWithModule(std::shared_ptr<FoldWork> work, size_t holder) {
  // Told on the loop, once: the answer, or why there is none.
  auto done = [this, id = work->job](std::vector<core::Num> values, std::string error) {
    hooks_.loop([this, id, values = std::move(values), error = std::move(error)] {
      fold_cancels_.erase(id);
      if (!stopped_) RunCoordinator(coordinator_->OnFolded(id, values, error, hooks_.now_ms()));
    });
  };
  core::NodeId peer = holder < work->holders.size() ? work->holders[holder] : core::kNoNode;
  fetcher_->Get(work->spec.module, work->spec.module_size, peer,
                [this, work, holder, peer, done](Result<ModulePtr> module) {
                  if (stopped_) return;
                  if (!module.ok()) {
                    if (peer != core::kNoNode) return FoldWithModule(work, holder + 1);
                    return done({}, "folding the chunks' results through " +
                                        work->spec.reduce_func + ": " + module.error().ToString());
                  }
                  bool posted = executors_->Post([this, work, m = *module, done] {
                    const core::JobSpec& spec = work->spec;
                    auto folded = FoldPieces(*executors_,
                                             SpecFor(m, "", {}, spec.timeout_ms,
                                                     spec.max_memory_pages, work->cancel.get()),
                                             spec, work->pieces);
                    if (!folded.ok())
                      return done({}, "folding the chunks' results: " +
                                          ReducerErrorText(folded.error(), spec.reduce_func));
                    done(std::move(*folded), "");
                  });
                  if (!posted)
                    done({}, "folding the chunks' results: this node's call queue is full");
                });
}

void JobDriver::FinishSlice(uint64_t slice, const core::SliceResult& result) {
  if (stopped_) return;
  auto it = slice_cancels_.find(slice);
  if (it == slice_cancels_.end()) return;  // cancelled meanwhile
  slice_cancels_.erase(it);
  RunWorker(worker_->OnSliceDone(slice, result, hooks_.now_ms()));
}

// --- Modules and remote calls --------------------------------------------------------------

void JobDriver::ServeModule(core::NodeId peer, const ModuleHash& hash) {
  bool posted = executors_->Post([this, peer, hash] {
    ModulePtr m = store_->Find(hash);
    hooks_.loop([this, peer, hash, m] {
      if (stopped_) return;
      if (!m) {
        wire::ModuleData none;
        none.hash = hash;
        none.error = ModuleStore::Missing(hash);
        hooks_.send(peer, none);
        return;
      }
      modules_served_++;
      const auto& bytes = m->bytes();
      for (size_t offset = 0; offset < bytes.size(); offset += wire::kModulePiece) {
        wire::ModuleData d;
        d.hash = hash;
        d.total = bytes.size();
        d.offset = offset;
        size_t n = std::min(wire::kModulePiece, bytes.size() - offset);
        d.data.assign(reinterpret_cast<const char*>(bytes.data()) + offset, n);
        if (!hooks_.send(peer, d)) break;
      }
    });
  });
  if (!posted) {
    wire::ModuleData busy;
    busy.hash = hash;
    busy.error = "node " + std::to_string(options_.id) + " is too busy to send a module";
    hooks_.send(peer, busy);
  }
}

namespace {
void AddOutput(const core::OutputPiece& piece, std::vector<OutputBlock>* out) {
  for (core::OutputStream stream : {core::OutputStream::kStdout, core::OutputStream::kStderr}) {
    const std::string& text = piece.output.text(stream);
    if (text.empty()) continue;  // a cut stream is never empty: it holds the cap's worth
    out->push_back(
        {piece.node, piece.output.lo, piece.output.hi, stream, text, piece.output.truncated});
  }
}
}  // namespace

JobSummary JobDriver::Summarize(const core::Job& job, bool with_output) const {
  JobSummary s;
  s.id = job.id;
  s.state = job.state;
  SummarizeSpec(job.spec, &s);
  s.result = job.result;
  s.error = job.error;
  s.items_total = job.ledger.items_total();
  s.items_done = job.state == core::JobState::kDone ? s.items_total : job.ledger.items_done();
  uint64_t end = job.state == core::JobState::kRunning ? hooks_.now_ms() : job.finished_ms;
  s.elapsed_ms = static_cast<double>(end >= job.submitted_ms ? end - job.submitted_ms : 0);
  s.resumed = job.resumed;
  s.chunks = job.ledger.chunks().size();
  std::map<core::NodeId, uint64_t> held;  // the remainders of active first copies
  for (const auto& chunk : job.ledger.chunks())
    for (const auto& a : chunk.attempts)
      if (!a.backup) held[a.worker] += core::ItemsIn(std::max(a.upto, chunk.done_upto), chunk.end);
  std::set<core::NodeId> ids;  // every worker that contributed or holds work, in id order
  for (const auto& [id, share] : job.shares) ids.insert(id);
  for (const auto& [id, items] : held) ids.insert(id);
  for (core::NodeId id : ids) {
    auto share = job.shares.find(id);
    core::WorkerShare w = share != job.shares.end() ? share->second : core::WorkerShare{};
    auto h = held.find(id);
    s.workers.push_back({id, w.chunks, w.items, static_cast<double>(w.busy_us) / 1e6,
                         h != held.end() ? h->second : 0});
  }
  s.reassigned = job.stats.reassigned;
  s.reassigned_items = job.stats.reassigned_items;
  s.recomputed = job.stats.recomputed;
  s.stale_reports = job.stats.stale_reports;
  s.backups = job.stats.backups;
  s.retries = job.stats.retries;
  s.detection_ms =
      job.stats.failures.empty() ? -1 : static_cast<int64_t>(job.stats.max_detection_ms());
  for (const auto& f : job.stats.failures)
    s.failures.push_back({f.worker, static_cast<int64_t>(f.detection_ms), f.attempts,
                          f.reassigned_items, f.recomputed_items});
  if (job.state == core::JobState::kFailed) s.failure = job.failure;
  s.output_truncated = job.ledger.output_truncated();
  s.output_lost = job.ledger.output_lost();
  if (with_output) {
    for (const auto& piece : job.ledger.Output()) AddOutput(*piece, &s.output);
    if (job.failed_output) AddOutput(*job.failed_output, &s.output);
  }
  return s;
}

void JobDriver::AttachRecords(std::vector<core::JournalOp>* ops) const {
  for (auto& op : *ops) {
    auto* j = std::get_if<core::JournalJob>(&op);
    if (!j || j->state == core::JobState::kRunning) continue;
    const core::Job* job = coordinator_->job(j->id);
    if (job && !job->restored_finished) RecordOutcome(Summarize(*job, true), j);
  }
}

void JobDriver::Shutdown() {
  for (auto& [id, cancel] : slice_cancels_) cancel->store(true);
  for (auto& [id, cancel] : fold_cancels_) cancel->store(true);
  if (calls_) calls_->CancelServed();
  if (commands_) commands_->CancelServed();
  // Queued work runs and its threads end while executors_ is still whole (that work calls
  // it), then the pool's executors end.
  if (executors_) executors_->Stop();
  executors_.reset();
  journal_.reset();
}

size_t JobDriver::frames_held_now() const {
  size_t n = 0;
  for (const auto& [peer, held] : held_frames_) n += held.frames.size();
  return n;
}

JobCounters JobDriver::counters() const {
  JobCounters c;
  c.modules_fetched = fetcher_->fetched();
  c.module_bytes_fetched = fetcher_->bytes_fetched();
  c.modules_served = modules_served_;
  c.calls_served = calls_->served();
  c.commands_served = commands_->served();
  c.command_files_fetched = commands_->files_fetched();
  c.command_bytes_fetched = commands_->bytes_fetched();
  c.slices_run = slices_run_;
  c.jobs_running = coordinator_->running_jobs();
  c.jobs_resumed = jobs_resumed_;
  return c;
}

// --- Off the loop: the node's public API -------------------------------------------------

Result<ModulePtr> JobDriver::LoadModule(const std::filesystem::path& path) {
  return store_->Load(path);
}

Result<CallReply> JobDriver::Call(const ModulePtr& module, const std::string& func,
                                  const std::vector<Value>& args, const CallOptions& options,
                                  const std::atomic<bool>* cancel) {
  auto exported = module->FindFunction(func);
  if (!exported.ok()) return exported.error();
  if (Status s = CheckArgs(**exported, args); !s.ok()) return s.error();
  if (auto kept = store_->Keep(module); !kept.ok()) return kept.error();
  return calls_->Call(module, func, args, options, cancel);
}

Result<CommandReply> JobDriver::RunCommand(const ModulePtr& module, const CommandOptions& options,
                                           const std::atomic<bool>* cancel) {
  auto start = module->FindFunction("_start");
  if (!start.ok())
    return MakeError(ErrorKind::kExportNotFound,
                     "not a WASI command: the module exports no _start (name a FUNC to call)");
  if (auto kept = store_->Keep(module); !kept.ok()) return kept.error();
  return commands_->Run(module, options, cancel);
}

Result<CallOutcome> JobDriver::RunLocal(CallSpec spec) {
  // The node's one rule for limits applies to its own caller too; kAuto is the node's engine.
  EngineKind engine = spec.engine == EngineKind::kAuto ? options_.engine : spec.engine;
  CallSpec ruled =
      SpecFor(spec.module, spec.func, spec.args,
              static_cast<uint32_t>(std::min<int64_t>(spec.timeout.count(), UINT32_MAX)),
              spec.max_memory_pages, spec.cancel);
  ruled.engine = engine;
  ruled.wasi = std::move(spec.wasi);
  return calls_->RunSpecHere(ruled);
}

namespace {
Error NotDurable(const Error& e) {
  return MakeError(ErrorKind::kIo,
                   "the job is not accepted: its journal cannot be written (" + e.message + ")");
}
}  // namespace

uint64_t JobDriver::StartCall(core::NodeId target, const ModulePtr& module, const std::string& func,
                              const std::vector<Value>& args, const CallOptions& options,
                              CallService::Done done) {
  if (stopped_ || target == options_.id || !store_->Keep(module).ok()) return 0;
  return calls_->Start(target, module, func, args, options, std::move(done));
}

Result<uint64_t> JobDriver::ReserveJobId() {
  return OnLoop([&]() -> Result<uint64_t> {
    if (stopped_) return MakeError(ErrorKind::kUnavailable, "this node has left the mesh");
    core::JobId id = coordinator_->ReserveJobId();
    journal_->ReserveJob(id);
    if (Status s = journal_->Flush(); !s.ok()) return NotDurable(s.error());
    return id;
  });
}

Status JobDriver::ReserveJobIdsThrough(uint64_t id) {
  return OnLoop([&]() -> Status {
    coordinator_->SkipJobIdsThrough(id);
    journal_->ReserveJob(id);
    if (Status s = journal_->Flush(); !s.ok()) return NotDurable(s.error());
    return {};
  });
}

Result<uint64_t> JobDriver::Submit(const ScatterRequest& req) {
  ModulePtr module = req.module;
  if (module) {
    if (auto kept = store_->Keep(module); !kept.ok()) return kept.error();
  } else {
    auto loaded = LoadModule(req.path);
    if (!loaded.ok()) return loaded.error();
    module = *loaded;
  }
  auto exported = module->FindFunction(req.func);
  if (!exported.ok()) return exported.error();
  core::JobSpec spec;
  if (std::string why = shell::RangeExportProblem(**exported, &spec.wide); !why.empty())
    return MakeError(ErrorKind::kBadArguments, why);
  if (req.start >= req.end)
    return MakeError(ErrorKind::kBadArguments, "empty range [" + std::to_string(req.start) + ", " +
                                                   std::to_string(req.end) +
                                                   "): START must be below END");
  if (!spec.wide && (req.start < INT32_MIN || req.end > INT32_MAX))
    return MakeError(ErrorKind::kBadArguments,
                     req.func + " takes i32 bounds: the range must lie within [" +
                         std::to_string(INT32_MIN) + ", " + std::to_string(INT32_MAX) + "]");
  if (req.reducer == core::ReducerKind::kModule) {
    // The reducer is checked here, before anything runs: every worker would fail alike.
    auto combine = module->FindFunction(req.reduce_func);
    if (req.reduce_func.empty() || !combine.ok())
      return MakeError(
          ErrorKind::kBadArguments,
          "the reducer '" + req.reduce_func +
              "' is not a function exported by the module (a reducer is sum, min, max, "
              "first or the name of an export that combines two results)");
    if (std::string why = shell::ReducerExportProblem(**exported, **combine); !why.empty())
      return MakeError(ErrorKind::kBadArguments, "the reducer " + why);
  } else if (!req.reduce_func.empty()) {
    return MakeError(ErrorKind::kBadArguments,
                     "a reducer export (" + req.reduce_func + ") needs the module reducer");
  }
  std::vector<core::NumKind> kinds;
  for (ValType t : (*exported)->sig.results) kinds.push_back(KindOf(t));
  spec.module = module->hash();
  spec.module_size = module->bytes().size();
  spec.func = req.func;
  spec.start = req.start;
  spec.end = req.end;
  spec.reducer = req.reducer;
  spec.reduce_func = req.reduce_func;
  spec.result_kinds = core::ReducedKinds(req.reducer, kinds);
  spec.chunk_items = req.chunk_items;
  spec.exclude_self = req.exclude_self;
  spec.timeout_ms = req.timeout_ms;
  spec.max_memory_pages = PagesOf(req.max_memory_mib);
  spec.label = req.path.empty() ? module->hash_hex().substr(0, 12) : req.path.filename().string();
  return OnLoop([&]() -> Result<uint64_t> {
    if (stopped_) return MakeError(ErrorKind::kUnavailable, "this node has left the mesh");
    if (!coordinator_->HasWorkers(spec))
      return MakeError(ErrorKind::kUnavailable,
                       spec.exclude_self ? "no workers: this node is excluded and no peer is alive"
                                         : "no workers: this node offers no slots and no peer is "
                                           "alive");
    // The job is durable before its id is handed out: a journal that cannot be written (a
    // full disk) refuses the job rather than lose it in a crash after saying yes.
    if (Status s = journal_->Flush(); !s.ok()) return NotDurable(s.error());
    core::JobId id = 0;
    std::string error;
    auto out = coordinator_->Submit(spec, hooks_.now_ms(), &id, &error);
    if (!error.empty()) return MakeError(ErrorKind::kLimitExceeded, error);
    journal_->Add(std::move(out.journal));
    out.journal.clear();
    if (Status s = journal_->Flush(); !s.ok()) {
      // Accepted in memory only: it ends here, cancelled (journaled when the disk has room).
      // What the submission scheduled runs first, so that the coordinator's count of work in
      // flight stays true (for other jobs too); the cancel then recalls this job's part.
      RunCoordinator(std::move(out));
      RunCoordinator(coordinator_->Cancel(id, hooks_.now_ms(), "the journal cannot be written"));
      return NotDurable(s.error());
    }
    RunCoordinator(std::move(out));
    return id;
  });
}

std::optional<JobSummary> JobDriver::Job(uint64_t id) {
  return OnLoop([&]() -> std::optional<JobSummary> {
    const core::Job* job = coordinator_->job(id);
    // What this run saw is complete; a job that ended before it is complete in the journal.
    if (job && !job->restored_finished) return Summarize(*job, true);
    auto found = journal_->Find(id);
    if (!found.ok()) spdlog::warn("job {}: {}", id, found.error().ToString());
    if (found.ok() && *found && (*found)->state != core::JobState::kRunning)
      return SummaryOfRecord(**found, true);
    if (job) return Summarize(*job, true);
    return std::nullopt;
  });
}

Result<std::vector<JobSummary>> JobDriver::JobHistory() {
  return OnLoop([&]() -> Result<std::vector<JobSummary>> {
    auto finished = journal_->Finished();
    if (!finished.ok()) return finished.error();
    std::vector<JobSummary> out;
    for (const auto& [id, job] : coordinator_->jobs())
      if (job.state == core::JobState::kRunning) out.push_back(Summarize(job, false));
    for (const auto& j : *finished) out.push_back(SummaryOfRecord(j, false));
    std::sort(out.begin(), out.end(),
              [](const JobSummary& a, const JobSummary& b) { return a.id > b.id; });
    return out;
  });
}

std::optional<core::JobTimeline> JobDriver::Timeline(uint64_t id) {
  return OnLoop([&] { return coordinator_->Timeline(id, hooks_.now_ms()); });
}

std::vector<JobSummary> JobDriver::Jobs() {
  return OnLoop([&] {
    std::vector<JobSummary> out;
    for (const auto& [id, job] : coordinator_->jobs()) out.push_back(Summarize(job, false));
    return out;
  });
}

std::optional<JobSummary> JobDriver::WaitJob(uint64_t id, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      seen = done_events_;
    }
    auto s = Job(id);
    if (!s || s->finished() || std::chrono::steady_clock::now() >= deadline) return s;
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait_until(lock, deadline, [&] { return done_events_ != seen; });
  }
}

Status JobDriver::CancelJob(uint64_t id) {
  return OnLoop([&]() -> velum::Status {
    const core::Job* job = coordinator_->job(id);
    if (!job) return MakeError(ErrorKind::kBadArguments, "no job " + std::to_string(id));
    if (job->state != core::JobState::kRunning)
      return MakeError(ErrorKind::kBadArguments, "job " + std::to_string(id) + " is already " +
                                                     core::JobStateName(job->state));
    RunCoordinator(coordinator_->Cancel(id, hooks_.now_ms(), "cancelled"));
    return velum::Status();
  });
}

}  // namespace velum
