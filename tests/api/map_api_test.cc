// Tests of map jobs through the embedding API (velum_map and Mesh::Map): outputs in item order
// as the shell's `map` prints them, an out_dir, failed items, bad arguments, cancellation.
#include <gtest/gtest.h>
#include <velum/velum.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <velum/velum.hpp>

#include "api_test_util.h"

namespace velum::api_test {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kMapNode = 21;

// What checksum.wasm prints for `data` named `name` with argv[1] "x".
std::string Expected(const std::string& data, const std::string& name) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : data) hash = (hash ^ c) * 1099511628211ull;
  char line[64];
  std::snprintf(line, sizeof line, "%016llx %zu ", static_cast<unsigned long long>(hash),
                data.size());
  return line + name + " x\n";
}

void Write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A folder of inputs: two files, one with a space in its name, one in a subfolder.
fs::path Inputs() {
  fs::path dir = Scratch() / "map-inputs";
  if (!fs::exists(dir)) {
    Write(dir / "a.txt", "alpha\nbeta\n");
    Write(dir / "with space.txt", "gamma delta\n");
    Write(dir / "sub" / "c.txt", "epsilon\n");
  }
  return dir;
}

// What the shell's `map` prints for the same job: a `node -c` of its own, alone.
std::string ShellMap(const std::string& options, const fs::path& input) {
  static int runs = 0;
  std::string home = (Scratch() / ("shell-map-" + std::to_string(++runs))).string();
  std::string command = std::string(VELUM_NODE_PATH) + " 31 --port " + std::to_string(FreePort()) +
                        " --no-broadcast --discovery-port 0 --bind 127.0.0.1 --advertise "
                        "127.0.0.1 --home '" +
                        home + "' --cluster-key '" + ClusterKey() + "' -c \"map " + options + " " +
                        Wasm("wasi_checksum") + " x ::: " + input.string() + "\" 2>/dev/null";
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << command;
  return out;
}

// Outputs gathered by on_output, with the order they came in.
struct Gathered {
  std::vector<uint64_t> items;
  std::string data;
};

void Gather(void* context, uint64_t item, const char* data, size_t size) {
  auto* g = static_cast<Gathered*>(context);
  g->items.push_back(item);
  g->data.append(data, size);
}

velum_map_options XOptions() {
  static const char* const kArgs[] = {"x"};
  velum_map_options o;
  velum_map_options_default(&o);
  o.args = kArgs;
  o.nargs = 1;
  return o;
}

class MapApi : public testing::Test {
 protected:
  void SetUp() override {
    LoopbackOptions o(kMapNode, false);
    ASSERT_EQ(velum_init_with(&o.options), VELUM_OK) << velum_last_error();
  }
  void TearDown() override { velum_shutdown(); }
};

TEST(MapApiAlone, NeedsANodeButCollectsWithout) {
  velum_map_item item = {"one", nullptr, nullptr, "1", 1};
  velum_map_summary* s = reinterpret_cast<velum_map_summary*>(&item);  // must be reset
  EXPECT_EQ(velum_map(Wasm("wasi_checksum").c_str(), &item, 1, nullptr, &s),
            VELUM_ERR_NOT_INITIALIZED);
  EXPECT_EQ(s, nullptr);
  std::string dir = Inputs().string();
  const char* paths[] = {dir.c_str()};
  velum_map_inputs* in = velum_map_inputs_collect(paths, 1, true, false);
  ASSERT_NE(in, nullptr) << velum_last_error();
  size_t n = 0;
  const velum_map_item* items = velum_map_inputs_items(in, &n);
  ASSERT_EQ(n, 3u);
  EXPECT_STREQ(items[0].name, "a.txt");  // sorted by path under the folder
  EXPECT_STREQ(items[1].name, "sub/c.txt");
  EXPECT_STREQ(items[2].name, "with space.txt");
  EXPECT_EQ(items[2].out_name, nullptr);
  EXPECT_EQ(Read(items[1].path), "epsilon\n");
  velum_map_inputs_release(in);

  in = velum_map_inputs_collect(paths, 1, false, true);  // lines of the folder's own files
  ASSERT_NE(in, nullptr) << velum_last_error();
  items = velum_map_inputs_items(in, &n);
  ASSERT_EQ(n, 3u);
  EXPECT_STREQ(items[1].name, "a.txt:2");
  EXPECT_STREQ(items[1].out_name, "00000001.out");
  EXPECT_EQ(items[1].path, nullptr);
  EXPECT_EQ(std::string(static_cast<const char*>(items[1].data), items[1].size), "beta\n");
  velum_map_inputs_release(in);

  const char* missing[] = {"/no/such/input"};
  EXPECT_EQ(velum_map_inputs_collect(missing, 1, false, false), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_IO);
  EXPECT_NE(std::string(velum_last_error()).find("/no/such/input"), std::string::npos);
  EXPECT_EQ(velum_map_inputs_collect(nullptr, 0, false, false), nullptr);
  EXPECT_EQ(velum_last_error_code(), VELUM_ERR_INVALID_ARGUMENT);
  const char* null_entry[] = {nullptr};
  EXPECT_EQ(velum_map_inputs_collect(null_entry, 1, false, false), nullptr);
  EXPECT_STREQ(velum_last_error(), "paths[0] is NULL");
  EXPECT_EQ(velum_map_inputs_items(nullptr, &n), nullptr);
  EXPECT_EQ(n, 0u);
}

