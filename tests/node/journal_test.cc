// Tests of the coordinator's journal (node/journal, SQLite WAL): epochs, job ids, round trips,
// coalescing, pruning, finished jobs' records (bound, older schema, damage), SIGKILL at any
// instant.
#include "node/journal.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "core/coordinator.h"
#include "core/random.h"
#include "node/job_record.h"
#include "wire/job_codec.h"

namespace velum {
namespace {

namespace fs = std::filesystem;
using core::JobState;
using core::JournalChunk;
using core::JournalJob;
using core::Num;

// A fresh directory per test, removed afterwards.
class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/velum-journal-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = dir_ / "journal" / "jobs.db";  // Open creates the parent directory
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Journal> Open() {
    auto j = Journal::Open(file_);
    EXPECT_TRUE(j.ok()) << (j.ok() ? "" : j.error().ToString());
    return j.ok() ? std::move(*j) : nullptr;
  }

  // One number from the journal's database, read through a connection of the test's own.
  int64_t Query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    else
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  fs::path dir_, file_;
};

core::JobSpec Spec(int64_t start, int64_t end) {
  core::JobSpec s;
  for (size_t i = 0; i < s.module.size(); ++i) s.module[i] = static_cast<uint8_t>(i + 1);
  s.module_size = 1234;
  s.func = "count_primes";
  s.start = start;
  s.end = end;
  s.reducer = core::ReducerKind::kSum;
  s.result_kinds = {core::NumKind::kInt};
  s.label = "primes.wasm";
  return s;
}

JournalJob Job(core::JobId id, JobState state, int64_t start = 0, int64_t end = 1000) {
  JournalJob j;
  j.id = id;
  j.spec = Spec(start, end);
  j.state = state;
  if (state == JobState::kDone) j.result = {Num::Int(static_cast<int64_t>(id) * 1000 + 7)};
  if (state == JobState::kFailed) j.error = "trap: integer divide by zero";
  if (state == JobState::kCancelled) j.error = "cancelled by the user";
  j.reassigned = id % 3;
  j.recomputed = id * 11;
  j.stale_reports = 2;
  j.elapsed_ms = state == JobState::kRunning ? 0 : 4321;
  return j;
}

JournalChunk Chunk(core::JobId job, uint32_t index, int64_t begin, int64_t end, int64_t upto) {
  JournalChunk c;
  c.job = job;
  c.index = index;
  c.begin = begin;
  c.end = end;
  c.done_upto = upto;
  if (upto > begin) c.done.values = {Num::Int(upto - begin)};
  c.complete = upto == end;
  return c;
}

void ExpectSameJob(const JournalJob& got, const JournalJob& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.spec, want.spec);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.result, want.result);
  EXPECT_EQ(got.error, want.error);
  EXPECT_EQ(got.reassigned, want.reassigned);
  EXPECT_EQ(got.recomputed, want.recomputed);
  EXPECT_EQ(got.stale_reports, want.stale_reports);
  EXPECT_EQ(got.elapsed_ms, want.elapsed_ms);
}

void ExpectSameChunk(const JournalChunk& got, const JournalChunk& want) {
  EXPECT_EQ(got.job, want.job);
  EXPECT_EQ(got.index, want.index);
  EXPECT_EQ(got.begin, want.begin);
  EXPECT_EQ(got.end, want.end);
  EXPECT_EQ(got.done_upto, want.done_upto);
  EXPECT_EQ(got.done, want.done);
  EXPECT_EQ(got.complete, want.complete);
}

TEST_F(JournalTest, EachOpenStartsANewEpoch) {
  for (uint32_t want = 1; want <= 4; ++want) {
    auto j = Open();
    ASSERT_TRUE(j);
    EXPECT_EQ(j->epoch(), want);
    EXPECT_EQ(j->next_job_id(), 1u);  // nothing journaled yet
    EXPECT_FALSE(j->dirty());
  }
  EXPECT_EQ(Query("SELECT value FROM meta WHERE key = 'epoch'"), 4);
  // The epoch is committed at Open, before anything else: a run killed right after opening
  // still used its epoch up.
  {
    auto j = Open();
    ASSERT_TRUE(j);
    EXPECT_EQ(Query("SELECT value FROM meta WHERE key = 'epoch'"), 5);
  }
  // Attempt ids hold epoch << 40 in 64 bits: after the last epoch that fits, they start over.
  Exec("UPDATE meta SET value = 8388607 WHERE key = 'epoch'");
  EXPECT_EQ(Open()->epoch(), 8388608u);
  EXPECT_EQ(Open()->epoch(), 1u);
}

// A journal overwritten with garbage (and garbage -wal and -shm beside it) is moved aside
// with its sidecars, and an empty journal takes its place: the node id stays usable.
TEST_F(JournalTest, GarbageFileIsMovedAsideAndAnEmptyJournalStarts) {
  {
    auto j = Open();
    ASSERT_TRUE(j);
    j->Add({Job(3, JobState::kRunning)});
    ASSERT_TRUE(j->Flush().ok());
  }
  std::string garbage(8192, '\0');
  for (size_t i = 0; i < garbage.size(); i++) garbage[i] = static_cast<char>((i * 131 + 7) % 251);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::FILE* f = std::fopen((file_.string() + suffix).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(garbage.data(), 1, garbage.size(), f);
    std::fclose(f);
  }
  auto j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->epoch(), 1u);  // a new journal, not the old one's epoch 2
  auto loaded = j->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
  // The bad file and its sidecars are kept, byte for byte, under one timestamped name.
  std::vector<fs::path> aside;
  for (const auto& e : fs::directory_iterator(file_.parent_path()))
    if (e.path().filename().string().rfind("jobs.db.bad-", 0) == 0) aside.push_back(e.path());
  ASSERT_EQ(aside.size(), 3u);
  std::sort(aside.begin(), aside.end());
  EXPECT_EQ(aside[1].string(), aside[0].string() + "-shm");
  EXPECT_EQ(aside[2].string(), aside[0].string() + "-wal");
  for (const auto& path : aside) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes, garbage) << path;
  }
  // The fresh journal works and survives a reopen without another move.
  j->Add({Job(1, JobState::kRunning)});
  ASSERT_TRUE(j->Flush().ok());
  j.reset();
  auto again = Open();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->epoch(), 2u);
  EXPECT_EQ(again->Load()->size(), 1u);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(file_.parent_path()))
    files += e.path().filename().string().rfind("jobs.db.bad-", 0) == 0;
  EXPECT_EQ(files, 3u);
}

