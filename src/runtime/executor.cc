// The executor's request loop and the encoding of its requests and responses.
// Modules are cached by hash; every call gets a fresh instance so no call sees another's state.
#include "runtime/executor.h"

#include <chrono>
#include <map>
#include <memory>
#include <new>

#include "runtime/aot_engine.h"
#include "runtime/channel.h"
#include "runtime/interp_engine.h"
#include "runtime/module.h"

namespace velum {

std::vector<uint8_t> ExecRequest::Encode() const {
  FrameWriter w;
  w.Str(module_path);
  w.Str(module_hash);
  w.U8(static_cast<uint8_t>(engine));
  w.Str(shared_object);
  w.Str(func);
  w.U32(static_cast<uint32_t>(args.size()));
  for (const auto& a : args) w.Val(a);
  w.U32(max_memory_pages);
  w.U64(timeout_ms);
  return w.bytes();
}

bool ExecRequest::Decode(const std::vector<uint8_t>& frame, ExecRequest* out) {
  FrameReader r(frame);
  out->module_path = r.Str();
  out->module_hash = r.Str();
  out->engine = static_cast<EngineKind>(r.U8());
  out->shared_object = r.Str();
  out->func = r.Str();
  uint32_t n = r.U32();
  if (n > 1024) return false;
  out->args.clear();
  for (uint32_t i = 0; i < n && !r.failed(); i++) out->args.push_back(r.Val());
  out->max_memory_pages = r.U32();
  out->timeout_ms = r.U64();
  return !r.failed();
}

std::vector<uint8_t> ExecResponse::Encode() const {
  FrameWriter w;
  w.U8(ok);
  w.U64(run_ns);
  if (ok) {
    w.U32(static_cast<uint32_t>(values.size()));
    for (const auto& v : values) w.Val(v);
  } else {
    w.U8(static_cast<uint8_t>(error.kind));
    w.U8(static_cast<uint8_t>(error.trap));
    w.Str(error.message);
  }
  return w.bytes();
}

bool ExecResponse::Decode(const std::vector<uint8_t>& frame, ExecResponse* out) {
  FrameReader r(frame);
  out->ok = r.U8();
  out->run_ns = r.U64();
  out->values.clear();
  if (out->ok) {
    uint32_t n = r.U32();
    if (n > 1024) return false;
    for (uint32_t i = 0; i < n && !r.failed(); i++) out->values.push_back(r.Val());
  } else {
    out->error.kind = static_cast<ErrorKind>(r.U8());
    out->error.trap = static_cast<TrapKind>(r.U8());
    out->error.message = r.Str();
  }
  return !r.failed();
}

namespace {

class Executor {
 public:
  Executor() : aot_(&compiler_) {}

  ExecResponse Handle(const ExecRequest& req) {
    ExecResponse resp;
    auto start = std::chrono::steady_clock::now();
    auto values = Run(req);
    resp.run_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    if (values.ok()) {
      resp.ok = true;
      resp.values = std::move(*values);
    } else {
      resp.error = values.error();
    }
    return resp;
  }

 private:
  Result<ModulePtr> LoadModule(const ExecRequest& req) {
    auto it = modules_.find(req.module_hash);
    if (it != modules_.end()) return it->second;
    auto module = Module::FromFile(req.module_path);
    if (!module.ok()) return module;
    if ((*module)->hash_hex() != req.module_hash)
      return MakeError(ErrorKind::kIo, "module store entry does not match its hash");
    if (modules_.size() >= 64) modules_.clear();  // bounded cache
    modules_[req.module_hash] = *module;
    return module;
  }

  Result<std::vector<Value>> Run(const ExecRequest& req) {
    auto module = LoadModule(req);
    if (!module.ok()) return module.error();
    InstanceLimits limits;
    limits.max_memory_pages = req.max_memory_pages;
    if (req.timeout_ms)
      limits.deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(req.timeout_ms);
    try {
      std::unique_ptr<Engine> interp;
      Engine* engine = &aot_;
      if (req.engine == EngineKind::kAot) {
        if (!aot_.IsLoaded(**module)) {
          if (Status s = aot_.Load(req.shared_object, {*module}); !s.ok()) return s.error();
        }
      } else {
        interp = NewInterpEngine();  // a fresh store per call: nothing accumulates
        engine = interp.get();
      }
      auto instance = engine->Instantiate(*module, limits);
      if (!instance.ok()) return instance.error();
      return (*instance)->Call(req.func, req.args);
    } catch (const std::bad_alloc&) {
      return MakeError(ErrorKind::kMemoryLimitExceeded, "the executor ran out of memory");
    }
  }

  AotCompiler compiler_;  // unused for compiling here: the pool compiles, executors load
  AotEngine aot_;
  std::map<std::string, ModulePtr> modules_;
};

}  // namespace

int RunExecutor(int fd) {
  Executor executor;
  std::vector<uint8_t> frame;
  while (ReadFrame(fd, &frame)) {
    ExecRequest req;
    ExecResponse resp;
    if (!ExecRequest::Decode(frame, &req)) {
      resp.error = MakeError(ErrorKind::kInternal, "malformed request");
    } else {
      resp = executor.Handle(req);
    }
    if (!WriteFrame(fd, resp.Encode())) return 1;
  }
  return 0;
}

}  // namespace velum
