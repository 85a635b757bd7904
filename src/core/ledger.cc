// The ledger's rules. A chunk's committed prefix only grows, and only by a report of one of
// its active attempts whose worker sent it; everything else is stale or invalid and ignored.
#include "core/ledger.h"

#include <algorithm>

#include "core/assert.h"
#include "core/reducer.h"

namespace velum::core {

namespace {
// Output pieces lie in [lo, hi), in order, one per slice, each tagged with its worker.
void CheckOutputList(const OutputList& list, int64_t lo, int64_t hi) {
  int64_t at = lo;
  for (const auto& piece : list) {
    VELUM_ASSERT(piece && piece->node != kNoNode);
    VELUM_ASSERT(at <= piece->output.lo && piece->output.lo < piece->output.hi);
    at = piece->output.hi;
  }
  VELUM_ASSERT(at <= hi);
}
}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kProgress:
      return "progress";
    case Verdict::kHeartbeat:
      return "heartbeat";
    case Verdict::kCompleted:
      return "completed";
    case Verdict::kStale:
      return "stale";
    case Verdict::kInvalid:
      return "invalid";
  }
  return "?";
}

Ledger::Ledger(int64_t start, int64_t end, ReducerKind reducer, std::vector<NumKind> kinds,
               size_t max_chunks, size_t max_output_bytes)
    : start_(start),
      end_(end),
      reducer_(reducer),
      kinds_(std::move(kinds)),
      max_chunks_(std::max<size_t>(max_chunks, 1)),
      max_output_bytes_(max_output_bytes),
      next_(start),
      limit_(end) {
  VELUM_ASSERT(start < end);
  VELUM_ASSERT(!kinds_.empty() && kinds_.size() <= kMaxResultValues);
}

std::optional<size_t> Ledger::Cut(int64_t size) {
  if (AllCut()) return std::nullopt;
  VELUM_ASSERT(size > 0);
  // Unsigned: the whole int64 range does not fit in an int64 difference.
  uint64_t left = static_cast<uint64_t>(limit_) - static_cast<uint64_t>(next_);
  uint64_t take = std::min<uint64_t>(static_cast<uint64_t>(size), left);
  if (chunks_.size() + 1 >= max_chunks_) take = left;  // the table is full: take the rest
  Chunk c;
  c.begin = next_;
  c.end = static_cast<int64_t>(static_cast<uint64_t>(next_) + take);
  c.done_upto = c.begin;
  VELUM_ASSERT(c.begin < c.end && c.end <= limit_);
  next_ = c.end;  // the end of the last chunk cut, even once a `first` answer lowers limit_
  chunks_.push_back(std::move(c));
  open_chunks_++;
  size_t index = chunks_.size() - 1;
  waiting_.insert(index);
  return index;
}

bool Ledger::Restore(int64_t begin, int64_t end, int64_t done_upto, const Partial& done,
                     bool complete) {
  if (begin != next_ || begin >= end || end > end_ || done_upto < begin || done_upto > end)
    return false;
  if (chunks_.size() >= max_chunks_ || !Conforms(done, kinds_)) return false;
  bool found = reducer_ == ReducerKind::kFirst && !done.empty();
  if (complete != (done_upto == end || found)) return false;
  if (reducer_ != ReducerKind::kFirst && (done_upto > begin) == done.empty()) return false;
  Chunk c;
  c.begin = begin;
  c.end = end;
  c.done_upto = done_upto;
  c.done = done;
  c.complete = complete;
  // Output is not journaled: what the committed prefix printed is gone with the restart.
  if (done_upto > begin) output_lost_ = true;
  next_ = end;
  chunks_.push_back(std::move(c));
  size_t index = chunks_.size() - 1;
  if (!Relevant(index)) return true;  // cut before an earlier chunk's `first` answer
  if (!complete) {
    open_chunks_++;
    waiting_.insert(index);
  } else if (found) {
    std::vector<Attempt> none;
    CutOffAfter(index, &none);
    VELUM_ASSERT(none.empty());
  }
  VELUM_ASSERT(next_ == end && open_chunks_ <= chunks_.size());
  return true;
}

