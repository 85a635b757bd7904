// velum-bench-mesh: the round trip of a remote `wasm sum 10 20 30` between two in-process nodes
// on loopback (module cached, AOT), beside the same call run locally; and native reference
// answers (--native) against which the mesh benchmark scripts check their scatters.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "node/node.h"
#include "pi.h"      // examples/wasm: the very source compiled to pi.wasm
#include "primes.h"  // examples/wasm: the very source compiled to primes.wasm
#include "temp_dir.h"

#ifndef VELUM_BENCH_WASM_DIR
#error "VELUM_BENCH_WASM_DIR must name the directory of the example modules"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using velum::Value;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "velum-bench-mesh: %s\n", why.c_str());
  std::exit(1);
}

// Calls per latency benchmark: VELUM_BENCH_CALLS, default 2000 (scripts/bench lowers it for
// BENCH_QUICK=1).
int64_t CallsPerBenchmark() {
  const char* env = std::getenv("VELUM_BENCH_CALLS");
  int64_t n = env && *env ? std::strtoll(env, nullptr, 10) : 2000;
  return std::max<int64_t>(n, 10);
}

using velum::bench::TempDir;

// A loopback port free for both TCP and UDP (a node uses the same number for both).
uint16_t FreePort() {
  for (int attempt = 0; attempt < 100; attempt++) {
    int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    uint16_t port = 0;
    if (t >= 0 && u >= 0 && bind(t, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(t, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        bind(u, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      port = ntohs(addr.sin_port);
    if (t >= 0) close(t);
    if (u >= 0) close(u);
    if (port) return port;
  }
  Die("no free loopback port");
}

// Two nodes in this process sharing a temporary home (so they find each other through
// HOME/nodes, share the key, the module store and the AOT cache), linked to each other.
struct Mesh {
  TempDir home{"mesh"};
  std::unique_ptr<velum::Node> caller, callee;
  velum::ModulePtr sum;

  Mesh() {
    caller = StartNode(1);
    callee = StartNode(2);
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (!Linked(*caller, 2) || !Linked(*callee, 1)) {
      if (Clock::now() > deadline) Die("the two nodes did not link within 20 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling with a deadline
    }
    auto module = caller->LoadModule(fs::path(VELUM_BENCH_WASM_DIR) / "sum.wasm");
    if (!module.ok()) Die("sum.wasm: " + module.error().ToString());
    sum = *module;
  }

  std::unique_ptr<velum::Node> StartNode(uint32_t id) {
    velum::NodeOptions options;
    options.id = id;
    options.port = FreePort();
    options.discovery_port = 0;  // no beacons: the shared home is the discovery
    options.broadcast = false;
    options.bind = "127.0.0.1";
    options.advertise = "127.0.0.1";
    options.home = home.path();
    options.slots = 1;
    auto node = velum::Node::Start(options);
    if (!node.ok()) Die("node " + std::to_string(id) + ": " + node.error().ToString());
    return std::move(*node);
  }

  static bool Linked(velum::Node& node, uint32_t peer) {
    for (const auto& p : node.Peers())
      if (p.id == peer) return p.state == velum::core::MemberState::kAlive && p.link_up;
    return false;
  }
};

std::unique_ptr<Mesh> g_mesh;

Mesh& M() {
  if (!g_mesh) g_mesh = std::make_unique<Mesh>();
  return *g_mesh;
}

// Runs `sum 10 20 30`; an empty string means it answered 60 on `want_node` on the AOT tier.
std::string CallSum(Mesh& m, const velum::CallOptions& options, uint32_t want_node) {
  const std::vector<Value> args = {Value::I32(10), Value::I32(20), Value::I32(30)};
  auto reply = m.caller->Call(m.sum, "sum", args, options);
  if (!reply.ok()) return reply.error().ToString();
  if (reply->values.size() != 1 || reply->values[0].i32() != 60) return "sum 10 20 30 != 60";
  if (reply->node != want_node) return "ran on node " + std::to_string(reply->node);
  if (reply->engine != "aot") return "ran on " + reply->engine + " " + reply->note;
  return {};
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// One iteration = one call, from node 1 to node 2 (remote) or on node 1 itself (local). Before
// timing: calls until the answer comes from the AOT tier (the first ones run interpreted while
// the module compiles in the background), then 50 more.
void BM_Sum(benchmark::State& state, bool remote) {
  Mesh& m = M();
  velum::CallOptions options;
  options.timeout_ms = 10000;
  if (remote)
    options.target = 2;
  else
    options.local = true;
  const uint32_t want_node = remote ? 2 : 1;
  std::string last;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!(last = CallSum(m, options, want_node)).empty()) {
    if (last.rfind("ran on interp", 0) != 0 || Clock::now() > deadline)
      return state.SkipWithError(("warm-up: " + last).c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < 50; i++) {
    if (auto e = CallSum(m, options, want_node); !e.empty()) return state.SkipWithError(e.c_str());
  }
  std::vector<double> us;
  us.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto e = CallSum(m, options, want_node);
    auto t1 = Clock::now();
    if (!e.empty()) return state.SkipWithError(e.c_str());
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  state.counters["p50_us"] = Percentile(us, 0.50);
  state.counters["p90_us"] = Percentile(us, 0.90);
  state.counters["p99_us"] = Percentile(us, 0.99);
  state.counters["max_us"] = Percentile(us, 1.0);
  state.counters["calls"] = static_cast<double>(us.size());
  state.SetLabel(remote ? "Node::Call sum 10 20 30, node 1 -> node 2 (aot)"
                        : "Node::Call sum 10 20 30 --local on node 1 (aot)");
}

// --native FUNC START END: the export's answer over [START, END) computed natively from the
// modules' own C source, on two threads; what the scatters must reproduce exactly.
int Native(int argc, char** argv) {
  if (argc != 5) Die("usage: velum-bench-mesh --native pi_hits|count_primes START END");
  std::string func = argv[2];
  int64_t start = std::strtoll(argv[3], nullptr, 10), end = std::strtoll(argv[4], nullptr, 10);
  int (*kernel)(int, int) = func == "pi_hits"        ? velum_pi_hits
                            : func == "count_primes" ? velum_count_primes
                                                     : nullptr;
  if (!kernel) Die("--native knows pi_hits and count_primes, not " + func);
  if (start < INT32_MIN || end > INT32_MAX || start >= end)
    Die("--native needs INT32_MIN <= START < END <= INT32_MAX");
  // Pieces of at most 2^26 items (a piece's count fits an int), handed out to two threads.
  constexpr int64_t kPiece = 1 << 26;
  std::atomic<int64_t> next{start}, total{0};
  auto work = [&] {
    for (;;) {
      int64_t lo = next.fetch_add(kPiece);
      if (lo >= end) return;
      int64_t hi = std::min(end, lo + kPiece);
      total += kernel(static_cast<int>(lo), static_cast<int>(hi));
    }
  };
  std::thread other(work);
  work();
  other.join();
  std::printf("%lld\n", static_cast<long long>(total.load()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--native") == 0) return Native(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // the nodes' membership chatter is not a result
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const int64_t calls = CallsPerBenchmark();
  benchmark::RegisterBenchmark("mesh_sum/remote", [](benchmark::State& st) { BM_Sum(st, true); })
      ->UseRealTime()
      ->Iterations(calls)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("mesh_sum/local", [](benchmark::State& st) { BM_Sum(st, false); })
      ->UseRealTime()
      ->Iterations(calls)
      ->Unit(benchmark::kMicrosecond);
  benchmark::AddCustomContext("wasm_dir", VELUM_BENCH_WASM_DIR);
  benchmark::AddCustomContext("nodes", "2 velum::Node in process, loopback, shared home, 1 slot");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_mesh.reset();  // both nodes leave, then the temporary home goes
  return 0;
}
