// The embedding API for C++, header-only over velum.h: a Mesh object owns this process's
// node (RAII), calls and scatters give results or future-like handles; errors throw.
//
//   velum::Mesh mesh(1);                                         // node 1, port 8001
//   mesh.WaitPeers(1, std::chrono::seconds(5));
//   velum::Job job = mesh.Scatter("primes.wasm", "count_primes", 0, 500000);
//   while (job.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
//     std::printf("%.0f%%\n", job.progress() * 100);
//   std::printf("%lld\n", (long long)job.get().integer());      // 41538
//   std::printf("%lld\n", (long long)mesh.Call("sum.wasm", "sum", {"10", "20", "30"}).integer());
//   velum::CommandOptions wc;                                   // a WASI command, run here
//   wc.stdin_data = "one two\n";
//   std::printf("%s", mesh.RunCommand("wc.wasm", wc).stdout_data.c_str());
//   velum::MapOptions m;                                        // once per file, on the mesh
//   m.on_output = [](uint64_t item, std::string_view out) { std::cout << out; };
//   mesh.Map("checksum.wasm", velum::MapInputs({"photos/"}), m);  // outputs in file order
//
// Needs C++17. Thread safety is that of velum.h: Mesh methods may be called from any thread;
// one Job or Task object is used by one thread at a time.
#ifndef VELUM_VELUM_HPP_
#define VELUM_VELUM_HPP_

#include <velum/velum.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace velum {

// A failure: code() is one of the VELUM_ERR_* codes, what() the one-line message.
class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

namespace detail {
inline void Check(int code) {
  if (code < 0) throw Error(code, velum_last_error());
}
inline int WaitMs(std::chrono::nanoseconds d) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return ms < 0 ? 0 : ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}
}  // namespace detail

// A successful result: values, and the figures of the run through operator->.
class Result {
 public:
  Result() : r_() {}
  explicit Result(const velum_result& r) : r_(r) {}

  size_t size() const { return r_.nvalues; }
  const velum_value& operator[](size_t i) const { return r_.values[i]; }
  // Value i as an integer (i32 or i64); throws for a float or a missing value.
  int64_t integer(size_t i = 0) const {
    Require(i);
    if (r_.values[i].type == VELUM_I32) return r_.values[i].as.i32;
    if (r_.values[i].type == VELUM_I64) return r_.values[i].as.i64;
    throw Error(VELUM_ERR_INVALID_ARGUMENT, "result " + std::to_string(i) + " is a float");
  }
  // Value i as a double, whatever its type.
  double number(size_t i = 0) const {
    Require(i);
    switch (r_.values[i].type) {
      case VELUM_I32:
        return r_.values[i].as.i32;
      case VELUM_I64:
        return static_cast<double>(r_.values[i].as.i64);
      case VELUM_F32:
        return r_.values[i].as.f32;
      case VELUM_F64:
        return r_.values[i].as.f64;
    }
    return 0;
  }
  // result->node, result->elapsed_ms, result->workers, result->reassigned, ...
  const velum_result* operator->() const { return &r_; }
  const velum_result& c() const { return r_; }

 private:
  void Require(size_t i) const {
    if (i >= r_.nvalues)
      throw Error(VELUM_ERR_INVALID_ARGUMENT, "no result " + std::to_string(i) + " (there are " +
                                                  std::to_string(r_.nvalues) + ")");
  }
  velum_result r_;
};

namespace detail {
inline Result Checked(const velum_result& r) {
  if (r.code != VELUM_OK) throw Error(r.code, r.error);
  return Result(r);
}
}  // namespace detail

// A scatter job in flight (from Mesh::Scatter). Move-only; the destructor releases the
// handle without cancelling the job.
class Job {
 public:
  Job() = default;
  explicit Job(velum_job* job) : job_(job) {}
  Job(Job&& other) noexcept : job_(std::exchange(other.job_, nullptr)) {}
  Job& operator=(Job&& other) noexcept {
    if (this != &other) {
      velum_job_release(job_);
      job_ = std::exchange(other.job_, nullptr);
    }
    return *this;
  }
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job() { velum_job_release(job_); }

