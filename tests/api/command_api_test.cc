// Tests of WASI commands through the embedding API (velum_run_command and Mesh::RunCommand):
// arguments, environment, stdin bytes, exit codes, output captured and streamed, directories,
// on a node alone and on the peer node of the mesh (with /out coming back).
#include <gtest/gtest.h>
#include <velum/velum.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
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

// The options that give kExpected: argv "a" "b c", GREETING=hi, kStdin.
velum_command_options ExpectedRunOptions() {
  static const char* const kArgs[] = {"a", "b c"};
  static const char* const kEnv[] = {"GREETING=hi"};
  velum_command_options o;
  velum_command_options_default(&o);
  o.args = kArgs;
  o.nargs = 2;
  o.env = kEnv;
  o.nenv = 1;
  o.stdin_data = kStdin;
  o.stdin_size = sizeof kStdin - 1;
  return o;
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
  velum_command_options o = ExpectedRunOptions();
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

// What on_output received, in order: (stream, bytes) pairs joined per stream.
struct Streamed {
  std::string out, err;
  int calls = 0;
  static void Take(void* context, int stream, const char* data, size_t size) {
    auto* s = static_cast<Streamed*>(context);
    (stream == 1 ? s->out : s->err).append(data, size);
    s->calls++;
  }
};

TEST_F(CommandApi, StreamedOutputGoesToTheCallback) {
  Streamed got;
  velum_command_options o = ExpectedRunOptions();
  o.on_output = Streamed::Take;
  o.output_context = &got;
  velum_command* c = velum_run_command(Wasm("wasi_wc").c_str(), &o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(got.out, kExpected);
  EXPECT_EQ(got.err, "wc: done\n");
  EXPECT_GE(got.calls, 2);
  EXPECT_EQ(Stdout(c), "");  // streamed, not kept
  EXPECT_EQ(velum_command_node(c), 11u);
  velum_command_release(c);
  EXPECT_EQ(velum_command_node(nullptr), 0u);
}

TEST_F(CommandApi, MeshOptionsAreRefusedWithoutTheMesh) {
  velum_command_options o;
  velum_command_options_default(&o);
  o.out_dir = "/tmp";
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT) << velum_last_error();
  EXPECT_NE(std::string(velum_last_error()).find("on_mesh"), std::string::npos);
}

// A library node joined to the peer node: commands sent to it (on_mesh) run there.
class CommandMesh : public testing::Test {
 protected:
  void SetUp() override {
    LoopbackOptions o(13, true);
    ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
    ASSERT_EQ(velum_wait_peers(1, 60000), VELUM_OK) << velum_last_error();
  }
  void TearDown() override {
    velum_shutdown();
    EXPECT_TRUE(PeerRunning()) << "the peer node died";
  }
  // Runs on the peer, waiting for the link to it (which comes up just after the membership).
  velum_command* OnPeer(const std::string& module, velum_command_options o) {
    o.on_mesh = true;
    o.node = kPeerId;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      velum_command* c = velum_run_command(module.c_str(), &o);
      if (c || velum_last_error_code() != VELUM_ERR_UNAVAILABLE ||
          std::chrono::steady_clock::now() > deadline)
        return c;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

TEST_F(CommandMesh, RunsOnThePeerWithStdinDirectoriesAndStreamedOutput) {
  velum_command_options o = ExpectedRunOptions();
  velum_command* c = OnPeer(Wasm("wasi_wc"), o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(velum_command_node(c), kPeerId);
  EXPECT_EQ(velum_command_exit_code(c), 0u);
  EXPECT_EQ(Stdout(c), kExpected);
  EXPECT_EQ(Stderr(c), "wc: done\n");
  velum_command_release(c);

  // Files of a read-only directory travel to the peer; output streams back.
  std::string host = DataDir().string();
  velum_dir dir = {host.c_str(), "/data", true};
  const std::vector<const char*> files = {"-f", "/data/poem.txt", "/data/missing.txt"};
  Streamed got;
  velum_command_options_default(&o);
  o.args = files.data();
  o.nargs = files.size();
  o.dirs = &dir;
  o.ndirs = 1;
  o.on_output = Streamed::Take;
  o.output_context = &got;
  c = OnPeer(Wasm("wasi_wc"), o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(velum_command_node(c), kPeerId);
  EXPECT_EQ(velum_command_exit_code(c), 1u);
  EXPECT_EQ(got.out, "2 6 31 /data/poem.txt\n");
  EXPECT_NE(got.err.find("/data/missing.txt"), std::string::npos) << got.err;
  EXPECT_EQ(Stdout(c), "");
  velum_command_release(c);
}

TEST_F(CommandMesh, OutDirGetsTheProgramsFiles) {
  std::filesystem::path out = Scratch() / "mesh-out";
  const std::vector<const char*> args = {"100000", "4"};  // 100000 pattern bytes, exit 4
  velum_command_options o;
  velum_command_options_default(&o);
  o.args = args.data();
  o.nargs = args.size();
  o.stdin_data = kStdin;
  o.stdin_size = sizeof kStdin - 1;
  o.out_dir = out.c_str();
  velum_command* c = OnPeer(Wasm("wasi_outfiles"), o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(velum_command_exit_code(c), 4u);
  EXPECT_EQ(Stderr(c), "wrote 100000 bytes\n");
  velum_command_release(c);
  std::ifstream copy(out / "copy.txt", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(copy), {}), kStdin);
  EXPECT_EQ(std::filesystem::file_size(out / "sub" / "big.bin"), 100000u);

  // This node's own id runs it here, the same way.
  std::filesystem::path here = Scratch() / "mesh-out-here";
  o.out_dir = here.c_str();
  o.on_mesh = true;
  o.node = velum_node_id();
  c = velum_run_command(Wasm("wasi_outfiles").c_str(), &o);
  ASSERT_NE(c, nullptr) << velum_last_error();
  EXPECT_EQ(velum_command_node(c), velum_node_id());
  EXPECT_EQ(velum_command_exit_code(c), 4u);
  velum_command_release(c);
  EXPECT_EQ(std::filesystem::file_size(here / "copy.txt"), sizeof kStdin - 1);
}

TEST_F(CommandMesh, WhatTheMeshCannotDoIsRefusedByName) {
  std::string host = DataDir().string();
  velum_dir writable = {host.c_str(), "/data", false};
  velum_command_options o;
  velum_command_options_default(&o);
  o.dirs = &writable;
  o.ndirs = 1;
  EXPECT_EQ(OnPeer(Wasm("wasi_wc"), o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(velum_last_error()).find("read_only"), std::string::npos)
      << velum_last_error();
  velum_command_options_default(&o);
  o.engine = VELUM_ENGINE_AOT;
  EXPECT_EQ(OnPeer(Wasm("wasi_wc"), o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT) << velum_last_error();
  velum_command_options_default(&o);
  std::string file = (DataDir() / "poem.txt").string();
  o.out_dir = file.c_str();
  EXPECT_EQ(OnPeer(Wasm("wasi_wc"), o), nullptr);
  EXPECT_NE(std::string(velum_last_error()).find("not a directory"), std::string::npos)
      << velum_last_error();
  velum_command_options_default(&o);
  o.on_mesh = true;
  o.node = 99;  // no such node
  EXPECT_EQ(velum_run_command(Wasm("wasi_wc").c_str(), &o), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_UNAVAILABLE) << velum_last_error();
  velum_command_options_default(&o);
  EXPECT_EQ(OnPeer(Wasm("add"), o), nullptr);  // not a command
  EXPECT_NE(std::string(velum_last_error()).find("_start"), std::string::npos)
      << velum_last_error();
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

  CommandOptions streamed;  // on_output gets the writes; the result keeps none
  std::string seen;
  streamed.args = {"x"};
  streamed.on_output = [&seen](int stream, std::string_view data) {
    if (stream == 1) seen.append(data);
  };
  r = mesh.RunCommand(Wasm("wasi_wc"), streamed);
  EXPECT_EQ(seen, "argv[0]=wasi_wc.wasm\nargv[1]=x\nGREETING=(unset)\n0 0 0\n");
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_EQ(r.node, 12u);

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
