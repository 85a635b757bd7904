// node: a member of the VelumOS mesh. `./node 1`, `./node 2`, ... find each other, keep a
// membership and run Wasm for each other; a shell (interactive, piped or -c COMMAND) runs
// wasm, scatter, jobs, peers and status. --no-shell serves the mesh until a signal.
#include <signal.h>
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

#include "http/http_server.h"
#include "node/node.h"
#include "node/node_log.h"
#include "node/node_waits.h"
#include "runtime/home.h"
#include "shell/background_jobs.h"
#include "shell/cli_options.h"
#include "shell/commands.h"
#include "shell/line_editor.h"
#include "shell/shell_util.h"
#include "shell/terminal.h"

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
  int http_port = -1;  // -1: no HTTP server
  std::string http_bind = "127.0.0.1";
  std::string log_format = "text";
};

// Ctrl-C while a command runs interrupts that command. Otherwise SIGINT leaves the mesh,
// except in the interactive shell, where Ctrl-C at the prompt only drops the line.
std::atomic<bool> g_command_running{false};
std::atomic<bool> g_interrupt{false};
// The exit status of a process ended by the signal thread: 1 when the node was refused.
std::atomic<int> g_exit_code{0};
std::atomic<bool> g_interactive{false};

velum::shell::ShellContext Context(const Args& args) {
  velum::shell::ShellContext c;
  c.progress = !args.json && isatty(STDERR_FILENO);
  c.interrupt = &g_interrupt;
  c.json = args.json;
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

// Waits until `wait_peers` peers are alive and linked; false (and an error printed) after the
// timeout.
bool WaitPeers(velum::Node& node, const Args& args);

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
  if (json || r.json_line) {
    std::printf("%s\n", velum::shell::DumpJson(r.json).c_str());
  } else if (!r.text.empty()) {
    std::FILE* out = r.ok ? stdout : stderr;
    std::fprintf(out, "%s\n", r.text.c_str());
  }
  std::fflush(stdout);
}

bool WaitPeers(velum::Node& node, const Args& args) {
  auto deadline = velum::WaitClock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(args.wait_timeout_s * 1000));
  velum::PeerWaitResult waited = velum::WaitForPeers(node, args.wait_peers, deadline);
  if (waited.ok()) return true;
  velum::shell::CommandResult r;
  r.ok = false;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", args.wait_timeout_s);
  std::string msg = "only " + std::to_string(waited.ready) + " of " +
                    std::to_string(args.wait_peers) + " peers alive and linked after " + secs +
                    " s";
  r.text = "error: " + msg;
  r.json = {{"error", msg}};
  Print(r, args.json);
  return false;
}

int RunOneCommand(velum::Node& node, const Args& args) {
  if (!WaitPeers(node, args)) return 1;
  if (args.wait_peers == 0 && node.AlivePeers() == 0)
    spdlog::warn(
        "no peer alive yet: '{}' runs on this node alone (--wait-peers N waits for N "
        "peers first)",
        args.command);
  auto r = Run(node, args.command, args);
  Print(r, args.json);
  // A WASI command's own exit code is the status, as with ./velum run.
  if (r.ok && r.exit_status >= 0) return r.exit_status;
  return r.ok ? 0 : r.usage ? 2 : 1;  // as ./velum: 2 for a command line that cannot run
}

// Lines from a pipe or a file: each result printed. Exit code 2 if any line could not run
// as written, else 1 if any command failed, else 0; `quit` ends the input, not the count.
int RunPiped(velum::Node& node, const Args& args) {
  bool failed = args.wait_peers && !WaitPeers(node, args), unusable = false;
  for (std::string line; std::getline(std::cin, line);) {
    auto r = Run(node, line, args);
    Print(r, args.json);
    failed = failed || !r.ok || r.exit_status > 0;
    unusable = unusable || (!r.ok && r.usage);
    if (r.quit) break;
  }
  node.Leave();
  return unusable ? 2 : failed ? 1 : 0;
}