  bool valid() const { return job_ != nullptr; }
  uint64_t id() const { return velum_job_id(job_); }
  // Blocks until the job ends; its result, or throws Error (failed, cancelled, ...).
  Result get() {
    velum_result r;
    velum_job_wait(job_, -1, &r);
    return detail::Checked(r);
  }
  void wait() { velum_job_wait(job_, -1, nullptr); }
  template <typename Rep, typename Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) {
    int code = velum_job_wait(job_, detail::WaitMs(d), nullptr);
    return code == VELUM_PENDING ? std::future_status::timeout : std::future_status::ready;
  }
  double progress() const { return velum_job_progress(job_); }
  // What the slices of a WASI export wrote, once the job has ended (velum_job_output).
  struct Output {
    uint32_t node;
    int64_t start, end;
    velum_stream stream;
    std::string data;
    bool truncated;
  };
  std::vector<Output> output(bool* incomplete = nullptr) const {
    std::vector<Output> out;
    size_t n = velum_job_output_count(job_, incomplete);
    for (size_t i = 0; i < n; i++) {
      velum_output o;
      if (velum_job_output(job_, i, &o) == VELUM_OK)
        out.push_back({o.node, o.start, o.end, o.stream, std::string(o.data, o.size), o.truncated});
    }
    return out;
  }
  // True if the job was cancelled now, false if it had already ended.
  bool cancel() { return velum_job_cancel(job_) == VELUM_OK; }
  velum_job* c() const { return job_; }

 private:
  velum_job* job_ = nullptr;
};

