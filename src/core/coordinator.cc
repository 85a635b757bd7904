// Scheduling policy around the ledger: guided chunk sizes from measured throughput, waiting
// remainders first, backups for stragglers, and what to do when a worker or a report fails.
#include "core/coordinator.h"

#include <algorithm>
#include <cmath>

#include "core/assert.h"
#include "core/reducer.h"

namespace velum::core {

namespace {
constexpr AttemptId kAttemptMask = (AttemptId{1} << 40) - 1;
constexpr double kRateSmoothing = 0.3;  // EWMA weight of a new throughput sample
constexpr size_t kMaxTold = 4096;       // stale attempts remembered as told to stop

// An attempt as its job's timeline shows it: its chunk's items from where it started, on the
// job's clock (from its submission).
ChunkSpan SpanOf(const Job& job, const Attempt& a, SpanOutcome outcome, uint64_t now_ms) {
  const std::vector<Chunk>& chunks = job.ledger.chunks();
  // Chunks are contiguous and in range order: the attempt's is the last that begins at or
  // before its start (it may have left the ledger's attempts already).
  auto it = std::upper_bound(chunks.begin(), chunks.end(), a.start,
                             [](int64_t v, const Chunk& c) { return v < c.begin; });
  ChunkSpan span;
  span.worker = a.worker;
  span.begin = a.start;
  span.end = std::max(a.start, it == chunks.begin() ? a.running_to : std::prev(it)->end);
  span.done = std::clamp(a.upto, span.begin, span.end);
  span.started_ms = a.opened_ms > job.submitted_ms ? a.opened_ms - job.submitted_ms : 0;
  span.ended_ms = now_ms > job.submitted_ms ? now_ms - job.submitted_ms : 0;
  span.ended_ms = std::max(span.ended_ms, span.started_ms);
  span.outcome = outcome;
  span.backup = a.backup;
  VELUM_ASSERT(span.begin <= span.done && span.done <= span.end);
  return span;
}
}  // namespace

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "?";
}

uint64_t JobStats::max_detection_ms() const {
  uint64_t m = 0;
  for (const auto& f : failures) m = std::max(m, f.detection_ms);
  return m;
}

Job::Job(JobId id, JobSpec spec_in, size_t max_chunks)
    : id(id),
      spec(std::move(spec_in)),
      ledger(spec.start, spec.end, spec.reducer, spec.result_kinds, max_chunks) {
  VELUM_ASSERT(id != 0 && spec.start < spec.end);  // Submit asserts, Restore checks
  VELUM_ASSERT(!spec.result_kinds.empty() && spec.result_kinds.size() <= kMaxResultValues);
}

Coordinator::Coordinator(NodeId self, CoordinatorConfig config, uint32_t epoch, JobId first_job_id)
    : self_(self),
      config_(config),
      next_attempt_((static_cast<AttemptId>(epoch) << 40) + 1),
      next_job_(std::max<JobId>(first_job_id, 1)) {
  VELUM_ASSERT(self != kNoNode);
  VELUM_ASSERT(config_.slice_ms > 0 && config_.guided_divisor > 0 && config_.silence_ms > 0);
  VELUM_ASSERT(config_.max_failures > 0 && config_.max_chunks > 0);
}

// --- Jobs --------------------------------------------------------------------------------

CoordinatorOutput Coordinator::Restore(const JournalJob& record,
                                       const std::vector<JournalChunk>& chunks, uint64_t now_ms) {
  CoordinatorOutput out;
  if (jobs_.count(record.id) || record.spec.start >= record.spec.end ||
      record.spec.result_kinds.empty() || record.spec.result_kinds.size() > kMaxResultValues ||
      (record.spec.reducer == ReducerKind::kModule) == record.spec.reduce_func.empty())
    return out;
  next_job_ = std::max(next_job_, record.id + 1);
  auto [it, inserted] = jobs_.try_emplace(record.id, record.id, record.spec, config_.max_chunks);
  Job& job = it->second;
  job.state = record.state;
  job.result = record.result;
  job.error = record.error;
  job.resumed = record.state == JobState::kRunning;
  job.finished_ms = now_ms;
  job.submitted_ms = now_ms >= record.elapsed_ms ? now_ms - record.elapsed_ms : 0;
  job.stats.reassigned = record.reassigned;
  job.stats.recomputed = record.recomputed;
  job.stats.stale_reports = record.stale_reports;
  if (job.state != JobState::kRunning) {
    job.restored_finished = true;
    Prune();  // the journal keeps more finished jobs than memory does
    return out;
  }
  for (const JournalChunk& c : chunks) {
    if (c.job != record.id || c.index != job.ledger.chunks().size()) break;
    if (!job.ledger.Restore(c.begin, c.end, c.done_upto, c.done, c.complete)) break;
  }
  job.ledger.CheckInvariants();
  VELUM_ASSERT(next_job_ > record.id && job.ledger.active_attempts() == 0);
  if (record.resumes > config_.max_resumes) {
    job.resumed = false;
    Finish(job, JobState::kFailed,
           "its coordinator restarted " + std::to_string(record.resumes) +
               " times while it ran; failed rather than resumed again (a job whose runs end "
               "with the node is not replayed forever)",
           now_ms, &out);
    Prune();
  }
  return out;
}

