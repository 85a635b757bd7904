// node: a member of the VelumOS mesh. `./node 1`, `./node 2`, ... find each other, keep a
// membership and run Wasm for each other; a shell (interactive, piped or -c COMMAND) runs
// wasm, scatter, jobs, peers and status. --no-shell serves the mesh until a signal.
#include <editline/readline.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <thread>

#include "node/node.h"
#include "runtime/home.h"
#include "shell/cli_options.h"
#include "shell/commands.h"
#include "shell/shell_util.h"

namespace {

struct Args {
  uint32_t id = 0;
  velum::NodeOptions node;
  std::string engine = "auto";
  std::string command;
  size_t wait_peers = 0;
  double wait_timeout_s = 10;
  bool json = false;
  bool verbose = false;
  bool no_shell = false;
  uint32_t max_module_mib = 64;
  uint32_t max_cache_mib = 1024;
  double max_call_s = 300;
  uint32_t slice_ms = 150;
};

// Ctrl-C while a command runs cancels that command; otherwise it leaves the mesh.
std::atomic<bool> g_command_running{false};
std::atomic<bool> g_interrupt{false};

velum::shell::ShellContext Context(const Args& args) {
  velum::shell::ShellContext c;
  c.progress = !args.json && isatty(STDERR_FILENO);
  c.interrupt = &g_interrupt;
  return c;
}

velum::shell::CommandResult Run(velum::Node& node, const std::string& line, const Args& args) {
  g_interrupt = false;
  g_command_running = true;
  velum::shell::CommandResult r;
  try {
    r = velum::shell::RunCommand(node, line, Context(args));
  } catch (const std::exception& e) {
    // A command's bug must not take the node down: it fails alone, with one line.
    r = velum::shell::Failure(std::string("internal error: ") + e.what());
  }
  g_command_running = false;
  return r;
}

// Waits until `wait_peers` peers are alive; false (and an error printed) after the timeout.
bool WaitPeers(velum::Node& node, const Args& args);

// Logs go to stderr and to HOME/logs/node-ID.log. An unusable log file (a read-only home, a
// directory in its place) is a start-up error, not an exception out of main.
velum::Status SetUpLogging(const Args& args, const std::filesystem::path& home) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(args.verbose ? spdlog::level::info : spdlog::level::warn);
  std::vector<spdlog::sink_ptr> sinks = {console};
  std::filesystem::path logs = home / "logs";
  if (!velum::EnsureDirectory(logs))
    return velum::MakeError(velum::ErrorKind::kIo, "cannot create " + logs.string());
  std::filesystem::path log_file = logs / ("node-" + std::to_string(args.id) + ".log");
  try {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string());
    file->set_level(spdlog::level::info);
    sinks.push_back(file);
  } catch (const spdlog::spdlog_ex& e) {
    return velum::MakeError(velum::ErrorKind::kIo,
                            "cannot open the log " + log_file.string() + ": " + e.what());
  }
  auto logger = std::make_shared<spdlog::logger>("node", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

// A start-up failure: one line on stderr, and {"error": ...} on stdout under --json.
int StartupFailure(const std::string& message, bool json, int code = 1) {
  if (json) {
    std::printf("%s\n", velum::shell::DumpJson({{"error", message}}).c_str());
    std::fflush(stdout);
  }
  std::fprintf(stderr, "node: %s\n", message.c_str());
  return code;
}

void Print(const velum::shell::CommandResult& r, bool json) {
  if (json) {
    std::printf("%s\n", velum::shell::DumpJson(r.json).c_str());
  } else if (!r.text.empty()) {
    std::FILE* out = r.ok ? stdout : stderr;
    std::fprintf(out, "%s\n", r.text.c_str());
  }
  std::fflush(stdout);
}

bool WaitPeers(velum::Node& node, const Args& args) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(args.wait_timeout_s * 1000));
  while (node.AlivePeers() < args.wait_peers) {
    if (std::chrono::steady_clock::now() > deadline) {
      velum::shell::CommandResult r;
      r.ok = false;
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", args.wait_timeout_s);
      std::string msg = "only " + std::to_string(node.AlivePeers()) + " of " +
                        std::to_string(args.wait_peers) + " peers alive after " + secs + " s";
      r.text = "error: " + msg;
      r.json = {{"error", msg}};
      Print(r, args.json);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling with a deadline
  }
  return true;
}