const Attempt& Ledger::Open(size_t index, AttemptId id, NodeId worker, bool backup,
                            uint64_t now_ms) {
  VELUM_ASSERT(index < chunks_.size());
  Chunk& c = chunks_[index];
  VELUM_ASSERT(!c.complete && Relevant(index));
  VELUM_ASSERT(c.attempts.size() < kMaxAttemptsPerChunk);
  VELUM_ASSERT(worker != kNoNode && id != 0 && !attempt_chunk_.count(id));
  Attempt a;
  a.id = id;
  a.worker = worker;
  a.backup = backup;
  a.start = c.done_upto;
  a.base = c.done;
  a.upto = a.running_to = a.start;
  a.base_output = c.output;
  a.opened_ms = a.last_report_ms = now_ms;
  c.attempts.push_back(std::move(a));
  attempt_chunk_[id] = index;
  waiting_.erase(index);
  return c.attempts.back();
}

Attempt* Ledger::Find(AttemptId id, Chunk** chunk) {
  auto it = attempt_chunk_.find(id);
  if (it == attempt_chunk_.end()) return nullptr;
  VELUM_ASSERT(it->second < chunks_.size());
  Chunk& c = chunks_[it->second];
  for (Attempt& a : c.attempts) {
    if (a.id == id) {
      *chunk = &c;
      return &a;
    }
  }
  VELUM_ASSERT(false && "attempt index out of step with its chunk");
  return nullptr;
}

const Attempt* Ledger::FindAttempt(AttemptId id) const {
  Chunk* c = nullptr;
  return const_cast<Ledger*>(this)->Find(id, &c);
}

std::optional<size_t> Ledger::ChunkOf(AttemptId id) const {
  auto it = attempt_chunk_.find(id);
  if (it == attempt_chunk_.end()) return std::nullopt;
  VELUM_ASSERT(it->second < chunks_.size());
  return it->second;
}

Ledger::Applied Ledger::Apply(NodeId from, const Report& r, uint64_t now_ms) {
  Applied out;
  Chunk* c = nullptr;
  Attempt* a = Find(r.attempt, &c);
  if (!a) return out;  // kStale: closed, never opened, or of an earlier coordinator epoch
  out.chunk = attempt_chunk_[r.attempt];
  if (from != a->worker || r.has_error) {
    out.verdict = Verdict::kInvalid;  // errors are the coordinator's to handle, not progress
    return out;
  }
  if (r.upto < a->upto) {
    out.verdict = Verdict::kStale;  // overtaken by a later report of the same attempt
    return out;
  }
  // Items were done (upto moved) but their reduction is empty: only `first` finds nothing.
  bool empty_progress = r.upto > a->upto && reducer_ != ReducerKind::kFirst && r.partial.empty();
  if (r.upto > c->end || r.running_to < r.upto || r.running_to > c->end ||
      !Conforms(r.partial, kinds_) || (r.upto == a->start && !r.partial.empty()) ||
      empty_progress) {
    out.verdict = Verdict::kInvalid;  // ignored: the attempt stays as it was
    return out;
  }
  VELUM_ASSERT(a->upto <= r.upto && r.upto <= r.running_to && r.running_to <= c->end);
  a->last_report_ms = now_ms;
  a->busy_us = std::max(a->busy_us, r.busy_us);
  a->running_to = r.running_to;
  if (r.upto == a->upto) {
    out.verdict = Verdict::kHeartbeat;
    return out;
  }
  KeepOutput(*a, a->upto, r);
  a->upto = r.upto;
  a->partial = r.partial;
  out.verdict = Verdict::kProgress;
  if (a->upto > c->done_upto) {
    out.committed = ItemsIn(c->done_upto, a->upto);
    c->done_upto = a->upto;
    // A module reducer's worker folded its slices onto the base it was given: its partial
    // is already that of [begin, upto).
    c->done =
        reducer_ == ReducerKind::kModule ? a->partial : Combine(reducer_, a->base, a->partial);
    // The chunk's output is this attempt's, as its result is: never two copies of a slice.
    c->output = a->base_output;
    c->output.insert(c->output.end(), a->output.begin(), a->output.end());
  }
  VELUM_ASSERT(a->upto <= c->done_upto && c->done_upto <= c->end);
  bool found = reducer_ == ReducerKind::kFirst && !c->done.empty();
  if (c->done_upto == c->end || found) {
    Complete(out.chunk, &out.ended);
    out.verdict = Verdict::kCompleted;
  }
  return out;
}

