// Tests of what the shell and ./velum show and accept (issue 14): one integer syntax for
// ranges, options and arguments; the progress line's rate and ETA; the job summary, the jobs
// table and the peers filter; which exports inspect marks or hides; the shared defaults.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "node/node.h"
#include "runtime/value.h"
#include "shell/commands.h"
#include "shell/job_commands.h"
#include "shell/module_lookup.h"
#include "shell/option_limits.h"
#include "shell/shell_util.h"

namespace velum::shell {
namespace {

// --- numbers -------------------------------------------------------------------------------

int64_t Int64(const std::string& text) {
  int64_t v = 0;
  EXPECT_TRUE(ParseInt64(text, &v)) << text;
  return v;
}

TEST(IntegerSyntax, FormsAcceptedExactly) {
  EXPECT_EQ(Int64("500000"), 500000);
  EXPECT_EQ(Int64("-5"), -5);
  EXPECT_EQ(Int64("+7"), 7);
  EXPECT_EQ(Int64("0x10"), 16);
  EXPECT_EQ(Int64("-0x10"), -16);
  EXPECT_EQ(Int64("2e9"), 2000000000);
  EXPECT_EQ(Int64("2E9"), 2000000000);
  EXPECT_EQ(Int64("1.5e6"), 1500000);
  EXPECT_EQ(Int64("2000e-3"), 2);
  EXPECT_EQ(Int64("1_000_000"), 1000000);
  EXPECT_EQ(Int64("0xffff_ffff"), 0xffffffff);
  EXPECT_EQ(Int64("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(Int64("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(Int64("-0x8000000000000000"), INT64_MIN);
  // 9.223372036854775807e18 is INT64_MAX exactly: no double rounding on the way.
  EXPECT_EQ(Int64("9.223372036854775807e18"), INT64_MAX);
  EXPECT_EQ(Int64("0e99"), 0);
}

TEST(IntegerSyntax, NotExactOrNotFittingRefused) {
  for (const char* bad : {"",
                          "-",
                          "+",
                          "0x",
                          "abc",
                          "12abc",
                          "3.5",
                          "1e-3",
                          "1.",
                          ".5",
                          "e5",
                          "1e",
                          "1_",
                          "_1",
                          "1__0",
                          "--5",
                          "1 2",
                          "9223372036854775808",
                          "9.3e18",
                          "-9223372036854775809",
                          "0x8000000000000000",
                          "1e9999",
                          "nan",
                          "inf",
                          "0x1p3"}) {
    int64_t v = 42;
    EXPECT_FALSE(ParseInt64(bad, &v)) << bad;
    EXPECT_EQ(v, 42) << bad;
  }
}

TEST(IntegerSyntax, WasmArgumentsTakeTheSameForms) {
  auto i64 = ParseValue("2e9", ValType::kI64);
  ASSERT_TRUE(i64.ok());
  EXPECT_EQ(i64->i64(), 2000000000);
  auto i32 = ParseValue("1_000", ValType::kI32);
  ASSERT_TRUE(i32.ok());
  EXPECT_EQ(i32->i32(), 1000);
  // One clear error for what does not fit, another for what is not a number.
  auto big = ParseValue("5e9", ValType::kI32);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message, "'5e9' does not fit in i32 (-2147483648 to 4294967295)");
  EXPECT_EQ(big.error().kind, ErrorKind::kBadArguments);
  auto junk = ParseValue("3.5", ValType::kI32);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().message, "'3.5' is not a valid i32");
}

TEST(IntegerSyntax, CountedOptionsTakeTheSameForms) {
  double v = 0;
  EXPECT_EQ(CheckNumber(kCallMemory, "0x100", &v), "");
  EXPECT_EQ(v, 256);
  EXPECT_EQ(CheckNumber(kCallMemory, "2e3", &v), "");
  EXPECT_EQ(v, 2000);
  EXPECT_EQ(CheckNumber(kSlots, "1_6", &v), "");
  EXPECT_EQ(v, 16);
  EXPECT_NE(CheckNumber(kCallMemory, "0x10000000", &v), "");  // out of range
  EXPECT_NE(CheckNumber(kCallMemory, "1.5", &v), "");         // not whole
  EXPECT_NE(CheckNumber(kCallMemory, "-0x10", &v), "");
  EXPECT_EQ(CheckNumber(kCallTimeout, "2.5", &v), "");
  EXPECT_EQ(v, 2.5);
}

TEST(IntegerSyntax, UsageErrorsAreMarked) {
  EXPECT_TRUE(UsageFailure("usage: jobs").usage);
  EXPECT_FALSE(Failure("job 3 failed").usage);
  EXPECT_TRUE(ErrorFailure(MakeError(ErrorKind::kBadArguments, "x")).usage);
  EXPECT_FALSE(ErrorFailure(MakeError(ErrorKind::kTrap, "x")).usage);
}

TEST(Defaults, ShellAndVelumRunShareTheCallDefaults) {
  CallOptions call;
  ScatterRequest scatter;
  EXPECT_EQ(call.timeout_ms, kDefaultCallTimeoutS * 1000);
  EXPECT_EQ(scatter.timeout_ms, kDefaultCallTimeoutS * 1000);
  EXPECT_EQ(call.max_memory_mib, kDefaultCallMemoryMib);
  EXPECT_EQ(scatter.max_memory_mib, kDefaultCallMemoryMib);
}

// --- progress ------------------------------------------------------------------------------

TEST(ProgressMeter, RateOfTheLastSecondsNotTheAverage) {
  // Items get dearer: 1000/s for 5 s, then 100/s for 5 s (sampled every 100 ms).
  ProgressMeter meter;
  EXPECT_EQ(meter.ItemsPerSecond(), 0);
  EXPECT_LT(meter.EtaSeconds(10000), 0);
  uint64_t done = 0;
  for (int t = 0; t <= 100; t++) {
    double ms = t * 100.0;
    done = t <= 50 ? t * 100 : 5000 + (t - 50) * 10;
    meter.Add(ms, done);
  }
  EXPECT_EQ(done, 5500u);
  EXPECT_NEAR(meter.ItemsPerSecond(), 100, 3);
  // The remaining 4500 items at 100/s; by item count alone it would be 8.2 s.
  EXPECT_NEAR(meter.EtaSeconds(10000), 45, 2);
  EXPECT_EQ(meter.EtaSeconds(5500), 0);
}

TEST(ProgressMeter, BoundedAndIgnoresOldSamples) {
  ProgressMeter meter;
  for (int t = 0; t < 10000; t++) meter.Add(t * 1.0, t);  // 1000 items/s, 10 s of 1 ms samples
  EXPECT_NEAR(meter.ItemsPerSecond(), 1000, 1);
  meter.Add(5.0, 0);  // out of order: ignored
  EXPECT_NEAR(meter.ItemsPerSecond(), 1000, 1);
}

JobSummary Running() {
  JobSummary s;
  s.id = 4;
  s.state = velum::core::JobState::kRunning;
  s.label = "primes.wasm";
  s.func = "count_primes";
  s.start = 0;
  s.end = 10000;
  s.reducer = velum::core::ReducerKind::kSum;
  s.items_total = 10000;
  s.items_done = 5500;
  s.elapsed_ms = 10000;
  s.chunks = 8;
  s.workers = {{1, 4, 3000, 6.0, 100}, {2, 4, 2500, 5.5, 200}};
  return s;
}

TEST(ProgressLine, ItemsRateAndEta) {
  ProgressMeter meter;
  meter.Add(5000, 5000);
  meter.Add(10000, 5500);
  std::string line = ProgressLine(Running(), meter);
  EXPECT_NE(line.find("[###########---------]  55%"), std::string::npos) << line;
  EXPECT_NE(line.find("5500 of 10.0k items"), std::string::npos) << line;
  EXPECT_NE(line.find("100/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 45 s"), std::string::npos) << line;
  EXPECT_NE(line.find("2 nodes"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  ProgressMeter fresh;
  EXPECT_NE(ProgressLine(Running(), fresh).find("-/s  ETA -"), std::string::npos);
}

TEST(Quantities, HumanForms) {
  EXPECT_EQ(Quantity(950), "950");
  EXPECT_EQ(Quantity(12345), "12.3k");
  EXPECT_EQ(Quantity(4.56e6), "4.56M");
  EXPECT_EQ(Quantity(2e9), "2.00G");
  EXPECT_EQ(LongDuration(44.2), "45 s");
  EXPECT_EQ(LongDuration(200), "3 min 20 s");
  EXPECT_EQ(LongDuration(7500), "2 h 05 min");
}

// --- summaries -----------------------------------------------------------------------------

JobSummary Done() {
  JobSummary s = Running();
  s.state = velum::core::JobState::kDone;
  s.items_done = s.items_total;
  s.result = {core::Num::Int(1229)};
  s.workers = {{1, 4, 5000, 2.5, 0}, {2, 4, 5000, 2.0, 0}};
  s.elapsed_ms = 1500;
  return s;
}

TEST(JobResult, HealthyRunShowsNoRecoveryAndLabelsWallAndSlotTime) {
  JobSummary s = Done();
  s.backups = 2;  // routine: stragglers' copies
  s.stale_reports = 1;
  CommandResult r = JobResult(s);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.text.rfind("1229\njob 4: count_primes over [0, 10000) by sum in 1.50 s (wall)", 0),
            0u)
      << r.text;
  EXPECT_NE(r.text.find("slot time"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("items/slot-s"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("2.50 s"), std::string::npos) << r.text;  // node 1's slot time
  for (const char* word : {"recovery", "reassigned", "recomputed", "backups", "stale"})
    EXPECT_EQ(r.text.find(word), std::string::npos) << word << " in:\n" << r.text;
  // The JSON keeps every figure.
  EXPECT_EQ(r.json["backups"], 2);
  EXPECT_EQ(r.json["stale_reports"], 1);
  EXPECT_FALSE(r.json.contains("found"));
}

TEST(JobResult, RecoveryShownWhenAWorkerWasLost) {
  JobSummary s = Done();
  s.failures = {{3, 812, 1, 700, 50}};
  s.reassigned = 1;
  s.reassigned_items = 700;
  s.recomputed = 50;
  s.detection_ms = 812;
  CommandResult r = JobResult(s);
  EXPECT_NE(r.text.find("recovery: 1 worker lost; reassigned 1 (700 items), recomputed 50 items"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("failure detected in 812 ms"), std::string::npos) << r.text;
}

TEST(JobResult, CancelledJobKeepsItsProgress) {
  JobSummary s = Running();
  s.state = velum::core::JobState::kCancelled;
  s.error = "cancelled by the user";
  CommandResult r = JobResult(s);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.usage);
  EXPECT_NE(r.text.find("error: job 4 cancelled: cancelled by the user\n"), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("cancelled after 5500 of 10000 items (55.0%) in 10.00 s (wall)"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("\n  1 "), std::string::npos) << r.text;  // the per-node table
  EXPECT_EQ(r.json["items_done"], 5500);
  EXPECT_EQ(r.json["error"], "job 4 cancelled: cancelled by the user");
}

// A job failed by a slice: its record says which node, which items and what kind of error,
// in the text and in --json; a summary read back from the journal says what it lacks.
TEST(JobResult, FailedSliceAndJournalDetailsAreShown) {
  JobSummary s = Running();
  s.state = velum::core::JobState::kFailed;
  s.error = "trap: unreachable (node 2, items [77000, 78000))";
  s.failure = velum::core::JobFailure{
      static_cast<uint32_t>(velum::ErrorKind::kTrap), "unreachable", 2, 77000, 78000, false};
  CommandResult r = JobResult(s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.text.find("\n  failed slice: node 2, items [77000, 78000): trap: unreachable"),
            std::string::npos)
      << r.text;
  EXPECT_EQ(r.json["failure"]["kind"], "trap");
  EXPECT_EQ(r.json["failure"]["node"], 2);
  EXPECT_EQ(r.json["failure"]["start"], 77000);
  EXPECT_EQ(r.json["failure"]["end"], 78000);
  EXPECT_FALSE(r.json.contains("from_journal"));
  s.failure->error_kind = velum::core::kTaskErrorWorkerBusy;
  EXPECT_EQ(JobResult(s).json["failure"]["kind"], "worker busy");
  s.failure->error_kind = 999;
  EXPECT_EQ(JobResult(s).json["failure"]["kind"], "error 999");

  JobSummary old = Done();
  old.from_journal = true;
  old.details = velum::JobDetails::kNotRecorded;
  r = JobResult(old);
  EXPECT_TRUE(r.ok);
  EXPECT_NE(r.text.find("not recorded: the journal's record of this job is from an older node"),
            std::string::npos)
      << r.text;
  EXPECT_EQ(r.json["from_journal"], true);
  EXPECT_EQ(r.json["details"], "not recorded");
  old.details = velum::JobDetails::kDamaged;
  EXPECT_NE(JobResult(old).text.find("details is damaged"), std::string::npos);
  EXPECT_EQ(JobResult(old).json["details"], "damaged");
  old.details = velum::JobDetails::kKept;  // a whole record prints as the scatter did
  EXPECT_EQ(JobResult(old).text, JobResult(Done()).text);
}

TEST(JobResult, FirstWithNoHitSaysSo) {
  JobSummary s = Done();
  s.reducer = velum::core::ReducerKind::kFirst;
  s.func = "search";
  s.result = {core::Num::Int(0)};
  CommandResult r = JobResult(s);
  EXPECT_EQ(r.text.rfind("no hit: search found nothing in [0, 10000)\n", 0), 0u) << r.text;
  EXPECT_EQ(r.json["found"], false);
  EXPECT_EQ(r.json["result"], 0);
  s.result = {core::Num::Int(162587)};
  r = JobResult(s);
  EXPECT_EQ(r.text.rfind("162587\n", 0), 0u) << r.text;
  EXPECT_EQ(r.json["found"], true);
  EXPECT_NE(JobsTable({s}).find("162587"), std::string::npos);
  s.result = {core::Num::Int(0)};
  EXPECT_NE(JobsTable({s}).find("no hit"), std::string::npos);
}

// --- tables --------------------------------------------------------------------------------

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  lines.push_back(text.substr(start));
  return lines;
}

TEST(JobsTable, ColumnsAligned) {
  JobSummary a = Done();
  a.id = 9;
  JobSummary b = Running();
  b.id = 10;
  b.label = "a_module_with_a_rather_long_name.wasm";
  b.start = -9223372036854775807 - 1;
  b.end = 9223372036854775807;
  JobSummary c = Running();
  c.id = 11;
  c.state = velum::core::JobState::kCancelled;
  c.error = "cancelled by the user";
  std::string table = JobsTable({a, b, c});
  auto lines = Lines(table);
  ASSERT_EQ(lines.size(), 4u) << table;
  // Right-aligned numbers end, and left-aligned words start, in the same column on every line.
  size_t progress_end = lines[0].find("progress") + 8;
  size_t what_start = lines[0].find("module func");
  for (const auto& line : lines) {
    EXPECT_EQ(line[progress_end - 1], line[0] == 'j' ? 's' : '%') << table;
    EXPECT_EQ(line[what_start - 1], ' ') << table;
    EXPECT_NE(line[what_start], ' ') << table;
    EXPECT_NE(line.back(), ' ') << table;
  }
  EXPECT_NE(lines[3].find("55.0%"), std::string::npos) << table;  // the cancelled job's progress
  EXPECT_EQ(JobsTable({}), Lines(JobsTable({}))[0] + "\n(no jobs yet)");
}

TEST(Peers, DepartedHiddenAfterAWhile) {
  PeerInfo p;
  p.state = velum::core::MemberState::kAlive;
  p.last_heard_ms_ago = 10 * kHideDepartedAfterMs;
  EXPECT_FALSE(IsLongDeparted(p));
  p.state = velum::core::MemberState::kSuspect;
  EXPECT_FALSE(IsLongDeparted(p));
  for (auto gone : {velum::core::MemberState::kDead, velum::core::MemberState::kLeft}) {
    p.state = gone;
    p.last_heard_ms_ago = kHideDepartedAfterMs - 1;
    EXPECT_FALSE(IsLongDeparted(p)) << velum::core::StateName(gone);
    p.last_heard_ms_ago = kHideDepartedAfterMs;
    EXPECT_TRUE(IsLongDeparted(p)) << velum::core::StateName(gone);
    p.last_heard_ms_ago = -1;  // never heard directly: how long ago it went is not known here
    EXPECT_FALSE(IsLongDeparted(p)) << velum::core::StateName(gone);
  }
}

TEST(Peers, TheTableHidesTheLongDepartedUnlessAll) {
  std::vector<PeerInfo> peers(3);
  peers[0].id = 2;
  peers[0].state = velum::core::MemberState::kAlive;
  peers[0].last_heard_ms_ago = 5;
  peers[1].id = 3;
  peers[1].state = velum::core::MemberState::kLeft;
  peers[1].last_heard_ms_ago = kHideDepartedAfterMs + 1;
  peers[2].id = 4;
  peers[2].state = velum::core::MemberState::kDead;
  peers[2].last_heard_ms_ago = 1000;  // went a second ago: still shown
  CommandResult shown = PeersResult(peers, false);
  EXPECT_EQ(shown.json["peers"].size(), 2u) << shown.text;
  EXPECT_EQ(shown.json["hidden_departed"], 1) << shown.text;
  EXPECT_EQ(shown.text.find("\n3 "), std::string::npos) << shown.text;
  EXPECT_NE(shown.text.find("\n4 "), std::string::npos) << shown.text;
  EXPECT_NE(shown.text.find("1 departed peer not heard for 60 s hidden: peers --all shows them"),
            std::string::npos)
      << shown.text;
  CommandResult all = PeersResult(peers, true);
  EXPECT_EQ(all.json["peers"].size(), 3u) << all.text;
  EXPECT_FALSE(all.json.contains("hidden_departed"));
  EXPECT_NE(all.text.find("\n3 "), std::string::npos) << all.text;
  EXPECT_EQ(all.text.find("hidden"), std::string::npos) << all.text;
  EXPECT_NE(PeersResult({}, false).text.find("(no peers yet)"), std::string::npos);
}

// --- modules -------------------------------------------------------------------------------

ExportInfo Func(const std::string& name, std::vector<ValType> params,
                std::vector<ValType> results) {
  ExportInfo e;
  e.name = name;
  e.kind = ExternKind::kFunc;
  e.sig = {std::move(params), std::move(results)};
  return e;
}

TEST(Exports, ScatterShapesAndToolchainNames) {
  bool wide = true;
  EXPECT_EQ(RangeExportProblem(Func("f", {ValType::kI32, ValType::kI32}, {ValType::kI64}), &wide),
            "");
  EXPECT_FALSE(wide);
  EXPECT_EQ(RangeExportProblem(
                Func("g", {ValType::kI64, ValType::kI64}, {ValType::kF64, ValType::kI32}), &wide),
            "");
  EXPECT_TRUE(wide);
  EXPECT_NE(RangeExportProblem(Func("h", {ValType::kI32}, {ValType::kI32}), &wide), "");
  EXPECT_NE(RangeExportProblem(Func("k", {ValType::kI32, ValType::kI32}, {}), &wide), "");
  EXPECT_NE(RangeExportProblem(Func("m", {ValType::kI32, ValType::kI64}, {ValType::kI32}), &wide),
            "");
  ExportInfo memory;
  memory.name = "memory";
  memory.kind = ExternKind::kMemory;
  EXPECT_NE(RangeExportProblem(memory, &wide), "");
  for (const char* name : {"__wasm_call_ctors", "__dso_handle", "__data_end", "__heap_base",
                           "__indirect_function_table", "_initialize"})
    EXPECT_TRUE(IsToolchainExport(name)) << name;
  for (const char* name : {"count_primes", "memory", "_start", "sum", "x__y"})
    EXPECT_FALSE(IsToolchainExport(name)) << name;
}

}  // namespace
}  // namespace velum::shell
