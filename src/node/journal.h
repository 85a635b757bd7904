// The coordinator's journal: jobs, their chunks' progress and the last finished jobs' records,
// so that a coordinator restarted with the same id and home resumes its unfinished jobs and
// still shows its finished ones. The SQLite one (WAL) survives kill -9: a flush is one transaction.
#ifndef VELUM_NODE_JOURNAL_H_
#define VELUM_NODE_JOURNAL_H_

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/coordinator.h"
#include "runtime/error.h"

namespace velum {

// What the coordinator keeps its jobs in. The buffering is here, one rule for every
// journal: Add keeps only the latest state of each job and chunk, and Flush hands them all to
// Write at once, so what is stored is always the state at some flush. Where they are stored
// is the implementation's: SQLite on disk (Open), or a simulated disk (tests/sim).
class Journal {
 public:
  // Opens (creating) the SQLite journal and starts a new epoch: one more than the last run's.
  // A file that is not a database at all is moved aside (FILE.bad-TIMESTAMP, with its -wal
  // and -shm), said once in the log, and replaced by an empty journal; damage inside a
  // database is tolerated row by row (Load).
  static Result<std::unique_ptr<Journal>> Open(const std::filesystem::path& file);
  virtual ~Journal() = default;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  uint32_t epoch() const { return epoch_; }
  core::JobId next_job_id() const { return next_job_; }

  struct JobRecord {
    core::JournalJob job;
    std::vector<core::JournalChunk> chunks;  // in index order
  };
  // Every job kept (running ones with their chunks, and how often they were resumed). Rows
  // that do not decode are skipped.
  virtual Result<std::vector<JobRecord>> Load() = 0;
  // One more resumption of a running job, committed at once (before the job runs again, so a
  // run that takes the process down is counted too); the new count.
  virtual Result<uint32_t> CountResume(core::JobId job) = 0;

  // One job as kept, with its records (JournalJob::summary and output): the buffer's latest
  // state if it has one, else the stored row. nullopt: not kept, or its row does not decode.
  Result<std::optional<core::JournalJob>> Find(core::JobId job);
  // The finished jobs kept (at most kFinishedJobsKept), newest first, with their summaries
  // but not their output; rows that do not decode are skipped.
  Result<std::vector<core::JournalJob>> Finished();

  // Buffers ops, keeping only the latest state of each job and chunk.
  void Add(std::vector<core::JournalOp> ops);
  bool dirty() const { return !jobs_.empty() || !chunks_.empty() || next_dirty_; }
  // A job id taken for a job kept elsewhere (a map job's own journal): no later job of this
  // journal may have it, also after a restart (stored at the next flush).
  void ReserveJob(core::JobId id) {
    next_job_ = std::max(next_job_, id + 1);
    next_dirty_ = true;
  }
  // Writes the buffer in one transaction; on failure the buffer is kept for the next flush.
  Status Flush();

  // Finished jobs kept (the oldest go first); running jobs are always kept.
  static constexpr size_t kFinishedJobsKept = 256;

  using Jobs = std::map<core::JobId, core::JournalJob>;
  using Chunks = std::map<std::pair<core::JobId, uint32_t>, core::JournalChunk>;

 protected:
  Journal(uint32_t epoch, core::JobId next_job) : epoch_(epoch), next_job_(next_job) {}
  // The epoch and next job id the stored journal says, once read.
  void Begin(uint32_t epoch, core::JobId next_job) {
    epoch_ = epoch;
    next_job_ = next_job;
  }
  // Stores `jobs` and `chunks` (the chunks of jobs no longer running are dropped, with their
  // resumption counts) and `next_job`, all or nothing.
  virtual Status Write(const Jobs& jobs, const Chunks& chunks, core::JobId next_job) = 0;
  // What Find and Finished read from storage (the buffer aside).
  virtual Result<std::optional<core::JournalJob>> FindStored(core::JobId job) = 0;
  virtual Result<std::vector<core::JournalJob>> FinishedStored() = 0;

 private:
  uint32_t epoch_;
  core::JobId next_job_;
  Jobs jobs_;
  Chunks chunks_;
  bool next_dirty_ = false;  // next_job_ moved by ReserveJob, not stored yet
};

}  // namespace velum

#endif  // VELUM_NODE_JOURNAL_H_