// The interactive shell: line editing, history in HOME/history, Tab completion; Ctrl-C drops
// the line, Ctrl-D or quit leave; background jobs that ended are announced at the prompt.
int RunInteractive(velum::Node& node, const Args& args) {
  std::printf("VelumOS node %u at port %u. Type help; Tab completes; Ctrl-D leaves.\n", node.id(),
              node.port());
  std::fflush(stdout);
  if (args.wait_peers) WaitPeers(node, args);
  velum::shell::CompletionSources sources;
  sources.job_ids = [&node] {
    std::vector<uint64_t> ids;
    for (const auto& job : node.Jobs()) ids.push_back(job.id);
    return ids;
  };
  velum::shell::LineEditor editor("velum[" + std::to_string(node.id()) + "]> ",
                                  args.node.home / "history", sources);
  velum::shell::BackgroundJobs background;
  for (;;) {
    for (const auto& notice : background.TakeNotices(node)) std::printf("%s\n", notice.c_str());
    std::fflush(stdout);
    auto read = editor.Read();
    using Kind = velum::shell::LineEditor::ReadKind;
    if (read.kind == Kind::kInterrupted) continue;
    std::string line = read.line;
    if (read.kind == Kind::kEnd) {
      std::printf("\n");  // Ctrl-D: the prompt's line is ended, then quit says goodbye
      line = "quit";
    } else if (!velum::shell::Words(line).empty()) {
      editor.AddHistory(line);
    }
    auto r = Run(node, line, args);
    Print(r, args.json);
    background.Observe(r);
    if (r.quit) return 0;
  }
}

int RunShell(velum::Node& node, const Args& args) {
  if (g_interactive) return RunInteractive(node, args);
  return RunPiped(node, args);
}

}  // namespace

