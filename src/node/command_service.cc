// CommandService: remote WASI commands sent and served (command_service.h). Frames arrive on
// the loop thread; the threads that wait (the caller's, a served command's) pull file pieces
// one at a time through the loop, so no side ever holds more than a piece per transfer.
#include "node/command_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "core/assert.h"
#include "node/job_values.h"
#include "runtime/executor.h"
#include "runtime/wasi.h"

namespace velum {

namespace fs = std::filesystem;

namespace {

Error LimitError(const std::string& what) { return MakeError(ErrorKind::kLimitExceeded, what); }

Status CheckEnv(const std::vector<std::string>& env) {
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || e.find('\0') != std::string::npos)
      return MakeError(ErrorKind::kBadArguments, "--env wants NAME=VALUE, not '" + e + "'");
  }
  return {};
}

// Writes all of `data` at `offset` of `fd`.
bool WriteAt(int fd, const std::string& data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

Error ErrorOf(const core::TaskError& t) {
  Error e;
  e.kind = ErrorKindFromNumber(t.kind).value_or(ErrorKind::kInternal);
  // The worker rendered its error in full ("trap: ..."): keep its words without the kind.
  std::string prefix = std::string(ErrorKindName(e.kind)) + ": ";
  e.message = t.message.rfind(prefix, 0) == 0 ? t.message.substr(prefix.size()) : t.message;
  return e;
}

}  // namespace

CommandService::CommandService(core::NodeId self, Hooks hooks)
    : self_(self), hooks_(std::move(hooks)), blobs_(hooks_.home / "blobs", kBlobCacheBytes) {
  VELUM_ASSERT(self_ != core::kNoNode);
  VELUM_ASSERT(hooks_.send && hooks_.fetch && hooks_.blocking && hooks_.loop && hooks_.on_loop &&
               hooks_.execute && hooks_.spec && hooks_.pick_target && hooks_.load_changed &&
               hooks_.now_us);
  // Run folders of a node that stopped mid-command are of no use to anyone now.
  std::error_code ec;
  fs::remove_all(hooks_.home / "commands", ec);
}

