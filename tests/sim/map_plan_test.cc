// The map plan (core/map_plan.h) on its own: runs of consecutive items, stealing at the end,
// retries on other workers, lost workers, restore; and random schedules against its invariants.
#include "core/map_plan.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace velum::core {
namespace {

TEST(MapPlan, RunsAreConsecutiveAndEveryItemEndsOnce) {
  MapPlan plan(100, 1);
  plan.SetWorkers({1, 2});
  std::vector<int> ended(100, 0);
  auto a = plan.Next(1), b = plan.Next(2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*plan.Next(1), 1u);  // 1's run goes on where it began
  EXPECT_GT(*b, 1u);
  for (uint64_t item : {*a, *b, uint64_t{1}}) {
    EXPECT_EQ(plan.Finish(item, plan.worker(item), ItemOutcome::kOk, 1000), ItemState::kOk);
    ended[item]++;
  }
  for (;;) {
    bool any = false;
    for (NodeId w : {1u, 2u}) {
      if (auto item = plan.Next(w)) {
        any = true;
        EXPECT_EQ(plan.Finish(*item, w, ItemOutcome::kOk, 1000), ItemState::kOk);
        ended[*item]++;
      }
    }
    plan.CheckInvariants();
    if (!any) break;
  }
  EXPECT_TRUE(plan.Done());
  EXPECT_EQ(plan.frontier(), 100u);
  for (int n : ended) EXPECT_EQ(n, 1);
}

TEST(MapPlan, FailedItemRetriesOnAnotherWorkerThenFailsForGood) {
  MapPlan plan(1, 1);
  plan.SetWorkers({1, 2});
  auto item = plan.Next(1);
  ASSERT_TRUE(item);
  EXPECT_EQ(plan.Finish(*item, 1, ItemOutcome::kFailed, 10), ItemState::kWaiting);
  EXPECT_FALSE(plan.Next(1));  // not on the worker that failed it, while another is live
  ASSERT_TRUE(plan.Next(2));
  EXPECT_EQ(plan.Finish(0, 2, ItemOutcome::kFailed, 10), ItemState::kFailed);
  EXPECT_TRUE(plan.Done());
  EXPECT_EQ(plan.failed(), 1u);
  EXPECT_EQ(plan.failures(0), 2u);
}

TEST(MapPlan, ARetryGoesBackToTheSameWorkerWhenItIsTheOnlyOne) {
  MapPlan plan(1, 2);
  plan.SetWorkers({1});
  for (int run = 0; run < 2; run++) {
    ASSERT_TRUE(plan.Next(1));
    EXPECT_EQ(plan.Finish(0, 1, ItemOutcome::kFailed, 10), ItemState::kWaiting);
  }
  ASSERT_TRUE(plan.Next(1));
  EXPECT_EQ(plan.Finish(0, 1, ItemOutcome::kOk, 10), ItemState::kOk);
}

TEST(MapPlan, LostWorkersItemsGoToOthersUncounted) {
  MapPlan plan(10, 0);
  plan.SetWorkers({1, 2});
  auto a = plan.Next(1);
  ASSERT_TRUE(a);
  plan.LoseWorker(1);
  plan.SetWorkers({2});
  EXPECT_FALSE(plan.Next(1));
  // A late end from the lost worker changes nothing.
  EXPECT_EQ(plan.Finish(*a, 1, ItemOutcome::kOk, 10), ItemState::kWaiting);
  std::vector<uint64_t> seen;
  while (auto item = plan.Next(2)) {
    seen.push_back(*item);
    EXPECT_EQ(plan.Finish(*item, 2, ItemOutcome::kOk, 10), ItemState::kOk);
  }
  EXPECT_TRUE(plan.Done());
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(plan.failures(*a), 0u);
  EXPECT_GE(plan.reruns(), 1u);
}

TEST(MapPlan, AnItemLostAgainAndAgainFailsInTheEnd) {
  MapPlan plan(1, 0);
  plan.SetWorkers({1});
  for (uint32_t k = 0; k < MapPlan::kMaxLosses; k++) {
    ASSERT_TRUE(plan.Next(1));
    EXPECT_EQ(plan.Finish(0, 1, ItemOutcome::kLost, 10), ItemState::kWaiting);
  }
  ASSERT_TRUE(plan.Next(1));
  EXPECT_EQ(plan.Finish(0, 1, ItemOutcome::kLost, 10), ItemState::kFailed);
}

TEST(MapPlan, BelowHoldsBackAllButTheFrontier) {
  MapPlan plan(10, 0);
  plan.SetWorkers({1, 2});
  auto a = plan.Next(1, 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 0u);
  EXPECT_FALSE(plan.Next(2, 1));  // item 0 runs: nothing else may start
  plan.Finish(0, 1, ItemOutcome::kOk, 10);
  auto b = plan.Next(2, plan.frontier() + 1);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, 1u);
  plan.CheckInvariants();
}

