// velum-bench-runtime: the runtime's engines measured side by side with native code, in one run.
// Kernels natively / AOT / interpreted (items/s), AOT compile, pool latency, WASI calls, RSS.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pi.h"      // examples/wasm: the very source compiled to pi.wasm
#include "primes.h"  // examples/wasm: the very source compiled to primes.wasm
#include "runtime/aot_compiler.h"
#include "runtime/aot_engine.h"
#include "runtime/executor_pool.h"
#include "runtime/interp_engine.h"
#include "runtime/module.h"
#include "runtime/wasi.h"
#include "temp_dir.h"

#ifndef VELUM_BENCH_WASM_DIR
#error "VELUM_BENCH_WASM_DIR must name the directory of the example modules"
#endif
#ifndef VELUM_BENCH_EXECUTOR
#define VELUM_BENCH_EXECUTOR ""
#endif

// native_clang.c: the same kernels compiled by clang -O3 (the wasm build's compiler).
extern "C" int velum_bench_clang_count_primes(int start, int end);
extern "C" int velum_bench_clang_pi_hits(int start, int end);

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using velum::Value;

// Ranges of the targets; the interpreter gets a smaller one, compared per item.
constexpr int kPrimesEnd = 3000000;
constexpr int kPrimesSmallEnd = 100000;
constexpr int kPiEnd = 200000000;
constexpr int kPiSmallEnd = 1000000;

using velum::bench::TempDir;

velum::ModulePtr LoadModule(const std::string& name) {
  fs::path path = fs::path(VELUM_BENCH_WASM_DIR) / (name + ".wasm");
  auto module = velum::Module::FromFile(path);
  if (!module.ok()) {
    std::fprintf(stderr, "velum-bench-runtime: %s: %s\n", path.c_str(),
                 module.error().ToString().c_str());
    std::exit(1);
  }
  return *module;
}

// Everything the in-process benchmarks share: the modules, an AOT compiler whose cache is a
// temporary directory (compiled once, before any timing), the AOT engine and instances.
struct Shared {
  TempDir root{"runtime"};
  velum::ModulePtr primes = LoadModule("primes");
  velum::ModulePtr pi = LoadModule("pi");
  velum::ModulePtr sum = LoadModule("sum");
  velum::ModulePtr wasi_probe = LoadModule("wasi_probe");  // tests/wasm/wasi_probe.c
  std::unique_ptr<velum::AotCompiler> compiler;
  std::unique_ptr<velum::AotEngine> aot;
  std::unique_ptr<velum::Engine> interp = velum::NewInterpEngine();
  std::string error;  // why the AOT tier is unusable here, if it is
  std::map<std::pair<std::string, int>, int> expected;  // native answers, computed once

  Shared() {
    velum::AotOptions options;
    options.cache_dir = root.path() / "aot";
    compiler = std::make_unique<velum::AotCompiler>(options);
    aot = std::make_unique<velum::AotEngine>(compiler.get());
    if (auto s = aot->Preload({primes}); !s.ok()) error = "AOT primes: " + s.error().ToString();
    if (auto s = aot->Preload({pi}); !s.ok()) error = "AOT pi: " + s.error().ToString();
  }
  fs::path pool_home() const { return root.path() / "home"; }
};

std::unique_ptr<Shared> g_shared;

Shared& S() {
  if (!g_shared) g_shared = std::make_unique<Shared>();
  return *g_shared;
}

// ---- Kernels: native, AOT, interpreter -------------------------------------------------

enum class Tier { kNative, kNativeClang, kAot, kInterp };

struct Kernel {
  const char* name;               // the wasm export
  int (*native)(int, int);        // this file's compiler, -O3
  int (*native_clang)(int, int);  // clang -O3
  velum::ModulePtr Shared::*module;
};

const Kernel kPrimes{"count_primes", velum_count_primes, velum_bench_clang_count_primes,
                     &Shared::primes};
const Kernel kPi{"pi_hits", velum_pi_hits, velum_bench_clang_pi_hits, &Shared::pi};

