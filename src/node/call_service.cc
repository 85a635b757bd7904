// CallService: remote calls sent and served (call_service.h). Frames arrive on the loop
// thread; Call blocks its caller's thread and hands the loop only what touches shared state.
#include "node/call_service.h"

#include <chrono>

#include "core/assert.h"
#include "node/job_values.h"

namespace velum {

namespace {

// Notes gathered over attempts end in "; ": the last one goes.
std::string JoinNote(std::string note) {
  if (note.size() >= 2 && note.compare(note.size() - 2, 2, "; ") == 0) note.resize(note.size() - 2);
  return note;
}

}  // namespace

CallService::CallService(core::NodeId self, Hooks hooks) : self_(self), hooks_(std::move(hooks)) {
  VELUM_ASSERT(self_ != core::kNoNode);
  VELUM_ASSERT(hooks_.send && hooks_.fetch && hooks_.blocking && hooks_.loop && hooks_.on_loop &&
               hooks_.execute && hooks_.spec && hooks_.pick_target && hooks_.load_changed &&
               hooks_.now_us);
}

Result<CallReply> CallService::Call(const ModulePtr& module, const std::string& func,
                                    const std::vector<Value>& args, const CallOptions& options,
                                    const std::atomic<bool>* cancel) {
  std::vector<core::NodeId> tried;
  std::string note;
  for (int attempt = 0; attempt < kMaxAttempts; attempt++) {
    core::NodeId target = options.local ? self_ : options.target;
    if (!target) hooks_.on_loop([&] { target = hooks_.pick_target(tried); });
    if (target == self_) return RunHere(module, func, args, options, cancel, note);
    auto promise = std::make_shared<std::promise<Result<CallReply>>>();
    auto future = promise->get_future();
    uint64_t id = 0;
    hooks_.on_loop([&] {
      id = Start(target, module, func, args, options,
                 [promise](Result<CallReply> r) { promise->set_value(std::move(r)); });
    });
    if (id == 0) {
      if (options.target)
        return MakeError(ErrorKind::kUnavailable,
                         "node " + std::to_string(target) + " is not linked to this node");
      tried.push_back(target);
      continue;
    }
    // The target enforces the timeout; past it (and time to fetch the module) it is lost.
    auto give_up = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(options.timeout_ms) + std::chrono::seconds(30);
    bool timed_out = false;
    while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
      bool cancelled = cancel && cancel->load();
      timed_out = std::chrono::steady_clock::now() >= give_up;
      if (cancelled || timed_out) {
        hooks_.on_loop([&] { Abandon(id); });
        if (cancelled) return MakeError(ErrorKind::kCancelled, "the call was cancelled");
        break;
      }
    }
    Result<CallReply> r =
        timed_out ? Result<CallReply>(MakeError(ErrorKind::kUnavailable,
                                                "no answer from node " + std::to_string(target)))
                  : future.get();
    if (!r.ok() && r.error().kind == ErrorKind::kUnavailable && !options.target) {
      // The node was lost (or could not get the module): the call moves to the next best.
      note += r.error().message + "; ";
      tried.push_back(target);
      continue;
    }
    if (r.ok()) r->note = JoinNote(note + r->note);
    return r;
  }
  return MakeError(ErrorKind::kUnavailable, "no node could run the call: " + note);
}

Result<CallOutcome> CallService::RunSpecHere(const CallSpec& spec) {
  local_calls_++;
  hooks_.on_loop([this] { hooks_.load_changed(); });
  auto out = hooks_.execute(spec);
  VELUM_ASSERT(local_calls_.load() > 0);
  local_calls_--;
  hooks_.on_loop([this] { hooks_.load_changed(); });
  return out;
}

Result<CallReply> CallService::RunHere(const ModulePtr& module, const std::string& func,
                                       const std::vector<Value>& args, const CallOptions& options,
                                       const std::atomic<bool>* cancel, const std::string& note) {
  auto out = RunSpecHere(
      hooks_.spec(module, func, args, options.timeout_ms, PagesOf(options.max_memory_mib), cancel));
  if (!out.ok()) return out.error();
  CallReply reply;
  reply.values = std::move(out->values);
  reply.node = self_;
  reply.elapsed_ms = std::chrono::duration<double, std::milli>(out->elapsed).count();
  reply.engine = EngineKindName(out->engine);
  reply.note = JoinNote(note + out->note);
  return reply;
}

uint64_t CallService::Start(core::NodeId target, const ModulePtr& module, const std::string& func,
                            const std::vector<Value>& args, const CallOptions& options, Done done) {
  VELUM_ASSERT(target != self_ && done);
  if (stopped_) return 0;
  wire::CallRequest req;
  req.id = next_id_++;
  req.module = module->hash();
  req.module_size = module->bytes().size();
  req.func = func;
  req.args = WireOf(args);
  req.timeout_ms = options.timeout_ms;
  req.max_memory_pages = PagesOf(options.max_memory_mib);
  // Pending before it is sent: an answer may come within the send (a test's peer does).
  pending_[req.id] = {target, std::move(done), hooks_.now_us()};
  // A send that fails may drop the link on the spot, and the peer's loss end the call (done
  // ran): then the call did start and ended. Otherwise it was not sent and done never runs.
  if (!hooks_.send(target, req) && pending_.erase(req.id)) return 0;
  return req.id;
}

void CallService::Abandon(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  hooks_.send(it->second.target, wire::CallCancel{id});
  pending_.erase(it);
}

