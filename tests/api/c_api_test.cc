// Tests of the C embedding API (velum.h) in-process through libvelum.so: lifecycle, bad
// arguments, single calls and scatters alone and on a 2-node loopback mesh, handles, cancel.
#include <gtest/gtest.h>
#include <velum/velum.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api_test_util.h"

namespace velum::api_test {
namespace {

using Clock = std::chrono::steady_clock;

const std::vector<const char*> kSumArgs = {"10", "20", "30"};
constexpr int kLongWaitMs = 60000;  // an upper bound for things that take well under a second

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void Figure(const char* name, double value) { std::printf("FIGURE %s=%.1f\n", name, value); }

velum_result Sum() { return velum_spawn_wasm(Wasm("sum").c_str(), "sum", 3, kSumArgs.data()); }

// Every test leaves the process without a node.
class CApi : public testing::Test {
 protected:
  void TearDown() override {
    velum_shutdown();
    EXPECT_EQ(velum_node_id(), 0u);
    EXPECT_TRUE(PeerRunning()) << "the peer node died";
  }

  // A node alone (no peers): every call and chunk runs here.
  void StartAlone(uint32_t id = 1) {
    LoopbackOptions o(id, false);
    ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  }

  // A node joined to the peer, with the peer alive and linked (a call runs there).
  void StartJoined(uint32_t id = 1) {
    LoopbackOptions o(id, true);
    auto start = Clock::now();
    ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
    ASSERT_EQ(velum_wait_peers(1, kLongWaitMs), VELUM_OK) << velum_last_error();
    auto deadline = Clock::now() + std::chrono::milliseconds(kLongWaitMs);
    for (;;) {  // the link comes up shortly after the membership
      velum_result r = Sum();
      ASSERT_EQ(r.code, VELUM_OK) << r.error;
      if (r.node == kPeerId) break;
      ASSERT_LT(Clock::now(), deadline) << "calls never ran on the peer";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Figure("api_join_to_remote_call_ms", MsSince(start));
  }
};

TEST_F(CApi, EverythingNeedsANode) {
  EXPECT_EQ(velum_node_id(), 0u);
  EXPECT_EQ(velum_peers_alive(), 0u);
  velum_result r = Sum();
  EXPECT_EQ(r.code, VELUM_ERR_NOT_INITIALIZED);
  EXPECT_NE(std::string(r.error).find("velum_init"), std::string::npos) << r.error;
  EXPECT_EQ(velum_spawn_wasm_distributed(Wasm("primes").c_str(), "count_primes", 0, 10).code,
            VELUM_ERR_NOT_INITIALIZED);
  EXPECT_EQ(velum_wait_peers(1, 10), VELUM_ERR_NOT_INITIALIZED);
  EXPECT_EQ(velum_scatter_async(Wasm("primes").c_str(), "count_primes", 0, 10, nullptr), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_NOT_INITIALIZED);
  EXPECT_EQ(velum_spawn_wasm_async(Wasm("sum").c_str(), "sum", 3, kSumArgs.data()), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_NOT_INITIALIZED);
  velum_shutdown();  // harmless
}

TEST_F(CApi, CodesHaveNames) {
  EXPECT_STREQ(velum_strerror(VELUM_OK), "ok");
  EXPECT_STREQ(velum_strerror(VELUM_ERR_EXPORT_NOT_FOUND), "export not found");
  EXPECT_STREQ(velum_strerror(VELUM_PENDING), "not finished yet");
  EXPECT_STREQ(velum_strerror(12345), "unknown code");
  for (int code = VELUM_ERR_INTERNAL; code <= VELUM_PENDING; code++)
    EXPECT_STRNE(velum_strerror(code), "unknown code") << code;
}

TEST_F(CApi, DefaultsAreThoseOfNode) {
  velum_options o;
  velum_options_default(&o);
  EXPECT_EQ(o.node_id, 0u);
  EXPECT_EQ(o.port, 0);
  EXPECT_EQ(o.discovery_port, 8888);
  EXPECT_TRUE(o.broadcast);
  EXPECT_EQ(o.home, nullptr);
  EXPECT_EQ(o.njoins, 0u);
  EXPECT_EQ(o.slots, 2u);
  EXPECT_EQ(o.engine, VELUM_ENGINE_AUTO);
  EXPECT_EQ(o.max_module_mib, 64u);
  velum_scatter_options s;
  velum_scatter_options_default(&s);
  EXPECT_EQ(s.reducer, VELUM_REDUCE_SUM);
  EXPECT_EQ(s.chunk_items, 0u);
  EXPECT_FALSE(s.exclude_self);
  EXPECT_EQ(s.timeout_ms, 60000u);
}

TEST_F(CApi, InitRefusesBadOptions) {
  EXPECT_EQ(velum_init_with(nullptr), VELUM_ERR_INVALID_ARGUMENT);
  {
    LoopbackOptions o(0, false);
    EXPECT_EQ(velum_init_with(&o.options), VELUM_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(velum_last_error(), "node ids start at 1");
  }
  {
    LoopbackOptions o(1, false);
    const char* joins[] = {"no-port-here"};
    o.options.joins = joins;
    o.options.njoins = 1;
    EXPECT_EQ(velum_init_with(&o.options), VELUM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(velum_last_error()).find("no-port-here"), std::string::npos)
        << velum_last_error();
  }
  {
    LoopbackOptions o(1, false);
    o.options.engine = static_cast<velum_engine>(7);
    EXPECT_EQ(velum_init_with(&o.options), VELUM_ERR_INVALID_ARGUMENT);
    o.options.engine = VELUM_ENGINE_AUTO;
    o.options.max_memory_mib = 0;
    EXPECT_EQ(velum_init_with(&o.options), VELUM_ERR_INVALID_ARGUMENT);
  }
  {
    // The port is taken (by the peer node): an I/O error naming it.
    LoopbackOptions o(1, false);
    o.options.port = PeerPort();
    EXPECT_EQ(velum_init_with(&o.options), VELUM_ERR_IO);
    EXPECT_NE(std::string(velum_last_error()).find(std::to_string(PeerPort())), std::string::npos)
        << velum_last_error();
  }
  EXPECT_EQ(velum_node_id(), 0u);  // nothing was left half started
}

// The home is checked before anything is written to it, and a refusal is an error code with
// one message, never an exception across the C boundary.
TEST_F(CApi, InitRefusesAnUnsafeHome) {
  std::filesystem::path open_home = Scratch() / "open-home";
  std::filesystem::create_directories(open_home);
  std::filesystem::permissions(open_home, std::filesystem::perms::all);  // 0777
  std::filesystem::path plain = Scratch() / "plain-file";
  { std::ofstream(plain) << "x"; }
  for (const auto& [home, want] : {std::pair<std::filesystem::path, std::string>{
                                       open_home, "is writable by others (mode 0777)"},
                                   {plain, "is not a directory"}}) {
    LoopbackOptions o(1, false);
    std::string text = home.string();
    o.options.home = text.c_str();
    EXPECT_EQ(velum_init_with(&o.options), VELUM_ERR_IO);
    EXPECT_NE(std::string(velum_last_error()).find(want), std::string::npos) << velum_last_error();
  }
  EXPECT_FALSE(std::filesystem::exists(open_home / "logs"));  // nothing written to it
  EXPECT_EQ(velum_node_id(), 0u);
}

TEST_F(CApi, InitShutdownReinit) {
  LoopbackOptions o(5, false);
  auto start = Clock::now();
  ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  Figure("api_init_ms", MsSince(start));
  EXPECT_EQ(velum_node_id(), 5u);
  EXPECT_EQ(velum_init(6, 0), VELUM_ERR_ALREADY_INITIALIZED);
  EXPECT_NE(std::string(velum_last_error()).find("node 5"), std::string::npos);
  velum_result r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  start = Clock::now();
  velum_shutdown();
  Figure("api_shutdown_ms", MsSince(start));
  EXPECT_EQ(velum_node_id(), 0u);
  EXPECT_EQ(Sum().code, VELUM_ERR_NOT_INITIALIZED);
  velum_shutdown();  // twice: nothing happens

  // The same id and port again at once (the port was released).
  ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  EXPECT_EQ(velum_node_id(), 5u);
  r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i32, 60);
}

TEST_F(CApi, BadArgumentsGiveCodesAndMessages) {
  StartAlone();
  std::string sum = Wasm("sum"), primes = Wasm("primes");

  velum_result r = velum_spawn_wasm(nullptr, "sum", 0, nullptr);
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(r.error, "path is NULL");
  EXPECT_STREQ(velum_last_error(), "path is NULL");
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_spawn_wasm(sum.c_str(), nullptr, 0, nullptr).code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_spawn_wasm(sum.c_str(), "sum", 3, nullptr).code, VELUM_ERR_INVALID_ARGUMENT);
  const char* with_null[] = {"1", nullptr, "3"};
  r = velum_spawn_wasm(sum.c_str(), "sum", 3, with_null);
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(r.error, "argv[1] is NULL");

