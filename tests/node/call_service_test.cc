// The call service driven through its hooks alone, with no loop, socket or executor: a
// served call's reply, cancels while the module comes, a restarted caller reusing call ids,
// the bound on calls held, calls sent and their answers, a lost peer and a stopped node.
#include "node/call_service.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <vector>

namespace velum {
namespace {

// (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
ModulePtr AddModule() {
  std::vector<uint8_t> bytes = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01,
                                0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07,
                                0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09, 0x01,
                                0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b};
  auto m = Module::FromBytes(std::move(bytes));
  EXPECT_TRUE(m.ok());
  return *m;
}

constexpr core::NodeId kSelf = 1, kPeer = 2;

// Every hook is a queue the test runs by hand: fetches, blocking work and loop posts wait
// until the test says; sends are recorded.
struct Harness {
  std::vector<std::pair<core::NodeId, wire::LinkMessage>> sent;
  std::deque<ModuleFetcher::Done> fetches;
  std::deque<std::function<void()>> blocking, loop;
  std::vector<CallSpec> specs;
  int load_changes = 0;
  bool blocking_full = false;
  bool link_up = true;
  std::function<void(const wire::CallRequest&)> on_request;  // a peer answering at once
  CallService service;

  Harness() : service(kSelf, MakeHooks()) {}

  CallService::Hooks MakeHooks() {
    CallService::Hooks h;
    h.send = [this](core::NodeId peer, const wire::LinkMessage& m) {
      if (!link_up) return false;
      sent.emplace_back(peer, m);
      if (auto* req = std::get_if<wire::CallRequest>(&m); req && on_request) on_request(*req);
      return true;
    };
    h.fetch = [this](const ModuleHash&, uint64_t, core::NodeId, ModuleFetcher::Done done) {
      fetches.push_back(std::move(done));
    };
    h.blocking = [this](std::function<void()> work) {
      if (blocking_full) return false;
      blocking.push_back(std::move(work));
      return true;
    };
    h.loop = [this](std::function<void()> work) { loop.push_back(std::move(work)); };
    h.on_loop = [](std::function<void()> work) { work(); };
    h.execute = [this](const CallSpec& spec) -> Result<CallOutcome> {
      specs.push_back(spec);
      CallOutcome out;
      out.values = {Value::I32(spec.args.at(0).i32() + spec.args.at(1).i32())};
      out.engine = EngineKind::kInterp;
      return out;
    };
    h.spec = [](ModulePtr m, std::string func, std::vector<Value> args, uint32_t timeout_ms,
                uint32_t pages, const std::atomic<bool>* cancel) {
      CallSpec spec;
      spec.module = std::move(m);
      spec.func = std::move(func);
      spec.args = std::move(args);
      spec.timeout = std::chrono::milliseconds(timeout_ms);
      spec.max_memory_pages = pages;
      spec.cancel = cancel;
      return spec;
    };
    h.pick_target = [](const std::vector<core::NodeId>& tried) {
      return tried.empty() ? kPeer : kSelf;
    };
    h.load_changed = [this] { load_changes++; };
    h.now_us = [] { return uint64_t{1000}; };
    return h;
  }

  static wire::CallRequest Request(uint64_t id, int32_t a, int32_t b) {
    wire::CallRequest req;
    req.id = id;
    req.func = "add";
    req.args = {{0, static_cast<uint64_t>(static_cast<uint32_t>(a))},
                {0, static_cast<uint64_t>(static_cast<uint32_t>(b))}};
    req.timeout_ms = 1000;
    req.max_memory_pages = 16;
    return req;
  }
  void RunAll() {
    while (!blocking.empty() || !loop.empty()) {
      auto& q = !blocking.empty() ? blocking : loop;
      auto work = std::move(q.front());
      q.pop_front();
      work();
    }
  }
  std::vector<wire::CallResult> Results() const {
    std::vector<wire::CallResult> out;
    for (const auto& [peer, m] : sent)
      if (auto* r = std::get_if<wire::CallResult>(&m)) out.push_back(*r);
    return out;
  }
};

TEST(CallService, ServesAPeersCallAndAnswersOnce) {
  Harness h;
  h.service.Serve(kPeer, Harness::Request(7, 40, 2));
  h.service.Serve(kPeer, Harness::Request(7, 40, 2));  // a duplicate while it runs
  EXPECT_EQ(h.service.busy(), 1u);
  ASSERT_EQ(h.fetches.size(), 1u);
  h.fetches.front()(AddModule());
  h.RunAll();
  auto results = h.Results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].id, 7u);
  EXPECT_FALSE(results[0].has_error);
  ASSERT_EQ(results[0].values.size(), 1u);
  EXPECT_EQ(static_cast<int32_t>(results[0].values[0].bits), 42);
  EXPECT_EQ(h.specs.at(0).timeout.count(), 1000);  // the asked limits reach the spec rule
  EXPECT_EQ(h.service.busy(), 0u);
  EXPECT_EQ(h.service.served(), 1u);
}

