// Frames from hostile or broken peers, through the boundary (wire/job_codec's DecodeLink) and
// into the job cores as the node hands them over: nothing a peer sends may abort a process.
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/coordinator.h"
#include "core/random.h"
#include "core/worker.h"
#include "tests/sim/job_test_util.h"
#include "wire/job_codec.h"
#include "wire/velum.pb.h"

namespace velum::sim {
namespace {

constexpr core::NodeId kCoord = 1, kWorker = 2;

// Numbers a hostile peer likes: the int64 edges, small values, anything.
int64_t NastyInt(core::Rng& rng) {
  static const int64_t kEdges[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX};
  switch (rng.Uniform(3)) {
    case 0:
      return kEdges[rng.Uniform(7)];
    case 1:
      return static_cast<int64_t>(rng.Uniform(2000)) - 1000;
    default:
      return static_cast<int64_t>(rng.Next());
  }
}

std::string RandomText(core::Rng& rng, size_t max) {
  std::string s(rng.Uniform(max + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng.Uniform(256));
  return s;
}

void RandomNums(core::Rng& rng, wire::pb::Partial* p) {
  for (uint64_t i = rng.Uniform(4); i > 0; i--) {
    wire::pb::Num* n = p->add_values();
    switch (rng.Uniform(4)) {
      case 0:
        n->set_f32_bits(static_cast<uint32_t>(rng.Next()));
        break;
      case 1:
        n->set_f64_bits(rng.Next());
        break;
      case 2:
        break;  // no value at all
      default:
        n->set_int_(NastyInt(rng));
    }
  }
}

// An assignment with every field drawn from what a peer could put there.
std::string HostileAssign(core::Rng& rng, const std::vector<core::AttemptId>& known) {
  wire::pb::LinkFrame p;
  wire::pb::TaskAssign* a = p.mutable_assign();
  a->set_job(rng.Uniform(4));
  a->set_attempt(!known.empty() && rng.Chance(0.5) ? known[rng.Uniform(known.size())]
                                                   : rng.Uniform(6));
  a->set_module(rng.Chance(0.9) ? std::string(32, 'm') : RandomText(rng, 40));
  a->set_module_size(rng.Next());
  a->set_func(rng.Chance(0.8) ? "sum" : RandomText(rng, 300));
  int64_t lo, hi;
  RandomInt64Range(rng, &lo, &hi);
  if (rng.Chance(0.3)) lo = NastyInt(rng), hi = NastyInt(rng);
  a->set_start(lo);
  a->set_end(hi);
  a->set_reducer(static_cast<wire::pb::Reducer>(static_cast<int>(rng.Uniform(7)) - 1));
  a->set_wide(rng.Chance(0.5));
  a->set_timeout_ms(static_cast<uint32_t>(rng.Next()));
  a->set_max_memory_pages(static_cast<uint32_t>(rng.Uniform(70000)));
  a->set_slice_ms(rng.Chance(0.5) ? static_cast<uint32_t>(rng.Next()) : 150);
  return p.SerializeAsString();
}

// A report, often of an attempt the coordinator really opened, with anything in it.
std::string HostileReport(core::Rng& rng, core::JobId job,
                          const std::vector<core::AttemptId>& known) {
  wire::pb::LinkFrame p;
  wire::pb::TaskReport* r = p.mutable_report();
  r->set_job(rng.Chance(0.8) ? job : rng.Uniform(4));
  r->set_attempt(!known.empty() && rng.Chance(0.7) ? known[rng.Uniform(known.size())] : rng.Next());
  r->set_upto(NastyInt(rng));
  r->set_running_to(rng.Chance(0.5) ? r->upto() : NastyInt(rng));
  RandomNums(rng, r->mutable_partial());
  r->set_busy_us(rng.Next() >> rng.Uniform(64));
  if (rng.Chance(0.2)) {
    r->mutable_error()->set_kind(static_cast<uint32_t>(rng.Next()));
    r->mutable_error()->set_message(RandomText(rng, 1100));
    r->mutable_error()->set_retryable(rng.Chance(0.5));
  }
  return p.SerializeAsString();
}

// A coordinator and a worker linked by encoded frames (what the node's links carry), with a
// hostile peer (node 3) sending assignments and reports of its own, and forged reports in
// the worker's name; the worker's executor finishes slices at any speed, sometimes failing.
TEST(PeerFrames, HostileFramesNeverAbortTheCores) {
  // Invalid UTF-8 in string fields is part of the test; protobuf would log each one.
  struct Quiet {
    google::protobuf::LogHandler* old = google::protobuf::SetLogHandler(nullptr);
    ~Quiet() { google::protobuf::SetLogHandler(old); }
  } quiet;
  uint64_t decoded = 0, refused = 0, finished_jobs = 0;
  for (uint64_t seed : Seeds(900, 150)) {
    SCOPED_TRACE(ReplayCommand(seed));
    core::Rng rng(seed);
    core::Coordinator c(kCoord, core::CoordinatorConfig{}, 1);
    core::WorkerConfig wc;
    wc.slots = 2;
    core::Worker w(kWorker, wc);
    int64_t lo, hi;
    RandomInt64Range(rng, &lo, &hi);
    core::JobId job = 0;
    std::string error;
    c.OnWorkerUp(kWorker, wc.slots, 0);
    core::CoordinatorOutput pending = c.Submit(SpecOf("sum", lo, hi), 0, &job, &error);
    ASSERT_EQ(error, "");
    std::vector<core::AttemptId> attempts;
    std::map<uint64_t, core::SliceRun> running;
    uint64_t now = 0;
    // Delivers frames as the node does: encoded, decoded at the boundary, then to a core.
    auto to_worker = [&](core::NodeId from, const std::string& bytes, core::WorkerOutput* wo) {
      wire::LinkMessage m;
      if (!wire::DecodeLink(bytes, &m)) {
        refused++;
        return;
      }
      decoded++;
      if (const auto* a = std::get_if<core::Assign>(&m)) *wo = w.OnAssign(from, *a, now);
      if (const auto* k = std::get_if<core::Cancel>(&m)) *wo = w.OnCancel(from, *k, now);
    };
    auto to_coordinator = [&](core::NodeId from, const std::string& bytes) {
      wire::LinkMessage m;
      if (!wire::DecodeLink(bytes, &m)) {
        refused++;
        return core::CoordinatorOutput{};
      }
      decoded++;
      if (const auto* r = std::get_if<core::Report>(&m)) return c.OnReport(from, *r, now);
      return core::CoordinatorOutput{};
    };
    core::WorkerOutput wout;
    for (int step = 0; step < 400; step++) {
      now += rng.Uniform(300);
      // The coordinator's messages reach the worker (the real peer).
      for (auto& [to, m] : pending.messages) {
        core::WorkerOutput o;
        std::string bytes =
            std::visit([](const auto& x) { return wire::EncodeLink(wire::LinkMessage(x)); }, m);
        if (const auto* a = std::get_if<core::Assign>(&m)) attempts.push_back(a->attempt);
        to_worker(kCoord, bytes, &o);
        for (auto& r : o.reports) wout.reports.push_back(r);
        for (auto& s : o.start) wout.start.push_back(s);
        for (auto& id : o.cancel) wout.cancel.push_back(id);
      }
      pending = {};
      for (const core::SliceRun& s : wout.start) running[s.id] = s;
      for (uint64_t id : wout.cancel) running.erase(id);
      for (auto& [to, r] : wout.reports)
        if (to == kCoord) {
          core::CoordinatorOutput o = to_coordinator(kWorker, wire::EncodeLink(r));
          for (auto& m : o.messages) pending.messages.push_back(m);
        }
      wout = {};
      w.CheckInvariants();
      c.CheckInvariants();
      switch (rng.Uniform(6)) {
        case 0:  // a hostile assignment, from the coordinator's id or another peer's
          to_worker(rng.Chance(0.5) ? kCoord : 3, HostileAssign(rng, attempts), &wout);
          break;
        case 1: {  // a hostile or forged report
          core::CoordinatorOutput o =
              to_coordinator(rng.Chance(0.5) ? kWorker : 3, HostileReport(rng, job, attempts));
          for (auto& m : o.messages) pending.messages.push_back(m);
          break;
        }
        case 2:
        case 3:
        case 4: {  // the executor ends a slice: exact, failed or nonsense, at any speed
          if (running.empty()) break;
          auto it = running.begin();
          std::advance(it, rng.Uniform(running.size()));
          core::SliceRun s = it->second;
          running.erase(it);
          core::SliceResult r;
          r.ok = rng.Chance(0.9);
          if (r.ok && rng.Chance(0.9) && s.func == "sum") {
            r.values = SimFunction::Parse("sum")->Call(s.lo, s.hi);
          } else if (r.ok) {
            for (uint64_t i = rng.Uniform(20); i > 0; i--)
              r.values.push_back(rng.Chance(0.5) ? core::Num::Int(NastyInt(rng))
                                                 : core::Num::F64(1.5));
          } else {
            r.error.message = "trap";
            r.error.retryable = rng.Chance(0.5);
          }
          r.busy_us = rng.Next() >> rng.Uniform(64);
          wout = w.OnSliceDone(s.id, r, now);
          break;
        }
        default: {
          wout = w.Tick(now);
          core::CoordinatorOutput o = c.Tick(now);
          for (auto& m : o.messages) pending.messages.push_back(m);
        }
      }
      w.CheckInvariants();
      c.CheckInvariants();
      if (HasFatalFailure()) return;
    }
    // Its result is not checked: a forged report in the worker's name is that worker lying,
    // which a coordinator cannot tell from the truth (the link proved who sent it).
    if (c.job(job)->state != core::JobState::kRunning) finished_jobs++;
  }
  std::printf("FIGURE peer_frames: decoded=%llu refused=%llu jobs_ended=%llu\n",
              (unsigned long long)decoded, (unsigned long long)refused,
              (unsigned long long)finished_jobs);
  EXPECT_GT(decoded, 0u);
  EXPECT_GT(refused, 0u);
}

}  // namespace
}  // namespace velum::sim