void CallService::ReplyError(core::NodeId peer, uint64_t id, const Error& error) {
  wire::CallResult r;
  r.id = id;
  r.has_error = true;
  r.error = TaskErrorOf(error);
  hooks_.send(peer, r);
}

void CallService::Serve(core::NodeId peer, wire::CallRequest req) {
  if (stopped_ || serving_.count({peer, req.id})) return;  // leaving, or a duplicate
  if (serving_.size() >= kMaxServing) {
    ReplyError(peer, req.id,
               MakeError(ErrorKind::kLimitExceeded, "this node holds too many calls already"));
    return;
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  serving_[{peer, req.id}] = cancel;
  served_++;
  hooks_.load_changed();
  const uint64_t size = req.module_size;
  const ModuleHash hash = req.module;
  hooks_.fetch(hash, size, peer,
               [this, peer, req = std::move(req), cancel](Result<ModulePtr> module) {
                 if (stopped_) return;
                 if (cancel->load()) {
                   // Cancelled while its module came: it ends here, without a word.
                   if (EndServed(peer, req.id, cancel)) hooks_.load_changed();
                   return;
                 }
                 if (!module.ok()) {
                   if (EndServed(peer, req.id, cancel)) {
                     ReplyError(peer, req.id, module.error());
                     hooks_.load_changed();
                   }
                   return;
                 }
                 RunServed(peer, req, cancel, *module);
               });
  VELUM_ASSERT(serving_.size() <= kMaxServing);
}

void CallService::RunServed(core::NodeId peer, const wire::CallRequest& req, const Cancel& cancel,
                            ModulePtr m) {
  bool posted = hooks_.blocking([this, peer, req, cancel, m] {
    wire::CallResult r;
    r.id = req.id;
    auto exported = m->FindFunction(req.func);
    std::vector<Value> args = ValuesOf(req.args);
    Status ok = exported.ok() ? CheckArgs(**exported, args) : Status(exported.error());
    if (!ok.ok()) {
      r.has_error = true;
      r.error = TaskErrorOf(ok.error());
    } else {
      auto out = hooks_.execute(hooks_.spec(m, req.func, std::move(args), req.timeout_ms,
                                            req.max_memory_pages, cancel.get()));
      if (out.ok()) {
        r.values = WireOf(out->values);
        r.run_us = static_cast<uint64_t>(out->elapsed.count() / 1000);
        r.engine = EngineKindName(out->engine);
      } else {
        r.has_error = true;
        r.error = TaskErrorOf(out.error());
      }
    }
    hooks_.loop([this, peer, cancel, r = std::move(r)] {
      if (!EndServed(peer, r.id, cancel)) return;  // cancelled, or the caller is gone
      hooks_.send(peer, r);
      hooks_.load_changed();
    });
  });
  if (!posted && EndServed(peer, req.id, cancel)) {
    ReplyError(peer, req.id, MakeError(ErrorKind::kLimitExceeded, "the call queue is full"));
    hooks_.load_changed();
  }
}

bool CallService::EndServed(core::NodeId peer, uint64_t id, const Cancel& cancel) {
  // By the flag too: a caller that restarted numbers its calls from 1 again, and its new call
  // with an old id must not receive the old one's answer.
  auto it = serving_.find({peer, id});
  if (it == serving_.end() || it->second != cancel) return false;
  serving_.erase(it);
  return true;
}

void CallService::OnResult(core::NodeId peer, const wire::CallResult& r) {
  auto it = pending_.find(r.id);
  if (it == pending_.end() || it->second.target != peer) return;
  Done done = std::move(it->second.done);
  uint64_t sent = it->second.sent_us;
  pending_.erase(it);
  if (r.has_error) {
    Error e;
    e.kind = ErrorKindFromNumber(r.error.kind).value_or(ErrorKind::kInternal);
    // The worker rendered its error in full ("trap: ..."): keep its words without repeating
    // the kind that ToString() puts in front again.
    std::string prefix = std::string(ErrorKindName(e.kind)) + ": ";
    e.message = r.error.message.rfind(prefix, 0) == 0 ? r.error.message.substr(prefix.size())
                                                      : r.error.message;
    done(e);
    return;
  }
  CallReply reply;
  reply.values = ValuesOf(r.values);
  reply.node = peer;
  reply.elapsed_ms = static_cast<double>(hooks_.now_us() - sent) / 1000.0;
  reply.engine = r.engine;
  done(std::move(reply));
}

void CallService::OnCancel(core::NodeId peer, uint64_t id) {
  if (auto it = serving_.find({peer, id}); it != serving_.end()) it->second->store(true);
}

void CallService::OnPeerLost(core::NodeId peer) {
  // Taken out first: a done may start or abandon other calls.
  std::vector<Done> lost;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.target != peer) {
      ++it;
      continue;
    }
    lost.push_back(std::move(it->second.done));
    it = pending_.erase(it);
  }
  for (Done& done : lost)
    done(MakeError(ErrorKind::kUnavailable,
                   "node " + std::to_string(peer) + " was lost during the call"));
  for (auto it = serving_.begin(); it != serving_.end();) {
    if (it->first.first != peer) {
      ++it;
      continue;
    }
    it->second->store(true);
    it = serving_.erase(it);
  }
  hooks_.load_changed();
}

void CallService::Stop(const std::string& why) {
  stopped_ = true;
  CancelServed();
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, call] : pending) call.done(MakeError(ErrorKind::kUnavailable, why));
}

void CallService::CancelServed() {
  for (auto& [key, cancel] : serving_) cancel->store(true);
}

}  // namespace velum