// One iteration = one call over [0, end). items/s is a rate counter, so ratios of tiers on
// the same range read directly; the thread's CPU time is used (less noisy than wall time).
void BM_Kernel(benchmark::State& state, const Kernel& kernel, Tier tier, int end) {
  Shared& s = S();
  auto [known, fresh] = s.expected.try_emplace({kernel.name, end}, 0);
  if (fresh) known->second = kernel.native(0, end);
  const int expected = known->second;
  std::unique_ptr<velum::Instance> instance;
  if (tier == Tier::kAot || tier == Tier::kInterp) {
    if (tier == Tier::kAot && !s.error.empty()) return state.SkipWithError(s.error.c_str());
    velum::Engine& engine = tier == Tier::kAot ? *s.aot : *s.interp;
    auto made = engine.Instantiate(s.*kernel.module, velum::InstanceLimits{});
    if (!made.ok()) return state.SkipWithError(made.error().ToString().c_str());
    instance = std::move(*made);
  }
  const std::vector<Value> args = {Value::I32(0), Value::I32(end)};
  int result = 0;
  for (auto _ : state) {
    if (tier == Tier::kNative || tier == Tier::kNativeClang) {
      int lo = 0, hi = end;
      benchmark::DoNotOptimize(lo);  // opaque bounds: nothing is folded at compile time
      benchmark::DoNotOptimize(hi);
      result = tier == Tier::kNative ? kernel.native(lo, hi) : kernel.native_clang(lo, hi);
      benchmark::DoNotOptimize(result);
    } else {
      auto out = instance->Call(kernel.name, args);
      if (!out.ok()) return state.SkipWithError(out.error().ToString().c_str());
      result = (*out)[0].i32();
    }
  }
  if (result != expected)
    return state.SkipWithError(
        ("wrong answer " + std::to_string(result) + ", expected " + std::to_string(expected))
            .c_str());
  state.counters["items_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * end, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(kernel.name) + "(0, " + std::to_string(end) +
                 ") = " + std::to_string(result));
}

// A "Key:   N kB" line of a /proc file, in KiB (0 if absent).
double ProcKiB(int pid, const char* file, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::strtod(line.c_str() + key.size() + 1, nullptr);
  }
  return 0;
}

// What an executor does per call, in process: a fresh instance of sum, then sum(10, 20, 30)
// (the interpreter also gets a fresh engine, as in the executor). Separates engine cost from IPC.
// vmsize_kib_per_call: address space left behind per instance (should be 0). Fixed iteration
// count: with wabt 1.0.32's own free, each AOT instance would leak its 8 GiB reservation and
// ~16k of them abort; the runtime frees it, or keeps one for the next instance.
void BM_InstanceSum(benchmark::State& state, Tier tier) {
  Shared& s = S();
  if (tier == Tier::kAot) {
    if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
    if (!s.aot->IsLoaded(*s.sum)) {
      if (auto st = s.aot->Preload({s.sum}); !st.ok())
        return state.SkipWithError(st.error().ToString().c_str());
    }
  }
  const std::vector<Value> args = {Value::I32(10), Value::I32(20), Value::I32(30)};
  if (tier == Tier::kAot) {
    // One instance first: the runtime keeps one freed reservation for the next instance
    // (that is the point); only what grows beyond it is a leak.
    auto warm = s.aot->Instantiate(s.sum, velum::InstanceLimits{});
    if (!warm.ok()) return state.SkipWithError(warm.error().ToString().c_str());
  }
  const double vm_before = ProcKiB(getpid(), "status", "VmSize");
  if (tier == Tier::kAot && vm_before > 64.0 * (1ull << 30))  // KiB: half the 128 TiB user space
    return state.SkipWithError("address space nearly exhausted by leaked AOT memories");
  for (auto _ : state) {
    std::unique_ptr<velum::Engine> interp;
    velum::Engine* engine = s.aot.get();
    if (tier == Tier::kInterp) engine = (interp = velum::NewInterpEngine()).get();
    auto instance = engine->Instantiate(s.sum, velum::InstanceLimits{});
    if (!instance.ok()) return state.SkipWithError(instance.error().ToString().c_str());
    auto out = (*instance)->Call("sum", args);
    if (!out.ok() || (*out)[0].i32() != 60) return state.SkipWithError("sum 10 20 30 != 60");
  }
  state.counters["vmsize_kib_per_call"] =
      (ProcKiB(getpid(), "status", "VmSize") - vm_before) / static_cast<double>(state.iterations());
}