Result<CommandReply> CommandService::Run(const ModulePtr& module, const CommandOptions& options,
                                         const std::atomic<bool>* cancel) {
  VELUM_ASSERT(module != nullptr);
  if (options.args.empty())
    return MakeError(ErrorKind::kBadArguments, "a command needs its argv[0]");
  if (Status s = CheckEnv(options.env); !s.ok()) return s.error();
  if (options.ro_dirs.size() > wire::kMaxCommandDirs)
    return LimitError("at most " + std::to_string(wire::kMaxCommandDirs) + " --ro-dir folders");
  for (const auto& d : options.ro_dirs)
    if (d.guest.empty() || d.guest.find('\0') != std::string::npos ||
        d.guest.size() > wire::kMaxCommandPathBytes)
      return MakeError(ErrorKind::kBadArguments,
                       "--ro-dir " + d.host.string() + " needs a name for the program (::GUEST)");
  std::vector<core::NodeId> tried;
  std::string note;
  std::optional<std::pair<wire::CommandRequest, std::map<ModuleHash, TreeFile>>> prepared;
  for (int attempt = 0; attempt < 4; attempt++) {
    core::NodeId target = options.local ? self_ : options.target;
    if (!target) hooks_.on_loop([&] { target = hooks_.pick_target(tried); });
    if (target == self_) {
      auto r = RunHere(module, options, cancel);
      if (r.ok() && !note.empty()) r->note = note + (r->note.empty() ? "" : "; " + r->note);
      return r;
    }
    if (!prepared) {
      // The folders and stdin are listed and hashed once, whichever node runs the command.
      wire::CommandRequest req;
      std::map<ModuleHash, TreeFile> inputs;
      req.module = module->hash();
      req.module_size = module->bytes().size();
      req.args = options.args;
      req.env = options.env;
      req.timeout_ms = options.timeout_ms;
      req.max_memory_pages = PagesOf(options.max_memory_mib);
      uint64_t total = 0;
      for (size_t k = 0; k < options.ro_dirs.size(); k++) {
        req.dirs.push_back(options.ro_dirs[k].guest);
        auto files = ListTree(options.ro_dirs[k].host, wire::kMaxCommandFiles - req.inputs.size(),
                              wire::kMaxCommandInputBytes - total);
        if (!files.ok()) return files.error();
        if (Status s = HashTree(&*files); !s.ok()) return s.error();
        for (TreeFile& f : *files) {
          total += f.size;
          if (total > wire::kMaxCommandInputBytes)  // a file grew between listing and hashing
            return LimitError("the files sent are larger than " +
                              ModuleStore::Size(wire::kMaxCommandInputBytes));
          req.inputs.push_back({static_cast<uint32_t>(k), f.path, f.hash, f.size});
          inputs.emplace(f.hash, std::move(f));
        }
      }
      if (options.stdin_file) {
        TreeFile f;
        f.path = "stdin";
        f.where = *options.stdin_file;
        auto hash = HashFile(f.where, &f.size);
        if (!hash.ok()) return hash.error();
        if (f.size > wire::kMaxCommandInputBytes - total)
          return LimitError("--stdin " + f.where.string() + " and the files sent are larger than " +
                            ModuleStore::Size(wire::kMaxCommandInputBytes));
        f.hash = *hash;
        req.stdin_file = wire::FileRef{0, f.path, f.hash, f.size};
        inputs.emplace(f.hash, std::move(f));
      } else if (options.stdin_bytes) {
        TreeFile f;
        f.path = "stdin";
        f.bytes = std::make_shared<const std::string>(*options.stdin_bytes);
        f.size = f.bytes->size();
        if (f.size > kMaxWasiStdinBytes)
          return LimitError("stdin of " + ModuleStore::Size(f.size) + " given as bytes: at most " +
                            ModuleStore::Size(kMaxWasiStdinBytes));
        f.hash = HashBytes(reinterpret_cast<const uint8_t*>(f.bytes->data()), f.bytes->size());
        req.stdin_file = wire::FileRef{0, f.path, f.hash, f.size};
        inputs.emplace(f.hash, std::move(f));
      }
      req.out = options.out_dir.has_value();
      req.id = 1;  // numbered when sent
      // The worker's own check, made here: a request it would drop unread must fail now,
      // with a reason, not after a silence.
      wire::LinkMessage probe;
      if (!wire::DecodeLink(wire::EncodeLink(req), &probe))
        return LimitError("the command is over the limits of a command on the mesh (at most " +
                          std::to_string(wire::kMaxCommandArgs) + " arguments and variables of " +
                          ModuleStore::Size(wire::kMaxCommandArgBytes) + " together, " +
                          std::to_string(wire::kMaxCommandFiles) + " files, " +
                          ModuleStore::Size(wire::kMaxCommandInputBytes) +
                          " of inputs, and no NUL in a word)");
      prepared.emplace(std::move(req), std::move(inputs));
    }
    bool not_sent = false;
    auto r =
        RunThere(target, module, prepared->first, prepared->second, options, cancel, &not_sent);
    if (!not_sent) {
      if (r.ok() && !note.empty()) r->note = note + (r->note.empty() ? "" : "; " + r->note);
      return r;
    }
    if (options.target)
      return MakeError(ErrorKind::kUnavailable,
                       "node " + std::to_string(target) + " is not linked to this node");
    note += "node " + std::to_string(target) + " could not be reached; ";
    tried.push_back(target);
  }
  return MakeError(ErrorKind::kUnavailable, "no node could run the command: " + note);
}

