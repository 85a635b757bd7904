// Distributed execution in the node kernel: the coordinator and worker cores driven by link
// frames, membership events and timers; slices and remote calls run in the executor pool on
// the runner's threads; modules move between nodes by hash; the journal keeps jobs alive.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/assert.h"
#include "core/reducer.h"
#include "node/node_impl.h"
#include "shell/module_lookup.h"

namespace velum {

namespace fs = std::filesystem;

namespace {

// Progress journaled by the coordinator is flushed at most this long after it was recorded:
// what a coordinator's crash can cost of committed work (the timer used to flush every tick).
constexpr uint64_t kJournalFlushMs = 50;

uint32_t PagesOf(uint32_t mib) { return std::max<uint32_t>(mib, 1) * 16; }  // 64 KiB pages

core::NumKind KindOf(ValType t) {
  return t == ValType::kF32   ? core::NumKind::kF32
         : t == ValType::kF64 ? core::NumKind::kF64
                              : core::NumKind::kInt;
}

core::Num NumOf(const Value& v) {
  switch (v.type) {
    case ValType::kI32:
      return core::Num::Int(v.i32());
    case ValType::kI64:
      return core::Num::Int(v.i64());
    case ValType::kF32:
      return core::Num::F32(v.f32());
    default:
      return core::Num::F64(v.f64());
  }
}

// Errors that another attempt elsewhere would hit too fail the job at once; the others
// (a crashed executor, a busy or lost node) are retried.
bool Retryable(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kExecutorCrashed:
    case ErrorKind::kIo:
    case ErrorKind::kInternal:
    case ErrorKind::kCancelled:
    case ErrorKind::kUnavailable:
    case ErrorKind::kLimitExceeded:
      return true;
    default:
      return false;
  }
}

core::TaskError TaskErrorOf(const Error& e) {
  return core::TaskError{static_cast<uint32_t>(e.kind), e.ToString(), Retryable(e.kind)};
}

core::SliceResult SliceFailure(const Error& e) {
  core::SliceResult r;
  r.error = TaskErrorOf(e);
  return r;
}

// `spec` comes from Impl::SpecFor; the slice adds its bounds as the export's arguments.
core::SliceResult ExecuteSlice(ExecutorPool& pool, CallSpec spec, const core::SliceRun& run) {
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
  uint64_t t0 = SteadyUs();
  auto out = pool.Call(spec);
  core::SliceResult r;
  r.busy_us = SteadyUs() - t0;
  if (!out.ok()) {
    r.error = TaskErrorOf(out.error());
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

std::vector<Value> ValuesOf(const std::vector<wire::WireValue>& ws) {
  std::vector<Value> out;
  for (const auto& w : ws) out.push_back(Value{static_cast<ValType>(w.type), w.bits, 0});
  return out;
}

std::vector<wire::WireValue> WireOf(const std::vector<Value>& vs) {
  std::vector<wire::WireValue> out;
  for (const auto& v : vs) out.push_back({static_cast<uint32_t>(v.type), v.lo});
  return out;
}

// Arguments must match the export's parameters exactly (they come typed from the caller).
velum::Status CheckArgs(const ExportInfo& e, const std::vector<Value>& args) {
  if (args.size() != e.sig.params.size())
    return MakeError(ErrorKind::kBadArguments, e.name + " takes " +
                                                   std::to_string(e.sig.params.size()) +
                                                   " arguments " + e.sig.ToString());
  for (size_t i = 0; i < args.size(); i++) {
    if (args[i].type != e.sig.params[i] || static_cast<int>(args[i].type) > 3)
      return MakeError(ErrorKind::kBadArguments, "argument " + std::to_string(i + 1) + " of " +
                                                     e.name + " must be " +
                                                     ValTypeName(e.sig.params[i]));
  }
  return {};
}

}  // namespace

// --- Start and stop ----------------------------------------------------------------------

velum::Status Node::Impl::StartJobs() {
  store = std::make_unique<ModuleStore>(options.home / "modules", options.max_module_bytes);
  PoolOptions po;
  po.slots = std::max<uint32_t>(options.slots, 1);
  po.home = options.home;
  po.compile_jobs = std::max<uint32_t>(options.compile_jobs, 1);
  po.max_cache_bytes = options.max_cache_bytes;
  po.on_compile_failed = [](const ModulePtr& module, const Error& error) {
    spdlog::warn("module {}: not compiled, the interpreter runs it: {}",
                 module->hash_hex().substr(0, 12), error.ToString());
  };
  pool = std::make_unique<ExecutorPool>(po);
  if (velum::Status s = pool->Start(); !s.ok()) return s;
  spdlog::info("executor pool: {} slots of {}", po.slots, pool->executor_path());
  // Said once per node, not per executor: every executor is confined the same way.
  spdlog::info("executor confinement: {}", pool->confinement());
  if (!pool->namespaces())
    spdlog::warn("executors run without namespaces (the kernel refused them): {}",
                 pool->confinement());
  runner = std::make_unique<CallRunner>(po.slots + 2, 4096);
  auto j = Journal::Open(options.home / "journal" / ("node-" + std::to_string(options.id) + ".db"));
  if (!j.ok()) return j.error();
  journal = std::move(*j);
  // Peers with a link or a membership record: each table is bounded by membership's own bound.
  peer_gate = std::make_unique<core::PeerGate>(options.id, 2 * size_t{core::Config().max_members});
  coordinator = std::make_unique<core::Coordinator>(options.id, options.coordinator,
                                                    journal->epoch(), journal->next_job_id());
  auto loaded = journal->Load();
  if (!loaded.ok()) return loaded.error();
  uint64_t now = SteadyMs();
  for (auto& record : *loaded) {
    if (record.job.state == core::JobState::kRunning) {
      auto resumes = journal->CountResume(record.job.id);
      if (!resumes.ok()) return resumes.error();
      record.job.resumes = *resumes;
    }
    core::CoordinatorOutput out = coordinator->Restore(record.job, record.chunks, now);
    if (!out.journal.empty()) journal->Add(std::move(out.journal));
    const core::Job* job = coordinator->job(record.job.id);
    if (job && job->state == core::JobState::kFailed && !out.events.empty()) {
      spdlog::error("job {} ({} over [{}, {})) not resumed: {}", job->id, job->spec.func,
                    job->spec.start, job->spec.end, job->error);
    }
    if (!job || job->state != core::JobState::kRunning) continue;
    counters.jobs_resumed++;
    spdlog::warn("resuming job {} ({} over [{}, {}), {} of {} items done) from the journal",
                 job->id, job->spec.func, job->spec.start, job->spec.end, job->ledger.items_done(),
                 job->ledger.items_total());
  }
  // Jobs failed for their resumptions stay failed across the next restart.
  if (velum::Status s = journal->Flush(); !s.ok()) return s;
  core::WorkerConfig wc;
  wc.slots = std::max<uint32_t>(options.slots, 1);
  wc.max_timeout_ms = options.max_call_ms;
  wc.max_memory_pages = PagesOf(options.max_memory_mib);
  worker = std::make_unique<core::Worker>(options.id, wc);
  ModuleFetcher::Hooks hooks;
  hooks.send = [this](core::NodeId peer, const wire::LinkMessage& m) { return SendLink(peer, m); };
  hooks.blocking = [this](std::function<void()> work) { return runner->Post(std::move(work)); };
  // The fetcher's steps on the loop may start or end a transfer, and so move its deadline.
  hooks.loop = [this](std::function<void()> work) {
    asio::post(io, [this, work = std::move(work)] {
      work();
      ScheduleJobTick();
    });
  };
  hooks.now_ms = [] { return SteadyMs(); };
  fetcher = std::make_unique<ModuleFetcher>(store.get(), std::move(hooks));
  asio::post(io, [this] {
    // This node works on its own jobs too (unless a job excludes it).
    RunCoordinator(coordinator->OnWorkerUp(options.id, options.slots, SteadyMs()));
  });
  return {};
}

void Node::Impl::StopJobs() {
  job_timer.cancel();
  uint64_t now = SteadyMs();
  // Work held for others is abandoned (they reassign it); our own jobs stay in the journal
  // and resume when this node starts again with the same id and home.
  for (const core::PeerChange& down : peer_gate->DownAll()) coordinator->OnWorkerDown(down.id, now);
  for (const auto& [id, m] : membership->members())
    if (id != options.id) worker->OnCoordinatorDown(id, now);
  for (auto& [id, cancel] : slice_cancels) cancel->store(true);
  for (auto& [key, cancel] : serving) cancel->store(true);
  for (auto& [id, call] : pending_calls)
    call.promise->set_value(MakeError(ErrorKind::kUnavailable, "this node left the mesh"));
  pending_calls.clear();
  FlushJournal();
}

void Node::Impl::ScheduleJobTick() {
  if (left || !coordinator) return;
  uint64_t next = std::min({coordinator->NextDeadlineMs(), worker->NextDeadlineMs(),
                            fetcher->NextDeadlineMs(), journal_flush_at_ms});
  if (next >= job_timer_at_ms) return;  // armed for then or sooner already
  job_timer_at_ms = next;
  // SteadyMs counts milliseconds of steady_clock, the timer's own clock: at the wake,
  // SteadyMs() >= next, so the core that asked for it finds its deadline passed.
  job_timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(next)));
  job_timer.async_wait([this, next](asio::error_code ec) {
    // Aborted, or already queued when a sooner deadline re-armed the timer: that wake runs.
    if (ec || left || next != job_timer_at_ms) return;
    job_timer_at_ms = UINT64_MAX;
    uint64_t now = SteadyMs();
    RunCoordinator(coordinator->Tick(now));
    RunWorker(worker->Tick(now));
    fetcher->Tick(now);
    FlushJournal();
    ScheduleJobTick();
  });
}