CoordinatorOutput Coordinator::Submit(const JobSpec& spec, uint64_t now_ms, JobId* id,
                                      std::string* error) {
  CoordinatorOutput out;
  VELUM_ASSERT(spec.start < spec.end && !spec.result_kinds.empty());
  VELUM_ASSERT((spec.reducer == ReducerKind::kModule) == !spec.reduce_func.empty());
  if (running_jobs() >= config_.max_running_jobs) {
    *error = "too many running jobs (" + std::to_string(running_jobs()) + "); wait or cancel one";
    return out;
  }
  uint64_t items = static_cast<uint64_t>(spec.end) - static_cast<uint64_t>(spec.start);
  if (spec.chunk_items && (items - 1) / spec.chunk_items + 1 > config_.max_chunks) {
    *error = "--chunk " + std::to_string(spec.chunk_items) + " cuts " + std::to_string(items) +
             " items into more than " + std::to_string(config_.max_chunks) + " chunks";
    return out;
  }
  *id = next_job_++;
  auto [it, inserted] = jobs_.try_emplace(*id, *id, spec, config_.max_chunks);
  VELUM_ASSERT(inserted);
  it->second.submitted_ms = now_ms;
  JournalJobOf(it->second, &out);
  Schedule(now_ms, &out);
  Prune();
  return out;
}

CoordinatorOutput Coordinator::Cancel(JobId id, uint64_t now_ms, const std::string& why) {
  CoordinatorOutput out;
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.state != JobState::kRunning) return out;
  Finish(it->second, JobState::kCancelled, why, now_ms, &out);
  VELUM_ASSERT(it->second.ledger.active_attempts() == 0);
  Schedule(now_ms, &out);  // the slots it held go to the other jobs now, not at a tick
  VELUM_ASSERT(it->second.state == JobState::kCancelled);
  return out;
}

void Coordinator::Finish(Job& job, JobState state, const std::string& error, uint64_t now_ms,
                         CoordinatorOutput* out, const std::vector<Num>* result) {
  VELUM_ASSERT(job.state == JobState::kRunning && state != JobState::kRunning);
  VELUM_ASSERT(!result || state == JobState::kDone);
  for (const Attempt& a : job.ledger.CloseAll()) Ended(job, a, SpanOutcome::kStopped, now_ms, out);
  job.state = state;
  job.error = error;
  job.finished_ms = now_ms;
  job.folding = false;
  if (state == JobState::kDone)
    job.result = result ? *result : FinalValues(job.ledger.Result(), job.spec.result_kinds);
  JournalJobOf(job, out);
  out->events.push_back({job.id, state});
  totals_.ended[static_cast<size_t>(state)]++;
  VELUM_ASSERT(job.ledger.active_attempts() == 0);
}

void Coordinator::LedgerDone(Job& job, uint64_t now_ms, CoordinatorOutput* out) {
  VELUM_ASSERT(job.state == JobState::kRunning && job.ledger.Done());
  if (job.spec.reducer != ReducerKind::kModule) {
    Finish(job, JobState::kDone, "", now_ms, out);
    return;
  }
  if (job.folding) return;  // asked already
  std::vector<Partial> pieces = job.ledger.Pieces();
  if (pieces.size() <= 1) {  // one chunk (or none with a result): nothing to combine
    std::vector<Num> result =
        FinalValues(pieces.empty() ? Partial{} : pieces[0], job.spec.result_kinds);
    Finish(job, JobState::kDone, "", now_ms, out, &result);
    return;
  }
  job.folding = true;
  out->folds.push_back({job.id, std::move(pieces)});
}

