// Executor processes: spawning, request/response with deadlines, replacement after a death,
// and the auto engine policy (interpreter while compiling, a native copy races it when ready).
#include "runtime/executor_pool.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "runtime/channel.h"
#include "runtime/disk_module_store.h"
#include "runtime/executor.h"
#include "runtime/home.h"
#include "runtime/sandbox.h"

extern char** environ;

#ifndef VELUM_EXECUTOR_BUILD_PATH
#define VELUM_EXECUTOR_BUILD_PATH "velum-executor"
#endif

namespace velum {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct ExecutorPool::Slot {
  int pid = -1;
  int fd = -1;
  int exit_status = 0;        // of the last process that died in this slot
  std::string bound_object;   // the AOT object its executor loaded before confinement, or ""
  std::set<ModuleHash> held;  // modules its executor holds (it mirrors kExecutorModuleCache)
  // Its executor is a files one (ExecutorMode::kFiles): it runs one call and is ended after.
  bool files = false;
  // No executor: the last was a files one. One is started when the slot is next used, so a
  // run of calls with directories does not start an executor for nothing between two.
  bool vacant = false;
};

namespace {

// The installed layout (PREFIX/bin, PREFIX/lib, PREFIX/libexec/velum) seen from the
// directory of a binary in bin or lib; empty if there is no executor there.
std::string InstalledExecutor(const fs::path& binary_dir) {
  std::error_code ec;
  fs::path candidate = binary_dir / ".." / "libexec" / "velum" / "velum-executor";
  if (!binary_dir.empty() && fs::exists(candidate, ec))
    return candidate.lexically_normal().string();
  return {};
}

// The directory of the binary holding this code: libvelum.so when embedded, else the program.
fs::path CodeDirectory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&CodeDirectory), &info) == 0 || !info.dli_fname) return {};
  std::error_code ec;
  fs::path binary = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : binary.parent_path();
}

std::string FindExecutor(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("VELUM_EXECUTOR"); env && *env) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path beside = self.parent_path() / "velum-executor";
    if (fs::exists(beside, ec)) return beside.string();
    fs::path in_build = self.parent_path() / "build" / "velum-executor";
    if (fs::exists(in_build, ec)) return in_build.string();
  }
  if (std::string lib = InstalledExecutor(CodeDirectory()); !lib.empty()) return lib;
  if (std::string bin = InstalledExecutor(self.parent_path()); !bin.empty()) return bin;
  return VELUM_EXECUTOR_BUILD_PATH;
}

// Descriptors the pool opened for one call (its preopened directories), closed when the call
// ends: the executor has its own copies by then.
class CallFds {
 public:
  CallFds() = default;
  ~CallFds() {
    for (int fd : fds_) close(fd);
  }
  CallFds(const CallFds&) = delete;
  CallFds& operator=(const CallFds&) = delete;
  void Add(int fd) { fds_.push_back(fd); }
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

// Opens a call's preopened directories, in order, into `out`. Done in the caller's process,
// unconfined: the executor gets descriptors, never a path.
Status OpenPreopens(const std::vector<CallSpec::Wasi::Preopen>& preopens, CallFds* out) {
  if (preopens.size() > kMaxPreopens)
    return MakeError(ErrorKind::kLimitExceeded, std::to_string(preopens.size()) +
                                                    " preopened directories: at most " +
                                                    std::to_string(kMaxPreopens));
  for (const auto& p : preopens) {
    if (p.guest.empty() || p.guest.size() > kMaxPreopenGuestPath ||
        p.guest.find('\0') != std::string::npos)
      return MakeError(ErrorKind::kBadArguments, "the directory " + p.host.string() +
                                                     " needs a name for the program "
                                                     "(not empty, no NUL, at most " +
                                                     std::to_string(kMaxPreopenGuestPath) +
                                                     " bytes)");
    int fd = open(p.host.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return MakeError(ErrorKind::kIo, "cannot open the directory " + p.host.string() + ": " +
                                           std::strerror(errno));
    out->Add(fd);
  }
  return {};
}

// Opens a WASI command's stdin file into `out`: a regular file (never a FIFO or a device,
// which could block the executor forever), read-only, in the caller's process.
Status OpenStdinFile(const std::filesystem::path& file, CallFds* out) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st {};
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    close(fd);
    return MakeError(ErrorKind::kBadArguments, "stdin " + file.string() + " is not a regular file");
  }
  if (fd < 0)
    return MakeError(ErrorKind::kIo,
                     "cannot open stdin " + file.string() + ": " + std::strerror(errno));
  out->Add(fd);
  return {};
}

