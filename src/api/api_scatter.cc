// Scatter jobs through the C API: velum_scatter submits a job and follows it to its end,
// velum_scatter_async and velum_job_open return a velum_job handle (wait, cancel, progress,
// output, release).
#include <mutex>
#include <new>
#include <optional>
#include <string>

#include "api/api_internal.h"
#include "node/node_waits.h"

namespace velum::api {

namespace {

// Submits a scatter job: VELUM_OK and its id, or a failure.
int SubmitJob(Node& node, const char* path, const char* func, int64_t start, int64_t end,
              const velum_scatter_options* options, uint64_t* id) {
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  if (!func) return Fail(VELUM_ERR_INVALID_ARGUMENT, "func is NULL");
  velum_scatter_options o;
  velum_scatter_options_default(&o);
  if (options) o = *options;
  ScatterRequest req;
  switch (RawEnum(o.reducer)) {
    case VELUM_REDUCE_SUM:
      req.reducer = core::ReducerKind::kSum;
      break;
    case VELUM_REDUCE_MIN:
      req.reducer = core::ReducerKind::kMin;
      break;
    case VELUM_REDUCE_MAX:
      req.reducer = core::ReducerKind::kMax;
      break;
    case VELUM_REDUCE_FIRST:
      req.reducer = core::ReducerKind::kFirst;
      break;
    case VELUM_REDUCE_EXPORT:
      if (!o.reduce_export || !*o.reduce_export)
        return Fail(VELUM_ERR_INVALID_ARGUMENT,
                    "VELUM_REDUCE_EXPORT needs reduce_export, the name of the combining export");
      req.reducer = core::ReducerKind::kModule;
      req.reduce_func = o.reduce_export;
      break;
    default:
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  "reducer " + std::to_string(RawEnum(o.reducer)) + " is not a velum_reducer");
  }
  if (o.timeout_ms == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms must be above 0");
  if (o.max_memory_mib == 0 || o.max_memory_mib > 65536)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "max_memory_mib must be in [1, 65536]");
  req.path = path;
  req.func = func;
  req.start = start;
  req.end = end;
  req.chunk_items = o.chunk_items;
  req.exclude_self = o.exclude_self;
  req.timeout_ms = o.timeout_ms;
  req.max_memory_mib = o.max_memory_mib;
  auto submitted = node.Submit(req);
  if (!submitted.ok()) return Fail(submitted.error());
  *id = *submitted;
  return VELUM_OK;
}

// Follows a job until it ends or until `deadline` (nullopt: no limit); nullopt if the node
// does not know the job. When velum_shutdown begins, the job is cancelled and followed on, so
// the caller gets its cancelled summary rather than a running one.
std::optional<JobSummary> Follow(Node& node, uint64_t id,
                                 std::optional<Clock::time_point> deadline) {
  FollowOptions options;
  options.deadline = deadline;
  options.should_cancel = ShuttingDown;
  return FollowJob(node, id, options).summary;
}

}  // namespace

}  // namespace velum::api

using velum::api::DeadlineOf;
using velum::api::Fail;
using velum::api::FailedResult;
using velum::api::FailNull;
using velum::api::Follow;
using velum::api::JobResult;
using velum::api::kNotInitialized;
using velum::api::LastErrorText;
using velum::api::Lease;
using velum::api::SubmitJob;

