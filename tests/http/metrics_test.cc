// GET /metrics' text (src/http/metrics): two real nodes on loopback run calls and a scatter
// job, and the page must show what moved and pass `promtool check metrics` without a word.
#include "http/metrics.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "node/node.h"

namespace velum {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kPromtool = "/usr/bin/promtool";

// Sample lines by their name and labels as written ("velum_members{state=\"alive\"}").
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

struct Promtool {
  int status = -1;
  std::string output;  // its stdout and stderr
};

// Pipes `text` to `promtool check metrics` (its lint warnings go to its output).
Promtool CheckWithPromtool(const std::string& text, const fs::path& scratch) {
  const fs::path in = scratch / "metrics.txt", out = scratch / "promtool.txt";
  std::ofstream(in) << text;
  const std::string command =
      std::string(kPromtool) + " check metrics < " + in.string() + " > " + out.string() + " 2>&1";
  Promtool result;
  result.status = std::system(command.c_str());
  std::ifstream read(out);
  result.output.assign(std::istreambuf_iterator<char>(read), std::istreambuf_iterator<char>());
  return result;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    char tmpl[] = "/tmp/velum-metrics-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    scratch_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }
  fs::path scratch_;
};

TEST(MetricsText, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
}

TEST(MetricsText, HistogramIsCumulativeWithSumAndCount) {
  CallFigures calls;
  calls.Record(CallEngine::kAot, CallResult::kOk, std::chrono::microseconds(500));
  calls.Record(CallEngine::kAot, CallResult::kTrap, std::chrono::milliseconds(20));
  calls.Record(CallEngine::kAot, CallResult::kOk, std::chrono::seconds(100));
  NodeMetrics m;
  m.calls = calls.Read();
  auto s = Samples(RenderMetrics(m, HttpFigures{7, 2, 1}));
  EXPECT_EQ(s["velum_calls_total{engine=\"aot\",outcome=\"ok\"}"], 2);
  EXPECT_EQ(s["velum_calls_total{engine=\"aot\",outcome=\"trap\"}"], 1);
  EXPECT_EQ(s["velum_call_duration_seconds_bucket{engine=\"aot\",le=\"0.001\"}"], 1);
  EXPECT_EQ(s["velum_call_duration_seconds_bucket{engine=\"aot\",le=\"0.025\"}"], 2);
  EXPECT_EQ(s["velum_call_duration_seconds_bucket{engine=\"aot\",le=\"30\"}"], 2);
  EXPECT_EQ(s["velum_call_duration_seconds_bucket{engine=\"aot\",le=\"+Inf\"}"], 3);
  EXPECT_EQ(s["velum_call_duration_seconds_count{engine=\"aot\"}"], 3);
  EXPECT_NEAR(s["velum_call_duration_seconds_sum{engine=\"aot\"}"], 100.0205, 1e-9);
  EXPECT_EQ(s["velum_http_requests_total"], 7);
  EXPECT_EQ(s["velum_http_unauthorized_total"], 2);
  EXPECT_EQ(s["velum_http_event_clients"], 1);
}

// Two nodes on loopback: node 1 calls `add` three times here, coordinates a scatter of
// count_primes on node 2 and a map of wc over both; the families must show it, and promtool
// agree with every line.
TEST_F(MetricsTest, RealNodesMoveTheCountersAndPassPromtool) {
  ASSERT_TRUE(fs::exists(kPromtool))
      << kPromtool << " is missing: scripts/install-deps installs it (Debian package prometheus)";
  NodeOptions o1;
  o1.id = 1;
  o1.local = true;
  o1.discovery_port = 0;
  o1.broadcast = false;
  o1.home = scratch_ / "home1";
  o1.slots = 2;
  o1.engine = EngineKind::kInterp;  // every call's engine is known: interp
  auto n1 = Node::Start(o1);
  ASSERT_TRUE(n1.ok()) << n1.error().ToString();
  Node& node1 = **n1;
  NodeOptions o2 = o1;
  o2.id = 2;
  o2.home = scratch_ / "home2";
  o2.cluster_key = o1.home / "cluster.key";
  o2.joins = {"127.0.0.1:" + std::to_string(node1.port())};
  auto n2 = Node::Start(o2);
  ASSERT_TRUE(n2.ok()) << n2.error().ToString();
  Node& node2 = **n2;

  // The mesh forms: each holds the other alive, with a link and a round trip measured.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  auto linked = [](Node& node, uint32_t peer) {
    for (const auto& p : node.Peers())
      if (p.id == peer && p.state == core::MemberState::kAlive && p.link_up && p.link_rtt_us >= 0)
        return true;
    return false;
  };
  while (!(linked(node1, 2) && linked(node2, 1)) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(linked(node1, 2) && linked(node2, 1)) << "the two nodes did not link";

  const fs::path wasm = VELUM_WASM_DIR;
  auto add = node1.LoadModule(wasm / "add.wasm");
  ASSERT_TRUE(add.ok()) << add.error().ToString();
  CallOptions here;
  here.local = true;
  for (int i = 0; i < 3; i++) {
    auto r = node1.Call(*add, "add", {Value::I32(i), Value::I32(1)}, here);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }
  ScatterRequest job;
  job.path = wasm / "primes.wasm";
  job.func = "count_primes";
  job.start = 0;
  job.end = 10000;
  job.chunk_items = 1000;
  job.exclude_self = true;  // every slice on node 2, which fetches the module from node 1
  auto id = node1.Submit(job);
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  auto summary = node1.WaitJob(*id, std::chrono::seconds(60));
  ASSERT_TRUE(summary.has_value());
  ASSERT_EQ(summary->state, core::JobState::kDone) << summary->error;

  // A map job of four items (wc on each one's bytes) over both nodes.
  auto wc = node1.LoadModule(wasm / "wasi_wc.wasm");
  ASSERT_TRUE(wc.ok()) << wc.error().ToString();
  MapRequest map;
  map.args = {"wc"};
  for (int i = 0; i < 4; i++) map.items.push_back({"item" + std::to_string(i), "", {}, "a b c\n"});
  uint64_t outputs = 0;
  map.on_output = [&outputs](uint64_t, const std::string&) { outputs++; };
  auto mapped = node1.Map(*wc, std::move(map));
  ASSERT_TRUE(mapped.ok()) << mapped.error().ToString();
  ASSERT_EQ(mapped->state, core::JobState::kDone) << mapped->error;
  EXPECT_EQ(outputs, 4u);

  const std::string text = RenderMetrics(node1, HttpFigures{3, 1, 0});
  auto s = Samples(text);
  EXPECT_EQ(s["velum_members{state=\"alive\"}"], 2);
  EXPECT_EQ(s["velum_members{state=\"dead\"}"], 0);
  EXPECT_EQ(s["velum_links_up"], 1);
  EXPECT_TRUE(s.count("velum_link_rtt_seconds{peer=\"2\"}")) << text;
  EXPECT_GT(s["velum_datagrams_sent_total"], 0);
  EXPECT_GT(s["velum_datagrams_received_total"], 0);
  EXPECT_GT(s["velum_frames_sent_total"], 0);
  EXPECT_GT(s["velum_frames_received_total"], 0);
  EXPECT_GT(s["velum_transport_sent_bytes_total"], 0);
  EXPECT_EQ(s["velum_dropped_total{reason=\"datagram_bad_mac\"}"], 0);
  EXPECT_EQ(s["velum_jobs_ended_total{kind=\"scatter\",state=\"done\"}"], 1);
  EXPECT_EQ(s["velum_jobs_ended_total{kind=\"scatter\",state=\"failed\"}"], 0);
  EXPECT_EQ(s["velum_jobs_running{kind=\"scatter\"}"], 0);
  EXPECT_EQ(s["velum_items_done_total{kind=\"scatter\"}"], 10000);
  EXPECT_EQ(s["velum_chunks_done_total"], summary->chunks);
  EXPECT_EQ(s["velum_jobs_ended_total{kind=\"map\",state=\"done\"}"], 1);
  EXPECT_EQ(s["velum_jobs_running{kind=\"map\"}"], 0);
  EXPECT_EQ(s["velum_items_done_total{kind=\"map\"}"], 4);
  EXPECT_EQ(s["velum_map_items_failed_total"], 0);
  EXPECT_EQ(s["velum_reassignments_total"], 0);
  EXPECT_EQ(s["velum_executor_slots"], 2);
  // The three calls and the map items run here, on the interpreter and fine; the scatter
  // job's slices ran on node 2.
  const double calls = s["velum_calls_total{engine=\"interp\",outcome=\"ok\"}"];
  EXPECT_GE(calls, 3);
  EXPECT_LE(calls, 3 + 4);
  EXPECT_EQ(s["velum_call_duration_seconds_count{engine=\"interp\"}"], calls);
  EXPECT_EQ(s["velum_call_duration_seconds_bucket{engine=\"interp\",le=\"+Inf\"}"], calls);
  EXPECT_GT(s["velum_call_duration_seconds_sum{engine=\"interp\"}"], 0);
  EXPECT_EQ(s["velum_calls_total{engine=\"aot\",outcome=\"ok\"}"], 0);
  EXPECT_GT(s["velum_cache_bytes"], 0);  // add.wasm and primes.wasm in the module store
  EXPECT_EQ(s["velum_http_requests_total"], 3);
  EXPECT_EQ(s["velum_http_unauthorized_total"], 1);
  // The worker fetched primes.wasm from node 1 (and wc's when it ran map items) and ran
  // every slice; node 1 served what it fetched.
  const std::string text2 = RenderMetrics(node2, HttpFigures{});
  auto s2 = Samples(text2);
  const double fetched = s2["velum_module_transfers_total{direction=\"in\"}"];
  EXPECT_GE(fetched, 1) << text2;
  EXPECT_LE(fetched, 2) << text2;
  EXPECT_GT(s2["velum_module_received_bytes_total"], 0);
  EXPECT_EQ(s["velum_module_transfers_total{direction=\"out\"}"], fetched);
  EXPECT_GE(s2["velum_work_served_total{kind=\"slice\"}"], summary->chunks);
  EXPECT_GE(s2["velum_calls_total{engine=\"interp\",outcome=\"ok\"}"], summary->chunks);
  EXPECT_EQ(s2["velum_jobs_ended_total{kind=\"scatter\",state=\"done\"}"], 0);
  EXPECT_TRUE(s2.count("velum_link_rtt_seconds{peer=\"1\"}")) << text2;
  if (HasFailure()) std::cerr << "node 1's page:\n" << text;

  Promtool check = CheckWithPromtool(text, scratch_);
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool's warnings:\n" << check.output;
  Promtool check2 = CheckWithPromtool(text2, scratch_);
  EXPECT_EQ(check2.status, 0) << check2.output;
  EXPECT_EQ(check2.output, "") << check2.output;
}

}  // namespace
}  // namespace velum