  r = velum_spawn_wasm((Scratch() / "missing.wasm").c_str(), "sum", 3, kSumArgs.data());
  EXPECT_EQ(r.code, VELUM_ERR_IO) << r.error;
  EXPECT_NE(std::string(r.error).find("missing.wasm"), std::string::npos) << r.error;

  std::string garbage = (Scratch() / "garbage.wasm").string();
  std::ofstream(garbage) << "this is not wasm";
  r = velum_spawn_wasm(garbage.c_str(), "sum", 3, kSumArgs.data());
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_MODULE) << r.error;

  r = velum_spawn_wasm(sum.c_str(), "no_such_export", 0, nullptr);
  EXPECT_EQ(r.code, VELUM_ERR_EXPORT_NOT_FOUND);
  EXPECT_NE(std::string(r.error).find("no_such_export"), std::string::npos) << r.error;
  EXPECT_NE(std::string(r.error).find("sum"), std::string::npos)
      << "lists the exports: " << r.error;

  r = velum_spawn_wasm(sum.c_str(), "sum", 2, kSumArgs.data());
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(r.error).find("3"), std::string::npos) << "says how many: " << r.error;
  const char* words[] = {"ten", "20", "30"};
  r = velum_spawn_wasm(sum.c_str(), "sum", 3, words);
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(r.error).find("ten"), std::string::npos) << r.error;

  const char* zero[] = {"1", "0"};
  r = velum_spawn_wasm(Wasm("traps").c_str(), "div", 2, zero);
  EXPECT_EQ(r.code, VELUM_ERR_TRAP);
  EXPECT_NE(std::string(r.error).find("divide by zero"), std::string::npos) << r.error;

  r = velum_spawn_wasm_distributed(primes.c_str(), "count_primes", 10, 10);
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(r.error).find("START must be below END"), std::string::npos) << r.error;
  EXPECT_EQ(velum_spawn_wasm_distributed(primes.c_str(), "count_primes", 10, 5).code,
            VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_spawn_wasm_distributed(nullptr, "count_primes", 0, 10).code,
            VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_spawn_wasm_distributed(primes.c_str(), "nope", 0, 10).code,
            VELUM_ERR_EXPORT_NOT_FOUND);
  r = velum_spawn_wasm_distributed(sum.c_str(), "sum", 0, 10);  // (i32, i32, i32): not a range
  EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(r.error[0], '\0');
  velum_scatter_options so;
  velum_scatter_options_default(&so);
  so.reducer = static_cast<velum_reducer>(9);
  EXPECT_EQ(velum_scatter(primes.c_str(), "count_primes", 0, 10, &so).code,
            VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_scatter_async(primes.c_str(), "count_primes", 5, 5, nullptr), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(velum_last_error()).find("START must be below END"), std::string::npos);
  EXPECT_EQ(velum_spawn_wasm_async(sum.c_str(), "nope", 0, nullptr), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_EXPORT_NOT_FOUND);

  // NULL handles.
  velum_result out;
  EXPECT_EQ(velum_job_wait(nullptr, 0, &out), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out.code, VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_job_cancel(nullptr), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_job_progress(nullptr), -1);
  EXPECT_EQ(velum_call_wait(nullptr, 0, nullptr), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_call_cancel(nullptr), VELUM_ERR_INVALID_ARGUMENT);
  velum_job_release(nullptr);
  velum_call_release(nullptr);

  // The node is still up and working after all that.
  r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i32, 60);
}

