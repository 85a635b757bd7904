// velum-bench-aot-split: cold AOT compiles of large modules, the whole-file recipe against the
// split one in one run: wall time, the compiler's CPU, and its peak memory summed over children.
//
// Usage: velum-bench-aot-split [--reps N] [--recipes whole,default,split] MODULE.wasm...
// (scripts/bench-aot-split runs it). Recipes: `whole` is the one before the split (one unit at
// -O2 whatever the size), `default` today's AotOptions, `split` every module split. For each
// module and repetition, in rotating order, each recipe compiles into an empty cache. Memory is
// sampled from /proc every 20 ms: the largest sum of the RSS of all of this process's descendants
// (what the compile costs the machine at once) and the largest RSS of any one of them (what one
// process must be allowed).
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/aot_compiler.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using velum::AotCompiler;
using velum::AotOptions;

namespace {

struct Sample {
  uint64_t sum_kib = 0, max_kib = 0;
};

// RSS of every descendant of `root`, from /proc/PID/stat (parent) and /proc/PID/statm.
Sample SampleDescendants(pid_t root) {
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, uint64_t> rss_kib;
  static const uint64_t page_kib = static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::atoi(name.c_str());
    std::ifstream stat(it->path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    size_t close = line.rfind(')');  // the command may hold spaces and parentheses
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    std::ifstream statm(it->path() / "statm");
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    parent[pid] = ppid;
    rss_kib[pid] = resident * page_kib;
  }
  Sample s;
  for (const auto& [pid, kib] : rss_kib) {
    bool descendant = false;
    for (pid_t p = parent[pid], hops = 0; p > 1 && hops < 64; p = parent[p], hops++)
      if (p == root) {
        descendant = true;
        break;
      }
    if (!descendant) continue;
    s.sum_kib += kib;
    s.max_kib = std::max(s.max_kib, kib);
  }
  return s;
}

double ChildCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Measured {
  bool ok = false;
  std::string error;
  double wall_s = 0, cpu_s = 0;
  Sample peak;
};

enum class Recipe { kWhole, kDefault, kSplit };
const char* RecipeName(Recipe r) {
  switch (r) {
    case Recipe::kWhole:
      return "whole";
    case Recipe::kDefault:
      return "default";
    case Recipe::kSplit:
      return "split";
  }
  return "?";
}

Measured CompileCold(const velum::ModulePtr& module, Recipe recipe) {
  velum::bench::TempDir dir("aot-split");
  AotOptions options;
  options.cache_dir = dir.path() / "aot";
  // The recipe before the split: one translation unit at the default -O2, whatever its size.
  if (recipe == Recipe::kWhole) options.units.split_above_c_bytes = UINT64_MAX;
  if (recipe == Recipe::kSplit) options.units.split_above_c_bytes = 0;
  AotCompiler compiler(options);
  std::atomic<bool> done{false};
  Sample peak;
  std::thread sampler([&] {
    while (!done) {
      Sample s = SampleDescendants(getpid());
      peak.sum_kib = std::max(peak.sum_kib, s.sum_kib);
      peak.max_kib = std::max(peak.max_kib, s.max_kib);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  double cpu0 = ChildCpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  auto so = compiler.Compile({module});
  auto t1 = std::chrono::steady_clock::now();
  done = true;
  sampler.join();
  Measured m;
  m.ok = so.ok();
  if (!so.ok()) m.error = so.error().ToString();
  m.wall_s = std::chrono::duration<double>(t1 - t0).count();
  m.cpu_s = ChildCpuSeconds() - cpu0;
  m.peak = peak;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 2;
  std::vector<std::string> paths;
  std::vector<Recipe> recipes = {Recipe::kWhole, Recipe::kDefault};
  bool usage = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (arg == "--recipes" && i + 1 < argc) {
      recipes.clear();
      std::istringstream names(argv[++i]);
      for (std::string name; std::getline(names, name, ',');) {
        Recipe r = name == "whole"   ? Recipe::kWhole
                   : name == "split" ? Recipe::kSplit
                                     : Recipe::kDefault;
        usage = usage || RecipeName(r) != name;
        recipes.push_back(r);
      }
    } else {
      paths.push_back(arg);
    }
  }
  if (usage || paths.empty() || recipes.empty() || reps < 1 || reps > 100) {
    std::fprintf(stderr,
                 "usage: velum-bench-aot-split [--reps N (1-100)] [--recipes "
                 "whole,default,split] MODULE.wasm...\n");
    return 2;
  }
  int failures = 0;
  std::printf("%-28s %-7s %3s %8s %8s %10s %10s\n", "module", "recipe", "rep", "wall_s", "cc_cpu_s",
              "sum_MiB", "max_MiB");
  for (const auto& path : paths) {
    auto module = velum::Module::FromFile(path);
    if (!module.ok()) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), module.error().ToString().c_str());
      return 1;
    }
    for (int rep = 0; rep < reps; rep++) {
      // Rotate which recipe goes first, so a change in the machine's load hits all.
      for (size_t k = 0; k < recipes.size(); k++) {
        Recipe recipe = recipes[(k + rep) % recipes.size()];
        Measured m = CompileCold(*module, recipe);
        std::printf("%-28s %-7s %3d %8.2f %8.2f %10.0f %10.0f%s%s\n",
                    fs::path(path).filename().c_str(), RecipeName(recipe), rep, m.wall_s, m.cpu_s,
                    m.peak.sum_kib / 1024.0, m.peak.max_kib / 1024.0,
                    m.ok ? "" : "  FAILED: ", m.error.c_str());
        std::fflush(stdout);
        failures += !m.ok;
      }
    }
  }
  return failures ? 1 : 0;
}
