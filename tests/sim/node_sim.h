// The whole-node simulator: N nodes in one process, each its real mesh driver (membership,
// links) and job driver (coordinator, worker, journal, module transfers, peer gate), on a
// simulated network, disks, executors and virtual time, with faults; invariants after every
// event. One seed replays one run exactly.
#ifndef VELUM_TESTS_SIM_NODE_SIM_H_
#define VELUM_TESTS_SIM_NODE_SIM_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "core/random.h"
#include "node/job_driver.h"
#include "node/mesh_driver.h"
#include "tests/sim/sim_function.h"

namespace velum::sim {

struct NodeSimOptions {
  // The named configuration these options came from (ApplyNodeSimConfig), for the replay
  // command a failure prints; empty: scripted, not replayable by velum-sim.
  std::string config = "every-fault";
  uint64_t seed = 1;
  uint32_t nodes = 4;   // ids 1 .. nodes
  uint32_t jobs = 3;    // random scatters, each submitted to a random node at a random time
  uint32_t calls = 12;  // remote calls from random nodes to the best peer, at random times
  // Datagrams (membership): lost, duplicated, delayed (and so reordered). Links are TCP-like:
  // in order while they live; a break loses what was in flight.
  double loss = 0.02, duplicate = 0.02;
  uint32_t latency_min_us = 100, latency_max_us = 3000;
  // Faults at a Poisson rate in [0, chaos_ms); everything heals at chaos_ms and every node
  // runs again. Crashes of any node (its coordinator's jobs resume from its disk), hangs
  // (SIGSTOP), partitions, a full or corrupted disk, slow or failing executors.
  double faults_per_s = 0.4;
  uint64_t chaos_ms = 20000;
  uint64_t limit_ms = 900000;  // virtual time by which every job must have ended
  bool crashes = true, hangs = true, partitions = true, disk_faults = true, executor_faults = true;
  // Crashes pick a node that coordinates a running job, when there is one (its jobs resume
  // from its journal), rather than any node.
  bool crash_coordinators = false;
  double speed_min = 2000, speed_max = 20000;  // an executor's items per ms
  // Nodes to join through (--join) at each start: 0 .. max_joins, drawn. A node with none is
  // found by its beacons (broadcast datagrams) and finds the others by theirs.
  uint32_t max_joins = 2;
  double exclude_self = 0.2;  // the chance that a random job leaves its coordinator out
  // Random jobs over ranges of the whole int64 domain (RandomInt64Range: 2^64 - 1 items, ends
  // at INT64_MIN or INT64_MAX, 1 item) rather than 1e3 .. 4e7 items; pair it with speeds that
  // finish 2^64 items in virtual time.
  bool int64_ranges = false;
  // The chance that a random job that is not a sum or a min/max is a module reducer's ("mat"
  // reduced by its export "matmul", 2x2 matrix products that do not commute) rather than a
  // search: workers fold through the simulated export, coordinators fold the chunks'.
  double module_reducers = 0;
};

// The named configurations of the sweeps, shared by the tests and `velum-sim --config NAME`:
// "every-fault" (the defaults above), "calm" (3 nodes, no fault), "coordinators" (crashes
// aimed at coordinators of running jobs), "int64" (whole-domain ranges), "lonely" (2 nodes,
// one worker), "reducers" (module reducers, crashes aimed at coordinators), "eight" (8 nodes,
// more jobs and calls). False for an unknown name.
bool ApplyNodeSimConfig(const std::string& name, NodeSimOptions* options);
std::string NodeSimConfigNames();  // "every-fault, calm, ...", for usage lines

// How a job of the simulation ended (once it did).
struct SimJobOutcome {
  std::optional<core::JobState> state;
  std::vector<core::Num> result;
  std::string error;        // why it failed or was cancelled
  bool resumed = false;     // its coordinator restarted while it ran and resumed it
  uint64_t reassigned = 0;  // chunks its coordinator gave to another worker
};

// One node's disk, its journal and module store: it outlives the node's processes (a crash
// loses only what was not flushed). full: every write and open fails, as on a full disk.
struct SimDisk {
  Journal::Jobs jobs;
  Journal::Chunks chunks;
  std::map<core::JobId, uint32_t> resumes;
  uint32_t epoch = 0;
  core::JobId next_job = 1;
  std::map<ModuleHash, std::vector<uint8_t>> modules;  // as stored: possibly damaged
  bool full = false;
  uint64_t writes_refused = 0, module_writes_refused = 0;
  uint64_t damaged_reads = 0;  // modules found damaged when read back
};

class NodeSim {
 public:
  explicit NodeSim(NodeSimOptions options);
  ~NodeSim();
  NodeSim(const NodeSim&) = delete;
  NodeSim& operator=(const NodeSim&) = delete;