Result<CommandReply> CommandService::RunHere(const ModulePtr& module, const CommandOptions& options,
                                             const std::atomic<bool>* cancel) {
  CallSpec spec = hooks_.spec(module, "_start", {}, options.timeout_ms,
                              PagesOf(options.max_memory_mib), cancel);
  CallSpec::Wasi w;
  w.args = options.args;
  w.env = options.env;
  if (options.stdin_file)
    w.stdin_file = *options.stdin_file;  // read by the program as it goes: any size
  else
    w.stdin_data = options.stdin_bytes.value_or("");
  for (const auto& d : options.ro_dirs) w.preopens.push_back({d.host, d.guest, true});
  // /out starts empty here as on a worker: a folder of its own, moved into out_dir after.
  fs::path out_tmp;
  if (options.out_dir) {
    uint64_t n = 0;
    hooks_.on_loop([&] { n = next_dir_++; });
    out_tmp = hooks_.home / "commands" /
              ("local-" + std::to_string(::getpid()) + "-" + std::to_string(n)) / "out";
    std::error_code ec;
    fs::create_directories(out_tmp, ec);
    if (ec) return MakeError(ErrorKind::kIo, "cannot create " + out_tmp.string());
    w.preopens.push_back({out_tmp, "/out", false});
  }
  CommandReply reply;
  if (options.on_output)
    w.on_output = options.on_output;
  else
    w.on_output = [&reply](int stream, const std::string& data) {
      (stream == 1 ? reply.stdout_data : reply.stderr_data) += data;
    };
  spec.wasi = std::move(w);
  busy_++;
  hooks_.on_loop([this] { hooks_.load_changed(); });
  auto out = hooks_.execute(spec);
  busy_--;
  hooks_.on_loop([this] { hooks_.load_changed(); });
  auto cleanup = [&] {
    if (out_tmp.empty()) return;
    std::error_code ec;
    fs::remove_all(out_tmp.parent_path(), ec);
  };
  if (!out.ok()) {
    cleanup();
    return out.error();
  }
  reply.exit_code = out->exit_code;
  reply.truncated = out->output_truncated;
  reply.failure = out->failure;
  reply.node = self_;
  reply.elapsed_ms = std::chrono::duration<double, std::milli>(out->elapsed).count();
  reply.engine = EngineKindName(out->engine);
  reply.note = out->note;
  if (options.out_dir) {
    auto files = ListTree(out_tmp, wire::kMaxCommandFiles, wire::kMaxCommandOutBytes);
    std::error_code ec;
    fs::create_directories(*options.out_dir, ec);
    if (!files.ok()) {
      if (!reply.failure) reply.failure = files.error();
    } else {
      for (const TreeFile& f : *files) {
        fs::path to = *options.out_dir / f.path;
        Status s = MakeParents(*options.out_dir, f.path);
        // Moved whole: a rename within the file system, else a copy to a temporary name.
        if (s.ok() && ::rename(f.where.c_str(), to.c_str()) != 0) {
          fs::path part = *options.out_dir / (".velum-part-" + std::to_string(::getpid()));
          fs::remove(part, ec);  // a link there is removed, never written through
          if (!fs::copy_file(f.where, part, ec) || ::rename(part.c_str(), to.c_str()) != 0) {
            fs::remove(part, ec);
            s = MakeError(ErrorKind::kIo, "cannot write " + to.string());
          }
        }
        if (!s.ok()) {
          if (!reply.failure) reply.failure = s.error();
          break;
        }
        reply.out_files.push_back(f.path);
      }
    }
  }
  cleanup();
  return reply;
}

