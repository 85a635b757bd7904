// The command table (src/shell/command_table.h): typo suggestions, the argument check that
// refuses extra arguments and unknown flags, and the rows' usage lines.
#include "shell/command_table.h"

#include <gtest/gtest.h>

#include <set>

#include "shell/background_jobs.h"
#include "shell/shell_util.h"

namespace velum::shell {
namespace {

std::string Check(const std::string& line) {
  auto words = Words(line);
  const CommandSpec* spec = FindCommand(words.at(0));
  EXPECT_NE(spec, nullptr) << line;
  return spec ? CheckArguments(*spec, words) : "no such command";
}

using WordList = std::vector<std::string>;

TEST(Words, SplitsAsAShellDoesWithoutExpansions) {
  EXPECT_EQ(Words("  wasm  a.wasm\t-v  "), (WordList{"wasm", "a.wasm", "-v"}));
  EXPECT_EQ(Words("wasm --ro-dir \"my data::in\" p.wasm 'a b' c\\ d"),
            (WordList{"wasm", "--ro-dir", "my data::in", "p.wasm", "a b", "c d"}));
  EXPECT_EQ(Words("x '' \"\""), (WordList{"x", "", ""}));  // empty arguments are arguments
  EXPECT_EQ(Words("x 'it\"s' \"say \\\"hi\\\" \\\\ \\n\""),
            (WordList{"x", "it\"s", "say \"hi\" \\ \\n"}));
  EXPECT_EQ(Words("x a'b c'd"), (WordList{"x", "ab cd"}));  // quotes join a word's parts
  EXPECT_EQ(Words("x $HOME *.txt ~"), (WordList{"x", "$HOME", "*.txt", "~"}));  // no expansion
  std::string error;
  Words("x 'open", &error);
  EXPECT_EQ(error, "unterminated single quote");
  Words("x \"open", &error);
  EXPECT_EQ(error, "unterminated double quote");
  Words("x 'closed'", &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Words("x trailing\\"), (WordList{"x", "trailing\\"}));  // a last backslash is kept
}

TEST(CommandTable, SuggestsTheCommandATypoMeant) {
  EXPECT_EQ(SuggestCommand("scater"), "scatter");    // a letter missing
  EXPECT_EQ(SuggestCommand("sactter"), "scatter");   // two letters swapped
  EXPECT_EQ(SuggestCommand("scatterr"), "scatter");  // one too many
  EXPECT_EQ(SuggestCommand("Scatter"), "scatter");   // case
  EXPECT_EQ(SuggestCommand("scat"), "scatter");      // a prefix
  EXPECT_EQ(SuggestCommand("stauts"), "status");
  EXPECT_EQ(SuggestCommand("wiat"), "wait");
  EXPECT_EQ(SuggestCommand("jbos"), "jobs");
  EXPECT_EQ(SuggestCommand("peer"), "peers");
  EXPECT_EQ(SuggestCommand("qiut"), "quit");
  EXPECT_EQ(SuggestCommand("wams"), "wasm");
}

TEST(CommandTable, SuggestsNothingForWordsFarFromEveryCommand) {
  EXPECT_EQ(SuggestCommand(""), "");
  EXPECT_EQ(SuggestCommand("s"), "");  // one letter is no prefix worth guessing from
  EXPECT_EQ(SuggestCommand("ls"), "");
  EXPECT_EQ(SuggestCommand("xyzzy"), "");
  EXPECT_EQ(SuggestCommand("rm -rf"), "");
  EXPECT_EQ(SuggestCommand(std::string(10000, 's')), "");  // long input is not compared
}

TEST(CommandTable, RefusesExtraArgumentsWithOneLine) {
  EXPECT_EQ(Check("jobs 1"), "jobs takes no arguments, not 1: '1' is one too many");
  EXPECT_EQ(Check("status now please"), "status takes no arguments, not 2: 'now' is one too many");
  EXPECT_EQ(Check("wait 1 2"), "wait takes 1 argument, not 2: '2' is one too many");
  EXPECT_EQ(Check("cancel 3 4 5"), "cancel takes 1 argument, not 3: '4' is one too many");
  EXPECT_EQ(Check("scatter primes count_primes 0 10 20"),
            "scatter takes 4 arguments, not 5: '20' is one too many");
  EXPECT_EQ(Check("help wait scatter"), "help takes 1 argument, not 2: 'scatter' is one too many");
  EXPECT_EQ(Check("quit now"), "quit takes no arguments, not 1: 'now' is one too many");
  // & is a background marker only for scatter.
  EXPECT_EQ(Check("jobs &"), "jobs takes no arguments, not 1: '&' is one too many");
}

TEST(CommandTable, NamesMissingArgumentsAndBadFlags) {
  EXPECT_EQ(Check("scatter primes count_primes 0"), "scatter: missing END");
  EXPECT_EQ(Check("wasm"), "wasm: missing FILE");
  EXPECT_EQ(Check("wait"), "wait: missing JOB");
  EXPECT_EQ(Check("scatter p f 0 10 --bogus"),
            "scatter: unknown option --bogus (it takes --reduce, --chunk, --exclude-self, "
            "--timeout, --max-memory)");
  EXPECT_EQ(Check("status --all"), "status: unknown option --all (it takes none)");
  EXPECT_EQ(Check("jobs --every"), "jobs: unknown option --every (it takes --all, --json)");
  EXPECT_EQ(Check("scatter p f 0 10 --reduce"),
            "scatter: --reduce needs a value (sum|min|max|first|EXPORT)");
  EXPECT_EQ(Check("scatter p f 0 10 --exclude-self=yes"), "scatter: --exclude-self takes no value");
}

TEST(CommandTable, AcceptsWhatTheCommandsTake) {
  EXPECT_EQ(Check("scatter primes count_primes 0 2e9"), "");
  EXPECT_EQ(Check("scatter primes count_primes 0 2e9 &"), "");
  EXPECT_EQ(Check("scatter primes count_primes -5 5 --reduce max --chunk 10 --exclude-self"), "");
  EXPECT_EQ(Check("scatter primes count_primes 0 10 --reduce=min --timeout=3"), "");
  EXPECT_EQ(Check("scatter reduce_matrix prod1 0 10 --reduce matmul1"), "");  // an export
  EXPECT_EQ(Check("wasm sum sum 1 2 3 4 5 6 7 --local --node 2"), "");        // ARGS... any number
  EXPECT_EQ(Check("wasm sum sum -1 -2"), "");  // negative numbers are arguments, not flags
  EXPECT_EQ(Check("wasm --node 2 --stdin in.txt prog.wasm -v out"), "");  // a WASI command
  EXPECT_EQ(Check("wasm --json --ro-dir data::in --out res --env A=1 prog.wasm"), "");
  EXPECT_EQ(Check("help"), "");
  EXPECT_EQ(Check("help scatter"), "");
  EXPECT_EQ(Check("peers --all"), "");
  EXPECT_EQ(Check("jobs --all --json"), "");
  EXPECT_EQ(Check("result 3 --json"), "");
  EXPECT_NE(Check("result"), "");  // JOB is required
  EXPECT_NE(Check("result 3 4"), "");
  EXPECT_NE(Check("jobs --everything"), "");
  EXPECT_EQ(FindCommand("result")->Usage(), "result JOB [--json]");
  EXPECT_EQ(FindCommand("jobs")->Usage(), "jobs [--all] [--json]");
  EXPECT_EQ(Check("exit"), "");  // the alias of quit
  EXPECT_EQ(Check("?"), "");     // the alias of help
}

TEST(CommandTable, RowsAreWhole) {
  std::set<std::string> names;
  for (const auto& spec : Commands()) {
    EXPECT_TRUE(names.insert(spec.name).second) << spec.name << " twice";
    if (spec.alias) {
      EXPECT_TRUE(names.insert(spec.alias).second) << spec.alias << " twice";
    }
    EXPECT_NE(spec.handler, nullptr) << spec.name;
    EXPECT_LE(spec.required, spec.args.size()) << spec.name;
    EXPECT_GT(std::string(spec.summary).size(), 10u) << spec.name;
    EXPECT_EQ(FindCommand(spec.name), &spec);
    EXPECT_EQ(spec.Usage().rfind(spec.name, 0), 0u) << spec.Usage();
  }
  EXPECT_EQ(FindCommand("exit"), FindCommand("quit"));
  EXPECT_EQ(FindCommand("nope"), nullptr);
  EXPECT_EQ(FindCommand("scatter")->Usage(),
            "scatter FILE FUNC START END [--reduce sum|min|max|first|EXPORT] [--chunk ITEMS] "
            "[--exclude-self] [--timeout SECONDS] [--max-memory MIB] [&]");
  EXPECT_EQ(FindCommand("scatter")->Synopsis(), "scatter FILE FUNC START END [&]");
  EXPECT_EQ(FindCommand("wasm")->Synopsis(), "wasm FILE [FUNC] [ARGS...]");
  EXPECT_EQ(FindCommand("help")->Synopsis(), "help [COMMAND]");
}

TEST(BackgroundJobs, NoticeSaysHowTheJobEnded) {
  JobSummary job;
  job.id = 4;
  job.state = velum::core::JobState::kDone;
  job.result = {core::Num::Int(3562115)};
  job.elapsed_ms = 16240;
  EXPECT_EQ(JobNotice(job), "[job 4] done: 3562115 in 16.2 s");
  job.state = velum::core::JobState::kCancelled;
  EXPECT_EQ(JobNotice(job), "[job 4] cancelled after 16.2 s");
  job.state = velum::core::JobState::kFailed;
  job.error = "trap: unreachable";
  EXPECT_EQ(JobNotice(job), "[job 4] failed: trap: unreachable after 16.2 s");
}

TEST(BackgroundJobs, WatchesWhatWasLeftRunningAndForgetsWhatWasSettled) {
  BackgroundJobs jobs;
  CommandResult started;
  started.background_job = 7;
  jobs.Observe(started);
  EXPECT_EQ(jobs.watched(), 1u);
  CommandResult cancelled;
  cancelled.settled_job = 7;
  jobs.Observe(cancelled);
  EXPECT_EQ(jobs.watched(), 0u);
  for (uint64_t id = 1; id <= kMaxWatchedJobs + 10; id++) {
    CommandResult r;
    r.background_job = id;
    jobs.Observe(r);
  }
  EXPECT_EQ(jobs.watched(), kMaxWatchedJobs);  // bounded
}

}  // namespace
}  // namespace velum::shell