int RunOneCommand(velum::Node& node, const Args& args) {
  if (!WaitPeers(node, args)) return 1;
  auto r = Run(node, args.command, args);
  Print(r, args.json);
  return r.ok ? 0 : r.usage ? 2 : 1;  // as ./velum: 2 for a command line that cannot run
}

int RunShell(velum::Node& node, const Args& args) {
  bool interactive = isatty(STDIN_FILENO) && !args.json;
  std::string history = (args.node.home / "history").string();
  if (interactive) {
    using_history();
    read_history(history.c_str());
    std::printf("VelumOS node %u at port %u. Type help.\n", node.id(), args.node.port);
  }
  std::string prompt = "velum[" + std::to_string(node.id()) + "]> ";
  int failures = 0;
  if (args.wait_peers && !WaitPeers(node, args)) failures++;
  for (;;) {
    std::string line;
    if (interactive) {
      char* raw = readline(prompt.c_str());
      if (!raw) break;
      line = raw;
      std::free(raw);
      if (!line.empty()) {
        add_history(line.c_str());
        write_history(history.c_str());
      }
    } else if (!std::getline(std::cin, line)) {
      break;
    }
    auto r = Run(node, line, args);
    Print(r, args.json);
    if (!r.ok) failures++;
    if (r.quit) return 0;
  }
  node.Leave();
  return failures && !interactive ? 1 : 0;
}

}  // namespace

