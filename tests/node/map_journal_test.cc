// The map journal (node/map_journal.h) against a damaged disk: its rows' decoders fed
// truncated, bit-flipped and oversized bytes, a file that is no database, and round trips.
#include "node/map_journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace velum {
namespace {

namespace fs = std::filesystem;

MapRequest Request() {
  MapRequest q;
  q.args = {"checksum.wasm", "a b", std::string("\xff\x00z", 3)};
  q.env = {"K=V"};
  q.out_dir = "/tmp/out";
  q.retries = 2;
  q.exclude_self = true;
  q.items.push_back({"caf\xc3\xa9 1", "", fs::path("/in/caf\xc3\xa9 1"), ""});
  q.items.push_back({"lines.txt:2", "00000001.out", std::nullopt, "a line\n"});
  return q;
}

MapSummary Summary() {
  MapSummary s;
  s.job = 7;
  s.state = core::JobState::kDone;
  s.items = 3;
  s.ok = 2;
  s.failed.push_back({1, "bad", 2, 3, "exit code 3", "stderr\n"});
  s.workers = {{1, 1}, {2, 1}};
  s.reruns = 1;
  s.elapsed_ms = 12.5;
  s.out = "/tmp/out";
  return s;
}

TEST(MapJournalCodec, RoundTrips) {
  MapRequest back;
  ASSERT_TRUE(DecodeMapRequest(EncodeMapRequest(Request()), &back));
  EXPECT_EQ(back.args, Request().args);
  EXPECT_EQ(back.items.size(), 2u);
  EXPECT_EQ(back.items[1].bytes, "a line\n");
  EXPECT_EQ(back.items[1].out_name, "00000001.out");
  EXPECT_TRUE(back.exclude_self);
  MapSummary s;
  ASSERT_TRUE(DecodeMapSummary(EncodeMapSummary(Summary()), &s));
  EXPECT_EQ(s.failed.size(), 1u);
  EXPECT_EQ(s.failed[0].stderr_tail, "stderr\n");
  EXPECT_EQ(s.workers, Summary().workers);
}

// Every prefix, and random bit flips, of a valid row: decoded or refused, never a crash nor
// a huge allocation (counts are checked against their bounds before anything is reserved).
TEST(MapJournalCodec, DamagedRowsAreRefusedOrDecoded) {
  const std::vector<uint8_t> request = EncodeMapRequest(Request());
  const std::vector<uint8_t> summary = EncodeMapSummary(Summary());
  for (size_t n = 0; n < request.size(); n++) {
    MapRequest q;
    EXPECT_FALSE(DecodeMapRequest({request.begin(), request.begin() + n}, &q)) << n;
  }
  for (size_t n = 0; n < summary.size(); n++) {
    MapSummary s;
    EXPECT_FALSE(DecodeMapSummary({summary.begin(), summary.begin() + n}, &s)) << n;
  }
  std::mt19937_64 rng(12);
  for (int k = 0; k < 20000; k++) {
    std::vector<uint8_t> a = request, b = summary;
    a[rng() % a.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    MapRequest q;
    MapSummary s;
    DecodeMapRequest(a, &q);
    if (DecodeMapSummary(b, &s)) {
      EXPECT_LE(s.ok, s.items);
    }
  }
  // A count of 2^32 - 1 arguments, or 2^64 - 1 items, with nothing behind it.
  std::vector<uint8_t> huge = {1, 0xff, 0xff, 0xff, 0xff};
  MapRequest q;
  EXPECT_FALSE(DecodeMapRequest(huge, &q));
  EXPECT_FALSE(DecodeMapRequest({}, &q));
  MapSummary s;
  EXPECT_FALSE(DecodeMapSummary({2}, &s));  // an unknown version
}

TEST(MapJournal, AFileThatIsNoDatabaseIsMovedAsideAndJobsSurviveAReopen) {
  char tmpl[] = "/tmp/velum-map-journal-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl, file = dir / "maps.db";
  {
    std::ofstream f(file);
    f << "this is not a database, and it is long enough to have a header of sorts\n";
  }
  std::string note;
  auto j = MapJournal::Open(file, &note);
  ASSERT_TRUE(j.ok()) << j.error().ToString();
  EXPECT_NE(note.find("moved to"), std::string::npos) << note;
  ASSERT_TRUE((*j)->Begin(7, EncodeMapRequest(Request()), {0, 'a', 's', 'm'}).ok());
  ASSERT_TRUE(
      (*j)->AddItems(7, {{0, true, 1, 0, "", ""}, {1, false, 2, 3, "exit code 3", "x"}}).ok());
  j->reset();
  auto again = MapJournal::Open(file, &note);
  ASSERT_TRUE(again.ok());
  auto jobs = (*again)->Load();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state, core::JobState::kRunning);
  auto items = (*again)->Items(7);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ(items->size(), 2u);
  auto last = (*again)->LastId();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 7u);
  ASSERT_TRUE((*again)->Finish(Summary()).ok());
  auto listed = (*again)->Load(/*summaries_only=*/true);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].summary.ok, 2u);
  EXPECT_TRUE((*again)->Items(7)->empty());  // the summary replaced them
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace velum