  // Runs until every job has ended with the reference's result (true) or an invariant breaks
  // or the limit passes (false, failure() says which). Asserts in the drivers abort.
  bool Run();

  // Scripted work and faults for targeted tests, before Run (times in virtual ms). A scatter
  // of a simulated export (SimFunction: "sum", "min", "max", "first:M:R") over [start, end),
  // submitted to `coordinator` at `at_ms` (retried while it has no worker); its index.
  size_t AddJob(const std::string& func, int64_t start, int64_t end, core::NodeId coordinator,
                uint64_t at_ms);
  // Node `node` crashes at `at_ms` and starts again `restart_after_ms` later (or at the heal).
  // Silent: its peers are not told (a power loss): they notice at their links' timeout, or
  // when its next run's link replaces the old one.
  void CrashAt(core::NodeId node, uint64_t at_ms, uint64_t restart_after_ms, bool silent = false);
  // A remote call from `caller` to `target` of job `job`'s export over [lo, hi) at `at_ms`
  // (not sent if the caller is down then); its index. Answered: it came back exact.
  size_t CallAt(core::NodeId caller, core::NodeId target, size_t job, int64_t lo, int64_t hi,
                uint64_t at_ms);
  bool call_answered(size_t index) const;
  // `node`'s disk is full from `at_ms` for `for_ms` (journal flushes and module writes fail).
  void FillDiskAt(core::NodeId node, uint64_t at_ms, uint64_t for_ms);
  // Every module stored on `node`'s disk is damaged at `at_ms` (its process's cache is not).
  void DamageModulesAt(core::NodeId node, uint64_t at_ms);
  size_t damaged_modules_stored(core::NodeId node) const;  // as the disk holds them now
  const SimJobOutcome& job(size_t index) const;
  const std::string& failure() const { return failure_; }
  std::string Summary() const;  // seed, the replay command, time, counters, jobs

  uint64_t now_ms() const { return now_us_ / 1000; }
  uint64_t events() const { return events_; }
  uint64_t faults() const { return faults_; }
  uint64_t restarts() const { return restarts_; }
  uint64_t reassigned() const { return reassigned_; }
  uint64_t max_queue() const { return max_queue_; }
  uint64_t calls_answered() const { return calls_answered_; }
  uint64_t jobs_given_up() const { return jobs_given_up_; }
  uint64_t modules_damaged() const { return modules_damaged_; }
  uint64_t links_replaced() const { return links_replaced_; }
  uint64_t damaged_reads() const;  // damaged modules the nodes found, over every disk

 private:
  enum class Kind : uint8_t {
    kDatagram,   // node <- peer: bytes (a beacon if `beacon`)
    kBeacon,     // node's beacon timer
    kLinkFrame,  // node <- peer over link gen: bytes
    kLinkUp,     // node's end of the link to peer (gen) is up
    kLinkDown,   // node's end of the link to peer (gen) broke
    kConnect,    // node dials peer (a try; retried while wanted)
    kMeshWake,
    kJobWake,
    kLoop,      // fn on node's loop
    kBlocking,  // fn on one of node's blocking threads
    kFault,
    kDiskRoom,  // peer: that node's full disk has room again
    kRestart,
    kCrash,   // scripted: at_ms is the time to the restart, gen 1 if silent
    kDamage,  // scripted: every module stored on the node's disk is damaged
    kFill,    // scripted: the node's disk is full for at_ms
    kResume,  // the end of a hang
    kPartitionHeal,
    kSubmit,  // job
    kCall,    // job: the call's index
    kHeal,    // the end of chaos
  };
  struct Event {
    uint64_t at_us = 0;
    uint64_t order = 0;
    Kind kind = Kind::kFault;
    core::NodeId node = 0;
    uint32_t inc = 0;  // the node's process generation it belongs to; stale ones are dropped
    core::NodeId peer = 0;
    uint64_t gen = 0;
    uint64_t at_ms = 0;
    size_t job = 0;
    bool beacon = false;
    std::string bytes;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at_us != b.at_us ? a.at_us > b.at_us : a.order > b.order;
    }
  };
  struct Link {
    uint64_t gen = 0;
    bool up[2] = {false, false};      // [0]: the lower id's end
    uint64_t last_at_us[2] = {0, 0};  // FIFO: the last delivery toward each end
  };
  struct Node {
    core::NodeId id = 0;
    std::string addr;
    uint32_t slots = 1;
    double speed = 1;
    uint32_t inc = 0;
    bool running = false, paused = false;
    uint64_t started_us = 0;  // this process's start (its beacons slow down with age)
    int group = 0;            // partitions: nodes reach each other within a group
    std::unique_ptr<MeshDriver> mesh;
    std::unique_ptr<JobDriver> jobs;
    const Journal* journal = nullptr;  // the driver's, while it runs (for the invariants)
    uint64_t dirty_since_us = 0;       // its journal has held unwritten ops, with room, since
    SimDisk disk;
    std::map<core::NodeId, uint64_t> wanted;  // dials kept up: peer -> backoff ms
    std::vector<Event> deferred;              // arrived while hung
    size_t blocking_queued = 0;
    uint64_t slow_until_us = 0, failing_until_us = 0;
  };
  struct SimJob {
    ScatterRequest request;
    SimFunction function;
    core::NodeId coordinator = 0;
    std::optional<uint64_t> id;  // the coordinator's job id, once submitted
    SimJobOutcome outcome;       // set once the job has ended
  };

