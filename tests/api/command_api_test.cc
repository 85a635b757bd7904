// Tests of WASI commands through the embedding API (velum_run_command and Mesh::RunCommand)
// on a node alone: arguments, environment, stdin bytes, exit codes, output, directories.
#include <gtest/gtest.h>
#include <velum/velum.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <velum/velum.hpp>

#include "api_test_util.h"

namespace velum::api_test {
namespace {

// The exact output of wc.wasm for `args` with GREETING=hi and "one two\nthree\n" on stdin.
constexpr char kStdin[] = "one two\nthree\n";
constexpr char kExpected[] =
    "argv[0]=wasi_wc.wasm\n"
    "argv[1]=a\n"
    "argv[2]=b c\n"
    "GREETING=hi\n"
    "2 3 14\n";

std::string Stdout(const velum_command* c) {
  size_t size = 0;
  const char* data = velum_command_stdout(c, &size);
  return std::string(data, size);
}

std::string Stderr(const velum_command* c) {
  size_t size = 0;
  const char* data = velum_command_stderr(c, &size);
  return std::string(data, size);
}

// A read-only directory for the program: one file of known counts.
std::filesystem::path DataDir() {
  std::filesystem::path dir = Scratch() / "command-data";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "poem.txt") << "roses are red\nviolets are blue\n";
  return dir;
}

class CommandApi : public testing::Test {
 protected:
  void SetUp() override {
    LoopbackOptions o(11, false);
    ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  }
  void TearDown() override { velum_shutdown(); }
};

TEST_F(CommandApi, ArgsEnvAndStdinGiveExactOutput) {
  const std::vector<const char*> args = {"a", "b c"};
  const std::vector<const char*> env = {"GREETING=hi"};
  velum_command_options o;
  velum_command_options_default(&o);
  o.args = args.data();
  o.nargs = args.size();
  o.env = env.data();
  o.nenv = env.size();
  o.stdin_data = kStdin;
  o.stdin_size = sizeof kStdin - 1;
  velum_command* c = velum_run_command(Wasm("wasi_wc").c_str(), &o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(velum_command_exit_code(c), 0u);
  EXPECT_EQ(Stdout(c), kExpected);
  EXPECT_EQ(Stderr(c), "wc: done\n");
  EXPECT_FALSE(velum_command_truncated(c));
  velum_command_release(c);

  // No options: argv[0] alone, no environment, empty stdin.
  c = velum_run_command(Wasm("wasi_wc").c_str(), nullptr);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(Stdout(c), "argv[0]=wasi_wc.wasm\nGREETING=(unset)\n0 0 0\n");
  velum_command_release(c);
}

TEST_F(CommandApi, ExitCodeIsAResult) {
  const std::vector<const char*> args = {"exit", "7"};
  velum_command_options o;
  velum_command_options_default(&o);
  o.argv0 = "wc";
  o.args = args.data();
  o.nargs = args.size();
  velum_command* c = velum_run_command(Wasm("wasi_wc").c_str(), &o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(velum_command_exit_code(c), 7u);
  EXPECT_EQ(Stdout(c), "argv[0]=wc\nargv[1]=exit\nargv[2]=7\nGREETING=(unset)\n");
  velum_command_release(c);
}

TEST_F(CommandApi, ReadOnlyDirectoryAndMissingFile) {
  std::string host = DataDir().string();
  velum_dir dir = {host.c_str(), "/data", true};
  const std::vector<const char*> args = {"-f", "/data/poem.txt", "/data/missing.txt"};
  velum_command_options o;
  velum_command_options_default(&o);
  o.args = args.data();
  o.nargs = args.size();
  o.dirs = &dir;
  o.ndirs = 1;
  velum_command* c = velum_run_command(Wasm("wasi_wc").c_str(), &o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(Stdout(c), "2 6 31 /data/poem.txt\n");
  EXPECT_NE(Stderr(c).find("/data/missing.txt"), std::string::npos) << Stderr(c);
  EXPECT_EQ(velum_command_exit_code(c), 1u);
  velum_command_release(c);
}

TEST_F(CommandApi, FailuresAreCodesWithMessages) {
  // A module that is not there.
  EXPECT_EQ(velum_run_command((Scratch() / "nope.wasm").c_str(), nullptr), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_IO) << velum_last_error();
  // A directory that is not there.
  velum_dir dir = {"/no/such/dir", nullptr, true};
  velum_command_options o;
  velum_command_options_default(&o);
  o.dirs = &dir;
  o.ndirs = 1;
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_IO) << velum_last_error();
  // Not a command: sum.wasm has no _start.
  EXPECT_EQ(velum_run_command(Wasm("sum").c_str(), nullptr), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_EXPORT_NOT_FOUND) << velum_last_error();
  // Bad options.
  velum_command_options_default(&o);
  const char* bad_env[] = {"NOEQUALS"};
  o.env = bad_env;
  o.nenv = 1;
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  velum_command_options_default(&o);
  o.nargs = 2;  // with a NULL array
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  // A trap after output: an error (abort).
  velum_command_options_default(&o);
  const char* abort_args[] = {"abort"};
  o.args = abort_args;
  o.nargs = 1;
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_TRAP) << velum_last_error();
  // NULL handles are harmless.
  EXPECT_EQ(velum_command_exit_code(nullptr), 0u);
  EXPECT_STREQ(velum_command_stdout(nullptr, nullptr), "");
  velum_command_release(nullptr);
}

TEST_F(CommandApi, StdinOverTheCapIsRefused) {
  // The size is checked before the bytes are read: a hostile size over a tiny buffer is safe.
  const char byte = 'x';
  velum_command_options o;
  velum_command_options_default(&o);
  o.stdin_data = &byte;
  o.stdin_size = VELUM_MAX_STDIN_BYTES + 1;
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_LIMIT);
  EXPECT_NE(std::string(velum_last_error()).find("stdin"), std::string::npos) << velum_last_error();
  // Exactly the cap runs, and the program reads every byte.
  std::string full(VELUM_MAX_STDIN_BYTES, 'y');
  o.stdin_data = full.data();
  o.stdin_size = full.size();
  velum_command* c = velum_run_command(Wasm("wasi_wc").c_str(), &o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_NE(Stdout(c).find("0 1 " + std::to_string(VELUM_MAX_STDIN_BYTES) + "\n"),
            std::string::npos)
      << Stdout(c);
  velum_command_release(c);
}

TEST(CommandCppApi, RunCommandGivesOutputAndThrows) {
  LoopbackOptions loopback(12, false);
  const velum_options& c = loopback.options;
  Options options;
  options.node_id = 12;
  options.port = c.port;
  options.discovery_port = c.discovery_port;
  options.broadcast = c.broadcast;
  options.home = c.home;
  options.bind = c.bind;
  options.advertise = c.advertise;
  options.cluster_key = c.cluster_key;
  options.log = c.log;
  Mesh mesh(options);

  CommandOptions o;
  o.args = {"a", "b c"};
  o.env = {"GREETING=hi"};
  o.stdin_data = kStdin;
  CommandResult r = mesh.RunCommand(Wasm("wasi_wc"), o);
  EXPECT_EQ(r.exit_code, 0u);
  EXPECT_EQ(r.stdout_data, kExpected);
  EXPECT_EQ(r.stderr_data, "wc: done\n");
  EXPECT_FALSE(r.output_truncated);

  CommandOptions exit7;
  exit7.args = {"exit", "7"};
  EXPECT_EQ(mesh.RunCommand(Wasm("wasi_wc"), exit7).exit_code, 7u);

  CommandOptions files;
  files.args = {"-f", "/data/poem.txt"};
  files.dirs = {{DataDir().string(), "/data", true}};
  r = mesh.RunCommand(Wasm("wasi_wc"), files);
  EXPECT_EQ(r.exit_code, 0u);
  EXPECT_EQ(r.stdout_data, "2 6 31 /data/poem.txt\n");

  CommandOptions spam;  // output over its cap is cut, not an error
  spam.args = {"spam", "5000"};
  spam.max_output_bytes = 1000;
  r = mesh.RunCommand(Wasm("wasi_wc"), spam);
  EXPECT_TRUE(r.output_truncated);
  EXPECT_LE(r.stdout_data.size(), 1000u);

  try {
    mesh.RunCommand(Wasm("missing"));
    ADD_FAILURE() << "no exception for a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), VELUM_ERR_IO) << e.what();
  }
  CommandOptions huge;
  huge.stdin_data.assign(VELUM_MAX_STDIN_BYTES + 1, 'z');
  try {
    mesh.RunCommand(Wasm("wasi_wc"), huge);
    ADD_FAILURE() << "no exception for stdin over the cap";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), VELUM_ERR_LIMIT) << e.what();
  }
}

}  // namespace
}  // namespace velum::api_test