// ---- WASI calls: what one host call costs the program, per engine ------------------------

constexpr int kWasiCallsPerIteration = 1000;

// One iteration = wasi_probe's `loop` export making kWasiCallsPerIteration WASI calls (and
// nothing else but its loop), in one instance made before timing, its output thrown away.
// seconds_per_call is the wall time of the iteration over its calls.
void BM_WasiCall(benchmark::State& state, const char* loop, Tier tier) {
  Shared& s = S();
  if (tier == Tier::kAot) {
    if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
    if (!s.aot->IsLoaded(*s.wasi_probe)) {
      if (auto st = s.aot->Preload({s.wasi_probe}); !st.ok())
        return state.SkipWithError(st.error().ToString().c_str());
    }
  }
  velum::WasiConfig config;
  config.args = {"wasi_probe"};
  config.max_output_bytes = UINT64_MAX;  // fd_write never meets the cap
  config.output = [](int, const uint8_t*, size_t) { return true; };
  velum::WasiHost host(config);
  velum::InstanceLimits limits;
  limits.wasi = &host;
  std::unique_ptr<velum::Engine> interp;
  velum::Engine* engine = s.aot.get();
  if (tier == Tier::kInterp) engine = (interp = velum::NewInterpEngine()).get();
  auto instance = engine->Instantiate(s.wasi_probe, limits);
  if (!instance.ok()) return state.SkipWithError(instance.error().ToString().c_str());
  const std::vector<Value> args = {Value::I32(kWasiCallsPerIteration)};
  for (auto _ : state) {
    auto out = (*instance)->Call(loop, args);
    if (!out.ok() || out->size() != 1 || (*out)[0].i32() != 0)
      return state.SkipWithError((std::string(loop) + " failed").c_str());
  }
  state.counters["seconds_per_call"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kWasiCallsPerIteration,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---- AOT compile: cold (empty cache) and warm (cache hit) ----------------------------

void BM_AotCompileCold(benchmark::State& state) {
  Shared& s = S();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>("cold");
    velum::AotOptions options;
    options.cache_dir = dir->path();
    state.ResumeTiming();
    velum::AotCompiler compiler(options);
    auto so = compiler.Compile({s.primes});
    state.PauseTiming();
    if (!so.ok()) return state.SkipWithError(so.error().ToString().c_str());
    dir.reset();
    state.ResumeTiming();
  }
  state.SetLabel("wasm2c + cc " + velum::AotOptions{}.cflags.front() + ", primes.wasm");
}

// Number of entries in the cache directory and the shared object's mtime: unchanged by a hit.
struct CacheSnapshot {
  size_t entries = 0;
  fs::file_time_type mtime;
  bool operator==(const CacheSnapshot&) const = default;
};

CacheSnapshot Snapshot(const fs::path& dir, const fs::path& so) {
  CacheSnapshot snap;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) snap.entries++;
  snap.mtime = fs::last_write_time(so);
  return snap;
}

// new_compiler: a fresh AotCompiler per call (what a second process pays: it also looks up
// the compiler's identity); otherwise the same compiler is asked again.
void BM_AotCompileWarm(benchmark::State& state, bool new_compiler) {
  Shared& s = S();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  auto first = s.compiler->Compile({s.primes});
  if (!first.ok()) return state.SkipWithError(first.error().ToString().c_str());
  CacheSnapshot before = Snapshot(s.compiler->options().cache_dir, *first);
  for (auto _ : state) {
    std::unique_ptr<velum::AotCompiler> fresh;
    velum::AotCompiler* compiler = s.compiler.get();
    if (new_compiler)
      compiler = (fresh = std::make_unique<velum::AotCompiler>(s.compiler->options())).get();
    auto so = compiler->Compile({s.primes});
    if (!so.ok() || *so != *first) return state.SkipWithError("the cache was missed");
  }
  CacheSnapshot after = Snapshot(s.compiler->options().cache_dir, *first);
  if (!(after == before)) return state.SkipWithError("a cached compile changed the cache");
  state.counters["compiled_nothing"] = 1;
}