CoordinatorOutput Coordinator::OnFolded(JobId id, const std::vector<Num>& values,
                                        const std::string& error, uint64_t now_ms) {
  CoordinatorOutput out;
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.state != JobState::kRunning || !it->second.folding)
    return out;  // cancelled (or failed) while its fold ran
  Job& job = it->second;
  job.folding = false;
  if (!error.empty()) {
    Finish(job, JobState::kFailed, error, now_ms, &out);
  } else if (values.empty() || !Conforms(Partial{values}, job.spec.result_kinds)) {
    Finish(job, JobState::kFailed,
           "the reducer " + job.spec.reduce_func + " returned values of the wrong shape", now_ms,
           &out);
  } else {
    Finish(job, JobState::kDone, "", now_ms, &out, &values);
  }
  Schedule(now_ms, &out);  // the fold held no slot, but other jobs may be waiting on nothing
  VELUM_ASSERT(job.state != JobState::kRunning);
  return out;
}

void Coordinator::Prune() {
  VELUM_ASSERT(running_jobs() <= jobs_.size());
  size_t finished = jobs_.size() - running_jobs();
  for (auto it = jobs_.begin(); it != jobs_.end() && finished > config_.max_finished_jobs;) {
    if (it->second.state != JobState::kRunning) {
      it = jobs_.erase(it);
      finished--;
    } else {
      ++it;
    }
  }
  VELUM_ASSERT(finished <= config_.max_finished_jobs && finished == jobs_.size() - running_jobs());
  // Timelines of finished jobs but the newest few are let go: the dashboard shows recent ones.
  size_t kept = 0;
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (it->second.state == JobState::kRunning) continue;
    if (++kept > config_.finished_timelines) it->second.timeline.Release();
  }
}

size_t Coordinator::running_jobs() const {
  size_t n = 0;
  for (const auto& [id, job] : jobs_) n += job.state == JobState::kRunning;
  return n;
}