TEST(CallService, ACallCancelledWhileItsModuleComesEndsWithoutRunning) {
  Harness h;
  h.service.Serve(kPeer, Harness::Request(3, 1, 1));
  h.service.OnCancel(kPeer, 3);
  h.fetches.front()(AddModule());
  h.RunAll();
  EXPECT_TRUE(h.specs.empty());
  EXPECT_TRUE(h.Results().empty());
  EXPECT_EQ(h.service.busy(), 0u);  // not held forever, the load falls back
}

TEST(CallService, ACallerThatRestartedGetsNoAnswerMeantForItsPreviousRun) {
  Harness h;
  h.service.Serve(kPeer, Harness::Request(1, 1, 1));
  h.fetches.front()(AddModule());
  ASSERT_EQ(h.blocking.size(), 1u);                     // the old call is in an executor
  h.service.OnPeerLost(kPeer);                          // the caller restarts
  h.service.Serve(kPeer, Harness::Request(1, 20, 22));  // and numbers from 1 again
  auto old_run = std::move(h.blocking.front());
  h.blocking.pop_front();
  old_run();
  while (!h.loop.empty()) {
    auto work = std::move(h.loop.front());
    h.loop.pop_front();
    work();
  }
  EXPECT_TRUE(h.Results().empty()) << "the old call's answer went to the new one";
  EXPECT_EQ(h.service.busy(), 1u);
  h.fetches.back()(AddModule());
  h.RunAll();
  auto results = h.Results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(static_cast<int32_t>(results[0].values.at(0).bits), 42);
  EXPECT_EQ(h.service.busy(), 0u);
}

TEST(CallService, HoldsABoundedNumberOfCallsAndRefusesTheRest) {
  Harness h;
  for (uint64_t id = 1; id <= CallService::kMaxServing; id++)
    h.service.Serve(kPeer, Harness::Request(id, 0, 0));
  EXPECT_EQ(h.service.busy(), CallService::kMaxServing);
  h.service.Serve(kPeer, Harness::Request(CallService::kMaxServing + 1, 0, 0));
  auto results = h.Results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].has_error);
  EXPECT_EQ(results[0].error.kind, static_cast<uint32_t>(ErrorKind::kLimitExceeded));
  // A full call queue is an answer too, and frees the slot.
  h.blocking_full = true;
  h.fetches.front()(AddModule());
  EXPECT_EQ(h.Results().size(), 2u);
  EXPECT_EQ(h.service.busy(), CallService::kMaxServing - 1);
}

TEST(CallService, ACallSentToAPeerReturnsItsAnswer) {
  Harness h;
  h.on_request = [&h](const wire::CallRequest& req) {
    wire::CallResult r;
    r.id = req.id;
    r.values = {{0, 42}};
    r.engine = "aot";
    h.service.OnResult(kPeer, r);
  };
  auto reply =
      h.service.Call(AddModule(), "add", {Value::I32(40), Value::I32(2)}, CallOptions{}, nullptr);
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->node, kPeer);
  EXPECT_EQ(reply->values.at(0).i32(), 42);
  EXPECT_EQ(reply->engine, "aot");
}

TEST(CallService, AnAnswerFromAnotherPeerIsIgnoredAndALostPeerMovesTheCallHere) {
  Harness h;
  h.on_request = [&h](const wire::CallRequest& req) {
    wire::CallResult forged;
    forged.id = req.id;
    forged.values = {{0, 666}};
    h.service.OnResult(3, forged);  // not the node the call went to
    h.service.OnPeerLost(kPeer);
  };
  auto reply =
      h.service.Call(AddModule(), "add", {Value::I32(40), Value::I32(2)}, CallOptions{}, nullptr);
  ASSERT_TRUE(reply.ok()) << reply.error().ToString();
  EXPECT_EQ(reply->node, kSelf);  // the next best: this node
  EXPECT_EQ(reply->values.at(0).i32(), 42);
  EXPECT_NE(reply->note.find("node 2 was lost"), std::string::npos) << reply->note;
}

TEST(CallService, AStoppedServiceSendsAndServesNothing) {
  Harness h;
  h.service.Stop("this node left the mesh");
  h.service.Serve(kPeer, Harness::Request(1, 1, 1));
  EXPECT_TRUE(h.fetches.empty());
  CallOptions to_peer;
  to_peer.target = kPeer;
  auto reply = h.service.Call(AddModule(), "add", {Value::I32(1), Value::I32(1)}, to_peer, nullptr);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(h.sent.empty());
}

}  // namespace
}  // namespace velum
