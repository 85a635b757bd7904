// WASI commands through the C API: velum_run_command checks the caller's options, runs the
// program on this node's executors with the given stdin, and hands back a velum_command.
#include <atomic>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "api/api_internal.h"
#include "runtime/executor_pool.h"

// What the program did: exit code and output, owned by the handle.
struct velum_command {
  uint32_t exit_code = 0;
  bool truncated = false;
  std::string stdout_data, stderr_data;
};

namespace velum::api {

namespace {

static_assert(VELUM_MAX_STDIN_BYTES == kMaxWasiStdinBytes, "velum.h's cap is the executor's");
static_assert(kMaxPreopens == 63, "velum.h says at most 63 directories");

constexpr char kStart[] = "_start";

// A list the caller gave as pointer and count: NULL entries, or a NULL array with a count,
// are refused by name.
int CopyStrings(const char* what, const char* const* items, size_t n,
                std::vector<std::string>* out) {
  if (n > 0 && !items) return Fail(VELUM_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
  for (size_t i = 0; i < n; i++) {
    if (!items[i])
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  std::string(what) + "[" + std::to_string(i) + "] is NULL");
    out->emplace_back(items[i]);
  }
  return VELUM_OK;
}

int CheckEnv(const std::vector<std::string>& env) {
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(VELUM_ERR_INVALID_ARGUMENT, "env wants NAME=VALUE, not '" + e + "'");
  }
  return VELUM_OK;
}

int CopyDirs(const velum_command_options& o, std::vector<CallSpec::Wasi::Preopen>* out) {
  if (o.ndirs > 0 && !o.dirs) return Fail(VELUM_ERR_INVALID_ARGUMENT, "dirs is NULL");
  if (o.ndirs > kMaxPreopens)
    return Fail(VELUM_ERR_LIMIT,
                std::to_string(o.ndirs) + " directories: at most " + std::to_string(kMaxPreopens));
  for (size_t i = 0; i < o.ndirs; i++) {
    const velum_dir& d = o.dirs[i];
    std::string name = "dirs[" + std::to_string(i) + "]";
    if (!d.host || !*d.host) return Fail(VELUM_ERR_INVALID_ARGUMENT, name + ".host is empty");
    CallSpec::Wasi::Preopen p;
    p.host = d.host;
    p.guest = d.guest ? d.guest : d.host;
    p.read_only = d.read_only;
    if (p.guest.empty()) return Fail(VELUM_ERR_INVALID_ARGUMENT, name + ".guest is empty");
    if (p.guest.size() > kMaxPreopenGuestPath)
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  name + ".guest is over " + std::to_string(kMaxPreopenGuestPath) + " bytes");
    std::error_code ec;
    if (!std::filesystem::is_directory(p.host, ec))
      return Fail(VELUM_ERR_IO, name + ": " + d.host + " is not a directory");
    out->push_back(std::move(p));
  }
  return VELUM_OK;
}

int EngineOf(const velum_command_options& o, EngineKind* out) {
  switch (RawEnum(o.engine)) {
    case VELUM_ENGINE_AUTO:
      *out = EngineKind::kAuto;
      return VELUM_OK;
    case VELUM_ENGINE_INTERP:
      *out = EngineKind::kInterp;
      return VELUM_OK;
    case VELUM_ENGINE_AOT:
      *out = EngineKind::kAot;
      return VELUM_OK;
  }
  return Fail(VELUM_ERR_INVALID_ARGUMENT, "engine is not a velum_engine");
}