const Job* Coordinator::job(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::optional<JobTimeline> Coordinator::Timeline(JobId id, uint64_t now_ms) const {
  const Job* j = job(id);
  if (!j) return std::nullopt;
  JobTimeline t;
  t.job = id;
  t.state = j->state;
  uint64_t until = j->state == JobState::kRunning ? now_ms : j->finished_ms;
  t.elapsed_ms = until > j->submitted_ms ? until - j->submitted_ms : 0;
  t.dropped = j->timeline.dropped();
  t.restored = j->resumed || j->restored_finished;
  t.spans.assign(j->timeline.spans().begin(), j->timeline.spans().end());
  // The running attempts: active_ holds them all (a few per slot), so this is no scan of
  // the ledger's chunks.
  for (const auto& [attempt, a] : active_) {
    if (a.job != id) continue;
    const Attempt* at = j->ledger.FindAttempt(attempt);
    VELUM_ASSERT(at != nullptr);
    t.spans.push_back(SpanOf(*j, *at, SpanOutcome::kRunning, now_ms));
  }
  VELUM_ASSERT(t.spans.size() >= j->timeline.spans().size());
  return t;
}

void Coordinator::JournalJobOf(const Job& job, CoordinatorOutput* out) const {
  // Built in place: a JournalJob moved into the vector trips GCC 12's maybe-uninitialized.
  JournalJob& j = std::get<JournalJob>(out->journal.emplace_back(std::in_place_type<JournalJob>));
  j.id = job.id;
  j.spec = job.spec;
  j.state = job.state;
  j.result = job.result;
  j.error = job.error;
  j.reassigned = job.stats.reassigned;
  j.recomputed = job.stats.recomputed;
  j.stale_reports = job.stats.stale_reports;
  if (job.state != JobState::kRunning) j.elapsed_ms = job.finished_ms - job.submitted_ms;
}

void Coordinator::JournalChunkOf(const Job& job, size_t index, CoordinatorOutput* out) const {
  VELUM_ASSERT(index < job.ledger.chunks().size() && index <= UINT32_MAX);
  const Chunk& c = job.ledger.chunk(index);
  out->journal.push_back(JournalChunk{job.id, static_cast<uint32_t>(index), c.begin, c.end,
                                      c.done_upto, c.done, c.complete});
}

// --- Workers -------------------------------------------------------------------------------

bool Coordinator::Eligible(const Job& job, NodeId id, const WorkerInfo& w,
                           bool despite_failures) const {
  if (w.slots == 0 || (job.spec.exclude_self && id == self_)) return false;
  if (despite_failures) return true;
  auto f = job.worker_failures.find(id);
  return f == job.worker_failures.end() || f->second < config_.worker_failures;
}

uint32_t Coordinator::Capacity(const Job& job, const WorkerInfo& w) const {
  return w.slots + (job.spec.chunk_items ? w.slots * config_.lookahead_per_slot : 0);
}

bool Coordinator::HasWorkers(const JobSpec& spec) const {
  for (const auto& [id, w] : workers_)
    if (w.slots > 0 && !(spec.exclude_self && id == self_)) return true;
  return false;
}

CoordinatorOutput Coordinator::OnWorkerUp(NodeId id, uint32_t slots, uint64_t now_ms) {
  CoordinatorOutput out;
  VELUM_ASSERT(id != kNoNode);
  WorkerInfo& w = workers_[id];
  w.slots = slots;
  w.last_heard_ms = std::max(w.last_heard_ms, now_ms);
  Schedule(now_ms, &out);
  VELUM_ASSERT(workers_.count(id) && workers_.at(id).slots == slots);
  return out;
}

void Coordinator::OnHeard(NodeId id, uint64_t now_ms) {
  auto it = workers_.find(id);
  if (it != workers_.end()) it->second.last_heard_ms = std::max(it->second.last_heard_ms, now_ms);
}

CoordinatorOutput Coordinator::OnWorkerDown(NodeId id, uint64_t now_ms) {
  CoordinatorOutput out;
  auto wit = workers_.find(id);
  if (wit == workers_.end()) return out;
  uint64_t detection = now_ms >= wit->second.last_heard_ms ? now_ms - wit->second.last_heard_ms : 0;
  std::map<JobId, std::vector<AttemptId>> lost;
  for (const auto& [attempt, a] : active_)
    if (a.worker == id) lost[a.job].push_back(attempt);
  for (auto& [job_id, attempts] : lost) {
    Job& job = jobs_.at(job_id);
    FailureRecord record;
    record.worker = id;
    record.at_ms = now_ms;
    record.detection_ms = detection;
    std::sort(attempts.begin(), attempts.end());
    for (AttemptId a : attempts) LoseAttempt(job, a, &record, now_ms, &out);
    if (job.stats.failures.size() < JobStats::kMaxFailureRecords)
      job.stats.failures.push_back(record);
  }
  VELUM_ASSERT(wit->second.inflight == 0);
  workers_.erase(wit);
  Schedule(now_ms, &out);
  for (const auto& [attempt, a] : active_) VELUM_ASSERT(a.worker != id);
  return out;
}

// An attempt that will never report again: its chunk's remainder waits for another worker
// (unless a backup is still running it). Items it had started beyond the committed point
// will be computed again.
void Coordinator::LoseAttempt(Job& job, AttemptId id, FailureRecord* record, uint64_t now_ms,
                              CoordinatorOutput* out) {
  size_t index = 0;
  auto closed = job.ledger.Close(id, /*failed=*/false, &index);
  VELUM_ASSERT(closed.has_value());
  Ended(job, *closed, SpanOutcome::kLost, now_ms, out);
  VELUM_ASSERT(!active_.count(id) && !job.ledger.FindAttempt(id));
  const Chunk& c = job.ledger.chunk(index);
  uint64_t recomputed =
      closed->running_to > c.done_upto ? ItemsIn(c.done_upto, closed->running_to) : 0;
  job.stats.recomputed += recomputed;
  totals_.recomputed += recomputed;
  record->attempts++;
  record->recomputed_items += recomputed;
  if (c.attempts.empty() && !c.complete) {
    uint64_t items = ItemsIn(c.done_upto, c.end);
    job.stats.reassigned++;
    job.stats.reassigned_items += items;
    totals_.reassigned++;
    totals_.reassigned_items += items;
    record->reassigned_items += items;
  }
}

// Bookkeeping of an attempt that left the ledger; the worker is told to stop or forget it.
void Coordinator::Ended(Job& job, const Attempt& a, SpanOutcome outcome, uint64_t now_ms,
                        CoordinatorOutput* out) {
  auto it = active_.find(a.id);
  VELUM_ASSERT(it != active_.end() && it->second.job == job.id && it->second.worker == a.worker);
  active_.erase(it);
  job.timeline.Add(SpanOf(job, a, outcome, now_ms), config_.max_timeline_spans);
  auto w = workers_.find(a.worker);
  if (w != workers_.end()) {
    VELUM_ASSERT(w->second.inflight > 0);
    w->second.inflight--;
    out->messages.emplace_back(a.worker, ToWorker(std::in_place_index<1>, job.id, a.id));
  }
}

// --- Reports -------------------------------------------------------------------------------

void Coordinator::TellStale(NodeId to, JobId job, AttemptId attempt, uint64_t now_ms,
                            CoordinatorOutput* out) {
  auto it = told_.find(attempt);
  if (it != told_.end() && now_ms < it->second + config_.cancel_resend_ms) return;
  if (told_.size() >= kMaxTold) told_.clear();  // bounded; at worst a cancel is sent again
  told_[attempt] = now_ms;
  VELUM_ASSERT(told_.size() <= kMaxTold && told_.count(attempt));
  out->messages.emplace_back(to, ToWorker(std::in_place_index<1>, job, attempt));
}

CoordinatorOutput Coordinator::OnReport(NodeId from, const Report& r, uint64_t now_ms) {
  CoordinatorOutput out;
  OnHeard(from, now_ms);
  auto jit = jobs_.find(r.job);
  if (jit == jobs_.end() || jit->second.state != JobState::kRunning) {
    TellStale(from, r.job, r.attempt, now_ms, &out);  // a job that ended, or another epoch's
    return out;
  }
  Job& job = jit->second;
  if (r.has_error) {
    HandleError(job, from, r, now_ms, &out);
    return out;
  }
  const Attempt* before = job.ledger.FindAttempt(r.attempt);
  int64_t upto0 = before ? before->upto : 0, running_to0 = before ? before->running_to : 0;
  uint64_t busy0 = before ? before->busy_us : 0;
  Ledger::Applied applied = job.ledger.Apply(from, r, now_ms);
  switch (applied.verdict) {
    case Verdict::kInvalid:
      job.stats.invalid_reports++;
      [[fallthrough]];
    case Verdict::kStale:
      job.stats.stale_reports++;
      if (!job.ledger.FindAttempt(r.attempt) || job.ledger.FindAttempt(r.attempt)->worker != from)
        TellStale(from, r.job, r.attempt, now_ms, &out);
      return out;
    case Verdict::kHeartbeat:
      // A new slice started: if it is the attempt's last, its worker may take the next chunk
      // now (Finishing), without waiting for the slice to end.
      if (job.ledger.FindAttempt(r.attempt)->running_to != running_to0) Schedule(now_ms, &out);
      return out;
    case Verdict::kProgress:
    case Verdict::kCompleted:
      break;
  }
  // Throughput per slot, from this report's increments.
  uint64_t busy = r.busy_us > busy0 ? r.busy_us - busy0 : 0;
  if (busy > 0 && r.upto > upto0) {
    double sample = static_cast<double>(ItemsIn(upto0, r.upto)) * 1e6 / static_cast<double>(busy);
    auto [rit, fresh] = job.rate.try_emplace(from, sample);
    if (!fresh) rit->second = (1 - kRateSmoothing) * rit->second + kRateSmoothing * sample;
    VELUM_ASSERT(rit->second > 0 && std::isfinite(rit->second));
  }
  WorkerShare& share = job.shares[from];
  share.items += applied.committed;
  share.busy_us += busy;
  totals_.items_done += applied.committed;
  JournalChunkOf(job, applied.chunk, &out);
  if (applied.verdict == Verdict::kCompleted) {
    VELUM_ASSERT(job.ledger.chunk(applied.chunk).complete);
    share.chunks++;
    totals_.chunks_done++;
    int64_t winner_start = 0;
    for (const Attempt& a : applied.ended)
      if (a.id == r.attempt) winner_start = a.start;
    for (const Attempt& a : applied.ended) {
      // A backup race's loser computed [max(its start, the winner's start), running_to) twice.
      bool same_chunk = a.start >= job.ledger.chunk(applied.chunk).begin &&
                        a.start < job.ledger.chunk(applied.chunk).end;
      if (a.id != r.attempt && same_chunk) {
        int64_t from_item = std::max(a.start, winner_start);
        if (a.running_to > from_item) {
          job.stats.recomputed += ItemsIn(from_item, a.running_to);
          totals_.recomputed += ItemsIn(from_item, a.running_to);
        }
      }
      Ended(job, a, a.id == r.attempt ? SpanOutcome::kDone : SpanOutcome::kStopped, now_ms, &out);
    }
    if (job.ledger.Done()) LedgerDone(job, now_ms, &out);
  }
  Schedule(now_ms, &out);
  return out;
}

void Coordinator::HandleError(Job& job, NodeId from, const Report& r, uint64_t now_ms,
                              CoordinatorOutput* out) {
  const Attempt* a = job.ledger.FindAttempt(r.attempt);
  if (!a || a->worker != from) {
    job.stats.stale_reports++;
    TellStale(from, r.job, r.attempt, now_ms, out);
    return;
  }
  // Where the error happened: the failed slice, as the report says, if that is consistent.
  int64_t chunk_end = job.ledger.chunk(*job.ledger.ChunkOf(r.attempt)).end;
  bool sane = r.upto >= a->start && r.upto < r.running_to && r.running_to <= chunk_end;
  int64_t lo = sane ? r.upto : a->upto, hi = sane ? r.running_to : std::max(a->running_to, a->upto);
  size_t index = 0;
  auto closed = job.ledger.Close(r.attempt, /*failed=*/r.error.retryable, &index);
  VELUM_ASSERT(closed.has_value());
  Ended(job, *closed, SpanOutcome::kFailed, now_ms, out);
  VELUM_ASSERT(!active_.count(r.attempt));
  std::string where = "node " + std::to_string(from) + ", items [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + ")";
  JobFailure failure{r.error.kind, r.error.message, from, lo, hi, r.error.retryable};
  if (!r.error.retryable) {
    job.failure = failure;
    if (sane && r.output && !r.output->empty() && r.output->lo == lo && r.output->hi == hi)
      job.failed_output = std::make_shared<const OutputPiece>(OutputPiece{from, *r.output});
    Finish(job, JobState::kFailed, r.error.message + " (" + where + ")", now_ms, out);
    return;
  }
  job.worker_failures[from]++;
  uint32_t failures = job.ledger.chunk(index).failures;
  if (failures >= config_.max_failures) {
    job.failure = failure;
    Finish(job, JobState::kFailed,
           "gave up after " + std::to_string(failures) +
               " failed attempts; last: " + r.error.message + " (" + where + ")",
           now_ms, out);
    return;
  }
  job.stats.retries++;
  Schedule(now_ms, out);
}