Error DeathError(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return MakeError(ErrorKind::kExecutorCrashed,
                     "executor killed by signal " + std::to_string(sig) + " (" + strsignal(sig) +
                         ")" +
                         (sig == SIGSYS ? ": a system call outside the sandbox's allow-list" : ""));
  }
  return MakeError(ErrorKind::kExecutorCrashed,
                   "executor exited with status " + std::to_string(WEXITSTATUS(status)));
}

}  // namespace

ExecutorPool::ExecutorPool(PoolOptions options) : options_(std::move(options)) {
  if (options_.home.empty()) options_.home = DefaultHome();
  if (options_.aot.cache_dir.empty()) options_.aot.cache_dir = options_.home / "aot";
  options_.executor_path = FindExecutor(options_.executor_path);
  if (options_.slots == 0) options_.slots = 1;
  if (options_.compile_jobs == 0) options_.compile_jobs = 1;
  compiler_ = AotCompiler(options_.aot);
  disk_ = std::make_unique<DiskCache>(
      DiskCacheOptions{{options_.home / "modules", options_.aot.cache_dir},
                       options_.max_cache_bytes,
                       options_.cache_grace});
}

ExecutorPool::~ExecutorPool() {
  std::deque<QueuedCompile> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(compile_queue_);
  }
  compile_cv_.notify_all();
  for (auto& q : dropped)
    q.done->set_value(MakeError(ErrorKind::kCancelled, "the executor pool is stopping"));
  for (auto& thread : compile_threads_) thread.join();  // the running compiles end first
  for (auto& slot : slots_) {
    if (slot->fd >= 0) close(slot->fd);  // the executor sees EOF and exits
    if (slot->pid > 0) {
      kill(slot->pid, SIGKILL);
      waitpid(slot->pid, nullptr, 0);
    }
  }
}

Status ExecutorPool::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!slots_.empty()) return {};
  if (!EnsureDirectory(options_.home / "modules"))
    return MakeError(ErrorKind::kIo, "cannot create " + (options_.home / "modules").string());
  // What a killed process left behind, then the cap (nothing is in use yet).
  compiler_.RemoveLeftovers();
  DiskModuleStore::RemoveLeftovers(options_.home / "modules", options_.cache_grace);
  stats_.cache_evictions += disk_->Trim().size();
  for (size_t i = 0; i < options_.slots; i++) {
    auto slot = std::make_unique<Slot>();
    // The first executor says what its confinement got: the same for all, so said once.
    if (!Spawn(slot.get(), i == 0))
      return MakeError(ErrorKind::kInternal, "cannot start executor " + options_.executor_path);
    if (i == 0) {
      if (Status s = ReadConfinementReport(slot.get()); !s.ok()) {
        close(slot->fd);  // the executor was ended and reaped by ReadConfinementReport
        return s;
      }
    }
    free_.push_back(slot.get());
    slots_.push_back(std::move(slot));
  }
  return {};
}

Status ExecutorPool::ReadConfinementReport(Slot* slot) {
  pollfd p{slot->fd, POLLIN, 0};
  std::vector<uint8_t> frame;
  SandboxReport report;
  if (poll(&p, 1, 10000) > 0 && ReadFrame(slot->fd, &frame) &&
      SandboxReport::Decode(frame, &report)) {
    confinement_ = report.Describe();
    namespaces_ = report.namespaces;
    return {};
  }
  int status = 0;
  if (slot->pid > 0) {
    kill(slot->pid, SIGKILL);
    waitpid(slot->pid, &status, 0);
  }
  slot->pid = -1;
  return MakeError(ErrorKind::kInternal, "executor " + options_.executor_path +
                                             " could not confine itself (" +
                                             DeathError(status).message + ")");
}