extern "C" {

void velum_scatter_options_default(velum_scatter_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  velum::ScatterRequest d;
  options->reducer = VELUM_REDUCE_SUM;
  options->chunk_items = d.chunk_items;
  options->exclude_self = d.exclude_self;
  options->timeout_ms = d.timeout_ms;
  options->max_memory_mib = d.max_memory_mib;
}

velum_result velum_scatter(const char* path, const char* func, int64_t start, int64_t end,
                           const velum_scatter_options* options) {
  Lease lease;
  if (!lease.node()) return FailedResult(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  uint64_t id = 0;
  if (int code = SubmitJob(*lease.node(), path, func, start, end, options, &id); code != VELUM_OK)
    return FailedResult(code, LastErrorText());
  auto s = Follow(*lease.node(), id, std::nullopt);
  if (!s) return FailedResult(VELUM_ERR_INTERNAL, "job " + std::to_string(id) + " vanished");
  return JobResult(*s);
}

velum_result velum_spawn_wasm_distributed(const char* path, const char* func, int64_t start,
                                          int64_t end) {
  return velum_scatter(path, func, start, end, nullptr);
}

velum_job* velum_scatter_async(const char* path, const char* func, int64_t start, int64_t end,
                               const velum_scatter_options* options) {
  Lease lease;
  if (!lease.node()) return FailNull<velum_job>(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  uint64_t id = 0;
  if (SubmitJob(*lease.node(), path, func, start, end, options, &id) != VELUM_OK) return nullptr;
  auto* job = new (std::nothrow) velum_job;
  if (!job) return FailNull<velum_job>(VELUM_ERR_INTERNAL, "out of memory");
  job->generation = lease.generation();
  job->id = id;
  velum::api::TrackJob(job);
  return job;
}

velum_job* velum_job_open(uint64_t id) {
  Lease lease;
  if (!lease.node()) return FailNull<velum_job>(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  std::optional<velum::JobSummary> s;
  if (id != 0) s = lease.node()->Job(id);
  if (!s)
    return FailNull<velum_job>(VELUM_ERR_INVALID_ARGUMENT,
                               "no job " + std::to_string(id) + " on this node");
  auto* job = new (std::nothrow) velum_job;
  if (!job) return FailNull<velum_job>(VELUM_ERR_INTERNAL, "out of memory");
  job->generation = lease.generation();
  job->id = id;
  if (s->finished()) job->final = std::move(*s);
  velum::api::TrackJob(job);
  return job;
}

int velum_job_wait(velum_job* job, int timeout_ms, velum_result* out) {
  velum_result r;
  if (!job) {
    r = FailedResult(VELUM_ERR_INVALID_ARGUMENT, "job is NULL");
  } else {
    std::optional<velum::JobSummary> final;
    {
      std::lock_guard<std::mutex> lock(job->mu);
      final = job->final;
    }
    if (final) {
      r = JobResult(*final);
    } else {
      Lease lease;
      if (!lease.node() || lease.generation() != job->generation) {
        r = FailedResult(VELUM_ERR_NOT_INITIALIZED,
                         "job " + std::to_string(job->id) + ": its node was shut down");
      } else if (auto s = Follow(*lease.node(), job->id, DeadlineOf(timeout_ms)); !s) {
        r = FailedResult(VELUM_ERR_INTERNAL,
                         "job " + std::to_string(job->id) + " is no longer known to its node");
      } else {
        if (s->finished()) {
          std::lock_guard<std::mutex> lock(job->mu);
          job->final = *s;
        }
        r = JobResult(*s);
      }
    }
  }
  if (out) *out = r;
  return r.code;
}

int velum_job_cancel(velum_job* job) {
  if (!job) return Fail(VELUM_ERR_INVALID_ARGUMENT, "job is NULL");
  {
    std::lock_guard<std::mutex> lock(job->mu);
    if (job->final)
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  "job " + std::to_string(job->id) + " has already ended (" +
                      velum::core::JobStateName(job->final->state) + ")");
  }
  Lease lease;
  if (!lease.node() || lease.generation() != job->generation)
    return Fail(VELUM_ERR_NOT_INITIALIZED,
                "job " + std::to_string(job->id) + ": its node was shut down");
  if (velum::Status s = lease.node()->CancelJob(job->id); !s.ok()) return Fail(s.error());
  return VELUM_OK;
}

uint64_t velum_job_id(const velum_job* job) { return job ? job->id : 0; }

double velum_job_progress(velum_job* job) {
  if (!job) return -1;
  std::optional<velum::JobSummary> s;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    s = job->final;
  }
  if (!s) {
    Lease lease;
    if (lease.node() && lease.generation() == job->generation) s = lease.node()->Job(job->id);
  }
  if (!s) return 0;
  if (s->state == velum::core::JobState::kDone) return 1;
  return s->items_total ? static_cast<double>(s->items_done) / s->items_total : 0;
}

size_t velum_job_output_count(velum_job* job, bool* incomplete) {
  if (incomplete) *incomplete = false;
  if (!job) return 0;
  std::lock_guard<std::mutex> lock(job->mu);
  if (!job->final) return 0;
  if (incomplete) *incomplete = job->final->output_truncated || job->final->output_lost;
  return job->final->output.size();
}

int velum_job_output(velum_job* job, size_t index, velum_output* out) {
  if (!job || !out) return Fail(VELUM_ERR_INVALID_ARGUMENT, job ? "out is NULL" : "job is NULL");
  std::lock_guard<std::mutex> lock(job->mu);
  if (!job->final || index >= job->final->output.size())
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "job " + std::to_string(job->id) + " has no block " +
                                                std::to_string(index) + " of output");
  // The final summary never changes once set: its strings stay put until the handle goes.
  const velum::OutputBlock& b = job->final->output[index];
  out->node = b.node;
  out->start = b.start;
  out->end = b.end;
  out->stream = b.stream == velum::core::OutputStream::kStdout ? VELUM_STDOUT : VELUM_STDERR;
  out->data = b.data.c_str();
  out->size = b.data.size();
  out->truncated = b.truncated;
  return VELUM_OK;
}

void velum_job_release(velum_job* job) {
  if (!job) return;
  velum::api::UntrackJob(job);
  delete job;
}

}  // extern "C"