Result<CommandReply> CommandService::RunThere(core::NodeId target, const ModulePtr& module,
                                              wire::CommandRequest req,
                                              std::map<ModuleHash, TreeFile> inputs,
                                              const CommandOptions& options,
                                              const std::atomic<bool>* cancel, bool* not_sent) {
  VELUM_ASSERT(target != self_ && module != nullptr);
  auto inbox = std::make_shared<Inbox>();
  inbox->last_heard_us = hooks_.now_us();
  uint64_t id = 0;
  hooks_.on_loop([&] {
    if (stopped_) return;
    id = req.id = next_id_++;
    pending_[id] = {target, std::move(inputs), inbox};
    // A send that fails may drop the link and end the command at once (OnPeerLost): then
    // it did start. Otherwise it was not sent.
    if (!hooks_.send(target, req) && pending_.erase(id)) id = 0;
  });
  if (id == 0) {
    *not_sent = true;
    return MakeError(ErrorKind::kUnavailable, "not sent");
  }
  auto abandon = [&] {
    hooks_.on_loop([&] {
      if (pending_.erase(id)) hooks_.send(target, wire::CommandCancel{id});
    });
  };
  CommandReply reply;
  const auto started = std::chrono::steady_clock::now();
  // The worker enforces the deadline; silent past it, and time to move the files, it is lost.
  const uint64_t silence_us = (uint64_t{options.timeout_ms} + kPieceWaitMs) * 1000;
  std::optional<Result<wire::CommandResult>> result;
  while (!result) {
    std::deque<std::pair<int, std::string>> output;
    uint64_t heard = 0;
    {
      std::unique_lock<std::mutex> lock(inbox->mu);
      inbox->cv.wait_for(lock, std::chrono::milliseconds(20),
                         [&] { return !inbox->output.empty() || inbox->result.has_value(); });
      output.swap(inbox->output);
      if (inbox->result) result = std::move(*inbox->result);
      heard = inbox->last_heard_us;
    }
    for (auto& [stream, data] : output) {
      if (options.on_output)
        options.on_output(stream, data);
      else
        (stream == 1 ? reply.stdout_data : reply.stderr_data) += data;
    }
    if (result) break;
    if (cancel && cancel->load()) {
      abandon();
      return MakeError(ErrorKind::kCancelled, "the command was cancelled");
    }
    if (hooks_.now_us() - heard > silence_us) {
      abandon();
      return MakeError(ErrorKind::kUnavailable,
                       "no word from node " + std::to_string(target) + " about the command");
    }
  }
  if (!result->ok()) {
    abandon();
    return result->error();
  }
  const wire::CommandResult& r = **result;
  if (r.has_error && reply.stdout_data.empty() && reply.stderr_data.empty() && !options.on_output) {
    abandon();
    return ErrorOf(r.error);
  }
  if (r.has_error) reply.failure = ErrorOf(r.error);
  reply.exit_code = r.exit_code;
  {
    std::lock_guard<std::mutex> lock(inbox->mu);
    reply.truncated = r.truncated || inbox->output_dropped;
  }
  reply.node = target;
  reply.engine = r.engine;
  if (!r.out_error.empty() && !reply.failure)
    reply.failure = MakeError(ErrorKind::kLimitExceeded, "/out: " + r.out_error);
  if (options.out_dir) {
    std::error_code ec;
    fs::create_directories(*options.out_dir, ec);
    if (ec && !reply.failure)
      reply.failure = MakeError(ErrorKind::kIo, "cannot create " + options.out_dir->string());
    for (size_t n = 0; n < r.out.size(); n++) {
      const wire::FileRef& f = r.out[n];
      // Received under a temporary name in the same folder, checked, then renamed: a file
      // in out_dir is whole or absent.
      fs::path part = *options.out_dir / (".velum-part-" + std::to_string(id) + "-" +
                                          std::to_string(n) + "-" + std::to_string(::getpid()));
      std::error_code gone;
      fs::remove(part, gone);  // whatever had the name (a link, a hard link): not written through
      Status s = Pull(target, id, true, f, part, cancel);
      if (s.ok()) {
        auto got = HashFile(part, nullptr);
        if (!got.ok() || *got != f.hash)
          s = MakeError(ErrorKind::kIo, "/out/" + f.path + " arrived with other contents");
      }
      if (s.ok()) s = MakeParents(*options.out_dir, f.path);
      fs::path to = *options.out_dir / f.path;
      if (s.ok() && ::rename(part.c_str(), to.c_str()) != 0)
        s = MakeError(ErrorKind::kIo, "cannot write " + to.string() + ": " + std::strerror(errno));
      if (!s.ok()) {
        fs::remove(part, ec);
        if (!reply.failure) reply.failure = s.error();
        break;
      }
      reply.out_files.push_back(f.path);
    }
  }
  abandon();  // the worker may let its run folder go
  reply.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return reply;
}