TEST(MapPlan, RestoredItemsAreNotRunAgain) {
  MapPlan plan(5, 1);
  EXPECT_TRUE(plan.Restore(0, true));
  EXPECT_TRUE(plan.Restore(3, false));
  EXPECT_FALSE(plan.Restore(3, true));  // twice
  EXPECT_FALSE(plan.Restore(5, true));  // out of range
  EXPECT_EQ(plan.frontier(), 1u);
  plan.SetWorkers({7});
  std::vector<uint64_t> ran;
  while (auto item = plan.Next(7)) {
    ran.push_back(*item);
    plan.Finish(*item, 7, ItemOutcome::kOk, 10);
  }
  EXPECT_EQ(ran, (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(plan.ok(), 4u);
  EXPECT_EQ(plan.failed(), 1u);
}

TEST(MapPlan, TheLastRunsAreShortSoWorkersEndTogether) {
  MapPlan plan(1000, 0);
  plan.SetWorkers({1, 2});
  // Worker 1 is measured fast, 2 slow: 1 takes most items, and 2's queue is stolen at the end.
  std::map<NodeId, uint64_t> done;
  for (int step = 0; step < 100000 && !plan.Done(); step++) {
    NodeId w = step % 5 == 0 ? 2 : 1;
    if (auto item = plan.Next(w)) {
      plan.Finish(*item, w, ItemOutcome::kOk, w == 1 ? 100 : 5000);
      done[w]++;
    }
  }
  EXPECT_TRUE(plan.Done());
  EXPECT_GT(done[1], done[2]);
  plan.CheckInvariants();
}

// Random schedules: workers come and go, outcomes are random; every item ends exactly once,
// no failed item ran more than retries + 1 times, and the invariants hold at every step.
TEST(MapPlan, RandomSchedules) {
  const char* fixed = std::getenv("VELUM_SIM_SEED");
  const uint64_t first = fixed ? std::strtoull(fixed, nullptr, 10) : 1;
  const uint64_t seeds = fixed ? 1 : 200;
  for (uint64_t seed = first; seed < first + seeds; seed++) {
    SCOPED_TRACE("seed=" + std::to_string(seed) +
                 " (replay: VELUM_SIM_SEED=" + std::to_string(seed) +
                 " build/tests/sim/velum-sim-tests --gtest_filter=MapPlan.RandomSchedules)");
    std::mt19937_64 rng(seed);
    const uint64_t items = rng() % 300;
    const uint32_t retries = static_cast<uint32_t>(rng() % 3);
    MapPlan plan(items, retries);
    std::set<NodeId> live = {1, 2, 3};
    plan.SetWorkers(live);
    std::map<NodeId, std::vector<uint64_t>> running;
    std::vector<int> ended(items, 0);
    std::vector<int> runs(items, 0);
    for (int step = 0; step < 200000 && !plan.Done(); step++) {
      NodeId w = static_cast<NodeId>(1 + rng() % 4);
      switch (rng() % 10) {
        case 0:  // a worker is lost or comes (back)
          if (live.count(w) && live.size() > 1) {
            live.erase(w);
            if (rng() % 2) {
              plan.LoseWorker(w);
              running.erase(w);
            } else {
              plan.PauseWorker(w);  // its running items still end, reported by it
            }
          } else {
            live.insert(w);
          }
          plan.SetWorkers(live);
          break;
        case 1:
        case 2:
        case 3:
        case 4:
          // Now and then only the item at the frontier may start (outputs are backing up).
          if (auto item = plan.Next(w, rng() % 4 ? UINT64_MAX : plan.frontier() + 1)) {
            running[w].push_back(*item);
            runs[*item]++;
          }
          break;
        default: {
          auto& mine = running[w];
          if (mine.empty()) break;
          size_t k = rng() % mine.size();
          uint64_t item = mine[k];
          mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
          uint64_t r = rng() % 10;
          ItemOutcome outcome = r < 6   ? ItemOutcome::kOk
                                : r < 9 ? ItemOutcome::kFailed
                                        : ItemOutcome::kLost;
          ItemState s = plan.Finish(item, w, outcome, rng() % 10000);
          if (s == ItemState::kOk || s == ItemState::kFailed) ended[item]++;
        }
      }
      plan.CheckInvariants();
    }
    ASSERT_TRUE(plan.Done());
    EXPECT_EQ(plan.ok() + plan.failed(), items);
    for (uint64_t i = 0; i < items; i++)
      EXPECT_LE(runs[i], static_cast<int>((retries + 1) * (MapPlan::kMaxLosses + 1)))
          << "item " << i;
    EXPECT_EQ(plan.frontier(), items);
    for (uint64_t i = 0; i < items; i++) {
      EXPECT_EQ(ended[i], 1) << "item " << i;
      if (plan.state(i) == ItemState::kFailed) {
        EXPECT_EQ(plan.failures(i), retries + 1);
      }
    }
  }
}

}  // namespace
}  // namespace velum::core