// SQLite's header string followed by garbage gets past the magic check: SQLite's own verdict
// (not a database, or corrupt) moves it aside all the same.
TEST_F(JournalTest, AHeaderFollowedByGarbageIsMovedAsideToo) {
  fs::create_directories(file_.parent_path());
  std::string bytes("SQLite format 3", 16);
  for (int i = 0; i < 4080; i++) bytes += static_cast<char>((i * 37 + 11) % 256);
  {
    std::ofstream out(file_, std::ios::binary);
    out << bytes;
  }
  auto j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->epoch(), 1u);
  size_t aside = 0;
  for (const auto& e : fs::directory_iterator(file_.parent_path()))
    aside += e.path().filename().string().rfind("jobs.db.bad-", 0) == 0;
  EXPECT_EQ(aside, 1u);
}

// A file that is not even readable as a journal (a directory in its place) is an error,
// not moved aside: only SQLite's "not a database" verdict moves a file.
TEST_F(JournalTest, ADirectoryInPlaceOfTheJournalIsAnError) {
  fs::create_directories(file_);
  auto j = Journal::Open(file_);
  EXPECT_FALSE(j.ok());
  EXPECT_TRUE(fs::is_directory(file_));
}

TEST_F(JournalTest, NextJobIdSurvivesReopenAndPruning) {
  {
    auto j = Open();
    ASSERT_TRUE(j);
    j->Add({Job(5, JobState::kRunning)});
    EXPECT_EQ(j->next_job_id(), 6u);  // at once, before the flush
    EXPECT_TRUE(j->dirty());
    ASSERT_TRUE(j->Flush().ok());
    EXPECT_FALSE(j->dirty());
  }
  {
    auto j = Open();
    ASSERT_TRUE(j);
    EXPECT_EQ(j->next_job_id(), 6u);
    // A job added with a lower id does not move the counter back.
    j->Add({Job(2, JobState::kDone)});
    EXPECT_EQ(j->next_job_id(), 6u);
    ASSERT_TRUE(j->Flush().ok());
  }
  {
    // Enough finished jobs that the first ones are pruned: their ids stay used.
    auto j = Open();
    ASSERT_TRUE(j);
    // Reserved and built in place: GCC 12 otherwise warns (-Wmaybe-uninitialized, a false
    // positive) about the variant's moves when the vector grows.
    std::vector<core::JournalOp> ops;
    ops.reserve(Journal::kFinishedJobsKept + 50);
    for (core::JobId id = 6; id < 6 + Journal::kFinishedJobsKept + 50; ++id)
      ops.emplace_back(std::in_place_type<JournalJob>, Job(id, JobState::kDone));
    j->Add(std::move(ops));
    ASSERT_TRUE(j->Flush().ok());
  }
  auto j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->next_job_id(), 6 + Journal::kFinishedJobsKept + 50);
  // Without the meta row, the highest id kept still bounds it (a journal of an older run).
  j.reset();
  Exec("DELETE FROM meta WHERE key = 'next_job'");
  j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->next_job_id(), 6 + Journal::kFinishedJobsKept + 50);
}

TEST_F(JournalTest, JobsAndChunksRoundTrip) {
  const std::vector<JournalJob> jobs = {
      Job(1, JobState::kRunning, -500, 1000), Job(2, JobState::kDone), Job(3, JobState::kFailed),
      Job(4, JobState::kCancelled), Job(5, JobState::kRunning, 0, 10)};
  const std::vector<JournalChunk> chunks = {
      Chunk(1, 0, -500, -100, -100),  // complete
      Chunk(1, 1, -100, 300, 20),     // half done
      Chunk(1, 2, 300, 400, 300),     // nothing done yet
      Chunk(5, 0, 0, 10, 0),
  };
  {
    auto j = Open();
    ASSERT_TRUE(j);
    std::vector<core::JournalOp> ops;
    for (const JournalJob& job : jobs) {
      // Every job ran with chunks; the finished ones must lose theirs.
      JournalJob running = job;
      running.state = JobState::kRunning;
      running.result.clear();
      running.error.clear();
      ops.push_back(running);
      ops.push_back(Chunk(job.id, 0, job.spec.start, job.spec.start + 1, job.spec.start));
    }
    j->Add(std::move(ops));
    ASSERT_TRUE(j->Flush().ok());
    EXPECT_EQ(Query("SELECT COUNT(*) FROM chunks"), 5);
    ops.clear();
    for (const JournalJob& job : jobs) ops.push_back(job);
    for (const JournalChunk& c : chunks) ops.push_back(c);
    j->Add(std::move(ops));
    ASSERT_TRUE(j->Flush().ok());
  }
  EXPECT_EQ(Query("SELECT COUNT(*) FROM chunks WHERE job IN (2, 3, 4)"), 0)
      << "a finished job keeps no chunks";
  auto j = Open();
  ASSERT_TRUE(j);
  auto loaded = j->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), jobs.size());
  size_t next_chunk = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    SCOPED_TRACE("job " + std::to_string(jobs[i].id));
    const Journal::JobRecord& r = (*loaded)[i];
    ExpectSameJob(r.job, jobs[i]);
    std::vector<JournalChunk> want;
    while (next_chunk < chunks.size() && chunks[next_chunk].job == jobs[i].id)
      want.push_back(chunks[next_chunk++]);
    ASSERT_EQ(r.chunks.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) ExpectSameChunk(r.chunks[k], want[k]);
  }

  // A row that does not decode is skipped, the others still load.
  j.reset();
  Exec("UPDATE jobs SET spec = x'ffff' WHERE id = 3");
  j = Open();
  ASSERT_TRUE(j);
  loaded = j->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), jobs.size() - 1);
  for (const auto& r : *loaded) EXPECT_NE(r.job.id, 3u);
}

