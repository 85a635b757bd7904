// Tests of velum.hpp (the header-only C++ layer) through libvelum.so on the 2-node loopback
// mesh: Mesh RAII, blocking and future-like calls and jobs, errors as exceptions.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <velum/velum.hpp>

#include "api_test_util.h"

namespace velum::api_test {
namespace {

using std::chrono::milliseconds;

Options JoinedOptions(uint32_t id) {
  LoopbackOptions loopback(id, true);
  const velum_options& c = loopback.options;
  Options o;
  o.node_id = id;
  o.port = c.port;
  o.discovery_port = c.discovery_port;
  o.broadcast = c.broadcast;
  o.home = c.home;
  o.bind = c.bind;
  o.advertise = c.advertise;
  o.cluster_key = c.cluster_key;
  o.joins = {c.joins[0]};
  o.log = c.log;
  return o;
}

// The error code thrown by `f`, or 0 if nothing was thrown.
template <typename F>
int CodeThrownBy(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()), "");
    return e.code();
  }
  return 0;
}

TEST(CppApi, MeshCallsScattersAndThrows) {
  {
    Mesh mesh(JoinedOptions(7));
    EXPECT_EQ(mesh.id(), 7u);
    EXPECT_EQ(CodeThrownBy([] { Mesh second(8); }), VELUM_ERR_ALREADY_INITIALIZED);
    mesh.WaitPeers(1, milliseconds(60000));
    EXPECT_GE(mesh.peers_alive(), 1u);

    Result sum = mesh.Call(Wasm("sum"), "sum", {"10", "20", "30"});
    EXPECT_EQ(sum.size(), 1u);
    EXPECT_EQ(sum.integer(), 60);
    EXPECT_EQ(sum.number(), 60.0);
    EXPECT_GT(sum->node, 0u);
    EXPECT_EQ(CodeThrownBy([&] { sum.integer(1); }), VELUM_ERR_INVALID_ARGUMENT);

    Task task = mesh.Run(Wasm("sum"), "sum", {"1", "2", "3"});
    EXPECT_EQ(task.get().integer(), 6);

    Job job = mesh.Scatter(Wasm("primes"), "count_primes", 0, 500000);
    EXPECT_GT(job.id(), 0u);
    Result primes = job.get();
    EXPECT_EQ(primes.integer(), 41538);
    EXPECT_EQ(primes->job, job.id());
    EXPECT_GE(primes->workers, 1u);
    EXPECT_EQ(job.wait_for(milliseconds(0)), std::future_status::ready);
    EXPECT_EQ(job.progress(), 1.0);
    EXPECT_TRUE(job.output().empty()) << "primes imports nothing of WASI: it prints nothing";

    Job printing = mesh.Scatter(Wasm("wasi_range"), "count", 0, 2000);
    EXPECT_EQ(printing.get().integer(), 999000);  // the sum of i % 1000 over [0, 2000)
    bool incomplete = true;
    auto blocks = printing.output(&incomplete);
    EXPECT_FALSE(incomplete);
    ASSERT_FALSE(blocks.empty());
    EXPECT_EQ(blocks.front().start, 0);
    EXPECT_EQ(blocks.back().end, 2000);
    EXPECT_EQ(blocks.front().stream, VELUM_STDOUT);
    EXPECT_EQ(blocks.front().data.rfind("count [0, ", 0), 0u) << blocks.front().data;

    ScatterOptions max;  // one item per chunk: the maximum of i*i over [1, 11)
    max.reducer = VELUM_REDUCE_MAX;
    max.chunk_items = 1;
    EXPECT_EQ(mesh.Scatter(Wasm("range64"), "sum_squares", 1, 11, max).get().integer(), 100);

    // A reducer from the module, named in a copy of the options (the name is kept with them).
    ScatterOptions add;
    add.chunk_items = 7;
    ScatterOptions copied = add.ReduceWith("add");
    add.ReduceWith("nosuch");
    // sumsq over [0, 100): the sum of i*i xor i/2, by the export add as by sum.
    int64_t want = 0;
    for (int64_t i = 0; i < 100; i++) want += (i * i) ^ (i >> 1);
    EXPECT_EQ(mesh.Scatter(Wasm("reduce_matrix"), "sumsq", 0, 100, copied).get().integer(), want);
    EXPECT_EQ(CodeThrownBy([&] { mesh.Scatter(Wasm("reduce_matrix"), "sumsq", 0, 100, add); }),
              VELUM_ERR_INVALID_ARGUMENT);

    // Errors: at submission, and from the job.
    EXPECT_EQ(CodeThrownBy([&] { mesh.Call(Wasm("sum"), "no_such_export"); }),
              VELUM_ERR_EXPORT_NOT_FOUND);
    EXPECT_EQ(CodeThrownBy([&] { mesh.Run(Wasm("sum"), "sum", {"1"}); }),
              VELUM_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(CodeThrownBy([&] { mesh.Scatter(Wasm("primes"), "count_primes", 9, 3); }),
              VELUM_ERR_INVALID_ARGUMENT);
    Job failing = mesh.Scatter(Wasm("traps"), "div", -10, 0);
    EXPECT_EQ(CodeThrownBy([&] { failing.get(); }), VELUM_ERR_JOB_FAILED);

    // A finished job opens again by id (its result, its failure), an unknown one throws.
    EXPECT_EQ(mesh.OpenJob(printing.id()).get().integer(), 999000);
    EXPECT_EQ(mesh.OpenJob(printing.id()).output().size(), blocks.size());
    EXPECT_EQ(CodeThrownBy([&] { mesh.OpenJob(failing.id()).get(); }), VELUM_ERR_JOB_FAILED);
    EXPECT_EQ(CodeThrownBy([&] { mesh.OpenJob(failing.id() + 1000); }), VELUM_ERR_INVALID_ARGUMENT);

    // A long job: pending, then cancelled.
    Job slow = mesh.Scatter(Wasm("primes"), "count_primes", 0, 2000000000);
    EXPECT_EQ(slow.wait_for(milliseconds(50)), std::future_status::timeout);
    EXPECT_TRUE(slow.cancel());
    EXPECT_EQ(CodeThrownBy([&] { slow.get(); }), VELUM_ERR_CANCELLED);
    EXPECT_FALSE(slow.cancel());

    Task spin = mesh.Run(Wasm("traps"), "spin");
    EXPECT_EQ(spin.wait_for(milliseconds(50)), std::future_status::timeout);
    EXPECT_TRUE(spin.cancel());
    EXPECT_EQ(CodeThrownBy([&] { spin.get(); }), VELUM_ERR_CANCELLED);

    // Handles move; a moved-from one is empty.
    Job moved = std::move(job);
    EXPECT_TRUE(moved.valid());
    EXPECT_FALSE(job.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  }
  EXPECT_EQ(velum_node_id(), 0u);  // the destructor shut the node down
  EXPECT_TRUE(PeerRunning());
}

TEST(CppApi, ConstructorThrowsWithCodeAndMessage) {
  Options o;
  o.node_id = 0;
  try {
    Mesh mesh(o);
    FAIL() << "node id 0 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), VELUM_ERR_INVALID_ARGUMENT);
    EXPECT_STREQ(e.what(), "node ids start at 1");
  }
  EXPECT_EQ(velum_node_id(), 0u);
}

}  // namespace
}  // namespace velum::api_test