TEST_F(MapApi, OutputsComeInItemOrderAsTheShellPrintsThem) {
  for (bool lines : {false, true}) {
    SCOPED_TRACE(lines ? "lines" : "files");
    std::string dir = Inputs().string();
    const char* paths[] = {dir.c_str()};
    velum_map_inputs* in = velum_map_inputs_collect(paths, 1, !lines, lines);
    ASSERT_NE(in, nullptr) << velum_last_error();
    size_t n = 0;
    const velum_map_item* items = velum_map_inputs_items(in, &n);
    Gathered got;
    velum_map_options o = XOptions();
    o.on_output = Gather;
    o.output_context = &got;
    velum_map_summary* s = nullptr;
    ASSERT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items, n, &o, &s), VELUM_OK)
        << velum_last_error();
    ASSERT_NE(s, nullptr);
    std::vector<uint64_t> order;
    for (uint64_t i = 0; i < n; i++) order.push_back(i);
    EXPECT_EQ(got.items, order);
    EXPECT_EQ(got.items.size(), n);
    EXPECT_EQ(got.data, ShellMap(lines ? "--lines" : "--recursive", dir));
    if (!lines) {
      EXPECT_EQ(got.data, Expected("alpha\nbeta\n", "a.txt") + Expected("epsilon\n", "sub/c.txt") +
                              Expected("gamma delta\n", "with space.txt"));
    }
    EXPECT_GT(velum_map_summary_job(s), 0u);
    EXPECT_EQ(velum_map_summary_items(s), n);
    EXPECT_EQ(velum_map_summary_ok(s), n);
    EXPECT_EQ(velum_map_summary_failure_count(s), 0u);
    EXPECT_GE(velum_map_summary_elapsed_ms(s), 0.0);
    EXPECT_STREQ(velum_map_summary_out_dir(s), "");
    ASSERT_EQ(velum_map_summary_node_count(s), 1u);
    uint32_t node = 0;
    uint64_t count = 0;
    ASSERT_EQ(velum_map_summary_node(s, 0, &node, &count), VELUM_OK);
    EXPECT_EQ(node, kMapNode);
    EXPECT_EQ(count, n);
    EXPECT_EQ(velum_map_summary_node(s, 1, &node, &count), VELUM_ERR_INVALID_ARGUMENT);
    velum_map_summary_release(s);
    velum_map_inputs_release(in);
  }
}

