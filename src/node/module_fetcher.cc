// The fetch of one module: look on disk, else request it, receive the pieces in order, then
// validate and store off the loop; every waiter gets the module or the reason it failed.
#include "node/module_fetcher.h"

#include <algorithm>

namespace velum {

ModuleFetcher::ModuleFetcher(ModuleStore* store, Hooks hooks)
    : store_(store), hooks_(std::move(hooks)) {}

void ModuleFetcher::Get(const ModuleHash& hash, uint64_t size, core::NodeId peer, Done done) {
  if (ModulePtr m = store_->Cached(hash)) {
    hooks_.loop([done = std::move(done), m] { done(m); });
    return;
  }
  auto it = fetches_.find(hash);
  if (it != fetches_.end()) {
    it->second.waiters.push_back(std::move(done));
    return;
  }
  Fetch& f = fetches_[hash];
  f.peer = peer;
  f.size = size;
  f.waiters.push_back(std::move(done));
  // Reading and validating a stored module can take a while for a big one: off the loop.
  ModuleStore* store = store_;
  auto loop = hooks_.loop;
  bool posted = hooks_.blocking([this, store, loop, hash] {
    ModulePtr found = store->Find(hash);
    loop([this, hash, found] { OnDisk(hash, found); });
  });
  if (!posted) Fail(hash, ErrorKind::kLimitExceeded, "this node is too busy to load a module");
}

void ModuleFetcher::OnDisk(const ModuleHash& hash, ModulePtr found) {
  auto it = fetches_.find(hash);
  if (it == fetches_.end()) return;
  if (found) {
    Complete(hash, found);
    return;
  }
  Fetch& f = it->second;
  if (store_->max_bytes() && f.size > store_->max_bytes()) {
    Fail(hash, ErrorKind::kLimitExceeded,
         "module of " + ModuleStore::Size(f.size) + " exceeds this node's limit of " +
             ModuleStore::Size(store_->max_bytes()));
    return;
  }
  if (f.peer == core::kNoNode) {  // this node's own job: nobody to ask
    Fail(hash, ErrorKind::kUnavailable, ModuleStore::Missing(hash));
    return;
  }
  if (!hooks_.send(f.peer, wire::ModuleRequest{hash})) {
    Fail(hash, ErrorKind::kUnavailable,
         "module " + HashToHex(hash).substr(0, 12) + " is not here and node " +
             std::to_string(f.peer) + " cannot be asked for it");
    return;
  }
  f.stage = Stage::kReceiving;
  f.deadline_ms = hooks_.now_ms() + kStallMs;  // the disk took its time: from now
}

void ModuleFetcher::OnData(core::NodeId from, const wire::ModuleData& d, uint64_t now_ms) {
  auto it = fetches_.find(d.hash);
  if (it == fetches_.end() || it->second.stage != Stage::kReceiving || it->second.peer != from)
    return;  // unasked for, or a late piece of a fetch that already ended
  Fetch& f = it->second;
  if (!d.error.empty()) {
    Fail(d.hash, ErrorKind::kUnavailable, "node " + std::to_string(from) + ": " + d.error);
    return;
  }
  if (store_->max_bytes() && d.total > store_->max_bytes()) {
    Fail(d.hash, ErrorKind::kLimitExceeded,
         "module of " + ModuleStore::Size(d.total) + " exceeds this node's limit of " +
             ModuleStore::Size(store_->max_bytes()));
    return;
  }
  if (f.bytes.empty()) {
    f.size = d.total;
    f.bytes.reserve(d.total);
  }
  if (d.total != f.size || d.offset != f.bytes.size()) {
    Fail(d.hash, ErrorKind::kIo,
         "module transfer from node " + std::to_string(from) +
             " arrived out of order or changed size");
    return;
  }
  f.bytes.insert(f.bytes.end(), d.data.begin(), d.data.end());
  bytes_fetched_ += d.data.size();
  f.deadline_ms = now_ms + kStallMs;
  if (f.bytes.size() < f.size) return;
  f.stage = Stage::kValidating;
  ModuleHash hash = d.hash;
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::move(f.bytes));
  ModuleStore* store = store_;
  auto loop = hooks_.loop;
  bool posted = hooks_.blocking([this, store, loop, hash, bytes] {
    Result<ModulePtr> added = store->Add(std::move(*bytes));
    loop([this, hash, added] {
      if (added.ok() && (*added)->hash() != hash) {
        Fail(hash, ErrorKind::kInvalidModule, "the received module does not match its hash");
        return;
      }
      if (added.ok()) fetched_++;
      Complete(hash, added);
    });
  });
  if (!posted) Fail(hash, ErrorKind::kLimitExceeded, "this node is too busy to store a module");
}

void ModuleFetcher::OnLinkDown(core::NodeId peer) {
  std::vector<ModuleHash> lost;
  for (const auto& [hash, f] : fetches_)
    if (f.peer == peer && f.stage == Stage::kReceiving) lost.push_back(hash);
  for (const auto& hash : lost)
    Fail(hash, ErrorKind::kUnavailable,
         "node " + std::to_string(peer) + " was lost while sending a module");
}

void ModuleFetcher::Tick(uint64_t now_ms) {
  std::vector<ModuleHash> stalled;
  for (const auto& [hash, f] : fetches_)
    if (f.stage == Stage::kReceiving && now_ms >= f.deadline_ms) stalled.push_back(hash);
  for (const auto& hash : stalled)
    Fail(hash, ErrorKind::kUnavailable,
         "module transfer stalled for " + std::to_string(kStallMs / 1000) + " s");
}

uint64_t ModuleFetcher::NextDeadlineMs() const {
  uint64_t next = UINT64_MAX;
  for (const auto& [hash, f] : fetches_)
    if (f.stage == Stage::kReceiving) next = std::min(next, f.deadline_ms);
  return next;
}

void ModuleFetcher::Complete(const ModuleHash& hash, Result<ModulePtr> result) {
  auto it = fetches_.find(hash);
  if (it == fetches_.end()) return;
  std::vector<Done> waiters = std::move(it->second.waiters);
  fetches_.erase(it);
  for (auto& w : waiters) w(result);
}

void ModuleFetcher::Fail(const ModuleHash& hash, ErrorKind kind, const std::string& why) {
  Complete(hash, MakeError(kind, why));
}

}  // namespace velum
