// A map job's run: the caller's thread plans and releases outputs in order, one dispatch
// thread per worker slot runs items through the command service, the journal keeps each end.
#include "node/map_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "core/map_plan.h"
#include "node/command_files.h"
#include "runtime/executor.h"
#include "wire/job_codec.h"

namespace velum {

namespace fs = std::filesystem;

namespace {

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

const std::string& OutputName(const MapItem& item) {
  return item.out_name.empty() ? item.name : item.out_name;
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

// An output's bytes in a temporary file beside dir/name (its parents made, never through a
// link), for a rename once the item counts: nullopt when dir/name already holds exactly these
// bytes (a resumed job never rewrites an output it wrote before its coordinator stopped).
Result<std::optional<fs::path>> PrepareOutput(const fs::path& dir, const std::string& name,
                                              const std::string& data,
                                              const std::string& temp_name) {
  if (Status s = MakeParents(dir, name); !s.ok()) return s.error();
  const fs::path final_path = dir / name;
  struct stat st {};
  if (lstat(final_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) == data.size()) {
    auto same = ReadPiece(final_path, 0, data.size() + 1);
    if (same.ok() && *same == data) return std::optional<fs::path>();
  }
  const fs::path temp = final_path.parent_path() / temp_name;
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return MakeError(ErrorKind::kIo, "cannot write " + temp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  int write_errno = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      write_errno = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && write_errno == 0) write_errno = errno;
  if (done != data.size() || write_errno != 0) {
    unlink(temp.c_str());
    return MakeError(ErrorKind::kIo,
                     "cannot write " + final_path.string() + ": " + std::strerror(write_errno));
  }
  return std::optional<fs::path>(temp);
}

// The whole of `data` at dir/name: prepared, then renamed into place.
Status WriteOutput(const fs::path& dir, const std::string& name, const std::string& data,
                   const std::string& temp_name) {
  auto temp = PrepareOutput(dir, name, data, temp_name);
  if (!temp.ok()) return temp.error();
  if (*temp && rename((*temp)->c_str(), (dir / name).c_str()) != 0) {
    std::string why = std::strerror(errno);
    unlink((*temp)->c_str());
    return MakeError(ErrorKind::kIo, "cannot write " + (dir / name).string() + ": " + why);
  }
  return {};
}

}  // namespace

std::string MapOutputNameProblem(const std::string& name) {
  if (!wire::CommandPathOk(name))
    return "'" + name + "' cannot name an output (a relative path of at most " +
           std::to_string(wire::kMaxCommandPathBytes) + " bytes, no '.' or '..', no NUL)";
  return "";
}

struct MapService::Run {
  Run(uint64_t id, ModulePtr module, MapRequest request, bool resumed)
      : id(id),
        module(std::move(module)),
        request(std::move(request)),
        resumed(resumed),
        plan(this->request.items.size(), this->request.retries) {}

  const uint64_t id;
  const ModulePtr module;
  const MapRequest request;
  const bool resumed;
  const uint64_t started_ms = NowMs();
  std::atomic<bool> cancel{false};     // every item's run stops
  std::atomic<bool> cancelled{false};  // by MapService::Cancel (`cancel JOB`)

  std::mutex mu;  // everything below
  std::condition_variable cv;
  core::MapPlan plan;
  std::vector<MapItemRecord> unjournaled;  // ended items not in the journal yet
  std::map<uint64_t, MapFailure> failures;
  std::map<uint32_t, uint64_t> per_worker;
  struct Held {
    std::string data;
    fs::path file;         // spooled: the output waits here, not in `data`
    uint64_t spooled = 0;  // its bytes there
  };
  std::map<uint64_t, Held> held;  // outputs waiting for their turn (no out_dir)
  uint64_t held_bytes = 0;
  uint64_t spooled_bytes = 0;
  uint64_t released = 0;                     // items whose turn has passed
  std::map<uint32_t, uint64_t> paused;       // worker -> not used again before this time
  std::map<uint32_t, uint32_t> dispatchers;  // worker -> its dispatch threads still running
  std::map<uint64_t, std::thread> threads;   // by serial
  uint64_t next_thread = 0;
  std::vector<uint64_t> exited;       // serials of threads that have returned, to join
  std::atomic<uint64_t> attempts{0};  // numbers each run's temporary output name
  std::string journal_error;          // the journal could not be written: the job fails
  std::string job_error;              // an output could not be written or kept: the job fails
};

MapService::MapService(std::unique_ptr<MapJournal> journal, Hooks hooks)
    : journal_(std::move(journal)), hooks_(std::move(hooks)) {}

MapService::~MapService() { Stop(); }

void MapService::Stop() {
  stopping_ = true;
  std::vector<std::thread> resumers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, run] : running_) {
      run->cancel = true;
      run->cv.notify_all();
    }
    resumers.swap(resumers_);
  }
  for (auto& t : resumers) t.join();
}