bool ExecutorPool::Spawn(Slot* slot, bool report) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 3);  // dup2 clears close-on-exec
  // Nothing else of the parent's (a node's sockets, other executors' channels) may stay open
  // in the sandbox: a crashed node's links must reset at once, not when its executors exit.
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  std::string path = options_.executor_path, fd = "3",
              data = std::to_string(options_.max_data_bytes), parent = std::to_string(getpid()),
              bind = "--bind", report_flag = "--report", cpu_flag = "--cpu-seconds",
              cpu = std::to_string(options_.executor_cpu_seconds), files_flag = "--files";
  std::vector<char*> argv = {path.data(),   fd.data(),       data.data(),
                             parent.data(), cpu_flag.data(), cpu.data()};
  // A files executor loads its object only once its call's Landlock layer is in place.
  if (slot->files) argv.push_back(files_flag.data());
  if (!slot->bound_object.empty()) {
    argv.push_back(bind.data());
    argv.push_back(slot->bound_object.data());
  }
  if (report) argv.push_back(report_flag.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return false;
  }
  slot->pid = pid;
  slot->fd = sv[0];
  slot->held.clear();
  stats_.executors_started++;
  if (slot->files) stats_.files_executors++;
  return true;
}

void ExecutorPool::Vacate(Slot* slot) {
  // A files executor exits once it has answered; one that would not is ended all the same.
  if (slot->pid > 0) {
    kill(slot->pid, SIGKILL);
    int status = 0;
    waitpid(slot->pid, &status, 0);
    slot->exit_status = status;
  }
  if (slot->fd >= 0) close(slot->fd);
  slot->pid = slot->fd = -1;
  slot->held.clear();
  slot->files = false;
  slot->vacant = true;
}

void ExecutorPool::Respawn(Slot* slot, bool files) {
  Vacate(slot);
  slot->vacant = false;
  slot->files = files;
  std::lock_guard<std::mutex> lock(mu_);
  Spawn(slot);
}

void ExecutorPool::Replace(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.executors_replaced++;
  }
  Respawn(slot);
}

ExecutorPool::Slot* ExecutorPool::Acquire(bool wait, const std::string& object, bool files) {
  Slot* slot = nullptr;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (wait) free_cv_.wait(lock, [&] { return !free_.empty(); });
    if (free_.empty()) return nullptr;
    // The most recently used executor (warm caches), or for native code one already bound to
    // the object; failing that, rebind an unbound one, else the one idle the longest. A files
    // executor takes a vacant slot, else that of the unbound one idle the longest, else the one
    // idle the longest; any other call a slot with an executor, if there is one.
    auto pick = free_.end() - 1;
    if (files) {
      auto vacant = std::find_if(free_.begin(), free_.end(), [](Slot* s) { return s->vacant; });
      auto unbound =
          std::find_if(free_.begin(), free_.end(), [](Slot* s) { return s->bound_object.empty(); });
      pick = vacant != free_.end() ? vacant : unbound != free_.end() ? unbound : free_.begin();
    } else if (!object.empty() && (*pick)->bound_object != object) {
      auto bound = std::find_if(free_.rbegin(), free_.rend(),
                                [&](Slot* s) { return s->bound_object == object; });
      auto unbound = std::find_if(free_.rbegin(), free_.rend(),
                                  [](Slot* s) { return s->bound_object.empty(); });
      pick = bound != free_.rend()     ? std::next(bound).base()
             : unbound != free_.rend() ? std::next(unbound).base()
                                       : free_.begin();
    } else if ((*pick)->vacant) {
      auto live = std::find_if(free_.rbegin(), free_.rend(), [](Slot* s) { return !s->vacant; });
      if (live != free_.rend()) pick = std::next(live).base();
    }
    slot = *pick;
    free_.erase(pick);
  }
  if (files) {
    slot->bound_object = object;
    Respawn(slot, /*files=*/true);
    return slot;
  }
  if (!object.empty() && slot->bound_object != object) {
    slot->bound_object = object;
    if (!slot->vacant) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.executors_rebound++;
    }
    Respawn(slot);
    return slot;
  }
  if (slot->vacant) {
    Respawn(slot);
    return slot;
  }
  // An idle executor never writes: a readable channel means it died (EOF) while idle, e.g.
  // killed from outside. Replace it before handing it out, so no call pays for that.
  pollfd p{slot->fd, POLLIN, 0};
  if (slot->fd < 0 || poll(&p, 1, 0) != 0) Replace(slot);
  return slot;
}