TEST_F(CApi, AloneEverythingRunsHere) {
  StartAlone(3);
  EXPECT_EQ(velum_peers_alive(), 0u);
  EXPECT_EQ(velum_wait_peers(1, 50), VELUM_ERR_TIMEOUT);
  EXPECT_NE(std::string(velum_last_error()).find("0 of 1"), std::string::npos)
      << velum_last_error();
  velum_result r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.nvalues, 1u);
  EXPECT_EQ(r.values[0].type, VELUM_I32);
  EXPECT_EQ(r.values[0].as.i32, 60);
  EXPECT_EQ(r.node, 3u);
  EXPECT_STREQ(r.error, "");

  auto start = Clock::now();
  r = velum_spawn_wasm_distributed(Wasm("primes").c_str(), "count_primes", 0, 500000);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  Figure("api_scatter_primes_alone_ms", MsSince(start));
  EXPECT_EQ(r.nvalues, 1u);
  EXPECT_EQ(r.values[0].type, VELUM_I64);  // reduced in 64 bits
  EXPECT_EQ(r.values[0].as.i64, 41538);
  EXPECT_EQ(r.workers, 1u);
  EXPECT_GE(r.chunks, 1u);
  EXPECT_EQ(r.items_done, 500000u);
  EXPECT_EQ(r.items_total, 500000u);
  EXPECT_GT(r.job, 0u);
  EXPECT_EQ(r.detection_ms, -1);

  // exclude_self with no peer: no worker at all.
  velum_scatter_options so;
  velum_scatter_options_default(&so);
  so.exclude_self = true;
  r = velum_scatter(Wasm("primes").c_str(), "count_primes", 0, 1000, &so);
  EXPECT_EQ(r.code, VELUM_ERR_UNAVAILABLE) << r.error;
}