void Node::Impl::FlushJournal() {
  journal_flush_at_ms = UINT64_MAX;
  if (!journal || !journal->dirty()) return;
  if (velum::Status s = journal->Flush(); !s.ok()) spdlog::warn("{}", s.error().ToString());
}

CallSpec Node::Impl::SpecFor(ModulePtr module, std::string func, std::vector<Value> args,
                             uint32_t timeout_ms, uint32_t memory_pages,
                             const std::atomic<bool>* cancel) const {
  CallSpec spec;
  spec.module = std::move(module);
  spec.func = std::move(func);
  spec.args = std::move(args);
  spec.engine = options.engine;
  spec.timeout = std::chrono::milliseconds(core::ClampToOwnLimit(timeout_ms, options.max_call_ms));
  spec.max_memory_pages = core::ClampToOwnLimit(memory_pages, PagesOf(options.max_memory_mib));
  spec.cancel = cancel;
  VELUM_ASSERT(spec.module != nullptr);
  VELUM_ASSERT(spec.max_memory_pages <= PagesOf(options.max_memory_mib));
  return spec;
}

// --- Membership and links ----------------------------------------------------------------

void Node::Impl::OnMemberEvent(const core::Event& event) {
  if (left || !coordinator || event.id == options.id) return;
  auto it = membership->members().find(event.id);
  const bool live = it != membership->members().end() && core::IsLive(it->second.state);
  OnPeerChange(peer_gate->OnMember(event.id, live, live ? it->second.meta.slots : 0));
  // Frames that came over the link before the peer was heard alive run now.
  if (live) ReleaseHeldFrames(event.id);
}

