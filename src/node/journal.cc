// SQLite statements of the journal. WAL mode with synchronous=NORMAL: a committed
// transaction survives the process being killed (the WAL's frame checksums discard a torn
// tail), and a commit costs a write, not an fsync.
#include "node/journal.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include "runtime/home.h"
#include "wire/job_codec.h"

namespace velum {

namespace {

Error DbError(sqlite3* db, const std::string& what) {
  return MakeError(ErrorKind::kIo, "journal: " + what + ": " + sqlite3_errmsg(db));
}

std::string Blob(sqlite3_stmt* st, int col) {
  const void* p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

std::string Text(sqlite3_stmt* st, int col) {
  const unsigned char* p = sqlite3_column_text(st, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}

void BindBlob(sqlite3_stmt* st, int col, const std::string& bytes) {
  if (bytes.empty())
    sqlite3_bind_null(st, col);
  else
    sqlite3_bind_blob(st, col, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

// The columns every read of jobs selects first, in this order.
constexpr char kJobColumns[] =
    "id, spec, state, result, error, reassigned, recomputed, stale, elapsed_ms";

// A row's first columns (kJobColumns) into *job; false if they do not decode.
bool DecodeJobRow(sqlite3_stmt* st, core::JournalJob* job) {
  job->id = static_cast<core::JobId>(sqlite3_column_int64(st, 0));
  int state = sqlite3_column_int(st, 2);
  if (state < 0 || state > static_cast<int>(core::JobState::kCancelled)) return false;
  job->state = static_cast<core::JobState>(state);
  if (!wire::DecodeJobSpec(Blob(st, 1), &job->spec)) return false;
  if (!wire::DecodeNums(Blob(st, 3), &job->result)) return false;
  job->error = Text(st, 4);
  job->reassigned = static_cast<uint64_t>(sqlite3_column_int64(st, 5));
  job->recomputed = static_cast<uint64_t>(sqlite3_column_int64(st, 6));
  job->stale_reports = static_cast<uint64_t>(sqlite3_column_int64(st, 7));
  job->elapsed_ms = static_cast<uint64_t>(sqlite3_column_int64(st, 8));
  return true;
}

}  // namespace

// The journal in SQLite: tables jobs, chunks, resumes and meta (epoch, next_job).
class SqliteJournal final : public Journal {
 public:
  // Open's one attempt; *unreadable when SQLite says the file is no database or a corrupt one.
  static Result<std::unique_ptr<Journal>> OpenFile(const std::filesystem::path& file,
                                                   bool* unreadable);
  // True unless `file` has bytes and they do not start with SQLite's header string.
  static bool HasDatabaseMagic(const std::filesystem::path& file);
  // Renames file (and its -wal, -shm) to FILE.bad-YYYYMMDDTHHMMSSZ; the new name.
  static Result<std::filesystem::path> MoveAside(const std::filesystem::path& file);

  SqliteJournal(sqlite3* db, uint32_t epoch, core::JobId next_job)
      : Journal(epoch, next_job), db_(db) {}
  ~SqliteJournal() override;
  Result<std::vector<JobRecord>> Load() override;
  Result<uint32_t> CountResume(core::JobId job) override;

 protected:
  Status Write(const Jobs& jobs, const Chunks& chunks, core::JobId next_job) override;
  Result<std::optional<core::JournalJob>> FindStored(core::JobId job) override;
  Result<std::vector<core::JournalJob>> FinishedStored() override;

 private:
  Status Exec(const char* sql);
  Status Prepare();
  // Adds the columns of later versions that a journal written by an older node lacks.
  Status Migrate();

  sqlite3* db_;
  sqlite3_stmt* upsert_job_ = nullptr;
  sqlite3_stmt* upsert_chunk_ = nullptr;
  sqlite3_stmt* delete_chunks_ = nullptr;
};

SqliteJournal::~SqliteJournal() {
  if (dirty()) Flush();
  sqlite3_finalize(upsert_job_);
  sqlite3_finalize(upsert_chunk_);
  sqlite3_finalize(delete_chunks_);
  sqlite3_close(db_);
}

Status SqliteJournal::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    return MakeError(ErrorKind::kIo, std::string("journal: ") + msg);
  }
  return {};
}

Status SqliteJournal::Migrate() {
  // Version 1 had no records of finished jobs: its rows read back with none (kNotRecorded).
  bool has_summary = false, has_output = false;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA table_info(jobs)", -1, &st, nullptr) != SQLITE_OK)
    return DbError(db_, "read the schema");
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string name = Text(st, 1);
    has_summary = has_summary || name == "summary";
    has_output = has_output || name == "output";
  }
  sqlite3_finalize(st);
  if (!has_summary)
    if (Status s = Exec("ALTER TABLE jobs ADD COLUMN summary BLOB"); !s.ok()) return s;
  if (!has_output)
    if (Status s = Exec("ALTER TABLE jobs ADD COLUMN output BLOB"); !s.ok()) return s;
  return {};
}

Status SqliteJournal::Prepare() {
  const char* job_sql =
      "INSERT INTO jobs(id, spec, state, result, error, reassigned, recomputed, stale, elapsed_ms,"
      " summary, output) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(id) DO "
      "UPDATE SET spec = ?2, state = ?3, result = ?4, error = ?5, reassigned = ?6, "
      "recomputed = ?7, stale = ?8, elapsed_ms = ?9, summary = ?10, output = ?11";
  const char* chunk_sql =
      "INSERT INTO chunks(job, idx, begin_item, end_item, done_upto, partial, complete) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(job, idx) DO UPDATE SET "
      "begin_item = ?3, end_item = ?4, done_upto = ?5, partial = ?6, complete = ?7";
  if (sqlite3_prepare_v2(db_, job_sql, -1, &upsert_job_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, chunk_sql, -1, &upsert_chunk_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, "DELETE FROM chunks WHERE job = ?1", -1, &delete_chunks_, nullptr) !=
          SQLITE_OK)
    return DbError(db_, "prepare");
  return {};
}

Result<std::unique_ptr<Journal>> SqliteJournal::OpenFile(const std::filesystem::path& file,
                                                         bool* unreadable) {
  *unreadable = false;
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
    Error e = DbError(db, "cannot open " + file.string());
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<SqliteJournal> j(new SqliteJournal(db, 0, 1));
  sqlite3_busy_timeout(db, 2000);
  const char* schema =
      "PRAGMA journal_mode = WAL;"
      "PRAGMA synchronous = NORMAL;"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, spec BLOB NOT NULL,"
      "  state INTEGER NOT NULL, result BLOB, error TEXT, reassigned INTEGER,"
      "  recomputed INTEGER, stale INTEGER, elapsed_ms INTEGER, summary BLOB, output BLOB);"
      "CREATE TABLE IF NOT EXISTS chunks(job INTEGER NOT NULL, idx INTEGER NOT NULL,"
      "  begin_item INTEGER NOT NULL, end_item INTEGER NOT NULL, done_upto INTEGER NOT NULL,"
      "  partial BLOB NOT NULL, complete INTEGER NOT NULL, PRIMARY KEY(job, idx))"
      "  WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS resumes(job INTEGER PRIMARY KEY, count INTEGER NOT NULL);";
  // SQLite reads the header lazily: garbage shows here, as "file is not a database" (or as
  // a corrupt schema when the header survived).
  auto unusable = [&] {
    int code = sqlite3_errcode(db) & 0xff;
    *unreadable = code == SQLITE_NOTADB || code == SQLITE_CORRUPT;
  };
  if (Status s = j->Exec(schema); !s.ok()) {
    unusable();
    return s.error();
  }
  if (Status s = j->Migrate(); !s.ok()) {
    unusable();
    return s.error();
  }
  if (Status s = j->Prepare(); !s.ok()) {
    unusable();
    return s.error();
  }
  // A new epoch, committed before anything else happens: attempt ids of this run can never
  // collide with those of an earlier one.
  sqlite3_stmt* st = nullptr;
  int64_t epoch = 0, next_job = 1;
  sqlite3_prepare_v2(db,
                     "SELECT (SELECT value FROM meta WHERE key = 'epoch'),"
                     "       (SELECT value FROM meta WHERE key = 'next_job'),"
                     "       (SELECT MAX(id) FROM jobs)",
                     -1, &st, nullptr);
  if (st && sqlite3_step(st) == SQLITE_ROW) {
    epoch = sqlite3_column_int64(st, 0);
    next_job = std::max<int64_t>(sqlite3_column_int64(st, 1), 1);
    next_job = std::max<int64_t>(next_job, sqlite3_column_int64(st, 2) + 1);
  }
  sqlite3_finalize(st);
  if (epoch < 0 || epoch >= (1 << 23)) epoch = 0;  // attempt ids keep epoch << 40 in 64 bits
  j->Begin(static_cast<uint32_t>(epoch + 1), static_cast<core::JobId>(next_job));
  std::string bump = "INSERT INTO meta(key, value) VALUES('epoch', " + std::to_string(j->epoch()) +
                     ") ON CONFLICT(key) DO UPDATE SET value = excluded.value;";
  if (Status s = j->Exec(bump.c_str()); !s.ok()) {
    unusable();
    return s.error();
  }
  return std::unique_ptr<Journal>(std::move(j));
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::filesystem::path& file) {
  if (!EnsureDirectory(file.parent_path()))
    return MakeError(ErrorKind::kIo, "cannot create " + file.parent_path().string());
  // Not a database at all (overwritten with garbage): keeping it would make this node id
  // unusable forever. It is kept aside for a post-mortem and the node starts afresh. A file
  // without SQLite's magic is caught before SQLite opens it, which would delete the -wal and
  // -shm beside it; one with the magic but a corrupt schema is caught by SQLite's verdict.
  auto start_afresh = [&](const std::string& why) -> Result<std::unique_ptr<Journal>> {
    auto aside = SqliteJournal::MoveAside(file);
    if (!aside.ok()) return aside.error();
    spdlog::warn("journal {} is not a database ({}); moved it to {} and started an empty journal",
                 file.string(), why, aside->string());
    bool unreadable = false;
    return SqliteJournal::OpenFile(file, &unreadable);
  };
  if (!SqliteJournal::HasDatabaseMagic(file)) return start_afresh("no SQLite header");
  bool unreadable = false;
  auto j = SqliteJournal::OpenFile(file, &unreadable);
  if (j.ok() || !unreadable) return j;
  return start_afresh(j.error().message);
}

bool SqliteJournal::HasDatabaseMagic(const std::filesystem::path& file) {
  static const char kMagic[16] = "SQLite format 3";  // and its NUL: the first 16 bytes
  std::ifstream in(file, std::ios::binary);
  if (!in) return true;  // missing (created empty) or unreadable (SQLite says why)
  char head[16] = {};
  in.read(head, sizeof head);
  if (in.gcount() == 0) return true;  // an empty file is an empty database
  return in.gcount() == sizeof head && std::memcmp(head, kMagic, sizeof head) == 0;
}

Result<std::filesystem::path> SqliteJournal::MoveAside(const std::filesystem::path& file) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  std::error_code ec;
  std::filesystem::path aside;
  // Two bad files within one second (a restart loop) get distinct names; the bound keeps the
  // search finite.
  for (int n = 0; n < 100; n++) {
    aside = file.string() + ".bad-" + stamp + (n ? "-" + std::to_string(n) : "");
    if (!std::filesystem::exists(aside, ec)) break;
  }
  if (std::filesystem::exists(aside, ec))
    return MakeError(ErrorKind::kIo,
                     "journal: cannot find a free name to move " + file.string() + " aside");
  // The -wal and -shm files go along, named as SQLite pairs them, so the set still opens.
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::path side = file.string() + suffix;
    if (std::filesystem::exists(side, ec))
      std::filesystem::rename(side, aside.string() + suffix, ec);
  }
  std::filesystem::rename(file, aside, ec);
  if (ec)
    return MakeError(ErrorKind::kIo, "journal: " + file.string() +
                                         " is not a database and cannot "
                                         "be moved aside: " +
                                         ec.message());
  return aside;
}