void MapService::ResumeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  auto jobs = journal_->Load();
  if (!jobs.ok()) {
    hooks_.log("map jobs not resumed: " + jobs.error().message);
    return;
  }
  for (auto& job : *jobs) {
    if (job.state != core::JobState::kRunning) continue;
    MapRequest request;
    auto module = Module::FromBytes(job.module);
    auto done = journal_->Items(job.id);
    if (!DecodeMapRequest(job.request, &request) || !module.ok() || !done.ok()) {
      MapSummary s;
      s.job = job.id;
      s.state = core::JobState::kFailed;
      s.error = "its journal entry is damaged: not resumed";
      s.resumed = true;
      journal_->Finish(s);
      finished_.reset();
      hooks_.log("map job " + std::to_string(job.id) + ": " + s.error);
      continue;
    }
    std::string why;
    std::error_code ec;
    if (!request.out_dir)
      why = "its outputs went to the shell that started it, which is gone: run it again";
    else if (!fs::is_directory(*request.out_dir, ec))
      why = "its --out folder " + request.out_dir->string() + " is gone";
    if (!why.empty()) {
      MapSummary s;
      s.job = job.id;
      s.state = core::JobState::kFailed;
      s.error = "not resumed after this node's restart: " + why;
      s.items = request.items.size();
      s.resumed = true;
      journal_->Finish(s);
      finished_.reset();
      hooks_.log("map job " + std::to_string(job.id) + ": " + s.error);
      continue;
    }
    hooks_.log("map job " + std::to_string(job.id) + " resumed: " + std::to_string(done->size()) +
               " of " + std::to_string(request.items.size()) + " items had ended");
    resumers_.emplace_back(
        [this, id = job.id, m = *module, q = std::move(request), d = std::move(*done)]() mutable {
          auto r = RunJob(id, m, std::move(q), d, true, nullptr);
          if (!r.ok()) hooks_.log("map job " + std::to_string(id) + ": " + r.error().message);
        });
  }
}

Result<MapSummary> MapService::Map(const ModulePtr& module, MapRequest request,
                                   const std::atomic<bool>* cancel) {
  if (stopping_) return MakeError(ErrorKind::kUnavailable, "this node is stopping");
  if (!module->FindFunction("_start").ok())
    return MakeError(ErrorKind::kExportNotFound,
                     "map runs a WASI command: the module exports no _start");
  if (request.args.empty()) return MakeError(ErrorKind::kBadArguments, "map needs argv[0]");
  if (request.items.size() > core::MapPlan::kMaxItems)
    return MakeError(ErrorKind::kLimitExceeded, std::to_string(request.items.size()) +
                                                    " items: a map job takes at most " +
                                                    std::to_string(core::MapPlan::kMaxItems));
  for (const MapItem& item : request.items) {
    std::error_code ec;
    if (item.file && fs::file_size(*item.file, ec) > wire::kMaxCommandInputBytes && !ec)
      return MakeError(ErrorKind::kLimitExceeded,
                       "input " + item.name + " is over " +
                           std::to_string(wire::kMaxCommandInputBytes >> 20) +
                           " MiB, the most a command's inputs may be");
    if (!item.file && item.bytes.size() > kMaxWasiStdinBytes)
      return MakeError(ErrorKind::kLimitExceeded, "item " + item.name + " is over " +
                                                      std::to_string(kMaxWasiStdinBytes) +
                                                      " bytes: give it as a file");
  }
  if (request.out_dir) {
    std::set<std::string> names;
    for (const MapItem& item : request.items) {
      const std::string& name = OutputName(item);
      if (std::string e = MapOutputNameProblem(name); !e.empty())
        return MakeError(ErrorKind::kBadArguments, e);
      if (!names.insert(name).second)
        return MakeError(ErrorKind::kBadArguments, "two inputs would write the same output " +
                                                       (*request.out_dir / name).string());
    }
    // "a" and "a/b" cannot both be: one would be a file, the other needs it as a folder.
    for (auto it = names.begin(); it != names.end(); ++it) {
      auto next = std::next(it);
      if (next != names.end() && next->size() > it->size() &&
          next->compare(0, it->size(), *it) == 0 && (*next)[it->size()] == '/')
        return MakeError(ErrorKind::kBadArguments, "the outputs " + *it + " and " + *next +
                                                       " cannot both be written: " + *it +
                                                       " would have to be a folder");
    }
    std::error_code ec;
    fs::create_directories(*request.out_dir, ec);
    if (!fs::is_directory(*request.out_dir, ec))
      return MakeError(ErrorKind::kIo,
                       "--out " + request.out_dir->string() + " is not a folder that can be made");
    request.out_dir = fs::absolute(*request.out_dir, ec);
  }
  auto id = hooks_.reserve_id();
  if (!id.ok()) return id.error();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_.size() >= kMaxRunningJobs)
      return MakeError(ErrorKind::kLimitExceeded,
                       std::to_string(kMaxRunningJobs) + " map jobs are running already");
    if (Status s = journal_->Begin(*id, EncodeMapRequest(request), module->bytes()); !s.ok())
      return s.error();
  }
  return RunJob(*id, module, std::move(request), {}, false, cancel);
}

