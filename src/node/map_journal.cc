// The map journal on SQLite: tables maps (one row per job) and map_items (one per ended item
// of a running job); request and summary rows are length-prefixed binary, versioned.
#include "node/map_journal.h"

#include <sqlite3.h>
#include <unistd.h>

#include "core/map_plan.h"
#include "runtime/channel.h"

namespace velum {

namespace {

constexpr uint8_t kRequestVersion = 1;
constexpr uint8_t kSummaryVersion = 1;
// Bounds a decoder holds a row to (a damaged row must not ask for gigabytes).
constexpr uint32_t kMaxWords = 1 << 16;

Error DbError(sqlite3* db, const std::string& what) {
  return MakeError(ErrorKind::kIo, "map journal: " + what + ": " + sqlite3_errmsg(db));
}

std::vector<uint8_t> Column(sqlite3_stmt* st, int col) {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st, col));
  int n = sqlite3_column_bytes(st, col);
  return p && n > 0 ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>{};
}

void Words(FrameWriter& w, const std::vector<std::string>& words) {
  w.U32(static_cast<uint32_t>(words.size()));
  for (const auto& s : words) w.Str(s);
}

bool Words(FrameReader& r, std::vector<std::string>* out) {
  uint32_t n = r.U32();
  if (n > kMaxWords) return false;
  out->clear();
  for (uint32_t i = 0; i < n && !r.failed(); i++) out->push_back(r.Str());
  return !r.failed();
}

// A prepared statement, finalized at scope end.
struct Stmt {
  sqlite3_stmt* st = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st, nullptr); }
  ~Stmt() { sqlite3_finalize(st); }
  explicit operator bool() const { return st != nullptr; }
};

}  // namespace

std::vector<uint8_t> EncodeMapRequest(const MapRequest& q) {
  FrameWriter w;
  w.U8(kRequestVersion);
  Words(w, q.args);
  Words(w, q.env);
  w.U8(q.out_dir.has_value());
  w.Str(q.out_dir ? q.out_dir->string() : "");
  w.U32(q.retries);
  w.U8(q.exclude_self);
  w.U32(q.timeout_ms);
  w.U32(q.max_memory_mib);
  w.U64(q.items.size());
  for (const MapItem& item : q.items) {
    w.Str(item.name);
    w.Str(item.out_name);
    w.U8(item.file.has_value());
    w.Str(item.file ? item.file->string() : item.bytes);
  }
  return w.bytes();
}

bool DecodeMapRequest(const std::vector<uint8_t>& bytes, MapRequest* out) {
  FrameReader r(bytes);
  if (r.U8() != kRequestVersion) return false;
  MapRequest q;
  if (!Words(r, &q.args) || !Words(r, &q.env)) return false;
  uint8_t has_out = r.U8();
  std::string out_dir = r.Str();
  if (has_out > 1) return false;
  if (has_out) q.out_dir = out_dir;
  q.retries = r.U32();
  uint8_t exclude_self = r.U8();
  if (exclude_self > 1) return false;
  q.exclude_self = exclude_self;
  q.timeout_ms = r.U32();
  q.max_memory_mib = r.U32();
  uint64_t n = r.U64();
  if (n > core::MapPlan::kMaxItems) return false;
  for (uint64_t i = 0; i < n && !r.failed(); i++) {
    MapItem item;
    item.name = r.Str();
    item.out_name = r.Str();
    uint8_t file = r.U8();
    std::string data = r.Str();
    if (file > 1) return false;
    if (file)
      item.file = data;
    else
      item.bytes = std::move(data);
    q.items.push_back(std::move(item));
  }
  if (r.failed() || q.items.size() != n) return false;
  *out = std::move(q);
  return true;
}

std::vector<uint8_t> EncodeMapSummary(const MapSummary& s) {
  FrameWriter w;
  w.U8(kSummaryVersion);
  w.U64(s.job);
  w.U8(static_cast<uint8_t>(s.state));
  w.Str(s.error);
  w.U64(s.items);
  w.U64(s.ok);
  w.U64(s.reruns);
  w.U64(static_cast<uint64_t>(s.elapsed_ms * 1000));
  w.Str(s.out);
  w.U8(s.resumed);
  w.U32(static_cast<uint32_t>(s.workers.size()));
  for (const auto& [node, items] : s.workers) {
    w.U32(node);
    w.U64(items);
  }
  w.U64(s.failed.size());
  for (const MapFailure& f : s.failed) {
    w.U64(f.item);
    w.Str(f.input);
    w.U32(f.node);
    w.U32(f.exit_code);
    w.Str(f.error);
    w.Str(f.stderr_tail);
  }
  return w.bytes();
}