TEST_F(CApi, TwoNodeMesh) {
  StartJoined(1);
  EXPECT_GE(velum_peers_alive(), 1u);

  velum_result r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i32, 60);
  EXPECT_EQ(r.node, kPeerId);  // the best peer: the only one
  EXPECT_TRUE(std::string(r.engine) == "interp" || std::string(r.engine) == "aot") << r.engine;

  // Typed arguments and several results of each type, remotely.
  const char* multi_args[] = {"-7", "1.5"};
  r = velum_spawn_wasm(Wasm("traps").c_str(), "multi", 2, multi_args);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  ASSERT_EQ(r.nvalues, 3u);
  EXPECT_EQ(r.values[0].type, VELUM_I64);
  EXPECT_EQ(r.values[0].as.i64, -7);
  EXPECT_EQ(r.values[1].type, VELUM_F32);
  EXPECT_EQ(r.values[1].as.f32, 1.5f);
  EXPECT_EQ(r.values[2].type, VELUM_F64);
  EXPECT_EQ(r.values[2].as.f64, 2.5);

  auto start = Clock::now();
  r = velum_spawn_wasm_distributed(Wasm("primes").c_str(), "count_primes", 0, 500000);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  Figure("api_scatter_primes_2_nodes_ms", MsSince(start));
  EXPECT_EQ(r.values[0].as.i64, 41538);
  EXPECT_GE(r.workers, 1u);
  EXPECT_LE(r.workers, 2u);

  // Only the peer computes: the answer must have come over the link.
  velum_scatter_options so;
  velum_scatter_options_default(&so);
  so.exclude_self = true;
  so.chunk_items = 50000;
  r = velum_scatter(Wasm("primes").c_str(), "count_primes", 0, 500000, &so);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i64, 41538);
  EXPECT_EQ(r.workers, 1u);
  EXPECT_EQ(r.chunks, 10u);

  // Other reducers and types.
  so.exclude_self = false;
  so.chunk_items = 0;
  so.reducer = VELUM_REDUCE_FIRST;
  r = velum_scatter(Wasm("search").c_str(), "search", 0, 1000000, &so);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  int64_t first = 0;
  for (int64_t i = 0; i < 1000000; i++)
    if ((i * 123) % 99999 == 1) {
      first = i;
      break;
    }
  EXPECT_EQ(r.values[0].as.i64, first);
  so.reducer = VELUM_REDUCE_SUM;
  r = velum_scatter(Wasm("range64").c_str(), "sum_squares", 1, 1001, &so);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].type, VELUM_I64);
  EXPECT_EQ(r.values[0].as.i64, 333833500);
  r = velum_scatter(Wasm("range64").c_str(), "harmonic", 1, 3, &so);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].type, VELUM_F64);
  EXPECT_DOUBLE_EQ(r.values[0].as.f64, 1.5);

  // A reducer from the module (tests/wasm/reduce_matrix.c): 2x2 matrix products modulo
  // 1e9+7, which do not commute, against the sequential product computed here.
  {
    const uint64_t p = 1000000007;
    uint64_t m[4] = {1, 0, 0, 1};
    for (int64_t i = -3000; i < 7000; i++) {
      uint64_t k = static_cast<uint64_t>(((i % 1009) + 1009) % 1009);
      uint64_t x[4] = {k + 2, 1, k, 1};
      uint64_t n[4] = {(m[0] * x[0] + m[1] * x[2]) % p, (m[0] * x[1] + m[1] * x[3]) % p,
                       (m[2] * x[0] + m[3] * x[2]) % p, (m[2] * x[1] + m[3] * x[3]) % p};
      std::copy(n, n + 4, m);
    }
    velum_scatter_options mo;
    velum_scatter_options_default(&mo);
    mo.reducer = VELUM_REDUCE_EXPORT;
    mo.reduce_export = "matmul4";
    mo.chunk_items = 333;
    r = velum_scatter(Wasm("reduce_matrix").c_str(), "prod4", -3000, 7000, &mo);
    ASSERT_EQ(r.code, VELUM_OK) << r.error;
    ASSERT_EQ(r.nvalues, 4u);
    for (int i = 0; i < 4; i++) EXPECT_EQ(static_cast<uint64_t>(r.values[i].as.i64), m[i]) << i;
    mo.reduce_export = nullptr;
    r = velum_scatter(Wasm("reduce_matrix").c_str(), "prod4", 0, 10, &mo);
    EXPECT_EQ(r.code, VELUM_ERR_INVALID_ARGUMENT) << r.error;
    mo.reduce_export = "matmul1";  // (i64, i64) -> i64: not a reducer of four i64
    r = velum_scatter(Wasm("reduce_matrix").c_str(), "prod4", 0, 10, &mo);
    EXPECT_NE(r.code, VELUM_OK);
    EXPECT_NE(std::string(r.error).find("matmul1"), std::string::npos) << r.error;
  }

  // A trap in a chunk fails the job with the reason: div(start, end) divides by the end of
  // the last slice, 0.
  r = velum_scatter(Wasm("traps").c_str(), "div", -10, 0, nullptr);
  EXPECT_EQ(r.code, VELUM_ERR_JOB_FAILED) << r.error;
  EXPECT_NE(std::string(r.error).find("divide by zero"), std::string::npos) << r.error;
}