Status CommandService::Pull(core::NodeId peer, uint64_t id, bool out, const wire::FileRef& f,
                            const fs::path& to, const std::atomic<bool>* cancel) {
  // Never through a link at `to` (its callers made the name theirs first).
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return MakeError(ErrorKind::kIo, "cannot create " + to.string() + ": " + std::strerror(errno));
  const std::string name = (out ? "/out/" : "") + f.path;
  // Up to kPiecesInFlight pieces are asked at once (one round trip per piece would cap a
  // transfer at a piece per link round trip); they are written in order as they come.
  struct Asked {
    uint64_t offset;
    PieceKey key;
    std::future<wire::BlobData> data;
  };
  std::deque<Asked> asked;
  uint64_t next = 0, offset = 0;  // the next piece to ask for; all before `offset` written
  Status status;
  while (offset < f.size && status.ok()) {
    if (cancel && cancel->load()) {  // also the node stopping: its loop may be gone
      status = MakeError(ErrorKind::kCancelled, "the command was cancelled");
      break;
    }
    while (asked.size() < kPiecesInFlight && next < f.size) {
      auto piece = std::make_shared<std::promise<wire::BlobData>>();
      const PieceKey key{peer, id, out, f.hash, next};
      bool sent = false;
      hooks_.on_loop([&] {
        if (stopped_) return;
        pieces_[key] = piece;
        sent = hooks_.send(peer, wire::BlobRequest{id, f.hash, next, out});
        if (!sent) pieces_.erase(key);
      });
      if (!sent) {
        status = MakeError(ErrorKind::kUnavailable,
                           "node " + std::to_string(peer) + " could not be asked for " + name);
        break;
      }
      asked.push_back({next, key, piece->get_future()});
      next += std::min<uint64_t>(wire::kModulePiece, f.size - next);
    }
    if (!status.ok()) break;
    Asked& first = asked.front();
    VELUM_ASSERT(first.offset == offset);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPieceWaitMs);
    bool arrived = false;
    while (!(arrived =
                 first.data.wait_for(std::chrono::milliseconds(20)) == std::future_status::ready)) {
      if ((cancel && cancel->load()) || std::chrono::steady_clock::now() >= give_up) break;
    }
    if (!arrived) {
      status = cancel && cancel->load()
                   ? Status(MakeError(ErrorKind::kCancelled, "the command was cancelled"))
                   : Status(MakeError(ErrorKind::kUnavailable,
                                      "node " + std::to_string(peer) + " stopped sending " + name));
      break;
    }
    wire::BlobData d = first.data.get();
    asked.pop_front();
    const uint64_t want = std::min<uint64_t>(wire::kModulePiece, f.size - offset);
    if (!d.error.empty())
      status = MakeError(ErrorKind::kIo, "node " + std::to_string(peer) + " could not send " +
                                             name + ": " + d.error);
    else if (d.total != f.size || d.data.size() != want)
      status = MakeError(ErrorKind::kIo, name + " changed while it was sent");
    else if (!WriteAt(fd, d.data, offset))
      status = MakeError(ErrorKind::kIo, "cannot write " + to.string());
    offset += want;
  }
  // What was asked and will not be waited for. Not when cancelled (the node may be stopping,
  // its loop gone): a piece that still comes erases its own entry (OnBlobData).
  if (!asked.empty() && !(cancel && cancel->load()))
    hooks_.on_loop([&] {
      for (const Asked& a : asked) pieces_.erase(a.key);
    });
  ::close(fd);
  VELUM_ASSERT(!status.ok() || offset == f.size);
  return status;
}

// --- Serving peers' commands -------------------------------------------------------------