Status ExecutorPool::Send(Slot* slot, ExecRequest req, const ModulePtr& module,
                          const std::vector<int>& dirs) {
  int module_fd = -1;
  req.module_attached = !slot->held.count(module->hash());
  if (req.module_attached) {
    if (slot->held.size() >= kExecutorModuleCache) {
      req.reset_module_cache = true;
      slot->held.clear();
    }
    // The executor cannot open the store: it gets a read-only descriptor of the entry. An
    // entry deleted under us (a cleared home) is written again.
    for (int attempt = 0; attempt < 2 && module_fd < 0; attempt++) {
      auto path = StoreModule(module);
      if (!path.ok()) return path.error();
      module_fd = open(path->c_str(), O_RDONLY | O_CLOEXEC);
      if (module_fd < 0) Forget(module->hash());
    }
    if (module_fd < 0)
      return MakeError(ErrorKind::kIo,
                       std::string("cannot open the stored module: ") + std::strerror(errno));
  }
  std::vector<int> fds;
  if (module_fd >= 0) fds.push_back(module_fd);
  fds.insert(fds.end(), dirs.begin(), dirs.end());
  bool sent = WriteFrame(slot->fd, req.Encode(), fds);
  if (module_fd >= 0) close(module_fd);
  if (!sent) return MakeError(ErrorKind::kExecutorCrashed, "executor unavailable");
  return {};
}

void ExecutorPool::Release(Slot* slot) {
  // A files executor serves one call, whatever became of it (here too when it was never sent).
  if (slot->files) Vacate(slot);
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
  }
  free_cv_.notify_one();
}

Result<std::string> ExecutorPool::StoreModule(const ModulePtr& module) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = stored_.find(module->hash()); it != stored_.end()) return it->second;
  }
  auto path = DiskModuleStore::WriteFile(options_.home / "modules", module);
  if (!path.ok()) return path.error();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Bounded; a miss costs a read of the stored file (WriteFile checks it is the module's).
    if (stored_.size() >= 1024) stored_.clear();
    stored_[module->hash()] = path->string();
  }
  CachePin pin(disk_.get(), *path);  // the caller's own pin comes after this returns
  TrimCache();
  return path->string();
}

void ExecutorPool::TrimCache() {
  std::vector<fs::path> removed = disk_->Trim();
  if (removed.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.cache_evictions += removed.size();
  for (const auto& path : removed) {
    std::erase_if(stored_, [&](const auto& e) { return e.second == path.string(); });
    std::erase_if(compiled_, [&](const auto& e) { return e.second == path; });
  }
}

std::optional<fs::path> ExecutorPool::CachedObject(const ModulePtr& module) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = compiled_.find(module->hash()); it != compiled_.end()) return it->second;
  }
  auto so = compiler_.Cached({module});
  if (so) {
    std::lock_guard<std::mutex> lock(mu_);
    if (compiled_.size() >= 1024) compiled_.clear();
    compiled_[module->hash()] = *so;
  }
  return so;
}

void ExecutorPool::Forget(const ModuleHash& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  stored_.erase(hash);
  compiled_.erase(hash);
}

bool ExecutorPool::AotReady(const ModulePtr& module) const {
  return compiler_.Cached({module}).has_value();
}

std::optional<Error> ExecutorPool::CompileFailure(const ModulePtr& module) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = failed_.find(module->hash()); it != failed_.end()) return it->second;
  return std::nullopt;
}

bool ExecutorPool::RememberFailure(const ModuleHash& hash, const Error& error) {
  if (failed_.count(hash)) return false;
  while (!failed_order_.empty() && failed_order_.size() >= options_.max_failed_compiles) {
    failed_.erase(failed_order_.front());
    failed_order_.pop_front();
  }
  failed_.emplace(hash, error);
  failed_order_.push_back(hash);
  stats_.compiles_failed++;
  return true;
}