TEST_F(MapApi, OutDirGetsEveryOutputUnderItsName) {
  fs::path out = Scratch() / "map-out";
  std::string a = (Inputs() / "a.txt").string();
  const char* bytes = "given bytes\n";
  velum_map_item items[] = {
      {"first.txt", nullptr, a.c_str(), nullptr, 0},
      {"deep/second", nullptr, nullptr, bytes, 12},
      {"third", "renamed.out", nullptr, nullptr, 0},  // empty stdin
  };
  velum_map_options o = XOptions();
  std::string out_dir = out.string();
  o.out_dir = out_dir.c_str();
  velum_map_summary* s = nullptr;
  ASSERT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items, 3, &o, &s), VELUM_OK)
      << velum_last_error();
  EXPECT_EQ(velum_map_summary_ok(s), 3u);
  EXPECT_EQ(fs::path(velum_map_summary_out_dir(s)), fs::absolute(out));
  velum_map_summary_release(s);
  EXPECT_EQ(Read(out / "first.txt"), Expected("alpha\nbeta\n", "first.txt"));
  EXPECT_EQ(Read(out / "deep" / "second"), Expected("given bytes\n", "deep/second"));
  EXPECT_EQ(Read(out / "renamed.out"), Expected("", "third"));
  EXPECT_FALSE(fs::exists(out / "third"));
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(out)) files += e.is_regular_file();
  EXPECT_EQ(files, 3u);  // no temporaries left
}

TEST_F(MapApi, AFailedItemIsReportedWithItsExitCodeAndStderr) {
  velum_map_item items[] = {
      {"one", nullptr, nullptr, "hello", 5},
      {"bad", nullptr, nullptr, "FAIL now", 8},
      {"three", nullptr, nullptr, nullptr, 0},
  };
  Gathered got;
  velum_map_options o = XOptions();
  o.retries = 0;
  o.on_output = Gather;
  o.output_context = &got;
  velum_map_summary* s = nullptr;
  ASSERT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items, 3, &o, &s), VELUM_OK)
      << velum_last_error();
  EXPECT_EQ(got.items, (std::vector<uint64_t>{0, 2}));  // a failed item passes with none
  EXPECT_EQ(got.data, Expected("hello", "one") + Expected("", "three"));
  EXPECT_EQ(velum_map_summary_items(s), 3u);
  EXPECT_EQ(velum_map_summary_ok(s), 2u);
  ASSERT_EQ(velum_map_summary_failure_count(s), 1u);
  velum_map_failure f;
  ASSERT_EQ(velum_map_summary_failure(s, 0, &f), VELUM_OK);
  EXPECT_EQ(f.item, 1u);
  EXPECT_STREQ(f.name, "bad");
  EXPECT_EQ(f.node, kMapNode);
  EXPECT_EQ(f.exit_code, 3u);
  EXPECT_STREQ(f.error, "exit code 3");
  EXPECT_EQ(std::string(f.stderr_tail, f.stderr_size), "checksum: bad starts with FAIL\n");
  EXPECT_EQ(velum_map_summary_failure(s, 1, &f), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(velum_map_summary_failure(nullptr, 0, &f), VELUM_ERR_INVALID_ARGUMENT);
  velum_map_summary_release(s);

  // Retried: it fails again (this node is the only one) and is counted once.
  o.retries = 2;
  got = {};
  ASSERT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items, 3, &o, &s), VELUM_OK)
      << velum_last_error();
  EXPECT_EQ(velum_map_summary_failure_count(s), 1u);
  EXPECT_EQ(velum_map_summary_ok(s), 2u);
  velum_map_summary_release(s);
}