TEST_F(CApi, JobHandleGivesTheOutputOfAWasiExport) {
  StartAlone(3);
  velum_scatter_options so;
  velum_scatter_options_default(&so);
  so.chunk_items = 1000;
  velum_job* job = velum_scatter_async(Wasm("wasi_range").c_str(), "count", 0, 3000, &so);
  ASSERT_NE(job, nullptr) << velum_last_error();
  bool incomplete = true;
  EXPECT_EQ(velum_job_output_count(nullptr, &incomplete), 0u);
  EXPECT_FALSE(incomplete);
  velum_result r;
  ASSERT_EQ(velum_job_wait(job, -1, &r), VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i64, 1498500);  // the sum of i % 1000 over [0, 3000)
  size_t n = velum_job_output_count(job, &incomplete);
  EXPECT_FALSE(incomplete);
  ASSERT_GE(n, 3u);  // at least one slice per chunk
  int64_t at = 0;
  for (size_t i = 0; i < n; i++) {
    velum_output o;
    ASSERT_EQ(velum_job_output(job, i, &o), VELUM_OK) << velum_last_error();
    EXPECT_EQ(o.node, 3u);
    EXPECT_EQ(o.stream, VELUM_STDOUT);
    EXPECT_EQ(o.start, at) << "blocks tile the range once, in order";
    EXPECT_FALSE(o.truncated);
    EXPECT_EQ(std::string(o.data, o.size).rfind("count [" + std::to_string(o.start) + ", ", 0), 0u)
        << o.data;
    EXPECT_EQ(o.data[o.size], '\0');
    at = o.end;
  }
  EXPECT_EQ(at, 3000);
  velum_output o;
  EXPECT_EQ(velum_job_output(job, n, &o), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_job_output(job, 0, nullptr), VELUM_ERR_INVALID_ARGUMENT);
  velum_job_release(job);
}