CoordinatorOutput Coordinator::Tick(uint64_t now_ms) {
  CoordinatorOutput out;
  // Attempts that went silent without their worker being declared lost (a dropped
  // assignment, a worker stuck outside its executors) are presumed lost.
  std::vector<std::pair<JobId, AttemptId>> silent;
  for (const auto& [id, a] : active_) {
    const Attempt* at = jobs_.at(a.job).ledger.FindAttempt(id);
    VELUM_ASSERT(at != nullptr);
    if (now_ms >= at->last_report_ms + config_.silence_ms) silent.push_back({a.job, id});
  }
  std::sort(silent.begin(), silent.end());
  for (const auto& [job_id, id] : silent) {
    Job& job = jobs_.at(job_id);
    FailureRecord record;
    record.worker = active_.at(id).worker;
    record.at_ms = now_ms;
    record.detection_ms = config_.silence_ms;
    LoseAttempt(job, id, &record, now_ms, &out);
    if (job.stats.failures.size() < JobStats::kMaxFailureRecords)
      job.stats.failures.push_back(record);
  }
  Schedule(now_ms, &out);
  // Every silent attempt is gone: the timer that woke this tick is re-armed for later.
  VELUM_ASSERT(NextDeadlineMs() > now_ms);
  return out;
}

uint64_t Coordinator::NextDeadlineMs() const {
  uint64_t next = UINT64_MAX;
  for (const auto& [id, a] : active_) {
    const Attempt* at = jobs_.at(a.job).ledger.FindAttempt(id);
    VELUM_ASSERT(at != nullptr && at->worker == a.worker);
    next = std::min(next, at->last_report_ms + config_.silence_ms);
  }
  VELUM_ASSERT(active_.empty() == (next == UINT64_MAX));  // every attempt is heard of in time
  return next;
}

