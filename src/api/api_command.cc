// WASI commands through the C API: velum_run_command checks the caller's options, runs the
// program on this node's executors or on the mesh, and hands back a velum_command.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
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
  uint32_t node = 0;
  bool truncated = false;
  std::string stdout_data, stderr_data;
};

namespace velum::api {

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

namespace {

static_assert(VELUM_MAX_STDIN_BYTES == kMaxWasiStdinBytes, "velum.h's cap is the executor's");
static_assert(kMaxPreopens == 63, "velum.h says at most 63 directories");

constexpr char kStart[] = "_start";

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

// What a command is given wherever it runs: the path checked, the stdin's size checked
// (before anything is copied: the bytes of a hostile size are never touched), argv (argv[0]
// first) and the environment copied and checked.
int CopyWords(const char* path, const velum_command_options& o, std::vector<std::string>* args,
              std::vector<std::string>* env) {
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  if (o.stdin_size > VELUM_MAX_STDIN_BYTES)
    return Fail(VELUM_ERR_LIMIT, "stdin of " + std::to_string(o.stdin_size) +
                                     " bytes: a command is given at most " +
                                     std::to_string(VELUM_MAX_STDIN_BYTES));
  if (o.stdin_size > 0 && !o.stdin_data)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "stdin_data is NULL with a stdin_size");
  args->push_back(o.argv0 ? o.argv0 : std::filesystem::path(path).filename().string());
  if (int code = CopyStrings("args", o.args, o.nargs, args); code != VELUM_OK) return code;
  if (int code = CopyStrings("env", o.env, o.nenv, env); code != VELUM_OK) return code;
  return CheckEnv(*env);
}

// The call of the command at `path` that the options describe; VELUM_OK or a failure. The
// module is read last, so a bad option costs no file read.
int PrepareCommand(Node& node, const char* path, const velum_command_options& o, CallSpec* spec) {
  CallSpec::Wasi wasi;
  if (int code = CopyWords(path, o, &wasi.args, &wasi.env); code != VELUM_OK) return code;
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

// The program's output to the caller's on_output, if it gave one.
std::function<void(int, const std::string&)> OutputTo(const velum_command_options& o) {
  if (!o.on_output) return nullptr;
  return [fn = o.on_output, context = o.output_context](int stream, const std::string& data) {
    fn(context, stream, data.data(), data.size());
  };
}

// The stdin bytes of a command on the mesh, in a file the node serves them from (it sends
// files by content); removed when the command is done.
class StdinFile {
 public:
  StdinFile() = default;
  StdinFile(const StdinFile&) = delete;
  StdinFile& operator=(const StdinFile&) = delete;
  ~StdinFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int Write(const void* data, size_t size) {
    std::string name = (std::filesystem::temp_directory_path() / "velum-stdin-XXXXXX").string();
    int fd = ::mkstemp(name.data());
    if (fd < 0) return Fail(VELUM_ERR_IO, "cannot create a file for stdin: " + Errno());
    path_ = name;
    const char* p = static_cast<const char*>(data);
    for (size_t done = 0; done < size;) {
      ssize_t n = ::write(fd, p + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::string why = Errno();
        ::close(fd);
        return Fail(VELUM_ERR_IO, "cannot write stdin to " + path_ + ": " + why);
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) return Fail(VELUM_ERR_IO, "cannot write stdin to " + path_);
    return VELUM_OK;
  }
  const std::string& path() const { return path_; }

 private:
  static std::string Errno() { return std::strerror(errno); }
  std::string path_;
};

// The command on the mesh that the options describe (on_mesh); VELUM_OK or a failure.
int PrepareMeshCommand(Node& node, const char* path, const velum_command_options& o,
                       CommandOptions* c, StdinFile* stdin_file, ModulePtr* module) {
  if (int code = CopyWords(path, o, &c->args, &c->env); code != VELUM_OK) return code;
  if (RawEnum(o.engine) != VELUM_ENGINE_AUTO)
    return Fail(VELUM_ERR_INVALID_ARGUMENT,
                "engine: a command on the mesh runs on the engine its worker chooses "
                "(VELUM_ENGINE_AUTO)");
  if (o.timeout_ms == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms is 0");
  if (o.max_memory_mib == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "max_memory_mib is 0");
  std::vector<CallSpec::Wasi::Preopen> dirs;
  if (int code = CopyDirs(o, &dirs); code != VELUM_OK) return code;
  for (size_t i = 0; i < dirs.size(); i++) {
    if (!dirs[i].read_only)
      return Fail(VELUM_ERR_INVALID_ARGUMENT,
                  "dirs[" + std::to_string(i) +
                      "]: a command on the mesh reads its directories, never writes them "
                      "(read_only; its results come back through out_dir)");
    c->ro_dirs.push_back({dirs[i].host, dirs[i].guest});
  }
  if (o.out_dir) {
    if (!*o.out_dir) return Fail(VELUM_ERR_INVALID_ARGUMENT, "out_dir is empty");
    std::error_code ec;
    if (std::filesystem::exists(o.out_dir, ec) && !std::filesystem::is_directory(o.out_dir, ec))
      return Fail(VELUM_ERR_IO, std::string("out_dir: ") + o.out_dir + " is not a directory");
    c->out_dir = o.out_dir;
  }
  c->local = o.node == node.id();
  c->target = c->local ? 0 : o.node;
  c->timeout_ms = o.timeout_ms;
  c->max_memory_mib = o.max_memory_mib;
  c->on_output = OutputTo(o);
  if (o.stdin_size > 0) {
    if (int code = stdin_file->Write(o.stdin_data, o.stdin_size); code != VELUM_OK) return code;
    c->stdin_file = stdin_file->path();
  }
  auto loaded = node.LoadModule(path);
  if (!loaded.ok()) return Fail(loaded.error());
  auto start = (*loaded)->FindFunction(kStart);
  if (!start.ok()) return Fail(start.error());
  *module = *loaded;
  return VELUM_OK;
}

velum_command* RunMeshCommand(Node& node, const char* path, const velum_command_options& o) {
  CommandOptions c;
  StdinFile stdin_file;
  ModulePtr module;
  if (PrepareMeshCommand(node, path, o, &c, &stdin_file, &module) != VELUM_OK) return nullptr;
  std::atomic<bool> cancel{false};
  CancelScope scope(&cancel);  // velum_shutdown stops the program
  auto reply = node.RunCommand(module, c, &cancel);
  if (!reply.ok())
    return FailNull<velum_command>(CodeOf(reply.error().kind), reply.error().ToString());
  if (reply->failure)
    return FailNull<velum_command>(CodeOf(reply->failure->kind), reply->failure->ToString());
  auto* command = new (std::nothrow) velum_command;
  if (!command) return FailNull<velum_command>(VELUM_ERR_INTERNAL, "out of memory");
  command->exit_code = reply->exit_code;
  command->node = reply->node;
  command->truncated = reply->truncated;
  command->stdout_data = std::move(reply->stdout_data);
  command->stderr_data = std::move(reply->stderr_data);
  return command;
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
  if (o.on_mesh) return velum::api::RunMeshCommand(*lease.node(), path, o);
  if (o.out_dir || o.node != 0)
    return FailNull<velum_command>(
        VELUM_ERR_INVALID_ARGUMENT,
        std::string(o.out_dir ? "out_dir" : "node") + " is for a command on the mesh (on_mesh)");
  velum::CallSpec spec;
  if (velum::api::PrepareCommand(*lease.node(), path, o, &spec) != VELUM_OK) return nullptr;
  std::atomic<bool> cancel{false};
  velum::api::CancelScope scope(&cancel);  // velum_shutdown stops the program
  spec.cancel = &cancel;
  spec.wasi->on_output = velum::api::OutputTo(o);
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
  command->node = lease.node()->id();
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

uint32_t velum_command_node(const velum_command* command) { return command ? command->node : 0; }

void velum_command_release(velum_command* command) { delete command; }

}  // extern "C"