// ---- Executor pool: warm call latency, start-up, idle RSS ----------------------------

velum::CallSpec SumSpec(velum::EngineKind engine) {
  velum::CallSpec spec;
  spec.module = S().sum;
  spec.func = "sum";
  spec.args = {Value::I32(10), Value::I32(20), Value::I32(30)};
  spec.engine = engine;
  spec.timeout = std::chrono::milliseconds(10000);
  return spec;
}

velum::PoolOptions PoolOpts(size_t slots = 2) {
  velum::PoolOptions options;
  options.slots = slots;
  options.home = S().pool_home();
  options.executor_path = VELUM_BENCH_EXECUTOR;
  return options;
}

// Runs the call; an empty string means it answered 60 on the wanted engine.
std::string CallSum(velum::ExecutorPool& pool, const velum::CallSpec& spec) {
  auto out = pool.Call(spec);
  if (!out.ok()) return out.error().ToString();
  if (out->values.size() != 1 || out->values[0].i32() != 60) return "sum 10 20 30 != 60";
  if (out->engine != spec.engine)
    return std::string("answered by ") + velum::EngineKindName(out->engine) + " " + out->note;
  return {};
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// `sum 10 20 30` through a started, warm pool; the module is compiled before timing.
// Run with a fixed iteration count: one iteration is one call, latencies give p50/p99.
void BM_PoolSum(benchmark::State& state, velum::EngineKind engine) {
  velum::ExecutorPool pool(PoolOpts());
  if (auto s = pool.Start(); !s.ok()) return state.SkipWithError(s.error().ToString().c_str());
  if (engine == velum::EngineKind::kAot) {
    if (auto so = pool.CompileNow(S().sum); !so.ok())
      return state.SkipWithError(so.error().ToString().c_str());
  }
  velum::CallSpec spec = SumSpec(engine);
  for (int i = 0; i < 50; i++) {  // warm up: executor started, module loaded and cached
    if (auto e = CallSum(pool, spec); !e.empty()) return state.SkipWithError(e.c_str());
  }
  std::vector<double> us;
  us.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto e = CallSum(pool, spec);
    auto t1 = Clock::now();
    if (!e.empty()) return state.SkipWithError(e.c_str());
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  state.counters["p50_us"] = Percentile(us, 0.50);
  state.counters["p99_us"] = Percentile(us, 0.99);
  state.counters["max_us"] = Percentile(us, 1.0);
  state.SetLabel(std::string("sum 10 20 30 via ") + velum::EngineKindName(engine));
}

// One iteration: construct a pool, Start() it (spawns the executors) and wait for the first
// answer of `sum` on the interpreter. Manual time = Start() + first call.
void BM_PoolStartup(benchmark::State& state) {
  double start_us = 0, first_us = 0;
  for (auto _ : state) {
    auto pool = std::make_unique<velum::ExecutorPool>(PoolOpts());
    auto t0 = Clock::now();
    auto started = pool->Start();
    auto t1 = Clock::now();
    if (!started.ok()) return state.SkipWithError(started.error().ToString().c_str());
    auto e = CallSum(*pool, SumSpec(velum::EngineKind::kInterp));
    auto t2 = Clock::now();
    if (!e.empty()) return state.SkipWithError(e.c_str());
    pool.reset();  // not timed: manual time below
    start_us += std::chrono::duration<double, std::micro>(t1 - t0).count();
    first_us += std::chrono::duration<double, std::micro>(t2 - t1).count();
    state.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
  }
  state.counters["start_us"] = benchmark::Counter(start_us, benchmark::Counter::kAvgIterations);
  state.counters["first_call_us"] =
      benchmark::Counter(first_us, benchmark::Counter::kAvgIterations);
  state.SetLabel("Start() + first sum (interp), 2 slots");
}

// A native call of a module the executor is not bound to: a confined executor cannot open
// another compiled object, so the pool restarts it bound to this one (sandbox.h). One slot,
// calls alternating between two compiled modules: every call pays a restart.
void BM_PoolRebind(benchmark::State& state) {
  velum::ExecutorPool pool(PoolOpts(1));
  if (auto s = pool.Start(); !s.ok()) return state.SkipWithError(s.error().ToString().c_str());
  for (const auto& m : {S().sum, S().primes})
    if (auto so = pool.CompileNow(m); !so.ok())
      return state.SkipWithError(so.error().ToString().c_str());
  velum::CallSpec sum = SumSpec(velum::EngineKind::kAot);
  velum::CallSpec primes = sum;
  primes.module = S().primes;
  primes.func = "count_primes";
  primes.args = {Value::I32(0), Value::I32(10)};
  std::vector<double> us;
  us.reserve(static_cast<size_t>(state.max_iterations));
  bool odd = false;
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::string e;
    if (odd) {
      auto out = pool.Call(primes);
      if (!out.ok() || out->engine != velum::EngineKind::kAot) e = "primes failed";
    } else {
      e = CallSum(pool, sum);
    }
    auto t1 = Clock::now();
    if (!e.empty()) return state.SkipWithError(e.c_str());
    odd = !odd;
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  state.counters["p50_us"] = Percentile(us, 0.50);
  state.counters["p99_us"] = Percentile(us, 0.99);
  state.counters["rebinds"] = static_cast<double>(pool.stats().executors_rebound);
  state.SetLabel("AOT calls alternating sum / primes on 1 slot: a restart each");
}

// Every executor is made to answer once (concurrent calls, one per slot), so all are up and
// idle; then VmRSS and Pss of each pid are read. Manual time = Start() until all answered.
void BM_PoolIdleRss(benchmark::State& state) {
  constexpr size_t kSlots = 2;
  double rss = 0, pss = 0, rss_aot = 0, n = 0;
  for (auto _ : state) {
    velum::ExecutorPool pool(PoolOpts(kSlots));
    auto t0 = Clock::now();
    if (auto s = pool.Start(); !s.ok()) return state.SkipWithError(s.error().ToString().c_str());
    std::vector<std::string> errors(kSlots);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < kSlots; i++)
      threads.emplace_back(
          [&, i] { errors[i] = CallSum(pool, SumSpec(velum::EngineKind::kInterp)); });
    for (auto& t : threads) t.join();
    auto t1 = Clock::now();
    for (const auto& e : errors)
      if (!e.empty()) return state.SkipWithError(e.c_str());
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (int pid : pool.pids()) {
      rss += ProcKiB(pid, "status", "VmRSS");
      pss += ProcKiB(pid, "smaps_rollup", "Pss");
      n++;
    }
    // The same executors after an AOT call (the shared object loaded): the largest of them.
    if (auto so = pool.CompileNow(S().sum); !so.ok())
      return state.SkipWithError(so.error().ToString().c_str());
    if (auto e = CallSum(pool, SumSpec(velum::EngineKind::kAot)); !e.empty())
      return state.SkipWithError(e.c_str());
    double most = 0;
    for (int pid : pool.pids()) most = std::max(most, ProcKiB(pid, "status", "VmRSS"));
    rss_aot += most;
  }
  if (n == 0) return;
  auto iters = static_cast<double>(state.iterations());
  state.counters["idle_rss_kib"] = rss / n;
  state.counters["idle_pss_kib"] = pss / n;
  state.counters["rss_after_aot_kib"] = rss_aot / iters;
  state.SetLabel("per executor; time = Start() until every slot answered once");
}