void Node::Impl::OnJobLink(uint32_t peer, bool up) {
  if (left || !coordinator) return;
  if (!up) {
    if (auto held = held_frames.find(peer); held != held_frames.end()) {
      held_frames_dropped += held->second.frames.size();
      held_frames.erase(held);
    }
  }
  OnPeerChange(peer_gate->OnLink(peer, up));
}

void Node::Impl::OnPeerChange(std::optional<core::PeerChange> change) {
  if (!change) return;
  VELUM_ASSERT(change->id != options.id);
  const uint64_t now = SteadyMs();
  switch (change->kind) {
    case core::PeerChangeKind::kUp:
    case core::PeerChangeKind::kSlotsChanged:
      VELUM_ASSERT(peer_gate->IsUp(change->id));
      RunCoordinator(coordinator->OnWorkerUp(change->id, change->slots, now));
      break;
    case core::PeerChangeKind::kDown:
      VELUM_ASSERT(!peer_gate->IsUp(change->id));
      RunCoordinator(coordinator->OnWorkerDown(change->id, now));
      EndWorkWith(change->id);
      break;
    case core::PeerChangeKind::kLinkLost:
      EndWorkWith(change->id);  // never a worker here: nothing for the coordinator
      break;
  }
}

void Node::Impl::EndWorkWith(uint32_t peer) {
  uint64_t now = SteadyMs();
  RunWorker(worker->OnCoordinatorDown(peer, now));
  fetcher->OnLinkDown(peer);
  for (auto it = pending_calls.begin(); it != pending_calls.end();) {
    if (it->second.target != peer) {
      ++it;
      continue;
    }
    it->second.promise->set_value(MakeError(
        ErrorKind::kUnavailable, "node " + std::to_string(peer) + " was lost during the call"));
    it = pending_calls.erase(it);
  }
  for (auto it = serving.begin(); it != serving.end();) {
    if (it->first.first != peer) {
      ++it;
      continue;
    }
    it->second->store(true);
    it = serving.erase(it);
  }
  PublishLoad();
}