void ExecutorPool::PrepareAot(const ModulePtr& module) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || compiles_.count(module->hash()) || failed_.count(module->hash())) return;
  }
  if (CachedObject(module)) return;
  // Over the budget: never queued, remembered like a failed compile (checked once per module).
  Status budget = compiler_.WithinBudget(module);
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_ || compiles_.count(module->hash()) || failed_.count(module->hash())) return;
  if (!budget.ok()) {
    bool first = RememberFailure(module->hash(), budget.error());
    lock.unlock();
    if (first && options_.on_compile_failed) options_.on_compile_failed(module, budget.error());
    return;
  }
  if (compile_queue_.size() >= options_.max_queued_compiles) {
    stats_.compiles_refused++;
    return;
  }
  auto done = std::make_shared<std::promise<Result<fs::path>>>();
  compiles_[module->hash()] = done->get_future().share();
  compile_queue_.push_back({module, std::move(done)});
  if (compile_threads_.size() < options_.compile_jobs)
    compile_threads_.emplace_back([this] { CompileLoop(); });
  compile_cv_.notify_one();
}

void ExecutorPool::CompileLoop() {
  for (;;) {
    QueuedCompile job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      compile_cv_.wait(lock, [&] { return stopping_ || !compile_queue_.empty(); });
      if (compile_queue_.empty()) return;  // stopping
      job = std::move(compile_queue_.front());
      compile_queue_.pop_front();
      stats_.compiles++;
    }
    Result<fs::path> result = compiler_.Compile({job.module});
    bool first_failure = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      compiles_.erase(job.module->hash());
      if (result.ok()) {
        if (compiled_.size() >= 1024) compiled_.clear();
        compiled_[job.module->hash()] = *result;
      } else {
        first_failure = RememberFailure(job.module->hash(), result.error());
      }
    }
    if (first_failure && options_.on_compile_failed)
      options_.on_compile_failed(job.module, result.error());
    if (result.ok()) {
      CachePin pin(disk_.get(), *result);  // the new object is in use as soon as it exists
      TrimCache();
    }
    job.done->set_value(std::move(result));
  }
}

Result<fs::path> ExecutorPool::CompileNow(const ModulePtr& module) {
  PrepareAot(module);
  std::shared_future<Result<fs::path>> future;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = failed_.find(module->hash()); it != failed_.end()) return it->second;
    if (auto it = compiles_.find(module->hash()); it != compiles_.end()) future = it->second;
  }
  if (future.valid()) return future.get();
  if (auto so = CachedObject(module)) return *so;
  return MakeError(ErrorKind::kLimitExceeded, "the compile queue is full (" +
                                                  std::to_string(options_.max_queued_compiles) +
                                                  " waiting): not compiled now");
}

PoolStats ExecutorPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<int> ExecutorPool::pids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> out;
  for (const auto& s : slots_) out.push_back(s->pid);
  return out;
}

namespace {

// Reads one response from a slot's executor; on failure the executor died.
bool ReadResponse(int fd, ExecResponse* out) {
  std::vector<uint8_t> frame;
  return ReadFrame(fd, &frame) && ExecResponse::Decode(frame, out);
}

}  // namespace