// A finished job outlives its handle and its node: the same id and home again, and
// velum_job_open gives its result and output from the journal; an unknown id is refused.
TEST_F(CApi, AFinishedJobOpensByIdAfterARestart) {
  LoopbackOptions o(7, false);
  ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  velum_scatter_options so;
  velum_scatter_options_default(&so);
  so.chunk_items = 1000;
  velum_job* job = velum_scatter_async(Wasm("wasi_range").c_str(), "count", 0, 3000, &so);
  ASSERT_NE(job, nullptr) << velum_last_error();
  velum_result before;
  ASSERT_EQ(velum_job_wait(job, -1, &before), VELUM_OK) << before.error;
  const uint64_t id = velum_job_id(job);
  std::vector<std::string> blocks;
  for (size_t i = 0; i < velum_job_output_count(job, nullptr); i++) {
    velum_output out;
    ASSERT_EQ(velum_job_output(job, i, &out), VELUM_OK);
    blocks.emplace_back(out.data, out.size);
  }
  velum_job_release(job);
  velum_shutdown();

  ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  job = velum_job_open(id);
  ASSERT_NE(job, nullptr) << velum_last_error();
  EXPECT_EQ(velum_job_id(job), id);
  velum_result after;
  ASSERT_EQ(velum_job_wait(job, 0, &after), VELUM_OK) << after.error;
  ASSERT_EQ(after.nvalues, 1u);
  EXPECT_EQ(after.values[0].as.i64, 1498500);
  EXPECT_EQ(after.elapsed_ms, before.elapsed_ms);
  EXPECT_EQ(after.chunks, before.chunks);
  EXPECT_EQ(after.workers, before.workers);
  EXPECT_EQ(after.items_done, 3000u);
  EXPECT_EQ(velum_job_progress(job), 1.0);
  bool incomplete = true;
  ASSERT_EQ(velum_job_output_count(job, &incomplete), blocks.size());
  EXPECT_FALSE(incomplete);
  for (size_t i = 0; i < blocks.size(); i++) {
    velum_output out;
    ASSERT_EQ(velum_job_output(job, i, &out), VELUM_OK);
    EXPECT_EQ(std::string(out.data, out.size), blocks[i]);
  }
  EXPECT_EQ(velum_job_cancel(job), VELUM_ERR_INVALID_ARGUMENT) << "it has ended";
  velum_job_release(job);

  EXPECT_EQ(velum_job_open(id + 1000), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(velum_last_error()).find("no job " + std::to_string(id + 1000)),
            std::string::npos)
      << velum_last_error();
  EXPECT_EQ(velum_job_open(0), nullptr);
  velum_shutdown();
  EXPECT_EQ(velum_job_open(id), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_NOT_INITIALIZED);
}