  struct SimCall {
    bool scripted = false;  // caller, target, job, lo and hi set by CallAt, not drawn
    size_t job = 0;         // scripted: the job whose module and export it calls
    core::NodeId caller = 0, target = 0;
    uint32_t caller_inc = 0;
    std::string func;
    int64_t lo = 0, hi = 0;
    bool ended = false, ok = false;
  };

  class Executors;
  class SimJournal;
  class SimModuleStore;

  Event Make(Kind kind, core::NodeId node, uint64_t at_us);
  void Push(Event e);
  void Dispatch(Event& e);
  uint64_t Latency();
  Node& N(core::NodeId id) { return nodes_[id - 1]; }
  const Node& N(core::NodeId id) const { return nodes_[id - 1]; }
  bool Reachable(core::NodeId a, core::NodeId b) const;
  Link& LinkOf(core::NodeId a, core::NodeId b);
  static int End(core::NodeId self, core::NodeId peer) { return self < peer ? 0 : 1; }

  void StartNode(Node& n);
  void CrashNode(Node& n, uint64_t restart_after_ms, bool silent = false);
  MeshDriver::Hooks MeshHooks(Node& n);
  JobDriver::Hooks JobHooks(Node& n);
  void SendDatagram(Node& from, const std::string& addr, std::string payload, bool beacon = false);
  void Beacon(Node& n);
  void Dial(Node& from, core::NodeId peer);
  void Connect(Node& from, core::NodeId peer);
  void Forget(Node& from, core::NodeId peer);
  bool SendLink(Node& from, core::NodeId peer, std::string frame);
  void BreakLink(core::NodeId a, core::NodeId b, uint64_t notice_us = 0);
  void Blocking(Node& n, std::function<void()> work, uint64_t delay_us);
  Result<CallOutcome> ExecuteCall(Node& n, const CallSpec& spec);

  void AddRandomJobs();
  size_t AddJob(ScatterRequest request, size_t results, core::NodeId coordinator, uint64_t at_us);
  void Submit(size_t job);
  void StartCall(size_t call);
  void CallEnded(size_t call, const Result<CallReply>& reply);
  void RandomFault();
  void DamageModule(std::vector<uint8_t>& bytes);  // one byte changes
  void Partition(uint64_t duration_ms);
  void Heal();

  bool Check();
  bool CheckJournal(Node& n);
  bool FailedForAFault(const SimJob& job, const std::string& error) const;
  bool AllEnded();

  NodeSimOptions options_;
  core::Rng rng_;
  uint64_t now_us_ = 0;
  uint64_t thread_us_ = 0;  // the clock of the handler running now (blocking work moves it)
  uint64_t order_ = 0;
  bool chaos_ = true;
  bool trace_ = false;  // VELUM_SIM_TRACE: the drivers' log and the simulator's events
  uint64_t partition_until_us_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::vector<Node> nodes_;
  std::map<std::pair<core::NodeId, core::NodeId>, Link> links_;
  std::map<std::string, core::NodeId> by_addr_;
  std::vector<SimJob> jobs_;
  std::vector<SimCall> calls_;
  // (node, module) whose stored copy that node found damaged: a job coordinated there may
  // then end failed (no peer can fetch the module from it), saying so.
  std::set<std::pair<core::NodeId, ModuleHash>> lost_modules_;
  std::map<std::pair<core::NodeId, uint64_t>, std::vector<int64_t>> verified_;
  std::string failure_;
  uint64_t events_ = 0, faults_ = 0, restarts_ = 0, reassigned_ = 0;
  // Crashes, hangs and partitions so far: before the first, every node answers, and none may
  // be held dead or left by another.
  uint64_t disruptions_ = 0;
  uint64_t max_queue_ = 0;
  uint64_t calls_answered_ = 0;
  uint64_t failing_executors_ = 0;  // faults that made executors fail calls
  uint64_t modules_damaged_ = 0;    // stored modules whose bytes a fault changed
  uint64_t links_replaced_ = 0;     // links that came up at an end still holding the old one
  uint64_t jobs_given_up_ = 0;      // jobs failed for a fault (FailedForAFault); others: done
};

}  // namespace velum::sim

#endif  // VELUM_TESTS_SIM_NODE_SIM_H_
