// Compiling modules ahead of time: wasm2c to C, glue, then cc -shared, each step a child
// process with a time limit; a large module's C is compiled as parallel units, then linked.
// The shared object is written atomically into the cache.
#include "runtime/aot_compiler.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/assert.h"
#include "runtime/aot_abi.h"
#include "runtime/aot_codegen.h"
#include "runtime/aot_rewrite.h"
#include "runtime/aot_split.h"
#include "runtime/home.h"
#include "runtime/process.h"

#ifndef VELUM_WASM_RT_INCLUDE
#define VELUM_WASM_RT_INCLUDE "/usr/include"
#endif

namespace velum {

namespace fs = std::filesystem;

namespace {

// Where a program found on PATH lives, with its size and mtime: changes when it is upgraded.
std::string ProgramIdentity(const std::string& program) {
  std::string path = FindProgram(program);
  std::error_code ec;
  fs::path real = fs::canonical(path.empty() ? program : path, ec);
  struct stat st {};
  if (ec || stat(real.c_str(), &st) != 0) return program;
  return real.string() + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtime);
}

bool WriteFile(const fs::path& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  return static_cast<bool>(out);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& output) {
  std::string text = output.size() > 600 ? "..." + output.substr(output.size() - 600) : output;
  for (auto& c : text)
    if (c == '\n') c = ' ';
  return text;
}

std::string ToolFailure(const std::string& tool, const ProcessResult& r) {
  std::string why = r.timed_out ? "timed out"
                    : r.signal  ? "crashed (signal " + std::to_string(r.signal) + ")"
                                : "failed";
  return tool + " " + why + ": " + Tail(r.output);
}

// Flags every compile needs for correctness; part of the cache key like the user's flags.
const char* const kRequiredFlags[] = {
    "-shared", "-fPIC", "-w", "-I" VELUM_WASM_RT_INCLUDE,
    // Memory growth goes through the host, which enforces limits.
    "-Dwasm_rt_grow_memory=velum_rt_grow_memory",
    "-Dwasm_rt_allocate_memory=velum_rt_allocate_memory",
    "-Dwasm_rt_free_memory=velum_rt_free_memory",
    // Stack exhaustion is detected by the native stack overflowing:
    // turning (indirect) self-recursion into a loop would make an
    // unbounded recursion spin forever instead of trapping.
    "-fno-optimize-sibling-calls",
    // x - 0.0, x * 1.0 and x / 1.0 must quiet a signaling NaN as
    // Wasm requires; without this GCC folds them to x.
    "-fsignaling-nans"};

}  // namespace

AotCompiler::AotCompiler(AotOptions options) : options_(std::move(options)) {
  if (options_.cc.empty()) {
    const char* cc = std::getenv("CC");
    options_.cc = cc && *cc ? cc : "cc";
  }
  if (options_.cache_dir.empty()) options_.cache_dir = DefaultHome() / "aot";
  identity_ = "abi" + std::to_string(VELUM_AOT_ABI_VERSION) + ";" + ProgramIdentity(options_.cc) +
              ";" + ProgramIdentity(options_.wasm2c);
  for (const char* f : kRequiredFlags) identity_ += std::string(";") + f;
  for (const auto& f : options_.cflags) identity_ += ";" + f;
  // Which modules are split and where changes the objects built (hidden symbols, units), so
  // it is part of the key; how many units run at once does not.
  const AotUnits& u = options_.units;
  identity_ += ";split" + std::to_string(kAotSplitVersion) + ":" +
               std::to_string(u.split_above_c_bytes) + ":" + std::to_string(u.unit_c_bytes) + ":" +
               std::to_string(u.max_units) + ":" + u.split_opt_flag;
}

Status AotCompiler::Available() const {
  if (!ProgramExists(options_.wasm2c))
    return MakeError(ErrorKind::kCompilerUnavailable, options_.wasm2c + " not found");
  if (!ProgramExists(options_.cc))
    return MakeError(ErrorKind::kCompilerUnavailable, "C compiler '" + options_.cc + "' not found");
  return {};
}