TEST_F(CApi, JobHandleWaitsWithTimeoutAndCancels) {
  StartJoined(1);
  std::string primes = Wasm("primes");

  velum_job* done = velum_scatter_async(primes.c_str(), "count_primes", 0, 500000, nullptr);
  ASSERT_NE(done, nullptr) << velum_last_error();
  velum_result r;
  EXPECT_EQ(velum_job_wait(done, -1, &r), VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i64, 41538);
  EXPECT_EQ(r.job, velum_job_id(done));
  EXPECT_EQ(velum_job_progress(done), 1.0);
  EXPECT_EQ(velum_job_wait(done, 0, &r), VELUM_OK);  // again: the same answer
  EXPECT_EQ(r.values[0].as.i64, 41538);
  EXPECT_EQ(velum_job_cancel(done), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(velum_last_error()).find("already ended"), std::string::npos);
  velum_job_release(done);

  // Far too long to finish during the test: pending, then cancelled everywhere.
  velum_job* job = velum_scatter_async(primes.c_str(), "count_primes", 0, 2000000000, nullptr);
  ASSERT_NE(job, nullptr) << velum_last_error();
  EXPECT_GT(velum_job_id(job), 0u);
  EXPECT_EQ(velum_job_wait(job, 0, &r), VELUM_PENDING);
  EXPECT_EQ(r.code, VELUM_PENDING);
  EXPECT_EQ(r.job, velum_job_id(job));
  EXPECT_EQ(r.items_total, 2000000000u);
  auto start = Clock::now();
  EXPECT_EQ(velum_job_wait(job, 200, &r), VELUM_PENDING);
  EXPECT_GE(MsSince(start), 190);  // it did wait
  auto deadline = Clock::now() + std::chrono::milliseconds(kLongWaitMs);
  while (velum_job_progress(job) <= 0) {  // the first checkpoint arrives
    ASSERT_LT(Clock::now(), deadline) << "no progress";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double progress = velum_job_progress(job);
  EXPECT_GT(progress, 0);
  EXPECT_LT(progress, 1);
  start = Clock::now();
  EXPECT_EQ(velum_job_cancel(job), VELUM_OK) << velum_last_error();
  EXPECT_EQ(velum_job_wait(job, kLongWaitMs, &r), VELUM_ERR_CANCELLED);
  Figure("api_job_cancel_ms", MsSince(start));
  EXPECT_NE(std::string(r.error).find("cancelled"), std::string::npos) << r.error;
  EXPECT_EQ(velum_job_cancel(job), VELUM_ERR_INVALID_ARGUMENT);
  velum_job_release(job);

  // The mesh still works.
  r = velum_spawn_wasm_distributed(primes.c_str(), "count_primes", 0, 1000);
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i64, 168);
}