void CommandService::Serve(core::NodeId peer, wire::CommandRequest req) {
  if (stopped_ || serving_.count({peer, req.id})) return;  // leaving, or a duplicate
  if (serving_.size() >= kMaxServing) {
    wire::CommandResult r;
    r.id = req.id;
    r.has_error = true;
    r.error = TaskErrorOf(LimitError("this node runs too many commands already"));
    hooks_.send(peer, r);
    return;
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  fs::path dir =
      hooks_.home / "commands" /
      (std::to_string(peer) + "-" + std::to_string(req.id) + "-" + std::to_string(next_dir_++));
  serving_[{peer, req.id}] = {cancel, dir, {}};
  served_++;
  busy_++;
  hooks_.load_changed();
  const uint64_t size = req.module_size;
  const ModuleHash hash = req.module;
  hooks_.fetch(
      hash, size, peer, [this, peer, req = std::move(req), cancel, dir](Result<ModulePtr> module) {
        auto it = serving_.find({peer, req.id});
        if (stopped_ || it == serving_.end() || it->second.cancel != cancel) return;
        auto fail = [&](const Error& e) {
          wire::CommandResult r;
          r.id = req.id;
          r.has_error = true;
          r.error = TaskErrorOf(e);
          hooks_.send(peer, r);
          EndServed(peer, req.id);
        };
        if (!module.ok()) return fail(module.error());
        ModulePtr m = *module;
        if (!hooks_.blocking(
                [this, peer, req, cancel, m, dir] { RunServed(peer, req, cancel, m, dir); }))
          fail(LimitError("the command queue is full"));
      });
  VELUM_ASSERT(serving_.size() <= kMaxServing);
}

Result<CallSpec> CommandService::ServedSpec(core::NodeId peer, const wire::CommandRequest& req,
                                            const Cancel& cancel, ModulePtr module,
                                            const fs::path& dir) {
  if (Status s = CheckEnv(req.env); !s.ok()) return s.error();
  std::error_code ec;
  for (size_t k = 0; k < req.dirs.size(); k++)
    fs::create_directories(dir / "in" / std::to_string(k), ec);
  if (req.out) fs::create_directories(dir / "out", ec);
  if (ec) return MakeError(ErrorKind::kIo, "cannot create " + dir.string());
  // Each content is fetched once, and not at all when an earlier command brought it.
  std::map<ModuleHash, fs::path> have;
  auto get = [&](const wire::FileRef& f) -> Result<fs::path> {
    if (auto it = have.find(f.hash); it != have.end()) return it->second;
    if (auto cached = blobs_.Find(f.hash)) return have[f.hash] = *cached;
    auto temp = blobs_.TempFile();
    if (!temp.ok()) return temp.error();
    if (Status s = Pull(peer, req.id, false, f, *temp, cancel.get()); !s.ok()) {
      fs::remove(*temp, ec);
      return s.error();
    }
    auto kept = blobs_.Adopt(*temp, f.hash);
    if (!kept.ok()) return kept.error();
    files_fetched_++;
    bytes_fetched_ += f.size;
    return have[f.hash] = *kept;
  };
  for (const wire::FileRef& f : req.inputs) {
    auto from = get(f);
    if (!from.ok()) return from.error();
    fs::path root = dir / "in" / std::to_string(f.dir);
    Status s = MakeParents(root, f.path);
    if (s.ok()) s = BlobCache::Place(*from, root / f.path);
    if (!s.ok()) return s.error();
  }
  CallSpec spec = hooks_.spec(std::move(module), "_start", {}, req.timeout_ms, req.max_memory_pages,
                              cancel.get());
  CallSpec::Wasi w;
  w.args = req.args;
  w.env = req.env;
  w.stdin_data = "";
  if (req.stdin_file) {
    auto from = get(*req.stdin_file);
    if (!from.ok()) return from.error();
    // Linked into the run folder first: the blob cache may drop its copy at any time.
    fs::create_directories(dir, ec);
    if (Status st = BlobCache::Place(*from, dir / "stdin"); !st.ok()) return st.error();
    w.stdin_data.reset();
    w.stdin_file = dir / "stdin";  // read by the program as it goes
  }
  for (size_t k = 0; k < req.dirs.size(); k++)
    w.preopens.push_back({dir / "in" / std::to_string(k), req.dirs[k], true});
  if (req.out) w.preopens.push_back({dir / "out", "/out", false});
  const uint64_t id = req.id;
  w.on_output = [this, peer, id, cancel](int stream, const std::string& data) {
    for (size_t at = 0; at < data.size(); at += wire::kCommandOutputPiece) {
      wire::CommandOutput o{id, static_cast<uint32_t>(stream),
                            data.substr(at, wire::kCommandOutputPiece)};
      hooks_.loop([this, peer, cancel, o = std::move(o)] {
        auto it = serving_.find({peer, o.id});
        if (it != serving_.end() && it->second.cancel == cancel) hooks_.send(peer, o);
      });
    }
  };
  spec.wasi = std::move(w);
  return spec;
}

void CommandService::RunServed(core::NodeId peer, const wire::CommandRequest& req,
                               const Cancel& cancel, ModulePtr module, fs::path dir) {
  wire::CommandResult r;
  r.id = req.id;
  std::vector<TreeFile> out_files;
  auto spec = ServedSpec(peer, req, cancel, std::move(module), dir);
  if (!spec.ok()) {
    r.has_error = true;
    r.error = TaskErrorOf(spec.error());
  } else {
    auto out = hooks_.execute(*spec);
    if (!out.ok()) {
      r.has_error = true;
      r.error = TaskErrorOf(out.error());
    } else {
      r.exit_code = out->exit_code;
      r.run_us = static_cast<uint64_t>(out->elapsed.count() / 1000);
      r.engine = EngineKindName(out->engine);
      r.truncated = out->output_truncated;
      if (out->failure) {
        r.has_error = true;
        r.error = TaskErrorOf(*out->failure);
      }
    }
    if (req.out && !cancel->load()) {
      auto files = ListTree(dir / "out", wire::kMaxCommandFiles, wire::kMaxCommandOutBytes);
      Status hashed = files.ok() ? HashTree(&*files) : Status(files.error());
      if (!hashed.ok()) {
        r.out_error = hashed.error().message;
      } else {
        for (const TreeFile& f : *files) r.out.push_back({0, f.path, f.hash, f.size});
        out_files = std::move(*files);
      }
    }
  }
  // Whatever happened meanwhile, the end below on the loop removes the folder or keeps it
  // for /out (a folder left by a node that stopped first goes at its next start).
  hooks_.loop([this, peer, cancel, dir, r = std::move(r), out_files = std::move(out_files)] {
    auto it = serving_.find({peer, r.id});
    if (it == serving_.end() || it->second.cancel != cancel) {
      RemoveDir(dir);  // ended while running (EndServed): the folder is left to this end
      return;
    }
    for (const TreeFile& f : out_files) it->second.out_files.emplace(f.hash, f);
    hooks_.send(peer, r);
    VELUM_ASSERT(busy_.load() > 0);
    busy_--;
    it->second.cancel = nullptr;  // ended: no longer running, at most keeping files
    hooks_.load_changed();
    // /out is kept until the caller has pulled it and says so (CommandCancel), or is lost;
    // with nothing to keep, the run folder goes now.
    if (r.out.empty()) EndServed(peer, r.id);
  });
}

void CommandService::EndServed(core::NodeId peer, uint64_t id) {
  auto it = serving_.find({peer, id});
  if (it == serving_.end()) return;
  Served s = std::move(it->second);
  serving_.erase(it);
  if (s.cancel) {  // still running: it stops, and removes its folder when it has
    s.cancel->store(true);
    VELUM_ASSERT(busy_.load() > 0);
    busy_--;
    hooks_.load_changed();
    return;
  }
  RemoveDir(s.dir);
}

void CommandService::RemoveDir(fs::path dir) {
  VELUM_ASSERT(!dir.empty());
  auto remove = [dir] {
    std::error_code ec;
    fs::remove_all(dir, ec);
  };
  if (!hooks_.blocking(remove)) remove();
}

void CommandService::OnOutput(core::NodeId peer, const wire::CommandOutput& o) {
  auto it = pending_.find(o.id);
  if (it == pending_.end() || it->second.target != peer) return;
  Inbox& inbox = *it->second.inbox;
  {
    std::lock_guard<std::mutex> lock(inbox.mu);
    // The worker caps each stream (kMaxWasiOutputBytes); past that, or after the result,
    // output is a peer's flood: dropped, and it does not count as word of the command.
    uint64_t& received = inbox.received[o.stream == 1 ? 0 : 1];
    if (inbox.result || o.data.size() > kMaxWasiOutputBytes - received) {
      inbox.output_dropped = true;
      return;
    }
    received += o.data.size();
    inbox.output.emplace_back(static_cast<int>(o.stream), o.data);
    inbox.last_heard_us = hooks_.now_us();
  }
  inbox.cv.notify_one();
}

void CommandService::OnResult(core::NodeId peer, const wire::CommandResult& r) {
  auto it = pending_.find(r.id);
  if (it == pending_.end() || it->second.target != peer) return;
  Inbox& inbox = *it->second.inbox;
  {
    std::lock_guard<std::mutex> lock(inbox.mu);
    if (!inbox.result) inbox.result = r;
    inbox.last_heard_us = hooks_.now_us();
  }
  inbox.cv.notify_one();
  // Still pending: the caller pulls /out under this id, then lets it go.
}

void CommandService::OnCancel(core::NodeId peer, uint64_t id) { EndServed(peer, id); }

void CommandService::OnBlobRequest(core::NodeId peer, const wire::BlobRequest& req) {
  const TreeFile* file = nullptr;
  if (!req.out) {
    auto it = pending_.find(req.id);
    if (it != pending_.end() && it->second.target == peer) {
      {
        std::lock_guard<std::mutex> lock(it->second.inbox->mu);
        it->second.inbox->last_heard_us = hooks_.now_us();
      }
      if (auto f = it->second.inputs.find(req.hash); f != it->second.inputs.end())
        file = &f->second;
    }
  } else if (auto it = serving_.find({peer, req.id}); it != serving_.end()) {
    if (auto f = it->second.out_files.find(req.hash); f != it->second.out_files.end())
      file = &f->second;
  }
  SendPiece(peer, req, file);
}

void CommandService::SendPiece(core::NodeId peer, const wire::BlobRequest& req,
                               const TreeFile* file) {
  wire::BlobData d;
  d.id = req.id;
  d.hash = req.hash;
  d.offset = req.offset;
  d.out = req.out;
  if (!file) {
    d.error = "no such file in this command";
  } else if (req.offset >= file->size) {
    d.error = "asked past the end of " + file->path;
  } else {
    // Read here on the loop, one piece per request: a blocking thread could be held by a
    // command that is itself waiting for a piece from this node's peer.
    auto data = file->bytes
                    ? Result<std::string>(file->bytes->substr(req.offset, wire::kModulePiece))
                    : ReadPiece(file->where, req.offset, wire::kModulePiece);
    if (!data.ok())
      d.error = data.error().message;
    else if (data->empty())
      d.error = file->path + " is shorter than when it was listed";
    else {
      d.total = file->size;
      d.data = std::move(*data);
      if (d.data.size() > d.total - d.offset) d.data.resize(d.total - d.offset);  // it grew
    }
  }
  hooks_.send(peer, d);
}

void CommandService::OnBlobData(core::NodeId peer, wire::BlobData d) {
  auto it = pieces_.find(PieceKey{peer, d.id, d.out, d.hash, d.offset});
  if (it == pieces_.end()) return;
  auto promise = std::move(it->second);
  pieces_.erase(it);
  promise->set_value(std::move(d));
}

void CommandService::OnPeerLost(core::NodeId peer) {
  const std::string why = "node " + std::to_string(peer) + " was lost during the command";
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.target != peer) {
      ++it;
      continue;
    }
    Inbox& inbox = *it->second.inbox;
    {
      std::lock_guard<std::mutex> lock(inbox.mu);
      if (!inbox.result) inbox.result = MakeError(ErrorKind::kUnavailable, why);
    }
    inbox.cv.notify_one();
    it = pending_.erase(it);
  }
  for (auto it = pieces_.begin(); it != pieces_.end();) {
    if (std::get<0>(it->first) != peer) {
      ++it;
      continue;
    }
    wire::BlobData lost;
    lost.error = why;
    it->second->set_value(std::move(lost));
    it = pieces_.erase(it);
  }
  std::vector<uint64_t> served;
  for (const auto& [key, s] : serving_)
    if (key.first == peer) served.push_back(key.second);
  for (uint64_t id : served) EndServed(peer, id);
}

void CommandService::Stop(const std::string& why) {
  stopped_ = true;
  for (auto& [id, p] : pending_) {
    std::lock_guard<std::mutex> lock(p.inbox->mu);
    if (!p.inbox->result) p.inbox->result = MakeError(ErrorKind::kUnavailable, why);
    p.inbox->cv.notify_one();
  }
  pending_.clear();
  for (auto& [key, piece] : pieces_) {
    wire::BlobData none;
    none.error = why;
    piece->set_value(std::move(none));
  }
  pieces_.clear();
  CancelServed();
}

void CommandService::CancelServed() {
  for (auto& [key, s] : serving_)
    if (s.cancel) s.cancel->store(true);
}

}  // namespace velum