bool DecodeMapSummary(const std::vector<uint8_t>& bytes, MapSummary* out) {
  FrameReader r(bytes);
  if (r.U8() != kSummaryVersion) return false;
  MapSummary s;
  s.job = r.U64();
  uint8_t state = r.U8();
  if (state > static_cast<uint8_t>(core::JobState::kCancelled)) return false;
  s.state = static_cast<core::JobState>(state);
  s.error = r.Str();
  s.items = r.U64();
  s.ok = r.U64();
  s.reruns = r.U64();
  s.elapsed_ms = static_cast<double>(r.U64()) / 1000;
  s.out = r.Str();
  s.resumed = r.U8() != 0;
  uint32_t workers = r.U32();
  if (workers > kMaxWords) return false;
  for (uint32_t i = 0; i < workers && !r.failed(); i++) {
    uint32_t node = r.U32();
    s.workers[node] = r.U64();
  }
  uint64_t failed = r.U64();
  if (failed > core::MapPlan::kMaxItems) return false;
  for (uint64_t i = 0; i < failed && !r.failed(); i++) {
    MapFailure f;
    f.item = r.U64();
    f.input = r.Str();
    f.node = r.U32();
    f.exit_code = r.U32();
    f.error = r.Str();
    f.stderr_tail = r.Str();
    s.failed.push_back(std::move(f));
  }
  if (r.failed() || s.ok > s.items) return false;
  *out = std::move(s);
  return true;
}

Result<std::unique_ptr<MapJournal>> MapJournal::Open(const std::filesystem::path& file,
                                                     std::string* note) {
  const char* schema =
      "PRAGMA journal_mode = WAL;"
      "PRAGMA synchronous = NORMAL;"
      "CREATE TABLE IF NOT EXISTS maps(id INTEGER PRIMARY KEY, state INTEGER NOT NULL,"
      "  request BLOB NOT NULL, module BLOB, summary BLOB);"
      "CREATE TABLE IF NOT EXISTS map_items(job INTEGER NOT NULL, item INTEGER NOT NULL,"
      "  ok INTEGER NOT NULL, node INTEGER NOT NULL, exit_code INTEGER NOT NULL,"
      "  error TEXT, stderr_tail BLOB, PRIMARY KEY(job, item)) WITHOUT ROWID;";
  for (int attempt = 0; attempt < 2; attempt++) {
    sqlite3* db = nullptr;
    if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
      Error e = DbError(db, "cannot open " + file.string());
      sqlite3_close(db);
      return e;
    }
    sqlite3_busy_timeout(db, 2000);
    std::unique_ptr<MapJournal> j(new MapJournal(db));
    Status s = j->Exec(schema);
    if (s.ok()) return j;
    int code = sqlite3_errcode(db) & 0xff;
    j.reset();
    if (attempt > 0 || (code != SQLITE_NOTADB && code != SQLITE_CORRUPT)) return s.error();
    // Not a database: moved aside (with its -wal and -shm), and a new one made.
    std::string aside = file.string() + ".bad-" + std::to_string(::getpid());
    std::error_code ec;
    std::filesystem::rename(file, aside, ec);
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(file.string() + suffix, ec);
    if (note) *note = file.string() + " was not a database: moved to " + aside;
  }
  return MakeError(ErrorKind::kIo, "map journal: cannot open " + file.string());
}

MapJournal::~MapJournal() { sqlite3_close(db_); }

Status MapJournal::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    return MakeError(ErrorKind::kIo, "map journal: " + msg);
  }
  return {};
}

Result<uint64_t> MapJournal::LastId() {
  Stmt q(db_, "SELECT MAX(id) FROM maps");
  if (!q || sqlite3_step(q.st) != SQLITE_ROW) return DbError(db_, "last id");
  return static_cast<uint64_t>(sqlite3_column_int64(q.st, 0));
}

Result<std::vector<MapJournal::Job>> MapJournal::Load(bool summaries_only) {
  Stmt q(db_, summaries_only ? "SELECT id, state, NULL, NULL, summary FROM maps ORDER BY id"
                             : "SELECT id, state, request, module, summary FROM maps ORDER BY id");
  if (!q) return DbError(db_, "load");
  std::vector<Job> jobs;
  int rc;
  while ((rc = sqlite3_step(q.st)) == SQLITE_ROW) {
    Job j;
    j.id = static_cast<uint64_t>(sqlite3_column_int64(q.st, 0));
    int state = sqlite3_column_int(q.st, 1);
    if (state < 0 || state > static_cast<int>(core::JobState::kCancelled)) continue;
    j.state = static_cast<core::JobState>(state);
    j.request = Column(q.st, 2);
    if (j.state == core::JobState::kRunning) {
      j.module = Column(q.st, 3);
      j.summary.job = j.id;
    } else if (!DecodeMapSummary(Column(q.st, 4), &j.summary) || j.summary.job != j.id) {
      continue;
    }
    jobs.push_back(std::move(j));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "load");
  return jobs;
}