void Ledger::KeepOutput(Attempt& a, int64_t from, const Report& r) {
  VELUM_ASSERT(a.start <= from && from < r.upto);
  if (!r.output || r.output->empty()) return;
  const SliceOutput& o = *r.output;
  if (o.lo < from || o.lo >= o.hi || o.hi != r.upto) return;  // not this progress's slice
  if (output_truncated_ || o.bytes() > max_output_bytes_ - output_bytes_) {
    output_truncated_ = true;  // from here on nothing more is kept
    return;
  }
  output_bytes_ += o.bytes();
  a.output.push_back(std::make_shared<const OutputPiece>(OutputPiece{a.worker, o}));
  VELUM_ASSERT(output_bytes_ <= max_output_bytes_);
}

OutputList Ledger::Output() const {
  OutputList out;
  for (size_t i = 0; i < chunks_.size() && Relevant(i); i++)
    out.insert(out.end(), chunks_[i].output.begin(), chunks_[i].output.end());
  return out;
}

void Ledger::Complete(size_t index, std::vector<Attempt>* ended) {
  Chunk& c = chunks_[index];
  VELUM_ASSERT(!c.complete && Relevant(index));
  c.complete = true;
  open_chunks_--;
  for (Attempt& a : c.attempts) {
    attempt_chunk_.erase(a.id);
    ended->push_back(std::move(a));
  }
  c.attempts.clear();
  waiting_.erase(index);
  if (reducer_ == ReducerKind::kFirst && !c.done.empty()) CutOffAfter(index, ended);
  VELUM_ASSERT(open_chunks_ < chunks_.size() && !waiting_.count(index));
}

// A `first` answer in chunk `index`: nothing after that chunk can change the result.
void Ledger::CutOffAfter(size_t index, std::vector<Attempt>* ended) {
  VELUM_ASSERT(index < chunks_.size() && chunks_[index].complete);
  int64_t cut = chunks_[index].end;
  if (cut >= limit_) return;
  for (size_t i = index + 1; i < chunks_.size() && chunks_[i].begin < limit_; i++) {
    Chunk& c = chunks_[i];
    if (!c.complete) open_chunks_--;
    for (Attempt& a : c.attempts) {
      attempt_chunk_.erase(a.id);
      ended->push_back(std::move(a));
    }
    c.attempts.clear();
    waiting_.erase(i);
  }
  limit_ = cut;
  VELUM_ASSERT(start_ < limit_ && limit_ <= end_);
}

std::optional<Attempt> Ledger::Close(AttemptId id, bool failed, size_t* chunk) {
  Chunk* c = nullptr;
  Attempt* a = Find(id, &c);
  if (!a) return std::nullopt;
  size_t index = attempt_chunk_[id];
  if (chunk) *chunk = index;
  Attempt out = std::move(*a);
  c->attempts.erase(c->attempts.begin() + (a - c->attempts.data()));
  attempt_chunk_.erase(id);
  if (failed) c->failures++;
  UpdateWaiting(index);
  VELUM_ASSERT(out.id == id && !attempt_chunk_.count(id));
  return out;
}

std::vector<Attempt> Ledger::CloseAll() {
  std::vector<Attempt> out;
  for (size_t i = 0; i < chunks_.size(); i++) {
    for (Attempt& a : chunks_[i].attempts) out.push_back(std::move(a));
    chunks_[i].attempts.clear();
    UpdateWaiting(i);
  }
  attempt_chunk_.clear();
  VELUM_ASSERT(waiting_.size() == open_chunks_);  // every open chunk now waits for a worker
  return out;
}

void Ledger::UpdateWaiting(size_t index) {
  VELUM_ASSERT(index < chunks_.size());
  const Chunk& c = chunks_[index];
  if (!c.complete && Relevant(index) && c.attempts.empty())
    waiting_.insert(index);
  else
    waiting_.erase(index);
}