TEST_F(CApi, CallHandleWaitsWithTimeoutAndCancels) {
  StartJoined(1);
  velum_call* call = velum_spawn_wasm_async(Wasm("sum").c_str(), "sum", 3, kSumArgs.data());
  ASSERT_NE(call, nullptr) << velum_last_error();
  velum_result r;
  EXPECT_EQ(velum_call_wait(call, -1, &r), VELUM_OK) << r.error;
  EXPECT_EQ(r.values[0].as.i32, 60);
  EXPECT_EQ(r.node, kPeerId);
  EXPECT_EQ(velum_call_wait(call, 0, &r), VELUM_OK);
  EXPECT_EQ(velum_call_cancel(call), VELUM_ERR_INVALID_ARGUMENT);
  velum_call_release(call);

  // spin never returns: pending, then cancelled (the peer stops its executor).
  call = velum_spawn_wasm_async(Wasm("traps").c_str(), "spin", 0, nullptr);
  ASSERT_NE(call, nullptr) << velum_last_error();
  auto start = Clock::now();
  EXPECT_EQ(velum_call_wait(call, 200, &r), VELUM_PENDING);
  EXPECT_GE(MsSince(start), 190);
  EXPECT_EQ(r.code, VELUM_PENDING);
  start = Clock::now();
  EXPECT_EQ(velum_call_cancel(call), VELUM_OK);
  EXPECT_EQ(velum_call_wait(call, kLongWaitMs, &r), VELUM_ERR_CANCELLED) << r.error;
  Figure("api_call_cancel_ms", MsSince(start));
  velum_call_release(call);

  // Released while running: the call goes on and is forgotten; shutdown stops it.
  call = velum_spawn_wasm_async(Wasm("traps").c_str(), "spin", 0, nullptr);
  ASSERT_NE(call, nullptr);
  velum_call_release(call);
  r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
}

TEST_F(CApi, ShutdownStopsRunningWork) {
  StartJoined(1);
  velum_job* job =
      velum_scatter_async(Wasm("primes").c_str(), "count_primes", 0, 2000000000, nullptr);
  ASSERT_NE(job, nullptr) << velum_last_error();
  velum_call* call = velum_spawn_wasm_async(Wasm("traps").c_str(), "spin", 0, nullptr);
  ASSERT_NE(call, nullptr) << velum_last_error();
  // A thread blocked waiting for a job is released too.
  velum_job* other =
      velum_scatter_async(Wasm("primes").c_str(), "count_primes", 0, 2000000000, nullptr);
  ASSERT_NE(other, nullptr) << velum_last_error();
  velum_result blocked;
  std::thread waiter([&blocked, other] { velum_job_wait(other, -1, &blocked); });
  velum_result r;
  EXPECT_EQ(velum_job_wait(job, 100, &r), VELUM_PENDING);
  auto start = Clock::now();
  velum_shutdown();
  Figure("api_shutdown_busy_ms", MsSince(start));
  waiter.join();
  EXPECT_EQ(blocked.code, VELUM_ERR_CANCELLED) << blocked.error;
  EXPECT_EQ(velum_job_wait(job, 0, &r), VELUM_ERR_CANCELLED) << r.error;
  EXPECT_EQ(r.job, velum_job_id(job));
  EXPECT_GE(velum_job_progress(job), 0);
  EXPECT_EQ(velum_call_wait(call, kLongWaitMs, &r), VELUM_ERR_CANCELLED) << r.error;
  velum_job_release(job);
  velum_job_release(other);
  velum_call_release(call);

  // A fresh start works, and old handles stay harmless.
  StartAlone(4);
  r = Sum();
  ASSERT_EQ(r.code, VELUM_OK) << r.error;
}

TEST_F(CApi, ThreadsCallConcurrently) {
  StartJoined(1);
  std::vector<std::thread> threads;
  std::vector<int> results(4, 0);
  for (size_t t = 0; t < results.size(); t++)
    threads.emplace_back([&results, t] {
      velum_result r = Sum();
      results[t] = r.code == VELUM_OK ? r.values[0].as.i32 : r.code;
    });
  for (auto& t : threads) t.join();
  for (int v : results) EXPECT_EQ(v, 60);
}

TEST_F(CApi, LastErrorIsPerThread) {
  StartAlone();
  velum_spawn_wasm(nullptr, "sum", 0, nullptr);
  std::string other;
  std::thread([&other] {
    velum_spawn_wasm(Wasm("sum").c_str(), nullptr, 0, nullptr);
    other = velum_last_error();
  }).join();
  EXPECT_EQ(other, "func is NULL");
  EXPECT_STREQ(velum_last_error(), "path is NULL");
}

}  // namespace
}  // namespace velum::api_test