// A running job is resumed after each restart of its coordinator, and each resumption is
// counted in the journal before the job runs again: a job whose runs take the node down (the
// node's start-up, as the job driver does it: Load, CountResume, Restore, journal what that says)
// is failed after max_resumes, with a clear error, and stays failed.
TEST_F(JournalTest, AJobThatKeepsTakingItsNodeDownIsFailed) {
  {
    auto j = Open();
    ASSERT_TRUE(j);
    j->Add({Job(1, JobState::kRunning, 0, 1000), Chunk(1, 0, 0, 1000, 400),
            Job(2, JobState::kRunning, 0, 10)});
    ASSERT_TRUE(j->Flush().ok());
  }
  core::CoordinatorConfig config;
  config.max_resumes = 3;
  for (uint32_t restart = 1; restart <= config.max_resumes + 2; restart++) {
    SCOPED_TRACE("restart " + std::to_string(restart));
    auto j = Open();
    ASSERT_TRUE(j);
    auto loaded = j->Load();
    ASSERT_TRUE(loaded.ok());
    core::Coordinator coordinator(1, config, j->epoch(), j->next_job_id());
    for (Journal::JobRecord& r : *loaded) {
      if (r.job.state == JobState::kRunning) {
        EXPECT_EQ(r.job.resumes, r.job.id == 1 ? restart - 1 : 0u) << "job " << r.job.id;
        auto count = j->CountResume(r.job.id);
        ASSERT_TRUE(count.ok());
        r.job.resumes = *count;
      }
      core::CoordinatorOutput out = coordinator.Restore(r.job, r.chunks, 1000);
      j->Add(std::move(out.journal));
    }
    ASSERT_TRUE(j->Flush().ok());
    const core::Job* job = coordinator.job(1);
    ASSERT_NE(job, nullptr);
    if (restart <= config.max_resumes) {
      EXPECT_EQ(job->state, JobState::kRunning);
      EXPECT_EQ(job->ledger.chunk(0).done_upto, 400);
    } else {
      EXPECT_EQ(job->state, JobState::kFailed);
      EXPECT_NE(job->error.find("restarted " + std::to_string(config.max_resumes + 1) + " times"),
                std::string::npos)
          << job->error;
      EXPECT_EQ(Query("SELECT COUNT(*) FROM chunks WHERE job = 1"), 0);
      EXPECT_EQ(Query("SELECT COUNT(*) FROM resumes WHERE job = 1"), 0);
    }
    // Job 2 finishes during the first run: it is never counted again.
    if (restart == 1) {
      ASSERT_EQ(coordinator.job(2)->state, JobState::kRunning);
      JournalJob done = Job(2, JobState::kDone);
      j->Add({done});
      ASSERT_TRUE(j->Flush().ok());
    } else {
      EXPECT_EQ(coordinator.job(2)->state, JobState::kDone);
    }
  }
  EXPECT_EQ(Query("SELECT state FROM jobs WHERE id = 1"), static_cast<int>(JobState::kFailed));
}

TEST_F(JournalTest, OnlyTheNewestFinishedJobsAreKept) {
  auto j = Open();
  ASSERT_TRUE(j);
  const size_t finished = Journal::kFinishedJobsKept + 44;
  std::vector<core::JournalOp> ops = {Job(1, JobState::kRunning)};
  ops.push_back(Chunk(1, 0, 0, 1000, 10));
  for (core::JobId id = 2; id < 2 + finished; ++id)
    ops.push_back(Job(id, id % 3 ? JobState::kDone : JobState::kCancelled));
  j->Add(std::move(ops));
  ASSERT_TRUE(j->Flush().ok());
  auto loaded = j->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), Journal::kFinishedJobsKept + 1);
  EXPECT_EQ((*loaded)[0].job.id, 1u) << "a running job is never pruned, however old";
  EXPECT_EQ((*loaded)[0].chunks.size(), 1u);
  EXPECT_EQ((*loaded)[1].job.id, 2 + finished - Journal::kFinishedJobsKept) << "the oldest kept";
  EXPECT_EQ(loaded->back().job.id, 1 + finished);
}