std::optional<size_t> Ledger::NextWaiting() const {
  if (waiting_.empty()) return std::nullopt;
  VELUM_ASSERT(*waiting_.begin() < chunks_.size() && waiting_.size() <= open_chunks_);
  return *waiting_.begin();
}

std::vector<Partial> Ledger::Pieces() const {
  VELUM_ASSERT(Done());
  std::vector<Partial> out;
  for (size_t i = 0; i < chunks_.size() && Relevant(i); i++)
    if (!chunks_[i].done.empty()) out.push_back(chunks_[i].done);
  VELUM_ASSERT(out.size() <= chunks_.size());
  return out;
}

Partial Ledger::Result() const {
  VELUM_ASSERT(Done() && reducer_ != ReducerKind::kModule);
  Partial total;
  for (size_t i = 0; i < chunks_.size() && Relevant(i); i++)
    total = Combine(reducer_, total, chunks_[i].done);
  return total;
}

uint64_t Ledger::items_done() const {
  uint64_t n = 0;
  for (size_t i = 0; i < chunks_.size() && Relevant(i); i++) {
    const Chunk& c = chunks_[i];
    n += ItemsIn(c.begin, c.complete ? c.end : c.done_upto);
  }
  VELUM_ASSERT(n <= ItemsIn(start_, limit_));
  return n;
}

void Ledger::CheckInvariants() const {
  VELUM_ASSERT(output_bytes_ <= max_output_bytes_);
  VELUM_ASSERT(start_ <= next_ && next_ <= end_ && start_ < limit_ && limit_ <= end_);
  int64_t expect = start_;
  size_t open = 0, attempts = 0;
  for (size_t i = 0; i < chunks_.size(); i++) {
    const Chunk& c = chunks_[i];
    // Chunks tile [start, next) without gaps or overlaps.
    VELUM_ASSERT(c.begin == expect && c.begin < c.end);
    expect = c.end;
    VELUM_ASSERT(c.begin <= c.done_upto && c.done_upto <= c.end);
    VELUM_ASSERT(Conforms(c.done, kinds_));
    CheckOutputList(c.output, c.begin, c.done_upto);
    VELUM_ASSERT(reducer_ == ReducerKind::kFirst || (c.done_upto == c.begin) == c.done.empty());
    bool found = reducer_ == ReducerKind::kFirst && !c.done.empty();
    if (!Relevant(i)) {
      VELUM_ASSERT(c.attempts.empty() && !waiting_.count(i));
      continue;
    }
    VELUM_ASSERT(c.complete == (c.done_upto == c.end || found));
    if (found) VELUM_ASSERT(c.end == limit_);
    if (c.complete) {
      VELUM_ASSERT(c.attempts.empty());
    } else {
      open++;
    }
    VELUM_ASSERT(c.attempts.size() <= kMaxAttemptsPerChunk);
    VELUM_ASSERT(waiting_.count(i) == (!c.complete && c.attempts.empty() ? 1u : 0u));
    for (const Attempt& a : c.attempts) {
      attempts++;
      auto it = attempt_chunk_.find(a.id);
      VELUM_ASSERT(it != attempt_chunk_.end() && it->second == i);
      VELUM_ASSERT(a.worker != kNoNode);
      VELUM_ASSERT(c.begin <= a.start && a.start <= a.upto && a.upto <= a.running_to &&
                   a.running_to <= c.end);
      VELUM_ASSERT(a.upto <= c.done_upto);
      VELUM_ASSERT(a.upto > a.start || a.partial.empty());
      CheckOutputList(a.output, a.start, a.upto);
    }
    for (size_t j = 0; j < c.attempts.size(); j++)
      for (size_t k = j + 1; k < c.attempts.size(); k++)
        VELUM_ASSERT(c.attempts[j].worker != c.attempts[k].worker);
  }
  VELUM_ASSERT(expect == next_);
  VELUM_ASSERT(open == open_chunks_);
  VELUM_ASSERT(attempts == attempt_chunk_.size());
}

}  // namespace velum::core
