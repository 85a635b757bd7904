// The executor's request loop and the encoding of its requests and responses.
// Modules are cached by hash; every call gets a fresh instance so no call sees another's state.
#include "runtime/executor.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <optional>

#include "runtime/aot_engine.h"
#include "runtime/channel.h"
#include "runtime/interp_engine.h"
#include "runtime/module.h"
#include "runtime/sandbox.h"
#include "runtime/wasi.h"

namespace velum {

std::vector<uint8_t> ExecRequest::Encode() const {
  FrameWriter w;
  w.U8(module_attached);
  w.U8(reset_module_cache);
  w.Str(module_hash);
  w.U8(static_cast<uint8_t>(engine));
  w.Str(shared_object);
  w.Str(func);
  w.U32(static_cast<uint32_t>(args.size()));
  for (const auto& a : args) w.Val(a);
  w.Str(fold_func);
  w.U32(fold_arity);
  w.U32(static_cast<uint32_t>(fold_values.size()));
  for (const auto& v : fold_values) w.Val(v);
  w.U32(max_memory_pages);
  w.U64(timeout_ms);
  w.U8(wasi);
  for (const auto* list : {&wasi_args, &wasi_env}) {
    w.U32(static_cast<uint32_t>(list->size()));
    for (const auto& s : *list) w.Str(s);
  }
  w.U64(wasi_max_output_bytes);
  w.U32(static_cast<uint32_t>(wasi_preopens.size()));
  for (const auto& p : wasi_preopens) {
    w.Str(p.guest_path);
    w.U8(p.read_only);
  }
  w.U8(wasi_stdin_given);
  w.Str(wasi_stdin);
  w.U8(wasi_stream);
  w.U8(wasi_stdin_attached);
  return w.bytes();
}

bool ExecRequest::Decode(const std::vector<uint8_t>& frame, ExecRequest* out) {
  FrameReader r(frame);
  out->module_attached = r.U8();
  out->reset_module_cache = r.U8();
  out->module_hash = r.Str();
  out->engine = static_cast<EngineKind>(r.U8());
  out->shared_object = r.Str();
  out->func = r.Str();
  uint32_t n = r.U32();
  if (n > 1024) return false;
  out->args.clear();
  for (uint32_t i = 0; i < n && !r.failed(); i++) out->args.push_back(r.Val());
  out->fold_func = r.Str();
  out->fold_arity = r.U32();
  uint32_t folded = r.U32();
  if (folded > kMaxFoldValues) return false;
  out->fold_values.clear();
  for (uint32_t i = 0; i < folded && !r.failed(); i++) out->fold_values.push_back(r.Val());
  if (out->fold_func.empty()
          ? out->fold_arity != 0 || folded != 0
          : out->fold_arity == 0 || out->fold_arity > 1024 || folded % out->fold_arity != 0 ||
                (out->func.empty() && folded == 0))
    return false;
  out->max_memory_pages = r.U32();
  out->timeout_ms = r.U64();
  out->wasi = r.U8();
  for (auto* list : {&out->wasi_args, &out->wasi_env}) {
    uint32_t count = r.U32();
    if (count > 65536) return false;
    list->clear();
    for (uint32_t i = 0; i < count && !r.failed(); i++) list->push_back(r.Str());
  }
  out->wasi_max_output_bytes = r.U64();
  uint32_t preopens = r.U32();
  if (preopens > kMaxPreopens) return false;
  out->wasi_preopens.clear();
  for (uint32_t i = 0; i < preopens && !r.failed(); i++) {
    ExecPreopen p;
    p.guest_path = r.Str();
    uint8_t read_only = r.U8();
    if (read_only > 1 || p.guest_path.size() > kMaxPreopenGuestPath) return false;
    p.read_only = read_only;
    out->wasi_preopens.push_back(std::move(p));
  }
  uint8_t stdin_given = r.U8();
  out->wasi_stdin = r.Str();
  if (stdin_given > 1 || out->wasi_stdin.size() > kMaxWasiStdinBytes ||
      (!stdin_given && !out->wasi_stdin.empty()))
    return false;
  out->wasi_stdin_given = stdin_given;
  uint8_t stream = r.U8();
  if (stream > 1) return false;
  out->wasi_stream = stream;
  uint8_t stdin_attached = r.U8();
  if (stdin_attached > 1 || (stdin_attached && (stdin_given || !out->wasi))) return false;
  out->wasi_stdin_attached = stdin_attached;
  return !r.failed();
}

std::vector<uint8_t> ExecOutput::Encode() const {
  FrameWriter w;
  w.U8(kOutputFrameTag);
  w.U8(stream);
  w.Str(data);
  return w.bytes();
}

bool ExecOutput::Decode(const std::vector<uint8_t>& frame, ExecOutput* out) {
  FrameReader r(frame);
  if (r.U8() != kOutputFrameTag) return false;
  out->stream = r.U8();
  out->data = r.Str();
  return !r.failed() && (out->stream == 1 || out->stream == 2);
}

std::vector<uint8_t> ExecResponse::Encode() const {
  FrameWriter w;
  w.U8(ok);
  w.U64(run_ns);
  w.U8(module_held);
  w.U8(retiring);
  if (ok) {
    w.U32(static_cast<uint32_t>(values.size()));
    for (const auto& v : values) w.Val(v);
  } else {
    w.U8(static_cast<uint8_t>(error.kind));
    w.U8(static_cast<uint8_t>(error.trap));
    w.Str(error.message);
  }
  w.U32(exit_code);
  w.U8(output_truncated);
  w.Str(stdout_data);
  w.Str(stderr_data);
  return w.bytes();
}

bool ExecResponse::Decode(const std::vector<uint8_t>& frame, ExecResponse* out) {
  FrameReader r(frame);
  uint8_t ok = r.U8();
  if (ok > 1) return false;  // an output frame (ExecOutput), or garbage
  out->ok = ok;
  out->run_ns = r.U64();
  out->module_held = r.U8();
  out->retiring = r.U8();
  out->values.clear();
  if (out->ok) {
    uint32_t n = r.U32();
    if (n > 1024) return false;
    for (uint32_t i = 0; i < n && !r.failed(); i++) out->values.push_back(r.Val());
  } else {
    // The executor runs untrusted code: a kind it names must be one.
    auto kind = ErrorKindFromNumber(r.U8());
    auto trap = TrapKindFromNumber(r.U8());
    if (!kind || !trap) return false;
    out->error.kind = *kind;
    out->error.trap = *trap;
    out->error.message = r.Str();
  }
  out->exit_code = r.U32();
  out->output_truncated = r.U8();
  out->stdout_data = r.Str();
  out->stderr_data = r.Str();
  return !r.failed();
}

std::string ReducerErrorText(const Error& error, const std::string& name) {
  const std::string prefix = kReducerErrorPrefix + name;
  if (name.empty() || error.message.rfind(prefix, 0) != 0) return error.ToString();
  Error plain = error;
  plain.message = error.message.substr(prefix.size());
  if (plain.message.rfind(": ", 0) == 0) plain.message = plain.message.substr(2);
  return prefix + ": " + plain.ToString();
}

namespace {

// A WASI command's host: stdin is the request's bytes when it gives them, or the file whose
// descriptor came with it (`stdin_fd`), else this process's own (the caller's, which the
// pool's executors inherit); stdout and stderr are collected into `resp`, capped, or streamed
// on `channel` as they are written (ExecOutput frames). The host takes over `dirs`, the
// descriptors of req.wasi_preopens in order, and `stdin_fd`.
WasiConfig StdioWasi(const ExecRequest& req, std::vector<int> dirs, int stdin_fd, int channel,
                     ExecResponse* resp) {
  WasiConfig config;
  for (size_t i = 0; i < dirs.size(); i++)
    config.preopens.push_back(
        {dirs[i], req.wasi_preopens[i].guest_path, req.wasi_preopens[i].read_only});
  config.args = req.wasi_args;
  config.env = req.wasi_env;
  // poll_oneoff never sleeps past the call's deadline (the engine then ends the run).
  if (req.timeout_ms)
    config.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(req.timeout_ms);
  config.max_output_bytes =
      std::min(req.wasi_max_output_bytes ? req.wasi_max_output_bytes : kMaxWasiOutputBytes,
               kMaxWasiOutputBytes);
  if (req.wasi_stream) {
    config.output = [channel](int fd, const uint8_t* data, size_t size) {
      ExecOutput out;
      out.stream = static_cast<uint8_t>(fd);
      out.data.assign(reinterpret_cast<const char*>(data), size);
      return WriteFrame(channel, out.Encode());
    };
  } else {
    config.output = [resp](int fd, const uint8_t* data, size_t size) {
      (fd == 1 ? resp->stdout_data : resp->stderr_data)
          .append(reinterpret_cast<const char*>(data), size);
      return true;
    };
  }
  if (req.wasi_stdin_given) {
    // The bytes are read once, front to back, then every read is the end of file; the host
    // may outlive `req`, so it owns a copy.
    struct Served {
      std::string bytes;
      size_t pos = 0;
    };
    auto served = std::make_shared<Served>(Served{req.wasi_stdin, 0});
    config.input = [served](uint8_t* data, size_t size) -> std::optional<size_t> {
      size_t n = std::min(size, served->bytes.size() - served->pos);
      std::memcpy(data, served->bytes.data() + served->pos, n);
      served->pos += n;
      return n;
    };
    return config;
  }
  if (stdin_fd >= 0) {
    // Owned by the host's reader: closed when the host (and every copy of it) is gone.
    auto fd = std::shared_ptr<int>(new int(stdin_fd), [](int* p) {
      close(*p);
      delete p;
    });
    config.input = [fd](uint8_t* data, size_t size) -> std::optional<size_t> {
      for (;;) {
        ssize_t n = read(*fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        return static_cast<size_t>(n);
      }
    };
    return config;
  }
  config.input = [](uint8_t* data, size_t size) -> std::optional<size_t> {
    for (;;) {
      ssize_t n = read(0, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::nullopt;
      return static_cast<size_t>(n);
    }
  };
  return config;
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

// The bytes of a module received as a descriptor (read without a path: no open()).
Result<std::vector<uint8_t>> ReadModuleFd(int fd) {
  off_t size = lseek(fd, 0, SEEK_END);
  if (size < 0) return MakeError(ErrorKind::kIo, "cannot size the module sent by the pool");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t r = pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return MakeError(ErrorKind::kIo, "cannot read the module sent by the pool");
    done += static_cast<size_t>(r);
  }
  return bytes;
}

class Executor {
 public:
  explicit Executor(int channel) : aot_(&compiler_), channel_(channel) {}

  // Loads the executor's shared object, under confinement: its constructors run confined.
  void Bind(const ExecutorSetup& setup) {
    bound_object_ = setup.bound_object;
    if (setup.bound_fd < 0)
      bound_error_ = setup.bound_error;
    else
      bound_handle_ = LoadObjectConfined(setup.bound_fd, &bound_error_);
  }

  // Takes ownership of `module_fd` (-1: none sent), of `dirs`, the descriptors of
  // req.wasi_preopens, and of `stdin_fd` (-1: none sent); the WASI host closes them, and a
  // call that is not WASI has none.
  ExecResponse Handle(const ExecRequest& req, int module_fd, std::vector<int> dirs, int stdin_fd) {
    ExecResponse resp;
    auto start = std::chrono::steady_clock::now();
    std::unique_ptr<WasiHost> wasi;
    if (req.wasi) {
      wasi = std::make_unique<WasiHost>(StdioWasi(req, std::move(dirs), stdin_fd, channel_, &resp));
    } else {
      CloseAll(dirs);
      if (stdin_fd >= 0) close(stdin_fd);
    }
    auto values = Run(req, module_fd, wasi.get());
    resp.run_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    if (values.ok()) {
      resp.ok = true;
      resp.values = std::move(*values);
    } else {
      resp.error = values.error();
    }
    resp.module_held = modules_.count(req.module_hash) > 0;
    if (wasi) {
      resp.exit_code = wasi->exit_code().value_or(0);
      resp.output_truncated = wasi->truncated();
    }
    return resp;
  }

 private:
  Result<ModulePtr> LoadModule(const ExecRequest& req, int module_fd) {
    if (req.reset_module_cache) modules_.clear();
    auto it = modules_.find(req.module_hash);
    if (it != modules_.end()) {
      if (module_fd >= 0) close(module_fd);
      return it->second;
    }
    if (module_fd < 0)
      return MakeError(ErrorKind::kIo, "the executor does not hold module " + req.module_hash);
    auto bytes = ReadModuleFd(module_fd);
    close(module_fd);
    if (!bytes.ok()) return bytes.error();
    auto module = Module::FromBytes(std::move(*bytes));
    if (!module.ok()) return module;
    if ((*module)->hash_hex() != req.module_hash)
      return MakeError(ErrorKind::kIo, "module store entry does not match its hash");
    if (modules_.size() >= kExecutorModuleCache) modules_.clear();  // the pool resets first
    modules_[req.module_hash] = *module;
    return module;
  }

  // ExecRequest::fold_func: the tuples, then the call's results, through the combining export.
  static Result<std::vector<Value>> CallAndFold(Instance& instance, const ExecRequest& req) {
    std::vector<Value> acc;
    auto fold = [&](std::vector<Value> next) -> Status {
      if (acc.empty()) {
        acc = std::move(next);
        return {};
      }
      acc.insert(acc.end(), next.begin(), next.end());
      auto r = instance.Call(req.fold_func, acc);
      if (!r.ok()) {
        // Said as the reducer's (ReducerError reads it back): Error::ToString drops the message
        // of a trap of a known kind.
        Error e = r.error();
        e.message =
            kReducerErrorPrefix + req.fold_func + (e.message.empty() ? "" : ": ") + e.message;
        return e;
      }
      acc = std::move(*r);
      return {};
    };
    for (size_t i = 0; i < req.fold_values.size(); i += req.fold_arity) {
      auto from = req.fold_values.begin() + static_cast<std::ptrdiff_t>(i);
      if (Status s = fold({from, from + req.fold_arity}); !s.ok()) return s.error();
    }
    if (!req.func.empty()) {
      auto results = instance.Call(req.func, req.args);
      if (!results.ok()) return results.error();
      if (Status s = fold(std::move(*results)); !s.ok()) return s.error();
    }
    return acc;
  }

  Status LoadNative(const ExecRequest& req, const ModulePtr& module) {
    if (aot_.IsLoaded(*module)) return {};
    // A confined executor cannot open another object: the pool binds one per module.
    if (req.shared_object != bound_object_)
      return MakeError(ErrorKind::kInternal,
                       "executor bound to '" + bound_object_ + "', not to " + req.shared_object);
    if (!bound_handle_) return MakeError(ErrorKind::kCompilerFailed, bound_error_);
    return aot_.Adopt(bound_handle_, bound_object_, {module});
  }

  Result<std::vector<Value>> Run(const ExecRequest& req, int module_fd, WasiHost* wasi) {
    auto module = LoadModule(req, module_fd);
    if (!module.ok()) return module.error();
    InstanceLimits limits;
    limits.max_memory_pages = req.max_memory_pages;
    limits.wasi = wasi;
    if (req.timeout_ms)
      limits.deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(req.timeout_ms);
    try {
      std::unique_ptr<Engine> interp;
      Engine* engine = &aot_;
      if (req.engine == EngineKind::kAot) {
        if (Status s = LoadNative(req, *module); !s.ok()) return s.error();
      } else {
        interp = NewInterpEngine();  // a fresh store per call: nothing accumulates
        engine = interp.get();
      }
      auto instance = engine->Instantiate(*module, limits);
      if (!instance.ok()) return instance.error();
      if (req.fold_func.empty()) return (*instance)->Call(req.func, req.args);
      return CallAndFold(**instance, req);
    } catch (const std::bad_alloc&) {
      return MakeError(ErrorKind::kMemoryLimitExceeded, "the executor ran out of memory");
    }
  }

  AotCompiler compiler_;  // unused for compiling here: the pool compiles, executors load
  AotEngine aot_;
  int channel_;  // to the pool: a streaming command's output frames go there
  std::map<std::string, ModulePtr> modules_;
  std::string bound_object_;
  void* bound_handle_ = nullptr;
  std::string bound_error_;
};

// CPU time this process has used, in seconds.
uint64_t CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec);
}

// Confines a files executor to the directories `req` brings (`dirs`, in order), for good.
Status RestrictToRequest(const ExecRequest& req, const std::vector<int>& dirs) {
  std::vector<LandlockPreopen> rules;
  for (size_t i = 0; i < dirs.size(); i++)
    rules.push_back({dirs[i], req.wasi_preopens[i].read_only});
  return RestrictToPreopens(rules);
}

// Answers one request, which brought `fds` (all taken over here).
ExecResponse Serve(Executor& executor, const ExecutorSetup& setup,
                   const std::vector<uint8_t>& frame, std::vector<int> fds) {
  ExecRequest req;
  ExecResponse resp;
  if (!ExecRequest::Decode(frame, &req) || fds.size() != req.PassedFds()) {
    CloseAll(fds);
    resp.error = MakeError(ErrorKind::kInternal, "malformed request");
    return resp;
  }
  int module_fd = req.module_attached ? fds[0] : -1;
  int stdin_fd = req.wasi_stdin_attached ? fds.back() : -1;
  std::vector<int> dirs(fds.begin() + (req.module_attached ? 1 : 0),
                        fds.end() - (req.wasi_stdin_attached ? 1 : 0));
  Status confined;
  // The filter of an executor that is not a files one would kill the host's first openat.
  if (!dirs.empty() && !setup.files)
    confined = MakeError(ErrorKind::kInternal,
                         "preopened directories sent to an executor "
                         "that is not a files executor");
  else if (setup.files)
    confined = RestrictToRequest(req, dirs);  // before anything of the call runs
  if (!confined.ok()) {
    CloseAll(fds);
    resp.error = confined.error();
    return resp;
  }
  if (setup.files) {
    // Now, under the Landlock layer and still the loading filter: the object, then the seal.
    if (!setup.bound_object.empty()) executor.Bind(setup);
    if (setup.seal && !setup.seal()) {
      CloseAll(fds);
      resp.error = MakeError(ErrorKind::kInternal, "the files executor could not seal itself");
      return resp;
    }
  }
  if (setup.after_landlock) setup.after_landlock(req.wasi_preopens, dirs);
  return executor.Handle(req, module_fd, std::move(dirs), stdin_fd);
}

}  // namespace

int RunExecutor(int fd, const ExecutorSetup& setup) {
  Executor executor(fd);  // initialises the wasm2c runtime (signal handlers, alternate stack)
  if (setup.confine && !setup.confine()) return 4;
  // A files executor loads its object and seals itself once its call's directories are known
  // and its Landlock layer is in place (Serve); any other does it now.
  if (!setup.files) {
    if (!setup.bound_object.empty()) executor.Bind(setup);
    if (setup.seal && !setup.seal()) return 4;
  }
  std::vector<uint8_t> frame;
  std::vector<int> fds;
  while (ReadFrame(fd, &frame, &fds)) {
    ExecResponse resp = Serve(executor, setup, frame, std::move(fds));
    // A files executor's Landlock layer holds that call's directories: it serves no other.
    resp.retiring = setup.files || (setup.retire_after_cpu_seconds &&
                                    CpuSeconds() >= setup.retire_after_cpu_seconds);
    if (!WriteFrame(fd, resp.Encode())) return 1;
    if (resp.retiring) return 0;
  }
  return 0;
}

}  // namespace velum