Result<std::vector<Journal::JobRecord>> SqliteJournal::Load() {
  std::vector<JobRecord> out;
  sqlite3_stmt* st = nullptr;
  std::string sql = std::string("SELECT ") + kJobColumns +
                    ", (SELECT count FROM resumes WHERE job = id) FROM jobs ORDER BY id";
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    return DbError(db_, "load jobs");
  while (sqlite3_step(st) == SQLITE_ROW) {
    JobRecord r;
    if (!DecodeJobRow(st, &r.job)) continue;
    r.job.resumes =
        static_cast<uint32_t>(std::clamp<int64_t>(sqlite3_column_int64(st, 9), 0, UINT32_MAX));
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(
          db_,
          "SELECT idx, begin_item, end_item, done_upto, partial, complete FROM chunks"
          " WHERE job = ?1 ORDER BY idx",
          -1, &st, nullptr) != SQLITE_OK)
    return DbError(db_, "load chunks");
  for (JobRecord& r : out) {
    if (r.job.state != core::JobState::kRunning) continue;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, static_cast<int64_t>(r.job.id));
    while (sqlite3_step(st) == SQLITE_ROW) {
      core::JournalChunk c;
      c.job = r.job.id;
      c.index = static_cast<uint32_t>(sqlite3_column_int64(st, 0));
      c.begin = sqlite3_column_int64(st, 1);
      c.end = sqlite3_column_int64(st, 2);
      c.done_upto = sqlite3_column_int64(st, 3);
      if (!wire::DecodeNums(Blob(st, 4), &c.done.values)) break;  // the rest is cut again
      c.complete = sqlite3_column_int(st, 5) != 0;
      r.chunks.push_back(std::move(c));
    }
  }
  sqlite3_finalize(st);
  return out;
}