fs::path AotCompiler::CachePath(const std::vector<ModulePtr>& modules) const {
  std::string key = identity_;
  for (const auto& m : modules) key += ";" + m->hash_hex();
  ModuleHash digest = HashBytes(reinterpret_cast<const uint8_t*>(key.data()), key.size());
  return options_.cache_dir / (HashToHex(digest) + ".so");
}

std::optional<fs::path> AotCompiler::Cached(const std::vector<ModulePtr>& modules) const {
  fs::path path = CachePath(modules);
  std::error_code ec;
  if (fs::exists(path, ec)) return path;
  return std::nullopt;
}

namespace {
// An exclusive advisory lock on a file, held for the object's lifetime (released by the
// kernel if the process dies). If the file cannot be opened, nothing is locked: concurrent
// compiles of one module are only wasteful, never wrong (the final rename is atomic).
// The file is removed when the lock is let go, so the cache does not keep one per module: a
// process still waiting on the removed file then finds the object, or compiles it again.
class CacheLock {
 public:
  explicit CacheLock(std::string path)
      : path_(std::move(path)), fd_(open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0)
      while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~CacheLock() {
    if (fd_ < 0) return;
    // Only if the name is still this file: another process may have made a new one since.
    struct stat mine {
    }, named{};
    if (fstat(fd_, &mine) == 0 && stat(path_.c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
        mine.st_dev == named.st_dev)
      unlink(path_.c_str());
    close(fd_);
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  std::string path_;
  int fd_;
};

constexpr char kScratchPrefix[] = "build-";
constexpr char kScratchLock[] = ".lock";

// A private scratch folder in the cache, removed with everything in it on scope exit. A lock
// on its .lock file, held while it exists, tells RemoveLeftovers that its compile is running.
class ScratchDir {
 public:
  explicit ScratchDir(const fs::path& parent) {
    std::string tmpl = (parent / (std::string(kScratchPrefix) + "XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) return;
    path_ = tmpl;
    lock_fd_ = open((path_ / kScratchLock).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ >= 0) flock(lock_fd_, LOCK_EX | LOCK_NB);  // new: nobody else has it
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
    if (lock_fd_ >= 0) close(lock_fd_);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  int lock_fd_ = -1;
};

// Whether nobody holds `path`'s lock now; if so, calls remove() while holding it.
template <typename Remove>
bool RemoveIfUnlocked(const fs::path& path, Remove remove) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (free) remove();
  close(fd);
  return free;
}

Status RunWasm2c(const AotOptions& options, const Module& module, const fs::path& dir,
                 const std::string& prefix) {
  fs::path wasm = dir / (prefix + ".wasm"), csrc = dir / (prefix + ".c");
  // wasm2c sees only generated names (see aot_rewrite.h): no byte of a name chosen by the
  // module's author may reach the C compiler.
  auto rewritten = RewriteForWasm2c(module.bytes());
  if (!rewritten.ok()) return rewritten.error();
  if (!WriteFile(wasm, rewritten->bytes.data(), rewritten->bytes.size()))
    return MakeError(ErrorKind::kIo, "cannot write " + wasm.string());
  ProcessResult w2c = RunProcess({options.wasm2c, wasm.string(), "-n", prefix, "-o", csrc.string()},
                                 options.timeout, options.tool_limits);
  if (w2c.ok()) return {};
  return MakeError(ErrorKind::kCompilerFailed, ToolFailure("wasm2c", w2c));
}
// Splits `prefix`.c in `dir` when it is over the split size: rewrites it as the split's main
// part and writes the units, each after `preamble`, returning their paths. An output the
// split does not recognise is compiled whole, as before the split existed (no units).
Result<std::vector<fs::path>> SplitUnits(const AotUnits& units, const fs::path& dir,
                                         const std::string& prefix, const std::string& preamble) {
  std::vector<fs::path> paths;
  fs::path csrc = dir / (prefix + ".c");
  std::error_code ec;
  uint64_t size = fs::file_size(csrc, ec);
  if (ec) return MakeError(ErrorKind::kIo, "cannot read " + csrc.string());
  if (size <= units.split_above_c_bytes) return paths;
  auto split = SplitWasm2cSource(ReadFile(csrc), prefix, units.unit_c_bytes, units.max_units);
  if (!split.ok()) return paths;
  for (size_t u = 0; u < split->units.size(); u++) {
    fs::path path = dir / (prefix + "_unit" + std::to_string(u) + ".c");
    std::string text = preamble + split->units[u];
    if (!WriteFile(path, text.data(), text.size()))
      return MakeError(ErrorKind::kIo, "cannot write " + path.string());
    paths.push_back(path);
  }
  if (!WriteFile(csrc, split->main.data(), split->main.size()))
    return MakeError(ErrorKind::kIo, "cannot write " + csrc.string());
  return paths;
}

// One translation unit to compile, and whether its module was split (large: split_opt_flag).
struct Unit {
  fs::path source;
  bool large = false;
};

// Compiles each of `units` to an object beside it with at most max_parallel_units cc at once,
// the largest first (the longest job starts early). The first failure stops further starts;
// the running ones finish (each is bounded by the tool timeout) before it is returned.
Result<std::vector<fs::path>> CompileUnits(const AotOptions& options,
                                           const std::vector<std::string>& flags,
                                           std::vector<Unit> units) {
  VELUM_ASSERT(options.units.max_parallel_units >= 1);
  std::error_code ec;
  std::stable_sort(units.begin(), units.end(), [&](const Unit& a, const Unit& b) {
    return fs::file_size(a.source, ec) > fs::file_size(b.source, ec);
  });
  std::vector<fs::path> objects;
  for (const auto& u : units) objects.push_back(fs::path(u.source).replace_extension(".o"));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string failure;  // guarded by mu
  auto worker = [&] {
    while (!failed) {
      size_t i = next++;
      if (i >= units.size()) return;
      std::vector<std::string> argv = {options.cc};
      argv.insert(argv.end(), flags.begin(), flags.end());
      // After the user's flags: the last -O wins.
      if (units[i].large) argv.push_back(options.units.split_opt_flag);
      argv.insert(argv.end(), {"-c", units[i].source.string(), "-o", objects[i].string()});
      ProcessResult r = RunProcess(argv, options.timeout, options.tool_limits);
      if (r.ok()) continue;
      std::lock_guard<std::mutex> lock(mu);
      if (!failed.exchange(true)) failure = ToolFailure(options.cc, r);
    }
  };
  size_t workers = std::min<size_t>(options.units.max_parallel_units, units.size());
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; w++) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (failed) return MakeError(ErrorKind::kCompilerFailed, failure);
  return objects;
}

}  // namespace

Status AotCompiler::Translatable(const ModulePtr& module) {
  if (auto available = Available(); !available.ok()) return available.error();
  if (!EnsureDirectory(options_.cache_dir))
    return MakeError(ErrorKind::kIo, "cannot create " + options_.cache_dir.string());
  ScratchDir dir(options_.cache_dir);
  if (dir.path().empty()) return MakeError(ErrorKind::kIo, "cannot create a build directory");
  return RunWasm2c(options_, *module, dir.path(), "m0");
}

Status AotCompiler::WithinBudget(const ModulePtr& module) const {
  return CheckAotBudget(module->bytes(), options_.budget);
}

void AotCompiler::RemoveLeftovers() const {
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  auto stale_before = now - 2 * options_.timeout;
  // A scratch folder is made, then its lock taken: one this young may be between the two.
  auto settled_before = now - std::chrono::seconds(10);
  for (fs::directory_iterator it(options_.cache_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path path = it->path();
    std::string name = path.filename().string();
    std::error_code entry_ec;
    if (name.rfind(kScratchPrefix, 0) == 0 && it->is_directory(entry_ec)) {
      auto remove = [&] { fs::remove_all(path, entry_ec); };
      auto made = it->last_write_time(entry_ec);
      if (entry_ec) continue;
      if (fs::exists(path / kScratchLock, entry_ec)) {
        if (made < settled_before) RemoveIfUnlocked(path / kScratchLock, remove);
      } else if (made < stale_before) {
        remove();  // from before scratch folders had locks, or killed before taking it
      }
    } else if (path.extension() == ".lock" && it->is_regular_file(entry_ec)) {
      RemoveIfUnlocked(path, [&] { unlink(path.c_str()); });
    }
  }
}

Result<fs::path> AotCompiler::Compile(const std::vector<ModulePtr>& modules) {
  if (auto cached = Cached(modules)) return *cached;
  for (const auto& m : modules)
    if (Status s = WithinBudget(m); !s.ok()) return s.error();
  if (auto available = Available(); !available.ok()) return available.error();
  if (!EnsureDirectory(options_.cache_dir))
    return MakeError(ErrorKind::kIo, "cannot create " + options_.cache_dir.string());

  fs::path target = CachePath(modules);
  // Nodes sharing a home share the cache: one process compiles a module, the others wait for
  // it (a lock per cache entry; the holder's compile has a time limit) and load the result.
  CacheLock lock(target.string() + ".lock");
  if (auto cached = Cached(modules)) return *cached;
  ScratchDir scratch(options_.cache_dir);
  const fs::path& dir = scratch.path();
  if (dir.empty()) return MakeError(ErrorKind::kIo, "cannot create a build directory");

  std::vector<Unit> units;  // the glue unit of each module, then its split units if any
  bool split = false;
  for (size_t i = 0; i < modules.size(); i++) {
    std::string prefix = "m" + std::to_string(i);
    if (Status s = RunWasm2c(options_, *modules[i], dir, prefix); !s.ok()) return s.error();
    auto glue =
        GenerateAotGlue(*modules[i], prefix, ReadFile(dir / (prefix + ".h")), prefix + ".c");
    if (!glue.ok()) return glue.error();
    fs::path glue_path = dir / (prefix + "_glue.c");
    if (!WriteFile(glue_path, glue->glue.data(), glue->glue.size()))
      return MakeError(ErrorKind::kIo, "cannot write " + glue_path.string());
    auto split_units = SplitUnits(options_.units, dir, prefix, glue->preamble);
    if (!split_units.ok()) return split_units.error();
    bool large = !split_units->empty();
    split = split || large;
    units.push_back({glue_path, large});
    for (const auto& path : *split_units) units.push_back({path, true});
  }

  fs::path out = dir / "out.so";
  std::vector<std::string> flags(std::begin(kRequiredFlags), std::end(kRequiredFlags));
  flags.insert(flags.end(), options_.cflags.begin(), options_.cflags.end());
  std::vector<std::string> cc = {options_.cc};
  if (!split) {
    // Small modules: one cc both compiles and links, as before the split existed.
    cc.insert(cc.end(), flags.begin(), flags.end());
    for (const auto& u : units) cc.push_back(u.source.string());
  } else {
    flags.erase(std::find(flags.begin(), flags.end(), std::string("-shared")));
    auto objects = CompileUnits(options_, flags, units);
    if (!objects.ok()) return objects.error();
    VELUM_ASSERT(objects->size() == units.size());
    cc.insert(cc.end(), {"-shared", "-fPIC"});
    for (const auto& o : *objects) cc.push_back(o.string());
  }
  cc.push_back("-o");
  cc.push_back(out.string());
  ProcessResult build = RunProcess(cc, options_.timeout, options_.tool_limits);
  if (!build.ok()) return MakeError(ErrorKind::kCompilerFailed, ToolFailure(options_.cc, build));
  // rename() is atomic: concurrent compilers of the same module both succeed, one wins.
  std::error_code ec;
  fs::rename(out, target, ec);
  if (ec) return MakeError(ErrorKind::kIo, "cannot store " + target.string() + ": " + ec.message());
  return target;
}

}  // namespace velum