TEST_F(JournalTest, AFlushWritesOnlyTheLatestStateOfEachKey) {
  {
    auto j = Open();  // creates the schema
    ASSERT_TRUE(j);
  }
  // Count the rows each flush writes, through triggers of the test's own.
  Exec(
      "CREATE TABLE writes(tbl TEXT PRIMARY KEY, n INTEGER NOT NULL);"
      "INSERT INTO writes VALUES('jobs', 0), ('chunks', 0);"
      "CREATE TRIGGER jobs_ins AFTER INSERT ON jobs BEGIN "
      "  UPDATE writes SET n = n + 1 WHERE tbl = 'jobs'; END;"
      "CREATE TRIGGER jobs_upd AFTER UPDATE ON jobs BEGIN "
      "  UPDATE writes SET n = n + 1 WHERE tbl = 'jobs'; END;"
      "CREATE TRIGGER chunks_ins AFTER INSERT ON chunks BEGIN "
      "  UPDATE writes SET n = n + 1 WHERE tbl = 'chunks'; END;"
      "CREATE TRIGGER chunks_upd AFTER UPDATE ON chunks BEGIN "
      "  UPDATE writes SET n = n + 1 WHERE tbl = 'chunks'; END;");
  auto j = Open();
  ASSERT_TRUE(j);
  // 1000 checkpoints of two chunks, the job restated after each.
  for (int64_t upto = 1; upto <= 1000; ++upto) {
    JournalJob job = Job(1, JobState::kRunning, 0, 2000);
    job.stale_reports = static_cast<uint64_t>(upto);
    j->Add({job, Chunk(1, 0, 0, 1000, upto), Chunk(1, 1, 1000, 2000, 1000 + upto / 2)});
  }
  ASSERT_TRUE(j->Flush().ok());
  EXPECT_EQ(Query("SELECT n FROM writes WHERE tbl = 'jobs'"), 1);
  EXPECT_EQ(Query("SELECT n FROM writes WHERE tbl = 'chunks'"), 2);
  EXPECT_EQ(Query("SELECT stale FROM jobs WHERE id = 1"), 1000);
  EXPECT_EQ(Query("SELECT done_upto FROM chunks WHERE job = 1 AND idx = 0"), 1000);
  EXPECT_EQ(Query("SELECT complete FROM chunks WHERE job = 1 AND idx = 0"), 1);
  EXPECT_EQ(Query("SELECT done_upto FROM chunks WHERE job = 1 AND idx = 1"), 1500);

  // A flush with nothing buffered writes nothing.
  ASSERT_TRUE(j->Flush().ok());
  EXPECT_EQ(Query("SELECT n FROM writes WHERE tbl = 'jobs'"), 1);

  // A job that finishes within the buffered ops: its chunks are not written at all, and the
  // ones already on disk go.
  j->Add({Chunk(1, 1, 1000, 2000, 2000), Job(1, JobState::kDone)});
  ASSERT_TRUE(j->Flush().ok());
  EXPECT_EQ(Query("SELECT n FROM writes WHERE tbl = 'chunks'"), 2);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM chunks"), 0);
  EXPECT_EQ(Query("SELECT n FROM writes WHERE tbl = 'jobs'"), 2);
}

// --- kill -9 at any instant -------------------------------------------------------------------

// The item function of the simulated export: its sum over a range is what chunks store.
int64_t ItemValue(int64_t i) {
  return static_cast<int64_t>((static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL) >> 44);
}
int64_t RangeSum(int64_t begin, int64_t end) {
  int64_t total = 0;
  for (int64_t i = begin; i < end; ++i) total += ItemValue(i);
  return total;
}

// The writer's picture of one running job: its spec and chunks, as a coordinator would journal.
struct WriterJob {
  JournalJob job;
  std::vector<JournalChunk> chunks;
  int64_t next_cut = 0;
};

// The child process: resumes what the journal holds, then journals jobs that cut chunks,
// advance checkpoints, finish or get cancelled, flushing every few ops, until it is killed.
[[noreturn]] void RunWriter(const fs::path& file, uint64_t seed) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(20);  // never outlive a broken parent
  auto opened = Journal::Open(file);
  if (!opened.ok()) _exit(3);
  std::unique_ptr<Journal> journal = std::move(*opened);
  auto loaded = journal->Load();
  if (!loaded.ok()) _exit(4);
  core::Rng rng(seed);
  std::map<core::JobId, WriterJob> running;
  for (const Journal::JobRecord& r : *loaded) {
    if (r.job.state != JobState::kRunning) continue;
    WriterJob w{r.job, r.chunks, r.job.spec.start};
    if (!w.chunks.empty()) w.next_cut = w.chunks.back().end;
    running[r.job.id] = std::move(w);
  }
  core::JobId next_id = journal->next_job_id();
  std::vector<core::JournalOp> ops;
  for (uint64_t step = 0;; ++step) {
    if (running.size() < 3) {
      const int64_t start = static_cast<int64_t>(rng.Uniform(1'000'000)) - 200'000;
      WriterJob w;
      w.job.id = next_id++;
      w.job.spec = Spec(start, start + 20'000 + static_cast<int64_t>(rng.Uniform(60'000)));
      w.next_cut = start;
      ops.push_back(w.job);
      running[w.job.id] = std::move(w);
    }
    auto it = running.begin();
    std::advance(it, static_cast<long>(rng.Uniform(running.size())));
    WriterJob& w = it->second;
    std::vector<size_t> open;
    for (size_t k = 0; k < w.chunks.size(); ++k)
      if (!w.chunks[k].complete) open.push_back(k);
    if (w.next_cut < w.job.spec.end && (open.empty() || rng.Chance(0.3))) {
      // A new chunk (its first checkpoint is its begin).
      JournalChunk c;
      c.job = w.job.id;
      c.index = static_cast<uint32_t>(w.chunks.size());
      c.begin = w.next_cut;
      c.end = std::min(w.job.spec.end, c.begin + 500 + static_cast<int64_t>(rng.Uniform(6000)));
      c.done_upto = c.begin;
      w.next_cut = c.end;
      w.chunks.push_back(c);
      ops.push_back(c);
    } else if (!open.empty()) {
      // A checkpoint: a slice further, its items added to the partial.
      JournalChunk& c = w.chunks[open[rng.Uniform(open.size())]];
      int64_t upto = std::min(c.end, c.done_upto + 1 + static_cast<int64_t>(rng.Uniform(1500)));
      int64_t sum = c.done.values.empty() ? 0 : c.done.values[0].i;
      c.done.values = {Num::Int(sum + RangeSum(c.done_upto, upto))};
      c.done_upto = upto;
      c.complete = upto == c.end;
      ops.push_back(c);
    }
    // The job's row carries a digest of its chunks (how many, how many items done), restated
    // with every chunk op as a coordinator restates its stats: a flush that was not one
    // transaction would leave them apart.
    w.job.reassigned = w.chunks.size();
    w.job.recomputed = 0;
    for (const JournalChunk& c : w.chunks)
      w.job.recomputed += static_cast<uint64_t>(c.done_upto - c.begin);
    ops.push_back(w.job);
    bool all_done = w.next_cut == w.job.spec.end;
    for (const JournalChunk& c : w.chunks) all_done = all_done && c.complete;
    if (all_done || rng.Chance(0.002)) {
      JournalJob end = w.job;
      if (all_done) {
        int64_t total = 0;
        for (const JournalChunk& c : w.chunks) total += c.done.values[0].i;
        end.state = JobState::kDone;
        end.result = {Num::Int(total)};
      } else {
        end.state = JobState::kCancelled;
        end.error = "cancelled by the writer";
      }
      end.elapsed_ms = step;
      ops.push_back(end);
      running.erase(it);
    }
    if (rng.Chance(0.15)) {
      journal->Add(std::move(ops));
      ops.clear();
      if (!journal->Flush().ok()) _exit(5);
    }
  }
}

