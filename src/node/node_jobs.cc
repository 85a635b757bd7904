// Distributed execution in the node kernel: the coordinator and worker cores driven by link
// frames, membership events and timers; slices and remote calls run in the executor pool on
// the runner's threads; modules move between nodes by hash; the journal keeps jobs alive.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/assert.h"
#include "core/reducer.h"
#include "node/job_values.h"
#include "node/node_impl.h"
#include "shell/module_lookup.h"

namespace velum {

namespace fs = std::filesystem;

namespace {

// Progress journaled by the coordinator is flushed at most this long after it was recorded:
// what a coordinator's crash can cost of committed work (the timer used to flush every tick).
constexpr uint64_t kJournalFlushMs = 50;

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
  CallService::Hooks ch;
  ch.send = [this](core::NodeId peer, const wire::LinkMessage& m) { return SendLink(peer, m); };
  ch.fetch = [this](const ModuleHash& hash, uint64_t size, core::NodeId peer,
                    ModuleFetcher::Done done) { fetcher->Get(hash, size, peer, std::move(done)); };
  ch.blocking = [this](std::function<void()> work) { return runner->Post(std::move(work)); };
  ch.loop = [this](std::function<void()> work) { asio::post(io, std::move(work)); };
  ch.on_loop = [this](std::function<void()> work) {
    OnLoop([&work] {
      work();
      return 0;
    });
  };
  ch.execute = [this](const CallSpec& spec) { return pool->Call(spec); };
  ch.spec = [this](ModulePtr m, std::string func, std::vector<Value> args, uint32_t timeout_ms,
                   uint32_t pages, const std::atomic<bool>* cancel) {
    return SpecFor(std::move(m), std::move(func), std::move(args), timeout_ms, pages, cancel);
  };
  ch.pick_target = [this](const std::vector<core::NodeId>& tried) { return PickTarget(tried); };
  ch.load_changed = [this] { PublishLoad(); };
  ch.now_us = [] { return SteadyUs(); };
  calls = std::make_unique<CallService>(options.id, std::move(ch));
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
  calls->Stop("this node left the mesh");
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
  calls->OnPeerLost(peer);
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
          calls->Serve(peer, std::move(m));
        } else if constexpr (std::is_same_v<M, wire::CallResult>) {
          calls->OnResult(peer, m);
        } else if constexpr (std::is_same_v<M, wire::CallCancel>) {
          calls->OnCancel(peer, m.id);
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
  uint32_t load = static_cast<uint32_t>(worker->running()) + calls->busy();
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
  return impl_->calls->Call(module, func, args, options, cancel);
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