void Register() {
  using benchmark::kMicrosecond;
  using benchmark::kMillisecond;
  struct K {
    const char* name;
    const Kernel* kernel;
    Tier tier;
    int end;
  };
  const K kernels[] = {
      {"primes/native", &kPrimes, Tier::kNative, kPrimesEnd},
      {"primes/native_clang", &kPrimes, Tier::kNativeClang, kPrimesEnd},
      {"primes/aot", &kPrimes, Tier::kAot, kPrimesEnd},
      {"primes_small/native", &kPrimes, Tier::kNative, kPrimesSmallEnd},
      {"primes_small/aot", &kPrimes, Tier::kAot, kPrimesSmallEnd},
      {"primes_small/interp", &kPrimes, Tier::kInterp, kPrimesSmallEnd},
      {"pi/native", &kPi, Tier::kNative, kPiEnd},
      {"pi/native_clang", &kPi, Tier::kNativeClang, kPiEnd},
      {"pi/aot", &kPi, Tier::kAot, kPiEnd},
      {"pi_small/native", &kPi, Tier::kNative, kPiSmallEnd},
      {"pi_small/aot", &kPi, Tier::kAot, kPiSmallEnd},
      {"pi_small/interp", &kPi, Tier::kInterp, kPiSmallEnd},
  };
  for (const K& k : kernels) {
    benchmark::RegisterBenchmark(k.name, [k](benchmark::State& st) {
      BM_Kernel(st, *k.kernel, k.tier, k.end);
    })->Unit(kMillisecond);
  }
  benchmark::RegisterBenchmark("instance_sum/interp",
                               [](benchmark::State& st) { BM_InstanceSum(st, Tier::kInterp); })
      ->UseRealTime()
      ->Iterations(1000)
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("instance_sum/aot",
                               [](benchmark::State& st) { BM_InstanceSum(st, Tier::kAot); })
      ->UseRealTime()
      ->Iterations(1000)
      ->Unit(kMicrosecond);
  struct W {
    const char* name;
    const char* loop;
    Tier tier;
  };
  const W wasi_calls[] = {
      {"wasi_fd_write/interp", "bench_fd_write", Tier::kInterp},
      {"wasi_fd_write/aot", "bench_fd_write", Tier::kAot},
      {"wasi_clock_time_get/interp", "bench_clock_time_get", Tier::kInterp},
      {"wasi_clock_time_get/aot", "bench_clock_time_get", Tier::kAot},
      {"wasi_random_get/interp", "bench_random_get", Tier::kInterp},
      {"wasi_random_get/aot", "bench_random_get", Tier::kAot},
  };
  for (const W& w : wasi_calls) {
    benchmark::RegisterBenchmark(w.name,
                                 [w](benchmark::State& st) { BM_WasiCall(st, w.loop, w.tier); })
        ->UseRealTime()
        ->Unit(kMicrosecond);
  }
  benchmark::RegisterBenchmark("aot_compile/cold", BM_AotCompileCold)
      ->UseRealTime()  // the work is done by child processes (wasm2c, cc)
      ->Iterations(3)
      ->Unit(kMillisecond);
  benchmark::RegisterBenchmark("aot_compile/warm",
                               [](benchmark::State& st) { BM_AotCompileWarm(st, false); })
      ->UseRealTime()
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("aot_compile/warm_new_compiler",
                               [](benchmark::State& st) { BM_AotCompileWarm(st, true); })
      ->UseRealTime()
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark(
      "pool_sum/interp", [](benchmark::State& st) { BM_PoolSum(st, velum::EngineKind::kInterp); })
      ->UseRealTime()
      ->Iterations(2000)
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark(
      "pool_sum/aot", [](benchmark::State& st) { BM_PoolSum(st, velum::EngineKind::kAot); })
      ->UseRealTime()
      ->Iterations(2000)
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("pool_startup", BM_PoolStartup)
      ->UseManualTime()
      ->Iterations(10)
      ->Unit(kMillisecond);
  benchmark::RegisterBenchmark("pool_rebind", BM_PoolRebind)
      ->UseRealTime()
      ->Iterations(200)
      ->Unit(kMicrosecond);
  benchmark::RegisterBenchmark("pool_idle_rss", BM_PoolIdleRss)
      ->UseManualTime()
      ->Iterations(3)
      ->Unit(kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Register();
  benchmark::AddCustomContext("wasm_dir", VELUM_BENCH_WASM_DIR);
  benchmark::AddCustomContext("aot_cflags", velum::AotOptions{}.cflags.front());
  benchmark::AddCustomContext("native_cflags",
                              "-O3 (as clang --target=wasm32 -O3); native_clang: clang -O3");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_shared.reset();  // removes the temporary caches and pool home
  return 0;
}
