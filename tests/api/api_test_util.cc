// The peer node of the embedding API tests: one `node` process on loopback for the whole test
// program (a gtest environment), ended by PID; free ports and fresh homes for library nodes.
#include "api_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <thread>

namespace velum::api_test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

fs::path g_scratch;
uint16_t g_peer_port = 0;
pid_t g_peer_pid = -1;

bool Bind(int type, uint16_t port, uint16_t* bound) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof addr;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (ok && bound) *bound = ntohs(addr.sin_port);
  return ok;
}

bool Listening(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Starts the peer before the first test and ends it (by PID) after the last.
class PeerEnvironment : public testing::Environment {
 public:
  void SetUp() override {
    char dir[] = "/tmp/velum-api-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    g_scratch = dir;
    std::vector<char> key(32);
    std::ifstream("/dev/urandom", std::ios::binary).read(key.data(), key.size());
    std::ofstream(ClusterKey(), std::ios::binary).write(key.data(), key.size());
    fs::permissions(ClusterKey(), fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
    g_peer_port = FreePort();
    std::vector<std::string> args = {VELUM_NODE_PATH,
                                     std::to_string(kPeerId),
                                     "--port",
                                     std::to_string(g_peer_port),
                                     "--no-broadcast",
                                     "--discovery-port",
                                     "0",
                                     "--bind",
                                     "127.0.0.1",
                                     "--advertise",
                                     "127.0.0.1",
                                     "--home",
                                     (g_scratch / "peer").string(),
                                     "--cluster-key",
                                     ClusterKey(),
                                     "--no-shell"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string out = (g_scratch / "peer.stderr").string();
    g_peer_pid = fork();
    ASSERT_GE(g_peer_pid, 0);
    if (g_peer_pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test, even if the test is killed
      int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (!Listening(g_peer_port)) {
      ASSERT_TRUE(PeerRunning()) << "the peer node exited; see " << out;
      ASSERT_LT(Clock::now(), deadline) << "the peer node is not listening on " << g_peer_port;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void TearDown() override {
    if (g_peer_pid > 0) {
      kill(g_peer_pid, SIGTERM);  // leaves the mesh gracefully
      auto deadline = Clock::now() + std::chrono::seconds(10);
      while (waitpid(g_peer_pid, nullptr, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          kill(g_peer_pid, SIGKILL);
          waitpid(g_peer_pid, nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      g_peer_pid = -1;
    }
    std::error_code ec;
    if (!g_scratch.empty() && !std::getenv("VELUM_KEEP_TEST_DIR")) fs::remove_all(g_scratch, ec);
  }
};

[[maybe_unused]] testing::Environment* const g_environment =
    testing::AddGlobalTestEnvironment(new PeerEnvironment);

}  // namespace

// A port free for TCP and UDP, chosen at random below the kernel's ephemeral range: tests run
// in parallel, and a port found by bind(0) may become some other test's client port before
// the node binds it.
uint16_t FreePort() {
  int ephemeral_low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> ephemeral_low;
  int high = std::max(ephemeral_low, 2048);
  int low = std::max(1024, high - 20000);
  static std::mt19937 rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
  static std::set<uint16_t> handed_out;  // never the same port twice in one test program
  for (int i = 0; i < 1000; i++) {
    auto port = static_cast<uint16_t>(std::uniform_int_distribution<int>(low, high - 1)(rng));
    if (handed_out.count(port)) continue;
    if (Bind(SOCK_STREAM, port, nullptr) && Bind(SOCK_DGRAM, port, nullptr)) {
      handed_out.insert(port);
      return port;
    }
  }
  ADD_FAILURE() << "no free port";
  return 0;
}

std::string Wasm(const std::string& name) {
  return (fs::path(VELUM_WASM_DIR) / (name + ".wasm")).string();
}

const fs::path& Scratch() { return g_scratch; }

std::string ClusterKey() { return (g_scratch / "cluster.key").string(); }

uint16_t PeerPort() { return g_peer_port; }

bool PeerRunning() {
  if (g_peer_pid <= 0) return false;
  if (waitpid(g_peer_pid, nullptr, WNOHANG) == 0) return true;
  g_peer_pid = -1;  // reaped: never signal that pid again
  return false;
}

LoopbackOptions::LoopbackOptions(uint32_t id, bool join_peer) {
  static std::atomic<int> homes{0};
  home_ = (g_scratch / ("lib-" + std::to_string(id) + "-" + std::to_string(++homes))).string();
  key_ = ClusterKey();
  join_ = "127.0.0.1:" + std::to_string(g_peer_port);
  joins_ = {join_.c_str()};
  velum_options_default(&options);
  options.node_id = id;
  options.port = FreePort();
  options.discovery_port = 0;
  options.broadcast = false;
  options.home = home_.c_str();
  options.bind = "127.0.0.1";
  options.advertise = "127.0.0.1";
  options.cluster_key = key_.c_str();
  options.log = VELUM_LOG_QUIET;
  if (join_peer) {
    options.joins = joins_.data();
    options.njoins = joins_.size();
  }
}

}  // namespace velum::api_test