TEST_F(MapApi, BadArgumentsAreEachOneClearError) {
  const std::string checksum = Wasm("wasi_checksum");
  velum_map_item one = {"one", nullptr, nullptr, "1", 1};
  velum_map_summary* s = nullptr;
  auto expect = [&](int code, const char* words, const velum_map_item* items, size_t n,
                    const velum_map_options* o, const char* path) {
    s = reinterpret_cast<velum_map_summary*>(&one);  // velum_map resets it
    EXPECT_EQ(velum_map(path, items, n, o, &s), code) << velum_last_error();
    EXPECT_EQ(velum_last_error_code(), code);
    EXPECT_NE(std::string(velum_last_error()).find(words), std::string::npos) << velum_last_error();
    EXPECT_EQ(s, nullptr);
  };
  velum_map_options o = XOptions();
  expect(VELUM_ERR_INVALID_ARGUMENT, "path is NULL", &one, 1, &o, nullptr);
  expect(VELUM_ERR_INVALID_ARGUMENT, "no items", &one, 0, &o, checksum.c_str());
  expect(VELUM_ERR_INVALID_ARGUMENT, "items is NULL", nullptr, 2, &o, checksum.c_str());
  expect(VELUM_ERR_LIMIT, "at most 1000000", &one, 1000001, &o, checksum.c_str());
  expect(VELUM_ERR_EXPORT_NOT_FOUND, "_start", &one, 1, &o, Wasm("add").c_str());
  expect(VELUM_ERR_IO, "missing", &one, 1, &o, Wasm("missing").c_str());

  velum_map_item unnamed = {nullptr, nullptr, nullptr, "1", 1};
  expect(VELUM_ERR_INVALID_ARGUMENT, "items[0].name is empty", &unnamed, 1, &o, checksum.c_str());
  std::string a = (Inputs() / "a.txt").string();
  velum_map_item both[] = {one, {"two", nullptr, a.c_str(), "2", 1}};
  expect(VELUM_ERR_INVALID_ARGUMENT, "items[1]: path and data both set", both, 2, &o,
         checksum.c_str());
  velum_map_item gone = {"gone", nullptr, "/no/such/file", nullptr, 0};
  expect(VELUM_ERR_IO, "/no/such/file", &gone, 1, &o, checksum.c_str());
  velum_map_item sized = {"sized", nullptr, nullptr, nullptr, 4};
  expect(VELUM_ERR_INVALID_ARGUMENT, "data is NULL", &sized, 1, &o, checksum.c_str());
  velum_map_item huge = {"huge", nullptr, nullptr, "x", VELUM_MAX_STDIN_BYTES + 1};
  expect(VELUM_ERR_LIMIT, "give it as a file", &huge, 1, &o, checksum.c_str());

  // Two items with one output name, in a folder.
  std::string out_dir = (Scratch() / "map-clash").string();
  velum_map_item clash[] = {{"same", nullptr, nullptr, "1", 1}, {"other", "same", nullptr, "2", 1}};
  velum_map_options to_dir = XOptions();
  to_dir.out_dir = out_dir.c_str();
  expect(VELUM_ERR_INVALID_ARGUMENT, "two inputs would write the same output", clash, 2, &to_dir,
         checksum.c_str());
  velum_map_item escape = {"../up", nullptr, nullptr, "1", 1};
  expect(VELUM_ERR_INVALID_ARGUMENT, "cannot name an output", &escape, 1, &to_dir,
         checksum.c_str());
  to_dir.on_output = Gather;
  expect(VELUM_ERR_INVALID_ARGUMENT, "not both", &one, 1, &to_dir, checksum.c_str());

  velum_map_options bad = XOptions();
  bad.timeout_ms = 0;
  expect(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms is 0", &one, 1, &bad, checksum.c_str());
  bad = XOptions();
  bad.retries = 101;
  expect(VELUM_ERR_INVALID_ARGUMENT, "retries", &one, 1, &bad, checksum.c_str());
  bad = XOptions();
  bad.max_memory_mib = 0;
  expect(VELUM_ERR_INVALID_ARGUMENT, "max_memory_mib", &one, 1, &bad, checksum.c_str());
  const char* env[] = {"NOEQUALS"};
  bad = XOptions();
  bad.env = env;
  bad.nenv = 1;
  expect(VELUM_ERR_INVALID_ARGUMENT, "NAME=VALUE", &one, 1, &bad, checksum.c_str());
  bad = XOptions();
  bad.nargs = 3;
  bad.args = nullptr;
  expect(VELUM_ERR_INVALID_ARGUMENT, "args is NULL", &one, 1, &bad, checksum.c_str());

  // Defaults (NULL options) and no summary pointer are fine.
  EXPECT_EQ(velum_map(checksum.c_str(), &one, 1, nullptr, nullptr), VELUM_OK) << velum_last_error();
}

// Counts outputs; at the first one, triggers `cancel` (when set): the map is surely running.
struct FirstOutput {
  velum_cancel* cancel = nullptr;
  std::atomic<int> outputs{0};
};

void OnFirstOutput(void* context, uint64_t, const char*, size_t) {
  auto* f = static_cast<FirstOutput*>(context);
  if (f->outputs.fetch_add(1) == 0 && f->cancel) velum_cancel_trigger(f->cancel);
}

// 40 items of 200 ms each on 2 slots: about 4 s of work, so a map stopped at its first output
// ends with most items not done, however slow the machine.
velum_map_options SlowOptions(FirstOutput* first) {
  static const char* const kArgs[] = {"sleep=200"};
  velum_map_options o;
  velum_map_options_default(&o);
  o.args = kArgs;
  o.nargs = 1;
  o.on_output = OnFirstOutput;
  o.output_context = first;
  return o;
}

TEST_F(MapApi, ACancelledMapStopsAndSaysSo) {
  std::vector<velum_map_item> items(40, velum_map_item{"slow", nullptr, nullptr, "z", 1});
  FirstOutput first;
  velum_cancel* token = velum_cancel_create();
  ASSERT_NE(token, nullptr);
  first.cancel = token;
  velum_map_options o = SlowOptions(&first);
  o.cancel = token;
  velum_map_summary* s = nullptr;
  EXPECT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items.data(), items.size(), &o, &s),
            VELUM_ERR_CANCELLED);
  EXPECT_NE(std::string(velum_last_error()).find("cancelled"), std::string::npos)
      << velum_last_error();
  EXPECT_GE(first.outputs.load(), 1);
  ASSERT_NE(s, nullptr);  // what had ended
  EXPECT_EQ(velum_map_summary_items(s), 40u);
  EXPECT_LT(velum_map_summary_ok(s), 40u);
  velum_map_summary_release(s);

  // A token triggered before: the map stops before any item runs; it stays triggered.
  FirstOutput none;
  o = SlowOptions(&none);
  o.cancel = token;
  EXPECT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items.data(), items.size(), &o, nullptr),
            VELUM_ERR_CANCELLED);
  EXPECT_EQ(none.outputs.load(), 0);
  velum_cancel_release(token);
  velum_cancel_trigger(nullptr);  // NULL: nothing
  velum_cancel_release(nullptr);
}