bool Node::Impl::SendLink(uint32_t peer, const wire::LinkMessage& message) {
  return transport->Send(peer, wire::EncodeLink(message));
}

void Node::Impl::OnJobMessage(uint32_t peer, wire::LinkMessage message, size_t wire_bytes) {
  if (left) return;
  // Work and modules only from members. The link already proved the cluster key; a peer
  // this node holds dead or gone gets nothing done until it is heard alive again (one not
  // heard of yet is joining: its link can be up a moment before its first gossip arrives).
  if (auto it = membership->members().find(peer);
      it != membership->members().end() && !core::IsLive(it->second.state)) {
    HoldFrame(peer, std::move(message), wire_bytes);
    return;
  }
  uint64_t now = SteadyMs();
  coordinator->OnHeard(peer, now);
  std::visit(
      [&](auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, core::Assign>) {
          RunWorker(worker->OnAssign(peer, m, now));
        } else if constexpr (std::is_same_v<M, core::Cancel>) {
          RunWorker(worker->OnCancel(peer, m, now));
        } else if constexpr (std::is_same_v<M, core::Report>) {
          RunCoordinator(coordinator->OnReport(peer, m, now));
        } else if constexpr (std::is_same_v<M, wire::ModuleRequest>) {
          ServeModule(peer, m.hash);
        } else if constexpr (std::is_same_v<M, wire::ModuleData>) {
          fetcher->OnData(peer, m, now);
        } else if constexpr (std::is_same_v<M, wire::CallRequest>) {
          ServeCall(peer, std::move(m));
        } else if constexpr (std::is_same_v<M, wire::CallResult>) {
          OnCallResult(peer, m);
        } else if constexpr (std::is_same_v<M, wire::CallCancel>) {
          if (auto it = serving.find({peer, m.id}); it != serving.end()) it->second->store(true);
        } else {
          static_assert(std::is_same_v<M, wire::LinkFrame>);
        }
      },
      message);
}

void Node::Impl::HoldFrame(uint32_t peer, wire::LinkMessage message, size_t wire_bytes) {
  using Limits = HeldFrames;
  uint64_t now = SteadyMs();
  auto drop = [this] { held_frames_dropped++; };
  if (wire_bytes > Limits::kMaxBytes ||
      (!held_frames.count(peer) && held_frames.size() >= Limits::kMaxPeers)) {
    drop();
    return;
  }
  HeldFrames& held = held_frames[peer];
  // The oldest frames go first: past kMaxAgeMs, or to make room.
  while (!held.frames.empty() && (held.frames.front().arrived_ms + Limits::kMaxAgeMs <= now ||
                                  held.frames.size() >= Limits::kMaxFrames ||
                                  held.bytes + wire_bytes > Limits::kMaxBytes)) {
    held.bytes -= held.frames.front().wire_bytes;
    held.frames.pop_front();
    drop();
  }
  held.frames.push_back({now, wire_bytes, std::move(message)});
  held_frames_total++;
  held.bytes += wire_bytes;
  VELUM_ASSERT(held.frames.size() <= Limits::kMaxFrames && held.bytes <= Limits::kMaxBytes);
  VELUM_ASSERT(held_frames.size() <= Limits::kMaxPeers);
}

void Node::Impl::ReleaseHeldFrames(uint32_t peer) {
  auto it = held_frames.find(peer);
  if (it == held_frames.end() || !IsLiveMember(peer)) return;
  HeldFrames held = std::move(it->second);
  held_frames.erase(it);
  uint64_t now = SteadyMs();
  for (auto& frame : held.frames) {
    if (frame.arrived_ms + HeldFrames::kMaxAgeMs <= now) {
      held_frames_dropped++;
      continue;
    }
    OnJobMessage(peer, std::move(frame.message), frame.wire_bytes);
  }
}

// --- Driving the cores ---------------------------------------------------------------------

