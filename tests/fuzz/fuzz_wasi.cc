// libFuzzer target over the WASI host (runtime/wasi.*, wasi_files.*): sequences of calls with
// hostile arguments and memory, against a real preopened folder with a secret beside it.
// Promises: no crash or sanitizer report, and nothing outside the folder is touched.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "runtime/wasi.h"

namespace {

namespace fs = std::filesystem;

fs::path base;  // holds root/ (preopened) and secret (never to change)
constexpr char kSecret[] = "secret contents";
uint64_t inputs = 0;

void Plant() {
  fs::remove_all(base / "root");
  fs::create_directories(base / "root" / "dir" / "deeper");
  std::ofstream(base / "root" / "file") << "hello, fuzzer";
  fs::create_symlink("../secret", base / "root" / "out");
  fs::create_symlink("file", base / "root" / "in");
  fs::create_symlink("/etc", base / "root" / "abs");
}

// The promise about the outside: the base holds root and the unchanged secret, nothing else.
void CheckOutside() {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(base)) names.insert(e.path().filename().string());
  std::ifstream in(base / "secret");
  std::string secret((std::istreambuf_iterator<char>(in)), {});
  if (names != std::set<std::string>{"root", "secret"} || secret != kSecret) {
    std::fprintf(stderr, "fuzz_wasi: something outside the preopened folder changed\n");
    abort();
  }
}

// Arguments: mostly small numbers and pointers into the memory's edges, sometimes raw bytes.
uint64_t Arg(const uint8_t*& p, const uint8_t* end, uint64_t memory_size) {
  if (p >= end) return 0;
  uint8_t kind = *p++;
  auto take = [&](size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n && p < end; i++) v |= uint64_t{*p++} << (8 * i);
    return v;
  };
  switch (kind % 6) {
    case 0:
      return kind / 6;  // 0..42: fds, flags, small lengths
    case 1:
      return take(2);  // a pointer or length in the memory
    case 2:
      return memory_size - (take(1) % 64);  // at the memory's end
    case 3:
      return take(4);  // any 32-bit value
    case 4:
      return take(8);  // any 64-bit value
    default:
      return 1024 + 16 * (take(1) % 64);  // where the paths below are
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/velum-fuzz-wasi-XXXXXX";
  if (!mkdtemp(tmpl)) abort();
  base = tmpl;
  std::ofstream(base / "secret") << kSecret;
  Plant();
  // Files the guest writes stay small (EFBIG past 1 MiB), so a run cannot fill the disk.
  signal(SIGXFSZ, SIG_IGN);
  rlimit fsize{1 << 20, 1 << 20};
  setrlimit(RLIMIT_FSIZE, &fsize);
  atexit([] { fs::remove_all(base); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (++inputs % 512 == 0) Plant();  // what earlier inputs made is bounded
  // A 64 KiB memory: paths and structures at 1024.. come from the input's first bytes.
  std::vector<uint8_t> memory(65536);
  static const char* const kPaths[] = {
      "file",        "../secret",  "out",  "in",  "dir/deeper/../..",
      "/etc/passwd", "abs/passwd", "dir/", "new", "dir/x/"};
  for (size_t i = 0; i < 64; i++) {
    const char* s = kPaths[i % (sizeof kPaths / sizeof kPaths[0])];
    std::memcpy(memory.data() + 1024 + 16 * i, s, std::min<size_t>(std::strlen(s), 16));
  }
  size_t head = std::min<size_t>(size, 512);
  std::memcpy(memory.data() + 2048, data, head);
  velum::WasiConfig config;
  config.args = {"fuzz", "arg"};
  config.env = {"A=1"};
  config.max_output_bytes = 4096;
  config.output = [](int, const uint8_t*, size_t) { return true; };
  config.deadline = std::chrono::steady_clock::now();  // poll_oneoff never sleeps
  int root = open((base / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) abort();
  config.preopens.push_back({root, "/", false});
  velum::WasiHost host(std::move(config));
  const auto& functions = velum::WasiFunctions();
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  for (int calls = 0; calls < 64 && p < end; calls++) {
    const velum::WasiSignature& sig = functions[*p++ % functions.size()];
    uint64_t args[velum::kMaxWasiParams] = {};
    for (size_t i = 0; i < sig.params.size(); i++) {
      args[i] = Arg(p, end, memory.size());
      if (sig.params[i] == velum::WasiType::kI32) args[i] &= 0xFFFFFFFFu;
    }
    velum::WasiOutcome out = host.Call(sig.func, args, {memory.data(), memory.size()});
    if (out.exit_code) break;  // proc_exit: the run is over
  }
  CheckOutside();
  return 0;
}