Result<MapSummary> MapService::RunJob(uint64_t id, const ModulePtr& module, MapRequest request,
                                      const std::vector<MapItemRecord>& done, bool resumed,
                                      const std::atomic<bool>* cancel) {
  auto on_output = std::move(request.on_output);
  request.on_output = nullptr;
  auto on_started = std::move(request.on_started);
  request.on_started = nullptr;
  auto run = std::make_unique<Run>(id, module, std::move(request), resumed);
  const MapRequest& q = run->request;
  for (const MapItemRecord& r : done) {
    if (!run->plan.Restore(r.item, r.ok)) continue;
    if (r.ok) {
      run->per_worker[r.node]++;
    } else {
      run->failures[r.item] = {r.item,  q.items[r.item].name, r.node, r.exit_code,
                               r.error, r.stderr_tail};
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_[id] = run.get();
  }
  // Only now: whoever is told the id finds the job in List() from here on.
  if (on_started) on_started(id);

  std::set<uint32_t> live;
  uint64_t next_refresh = 0, last_flush = NowMs(), no_workers_since = NowMs();
  std::string job_error;
  std::unique_lock<std::mutex> l(run->mu);
  for (;;) {
    const uint64_t now = NowMs();
    if (now >= next_refresh) {
      l.unlock();
      auto offered = hooks_.workers();
      l.lock();
      std::set<uint32_t> next;
      for (const auto& [worker, slots] : offered) {
        auto p = run->paused.find(worker);
        if (slots > 0 && (p == run->paused.end() || p->second <= now) &&
            !(q.exclude_self && worker == hooks_.self))
          next.insert(worker);
      }
      for (uint32_t w : live)
        if (!next.count(w) && !offered.count(w)) run->plan.LoseWorker(w);  // gone, not paused
      live = next;
      run->plan.SetWorkers(live);
      std::map<uint32_t, uint32_t> staffed;
      for (uint32_t w : live) staffed[w] = offered[w];
      StaffWorkers(run.get(), staffed);
      if (!live.empty()) no_workers_since = now;
      next_refresh = now + 200;
      run->cv.notify_all();
    }
    // Outputs whose turn came, in item order.
    std::vector<std::pair<uint64_t, Run::Held>> release;
    while (run->released < run->plan.frontier()) {
      uint64_t item = run->released++;
      auto h = run->held.find(item);
      if (h == run->held.end()) continue;
      run->held_bytes -= h->second.data.size();
      release.emplace_back(item, std::move(h->second));
      run->held.erase(h);
    }
    std::vector<MapItemRecord> flush;
    const bool finished = run->plan.Done() && run->released == q.items.size();
    if (run->unjournaled.size() >= kFlushItems || now - last_flush >= kFlushMs || finished) {
      flush.swap(run->unjournaled);
      last_flush = now;
    }
    const bool cancelled = (cancel && cancel->load()) || run->cancelled;
    if (!run->job_error.empty() && job_error.empty()) job_error = run->job_error;
    const bool stop = finished || cancelled || stopping_ || !run->journal_error.empty() ||
                      !job_error.empty() || now - no_workers_since > 30000;
    if (stop) {
      if (!finished && !cancelled && !stopping_ && run->journal_error.empty() && job_error.empty())
        job_error = "no worker for 30 s: neither this node nor a peer offers slots";
      run->cancel = true;
      run->cv.notify_all();
    }
    l.unlock();
    for (auto& [item, held] : release) {
      if (!held.file.empty()) {
        auto data = ReadPiece(held.file, 0, kMaxWasiOutputBytes + 1);
        std::error_code ec;
        fs::remove(held.file, ec);
        std::lock_guard<std::mutex> rl(run->mu);
        run->spooled_bytes -= std::min(run->spooled_bytes, held.spooled);
        if (!data.ok()) {
          run->job_error = "an output held in the spool was lost: " + data.error().message;
          break;
        }
        held.data = std::move(*data);
      }
      if (on_output) on_output(item, held.data);
      std::string().swap(held.data);  // one output in memory at a time, not the whole batch
    }
    if (!flush.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (Status st = journal_->AddItems(id, flush); !st.ok()) {
        std::lock_guard<std::mutex> rl(run->mu);
        run->journal_error = st.error().message;
      }
    }
    if (stop) break;
    l.lock();
    run->cv.wait_for(l, std::chrono::milliseconds(50), [&] {
      return run->released < run->plan.frontier() || run->unjournaled.size() >= kFlushItems ||
             (run->plan.Done() && run->released == q.items.size());
    });
  }
  for (auto& [serial, t] : run->threads) t.join();
  run->threads.clear();
  // What the dispatch threads finished while the loop was ending.
  std::vector<MapItemRecord> rest;
  {
    std::lock_guard<std::mutex> rl(run->mu);
    rest.swap(run->unjournaled);
    for (auto& [item, held] : run->held)
      if (!held.file.empty()) {
        std::error_code ec;
        fs::remove(held.file, ec);
      }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!rest.empty()) journal_->AddItems(id, rest);
  }
  MapSummary s;
  s.job = id;
  s.items = q.items.size();
  s.ok = run->plan.ok();
  for (auto& [item, f] : run->failures) s.failed.push_back(f);
  s.workers = run->per_worker;
  s.reruns = run->plan.reruns();
  s.elapsed_ms = static_cast<double>(NowMs() - run->started_ms);
  s.out = q.out_dir ? q.out_dir->string() : "";
  s.resumed = resumed;
  if (run->plan.Done()) {
    s.state = core::JobState::kDone;
  } else if (stopping_) {
    // Kept as running in the journal: the node's next start resumes it.
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(id);
    return MakeError(ErrorKind::kUnavailable, "this node stopped: map job " + std::to_string(id) +
                                                  " resumes when it starts again");
  } else if (!run->journal_error.empty() || !job_error.empty()) {
    s.state = core::JobState::kFailed;
    s.error =
        job_error.empty() ? "the journal cannot be written: " + run->journal_error : job_error;
  } else {
    s.state = core::JobState::kCancelled;
    s.error = "cancelled";
  }
  ended_[static_cast<size_t>(s.state)].fetch_add(1, std::memory_order_relaxed);
  // Journaled before it leaves the running list: `jobs --all` and `result` always find it.
  std::lock_guard<std::mutex> lock(mu_);
  if (Status st = journal_->Finish(s); !st.ok()) hooks_.log(st.error().message);
  finished_.reset();
  running_.erase(id);
  return s;
}