void Node::Impl::RunCoordinator(core::CoordinatorOutput out) {
  for (auto& [to, m] : out.messages) {
    if (to == options.id) {
      // Our own worker: the same messages, through the loop (never re-entrantly).
      asio::post(io, [this, m = std::move(m)] {
        if (left) return;
        uint64_t now = SteadyMs();
        if (const auto* a = std::get_if<core::Assign>(&m))
          RunWorker(worker->OnAssign(options.id, *a, now));
        else
          RunWorker(worker->OnCancel(options.id, std::get<core::Cancel>(m), now));
      });
    } else {
      SendLink(to, ToLink(m));  // no link: the coordinator hears of its loss separately
    }
  }
  if (!out.journal.empty()) {
    journal->Add(std::move(out.journal));
    journal_flush_at_ms = std::min(journal_flush_at_ms, SteadyMs() + kJournalFlushMs);
  }
  if (!out.events.empty()) {
    for (const auto& ev : out.events) {
      const core::Job* job = coordinator->job(ev.job);
      if (!job) continue;
      std::string result;
      for (const auto& n : job->result) result += (result.empty() ? "" : " ") + core::FormatNum(n);
      spdlog::info("job {} {}{}{}", ev.job, core::JobStateName(ev.state),
                   result.empty() ? "" : ": " + result,
                   job->error.empty() ? "" : ": " + job->error);
    }
    FlushJournal();  // a job's end is durable before anyone is told
    {
      std::lock_guard<std::mutex> lock(done_mu);
      done_events++;
    }
    done_cv.notify_all();
  }
  ScheduleJobTick();
}

void Node::Impl::RunWorker(core::WorkerOutput out) {
  for (auto& [to, r] : out.reports) {
    if (to == options.id) {
      asio::post(io, [this, r = std::move(r)] {
        if (!left) RunCoordinator(coordinator->OnReport(options.id, r, SteadyMs()));
      });
    } else {
      SendLink(to, r);
    }
  }
  for (const auto& run : out.start) StartSlice(run);
  for (uint64_t id : out.cancel) {
    if (auto it = slice_cancels.find(id); it != slice_cancels.end()) {
      it->second->store(true);
      slice_cancels.erase(it);
    }
  }
  PublishLoad();
  ScheduleJobTick();
}

void Node::Impl::PublishLoad() {
  if (!worker || left) return;
  uint32_t load = static_cast<uint32_t>(worker->running() + serving.size()) + local_calls.load();
  if (load == published_load) return;
  published_load = load;
  meta.load = load;
  membership->UpdateLocalMeta(meta);
}

void Node::Impl::StartSlice(const core::SliceRun& run) {
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  slice_cancels[run.id] = cancel;
  counters.slices_run++;
  auto execute = [this, run, cancel](ModulePtr m) {
    bool posted = runner->Post([this, run, cancel, m] {
      core::SliceResult r = ExecuteSlice(
          *pool, SpecFor(m, run.func, {}, run.timeout_ms, run.max_memory_pages, cancel.get()), run);
      asio::post(io, [this, id = run.id, r = std::move(r)] { FinishSlice(id, r); });
    });
    if (!posted)
      FinishSlice(run.id, SliceFailure(MakeError(ErrorKind::kLimitExceeded,
                                                 "this node's call queue is full")));
  };
  // The usual case, a module in memory, goes straight to the runner.
  if (store->InCache(run.module)) {
    if (ModulePtr m = store->Find(run.module)) {
      execute(m);
      return;
    }
  }
  core::NodeId from = run.coordinator == options.id ? core::kNoNode : run.coordinator;
  fetcher->Get(run.module, run.module_size, from,
               [this, run, cancel, execute](Result<ModulePtr> module) {
                 if (cancel->load() || left) return;  // the worker core forgot this slice
                 if (!module.ok()) {
                   FinishSlice(run.id, SliceFailure(module.error()));
                   return;
                 }
                 execute(*module);
               });
}

void Node::Impl::FinishSlice(uint64_t slice, const core::SliceResult& result) {
  if (left) return;
  auto it = slice_cancels.find(slice);
  if (it == slice_cancels.end()) return;  // cancelled meanwhile
  slice_cancels.erase(it);
  RunWorker(worker->OnSliceDone(slice, result, SteadyMs()));
}

// --- Modules and remote calls --------------------------------------------------------------

void Node::Impl::ServeModule(uint32_t peer, const ModuleHash& hash) {
  bool posted = runner->Post([this, peer, hash] {
    ModulePtr m = store->Find(hash);
    asio::post(io, [this, peer, hash, m] {
      if (left) return;
      if (!m) {
        wire::ModuleData none;
        none.hash = hash;
        none.error = "node " + std::to_string(options.id) + " does not have module " +
                     HashToHex(hash).substr(0, 12);
        SendLink(peer, none);
        return;
      }
      counters.modules_served++;
      const auto& bytes = m->bytes();
      for (size_t offset = 0; offset < bytes.size(); offset += wire::kModulePiece) {
        wire::ModuleData d;
        d.hash = hash;
        d.total = bytes.size();
        d.offset = offset;
        size_t n = std::min(wire::kModulePiece, bytes.size() - offset);
        d.data.assign(reinterpret_cast<const char*>(bytes.data()) + offset, n);
        if (!SendLink(peer, d)) break;
      }
    });
  });
  if (!posted) {
    wire::ModuleData busy;
    busy.hash = hash;
    busy.error = "node " + std::to_string(options.id) + " is too busy to send a module";
    SendLink(peer, busy);
  }
}

