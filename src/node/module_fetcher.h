// Fetching modules this node lacks from the peer that named them: one request per module
// however many slices wait for it, pieces checked in order against the announced size, the
// whole checked against its hash and validated before anything runs it.
#ifndef VELUM_NODE_MODULE_FETCHER_H_
#define VELUM_NODE_MODULE_FETCHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "core/types.h"
#include "runtime/module_store.h"
#include "wire/job_codec.h"

namespace velum {

class ModuleFetcher {
 public:
  using Done = std::function<void(Result<ModulePtr>)>;
  struct Hooks {
    std::function<bool(core::NodeId, const wire::LinkMessage&)> send;  // on the peer's link
    std::function<bool(std::function<void()>)> blocking;  // runs off the loop (disk, validation)
    std::function<void(std::function<void()>)> loop;      // back onto the loop
    std::function<uint64_t()> now_ms;                     // the clock of the *_ms arguments
  };
  static constexpr uint64_t kStallMs = 30000;  // no piece for this long: the fetch fails

  ModuleFetcher(ModuleStore* store, Hooks hooks);

  // Calls `done` on the loop, later, with the module: from this node's store, else fetched
  // from `peer`. `size` is what the peer announced (checked against this node's limit).
  void Get(const ModuleHash& hash, uint64_t size, core::NodeId peer, Done done);
  void OnData(core::NodeId from, const wire::ModuleData& data, uint64_t now_ms);
  void OnLinkDown(core::NodeId peer);
  void Tick(uint64_t now_ms);
  // When Tick next has work: the earliest stall deadline of a transfer; UINT64_MAX if none.
  uint64_t NextDeadlineMs() const;

  uint64_t fetched() const { return fetched_; }  // modules received over the network
  uint64_t bytes_fetched() const { return bytes_fetched_; }
  size_t in_flight() const { return fetches_.size(); }

 private:
  enum class Stage { kDisk, kReceiving, kValidating };
  struct Fetch {
    Stage stage = Stage::kDisk;
    core::NodeId peer = core::kNoNode;
    uint64_t size = 0;
    std::vector<uint8_t> bytes;
    std::vector<Done> waiters;
    uint64_t deadline_ms = 0;  // kReceiving: no piece by then and the fetch fails
  };

  void OnDisk(const ModuleHash& hash, ModulePtr found);
  void Complete(const ModuleHash& hash, Result<ModulePtr> result);
  void Fail(const ModuleHash& hash, ErrorKind kind, const std::string& why);

  ModuleStore* store_;
  Hooks hooks_;
  std::map<ModuleHash, Fetch> fetches_;
  uint64_t fetched_ = 0, bytes_fetched_ = 0;
};

}  // namespace velum

#endif  // VELUM_NODE_MODULE_FETCHER_H_