Result<uint32_t> SqliteJournal::CountResume(core::JobId job) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO resumes(job, count) VALUES(?1, 1) ON CONFLICT(job) DO "
                         "UPDATE SET count = MIN(count + 1, 4294967295) RETURNING count",
                         -1, &st, nullptr) != SQLITE_OK)
    return DbError(db_, "count a resumption");
  sqlite3_bind_int64(st, 1, static_cast<int64_t>(job));
  int64_t count = -1;
  if (sqlite3_step(st) == SQLITE_ROW) count = sqlite3_column_int64(st, 0);
  int done = sqlite3_step(st);
  sqlite3_finalize(st);
  if (count < 0 || done != SQLITE_DONE) return DbError(db_, "count a resumption");
  return static_cast<uint32_t>(count);
}

Result<std::optional<core::JournalJob>> SqliteJournal::FindStored(core::JobId job) {
  sqlite3_stmt* st = nullptr;
  std::string sql =
      std::string("SELECT ") + kJobColumns + ", summary, output FROM jobs WHERE id = ?1";
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    return DbError(db_, "find a job");
  sqlite3_bind_int64(st, 1, static_cast<int64_t>(job));
  std::optional<core::JournalJob> found;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    core::JournalJob j;
    if (DecodeJobRow(st, &j)) {
      j.summary = Blob(st, 9);
      j.output = Blob(st, 10);
      found = std::move(j);
    } else {
      spdlog::warn("journal: the row of job {} does not decode; it is skipped", job);
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return DbError(db_, "find a job");
  return found;
}

Result<std::vector<core::JournalJob>> SqliteJournal::FinishedStored() {
  sqlite3_stmt* st = nullptr;
  std::string sql = std::string("SELECT ") + kJobColumns +
                    ", summary FROM jobs WHERE state != 0 ORDER BY id DESC LIMIT " +
                    std::to_string(kFinishedJobsKept);
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    return DbError(db_, "list finished jobs");
  std::vector<core::JournalJob> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    core::JournalJob j;
    if (!DecodeJobRow(st, &j)) continue;
    j.summary = Blob(st, 9);
    out.push_back(std::move(j));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return DbError(db_, "list finished jobs");
  return out;
}

Result<std::optional<core::JournalJob>> Journal::Find(core::JobId job) {
  if (auto it = jobs_.find(job); it != jobs_.end()) return std::optional(it->second);
  return FindStored(job);
}

Result<std::vector<core::JournalJob>> Journal::Finished() {
  auto stored = FinishedStored();
  if (!stored.ok()) return stored.error();
  // The buffer's states are newer than the stored ones: they replace them.
  std::map<core::JobId, core::JournalJob, std::greater<>> by_id;
  for (auto& j : *stored) by_id[j.id] = std::move(j);
  for (const auto& [id, j] : jobs_) {
    if (j.state == core::JobState::kRunning) {
      by_id.erase(id);
      continue;
    }
    core::JournalJob listed = j;
    listed.output.clear();
    by_id[id] = std::move(listed);
  }
  std::vector<core::JournalJob> out;
  for (auto& [id, j] : by_id) {
    if (out.size() == kFinishedJobsKept) break;
    out.push_back(std::move(j));
  }
  return out;
}

void Journal::Add(std::vector<core::JournalOp> ops) {
  for (auto& op : ops) {
    if (auto* j = std::get_if<core::JournalJob>(&op)) {
      next_job_ = std::max(next_job_, j->id + 1);
      jobs_[j->id] = std::move(*j);
    } else {
      auto& c = std::get<core::JournalChunk>(op);
      chunks_[{c.job, c.index}] = std::move(c);
    }
  }
}

Status Journal::Flush() {
  if (!dirty()) return {};
  if (Status s = Write(jobs_, chunks_, next_job_); !s.ok()) return s;  // kept: tried again
  jobs_.clear();
  chunks_.clear();
  next_dirty_ = false;
  return {};
}

Status SqliteJournal::Write(const Jobs& jobs, const Chunks& chunks, core::JobId next_job) {
  if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  bool ok = true;
  for (const auto& [id, j] : jobs) {
    std::string spec = wire::EncodeJobSpec(j.spec), result = wire::EncodeNums(j.result);
    sqlite3_reset(upsert_job_);
    sqlite3_bind_int64(upsert_job_, 1, static_cast<int64_t>(id));
    sqlite3_bind_blob(upsert_job_, 2, spec.data(), static_cast<int>(spec.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int(upsert_job_, 3, static_cast<int>(j.state));
    sqlite3_bind_blob(upsert_job_, 4, result.data(), static_cast<int>(result.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert_job_, 5, j.error.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert_job_, 6, static_cast<int64_t>(j.reassigned));
    sqlite3_bind_int64(upsert_job_, 7, static_cast<int64_t>(j.recomputed));
    sqlite3_bind_int64(upsert_job_, 8, static_cast<int64_t>(j.stale_reports));
    sqlite3_bind_int64(upsert_job_, 9, static_cast<int64_t>(j.elapsed_ms));
    BindBlob(upsert_job_, 10, j.summary);
    BindBlob(upsert_job_, 11, j.output);
    ok = ok && sqlite3_step(upsert_job_) == SQLITE_DONE;
    if (j.state != core::JobState::kRunning) {
      // A finished job needs no chunks: they are dropped, and so are any queued behind.
      sqlite3_reset(delete_chunks_);
      sqlite3_bind_int64(delete_chunks_, 1, static_cast<int64_t>(id));
      ok = ok && sqlite3_step(delete_chunks_) == SQLITE_DONE;
      // ... nor a count of its resumptions (only running jobs are resumed).
      std::string forget = "DELETE FROM resumes WHERE job = " + std::to_string(id);
      ok = ok && Exec(forget.c_str()).ok();
    }
  }
  for (const auto& [key, c] : chunks) {
    if (auto j = jobs.find(c.job); j != jobs.end() && j->second.state != core::JobState::kRunning)
      continue;
    std::string partial = wire::EncodeNums(c.done.values);
    sqlite3_reset(upsert_chunk_);
    sqlite3_bind_int64(upsert_chunk_, 1, static_cast<int64_t>(c.job));
    sqlite3_bind_int64(upsert_chunk_, 2, c.index);
    sqlite3_bind_int64(upsert_chunk_, 3, c.begin);
    sqlite3_bind_int64(upsert_chunk_, 4, c.end);
    sqlite3_bind_int64(upsert_chunk_, 5, c.done_upto);
    sqlite3_bind_blob(upsert_chunk_, 6, partial.data(), static_cast<int>(partial.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int(upsert_chunk_, 7, c.complete ? 1 : 0);
    ok = ok && sqlite3_step(upsert_chunk_) == SQLITE_DONE;
  }
  std::string meta = "INSERT INTO meta(key, value) VALUES('next_job', " + std::to_string(next_job) +
                     ") ON CONFLICT(key) DO UPDATE SET value = excluded.value;"
                     "DELETE FROM jobs WHERE state != 0 AND id NOT IN (SELECT id FROM jobs WHERE "
                     "state != 0 ORDER BY id DESC LIMIT " +
                     std::to_string(kFinishedJobsKept) + ");";
  if (ok) ok = Exec(meta.c_str()).ok();
  if (!ok) {
    Error e = DbError(db_, "write");
    Exec("ROLLBACK");
    return e;
  }
  if (Status s = Exec("COMMIT"); !s.ok()) {
    Exec("ROLLBACK");
    return s;
  }
  return {};
}

}  // namespace velum
