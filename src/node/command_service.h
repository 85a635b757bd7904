// Remote WASI commands both ways: commands this node sends to the best peer, whose output it
// relays while they run (Run), and commands peers send here (Serve). Files move by content.
#ifndef VELUM_NODE_COMMAND_SERVICE_H_
#define VELUM_NODE_COMMAND_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/types.h"
#include "node/command_files.h"
#include "node/module_fetcher.h"
#include "node/node.h"
#include "runtime/executor_pool.h"
#include "wire/job_codec.h"

namespace velum {

class CommandService {
 public:
  struct Hooks {
    std::function<bool(core::NodeId, const wire::LinkMessage&)> send;  // on the peer's link
    std::function<void(const ModuleHash&, uint64_t size, core::NodeId, ModuleFetcher::Done)> fetch;
    std::function<bool(std::function<void()>)> blocking;  // off the loop: waits for an executor
    std::function<void(std::function<void()>)> loop;      // back onto the loop
    std::function<void(std::function<void()>)> on_loop;   // runs on the loop and waits for it
    std::function<Result<CallOutcome>(const CallSpec&)> execute;
    // The node's one rule for an executor call's limits (JobDriver::SpecFor).
    std::function<CallSpec(ModulePtr, std::string, std::vector<Value>, uint32_t timeout_ms,
                           uint32_t memory_pages, const std::atomic<bool>*)>
        spec;
    std::function<core::NodeId(const std::vector<core::NodeId>& tried)> pick_target;
    std::function<void()> load_changed;  // busy() may have moved (loop thread)
    std::function<uint64_t()> now_us;
    std::filesystem::path home;  // run folders under <home>/commands, received files in blobs
  };
  // Peers' commands held at once (receiving files, queued, running, keeping /out).
  static constexpr size_t kMaxServing = 64;
  // A piece of a file asked for and not come within this long: the transfer fails.
  static constexpr uint64_t kPieceWaitMs = 30000;
  // Pieces of one file asked for at once (each wire::kModulePiece, 1 MiB): what a transfer
  // may hold in flight.
  static constexpr size_t kPiecesInFlight = 4;
  // Received inputs kept by content for later commands, least recently used dropped first.
  static constexpr uint64_t kBlobCacheBytes = 1024ull << 20;

  CommandService(core::NodeId self, Hooks hooks);

  // Any thread but the loop's: lists and hashes the folders and stdin, then runs the command
  // here or on the best peer (a peer that cannot be reached is passed over).
  Result<CommandReply> Run(const ModulePtr& module, const CommandOptions& options,
                           const std::atomic<bool>* cancel);

  // Loop thread: frames from `peer`, and its loss.
  void Serve(core::NodeId peer, wire::CommandRequest request);
  void OnOutput(core::NodeId peer, const wire::CommandOutput& output);
  void OnResult(core::NodeId peer, const wire::CommandResult& result);
  void OnCancel(core::NodeId peer, uint64_t id);
  void OnBlobRequest(core::NodeId peer, const wire::BlobRequest& request);
  void OnBlobData(core::NodeId peer, wire::BlobData data);
  void OnPeerLost(core::NodeId peer);
  void Stop(const std::string& why);
  void CancelServed();  // after the loop has ended (any thread)

  uint32_t busy() const { return busy_.load(); }
  uint64_t served() const { return served_; }
  uint64_t files_fetched() const { return files_fetched_.load(); }
  uint64_t bytes_fetched() const { return bytes_fetched_.load(); }

 private:
  using Cancel = std::shared_ptr<std::atomic<bool>>;
  // What a running command sends back to the thread that waits for it.
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<int, std::string>> output;
    std::optional<Result<wire::CommandResult>> result;
    uint64_t last_heard_us = 0;
    uint64_t received[2] = {0, 0};  // output bytes taken, stdout and stderr
    bool output_dropped = false;    // some came past the cap or after the result
  };
  struct Pending {  // a command this node sent
    core::NodeId target = core::kNoNode;
    std::map<ModuleHash, TreeFile> inputs;  // what the target may ask for, by content
    std::shared_ptr<Inbox> inbox;
  };
  struct Served {  // a command a peer sent here
    Cancel cancel;
    std::filesystem::path dir;                 // its run folder
    std::map<ModuleHash, TreeFile> out_files;  // once it has ended: /out, for the caller
  };
  // A piece asked of a peer: (peer, command id, for /out, hash, offset).
  using PieceKey = std::tuple<core::NodeId, uint64_t, bool, ModuleHash, uint64_t>;

  Result<CommandReply> RunHere(const ModulePtr& module, const CommandOptions& options,
                               const std::atomic<bool>* cancel);
  Result<CommandReply> RunThere(core::NodeId target, const ModulePtr& module,
                                wire::CommandRequest request, std::map<ModuleHash, TreeFile> inputs,
                                const CommandOptions& options, const std::atomic<bool>* cancel,
                                bool* not_sent);
  // Off the loop: pulls file `f` from `peer` into `to`, piece by piece, one asked at a time.
  Status Pull(core::NodeId peer, uint64_t id, bool out, const wire::FileRef& f,
              const std::filesystem::path& to, const std::atomic<bool>* cancel);
  void RunServed(core::NodeId peer, const wire::CommandRequest& request, const Cancel& cancel,
                 ModulePtr module, std::filesystem::path dir);
  Result<CallSpec> ServedSpec(core::NodeId peer, const wire::CommandRequest& request,
                              const Cancel& cancel, ModulePtr module,
                              const std::filesystem::path& dir);
  void SendPiece(core::NodeId peer, const wire::BlobRequest& request, const TreeFile* file);
  void EndServed(core::NodeId peer, uint64_t id);
  void RemoveDir(std::filesystem::path dir);

  const core::NodeId self_;
  Hooks hooks_;
  BlobCache blobs_;
  bool stopped_ = false;
  std::map<uint64_t, Pending> pending_;                                       // loop thread
  std::map<std::pair<core::NodeId, uint64_t>, Served> serving_;               // loop thread
  std::map<PieceKey, std::shared_ptr<std::promise<wire::BlobData>>> pieces_;  // loop thread
  uint64_t next_id_ = 1;                                                      // loop thread
  uint64_t next_dir_ = 1;
  std::atomic<uint32_t> busy_{0};
  uint64_t served_ = 0;
  std::atomic<uint64_t> files_fetched_{0}, bytes_fetched_{0};
};

}  // namespace velum

#endif  // VELUM_NODE_COMMAND_SERVICE_H_
