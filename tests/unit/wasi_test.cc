// The WASI host (runtime/wasi.h) against a guest memory of its own: arguments and environment
// laid out as wasi-libc reads them, output capped and counted, every guest pointer checked.
#include "runtime/wasi.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace velum {
namespace {

struct Guest {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(4096);
  WasiMemory memory() { return WasiMemory{bytes.data(), bytes.size()}; }
  uint32_t U32(uint32_t at) const {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  }
  void SetU32(uint32_t at, uint32_t v) { std::memcpy(bytes.data() + at, &v, 4); }
  std::string Str(uint32_t at) const { return reinterpret_cast<const char*>(bytes.data() + at); }
};

uint32_t Call(WasiHost& host, WasiFunc f, std::vector<uint64_t> args, Guest& g) {
  args.resize(kMaxWasiParams);
  return host.Call(f, args.data(), g.memory()).errno_value;
}

constexpr uint32_t kOk = 0, kBadf = 8, kFault = 21, kInval = 28, kIo = 29, kSpipe = 70;

TEST(Wasi, EverySignatureIsFoundByItsName) {
  for (const WasiSignature& s : WasiFunctions()) {
    const WasiSignature* found = FindWasiFunction(s.name);
    ASSERT_NE(found, nullptr) << s.name;
    EXPECT_EQ(found->func, s.func);
  }
  EXPECT_EQ(WasiFunctions().size(), 46u);  // all of wasi_snapshot_preview1
  EXPECT_EQ(FindWasiFunction("path_open2"), nullptr);
  EXPECT_EQ(FindWasiFunction(""), nullptr);
}

TEST(Wasi, ArgsAndEnvironAreLaidOutAsCStrings) {
  WasiConfig c;
  c.args = {"prog.wasm", "-v", ""};
  c.env = {"A=1"};
  WasiHost host(c);
  Guest g;
  ASSERT_EQ(Call(host, WasiFunc::kArgsSizesGet, {0, 4}, g), kOk);
  EXPECT_EQ(g.U32(0), 3u);
  EXPECT_EQ(g.U32(4), 10u + 3u + 1u);
  ASSERT_EQ(Call(host, WasiFunc::kArgsGet, {100, 200}, g), kOk);
  EXPECT_EQ(g.Str(g.U32(100)), "prog.wasm");
  EXPECT_EQ(g.Str(g.U32(104)), "-v");
  EXPECT_EQ(g.Str(g.U32(108)), "");
  ASSERT_EQ(Call(host, WasiFunc::kEnvironSizesGet, {0, 4}, g), kOk);
  EXPECT_EQ(g.U32(0), 1u);
  ASSERT_EQ(Call(host, WasiFunc::kEnvironGet, {300, 400}, g), kOk);
  EXPECT_EQ(g.Str(g.U32(300)), "A=1");
}

TEST(Wasi, PointersOutsideTheMemoryAreFaults) {
  WasiConfig c;
  c.args = {"prog.wasm"};
  WasiHost host(c);
  Guest g;
  EXPECT_EQ(Call(host, WasiFunc::kArgsSizesGet, {4094, 0}, g), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kArgsGet, {0, 4090}, g), kFault);  // the string runs past
  EXPECT_EQ(Call(host, WasiFunc::kArgsGet, {0xFFFFFFFF, 0}, g), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kRandomGet, {4000, 97}, g), kFault);
  EXPECT_EQ(Call(host, WasiFunc::kClockTimeGet, {1, 0, 4090}, g), kFault);
  g.SetU32(0, 4000);  // an iovec whose buffer runs past the end
  g.SetU32(4, 200);
  EXPECT_EQ(Call(host, WasiFunc::kFdWrite, {1, 0, 1, 16}, g), kFault);
  g.SetU32(8, 0);  // a good first iovec, a bad second one: nothing is written at all
  g.SetU32(12, 4);
  g.SetU32(16, 4000);
  g.SetU32(20, 200);
  std::string written;
  WasiConfig sink;
  sink.output = [&](int, const uint8_t* d, size_t n) {
    written.append(reinterpret_cast<const char*>(d), n);
    return true;
  };
  WasiHost checked(sink);
  EXPECT_EQ(Call(checked, WasiFunc::kFdWrite, {1, 8, 2, 64}, g), kFault);
  EXPECT_EQ(written, "");
  EXPECT_EQ(Call(host, WasiFunc::kFdWrite, {1, 4092, 1, 16}, g), kFault);  // the iovec itself
  WasiHost none(WasiConfig{});
  Guest empty;
  empty.bytes.clear();
  EXPECT_EQ(Call(none, WasiFunc::kArgsSizesGet, {0, 4}, empty), kFault);  // no memory at all
}

