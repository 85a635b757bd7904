// The journal of a node's map jobs (SQLite, WAL): each job's request and module when it starts,
// each item's end as it comes, and a summary row once it ends, so a restart resumes it.
#ifndef VELUM_NODE_MAP_JOURNAL_H_
#define VELUM_NODE_MAP_JOURNAL_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/coordinator.h"
#include "node/node.h"
#include "runtime/error.h"

struct sqlite3;

namespace velum {

// How one item ended, as journaled (and kept in a finished job's summary if it failed).
struct MapItemRecord {
  uint64_t item = 0;
  bool ok = false;
  uint32_t node = 0;
  uint32_t exit_code = 0;
  std::string error, stderr_tail;
};

class MapJournal {
 public:
  // Finished jobs kept (their summaries); the oldest go first.
  static constexpr size_t kFinishedKept = 64;

  // Opens (creating) the journal. A file that is not a database is moved aside
  // (FILE.bad-<pid>) and replaced by an empty one, said in the error's place: *note.
  static Result<std::unique_ptr<MapJournal>> Open(const std::filesystem::path& file,
                                                  std::string* note);
  ~MapJournal();
  MapJournal(const MapJournal&) = delete;
  MapJournal& operator=(const MapJournal&) = delete;

  struct Job {
    uint64_t id = 0;
    core::JobState state = core::JobState::kRunning;
    std::vector<uint8_t> request;  // EncodeMapRequest
    std::vector<uint8_t> module;   // running jobs only
    MapSummary summary;            // finished jobs: all of it; running: id and state
  };
  // Every job kept, oldest first; rows that do not decode are skipped. summaries_only: no
  // request nor module (a listing).
  Result<std::vector<Job>> Load(bool summaries_only = false);
  // The highest job id kept (0: none), so the node's id sequence never gives it again.
  Result<uint64_t> LastId();
  // The items of a running job that have ended.
  Result<std::vector<MapItemRecord>> Items(uint64_t job);

  Status Begin(uint64_t job, const std::vector<uint8_t>& request,
               const std::vector<uint8_t>& module);
  Status AddItems(uint64_t job, const std::vector<MapItemRecord>& items);  // one transaction
  // The job ended: its summary replaces its items and module; old finished jobs are dropped.
  Status Finish(const MapSummary& summary);

 private:
  explicit MapJournal(sqlite3* db) : db_(db) {}
  Status Exec(const std::string& sql);
  sqlite3* db_;
};

// A map request without its callback, for the journal; Decode is strict (false: damaged).
std::vector<uint8_t> EncodeMapRequest(const MapRequest& request);
bool DecodeMapRequest(const std::vector<uint8_t>& bytes, MapRequest* out);
std::vector<uint8_t> EncodeMapSummary(const MapSummary& summary);
bool DecodeMapSummary(const std::vector<uint8_t>& bytes, MapSummary* out);

}  // namespace velum

#endif  // VELUM_NODE_MAP_JOURNAL_H_