TEST_F(MapApi, ShutdownCancelsARunningMap) {
  std::vector<velum_map_item> items(40, velum_map_item{"slow", nullptr, nullptr, "z", 1});
  FirstOutput first;
  velum_map_options o = SlowOptions(&first);
  int code = VELUM_OK;
  velum_map_summary* s = nullptr;
  std::thread mapper(
      [&] { code = velum_map(Wasm("wasi_checksum").c_str(), items.data(), items.size(), &o, &s); });
  // Shut down only once the map is surely running: its first output has come.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (first.outputs.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(first.outputs.load(), 1) << "no output in 60 s";
  velum_shutdown();  // waits for the map to return
  mapper.join();
  EXPECT_EQ(code, VELUM_ERR_CANCELLED);
  ASSERT_NE(s, nullptr);
  EXPECT_LT(velum_map_summary_ok(s), 40u);
  velum_map_summary_release(s);
}

// The peer runs every item when this node only coordinates.
TEST(MapMesh, ExcludeSelfRunsItemsOnThePeer) {
  LoopbackOptions lo(22, true);
  ASSERT_EQ(velum_init_with(&lo.options), VELUM_OK) << velum_last_error();
  ASSERT_EQ(velum_wait_peers(1, 60000), VELUM_OK) << velum_last_error();
  std::vector<velum_map_item> items;
  std::vector<std::string> names;
  for (int i = 0; i < 6; i++) names.push_back("item " + std::to_string(i));
  for (auto& n : names) items.push_back({n.c_str(), nullptr, nullptr, n.data(), n.size()});
  Gathered got;
  velum_map_options o = XOptions();
  o.exclude_self = true;
  o.on_output = Gather;
  o.output_context = &got;
  velum_map_summary* s = nullptr;
  ASSERT_EQ(velum_map(Wasm("wasi_checksum").c_str(), items.data(), items.size(), &o, &s), VELUM_OK)
      << velum_last_error();
  std::string expected;
  for (auto& n : names) expected += Expected(n, n);
  EXPECT_EQ(got.data, expected);
  ASSERT_EQ(velum_map_summary_node_count(s), 1u);
  uint32_t node = 0;
  uint64_t count = 0;
  ASSERT_EQ(velum_map_summary_node(s, 0, &node, &count), VELUM_OK);
  EXPECT_EQ(node, kPeerId);
  EXPECT_EQ(count, 6u);
  velum_map_summary_release(s);
  velum_shutdown();
  EXPECT_TRUE(PeerRunning()) << "the peer node died";
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

TEST(MapCppApi, MapGivesOutputsFailuresAndThrows) {
  LoopbackOptions loopback(23, false);
  const velum_options& c = loopback.options;
  Options options;
  options.node_id = 23;
  options.port = c.port;
  options.discovery_port = c.discovery_port;
  options.broadcast = c.broadcast;
  options.home = c.home;
  options.bind = c.bind;
  options.advertise = c.advertise;
  options.cluster_key = c.cluster_key;
  options.log = c.log;
  Mesh mesh(options);

  std::vector<MapItem> items = MapInputs({Inputs().string()}, true);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[1].name, "sub/c.txt");
  items.push_back({"failing", "", "", "FAIL"});
  items.push_back({"bytes", "", "", "some bytes"});
  MapOptions o;
  o.args = {"x"};
  o.retries = 0;
  std::string seen;
  std::vector<uint64_t> order;
  o.on_output = [&](uint64_t item, std::string_view data) {
    order.push_back(item);
    seen.append(data);
  };
  MapResult r = mesh.Map(Wasm("wasi_checksum"), items, o);
  EXPECT_EQ(order, (std::vector<uint64_t>{0, 1, 2, 4}));
  EXPECT_EQ(seen, Expected("alpha\nbeta\n", "a.txt") + Expected("epsilon\n", "sub/c.txt") +
                      Expected("gamma delta\n", "with space.txt") +
                      Expected("some bytes", "bytes"));
  EXPECT_GT(r.job, 0u);
  EXPECT_EQ(r.items, 5u);
  EXPECT_EQ(r.ok, 4u);
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].item, 3u);
  EXPECT_EQ(r.failed[0].name, "failing");
  EXPECT_EQ(r.failed[0].exit_code, 3u);
  EXPECT_EQ(r.failed[0].stderr_tail, "checksum: failing starts with FAIL\n");
  EXPECT_EQ(r.workers, (std::map<uint32_t, uint64_t>{{23, 4}}));

  // Into a folder.
  MapOptions to_dir;
  to_dir.args = {"x"};
  to_dir.out_dir = (Scratch() / "map-cpp-out").string();
  std::vector<MapItem> lines = MapInputs({(Inputs() / "a.txt").string()}, false, true);
  ASSERT_EQ(lines.size(), 2u);
  r = mesh.Map(Wasm("wasi_checksum"), lines, to_dir);
  EXPECT_EQ(r.ok, 2u);
  EXPECT_EQ(Read(fs::path(to_dir.out_dir) / "00000001.out"), Expected("beta\n", "a.txt:2"));

  // An exception of on_output comes back out of Map; later outputs are not delivered.
  MapOptions throwing;
  int calls = 0;
  throwing.on_output = [&](uint64_t, std::string_view) {
    calls++;
    throw std::runtime_error("enough");
  };
  try {
    mesh.Map(Wasm("wasi_checksum"), items, throwing);
    ADD_FAILURE() << "no exception from on_output";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "enough");
  }
  EXPECT_EQ(calls, 1);

  EXPECT_EQ(CodeThrownBy([&] { mesh.Map(Wasm("add"), items); }), VELUM_ERR_EXPORT_NOT_FOUND);
  EXPECT_EQ(CodeThrownBy([&] { mesh.Map(Wasm("wasi_checksum"), {}); }), VELUM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(CodeThrownBy([] { MapInputs({"/no/such/input"}); }), VELUM_ERR_IO);
  CancelToken token;
  token.Cancel();
  MapOptions cancelled;
  cancelled.cancel = &token;
  EXPECT_EQ(CodeThrownBy([&] { mesh.Map(Wasm("wasi_checksum"), items, cancelled); }),
            VELUM_ERR_CANCELLED);
}

}  // namespace
}  // namespace velum::api_test