static int Main(int argc, char** argv) {
  using velum::shell::InRange;
  namespace limits = velum::shell;
  CLI::App app{"node: a member of the VelumOS mesh"};
  Args args;
  // Errors before --json is parsed (a bad option) are still JSON when it was asked for.
  bool json_asked = false;
  for (int i = 1; i < argc; i++) json_asked = json_asked || std::strcmp(argv[i], "--json") == 0;
  app.add_option("id", args.id, "this node's id (1, 2, ...); TCP and gossip port 8000+ID")
      ->required()
      ->transform(InRange(limits::kNodeId));
  app.add_option("--port", args.node.port, "TCP and gossip (UDP) port")
      ->transform(InRange(limits::kPort));
  app.add_option("--discovery-port", args.node.discovery_port, "UDP beacon port (0: none)")
      ->capture_default_str()
      ->transform(InRange(limits::kDiscoveryPort));
  app.add_option("--join", args.node.joins, "seed HOST:PORT for networks without broadcast");
  app.add_option("--beacon", args.node.beacon_to, "extra unicast beacon target HOST:PORT");
  app.add_flag("!--no-broadcast", args.node.broadcast, "do not broadcast beacons on the LAN");
  app.add_option("--bind", args.node.bind, "address to listen on")->capture_default_str();
  app.add_option("--advertise", args.node.advertise, "address peers reach this node at");
  app.add_option("--home", args.node.home, "home directory (default $VELUM_HOME or ~/.velum)");
  app.add_option("--cluster-key", args.node.cluster_key,
                 "cluster key file (default HOME/cluster.key)");
  app.add_option("--slots", args.node.slots, "executor slots offered")
      ->capture_default_str()
      ->transform(InRange(limits::kSlots));
  app.add_option("--engine", args.engine, "auto, interp or aot")->capture_default_str();
  app.add_option("--max-module-mib", args.max_module_mib,
                 "largest module accepted from users and peers")
      ->capture_default_str()
      ->transform(InRange(limits::kMaxModule));
  app.add_option("--max-call-seconds", args.max_call_s,
                 "this node's limit on one export call, whatever is asked")
      ->capture_default_str()
      ->transform(InRange(limits::kMaxCall));
  app.add_option("--max-memory-mib", args.node.max_memory_mib,
                 "this node's limit on an instance's linear memory")
      ->capture_default_str()
      ->transform(InRange(limits::kMaxMemory));
  app.add_option("--compile-jobs", args.node.compile_jobs,
                 "AOT compiles run at once; the others wait in a bounded queue")
      ->capture_default_str()
      ->transform(InRange(limits::kCompileJobs));
  app.add_option("--max-cache-mib", args.max_cache_mib,
                 "HOME/modules and HOME/aot together, least recently used evicted (0: no bound)")
      ->capture_default_str()
      ->transform(InRange(limits::kMaxCacheMib));
  app.add_option("--slice-ms", args.slice_ms,
                 "jobs this node coordinates: time of one slice (one checkpoint each)")
      ->capture_default_str()
      ->transform(InRange(limits::kSliceMs));
  app.add_option("-c", args.command, "run one command, print the result and exit");
  app.add_flag("--no-shell", args.no_shell, "no shell: serve the mesh until SIGINT or SIGTERM");
  app.add_option("--wait-peers", args.wait_peers,
                 "before the first command: wait until this many peers are alive")
      ->transform(InRange(limits::kWaitPeers));
  app.add_option("--wait-timeout", args.wait_timeout_s, "with --wait-peers: seconds")
      ->capture_default_str()
      ->transform(InRange(limits::kWaitTimeout));
  app.add_flag("--json", args.json, "one JSON object per result");
  app.add_flag("-v,--verbose", args.verbose, "log to stderr at info level");
  app.footer(velum::shell::kExitCodesHelp);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return StartupFailure(std::string(e.what()) + " (see --help)", json_asked, 2);
  }
  auto engine = velum::ParseEngineKind(args.engine);
  if (!engine.ok()) return StartupFailure(engine.error().ToString(), args.json, 2);
  args.node.id = args.id;
  args.node.engine = *engine;
  args.node.max_module_bytes = static_cast<uint64_t>(args.max_module_mib) << 20;
  args.node.max_cache_bytes = static_cast<uint64_t>(args.max_cache_mib) << 20;
  args.node.max_call_ms = static_cast<uint32_t>(args.max_call_s * 1000);
  args.node.coordinator.slice_ms = args.slice_ms;
  if (args.node.home.empty()) args.node.home = velum::DefaultHome();
  if (args.node.port == 0 && args.id > 0 && args.id <= 57535)
    args.node.port = static_cast<uint16_t>(8000 + args.id);
  // The home is checked before anything is written to it, the log file included.
  if (velum::Status s = velum::PrepareHome(args.node.home); !s.ok())
    return StartupFailure(s.error().ToString(), args.json);
  if (velum::Status s = SetUpLogging(args, args.node.home); !s.ok())
    return StartupFailure(s.error().ToString(), args.json);

  // SIGINT and SIGTERM leave the mesh gracefully: a thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto node = velum::Node::Start(args.node);
  if (!node.ok()) return StartupFailure(node.error().ToString(), args.json);
  velum::Node* raw = node->get();
  std::thread([raw, signals] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGINT && g_command_running) {
        g_interrupt = true;  // the running command cancels itself and returns
        continue;
      }
      spdlog::info("signal {}: leaving the mesh", sig);
      raw->Leave();
      std::_Exit(0);
    }
  }).detach();

  if (args.no_shell) {
    if (args.verbose || isatty(STDERR_FILENO))
      std::fprintf(stderr, "node %u serving at port %u (no shell; SIGINT or SIGTERM to leave)\n",
                   raw->id(), args.node.port);
    for (;;) pause();  // the signal thread ends the process
  }
  int rc = args.command.empty() ? RunShell(**node, args) : RunOneCommand(**node, args);
  node->reset();
  return rc;
}

// Nothing the user gives may abort the node: an exception that escapes every check above is
// still one clear line (and JSON under --json), never std::terminate.
int main(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; i++) json = json || std::strcmp(argv[i], "--json") == 0;
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    return StartupFailure(std::string("internal error: ") + e.what(), json);
  }
}