struct Checked {
  size_t jobs = 0, chunks = 0, done = 0, cancelled = 0;
  std::map<std::pair<int64_t, int64_t>, int64_t> job_sums;  // reference results, computed once
};

// What must hold of the journal whenever the writer died: everything decodes and is a state
// the writer had at one of its flushes.
void VerifyJournal(const fs::path& file, uint32_t* last_epoch, core::JobId* max_id_seen,
                   Checked* checked) {
  auto opened = Journal::Open(file);
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  std::unique_ptr<Journal> journal = std::move(*opened);
  EXPECT_GT(journal->epoch(), *last_epoch);
  *last_epoch = journal->epoch();
  auto loaded = journal->Load();
  ASSERT_TRUE(loaded.ok());

  // Every row decodes: Load skips the rows that do not, so it must return all of them.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  auto count = [db](const char* sql) {
    sqlite3_stmt* st = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  };
  const int64_t job_rows = count("SELECT COUNT(*) FROM jobs");
  const int64_t chunk_rows = count(
      "SELECT COUNT(*) FROM chunks WHERE job IN "
      "(SELECT id FROM jobs WHERE state = 0)");
  const int64_t orphan_chunks = count(
      "SELECT COUNT(*) FROM chunks WHERE job NOT IN "
      "(SELECT id FROM jobs WHERE state = 0)");
  sqlite3_close(db);
  EXPECT_EQ(static_cast<int64_t>(loaded->size()), job_rows);
  EXPECT_EQ(orphan_chunks, 0) << "chunks of finished or unknown jobs";

  core::Coordinator coordinator(1, core::CoordinatorConfig{}, journal->epoch(),
                                journal->next_job_id());
  int64_t loaded_chunks = 0;
  for (const Journal::JobRecord& r : *loaded) {
    SCOPED_TRACE("job " + std::to_string(r.job.id));
    const core::JobSpec& spec = r.job.spec;
    EXPECT_EQ(spec, Spec(spec.start, spec.end));
    EXPECT_LT(r.job.id, journal->next_job_id());
    *max_id_seen = std::max(*max_id_seen, r.job.id);
    checked->jobs++;
    if (r.job.state == JobState::kDone) {
      checked->done++;
      EXPECT_EQ(r.job.recomputed, static_cast<uint64_t>(spec.end - spec.start));
      auto [sum, fresh] = checked->job_sums.try_emplace({spec.start, spec.end}, 0);
      if (fresh) sum->second = RangeSum(spec.start, spec.end);
      EXPECT_EQ(r.job.result, std::vector<Num>{Num::Int(sum->second)});
    } else if (r.job.state == JobState::kCancelled) {
      checked->cancelled++;
      EXPECT_EQ(r.job.error, "cancelled by the writer");
    } else {
      EXPECT_EQ(r.job.state, JobState::kRunning);
      EXPECT_TRUE(r.job.result.empty());
    }
    // Chunks: contiguous from the job's start, each partial the exact sum of its done prefix.
    int64_t expect_begin = spec.start;
    for (size_t k = 0; k < r.chunks.size(); ++k) {
      const JournalChunk& c = r.chunks[k];
      SCOPED_TRACE("chunk " + std::to_string(k));
      checked->chunks++;
      EXPECT_EQ(c.job, r.job.id);
      EXPECT_EQ(c.index, k);
      EXPECT_EQ(c.begin, expect_begin);
      EXPECT_LT(c.begin, c.end);
      EXPECT_LE(c.end, spec.end);
      EXPECT_GE(c.done_upto, c.begin);
      EXPECT_LE(c.done_upto, c.end);
      EXPECT_EQ(c.complete, c.done_upto == c.end);
      if (c.done_upto == c.begin) {
        EXPECT_TRUE(c.done.empty());
      } else {
        EXPECT_EQ(c.done.values, std::vector<Num>{Num::Int(RangeSum(c.begin, c.done_upto))});
      }
      expect_begin = c.end;
    }
    loaded_chunks += static_cast<int64_t>(r.chunks.size());
    if (r.job.state == JobState::kRunning) {
      // The digest in the job's row matches its chunks' rows: both are from the same flush.
      uint64_t items = 0;
      for (const JournalChunk& c : r.chunks) items += static_cast<uint64_t>(c.done_upto - c.begin);
      EXPECT_EQ(r.job.reassigned, r.chunks.size()) << "the job's row and its chunks disagree";
      EXPECT_EQ(r.job.recomputed, items) << "the job's row and its chunks disagree";
    }

    // The coordinator takes the job back as it is: every chunk fits.
    coordinator.Restore(r.job, r.chunks, 1'000'000);
    const core::Job* job = coordinator.job(r.job.id);
    ASSERT_NE(job, nullptr);
    EXPECT_EQ(job->state, r.job.state);
    if (r.job.state == JobState::kRunning) {
      EXPECT_TRUE(job->resumed);
      ASSERT_EQ(job->ledger.chunks().size(), r.chunks.size()) << "chunks the ledger refused";
      for (size_t k = 0; k < r.chunks.size(); ++k) {
        EXPECT_EQ(job->ledger.chunk(k).done_upto, r.chunks[k].done_upto);
        EXPECT_EQ(job->ledger.chunk(k).done, r.chunks[k].done);
      }
    }
  }
  EXPECT_EQ(loaded_chunks, chunk_rows);
  EXPECT_GT(journal->next_job_id(), *max_id_seen) << "a job id could be used twice";
  coordinator.CheckInvariants();  // aborts on a broken invariant
  // Once resumed, the coordinator hands out work from the restored state.
  EXPECT_GE(coordinator.next_job_id(), journal->next_job_id());
  core::CoordinatorOutput out = coordinator.OnWorkerUp(2, 2, 1'000'000);
  coordinator.CheckInvariants();
  if (coordinator.running_jobs() > 0) {
    EXPECT_FALSE(out.messages.empty());
  }
}