Result<std::vector<MapItemRecord>> MapJournal::Items(uint64_t job) {
  Stmt q(db_,
         "SELECT item, ok, node, exit_code, error, stderr_tail FROM map_items WHERE job = ?1 "
         "ORDER BY item");
  if (!q) return DbError(db_, "items");
  sqlite3_bind_int64(q.st, 1, static_cast<int64_t>(job));
  std::vector<MapItemRecord> items;
  int rc;
  while ((rc = sqlite3_step(q.st)) == SQLITE_ROW) {
    MapItemRecord r;
    r.item = static_cast<uint64_t>(sqlite3_column_int64(q.st, 0));
    r.ok = sqlite3_column_int(q.st, 1) != 0;
    r.node = static_cast<uint32_t>(sqlite3_column_int64(q.st, 2));
    r.exit_code = static_cast<uint32_t>(sqlite3_column_int64(q.st, 3));
    const auto* e = sqlite3_column_text(q.st, 4);
    r.error = e ? reinterpret_cast<const char*>(e) : "";
    auto tail = Column(q.st, 5);
    r.stderr_tail.assign(tail.begin(), tail.end());
    items.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "items");
  return items;
}

Status MapJournal::Begin(uint64_t job, const std::vector<uint8_t>& request,
                         const std::vector<uint8_t>& module) {
  // A row or items left under this id (a node journal lost since) are not this job's.
  Stmt clear(db_, "DELETE FROM map_items WHERE job = ?1");
  if (!clear) return DbError(db_, "begin");
  sqlite3_bind_int64(clear.st, 1, static_cast<int64_t>(job));
  if (sqlite3_step(clear.st) != SQLITE_DONE) return DbError(db_, "begin");
  Stmt q(db_, "INSERT OR REPLACE INTO maps(id, state, request, module) VALUES(?1, 0, ?2, ?3)");
  if (!q) return DbError(db_, "begin");
  sqlite3_bind_int64(q.st, 1, static_cast<int64_t>(job));
  sqlite3_bind_blob(q.st, 2, request.data(), static_cast<int>(request.size()), SQLITE_STATIC);
  sqlite3_bind_blob(q.st, 3, module.data(), static_cast<int>(module.size()), SQLITE_STATIC);
  if (sqlite3_step(q.st) != SQLITE_DONE) return DbError(db_, "begin");
  return {};
}

Status MapJournal::AddItems(uint64_t job, const std::vector<MapItemRecord>& items) {
  if (items.empty()) return {};
  if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  Stmt q(db_,
         "INSERT OR REPLACE INTO map_items(job, item, ok, node, exit_code, error, stderr_tail) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  bool ok = static_cast<bool>(q);
  for (size_t i = 0; ok && i < items.size(); i++) {
    const MapItemRecord& r = items[i];
    sqlite3_reset(q.st);
    sqlite3_bind_int64(q.st, 1, static_cast<int64_t>(job));
    sqlite3_bind_int64(q.st, 2, static_cast<int64_t>(r.item));
    sqlite3_bind_int(q.st, 3, r.ok ? 1 : 0);
    sqlite3_bind_int64(q.st, 4, r.node);
    sqlite3_bind_int64(q.st, 5, r.exit_code);
    sqlite3_bind_text(q.st, 6, r.error.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_blob(q.st, 7, r.stderr_tail.data(), static_cast<int>(r.stderr_tail.size()),
                      SQLITE_STATIC);
    ok = sqlite3_step(q.st) == SQLITE_DONE;
  }
  if (!ok) {
    Error e = DbError(db_, "items");
    Exec("ROLLBACK");
    return e;
  }
  return Exec("COMMIT");
}

Status MapJournal::Finish(const MapSummary& summary) {
  if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto blob = EncodeMapSummary(summary);
  Stmt q(db_,
         "UPDATE maps SET state = ?2, module = NULL, request = x'', summary = ?3 WHERE id = ?1");
  Stmt items(db_, "DELETE FROM map_items WHERE job = ?1");
  bool ok = q && items;
  if (ok) {
    sqlite3_bind_int64(q.st, 1, static_cast<int64_t>(summary.job));
    sqlite3_bind_int(q.st, 2, static_cast<int>(summary.state));
    sqlite3_bind_blob(q.st, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
    sqlite3_bind_int64(items.st, 1, static_cast<int64_t>(summary.job));
    ok = sqlite3_step(q.st) == SQLITE_DONE && sqlite3_step(items.st) == SQLITE_DONE;
  }
  if (ok) {
    // Bounded history: the oldest finished jobs beyond kFinishedKept go.
    std::string trim =
        "DELETE FROM maps WHERE state != 0 AND id NOT IN (SELECT id FROM maps WHERE state != 0 "
        "ORDER BY id DESC LIMIT " +
        std::to_string(kFinishedKept) + ")";
    ok = Exec(trim).ok();
  }
  if (!ok) {
    Error e = DbError(db_, "finish");
    Exec("ROLLBACK");
    return e;
  }
  return Exec("COMMIT");
}

}  // namespace velum