void Node::Impl::ServeCall(uint32_t peer, wire::CallRequest req) {
  auto reply_error = [this, peer](uint64_t id, const Error& e) {
    wire::CallResult r;
    r.id = id;
    r.has_error = true;
    r.error = TaskErrorOf(e);
    SendLink(peer, r);
  };
  if (serving.count({peer, req.id})) return;  // a duplicate
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  serving[{peer, req.id}] = cancel;
  counters.calls_served++;
  PublishLoad();
  fetcher->Get(
      req.module, req.module_size, peer,
      [this, peer, req, cancel, reply_error](Result<ModulePtr> module) {
        if (cancel->load() || left) return;
        auto finish = [this, peer](wire::CallResult r) {
          auto it = serving.find({peer, r.id});
          if (it == serving.end()) return;  // cancelled, or the caller is gone
          serving.erase(it);
          SendLink(peer, r);
          PublishLoad();
        };
        if (!module.ok()) {
          serving.erase({peer, req.id});
          reply_error(req.id, module.error());
          PublishLoad();
          return;
        }
        ModulePtr m = *module;
        bool posted = runner->Post([this, req, cancel, m, finish] {
          wire::CallResult r;
          r.id = req.id;
          auto exported = m->FindFunction(req.func);
          std::vector<Value> args = ValuesOf(req.args);
          velum::Status ok =
              exported.ok() ? CheckArgs(**exported, args) : velum::Status(exported.error());
          if (!ok.ok()) {
            r.has_error = true;
            r.error = TaskErrorOf(ok.error());
          } else {
            auto out = pool->Call(SpecFor(m, req.func, std::move(args), req.timeout_ms,
                                          req.max_memory_pages, cancel.get()));
            if (out.ok()) {
              r.values = WireOf(out->values);
              r.run_us = static_cast<uint64_t>(out->elapsed.count() / 1000);
              r.engine = EngineKindName(out->engine);
            } else {
              r.has_error = true;
              r.error = TaskErrorOf(out.error());
            }
          }
          asio::post(io, [finish, r = std::move(r)] { finish(r); });
        });
        if (!posted) {
          serving.erase({peer, req.id});
          reply_error(req.id, MakeError(ErrorKind::kLimitExceeded, "the call queue is full"));
        }
      });
}

void Node::Impl::OnCallResult(uint32_t peer, const wire::CallResult& r) {
  auto it = pending_calls.find(r.id);
  if (it == pending_calls.end() || it->second.target != peer) return;
  auto promise = it->second.promise;
  uint64_t sent = it->second.sent_us;
  pending_calls.erase(it);
  if (r.has_error) {
    Error e;
    e.kind = ErrorKindFromNumber(r.error.kind).value_or(ErrorKind::kInternal);
    // The worker rendered its error in full ("trap: ..."): keep its words without repeating
    // the kind that ToString() puts in front again.
    std::string prefix = std::string(ErrorKindName(e.kind)) + ": ";
    e.message = r.error.message.rfind(prefix, 0) == 0 ? r.error.message.substr(prefix.size())
                                                      : r.error.message;
    promise->set_value(e);
    return;
  }
  CallReply reply;
  reply.values = ValuesOf(r.values);
  reply.node = peer;
  reply.elapsed_ms = static_cast<double>(SteadyUs() - sent) / 1000.0;
  reply.engine = r.engine;
  promise->set_value(reply);
}

uint32_t Node::Impl::PickTarget(const std::vector<uint32_t>& tried) const {
  // The live peer with the most free slots, then the least load, then the fastest link.
  uint32_t best = 0;
  int64_t best_free = 0;
  uint32_t best_load = 0;
  uint64_t best_rtt = 0;
  for (const auto& [id, m] : membership->members()) {
    if (id == options.id || m.state != core::MemberState::kAlive || m.meta.slots == 0) continue;
    if (!transport->LinkUp(id) || std::count(tried.begin(), tried.end(), id)) continue;
    int64_t free = static_cast<int64_t>(m.meta.slots) - static_cast<int64_t>(m.meta.load);
    auto rit = rtt_us.find(id);
    uint64_t rtt = rit == rtt_us.end() ? UINT64_MAX : rit->second;
    bool better =
        best == 0 || free > best_free ||
        (free == best_free &&
         (m.meta.load < best_load ||
          (m.meta.load == best_load && (rtt < best_rtt || (rtt == best_rtt && id < best)))));
    if (better) {
      best = id;
      best_free = free;
      best_load = m.meta.load;
      best_rtt = rtt;
    }
  }
  return best ? best : options.id;
}