void MapService::StaffWorkers(Run* run, const std::map<uint32_t, uint32_t>& offered) {
  for (uint64_t serial : run->exited) {
    auto it = run->threads.find(serial);
    if (it == run->threads.end()) continue;
    it->second.join();  // it has returned (said so under run->mu, its last step)
    run->threads.erase(it);
  }
  run->exited.clear();
  for (const auto& [w, slots] : offered) {
    const uint32_t want = std::min(slots, kMaxSlotsPerWorker);
    while (run->dispatchers[w] < want && run->threads.size() < kMaxThreadsPerJob) {
      const uint64_t serial = run->next_thread++;
      try {
        run->threads.emplace(serial,
                             std::thread([this, run, w, serial] { Dispatch(run, w, serial); }));
      } catch (const std::system_error& e) {
        // No thread now (a process or memory limit): the job goes on with those it has.
        hooks_.log(std::string("map: a dispatch thread could not start: ") + e.what());
        return;
      }
      run->dispatchers[w]++;
    }
  }
}

void MapService::Dispatch(Run* run, uint32_t worker, uint64_t serial) {
  for (;;) {
    uint64_t item = 0;
    {
      std::unique_lock<std::mutex> l(run->mu);
      for (;;) {
        if (run->cancel || !run->plan.live(worker) || run->plan.Done()) {
          run->dispatchers[worker]--;
          run->exited.push_back(serial);
          run->cv.notify_all();
          return;
        }
        // Outputs waiting for an earlier one fill memory and the spool: only the item whose
        // turn it is may start, so the turn moves and they drain.
        const bool full = !run->request.out_dir &&
                          run->held_bytes + run->spooled_bytes >= kHeldBytes + kSpoolBytes;
        if (auto next = run->plan.Next(worker, full ? run->plan.frontier() + 1 : UINT64_MAX)) {
          item = *next;
          break;
        }
        run->cv.wait_for(l, std::chrono::milliseconds(50));
      }
    }
    RunItem(run, worker, item);
  }
}

