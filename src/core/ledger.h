// A job's ledger: its range cut into chunks, the attempts running them, and what has been
// reduced. It accepts only monotonic checkpoints of live attempts, so no item counts twice.
#ifndef VELUM_CORE_LEDGER_H_
#define VELUM_CORE_LEDGER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/job_types.h"

namespace velum::core {

// One slice's output as the coordinator keeps it, tagged with the worker that ran the slice.
// Immutable and shared: a chunk's output list is copied into each attempt opened on it.
struct OutputPiece {
  NodeId node = kNoNode;
  SliceOutput output;
};
using OutputList = std::vector<std::shared_ptr<const OutputPiece>>;

struct Attempt {
  AttemptId id = 0;
  NodeId worker = kNoNode;
  bool backup = false;     // a second copy of a straggler's remainder
  int64_t start = 0;       // the chunk's committed point when the attempt was opened
  Partial base;            // the chunk's committed partial of [chunk.begin, start) then
  int64_t upto = 0;        // reported: [start, upto) is done and reduces to `partial`
                           // (a module reducer's: [chunk.begin, upto), base included)
  int64_t running_to = 0;  // reported: [upto, running_to) is being computed
  Partial partial;
  uint64_t busy_us = 0;  // reported executor time
  uint64_t opened_ms = 0;
  uint64_t last_report_ms = 0;
  // Output mirrors the result: base_output is the chunk's output of [chunk.begin, start) when
  // the attempt was opened, `output` its own slices' of [start, upto), in order.
  OutputList base_output;
  OutputList output;
};

struct Chunk {
  int64_t begin = 0, end = 0;
  int64_t done_upto = 0;  // committed: [begin, done_upto) is reduced into `done`
  Partial done;
  bool complete = false;
  // The output of [begin, done_upto), slice by slice in order: that of the attempt whose
  // result `done` is (its base_output and output), so no slice's output counts twice.
  OutputList output;
  uint32_t failures = 0;          // attempts that ended without finishing it
  std::vector<Attempt> attempts;  // the active ones, at most Ledger::kMaxAttemptsPerChunk
};

enum class Verdict : uint8_t {
  kProgress,   // accepted: the attempt moved forward
  kHeartbeat,  // accepted: same progress as before (the attempt is alive)
  kCompleted,  // accepted, and the chunk is now complete
  kStale,      // ignored: an attempt that is no longer active, or an older report
  kInvalid,    // ignored: not this worker's attempt, or a malformed or regressing report
};
const char* VerdictName(Verdict v);

class Ledger {
 public:
  static constexpr size_t kMaxAttemptsPerChunk = 2;

  // The job's range [start, end) and how its results reduce. max_chunks bounds the table:
  // the last chunk cut takes all that remains.
  // max_output_bytes bounds the slices' output kept (see Output()).
  Ledger(int64_t start, int64_t end, ReducerKind reducer, std::vector<NumKind> kinds,
         size_t max_chunks, size_t max_output_bytes = kMaxJobOutputBytes);

  // Cuts [next_unassigned, next_unassigned + size) (clipped) into a new chunk waiting for an
  // attempt; nullopt when the whole range has been cut.
  std::optional<size_t> Cut(int64_t size);
  // Rebuilds a chunk from the journal; chunks come back in order and must be contiguous.
  // False if this one does not fit (a corrupt journal).
  bool Restore(int64_t begin, int64_t end, int64_t done_upto, const Partial& done, bool complete);

  // Opens an attempt at the chunk's committed point. The chunk must be open and have room.
  const Attempt& Open(size_t chunk, AttemptId id, NodeId worker, bool backup, uint64_t now_ms);

  struct Applied {
    Verdict verdict = Verdict::kStale;
    size_t chunk = 0;
    uint64_t committed = 0;      // items newly added to the chunk's committed prefix
    std::vector<Attempt> ended;  // attempts closed by this report (the chunk is complete, or
                                 // a `first` answer made later chunks irrelevant)
  };
  // A checkpoint from `from`. Only the attempt's own worker may move it, only forward.
  Applied Apply(NodeId from, const Report& report, uint64_t now_ms);
  // Ends an active attempt that will not finish (its worker is lost, it failed, it was
  // cancelled); its chunk waits for another attempt unless one is still running.
  std::optional<Attempt> Close(AttemptId id, bool failed, size_t* chunk = nullptr);
  // Ends every active attempt (the job is cancelled or failed).
  std::vector<Attempt> CloseAll();

  const Attempt* FindAttempt(AttemptId id) const;
  std::optional<size_t> ChunkOf(AttemptId id) const;
  const Chunk& chunk(size_t index) const { return chunks_[index]; }
  const std::vector<Chunk>& chunks() const { return chunks_; }
  // The lowest chunk that needs an attempt (incomplete, relevant, none active).
  std::optional<size_t> NextWaiting() const;
  bool Relevant(size_t index) const { return chunks_[index].begin < limit_; }

  int64_t start() const { return start_; }
  int64_t end() const { return end_; }
  int64_t limit() const { return limit_; }  // end, or where a `first` answer cut the job off
  int64_t next_unassigned() const { return next_; }
  bool AllCut() const { return next_ >= limit_; }
  bool Done() const { return AllCut() && open_chunks_ == 0; }
  // The reduction of the whole range (first: of everything up to the answer). Once Done(),
  // for a built-in reducer.
  Partial Result() const;
  // Once Done(): each chunk's partial in range order (the empty ones left out), for a module
  // reducer's driver to fold through the export. At most max_chunks of them.
  std::vector<Partial> Pieces() const;
  uint64_t items_total() const { return ItemsIn(start_, limit_); }
  uint64_t items_done() const;
  size_t active_attempts() const { return attempt_chunk_.size(); }
  ReducerKind reducer() const { return reducer_; }
  const std::vector<NumKind>& kinds() const { return kinds_; }

  // The output of the slices whose results make up the result so far, in range order, each
  // once. Output arriving once max_output_bytes were kept (counting output of attempts that
  // lost, too) is dropped and the job's output is marked truncated; output committed before a
  // restart of the coordinator is not journaled and is marked lost.
  OutputList Output() const;
  bool output_truncated() const { return output_truncated_; }
  bool output_lost() const { return output_lost_; }
  size_t output_bytes() const { return output_bytes_; }

  // Checks every structural invariant (O(chunks)); the simulator calls it after every step.
  void CheckInvariants() const;

 private:
  Attempt* Find(AttemptId id, Chunk** chunk);
  void Complete(size_t index, std::vector<Attempt>* ended);
  void CutOffAfter(size_t index, std::vector<Attempt>* ended);
  void UpdateWaiting(size_t index);
  // Keeps the output a report of attempt `a` carries, if it is of the slice that just moved
  // the attempt from `from` to report.upto (anything else is not this progress: ignored).
  void KeepOutput(Attempt& a, int64_t from, const Report& report);

  const int64_t start_, end_;
  const ReducerKind reducer_;
  const std::vector<NumKind> kinds_;
  const size_t max_chunks_;
  const size_t max_output_bytes_;
  size_t output_bytes_ = 0;  // in pieces kept, of every attempt
  bool output_truncated_ = false;
  bool output_lost_ = false;
  int64_t next_;
  int64_t limit_;
  size_t open_chunks_ = 0;  // relevant chunks not complete
  std::vector<Chunk> chunks_;
  std::unordered_map<AttemptId, size_t> attempt_chunk_;
  std::set<size_t> waiting_;
};

}  // namespace velum::core

#endif  // VELUM_CORE_LEDGER_H_