JobSummary Node::Impl::Summarize(const core::Job& job) const {
  JobSummary s;
  s.id = job.id;
  s.state = job.state;
  s.label = job.spec.label;
  s.func = job.spec.func;
  s.start = job.spec.start;
  s.end = job.spec.end;
  s.reducer = job.spec.reducer;
  s.result = job.result;
  s.error = job.error;
  s.items_total = job.ledger.items_total();
  s.items_done = job.state == core::JobState::kDone ? s.items_total : job.ledger.items_done();
  uint64_t end = job.state == core::JobState::kRunning ? SteadyMs() : job.finished_ms;
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
  return s;
}

// --- The public API --------------------------------------------------------------------

const NodeOptions& Node::options() const { return impl_->options; }

Result<ModulePtr> Node::LoadModule(const fs::path& path) { return impl_->store->Load(path); }

Result<CallReply> Node::Call(const ModulePtr& module, const std::string& func,
                             const std::vector<Value>& args, const CallOptions& options,
                             const std::atomic<bool>* cancel) {
  auto exported = module->FindFunction(func);
  if (!exported.ok()) return exported.error();
  if (velum::Status s = CheckArgs(**exported, args); !s.ok()) return s.error();
  if (auto kept = impl_->store->Keep(module); !kept.ok()) return kept.error();
  const uint32_t self = impl_->options.id;
  std::vector<uint32_t> tried;
  std::string note;
  for (int attempt = 0; attempt < 4; attempt++) {
    uint32_t target = options.local    ? self
                      : options.target ? options.target
                                       : impl_->OnLoop([&] { return impl_->PickTarget(tried); });
    if (target == self) {
      impl_->local_calls++;
      impl_->OnLoop([this] {
        impl_->PublishLoad();
        return 0;
      });
      auto out = impl_->pool->Call(impl_->SpecFor(module, func, args, options.timeout_ms,
                                                  PagesOf(options.max_memory_mib), cancel));
      impl_->local_calls--;
      impl_->OnLoop([this] {
        impl_->PublishLoad();
        return 0;
      });
      if (!out.ok()) return out.error();
      CallReply reply;
      reply.values = std::move(out->values);
      reply.node = self;
      reply.elapsed_ms = std::chrono::duration<double, std::milli>(out->elapsed).count();
      reply.engine = EngineKindName(out->engine);
      reply.note = note + out->note;
      if (reply.note.size() >= 2 && reply.note.compare(reply.note.size() - 2, 2, "; ") == 0)
        reply.note.resize(reply.note.size() - 2);
      return reply;
    }
    auto promise = std::make_shared<std::promise<Result<CallReply>>>();
    auto future = promise->get_future();
    uint64_t id = impl_->OnLoop([&]() -> uint64_t {
      if (impl_->left) return 0;
      wire::CallRequest req;
      req.id = impl_->next_call_id++;
      req.module = module->hash();
      req.module_size = module->bytes().size();
      req.func = func;
      req.args = WireOf(args);
      req.timeout_ms = options.timeout_ms;
      req.max_memory_pages = PagesOf(options.max_memory_mib);
      impl_->pending_calls[req.id] = {target, promise, SteadyUs()};
      if (!impl_->SendLink(target, req)) {
        impl_->pending_calls.erase(req.id);
        return 0;
      }
      return req.id;
    });
    if (id == 0) {
      if (options.target)
        return MakeError(ErrorKind::kUnavailable,
                         "node " + std::to_string(target) + " is not linked to this node");
      tried.push_back(target);
      continue;
    }
    // The target enforces the timeout; past it (and time to fetch the module) it is lost.
    auto give_up = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(options.timeout_ms) + std::chrono::seconds(30);
    bool timed_out = false;
    while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
      bool cancelled = cancel && cancel->load();
      timed_out = std::chrono::steady_clock::now() >= give_up;
      if (cancelled || timed_out) {
        impl_->OnLoop([&] {
          if (impl_->pending_calls.erase(id)) impl_->SendLink(target, wire::CallCancel{id});
          return 0;
        });
        if (cancelled) return MakeError(ErrorKind::kCancelled, "the call was cancelled");
        break;
      }
    }
    Result<CallReply> r =
        timed_out ? Result<CallReply>(MakeError(ErrorKind::kUnavailable,
                                                "no answer from node " + std::to_string(target)))
                  : future.get();
    if (!r.ok() && r.error().kind == ErrorKind::kUnavailable && !options.target) {
      // The node was lost (or could not get the module): the call moves to the next best.
      note += r.error().message + "; ";
      tried.push_back(target);
      continue;
    }
    if (r.ok()) {
      r->note = note + r->note;
      if (r->note.size() >= 2 && r->note.compare(r->note.size() - 2, 2, "; ") == 0)
        r->note.resize(r->note.size() - 2);
    }
    return r;
  }
  return MakeError(ErrorKind::kUnavailable, "no node could run the call: " + note);
}