// --- Scheduling ----------------------------------------------------------------------------

double Coordinator::RateOf(const Job& job, NodeId id) const {
  auto it = job.rate.find(id);
  if (it != job.rate.end()) return it->second;
  // Unknown: assume the average of the known rates (or 1 when nothing is known yet, which
  // only matters relative to the others).
  double sum = 0;
  for (const auto& [w, r] : job.rate) sum += r;
  VELUM_ASSERT(sum >= 0);
  return job.rate.empty() ? 1.0 : sum / static_cast<double>(job.rate.size());
}

int64_t Coordinator::ChunkSize(const Job& job, NodeId worker) const {
  // At most INT64_MAX: the whole int64 range has 2^64 - 1 items, which no chunk size holds.
  uint64_t left = std::min<uint64_t>(static_cast<uint64_t>(job.ledger.limit()) -
                                         static_cast<uint64_t>(job.ledger.next_unassigned()),
                                     INT64_MAX);
  VELUM_ASSERT(left > 0);  // called only while some of the range is uncut
  if (job.spec.chunk_items) return static_cast<int64_t>(std::min(job.spec.chunk_items, left));
  // Guided: the worker gets its share of what is left, over guided_divisor. Its speed is
  // planned at the slower of its own measured rate and the mesh's mean per slot: a rate is
  // measured on the part of the range a worker ran, and the cost of an item may vary along
  // the range (count_primes' grows with n), so a rate from the cheap start would make a chunk
  // from the expensive end run long, alone at the job's tail.
  double total = 0, slots = 0;
  for (const auto& [id, w] : workers_)
    if (Eligible(job, id, w)) {
      total += RateOf(job, id) * w.slots;
      slots += w.slots;
    }
  double planned = RateOf(job, worker);
  if (slots > 0) planned = std::min(planned, total / slots);
  double share = total > 0 ? planned / total : 1.0;
  double size = static_cast<double>(left) * share / config_.guided_divisor;
  if (auto it = job.rate.find(worker); it != job.rate.end())
    size = std::max(size, it->second * config_.min_chunk_ms / 1000.0);
  // In [1, left], converted in integers: left as a double may round up to 2^63.
  uint64_t count = CountFromPlan(size, left);
  VELUM_ASSERT(count >= 1 && count <= left);
  return static_cast<int64_t>(count);
}