TEST_F(JournalTest, SurvivesKillNineAtAnyInstant) {
  const char* env = std::getenv("VELUM_JOURNAL_SEED");
  const uint64_t seed = env ? std::strtoull(env, nullptr, 10) : 20240601;
  SCOPED_TRACE("seed=" + std::to_string(seed) +
               " (replay: VELUM_JOURNAL_SEED=" + std::to_string(seed) + ")");
  core::Rng rng(seed);
  constexpr int kKills = 60;
  uint32_t last_epoch = 0;
  core::JobId max_id_seen = 0;
  Checked checked;
  int killed_while_running = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill));
    // The instant is the point: anywhere from before the journal is open to many flushes in.
    const long delay_us = static_cast<long>(rng.Uniform(40'000));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) RunWriter(file_, rng.Next() ^ static_cast<uint64_t>(kill));
    timespec ts{0, delay_us * 1000};
    nanosleep(&ts, nullptr);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      killed_while_running++;
    } else {
      ADD_FAILURE() << "the writer exited by itself with status " << status;
    }
    VerifyJournal(file_, &last_epoch, &max_id_seen, &checked);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(killed_while_running, kKills);
  // The kills must have landed on a journal with history, not only on empty ones.
  EXPECT_GT(checked.done, 0u);
  EXPECT_GT(checked.chunks, 100u);
  std::printf("FIGURE journal_kills=%d\n", killed_while_running);
  std::printf("FIGURE journal_states_checked=%zu\n", checked.jobs + checked.chunks);
  std::printf("FIGURE journal_jobs_checked=%zu\n", checked.jobs);
  std::printf("FIGURE journal_chunks_checked=%zu\n", checked.chunks);
  std::printf("FIGURE journal_done_jobs_checked=%zu\n", checked.done);
  std::printf("FIGURE journal_max_job_id=%llu\n", static_cast<unsigned long long>(max_id_seen));
}

// --- Records of finished jobs (result JOB, jobs --all) ----------------------------------------

// A finished job's summary as the driver has it when the job ends: every field the record keeps.
JobSummary FullSummary(const JournalJob& j) {
  JobSummary s = SummaryOfRecord(j, false);  // the fields the journal row has
  s.from_journal = false;
  s.details = JobDetails::kKept;
  s.items_done = j.state == JobState::kDone ? s.items_total : 123;
  s.chunks = 9;
  s.workers = {{1, 5, 600, 1.25, 0}, {3, 4, 400, 0.5, 0}};
  s.reassigned_items = 77;
  s.backups = 2;
  s.retries = 1;
  s.detection_ms = 812;
  s.failures = {{3, 812, 2, 77, 5}};
  s.output_truncated = true;
  s.output_lost = false;
  s.resumed = true;
  if (j.state == JobState::kFailed)
    s.failure = core::JobFailure{3, "integer divide by zero", 3, 500, 510, false};
  s.output = {
      {1, 0, 10, core::OutputStream::kStdout, "hello\n", false},
      {3, 500, 510, core::OutputStream::kStderr, std::string("bad \xff\x00 bytes", 12), true}};
  return s;
}

JournalJob Recorded(core::JobId id, JobState state) {
  JournalJob j = Job(id, state);
  RecordOutcome(FullSummary(j), &j);
  return j;
}

void ExpectSameSummary(const JobSummary& got, const JobSummary& want, bool with_output) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.result, want.result);
  EXPECT_EQ(got.error, want.error);
  EXPECT_EQ(got.items_done, want.items_done);
  EXPECT_EQ(got.items_total, want.items_total);
  EXPECT_EQ(got.elapsed_ms, want.elapsed_ms);
  EXPECT_EQ(got.chunks, want.chunks);
  ASSERT_EQ(got.workers.size(), want.workers.size());
  for (size_t i = 0; i < want.workers.size(); i++) {
    EXPECT_EQ(got.workers[i].id, want.workers[i].id);
    EXPECT_EQ(got.workers[i].chunks, want.workers[i].chunks);
    EXPECT_EQ(got.workers[i].items, want.workers[i].items);
    EXPECT_DOUBLE_EQ(got.workers[i].seconds, want.workers[i].seconds);
  }
  EXPECT_EQ(got.reassigned, want.reassigned);
  EXPECT_EQ(got.reassigned_items, want.reassigned_items);
  EXPECT_EQ(got.recomputed, want.recomputed);
  EXPECT_EQ(got.stale_reports, want.stale_reports);
  EXPECT_EQ(got.backups, want.backups);
  EXPECT_EQ(got.retries, want.retries);
  EXPECT_EQ(got.detection_ms, want.detection_ms);
  ASSERT_EQ(got.failures.size(), want.failures.size());
  for (size_t i = 0; i < want.failures.size(); i++) {
    EXPECT_EQ(got.failures[i].worker, want.failures[i].worker);
    EXPECT_EQ(got.failures[i].detection_ms, want.failures[i].detection_ms);
    EXPECT_EQ(got.failures[i].reassigned_items, want.failures[i].reassigned_items);
  }
  EXPECT_EQ(got.failure.has_value(), want.failure.has_value());
  if (got.failure && want.failure) {
    EXPECT_EQ(*got.failure, *want.failure);
  }
  EXPECT_EQ(got.output_truncated, want.output_truncated);
  EXPECT_EQ(got.resumed, want.resumed);
  if (!with_output) {
    EXPECT_TRUE(got.output.empty());
    return;
  }
  ASSERT_EQ(got.output.size(), want.output.size());
  for (size_t i = 0; i < want.output.size(); i++) {
    EXPECT_EQ(got.output[i].node, want.output[i].node);
    EXPECT_EQ(got.output[i].start, want.output[i].start);
    EXPECT_EQ(got.output[i].end, want.output[i].end);
    EXPECT_EQ(got.output[i].stream, want.output[i].stream);
    EXPECT_EQ(got.output[i].data, want.output[i].data);
    EXPECT_EQ(got.output[i].truncated, want.output[i].truncated);
  }
}

