// The coordinator's journal: jobs and their chunks' committed progress in SQLite (WAL mode),
// so that a coordinator restarted with the same id and home resumes its unfinished jobs.
// Survives kill -9 at any instant: every flush is one transaction.
#ifndef VELUM_NODE_JOURNAL_H_
#define VELUM_NODE_JOURNAL_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/coordinator.h"
#include "runtime/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace velum {

class Journal {
 public:
  // Opens (creating) the journal and starts a new epoch: one more than the last run's. A file
  // that is not a database at all is moved aside (FILE.bad-TIMESTAMP, with its -wal and
  // -shm), said once in the log, and replaced by an empty journal; damage inside a database
  // is tolerated row by row (Load).
  static Result<std::unique_ptr<Journal>> Open(const std::filesystem::path& file);
  ~Journal();
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
  Result<std::vector<JobRecord>> Load();
  // One more resumption of a running job, committed at once (before the job runs again, so a
  // run that takes the process down is counted too); the new count.
  Result<uint32_t> CountResume(core::JobId job);

  // Buffers ops, keeping only the latest state of each job and chunk; Flush() writes them
  // all in one transaction, so what is on disk is always the state at some flush.
  void Add(std::vector<core::JournalOp> ops);
  bool dirty() const { return !jobs_.empty() || !chunks_.empty(); }
  Status Flush();

  static constexpr size_t kFinishedJobsKept = 256;

 private:
  explicit Journal(sqlite3* db);
  // Open's one attempt; *unreadable when SQLite says the file is no database or a corrupt one.
  static Result<std::unique_ptr<Journal>> OpenFile(const std::filesystem::path& file,
                                                   bool* unreadable);
  // True unless `file` has bytes and they do not start with SQLite's header string.
  static bool HasDatabaseMagic(const std::filesystem::path& file);
  // Renames file (and its -wal, -shm) to FILE.bad-YYYYMMDDTHHMMSSZ; the new name.
  static Result<std::filesystem::path> MoveAside(const std::filesystem::path& file);
  Status Exec(const char* sql);
  Status Prepare();

  sqlite3* db_;
  sqlite3_stmt* upsert_job_ = nullptr;
  sqlite3_stmt* upsert_chunk_ = nullptr;
  sqlite3_stmt* delete_chunks_ = nullptr;
  uint32_t epoch_ = 0;
  core::JobId next_job_ = 1;
  std::map<core::JobId, core::JournalJob> jobs_;
  std::map<std::pair<core::JobId, uint32_t>, core::JournalChunk> chunks_;
};

}  // namespace velum

#endif  // VELUM_NODE_JOURNAL_H_