void MapService::RunItem(Run* run, uint32_t worker, uint64_t item) {
  const MapRequest& q = run->request;
  const MapItem& input = q.items[item];
  CommandOptions o;
  o.local = worker == hooks_.self;
  o.target = o.local ? 0 : worker;
  o.timeout_ms = q.timeout_ms;
  o.max_memory_mib = q.max_memory_mib;
  o.args = q.args;
  o.env = q.env;
  o.env.push_back("VELUM_ITEM=" + std::to_string(item));
  o.env.push_back("VELUM_INPUT=" + input.name);
  if (input.file)
    o.stdin_file = *input.file;
  else
    o.stdin_bytes = input.bytes;
  const uint64_t start = NowMs();
  auto reply = hooks_.run(run->module, o, &run->cancel);
  const uint64_t elapsed_us = (NowMs() - start) * 1000;

  core::ItemOutcome outcome = core::ItemOutcome::kOk;
  MapItemRecord rec;
  rec.item = item;
  rec.node = worker;
  if (!reply.ok()) {
    const ErrorKind kind = reply.error().kind;
    // The node's trouble, not the item's: run it elsewhere, uncounted.
    outcome = kind == ErrorKind::kUnavailable || kind == ErrorKind::kCancelled
                  ? core::ItemOutcome::kLost
                  : core::ItemOutcome::kFailed;
    rec.error = reply.error().ToString();
  } else {
    rec.node = reply->node ? reply->node : worker;
    rec.exit_code = reply->exit_code;
    rec.stderr_tail = Tail(reply->stderr_data, kStderrTail);
    if (reply->failure) {
      outcome = core::ItemOutcome::kFailed;
      rec.error = reply->failure->ToString();
    } else if (reply->exit_code != 0) {
      outcome = core::ItemOutcome::kFailed;
      rec.error = "exit code " + std::to_string(reply->exit_code);
    } else if (reply->truncated) {
      outcome = core::ItemOutcome::kFailed;
      rec.error = "its output is over the cap of " + std::to_string(kMaxWasiOutputBytes) +
                  " bytes per stream";
    }
  }
  // The output is written aside now, and renamed into place only if this run is the one that
  // counts (a run of a worker given up on may still end after another's).
  std::optional<fs::path> prepared;
  std::string write_error;
  if (outcome == core::ItemOutcome::kOk && q.out_dir) {
    auto temp = PrepareOutput(*q.out_dir, OutputName(input), reply->stdout_data,
                              ".velum-map-" + std::to_string(run->id) + "-" + std::to_string(item) +
                                  "-" + std::to_string(run->attempts++) + ".tmp");
    if (!temp.ok()) {
      write_error = temp.error().message;
      outcome = core::ItemOutcome::kLost;  // not the item's fault: the job ends on it below
    } else {
      prepared = *temp;
    }
  }
  rec.ok = outcome == core::ItemOutcome::kOk;

  std::lock_guard<std::mutex> l(run->mu);
  if (!write_error.empty() && run->job_error.empty())
    run->job_error = "the output of " + input.name + " cannot be written: " + write_error;
  const bool mine =
      run->plan.state(item) == core::ItemState::kRunning && run->plan.worker(item) == worker;
  if (!mine) {  // its worker was given up on, and the item handed to another
    if (prepared) unlink(prepared->c_str());
    return;
  }
  core::ItemState state = run->plan.Finish(item, worker, outcome, elapsed_us);
  if (state == core::ItemState::kOk) {
    items_ok_.fetch_add(1, std::memory_order_relaxed);
  } else if (state == core::ItemState::kFailed) {
    items_failed_.fetch_add(1, std::memory_order_relaxed);
  } else if (state == core::ItemState::kWaiting) {
    reruns_.fetch_add(1, std::memory_order_relaxed);  // handed back: it runs again
  }
  if (prepared) {
    const fs::path final_path = *q.out_dir / OutputName(input);
    if (state != core::ItemState::kOk) {
      unlink(prepared->c_str());
    } else if (rename(prepared->c_str(), final_path.c_str()) != 0) {
      const int why = errno;
      unlink(prepared->c_str());
      if (run->job_error.empty())
        run->job_error = "cannot write " + final_path.string() + ": " + std::strerror(why);
    }
  }
  if (state == core::ItemState::kOk) {
    run->per_worker[rec.node]++;
    run->unjournaled.push_back(rec);
    if (!q.out_dir && reply.ok()) {
      Run::Held h;
      if (run->held_bytes + reply->stdout_data.size() <= kHeldBytes) {
        h.data = std::move(reply->stdout_data);
        run->held_bytes += h.data.size();
      } else {
        // Too much waits for earlier items: this one waits on disk.
        h.file = hooks_.spool / ("map-" + std::to_string(run->id) + "-" + std::to_string(item));
        std::error_code ec;
        fs::create_directories(hooks_.spool, ec);
        Status st = WriteOutput(hooks_.spool, h.file.filename().string(), reply->stdout_data,
                                h.file.filename().string() + ".tmp");
        if (st.ok()) {
          h.spooled = reply->stdout_data.size();
          run->spooled_bytes += h.spooled;
        } else if (run->job_error.empty()) {
          run->job_error = "an output could not wait in the spool: " + st.error().message;
        }
      }
      run->held[item] = std::move(h);
    }
  } else if (state == core::ItemState::kFailed) {
    run->failures[item] = {item, input.name, rec.node, rec.exit_code, rec.error, rec.stderr_tail};
    run->unjournaled.push_back(rec);
  } else if (outcome == core::ItemOutcome::kLost) {
    // Its other runs end as they will; it takes nothing new for a while.
    run->plan.PauseWorker(worker);
    run->paused[worker] = NowMs() + kWorkerPauseMs;
  }
  run->cv.notify_all();
}