void Coordinator::OpenAttempt(Job& job, size_t chunk, NodeId worker, bool backup, uint64_t now_ms,
                              CoordinatorOutput* out) {
  VELUM_ASSERT((next_attempt_ & kAttemptMask) != 0);
  AttemptId id = next_attempt_++;
  const Attempt& a = job.ledger.Open(chunk, id, worker, backup, now_ms);
  VELUM_ASSERT(a.id == id && a.worker == worker && !active_.count(id));
  active_[id] = {job.id, worker};
  workers_.at(worker).inflight++;
  Assign msg;
  msg.job = job.id;
  msg.attempt = id;
  msg.module = job.spec.module;
  msg.module_size = job.spec.module_size;
  msg.func = job.spec.func;
  msg.start = a.start;
  msg.end = job.ledger.chunk(chunk).end;
  msg.reducer = job.spec.reducer;
  if (job.spec.reducer == ReducerKind::kModule) {
    msg.reduce_func = job.spec.reduce_func;
    msg.base = a.base;  // the worker folds onto the chunk's committed partial
  }
  msg.wide = job.spec.wide;
  msg.timeout_ms = job.spec.timeout_ms;
  msg.max_memory_pages = job.spec.max_memory_pages;
  msg.slice_ms = config_.slice_ms;
  msg.label = job.spec.label.substr(0, kMaxLabel);  // the wire's bound, for our own worker too
  out->messages.push_back({worker, std::move(msg)});
}

std::map<NodeId, uint32_t> Coordinator::Finishing() const {
  std::map<NodeId, uint32_t> n;
  for (const auto& [attempt, a] : active_) {
    const Ledger& ledger = jobs_.at(a.job).ledger;
    const Attempt* at = ledger.FindAttempt(attempt);
    VELUM_ASSERT(at != nullptr && at->running_to >= at->upto);
    if (at->running_to == ledger.chunk(*ledger.ChunkOf(attempt)).end && at->running_to > at->upto)
      n[a.worker]++;
  }
  return n;
}

bool Coordinator::AssignOne(Job& job, uint64_t now_ms, CoordinatorOutput* out) {
  std::optional<size_t> waiting = job.ledger.NextWaiting();
  if (!waiting && job.ledger.AllCut()) return false;
  // The worker that failed this job least often (a retry goes elsewhere if it can); then the
  // one with the most free capacity; then the fastest; then the lowest id.
  NodeId best = kNoNode;
  uint32_t best_failures = 0;
  int64_t best_free = 0;
  double best_rate = 0;
  const std::map<NodeId, uint32_t> finishing =
      job.spec.chunk_items ? std::map<NodeId, uint32_t>() : Finishing();
  // A worker that failed the job worker_failures times is skipped while another could take
  // the work; when none could, every worker with slots may retry it, the least failed
  // preferred (the chunk's max_failures still ends a job that keeps failing), rather than
  // the job waiting for good.
  bool despite_failures = true;
  for (const auto& [id, w] : workers_)
    if (Eligible(job, id, w)) despite_failures = false;
  for (const auto& [id, w] : workers_) {
    if (!Eligible(job, id, w, despite_failures)) continue;
    int64_t free = static_cast<int64_t>(Capacity(job, w)) - static_cast<int64_t>(w.inflight);
    // An attempt whose last slice is running frees its slot within a slice: the next chunk
    // is sent now, so the worker goes on without waiting a round trip for it.
    if (auto f = finishing.find(id); f != finishing.end()) free += std::min(f->second, w.slots);
    if (free <= 0) continue;
    auto f = job.worker_failures.find(id);
    uint32_t failures = f == job.worker_failures.end() ? 0 : f->second;
    double rate = RateOf(job, id);
    if (best == kNoNode || failures < best_failures ||
        (failures == best_failures &&
         (free > best_free || (free == best_free && rate > best_rate)))) {
      best = id;
      best_failures = failures;
      best_free = free;
      best_rate = rate;
    }
  }
  if (best == kNoNode) return false;
  size_t chunk;
  if (waiting) {
    chunk = *waiting;
  } else {
    auto cut = job.ledger.Cut(ChunkSize(job, best));
    VELUM_ASSERT(cut.has_value());
    chunk = *cut;
    JournalChunkOf(job, chunk, out);
  }
  VELUM_ASSERT(!job.ledger.chunk(chunk).complete);
  OpenAttempt(job, chunk, best, /*backup=*/false, now_ms, out);
  return true;
}

