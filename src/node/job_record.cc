// Encodes a finished job's summary and output as the journal's versioned records (wire
// JobOutcome, JobOutputRecord) and reads them back into a JobSummary.
#include "node/job_record.h"

#include <algorithm>
#include <string_view>

#include "wire/velum.pb.h"

namespace velum {

namespace {

namespace pb = velum::wire::pb;

bool DecodeOutcome(std::string_view bytes, JobSummary* s) {
  pb::JobOutcome p;
  if (bytes.size() > kMaxStoredSummaryBytes ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || p.version() == 0)
    return false;
  if (p.has_failure()) {
    const auto& f = p.failure();
    s->failure = core::JobFailure{f.error_kind(), f.message().substr(0, core::kMaxErrorMessage),
                                  f.node(),       f.lo(),
                                  f.hi(),         f.retryable()};
  }
  if (p.kind_case() != pb::JobOutcome::kScatter) return true;  // a kind this node does not know
  const pb::ScatterOutcome& o = p.scatter();
  if (s->state != core::JobState::kDone) s->items_done = std::min(o.items_done(), s->items_total);
  s->chunks = o.chunks();
  for (const auto& w : o.workers())
    s->workers.push_back(
        {w.node(), w.chunks(), w.items(), static_cast<double>(w.busy_us()) / 1e6, 0});
  s->reassigned_items = o.reassigned_items();
  s->backups = o.backups();
  s->retries = o.retries();
  s->detection_ms = o.detection_ms() < 0 ? -1 : o.detection_ms();
  for (const auto& f : o.lost())
    s->failures.push_back(
        {f.worker(), f.detection_ms(), f.attempts(), f.reassigned_items(), f.recomputed_items()});
  s->output_truncated = o.output_truncated();
  s->output_lost = o.output_lost();
  s->resumed = o.resumed();
  return true;
}

bool DecodeOutput(std::string_view bytes, std::vector<OutputBlock>* out) {
  pb::JobOutputRecord p;
  if (bytes.size() > kMaxStoredOutputBytes ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return false;
  for (const auto& b : p.blocks()) {
    if (b.stream() >= core::kOutputStreams || b.start() > b.end()) return false;
    out->push_back({b.node(), b.start(), b.end(), static_cast<core::OutputStream>(b.stream()),
                    b.data(), b.truncated()});
  }
  return true;
}

}  // namespace

void RecordOutcome(const JobSummary& s, core::JournalJob* job) {
  pb::JobOutcome p;
  p.set_version(kJobOutcomeVersion);
  if (s.failure) {
    pb::JobFailureRecord* f = p.mutable_failure();
    f->set_error_kind(s.failure->error_kind);
    f->set_message(s.failure->message);
    f->set_node(s.failure->node);
    f->set_lo(s.failure->lo);
    f->set_hi(s.failure->hi);
    f->set_retryable(s.failure->retryable);
  }
  pb::ScatterOutcome* o = p.mutable_scatter();
  o->set_items_done(s.items_done);
  o->set_chunks(s.chunks);
  for (const auto& w : s.workers) {
    pb::WorkerShareRecord* r = o->add_workers();
    r->set_node(w.id);
    r->set_chunks(w.chunks);
    r->set_items(w.items);
    r->set_busy_us(static_cast<uint64_t>(w.seconds * 1e6 + 0.5));
  }
  o->set_reassigned_items(s.reassigned_items);
  o->set_backups(s.backups);
  o->set_retries(s.retries);
  o->set_detection_ms(s.detection_ms);
  for (const auto& f : s.failures) {
    pb::LostWorkerRecord* r = o->add_lost();
    r->set_worker(f.worker);
    r->set_detection_ms(f.detection_ms);
    r->set_attempts(f.attempts);
    r->set_reassigned_items(f.reassigned_items);
    r->set_recomputed_items(f.recomputed_items);
  }
  o->set_output_truncated(s.output_truncated);
  o->set_output_lost(s.output_lost);
  o->set_resumed(s.resumed);
  o->set_output_blocks(s.output.size());
  job->summary = p.SerializeAsString();
  job->output.clear();
  if (s.output.empty()) return;
  pb::JobOutputRecord out;
  for (const auto& b : s.output) {
    pb::OutputBlockRecord* r = out.add_blocks();
    r->set_node(b.node);
    r->set_start(b.start);
    r->set_end(b.end);
    r->set_stream(static_cast<uint32_t>(b.stream));
    r->set_data(b.data);
    r->set_truncated(b.truncated);
  }
  job->output = out.SerializeAsString();
}

void SummarizeSpec(const core::JobSpec& spec, JobSummary* s) {
  s->label = spec.label;
  s->func = spec.func;
  s->start = spec.start;
  s->end = spec.end;
  s->reducer = spec.reducer;
  s->reduce_func = spec.reduce_func;
}

JobSummary SummaryOfRecord(const core::JournalJob& job, bool with_output) {
  JobSummary s;
  s.id = job.id;
  s.state = job.state;
  SummarizeSpec(job.spec, &s);
  s.result = job.result;
  s.error = job.error;
  s.items_total = core::ItemsIn(job.spec.start, job.spec.end);
  s.items_done = job.state == core::JobState::kDone ? s.items_total : 0;
  s.elapsed_ms = static_cast<double>(job.elapsed_ms);
  s.reassigned = job.reassigned;
  s.recomputed = job.recomputed;
  s.stale_reports = job.stale_reports;
  s.from_journal = true;
  if (job.summary.empty()) {
    s.details = JobDetails::kNotRecorded;
    return s;
  }
  JobSummary decoded = s;
  if (!DecodeOutcome(job.summary, &decoded)) {
    s.details = JobDetails::kDamaged;
    return s;
  }
  if (with_output && !job.output.empty() && !DecodeOutput(job.output, &decoded.output)) {
    decoded.output.clear();
    decoded.details = JobDetails::kDamaged;
  }
  return decoded;
}

}  // namespace velum
