// velum-parse-cost: the peak memory and stack that Module::FromBytes costs per function,
// instruction, nesting level...; the measurements behind the limits of module_bounds.h.
//
//   velum-parse-cost FILE...                 real modules: counts, peak RSS, MiB per unit
//   velum-parse-cost --gen KIND N...         a synthetic module of N units (kinds: nest, blocks,
//                                            funcs, instrs, consts, brtable, elems, exports,
//                                            imports, types, globals, data, widefuncs)
//   velum-parse-cost --max-depth STACK_KIB   the deepest nest FromBytes survives on a thread
//                                            of that stack (binary search, one child per try)
// Every parse runs in a forked child with the bounds lifted, so one run cannot skew the next
// and a crash is observed, not suffered. Output: one line per module.
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "runtime/module.h"
#include "runtime/module_bounds.h"

namespace {

using Bytes = std::vector<uint8_t>;

void Leb(Bytes* out, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out->push_back(v ? b | 0x80 : b);
  } while (v);
}
void Append(Bytes* out, const Bytes& more) { out->insert(out->end(), more.begin(), more.end()); }
void AddSection(Bytes* module, uint8_t id, const Bytes& payload) {
  module->push_back(id);
  Leb(module, payload.size());
  Append(module, payload);
}
Bytes Vec(uint64_t count, const Bytes& items) {
  Bytes out;
  Leb(&out, count);
  Append(&out, items);
  return out;
}
Bytes Name(const std::string& s) {
  Bytes out;
  Leb(&out, s.size());
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// A module of `funcs` functions of type () -> (), the given bodies (without size prefix),
// optional extra sections; function 0 is exported as "f".
Bytes Module(uint64_t funcs, const std::vector<Bytes>& bodies, const Bytes& table = {},
             const Bytes& globals = {}, const Bytes& exports = {}, const Bytes& elems = {},
             const Bytes& types = {}) {
  Bytes m = {0, 'a', 's', 'm', 1, 0, 0, 0};
  AddSection(&m, 1, types.empty() ? Vec(1, {0x60, 0, 0}) : types);
  Bytes fsec;
  Leb(&fsec, funcs);
  for (uint64_t i = 0; i < funcs; i++) fsec.push_back(0);
  AddSection(&m, 3, fsec);
  if (!table.empty()) AddSection(&m, 4, table);
  if (!globals.empty()) AddSection(&m, 6, globals);
  Bytes ex = exports;
  if (ex.empty()) {
    ex = Vec(1, Name("f"));
    ex.push_back(0);
    ex.push_back(0);
  }
  AddSection(&m, 7, ex);
  if (!elems.empty()) AddSection(&m, 9, elems);
  Bytes code;
  Leb(&code, funcs);
  for (uint64_t i = 0; i < funcs; i++) {
    const Bytes& body = bodies[i < bodies.size() ? i : bodies.size() - 1];
    Leb(&code, body.size());
    Append(&code, body);
  }
  AddSection(&m, 10, code);
  return m;
}

Bytes Generate(const std::string& kind, uint64_t n) {
  const Bytes empty_body = {0, 0x0b};
  if (kind == "nest") {  // block (block (... ) ) n deep
    Bytes body = {0};
    for (uint64_t i = 0; i < n; i++) body.insert(body.end(), {0x02, 0x40});
    body.insert(body.end(), n + 1, 0x0b);
    return Module(1, {body});
  }
  if (kind == "funcs") return Module(n, {empty_body});
  if (kind == "instrs") {  // one function of n nops
    Bytes body = {0};
    body.insert(body.end(), n, 0x01);
    body.push_back(0x0b);
    return Module(1, {body});
  }
  if (kind == "blocks") {  // one function of n empty blocks in sequence
    Bytes body = {0};
    for (uint64_t i = 0; i < n; i++) body.insert(body.end(), {0x02, 0x40, 0x0b});
    body.push_back(0x0b);
    return Module(1, {body});
  }
  if (kind == "consts") {  // one function of n (i64.const 2^40; drop)
    Bytes body = {0};
    for (uint64_t i = 0; i < n; i++)
      body.insert(body.end(), {0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x1a});
    body.push_back(0x0b);
    return Module(1, {body});
  }
  if (kind == "data") {        // a memory and one active segment of n bytes
    Bytes mem = {1, 0, 0x10};  // one memory of 16 pages (1 MiB)... its initial size is not parsed
    Bytes seg = {0, 0x41, 0, 0x0b};
    Leb(&seg, n);
    seg.insert(seg.end(), n, 0x5a);
    Bytes out = {0, 'a', 's', 'm', 1, 0, 0, 0};
    AddSection(&out, 1, Vec(1, {0x60, 0, 0}));
    AddSection(&out, 3, {1, 0});
    AddSection(&out, 5, mem);
    AddSection(&out, 10, {1, 2, 0, 0x0b});
    AddSection(&out, 11, Vec(1, seg));
    return out;
  }
  if (kind == "imports") {  // n function imports "m"."<8 hex digits>"
    Bytes im;
    for (uint64_t i = 0; i < n; i++) {
      char name[24];
      std::snprintf(name, sizeof name, "%08llx", static_cast<unsigned long long>(i));
      Append(&im, Name("m"));
      Append(&im, Name(name));
      im.insert(im.end(), {0, 0});
    }
    Bytes out = {0, 'a', 's', 'm', 1, 0, 0, 0};
    AddSection(&out, 1, Vec(1, {0x60, 0, 0}));
    AddSection(&out, 2, Vec(n, im));
    return out;
  }
  if (kind == "brtable") {  // block (i32.const 0, br_table with n targets)
    Bytes body = {0, 0x02, 0x40, 0x41, 0, 0x0e};
    Leb(&body, n);
    body.insert(body.end(), n + 1, 0);
    body.insert(body.end(), {0x0b, 0x0b});
    return Module(1, {body});
  }
  if (kind == "elems") {  // a table of n funcref, one active segment of n ref.func 0
    Bytes table = Vec(1, {0x70, 0});
    Leb(&table, n);
    Bytes seg = {0, 0x41, 0, 0x0b};
    Leb(&seg, n);
    seg.insert(seg.end(), n, 0);
    return Module(1, {empty_body}, table, {}, {}, Vec(1, seg));
  }
  if (kind == "exports") {  // n functions, each exported under an 8-byte name
    Bytes ex;
    for (uint64_t i = 0; i < n; i++) {
      char name[24];
      std::snprintf(name, sizeof name, "%08llx", static_cast<unsigned long long>(i));
      Append(&ex, Name(name));
      ex.push_back(0);
      Leb(&ex, i);
    }
    return Module(n, {empty_body}, {}, {}, Vec(n, ex));
  }
  if (kind == "widefuncs") {  // n functions of type (i32 x 1000) -> ()
    Bytes t = {0x60};
    Leb(&t, 1000);
    t.insert(t.end(), 1000, 0x7f);
    t.push_back(0);
    return Module(n, {empty_body}, {}, {}, {}, {}, Vec(1, t));
  }
  if (kind == "types") {  // n types () -> ()
    Bytes t;
    for (uint64_t i = 0; i < n; i++) t.insert(t.end(), {0x60, 0, 0});
    return Module(1, {empty_body}, {}, {}, {}, {}, Vec(n, t));
  }
  if (kind == "globals") {  // n immutable i32 globals
    Bytes g;
    for (uint64_t i = 0; i < n; i++) g.insert(g.end(), {0x7f, 0, 0x41, 0, 0x0b});
    return Module(1, {empty_body}, {}, Vec(n, g));
  }
  std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
  std::exit(2);
}

long RssKib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

velum::ModuleBounds Unbounded() {
  velum::ModuleBounds b;
  b.max_nesting_depth = b.max_functions = b.max_locals_per_function = b.max_types =
      b.max_params_per_type = b.max_imports = b.max_exports = b.max_globals = b.max_tables =
          b.max_memories = b.max_data_segments = b.max_elem_segments = b.max_name_bytes =
              std::numeric_limits<uint32_t>::max();
  b.max_table_elements = b.max_parse_bytes = std::numeric_limits<uint64_t>::max();
  return b;
}

// One parse in a forked child; its report line comes back through a pipe.
void Measure(const std::string& label, const Bytes& bytes) {
  int fds[2];
  if (pipe(fds) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    velum::ModuleCounts c;
    velum::Status pre = velum::CheckModuleBounds(bytes.data(), bytes.size(), Unbounded(), &c);
    Bytes copy = bytes;  // touched before the baseline: the module keeps these very pages
    long before = RssKib();
    auto t0 = std::chrono::steady_clock::now();
    auto m = velum::Module::FromBytes(std::move(copy), Unbounded());
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    double mib = (ru.ru_maxrss - before) / 1024.0;
    uint64_t units = c.instructions + c.functions;
    char line[512];
    int len = std::snprintf(
        line, sizeof line,
        "%-28s %9zu B  funcs %8llu  instrs %9llu  depth %7llu  peak +%8.1f MiB  %6.1f B/byte  "
        "%6.1f B/(func+instr)  estimate %8.1f MiB  %7.0f ms  %s\n",
        label.c_str(), bytes.size(), static_cast<unsigned long long>(c.functions),
        static_cast<unsigned long long>(c.instructions),
        static_cast<unsigned long long>(c.max_depth), mib, mib * 1048576 / bytes.size(),
        units ? mib * 1048576 / units : 0.0, c.parse_bytes / 1048576.0, ms,
        !pre.ok() ? pre.error().message.c_str()
        : m.ok()  ? "ok"
                  : m.error().message.c_str());
    if (write(fds[1], line, len) != len) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    std::printf("%-28s %9zu B  CRASHED (signal %d)\n", label.c_str(), bytes.size(),
                WTERMSIG(status));
  else
    std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

struct ThreadParse {
  const Bytes* bytes;
  bool ok = false;
};

void* ParseOnThread(void* arg) {
  auto* p = static_cast<ThreadParse*>(arg);
  p->ok = velum::Module::FromBytes(*p->bytes, Unbounded()).ok();
  return nullptr;
}

// Whether FromBytes of a nest of `depth` survives on a thread with `stack_kib` of stack.
bool SurvivesNest(uint64_t depth, size_t stack_kib) {
  Bytes bytes = Generate("nest", depth);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_kib * 1024);
    ThreadParse p{&bytes};
    pthread_t t;
    if (pthread_create(&t, &attr, ParseOnThread, &p) != 0) _exit(3);
    pthread_join(t, nullptr);
    _exit(p.ok ? 0 : 4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Bytes ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: velum-parse-cost FILE... | --gen KIND N... | --max-depth STACK_KIB\n");
    return 2;
  }
  std::string first = argv[1];
  if (first == "--max-depth" && argc == 3) {
    size_t kib = std::strtoull(argv[2], nullptr, 10);
    uint64_t lo = 1, hi = 2;  // lo survives; find hi that does not
    while (SurvivesNest(hi, kib)) {
      lo = hi;
      hi *= 2;
      if (hi > (1u << 24)) break;
    }
    while (hi - lo > std::max<uint64_t>(lo / 100, 1)) {  // to 1 %
      uint64_t mid = lo + (hi - lo) / 2;
      (SurvivesNest(mid, kib) ? lo : hi) = mid;
    }
    std::printf(
        "stack %zu KiB: survives depth %llu, crashes at %llu (%.0f bytes of stack per "
        "level)\n",
        kib, static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi),
        kib * 1024.0 / hi);
    return 0;
  }
  if (first == "--gen") {
    for (int i = 2; i + 1 < argc; i += 2) {
      uint64_t n = std::strtoull(argv[i + 1], nullptr, 10);
      Measure(std::string(argv[i]) + " " + argv[i + 1], Generate(argv[i], n));
    }
    return 0;
  }
  for (int i = 1; i < argc; i++) {
    std::string label = argv[i];
    if (label.size() > 28) label = "..." + label.substr(label.size() - 25);
    Measure(label, ReadFile(argv[i]));
  }
  return 0;
}
