// One call of an export through the C API: velum_spawn_wasm blocks, velum_spawn_wasm_async
// runs it on a thread of its own behind a velum_call handle (wait, cancel, release).
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "api/api_internal.h"

namespace velum::api {

namespace {

struct PreparedCall {
  ModulePtr module;
  std::string func;
  std::vector<Value> args;
};

// Reads the module and parses the arguments against the export; VELUM_OK or a failure.
int PrepareCall(Node& node, const char* path, const char* func, int argc, const char* const* argv,
                PreparedCall* out) {
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  if (!func) return Fail(VELUM_ERR_INVALID_ARGUMENT, "func is NULL");
  if (argc < 0 || (argc > 0 && !argv))
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "argc is negative or argv is NULL");
  std::vector<std::string> texts;
  for (int i = 0; i < argc; i++) {
    if (!argv[i])
      return Fail(VELUM_ERR_INVALID_ARGUMENT, "argv[" + std::to_string(i) + "] is NULL");
    texts.emplace_back(argv[i]);
  }
  auto module = node.LoadModule(path);
  if (!module.ok()) return Fail(module.error());
  auto exported = (*module)->FindFunction(func);
  if (!exported.ok()) return Fail(exported.error());
  const FuncSig& sig = (*exported)->sig;
  if (sig.results.size() > VELUM_MAX_VALUES)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, std::string(func) + " returns more than " +
                                                std::to_string(VELUM_MAX_VALUES) + " values");
  for (ValType t : sig.results) {
    if (t != ValType::kI32 && t != ValType::kI64 && t != ValType::kF32 && t != ValType::kF64)
      return Fail(VELUM_ERR_INVALID_ARGUMENT, std::string(func) + " " + sig.ToString() +
                                                  " returns " + ValTypeName(t) +
                                                  ": the C API returns i32, i64, f32 and f64 only");
  }
  auto args = ParseArgs(texts, sig);
  if (!args.ok()) return Fail(args.error());
  out->module = *module;
  out->func = func;
  out->args = std::move(*args);
  return VELUM_OK;
}

velum_result RunCall(Node& node, const PreparedCall& call, std::atomic<bool>* cancel) {
  CancelScope scope(cancel);
  auto reply = node.Call(call.module, call.func, call.args, CallOptions{}, cancel);
  if (!reply.ok()) return FailedResult(reply.error());
  return CallResult(*reply);
}

// An asynchronous call, shared by its handle and the thread running it: whichever ends last
// frees it, so velum_call_release never waits for the call.
struct CallState {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  velum_result result;
  std::atomic<bool> cancel{false};
};

}  // namespace

}  // namespace velum::api

struct velum_call {
  std::shared_ptr<velum::api::CallState> state;  // shared with the thread running the call
};

using velum::api::CallState;
using velum::api::EmptyResult;
using velum::api::Fail;
using velum::api::FailedResult;
using velum::api::FailNull;
using velum::api::kNotInitialized;
using velum::api::LastErrorText;
using velum::api::Lease;
using velum::api::PrepareCall;
using velum::api::PreparedCall;
using velum::api::RunCall;

extern "C" {

velum_result velum_spawn_wasm(const char* path, const char* func, int argc,
                              const char* const* argv) {
  Lease lease;
  if (!lease.node()) return FailedResult(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  PreparedCall call;
  if (int code = PrepareCall(*lease.node(), path, func, argc, argv, &call); code != VELUM_OK)
    return FailedResult(code, LastErrorText());
  std::atomic<bool> cancel{false};
  return RunCall(*lease.node(), call, &cancel);
}

velum_call* velum_spawn_wasm_async(const char* path, const char* func, int argc,
                                   const char* const* argv) {
  Lease lease;
  if (!lease.node()) return FailNull<velum_call>(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  PreparedCall call;
  if (PrepareCall(*lease.node(), path, func, argc, argv, &call) != VELUM_OK) return nullptr;
  auto* handle = new (std::nothrow) velum_call;
  if (!handle) return FailNull<velum_call>(VELUM_ERR_INTERNAL, "out of memory");
  handle->state = std::make_shared<CallState>();
  try {
    std::thread([state = handle->state, lease = std::move(lease), call = std::move(call)] {
      velum_result result = RunCall(*lease.node(), call, &state->cancel);
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->result = result;
        state->done = true;
      }
      state->done_cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    delete handle;
    return FailNull<velum_call>(VELUM_ERR_INTERNAL,
                                std::string("cannot start a thread: ") + e.what());
  }
  return handle;
}

int velum_call_wait(velum_call* call, int timeout_ms, velum_result* out) {
  if (!call) {
    velum_result r = FailedResult(VELUM_ERR_INVALID_ARGUMENT, "call is NULL");
    if (out) *out = r;
    return r.code;
  }
  CallState& s = *call->state;
  std::unique_lock<std::mutex> lock(s.mu);
  if (timeout_ms < 0)
    s.done_cv.wait(lock, [&s] { return s.done; });
  else
    s.done_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&s] { return s.done; });
  velum_result r = EmptyResult();
  if (s.done)
    r = s.result;
  else
    r.code = VELUM_PENDING;
  lock.unlock();
  if (r.code < 0) Fail(r.code, r.error);
  if (out) *out = r;
  return r.code;
}

int velum_call_cancel(velum_call* call) {
  if (!call) return Fail(VELUM_ERR_INVALID_ARGUMENT, "call is NULL");
  std::lock_guard<std::mutex> lock(call->state->mu);
  if (call->state->done) return Fail(VELUM_ERR_INVALID_ARGUMENT, "the call has already ended");
  call->state->cancel = true;
  return VELUM_OK;
}

void velum_call_release(velum_call* call) { delete call; }

}  // extern "C"