MapFigures MapService::Figures() {
  MapFigures f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    f.running = running_.size();
  }
  for (size_t i = 0; i < f.ended.size(); i++)
    f.ended[i] = ended_[i].load(std::memory_order_relaxed);
  f.items_ok = items_ok_.load(std::memory_order_relaxed);
  f.items_failed = items_failed_.load(std::memory_order_relaxed);
  f.reruns = reruns_.load(std::memory_order_relaxed);
  return f;
}

bool MapService::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(id);
  if (it == running_.end()) return false;
  it->second->cancelled = true;
  it->second->cv.notify_all();
  return true;
}

std::vector<MapSummary> MapService::List() {
  std::vector<MapSummary> list;
  std::lock_guard<std::mutex> lock(mu_);
  std::set<uint64_t> live;
  for (auto& [id, run] : running_) {
    std::lock_guard<std::mutex> rl(run->mu);
    MapSummary s;
    s.job = id;
    s.items = run->request.items.size();
    s.ok = run->plan.ok();
    for (auto& [item, f] : run->failures) s.failed.push_back(f);
    s.workers = run->per_worker;
    s.reruns = run->plan.reruns();
    s.elapsed_ms = static_cast<double>(NowMs() - run->started_ms);
    s.out = run->request.out_dir ? run->request.out_dir->string() : "";
    s.resumed = run->resumed;
    list.push_back(std::move(s));
    live.insert(id);
  }
  if (!finished_) {
    std::vector<MapSummary> finished;
    if (auto jobs = journal_->Load(/*summaries_only=*/true); jobs.ok()) {
      for (auto& j : *jobs)
        if (j.state != core::JobState::kRunning) finished.push_back(std::move(j.summary));
      finished_ = std::move(finished);  // a failed read is tried again next time
    }
  }
  if (finished_)
    for (const MapSummary& f : *finished_)
      if (!live.count(f.job)) list.push_back(f);
  std::sort(list.begin(), list.end(),
            [](const MapSummary& a, const MapSummary& b) { return a.job > b.job; });
  return list;
}

}  // namespace velum
