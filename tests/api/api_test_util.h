// Shared helpers of the embedding API tests: a peer `node` process on loopback that the
// in-process library node joins, free ports, fresh homes and the example modules.
#ifndef VELUM_TESTS_API_API_TEST_UTIL_H_
#define VELUM_TESTS_API_API_TEST_UTIL_H_

#include <velum/velum.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace velum::api_test {

// A port free for both TCP and UDP on 127.0.0.1 (bound to port 0, then released).
uint16_t FreePort();

// build/wasm/NAME.wasm.
std::string Wasm(const std::string& name);

// The test's scratch directory, removed at the end: cluster key, homes.
const std::filesystem::path& Scratch();
// The cluster key shared by the peer node and the library nodes.
std::string ClusterKey();
// The peer node (a `node` process, id kPeerId) started for the whole test program.
constexpr uint32_t kPeerId = 2;
uint16_t PeerPort();
// Whether the peer is still running (false: it died, which fails the test).
bool PeerRunning();

// Options of a library node on loopback: free port, a fresh home, the shared key, quiet
// logs, no broadcast or beacons; with `join_peer`, the peer node as seed. The strings live
// in the returned object.
struct LoopbackOptions {
  LoopbackOptions(uint32_t id, bool join_peer);
  LoopbackOptions(const LoopbackOptions&) = delete;
  LoopbackOptions& operator=(const LoopbackOptions&) = delete;
  velum_options options;

 private:
  std::string home_, key_, join_;
  std::vector<const char*> joins_;
};

}  // namespace velum::api_test

#endif  // VELUM_TESTS_API_API_TEST_UTIL_H_