// At a job's tail, an idle worker runs a copy of the remainder that would take longest.
void Coordinator::StartBackups(Job& job, uint64_t now_ms, CoordinatorOutput* out) {
  if (!job.ledger.AllCut() || job.ledger.NextWaiting()) return;
  for (auto& [id, w] : workers_) {
    if (!Eligible(job, id, w) || w.inflight >= w.slots) continue;
    // Candidates: chunks of this job run by exactly one attempt on another worker.
    std::optional<size_t> best;
    double best_ms = config_.backup_after_ms;
    auto mine = job.rate.find(id);
    for (const auto& [attempt, a] : active_) {
      if (a.job != job.id || a.worker == id) continue;
      size_t i = *job.ledger.ChunkOf(attempt);
      const Chunk& c = job.ledger.chunk(i);
      if (c.attempts.size() != 1) continue;
      auto rate = job.rate.find(a.worker);
      if (rate == job.rate.end() || rate->second <= 0) continue;
      double items = static_cast<double>(ItemsIn(c.done_upto, c.end));
      double left_ms = items * 1000.0 / rate->second;
      // Worth it only if this worker, at its own measured speed, would likely finish first.
      if (mine != job.rate.end() && items * 1000.0 / mine->second >= left_ms) continue;
      if (left_ms > best_ms || (left_ms == best_ms && best && i < *best)) {
        best_ms = left_ms;
        best = i;
      }
    }
    if (!best) continue;  // nothing this worker could back up; another one may
    VELUM_ASSERT(job.ledger.chunk(*best).attempts.size() == 1);
    job.stats.backups++;
    OpenAttempt(job, *best, id, /*backup=*/true, now_ms, out);
  }
}

void Coordinator::Schedule(uint64_t now_ms, CoordinatorOutput* out) {
  // A job restored from a journal that holds its last chunk's completion but not the job's
  // end (a prefix of the ops of one report) has nothing left to assign: it ends here.
  // So does a module reducer's restored job whose chunks were all complete: its fold is asked.
  for (auto& [id, job] : jobs_)
    if (job.state == JobState::kRunning && job.ledger.Done() && !job.folding)
      LedgerDone(job, now_ms, out);
  // One assignment per job per round, so that concurrent jobs share the workers.
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& [id, job] : jobs_)
      if (job.state == JobState::kRunning && AssignOne(job, now_ms, out)) progress = true;
  }
  for (auto& [id, job] : jobs_) {
    if (job.state != JobState::kRunning) continue;
    if (job.folding) continue;  // nothing left to assign
    StartBackups(job, now_ms, out);
    VELUM_ASSERT(!job.ledger.Done());  // assigning work never completes a job
  }
}

// --- Invariants ----------------------------------------------------------------------------

void Coordinator::CheckInvariants() const {
  std::map<NodeId, uint32_t> inflight;
  size_t active = 0;
  for (const auto& [id, job] : jobs_) {
    VELUM_ASSERT(job.id == id && id < next_job_);
    if (job.state != JobState::kRunning) {
      VELUM_ASSERT(job.ledger.active_attempts() == 0 && !job.folding);
      continue;
    }
    VELUM_ASSERT(!job.folding || (job.ledger.Done() && job.spec.reducer == ReducerKind::kModule));
    job.ledger.CheckInvariants();
    for (const Chunk& c : job.ledger.chunks()) {
      for (const Attempt& a : c.attempts) {
        auto it = active_.find(a.id);
        VELUM_ASSERT(it != active_.end() && it->second.job == id && it->second.worker == a.worker);
        VELUM_ASSERT(workers_.count(a.worker));
        inflight[a.worker]++;
        active++;
      }
    }
  }
  VELUM_ASSERT(active == active_.size());
  for (const auto& [id, w] : workers_) VELUM_ASSERT(w.inflight == inflight[id]);
}

}  // namespace velum::core