TEST_F(JournalTest, AFinishedJobsRecordRoundTrips) {
  const std::vector<JobState> states = {JobState::kDone, JobState::kFailed, JobState::kCancelled};
  {
    auto j = Open();
    ASSERT_TRUE(j);
    std::vector<core::JournalOp> ops;
    ops.emplace_back(std::in_place_type<JournalJob>, Job(1, JobState::kRunning));
    for (size_t i = 0; i < states.size(); i++)
      ops.emplace_back(std::in_place_type<JournalJob>, Recorded(2 + i, states[i]));
    j->Add(std::move(ops));
    // Before the flush, Find and Finished read the buffer.
    auto buffered = j->Find(3);
    ASSERT_TRUE(buffered.ok() && *buffered);
    EXPECT_FALSE((*buffered)->summary.empty());
    ASSERT_TRUE(j->Flush().ok());
  }
  auto j = Open();
  ASSERT_TRUE(j);
  for (size_t i = 0; i < states.size(); i++) {
    core::JobId id = 2 + i;
    SCOPED_TRACE("job " + std::to_string(id));
    auto found = j->Find(id);
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(found->has_value());
    ExpectSameJob(**found, Job(id, states[i]));
    JobSummary got = SummaryOfRecord(**found, true);
    EXPECT_TRUE(got.from_journal);
    EXPECT_EQ(got.details, JobDetails::kKept);
    ExpectSameSummary(got, FullSummary(Job(id, states[i])), true);
  }
  // The list: finished jobs only, newest first, summaries without output.
  auto finished = j->Finished();
  ASSERT_TRUE(finished.ok());
  ASSERT_EQ(finished->size(), states.size());
  for (size_t i = 0; i < finished->size(); i++) {
    const JournalJob& listed = (*finished)[i];
    EXPECT_EQ(listed.id, 2 + states.size() - 1 - i);
    EXPECT_TRUE(listed.output.empty());
    ExpectSameSummary(SummaryOfRecord(listed, false), FullSummary(Job(listed.id, listed.state)),
                      false);
  }
  // Load, which every start runs, leaves the records on disk.
  auto loaded = j->Load();
  ASSERT_TRUE(loaded.ok());
  for (const auto& r : *loaded) EXPECT_TRUE(r.job.summary.empty() && r.job.output.empty());
  auto missing = j->Find(99);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

// The bound is kept on disk job by job: the 257th finished job drops the oldest, and a running
// job, however old, stays.
// A job reduced by an export of its module, read back after a restart, still names it (the
// summary of a record and of a job in memory come from one mapping, SummarizeSpec).
TEST_F(JournalTest, AModuleReducersNameSurvivesInTheRecord) {
  JournalJob job = Job(5, JobState::kDone);
  job.spec.reducer = core::ReducerKind::kModule;
  job.spec.reduce_func = "matmul4";
  {
    auto j = Open();
    ASSERT_TRUE(j);
    std::vector<core::JournalOp> ops;
    ops.emplace_back(std::in_place_type<JournalJob>, job);
    j->Add(std::move(ops));
    ASSERT_TRUE(j->Flush().ok());
  }
  auto j = Open();
  ASSERT_TRUE(j);
  auto found = j->Find(5);
  ASSERT_TRUE(found.ok() && found->has_value());
  JobSummary s = SummaryOfRecord(**found, false);
  EXPECT_EQ(s.reducer, core::ReducerKind::kModule);
  EXPECT_EQ(s.reduce_func, "matmul4");
  EXPECT_EQ(s.func, "count_primes");
}

TEST_F(JournalTest, TheHistoryDropsTheOldestFinishedJobFirst) {
  auto j = Open();
  ASSERT_TRUE(j);
  j->Add({Job(1, JobState::kRunning)});
  ASSERT_TRUE(j->Flush().ok());
  const core::JobId first = 2, last = first + Journal::kFinishedJobsKept;  // 257 finished
  for (core::JobId id = first; id <= last; id++) {
    j->Add({Recorded(id, id % 2 ? JobState::kDone : JobState::kFailed)});
    ASSERT_TRUE(j->Flush().ok());
    size_t kept = std::min<size_t>(id - first + 1, Journal::kFinishedJobsKept);
    ASSERT_EQ(Query("SELECT COUNT(*) FROM jobs WHERE state != 0"), static_cast<int64_t>(kept))
        << "after job " << id;
  }
  EXPECT_EQ(Query("SELECT MIN(id) FROM jobs WHERE state != 0"), static_cast<int64_t>(first + 1));
  EXPECT_EQ(Query("SELECT COUNT(*) FROM jobs WHERE id = 1"), 1);
  auto oldest = j->Find(first);
  ASSERT_TRUE(oldest.ok());
  EXPECT_FALSE(oldest->has_value()) << "the 257th finished job drops the first";
  auto finished = j->Finished();
  ASSERT_TRUE(finished.ok());
  ASSERT_EQ(finished->size(), Journal::kFinishedJobsKept);
  EXPECT_EQ(finished->front().id, last);
  EXPECT_EQ(finished->back().id, first + 1);
  j.reset();
  j = Open();  // and so after a restart
  ASSERT_TRUE(j);
  finished = j->Finished();
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->size(), Journal::kFinishedJobsKept);
}