Result<uint64_t> Node::Submit(const ScatterRequest& req) {
  ModulePtr module = req.module;
  if (module) {
    if (auto kept = impl_->store->Keep(module); !kept.ok()) return kept.error();
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
  std::vector<core::NumKind> kinds;
  for (ValType t : (*exported)->sig.results) kinds.push_back(KindOf(t));
  spec.module = module->hash();
  spec.module_size = module->bytes().size();
  spec.func = req.func;
  spec.start = req.start;
  spec.end = req.end;
  spec.reducer = req.reducer;
  spec.result_kinds = core::ReducedKinds(req.reducer, kinds);
  spec.chunk_items = req.chunk_items;
  spec.exclude_self = req.exclude_self;
  spec.timeout_ms = req.timeout_ms;
  spec.max_memory_pages = PagesOf(req.max_memory_mib);
  spec.label = req.path.empty() ? module->hash_hex().substr(0, 12) : req.path.filename().string();
  return impl_->OnLoop([&]() -> Result<uint64_t> {
    if (impl_->left) return MakeError(ErrorKind::kUnavailable, "this node has left the mesh");
    if (!impl_->coordinator->HasWorkers(spec))
      return MakeError(ErrorKind::kUnavailable,
                       spec.exclude_self ? "no workers: this node is excluded and no peer is alive"
                                         : "no workers: this node offers no slots and no peer is "
                                           "alive");
    core::JobId id = 0;
    std::string error;
    auto out = impl_->coordinator->Submit(spec, SteadyMs(), &id, &error);
    if (!error.empty()) return MakeError(ErrorKind::kLimitExceeded, error);
    impl_->journal->Add(std::move(out.journal));
    out.journal.clear();
    impl_->FlushJournal();  // the job is durable before its id is handed out
    impl_->RunCoordinator(std::move(out));
    return id;
  });
}

std::optional<JobSummary> Node::Job(uint64_t id) {
  return impl_->OnLoop([&]() -> std::optional<JobSummary> {
    const core::Job* job = impl_->coordinator->job(id);
    if (!job) return std::nullopt;
    return impl_->Summarize(*job);
  });
}

std::vector<JobSummary> Node::Jobs() {
  return impl_->OnLoop([&] {
    std::vector<JobSummary> out;
    for (const auto& [id, job] : impl_->coordinator->jobs()) out.push_back(impl_->Summarize(job));
    return out;
  });
}

std::optional<JobSummary> Node::WaitJob(uint64_t id, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(impl_->done_mu);
      seen = impl_->done_events;
    }
    auto s = Job(id);
    if (!s || s->finished() || std::chrono::steady_clock::now() >= deadline) return s;
    std::unique_lock<std::mutex> lock(impl_->done_mu);
    impl_->done_cv.wait_until(lock, deadline, [&] { return impl_->done_events != seen; });
  }
}

velum::Status Node::CancelJob(uint64_t id) {
  return impl_->OnLoop([&]() -> velum::Status {
    const core::Job* job = impl_->coordinator->job(id);
    if (!job) return MakeError(ErrorKind::kBadArguments, "no job " + std::to_string(id));
    if (job->state != core::JobState::kRunning)
      return MakeError(ErrorKind::kBadArguments, "job " + std::to_string(id) + " is already " +
                                                     core::JobStateName(job->state));
    impl_->RunCoordinator(impl_->coordinator->Cancel(id, SteadyMs(), "cancelled"));
    return velum::Status();
  });
}

}  // namespace velum