TEST(Wasi, OutputGoesToItsStreamAndStopsAtTheCap) {
  std::string out, err;
  WasiConfig c;
  c.max_output_bytes = 10;
  c.output = [&](int fd, const uint8_t* d, size_t n) {
    (fd == 1 ? out : err).append(reinterpret_cast<const char*>(d), n);
    return true;
  };
  WasiHost host(c);
  Guest g;
  std::memcpy(g.bytes.data() + 100, "hello world!", 12);
  g.SetU32(0, 100);  // two iovecs: "hello " and "world!"
  g.SetU32(4, 6);
  g.SetU32(8, 106);
  g.SetU32(12, 6);
  ASSERT_EQ(Call(host, WasiFunc::kFdWrite, {2, 0, 2, 16}, g), kOk);
  EXPECT_EQ(err, "hello worl");  // up to the cap of 10, and no further
  EXPECT_EQ(g.U32(16), 10u);     // what was written, as the program is told
  EXPECT_TRUE(host.truncated());
  ASSERT_EQ(Call(host, WasiFunc::kFdWrite, {1, 0, 1, 16}, g), kOk);
  EXPECT_EQ(out, "hello ");                                          // stdout has a cap of its own
  EXPECT_EQ(Call(host, WasiFunc::kFdWrite, {2, 0, 1, 16}, g), kIo);  // stderr is full
  EXPECT_EQ(Call(host, WasiFunc::kFdWrite, {0, 0, 1, 16}, g), kBadf);
  EXPECT_EQ(Call(host, WasiFunc::kFdWrite, {7, 0, 1, 16}, g), kBadf);
  EXPECT_EQ(Call(host, WasiFunc::kFdWrite, {1, 0, 5000, 16}, g), kInval);  // > IOV_MAX
}

TEST(Wasi, StdinIsReadUntilItsEnd) {
  std::string input = "abc";
  size_t at = 0;
  WasiConfig c;
  c.input = [&](uint8_t* d, size_t n) -> std::optional<size_t> {
    size_t k = std::min(n, input.size() - at);
    std::memcpy(d, input.data() + at, k);
    at += k;
    return k;
  };
  WasiHost host(c);
  Guest g;
  g.SetU32(0, 100);
  g.SetU32(4, 2);
  ASSERT_EQ(Call(host, WasiFunc::kFdRead, {0, 0, 1, 16}, g), kOk);
  EXPECT_EQ(g.U32(16), 2u);
  ASSERT_EQ(Call(host, WasiFunc::kFdRead, {0, 0, 1, 16}, g), kOk);
  EXPECT_EQ(g.U32(16), 1u);
  ASSERT_EQ(Call(host, WasiFunc::kFdRead, {0, 0, 1, 16}, g), kOk);
  EXPECT_EQ(g.U32(16), 0u);  // the end
  EXPECT_EQ(Call(host, WasiFunc::kFdRead, {1, 0, 1, 16}, g), kBadf);
  WasiHost no_stdin(WasiConfig{});
  ASSERT_EQ(Call(no_stdin, WasiFunc::kFdRead, {0, 0, 1, 16}, g), kOk);
  EXPECT_EQ(g.U32(16), 0u);  // no stdin given: empty
}

TEST(Wasi, StdioDescriptorsClocksRandomAndExit) {
  WasiHost host(WasiConfig{});
  Guest g;
  ASSERT_EQ(Call(host, WasiFunc::kFdFdstatGet, {1, 64}, g), kOk);
  EXPECT_EQ(g.bytes[64], 0);  // unknown: captured output is not a terminal (isatty false)
  EXPECT_EQ(Call(host, WasiFunc::kFdFdstatGet, {3, 64}, g), kBadf);
  EXPECT_EQ(Call(host, WasiFunc::kFdPrestatGet, {3, 64}, g), kBadf);  // no preopens
  EXPECT_EQ(Call(host, WasiFunc::kFdSeek, {1, 0, 0, 64}, g), kSpipe);
  EXPECT_EQ(Call(host, WasiFunc::kFdClose, {9, 0}, g), kBadf);
  for (uint64_t clock : {0, 1, 2, 3}) {
    ASSERT_EQ(Call(host, WasiFunc::kClockTimeGet, {clock, 0, 128}, g), kOk) << clock;
    uint64_t ns;
    std::memcpy(&ns, g.bytes.data() + 128, 8);
    EXPECT_GT(ns, 0u) << clock;
    EXPECT_EQ(Call(host, WasiFunc::kClockResGet, {clock, 128}, g), kOk) << clock;
  }
  EXPECT_EQ(Call(host, WasiFunc::kClockTimeGet, {4, 0, 128}, g), kInval);
  std::vector<uint8_t> before(g.bytes.begin() + 200, g.bytes.begin() + 264);
  ASSERT_EQ(Call(host, WasiFunc::kRandomGet, {200, 64}, g), kOk);
  EXPECT_NE(std::vector<uint8_t>(g.bytes.begin() + 200, g.bytes.begin() + 264), before);
  EXPECT_FALSE(host.exit_code());
  std::vector<uint64_t> code = {300, 0, 0, 0, 0, 0, 0, 0};
  WasiOutcome exit = host.Call(WasiFunc::kProcExit, code.data(), g.memory());
  ASSERT_TRUE(exit.exit_code);
  EXPECT_EQ(*exit.exit_code, 300u);
  EXPECT_EQ(host.exit_code(), 300u);
}

}  // namespace
}  // namespace velum