// The call of the command at `path` that the options describe; VELUM_OK or a failure. The
// module is read last, so a bad option costs no file read.
int PrepareCommand(Node& node, const char* path, const velum_command_options& o, CallSpec* spec) {
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  // Checked before anything is copied: the bytes of a hostile size are never touched.
  if (o.stdin_size > VELUM_MAX_STDIN_BYTES)
    return Fail(VELUM_ERR_LIMIT, "stdin of " + std::to_string(o.stdin_size) +
                                     " bytes: a command is given at most " +
                                     std::to_string(VELUM_MAX_STDIN_BYTES));
  if (o.stdin_size > 0 && !o.stdin_data)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "stdin_data is NULL with a stdin_size");
  CallSpec::Wasi wasi;
  wasi.args.push_back(o.argv0 ? o.argv0 : std::filesystem::path(path).filename().string());
  if (int code = CopyStrings("args", o.args, o.nargs, &wasi.args); code != VELUM_OK) return code;
  if (int code = CopyStrings("env", o.env, o.nenv, &wasi.env); code != VELUM_OK) return code;
  if (int code = CheckEnv(wasi.env); code != VELUM_OK) return code;
  if (int code = CopyDirs(o, &wasi.preopens); code != VELUM_OK) return code;
  if (int code = EngineOf(o, &spec->engine); code != VELUM_OK) return code;
  if (o.timeout_ms == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms is 0");
  if (o.max_memory_mib == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "max_memory_mib is 0");
  wasi.max_output_bytes = o.max_output_bytes;
  wasi.stdin_data.emplace(static_cast<const char*>(o.stdin_data), o.stdin_size);
  auto module = node.LoadModule(path);
  if (!module.ok()) return Fail(module.error());
  // A command is a module with _start (velum run's rule); the message lists its exports.
  auto start = (*module)->FindFunction(kStart);
  if (!start.ok()) return Fail(start.error());
  spec->module = *module;
  spec->func = kStart;
  spec->timeout = std::chrono::milliseconds(o.timeout_ms);
  spec->max_memory_pages = o.max_memory_mib * 16;  // 64 KiB pages
  spec->wasi = std::move(wasi);
  return VELUM_OK;
}

}  // namespace

}  // namespace velum::api

using velum::api::Fail;
using velum::api::FailNull;
using velum::api::kNotInitialized;
using velum::api::Lease;

extern "C" {

void velum_command_options_default(velum_command_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  // The pool's own defaults for a call (executor_pool.h), not a second copy of them.
  velum::CallSpec d;
  options->engine = VELUM_ENGINE_AUTO;
  options->timeout_ms = static_cast<uint32_t>(d.timeout.count());
  options->max_memory_mib = d.max_memory_pages / 16;  // 64 KiB pages
}

velum_command* velum_run_command(const char* path, const velum_command_options* options) {
  velum_command_options defaults;
  velum_command_options_default(&defaults);
  const velum_command_options& o = options ? *options : defaults;
  Lease lease;
  if (!lease.node()) return FailNull<velum_command>(VELUM_ERR_NOT_INITIALIZED, kNotInitialized);
  velum::CallSpec spec;
  if (velum::api::PrepareCommand(*lease.node(), path, o, &spec) != VELUM_OK) return nullptr;
  std::atomic<bool> cancel{false};
  velum::api::CancelScope scope(&cancel);  // velum_shutdown stops the program
  spec.cancel = &cancel;
  auto outcome = lease.node()->RunLocal(std::move(spec));
  if (!outcome.ok())
    return FailNull<velum_command>(velum::api::CodeOf(outcome.error().kind),
                                   outcome.error().ToString());
  if (outcome->failure)
    return FailNull<velum_command>(velum::api::CodeOf(outcome->failure->kind),
                                   outcome->failure->ToString());
  auto* command = new (std::nothrow) velum_command;
  if (!command) return FailNull<velum_command>(VELUM_ERR_INTERNAL, "out of memory");
  command->exit_code = outcome->exit_code;
  command->truncated = outcome->output_truncated;
  command->stdout_data = std::move(outcome->stdout_data);
  command->stderr_data = std::move(outcome->stderr_data);
  return command;
}

uint32_t velum_command_exit_code(const velum_command* command) {
  return command ? command->exit_code : 0;
}

const char* velum_command_stdout(const velum_command* command, size_t* size) {
  if (size) *size = command ? command->stdout_data.size() : 0;
  return command ? command->stdout_data.c_str() : "";
}

const char* velum_command_stderr(const velum_command* command, size_t* size) {
  if (size) *size = command ? command->stderr_data.size() : 0;
  return command ? command->stderr_data.c_str() : "";
}

bool velum_command_truncated(const velum_command* command) { return command && command->truncated; }

void velum_command_release(velum_command* command) { delete command; }

}  // extern "C"