Result<CallOutcome> ExecutorPool::Call(const CallSpec& spec) {
  auto start = Clock::now();
  // Reject what can be rejected without running anything.
  if (!spec.func.empty() || !spec.fold) {
    auto exported = spec.module->FindFunction(spec.func);
    if (!exported.ok()) return exported.error();
    if (spec.args.size() != (*exported)->sig.params.size())
      return MakeError(ErrorKind::kBadArguments,
                       "expected " + std::to_string((*exported)->sig.params.size()) +
                           " arguments " + (*exported)->sig.ToString());
  }
  if (spec.fold) {
    auto combine = spec.module->FindFunction(spec.fold->func);
    if (!combine.ok()) return combine.error();
    const size_t arity = spec.fold->arity, n = spec.fold->values.size();
    if (arity == 0 || (*combine)->sig.params.size() != 2 * size_t{arity} || n % arity != 0 ||
        n > kMaxFoldValues || (spec.func.empty() && n == 0))
      return MakeError(ErrorKind::kBadArguments,
                       "a fold of " + std::to_string(n) + " values in tuples of " +
                           std::to_string(arity) + " through " + spec.fold->func + " " +
                           (*combine)->sig.ToString());
  }
  if (Status s = Start(); !s.ok()) return s.error();
  auto stored = StoreModule(spec.module);
  if (!stored.ok()) return stored.error();
  // Files this call's executors read stay in the cache until it ends.
  CachePin module_pin(disk_.get(), *stored);
  std::optional<CachePin> object_pin;

  ExecRequest req;
  req.module_hash = spec.module->hash_hex();
  req.func = spec.func;
  req.args = spec.args;
  if (spec.fold) {
    req.fold_func = spec.fold->func;
    req.fold_arity = spec.fold->arity;
    req.fold_values = spec.fold->values;
  }
  req.max_memory_pages = spec.max_memory_pages;
  req.timeout_ms = static_cast<uint64_t>(spec.timeout.count());
  // The directories are opened before an executor is taken: one that cannot be is said at once.
  CallFds dirs;
  if (spec.wasi) {
    req.wasi = true;
    req.wasi_args = spec.wasi->args;
    req.wasi_env = spec.wasi->env;
    req.wasi_max_output_bytes = spec.wasi->max_output_bytes;
    if (spec.wasi->stdin_data) {
      if (spec.wasi->stdin_data->size() > kMaxWasiStdinBytes)
        return MakeError(ErrorKind::kLimitExceeded,
                         "stdin of " + std::to_string(spec.wasi->stdin_data->size()) +
                             " bytes: a WASI command is given at most " +
                             std::to_string(kMaxWasiStdinBytes) + " bytes of stdin");
      req.wasi_stdin_given = true;
      req.wasi_stdin = *spec.wasi->stdin_data;
    }
    req.wasi_stream = static_cast<bool>(spec.wasi->on_output);
    if (Status s = OpenPreopens(spec.wasi->preopens, &dirs); !s.ok()) return s.error();
    for (const auto& p : spec.wasi->preopens) req.wasi_preopens.push_back({p.guest, p.read_only});
    if (spec.wasi->stdin_file) {  // last beside the frame, after the directories
      if (req.wasi_stdin_given)
        return MakeError(ErrorKind::kInternal, "stdin given both as bytes and as a file");
      if (Status s = OpenStdinFile(*spec.wasi->stdin_file, &dirs); !s.ok()) return s.error();
      req.wasi_stdin_attached = true;
    }
  }
  const bool files = !req.wasi_preopens.empty();

  CallOutcome outcome;
  bool race = false;  // auto, not compiled yet: a native copy may overtake the interpreter
  req.engine = EngineKind::kInterp;
  if (spec.engine == EngineKind::kAot) {
    auto so = CompileNow(spec.module);
    if (so.ok()) {
      req.engine = EngineKind::kAot;
      req.shared_object = so->string();
      object_pin.emplace(disk_.get(), *so);
    } else {
      outcome.note = so.error().ToString() + "; using the interpreter";
    }
  } else if (spec.engine == EngineKind::kAuto) {
    if (auto so = CachedObject(spec.module)) {
      req.engine = EngineKind::kAot;
      req.shared_object = so->string();
      object_pin.emplace(disk_.get(), *so);
    } else {
      PrepareAot(spec.module);
      // A WASI program runs once, on the engine ready when it starts: a native copy racing
      // it would read the same stdin (each would see part of it) and redo its effects.
      if (auto failure = CompileFailure(spec.module))
        outcome.note = failure->ToString() + "; using the interpreter";
      else
        race = !spec.wasi;
    }
  }

  // The deadline covers running the code, not compiling it (which has its own time limit).
  auto deadline = Clock::now() + spec.timeout;
  Slot* a = Acquire(true, req.shared_object, files);
  Slot* b = nullptr;  // the native copy, once started
  std::shared_future<Result<fs::path>> compile;
  if (race) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = compiles_.find(spec.module->hash()); it != compiles_.end()) compile = it->second;
  }
  if (Status sent = Send(a, req, spec.module, dirs.fds()); !sent.ok()) {
    if (sent.error().kind == ErrorKind::kExecutorCrashed) Replace(a);
    Release(a);
    return sent.error();
  }

  ExecResponse resp;
  Slot* winner = nullptr;
  const bool streaming = spec.wasi && spec.wasi->on_output;
  bool answered = false, lost = false;  // streaming: the response was read, or the executor lost
  while (!winner) {
    // Poll in short steps while a race may still begin or the caller may cancel; otherwise
    // wait for the deadline.
    auto step = (race && !b) || spec.cancel
                    ? std::min(deadline, Clock::now() + std::chrono::milliseconds(20))
                    : deadline;
    pollfd fds[2] = {{a->fd, POLLIN, 0}, {b ? b->fd : -1, POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(step - Clock::now()).count();
    int n = poll(fds, b ? 2 : 1, static_cast<int>(std::clamp<int64_t>(left, 0, 1000)));
    if (n > 0) {
      winner = (b && (fds[1].revents & (POLLIN | POLLHUP))) ? b : a;
      if (!(fds[winner == a ? 0 : 1].revents & (POLLIN | POLLHUP | POLLERR))) winner = nullptr;
      // A streaming command's output frames come before its response: each is handed on, and
      // the wait goes on (a command is never raced, so `a` is the only executor).
      if (winner && streaming) {
        std::vector<uint8_t> frame;
        ExecOutput out;
        if (!ReadFrame(winner->fd, &frame)) {
          lost = true;
        } else if (ExecOutput::IsOutput(frame)) {
          if (!ExecOutput::Decode(frame, &out)) {
            lost = true;  // a confused executor: replaced, as a dead one
          } else {
            spec.wasi->on_output(out.stream, out.data);
            winner = nullptr;  // then the checks below: a chatty program still meets its deadline
          }
        } else if (!ExecResponse::Decode(frame, &resp)) {
          lost = true;
        }
        answered = !lost;
      }
      if (winner) break;
    }
    if (spec.cancel && spec.cancel->load()) {
      Replace(a);
      Release(a);
      if (b) Replace(b), Release(b);
      return MakeError(ErrorKind::kCancelled, "the call was cancelled; executor stopped");
    }
    if (Clock::now() >= deadline) {
      Replace(a);
      Release(a);
      if (b) Replace(b), Release(b);
      return MakeError(
          ErrorKind::kDeadlineExceeded,
          "no answer within " + std::to_string(spec.timeout.count()) + " ms; executor killed");
    }
    if (race && !b && compile.valid() &&
        compile.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      race = false;
      if (compile.get().ok() && (b = Acquire(false, compile.get()->string()))) {
        ExecRequest native = req;
        native.engine = EngineKind::kAot;
        native.shared_object = compile.get()->string();
        object_pin.emplace(disk_.get(), *compile.get());
        if (Status sent = Send(b, native, spec.module); !sent.ok()) {
          if (sent.error().kind == ErrorKind::kExecutorCrashed) Replace(b);
          Release(b);
          b = nullptr;
        }
      }
    }
  }
  Slot* loser = winner == a ? b : a;
  if (loser) Replace(loser), Release(loser);  // mid-call: the only safe stop is a kill
  outcome.engine = winner == b ? EngineKind::kAot : req.engine;
  if (lost || (!answered && !ReadResponse(winner->fd, &resp))) {
    Replace(winner);
    Error e = DeathError(winner->exit_status);
    Release(winner);
    return e;
  }
  if (resp.module_held)
    winner->held.insert(spec.module->hash());
  else
    winner->held.erase(spec.module->hash());
  // An object that would not load (deleted, corrupt) is not retried in this executor: the
  // next native call restarts it bound afresh.
  if (outcome.engine == EngineKind::kAot && !resp.ok &&
      resp.error.kind == ErrorKind::kCompilerFailed)
    winner->bound_object.clear();
  if (winner->files) {  // it exits after this answer (and is ended if it would not)
    Vacate(winner);
  } else if (resp.retiring) {  // it exits after this answer: half its CPU budget is spent
    Respawn(winner);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.executors_retired++;
  }
  Release(winner);
  outcome.elapsed = Clock::now() - start;
  if (!resp.ok) {
    // The store's file or the cached object may be gone (a home cleared under a running
    // node): the next call looks again instead of trusting what was remembered.
    if (resp.error.kind == ErrorKind::kIo || resp.error.kind == ErrorKind::kCompilerFailed)
      Forget(spec.module->hash());
    // A WASI program that trapped (an assert, a panic) said why on its stderr first: its
    // output comes back with the failure.
    if (!spec.wasi || (resp.stdout_data.empty() && resp.stderr_data.empty())) return resp.error;
    outcome.failure = resp.error;
  }
  outcome.values = std::move(resp.values);
  outcome.exit_code = resp.exit_code;
  outcome.output_truncated = resp.output_truncated;
  outcome.stdout_data = std::move(resp.stdout_data);
  outcome.stderr_data = std::move(resp.stderr_data);
  return outcome;
}

}  // namespace velum
