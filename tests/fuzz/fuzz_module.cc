// velum-fuzz-module: a libFuzzer target over the module loader and validator (Module::FromBytes)
// and, for a module it accepts, instantiation and one call of each export on the interpreter.
#include <sodium.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/error.h"
#include "runtime/interp_engine.h"
#include "runtime/module.h"
#include "runtime/value.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace velum;

// A small budget per input, so an input that loops or grows memory costs milliseconds: the
// interpreter checks the deadline between batches of instructions (interp_engine.cc).
constexpr uint32_t kMaxMemoryPages = 256;  // 16 MiB of linear memory
constexpr auto kCallBudget = std::chrono::milliseconds(20);
constexpr size_t kMaxCallsPerInput = 16;

// Errors reach users as one line (error.h): no message may span lines or be empty.
void CheckOneLine(const Error& e) {
  FUZZ_CHECK(!e.ToString().empty());
  FUZZ_CHECK(e.ToString().find('\n') == std::string::npos);
}

Value Zero(ValType type) {
  // Every type's zero (references: null) is all-zero bits with the type's tag.
  return Value{type, 0, 0};
}

void CallExports(const ModulePtr& module) {
  std::unique_ptr<Engine> engine = NewInterpEngine();
  InstanceLimits limits;
  limits.max_memory_pages = kMaxMemoryPages;
  limits.deadline = std::chrono::steady_clock::now() + kCallBudget;
  auto instance = engine->Instantiate(module, limits);
  if (!instance.ok()) {
    CheckOneLine(instance.error());
    return;
  }
  size_t calls = 0;
  for (const ExportInfo& e : module->exports()) {
    if (e.kind != ExternKind::kFunc) continue;
    if (calls++ == kMaxCallsPerInput) break;
    std::vector<Value> args;
    for (ValType t : e.sig.params) args.push_back(Zero(t));
    (*instance)->limits().deadline = std::chrono::steady_clock::now() + kCallBudget;
    auto result = (*instance)->Call(e.name, args);
    if (!result.ok()) {
      const Error& err = result.error();
      CheckOneLine(err);
      // Right arguments to an export that exists: only the code's own failures remain.
      FUZZ_CHECK(err.kind == ErrorKind::kTrap || err.kind == ErrorKind::kDeadlineExceeded ||
                 err.kind == ErrorKind::kMemoryLimitExceeded);
      continue;
    }
    FUZZ_CHECK(result->size() == e.sig.results.size());
    for (size_t i = 0; i < result->size(); i++) FUZZ_CHECK((*result)[i].type == e.sig.results[i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (sodium_init() < 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  auto module = Module::FromBytes(bytes);
  if (!module.ok()) {
    FUZZ_CHECK(module.error().kind == ErrorKind::kInvalidModule);
    CheckOneLine(module.error());
    return 0;
  }
  // An accepted module is these bytes, hashed, with findable function exports.
  const ModulePtr& m = *module;
  FUZZ_CHECK(m->bytes() == bytes);
  FUZZ_CHECK(m->hash() == HashBytes(data, size));
  for (const ExportInfo& e : m->exports()) {
    if (e.kind != ExternKind::kFunc) continue;
    auto found = m->FindFunction(e.name);
    FUZZ_CHECK(found.ok() && (*found)->sig == e.sig);
  }
  CallExports(m);
  return 0;
}