// One call in flight (from Mesh::Run). Move-only; the destructor releases the handle without
// cancelling the call.
class Task {
 public:
  Task() = default;
  explicit Task(velum_call* call) : call_(call) {}
  Task(Task&& other) noexcept : call_(std::exchange(other.call_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      velum_call_release(call_);
      call_ = std::exchange(other.call_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { velum_call_release(call_); }

  bool valid() const { return call_ != nullptr; }
  Result get() {
    velum_result r;
    velum_call_wait(call_, -1, &r);
    return detail::Checked(r);
  }
  void wait() { velum_call_wait(call_, -1, nullptr); }
  template <typename Rep, typename Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) {
    int code = velum_call_wait(call_, detail::WaitMs(d), nullptr);
    return code == VELUM_PENDING ? std::future_status::timeout : std::future_status::ready;
  }
  bool cancel() { return velum_call_cancel(call_) == VELUM_OK; }
  velum_call* c() const { return call_; }

 private:
  velum_call* call_ = nullptr;
};

// velum_options with strings and lists; the defaults are velum_options_default's.
struct Options {
  Options() {
    velum_options d;
    velum_options_default(&d);
    port = d.port;
    discovery_port = d.discovery_port;
    broadcast = d.broadcast;
    slots = d.slots;
    engine = d.engine;
    max_module_mib = d.max_module_mib;
    max_memory_mib = d.max_memory_mib;
    max_call_ms = d.max_call_ms;
    log = d.log;
    compile_jobs = d.compile_jobs;
    max_cache_mib = d.max_cache_mib;
  }
  uint32_t node_id = 0;
  uint16_t port;
  uint16_t discovery_port;
  bool broadcast;
  std::string home, bind, advertise, cluster_key;  // empty: the default
  std::vector<std::string> joins, beacons;
  uint32_t slots;
  velum_engine engine;
  uint32_t max_module_mib, max_memory_mib, max_call_ms;
  velum_log log;
  uint32_t compile_jobs, max_cache_mib;
};

// velum_scatter_options, filled with the defaults. ReduceWith("name") makes an export of
// the module the reducer (VELUM_REDUCE_EXPORT); the name is kept here, copies included.
struct ScatterOptions : velum_scatter_options {
  ScatterOptions() : velum_scatter_options() { velum_scatter_options_default(this); }
  ScatterOptions& ReduceWith(std::string export_name) {
    reducer = VELUM_REDUCE_EXPORT;
    reduce_export_name = std::move(export_name);
    return *this;
  }
  std::string reduce_export_name;  // VELUM_REDUCE_EXPORT: passed as reduce_export
};

// A directory a command may reach (velum_dir): guest empty means host as written.
struct Dir {
  std::string host, guest;
  bool read_only = false;
};

// velum_command_options with strings and lists; the defaults are
// velum_command_options_default's. stdin_data is the program's whole stdin (empty: none).
struct CommandOptions {
  CommandOptions() {
    velum_command_options d;
    velum_command_options_default(&d);
    engine = d.engine;
    timeout = std::chrono::milliseconds(d.timeout_ms);
    max_memory_mib = d.max_memory_mib;
    max_output_bytes = d.max_output_bytes;
  }
  std::string argv0;  // empty: the file's name
  std::vector<std::string> args, env;
  std::string stdin_data;
  std::vector<Dir> dirs;
  velum_engine engine;
  std::chrono::milliseconds timeout;
  uint32_t max_memory_mib;
  uint64_t max_output_bytes;
  // Set: each write as it arrives (stream 1 stdout, 2 stderr); the result's output is empty.
  // It must not throw (it is called from inside the library).
  std::function<void(int stream, std::string_view data)> on_output;
  bool on_mesh = false;  // run on the mesh: on the best node, or on `node` (see velum.h)
  uint32_t node = 0;
  std::string out_dir;  // with on_mesh: where the files of the program's /out are written
};

// What a command did, copied out of its velum_command.
struct CommandResult {
  uint32_t exit_code = 0;
  uint32_t node = 0;  // the node that ran it
  bool output_truncated = false;
  std::string stdout_data, stderr_data;
};

// A cancel token (velum_cancel) for Mesh::Map: Cancel() from any thread stops every map given
// it, now or at its start. Neither copied nor moved: maps hold its address.
class CancelToken {
 public:
  CancelToken() : c_(velum_cancel_create()) {
    if (!c_) throw Error(VELUM_ERR_INTERNAL, "out of memory");
  }
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;
  ~CancelToken() { velum_cancel_release(c_); }
  void Cancel() { velum_cancel_trigger(c_); }
  velum_cancel* c() const { return c_; }

 private:
  velum_cancel* c_;
};

// One item of a map (velum_map_item): its bytes are the file at `path`, or `data` when path is
// empty. out_name empty: its output under out_dir is named `name`.
struct MapItem {
  std::string name, out_name, path, data;
};

// The items the shell's `map ... ::: PATH...` makes of paths (velum_map_inputs_collect): files,
// the files of folders (sorted; subfolders if `recursive`), or with `lines` each line of them.
// Throws Error.
inline std::vector<MapItem> MapInputs(const std::vector<std::string>& paths, bool recursive = false,
                                      bool lines = false) {
  std::vector<const char*> p;
  for (const auto& s : paths) p.push_back(s.c_str());
  velum_map_inputs* in = velum_map_inputs_collect(p.data(), p.size(), recursive, lines);
  if (!in) throw Error(velum_last_error_code(), velum_last_error());
  size_t n = 0;
  const velum_map_item* items = velum_map_inputs_items(in, &n);
  std::vector<MapItem> out;
  out.reserve(n);
  for (size_t i = 0; i < n; i++) {
    const velum_map_item& it = items[i];
    std::string data;
    if (!it.path && it.size) data.assign(static_cast<const char*>(it.data), it.size);
    out.push_back(
        {it.name, it.out_name ? it.out_name : "", it.path ? it.path : "", std::move(data)});
  }
  velum_map_inputs_release(in);
  return out;
}

// velum_map_options with strings and lists; the defaults are velum_map_options_default's.
struct MapOptions {
  MapOptions() {
    velum_map_options d;
    velum_map_options_default(&d);
    retries = d.retries;
    timeout = std::chrono::milliseconds(d.timeout_ms);
    max_memory_mib = d.max_memory_mib;
  }
  std::string argv0;  // empty: the file's name
  std::vector<std::string> args, env;
  uint32_t retries;
  std::chrono::milliseconds timeout;  // per item
  uint32_t max_memory_mib;
  bool exclude_self = false;
  std::string out_dir;  // set: outputs are written here (on_output must be empty)
  // Set: each output in item order, on the calling thread. If it throws, later outputs are
  // not delivered and Map rethrows the exception once the job has ended.
  std::function<void(uint64_t item, std::string_view output)> on_output;
  const CancelToken* cancel = nullptr;
};

// A failed item of a map.
struct MapFailure {
  uint64_t item = 0;
  std::string name;
  uint32_t node = 0, exit_code = 0;
  std::string error, stderr_tail;
};

// What a map did (velum_map_summary), copied out.
struct MapResult {
  uint64_t job = 0, items = 0, ok = 0, reruns = 0;
  double elapsed_ms = 0;
  std::string out_dir;                   // absolute; empty without one
  std::vector<MapFailure> failed;        // by item
  std::map<uint32_t, uint64_t> workers;  // items each node ran ok
};

// This process's node in the mesh: the constructor starts it (throws Error), the destructor
// leaves the mesh. One Mesh at a time per process.
class Mesh {
 public:
  explicit Mesh(const Options& o) {
    std::vector<const char*> joins, beacons;
    for (const auto& j : o.joins) joins.push_back(j.c_str());
    for (const auto& b : o.beacons) beacons.push_back(b.c_str());
    velum_options c;
    velum_options_default(&c);
    c.node_id = o.node_id;
    c.port = o.port;
    c.discovery_port = o.discovery_port;
    c.broadcast = o.broadcast;
    c.home = o.home.empty() ? nullptr : o.home.c_str();
    c.bind = o.bind.empty() ? nullptr : o.bind.c_str();
    c.advertise = o.advertise.empty() ? nullptr : o.advertise.c_str();
    c.cluster_key = o.cluster_key.empty() ? nullptr : o.cluster_key.c_str();
    c.joins = joins.data();
    c.njoins = joins.size();
    c.beacons = beacons.data();
    c.nbeacons = beacons.size();
    c.slots = o.slots;
    c.engine = o.engine;
    c.max_module_mib = o.max_module_mib;
    c.max_memory_mib = o.max_memory_mib;
    c.max_call_ms = o.max_call_ms;
    c.log = o.log;
    c.compile_jobs = o.compile_jobs;
    c.max_cache_mib = o.max_cache_mib;
    detail::Check(velum_init_with(&c));
  }
  explicit Mesh(uint32_t node_id, uint16_t port = 0) { detail::Check(velum_init(node_id, port)); }
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;
  ~Mesh() { velum_shutdown(); }

  uint32_t id() const { return velum_node_id(); }
  size_t peers_alive() const { return velum_peers_alive(); }
  // Blocks until n peers are alive; throws Error (VELUM_ERR_TIMEOUT) after `timeout`.
  void WaitPeers(size_t n, std::chrono::milliseconds timeout) const {
    detail::Check(velum_wait_peers(n, detail::WaitMs(timeout)));
  }

  // One call of `func` on the best node; blocks. Arguments as text, typed by the export.
  Result Call(const std::string& path, const std::string& func,
              const std::vector<std::string>& args = {}) const {
    std::vector<const char*> argv = Argv(args);
    return detail::Checked(
        velum_spawn_wasm(path.c_str(), func.c_str(), static_cast<int>(argv.size()), argv.data()));
  }
  // The same without blocking: module and arguments are checked now (throws Error).
  Task Run(const std::string& path, const std::string& func,
           const std::vector<std::string>& args = {}) const {
    std::vector<const char*> argv = Argv(args);
    velum_call* call = velum_spawn_wasm_async(path.c_str(), func.c_str(),
                                              static_cast<int>(argv.size()), argv.data());
    if (!call) throw Error(velum_last_error_code(), velum_last_error());
    return Task(call);
  }
  // Scatters `func` over [start, end) on the mesh; returns at once (throws Error if the job
  // cannot be submitted). job.get() blocks for the reduced result.
  // A job this node coordinates, by id: running, or finished and kept by its journal (also
  // from before a restart); throws Error if the node knows no such job. get() gives its
  // result (or throws its failure), output() its output.
  Job OpenJob(uint64_t id) {
    velum_job* job = velum_job_open(id);
    if (!job) throw Error(velum_last_error_code(), velum_last_error());
    return Job(job);
  }
  Job Scatter(const std::string& path, const std::string& func, int64_t start, int64_t end,
              const ScatterOptions& options = ScatterOptions()) const {
    velum_scatter_options o = options;
    if (options.reducer == VELUM_REDUCE_EXPORT && !options.reduce_export_name.empty())
      o.reduce_export = options.reduce_export_name.c_str();
    velum_job* job = velum_scatter_async(path.c_str(), func.c_str(), start, end, &o);
    if (!job) throw Error(velum_last_error_code(), velum_last_error());
    return Job(job);
  }
  // Runs the WASI command at `path` on this node or the mesh (velum_run_command); blocks
  // until it exits.
  // A nonzero exit code is a result; throws Error when it cannot run or does not exit.
  CommandResult RunCommand(const std::string& path,
                           const CommandOptions& options = CommandOptions()) const {
    std::vector<const char*> args = Argv(options.args), env = Argv(options.env);
    std::vector<velum_dir> dirs;
    for (const auto& d : options.dirs)
      dirs.push_back({d.host.c_str(), d.guest.empty() ? nullptr : d.guest.c_str(), d.read_only});
    velum_command_options c;
    velum_command_options_default(&c);
    c.argv0 = options.argv0.empty() ? nullptr : options.argv0.c_str();
    c.args = args.data();
    c.nargs = args.size();
    c.env = env.data();
    c.nenv = env.size();
    c.stdin_data = options.stdin_data.data();
    c.stdin_size = options.stdin_data.size();
    c.dirs = dirs.data();
    c.ndirs = dirs.size();
    c.engine = options.engine;
    auto ms = options.timeout.count();
    c.timeout_ms = ms < 0 ? 0 : ms > 0xffffffff ? 0xffffffffu : static_cast<uint32_t>(ms);
    c.max_memory_mib = options.max_memory_mib;
    c.max_output_bytes = options.max_output_bytes;
    if (options.on_output) {
      c.on_output = [](void* context, int stream, const char* data, size_t size) {
        (*static_cast<const std::function<void(int, std::string_view)>*>(context))(
            stream, std::string_view(data, size));
      };
      c.output_context = const_cast<void*>(static_cast<const void*>(&options.on_output));
    }
    c.on_mesh = options.on_mesh;
    c.node = options.node;
    c.out_dir = options.out_dir.empty() ? nullptr : options.out_dir.c_str();
    velum_command* command = velum_run_command(path.c_str(), &c);
    if (!command) throw Error(velum_last_error_code(), velum_last_error());
    CommandResult r;
    size_t size = 0;
    const char* data = velum_command_stdout(command, &size);
    r.stdout_data.assign(data, size);
    data = velum_command_stderr(command, &size);
    r.stderr_data.assign(data, size);
    r.exit_code = velum_command_exit_code(command);
    r.node = velum_command_node(command);
    r.output_truncated = velum_command_truncated(command);
    velum_command_release(command);
    return r;
  }

  // Runs the WASI command at `path` once per item over the mesh (velum_map); blocks until
  // every item has ended. Failed items are in the result; throws Error when the map cannot
  // start, or is cancelled (VELUM_ERR_CANCELLED) or fails as a whole (VELUM_ERR_JOB_FAILED).
  MapResult Map(const std::string& path, const std::vector<MapItem>& items,
                const MapOptions& options = MapOptions()) const {
    std::vector<const char*> args = Argv(options.args), env = Argv(options.env);
    std::vector<velum_map_item> c_items(items.size());
    for (size_t i = 0; i < items.size(); i++) {
      const MapItem& it = items[i];
      c_items[i].name = it.name.c_str();
      c_items[i].out_name = it.out_name.empty() ? nullptr : it.out_name.c_str();
      c_items[i].path = it.path.empty() ? nullptr : it.path.c_str();
      c_items[i].data = it.path.empty() ? it.data.data() : nullptr;
      c_items[i].size = it.path.empty() ? it.data.size() : 0;
    }
    velum_map_options c;
    velum_map_options_default(&c);
    c.argv0 = options.argv0.empty() ? nullptr : options.argv0.c_str();
    c.args = args.data();
    c.nargs = args.size();
    c.env = env.data();
    c.nenv = env.size();
    c.retries = options.retries;
    auto ms = options.timeout.count();
    c.timeout_ms = ms < 0 ? 0 : ms > 0xffffffff ? 0xffffffffu : static_cast<uint32_t>(ms);
    c.max_memory_mib = options.max_memory_mib;
    c.exclude_self = options.exclude_self;
    c.out_dir = options.out_dir.empty() ? nullptr : options.out_dir.c_str();
    struct Delivery {
      const MapOptions* options;
      std::exception_ptr thrown;
    } delivery{&options, nullptr};
    if (options.on_output) {
      c.on_output = [](void* context, uint64_t item, const char* data, size_t size) {
        auto* d = static_cast<Delivery*>(context);
        if (d->thrown) return;
        try {
          d->options->on_output(item, std::string_view(data, size));
        } catch (...) {
          d->thrown = std::current_exception();
        }
      };
      c.output_context = &delivery;
    }
    c.cancel = options.cancel ? options.cancel->c() : nullptr;
    velum_map_summary* s = nullptr;
    int code = velum_map(path.c_str(), c_items.data(), c_items.size(), &c, &s);
    std::string message = code == VELUM_OK ? std::string() : velum_last_error();
    MapResult r;
    if (s) {
      r.job = velum_map_summary_job(s);
      r.items = velum_map_summary_items(s);
      r.ok = velum_map_summary_ok(s);
      r.reruns = velum_map_summary_reruns(s);
      r.elapsed_ms = velum_map_summary_elapsed_ms(s);
      r.out_dir = velum_map_summary_out_dir(s);
      for (size_t i = 0, n = velum_map_summary_failure_count(s); i < n; i++) {
        velum_map_failure f;
        if (velum_map_summary_failure(s, i, &f) == VELUM_OK)
          r.failed.push_back({f.item, f.name, f.node, f.exit_code, f.error,
                              std::string(f.stderr_tail, f.stderr_size)});
      }
      for (size_t i = 0, n = velum_map_summary_node_count(s); i < n; i++) {
        uint32_t node = 0;
        uint64_t count = 0;
        if (velum_map_summary_node(s, i, &node, &count) == VELUM_OK) r.workers[node] = count;
      }
      velum_map_summary_release(s);
    }
    if (delivery.thrown) std::rethrow_exception(delivery.thrown);
    if (code != VELUM_OK) throw Error(code, message);
    return r;
  }

 private:
  static std::vector<const char*> Argv(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return argv;
  }
};

}  // namespace velum

#endif  // VELUM_VELUM_HPP_