static int Main(int argc, char** argv) {
  // Whatever happens next, the terminal is given back as it was found.
  velum::shell::SaveTerminal();
  velum::shell::InstallCrashHandlers();
  using velum::shell::InRange;
  namespace limits = velum::shell;
  CLI::App app{"node: a member of the VelumOS mesh"};
  Args args;
  // Errors before --json is parsed (a bad option) are still JSON when it was asked for.
  bool json_asked = false;
  for (int i = 1; i < argc; i++) json_asked = json_asked || std::strcmp(argv[i], "--json") == 0;
  app.add_option("id", args.id, "this node's id (1, 2, ...), one process per id in a mesh")
      ->required()
      ->transform(InRange(limits::kNodeId));
  app.add_option("--port", args.node.port,
                 "TCP and gossip (UDP) port; default 8000+ID, or a free port the system picks "
                 "when that one is taken (the banner and `status` show it)")
      ->transform(InRange(limits::kPort));
  auto* local = app.add_flag("--local", args.node.local,
                             "loopback only: bind and advertise 127.0.0.1, no LAN broadcast "
                             "(nodes sharing a home find each other; others need --join)");
  app.add_option("--discovery-port", args.node.discovery_port, "UDP beacon port (0: none)")
      ->capture_default_str()
      ->transform(InRange(limits::kDiscoveryPort));
  app.add_option("--join", args.node.joins, "seed HOST:PORT for networks without broadcast");
  app.add_option("--beacon", args.node.beacon_to, "extra unicast beacon target HOST:PORT");
  app.add_flag("!--no-broadcast", args.node.broadcast, "do not broadcast beacons on the LAN");
  app.add_option("--bind", args.node.bind, "address to listen on")
      ->capture_default_str()
      ->excludes(local);
  app.add_option("--advertise", args.node.advertise, "address peers reach this node at")
      ->excludes(local);
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
                 "before the first command: wait until this many peers are alive and linked")
      ->transform(InRange(limits::kWaitPeers));
  app.add_option("--wait-timeout", args.wait_timeout_s, "with --wait-peers: seconds")
      ->capture_default_str()
      ->transform(InRange(limits::kWaitTimeout));
  auto* http = app.add_option("--http", args.http_port,
                              "serve the HTTP API, /metrics and the dashboard on this port "
                              "(127.0.0.1 unless --http-bind; 0: a free port, `status` says which)")
                   ->transform(InRange(limits::kHttpPort));
  app.add_option("--http-bind", args.http_bind,
                 "address of the HTTP server; beyond loopback every request needs the token in "
                 "HOME/http.token")
      ->capture_default_str()
      ->needs(http);
  app.add_option("--log-format", args.log_format, "text, or json: one object per line")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
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
  g_interactive = args.command.empty() && !args.no_shell && !args.json && isatty(STDIN_FILENO);
  // The home is checked before anything is written to it, the log file included.
  if (velum::Status s = velum::PrepareHome(args.node.home); !s.ok())
    return StartupFailure(s.error().ToString(), args.json);
  // An unusable log file is a start-up error here: a node's log is never silently missing.
  if (velum::Status s = velum::InstallNodeLogger(
          "node", args.verbose ? velum::ConsoleLog::kVerbose : velum::ConsoleLog::kWarnings,
          args.id, args.node.home, velum::LogFile::kRequired,
          args.log_format == "json" ? velum::LogFormat::kJson : velum::LogFormat::kText);
      !s.ok())
    return StartupFailure(s.error().ToString(), args.json);

  // SIGINT and SIGTERM leave the mesh gracefully: a thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // A second process with a live id that is found out after the start: one line, exit 1.
  args.node.on_refused = [json = args.json](const std::string& message) {
    StartupFailure(message, json);
    g_exit_code = 1;
    kill(getpid(), SIGTERM);  // the signal thread ends the process (getpid() > 0)
  };
  auto node = velum::Node::Start(args.node);
  // An option the node refuses at start (a malformed --join, say) is a usage error too.
  if (!node.ok())
    return StartupFailure(node.error().ToString(), args.json,
                          node.error().kind == velum::ErrorKind::kBadArguments ? 2 : 1);
  velum::Node* raw = node->get();
  // The HTTP server reads the node; it stops before the node does (reset below).
  std::unique_ptr<velum::http::HttpServer> http_server;
  if (args.http_port >= 0) {
    velum::http::HttpOptions h;
    h.bind = args.http_bind;
    h.port = static_cast<uint16_t>(args.http_port);
    h.home = args.node.home;
    auto started = velum::http::HttpServer::Start(*raw, h);
    if (!started.ok())
      return StartupFailure(started.error().ToString(), args.json,
                            started.error().kind == velum::ErrorKind::kBadArguments ? 2 : 1);
    http_server = std::move(*started);
    if (args.verbose || (args.no_shell && isatty(STDERR_FILENO)))
      std::fprintf(stderr, "node %u: http://%s/ (token in %s)\n", raw->id(),
                   http_server->address().c_str(), (args.node.home / "http.token").c_str());
  }
  std::thread([raw, signals] {
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGINT && g_command_running) {
        g_interrupt = true;  // the running command stops (or detaches) and returns
        continue;
      }
      if (sig == SIGINT && g_interactive) {  // at the prompt: drop the line, as the key does
        velum::shell::LineEditor::InterruptFromSignal();
        continue;
      }
      spdlog::info("signal {}: leaving the mesh", sig);
      raw->Leave();
      velum::shell::RestoreTerminal();
      if (g_interactive) {
        ssize_t ignored = write(STDOUT_FILENO, "\n", 1);  // off the prompt's line
        (void)ignored;
      }
      std::_Exit(g_exit_code);
    }
  }).detach();

  if (args.no_shell) {
    if (args.verbose || isatty(STDERR_FILENO))
      std::fprintf(stderr, "node %u serving at port %u (no shell; SIGINT or SIGTERM to leave)\n",
                   raw->id(), raw->port());
    for (;;) pause();  // the signal thread ends the process
  }
  int rc = args.command.empty() ? RunShell(**node, args) : RunOneCommand(**node, args);
  http_server.reset();
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