// A journal written by a node before records were kept (no summary or output columns) opens:
// its columns are added, its finished jobs show what they have, and new ones get records.
TEST_F(JournalTest, AnOlderJournalOpensAndKeepsItsJobs) {
  fs::create_directories(file_.parent_path());
  std::string spec = wire::EncodeJobSpec(Spec(0, 1000));
  std::string result = wire::EncodeNums({Num::Int(41538)});
  auto hex = [](const std::string& bytes) {
    std::string out;
    char b[3];
    for (unsigned char c : bytes) {
      std::snprintf(b, sizeof b, "%02x", c);
      out += b;
    }
    return out;
  };
  Exec(
      "PRAGMA journal_mode = WAL;"
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
      "CREATE TABLE jobs(id INTEGER PRIMARY KEY, spec BLOB NOT NULL,"
      "  state INTEGER NOT NULL, result BLOB, error TEXT, reassigned INTEGER,"
      "  recomputed INTEGER, stale INTEGER, elapsed_ms INTEGER);"
      "CREATE TABLE chunks(job INTEGER NOT NULL, idx INTEGER NOT NULL,"
      "  begin_item INTEGER NOT NULL, end_item INTEGER NOT NULL, done_upto INTEGER NOT NULL,"
      "  partial BLOB NOT NULL, complete INTEGER NOT NULL, PRIMARY KEY(job, idx)) WITHOUT ROWID;"
      "CREATE TABLE resumes(job INTEGER PRIMARY KEY, count INTEGER NOT NULL);"
      "INSERT INTO meta VALUES('epoch', 4), ('next_job', 8);"
      "INSERT INTO jobs VALUES(7, x'" +
      hex(spec) + "', 1, x'" + hex(result) + "', '', 1, 2, 3, 1500);");
  auto j = Open();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->epoch(), 5u);
  auto loaded = j->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  auto old = j->Find(7);
  ASSERT_TRUE(old.ok() && old->has_value());
  JobSummary s = SummaryOfRecord(**old, true);
  EXPECT_EQ(s.details, JobDetails::kNotRecorded);
  EXPECT_EQ(s.result, std::vector<Num>{Num::Int(41538)});
  EXPECT_EQ(s.elapsed_ms, 1500);
  EXPECT_EQ(s.items_done, 1000u);
  EXPECT_EQ(s.reassigned, 1u);
  j->Add({Recorded(8, JobState::kFailed)});
  ASSERT_TRUE(j->Flush().ok());
  j.reset();
  j = Open();
  ASSERT_TRUE(j);
  auto fresh = j->Find(8);
  ASSERT_TRUE(fresh.ok() && fresh->has_value());
  ExpectSameSummary(SummaryOfRecord(**fresh, true), FullSummary(Job(8, JobState::kFailed)), true);
  auto finished = j->Finished();
  ASSERT_TRUE(finished.ok());
  ASSERT_EQ(finished->size(), 2u);
  EXPECT_EQ((*finished)[0].id, 8u);
  EXPECT_EQ((*finished)[1].id, 7u);
}

// Damage on disk: a record that does not decode shows the row's own figures and says so; a
// row that does not decode is skipped (an unknown job), and the others still read.
TEST_F(JournalTest, DamagedRecordsAreSaidAndDamagedRowsSkipped) {
  {
    auto j = Open();
    ASSERT_TRUE(j);
    j->Add({Recorded(1, JobState::kDone), Recorded(2, JobState::kFailed),
            Recorded(3, JobState::kDone), Recorded(4, JobState::kDone)});
    ASSERT_TRUE(j->Flush().ok());
  }
  Exec("UPDATE jobs SET summary = x'ffffffff' WHERE id = 1");
  Exec("UPDATE jobs SET output = x'0a05ff' WHERE id = 2");
  Exec("UPDATE jobs SET spec = x'ffff' WHERE id = 3");
  Exec("UPDATE jobs SET summary = x'0800' WHERE id = 4");  // version 0: no writer wrote that
  auto j = Open();
  ASSERT_TRUE(j);
  auto one = j->Find(1);
  ASSERT_TRUE(one.ok() && one->has_value());
  JobSummary s1 = SummaryOfRecord(**one, true);
  EXPECT_EQ(s1.details, JobDetails::kDamaged);
  EXPECT_EQ(s1.result, Job(1, JobState::kDone).result);
  EXPECT_TRUE(s1.workers.empty());
  auto two = j->Find(2);
  ASSERT_TRUE(two.ok() && two->has_value());
  JobSummary s2 = SummaryOfRecord(**two, true);
  EXPECT_EQ(s2.details, JobDetails::kDamaged);
  EXPECT_TRUE(s2.output.empty());
  ASSERT_TRUE(s2.failure.has_value()) << "the summary itself is whole";
  EXPECT_EQ(SummaryOfRecord(**two, false).details, JobDetails::kKept);
  auto three = j->Find(3);
  ASSERT_TRUE(three.ok());
  EXPECT_FALSE(three->has_value());
  auto four = j->Find(4);
  ASSERT_TRUE(four.ok() && four->has_value());
  EXPECT_EQ(SummaryOfRecord(**four, true).details, JobDetails::kDamaged);
  auto finished = j->Finished();
  ASSERT_TRUE(finished.ok());
  ASSERT_EQ(finished->size(), 3u);
  for (const auto& f : *finished) EXPECT_NE(f.id, 3u);
}

}  // namespace
}  // namespace velum
