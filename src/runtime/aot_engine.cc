// Loading compiled modules and calling them: instances, import linking (WASI's too, through one
// thunk for the whole table) and value marshalling; an incompatible import is refused up front.
#include "runtime/aot_engine.h"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <new>
#include <set>
#include <type_traits>

#include "runtime/aot_abi.h"
#include "runtime/aot_invoke.h"
#include "runtime/wasi.h"
#include "wasm-rt.h"

namespace velum {

namespace {

class AotInstance;

ExternType SpectestType(const std::string& field, ExternKind* kind) {
  ExternType t;
  *kind = ExternKind::kFunc;
  if (field == "print") return t;
  if (field == "print_i32")
    t.sig.params = {ValType::kI32};
  else if (field == "print_i64")
    t.sig.params = {ValType::kI64};
  else if (field == "print_f32")
    t.sig.params = {ValType::kF32};
  else if (field == "print_f64")
    t.sig.params = {ValType::kF64};
  else if (field == "print_i32_f32")
    t.sig.params = {ValType::kI32, ValType::kF32};
  else if (field == "print_f64_f64")
    t.sig.params = {ValType::kF64, ValType::kF64};
  else if (field.rfind("global_", 0) == 0) {
    *kind = ExternKind::kGlobal;
    std::string type = field.substr(7);
    t.value_type = type == "i32"   ? ValType::kI32
                   : type == "i64" ? ValType::kI64
                   : type == "f32" ? ValType::kF32
                                   : ValType::kF64;
  } else if (field == "memory") {
    *kind = ExternKind::kMemory;
    t.initial = 1, t.max = 2, t.has_max = true;
  } else if (field == "table") {
    *kind = ExternKind::kTable;
    t.value_type = ValType::kFuncRef;
    t.initial = 10, t.max = 20, t.has_max = true;
  }
  return t;
}

bool LimitsMatch(const ExternType& want, const ExternType& have) {
  if (have.initial < want.initial) return false;
  if (!want.has_max) return true;
  return have.has_max && have.max <= want.max;
}

// Spec "import matching": exact function types and global types, sub-range limits.
bool Matches(ExternKind kind, const ExternType& want, const ExternType& have) {
  switch (kind) {
    case ExternKind::kFunc:
      return want.sig == have.sig;
    case ExternKind::kGlobal:
      return want.value_type == have.value_type && want.is_mutable == have.is_mutable;
    case ExternKind::kMemory:
      return LimitsMatch(want, have);
    case ExternKind::kTable:
      return want.value_type == have.value_type && LimitsMatch(want, have);
    default:
      return false;
  }
}

// Limits of a live memory or table, which may have grown since it was declared.
ExternType LiveLimits(ExternKind kind, void* object, ExternType declared) {
  if (kind == ExternKind::kMemory) {
    auto* m = static_cast<wasm_rt_memory_t*>(object);
    declared.initial = m->pages;
    declared.has_max = m->max_pages != 0xffffffffu;
    declared.max = m->max_pages;
  } else if (kind == ExternKind::kTable) {
    auto* t = static_cast<wasm_rt_funcref_table_t*>(object);  // same layout for externref
    declared.initial = t->size;
    declared.has_max = t->max_size != 0xffffffffu;
    declared.max = t->max_size;
  }
  return declared;
}

TrapKind TrapFromCode(int code) {
  switch (code) {
    case WASM_RT_TRAP_OOB:
      return TrapKind::kOutOfBoundsMemory;
    case WASM_RT_TRAP_INT_OVERFLOW:
      return TrapKind::kIntegerOverflow;
    case WASM_RT_TRAP_DIV_BY_ZERO:
      return TrapKind::kIntegerDivideByZero;
    case WASM_RT_TRAP_INVALID_CONVERSION:
      return TrapKind::kInvalidConversion;
    case WASM_RT_TRAP_UNREACHABLE:
      return TrapKind::kUnreachable;
    case WASM_RT_TRAP_CALL_INDIRECT:
      return TrapKind::kIndirectCallMismatch;
    case WASM_RT_TRAP_EXHAUSTION:
      return TrapKind::kStackExhausted;
    default:
      return TrapKind::kOther;
  }
}

velum_val ToCell(const Value& v) {
  velum_val cell{};
  switch (v.type) {
    case ValType::kI32:
    case ValType::kF32: {
      uint32_t bits = static_cast<uint32_t>(v.lo);
      std::memcpy(&cell, &bits, 4);
      break;
    }
    case ValType::kI64:
    case ValType::kF64:
      std::memcpy(&cell, &v.lo, 8);
      break;
    case ValType::kV128:
      cell.w[0] = v.lo;
      cell.w[1] = v.hi;
      break;
    case ValType::kExternRef: {
      // Extern payload N travels as the pointer N+1, so that 0 stays null.
      void* p = v.hi ? reinterpret_cast<void*>(v.lo + 1) : nullptr;
      std::memcpy(&cell, &p, sizeof p);
      break;
    }
    case ValType::kFuncRef:
      break;  // only null funcrefs can be made by the host
  }
  return cell;
}

Value FromCell(ValType type, const velum_val& cell) {
  Value v{type, 0, 0};
  switch (type) {
    case ValType::kI32:
    case ValType::kF32: {
      uint32_t bits;
      std::memcpy(&bits, &cell, 4);
      v.lo = bits;
      break;
    }
    case ValType::kI64:
    case ValType::kF64:
      std::memcpy(&v.lo, &cell, 8);
      break;
    case ValType::kV128:
      v.lo = cell.w[0];
      v.hi = cell.w[1];
      break;
    case ValType::kExternRef: {
      void* p;
      std::memcpy(&p, &cell, sizeof p);
      if (p) v.lo = reinterpret_cast<uintptr_t>(p) - 1, v.hi = 1;
      break;
    }
    case ValType::kFuncRef: {
      wasm_rt_funcref_t f;
      std::memcpy(&f, &cell, sizeof f);
      if (f.func) v.lo = reinterpret_cast<uintptr_t>(f.func), v.hi = 1;
      break;
    }
  }
  return v;
}

struct Loaded {
  const velum_module_desc* desc = nullptr;
  bool initialised = false;
};

// The type a WASI function has in the Wasm: its i32 and i64 parameters, an i32 errno or none.
ExternType WasiExternType(const WasiSignature& sig) {
  ExternType t;
  for (WasiType p : sig.params)
    t.sig.params.push_back(p == WasiType::kI64 ? ValType::kI64 : ValType::kI32);
  if (sig.returns_errno) t.sig.results.push_back(ValType::kI32);
  return t;
}

// A WASI thunk gathers at most kMaxWasiParams (wasi.h) parameters; a function of the table
// with more is refused at link time rather than called with some dropped.

// One WASI import of an instance: the slot's target, read by WasiThunk at each call.
struct WasiBinding {
  WasiHost* host;
  const WasiSignature* sig;
  AotInstance* instance;  // whose memory the call reads and writes, as it is at that moment
};

// How a WASI call ends, once every C++ object of it is gone.
enum class WasiNext : uint8_t { kReturn, kExit, kOutOfMemory };
struct WasiStep {
  WasiNext next;
  uint32_t errno_value;
};
// WasiThunk may leave by longjmp with a WasiStep on its stack: nothing there to destroy.
static_assert(std::is_trivially_destructible_v<WasiStep>);

WasiStep RunWasi(const WasiBinding& binding, const velum_val* args) noexcept;

// The thunk of every WASI import (the slot's target is its WasiBinding). The C++ work is done
// and its objects destroyed inside RunWasi; only then may this frame leave by longjmp (proc_exit
// ends the run where it is called, however deep), which skips no destructor.
void WasiThunk(void* target, const velum_val* args, velum_val* results) {
  WasiStep step = RunWasi(*static_cast<const WasiBinding*>(target), args);
  if (step.next == WasiNext::kExit) velum_aot_leave(VELUM_AOT_EXIT);
  if (step.next == WasiNext::kOutOfMemory) velum_aot_leave(VELUM_AOT_HOST_OUT_OF_MEMORY);
  std::memcpy(&results[0], &step.errno_value, sizeof step.errno_value);
}

}  // namespace

struct AotEngine::State {
  AotCompiler* compiler;
  std::map<ModuleHash, Loaded> loaded;
  std::vector<void*> handles;  // never closed: code may be referenced by tables of instances
  std::map<std::string, AotInstance*> registered;
  std::map<ModuleHash, Error> failed;  // modules that cannot be compiled, and why
};

namespace {

class AotInstance : public Instance {
 public:
  AotInstance(ModulePtr module, const velum_module_desc* desc, InstanceLimits limits)
      : module_(std::move(module)), desc_(desc), limits_(limits) {
    memory_ = std::calloc(1, desc->instance_size);
  }
  ~AotInstance() override {
    if (instantiated_) desc_->free_instance(memory_);
    std::free(memory_);
  }

  Status Link(AotEngine::State& state);
  Status Start();
  Result<std::vector<Value>> Call(const std::string& name, const std::vector<Value>& args) override;
  Result<Value> GetGlobal(const std::string& name) override;
  const Module& module() const override { return *module_; }
  InstanceLimits& limits() override { return limits_; }

  // Export `name` of kind `kind`: its index, or -1.
  int FindExport(const std::string& name, ExternKind kind) const {
    const auto& exports = module_->exports();
    for (size_t i = 0; i < exports.size(); i++)
      if (exports[i].name == name && exports[i].kind == kind) return static_cast<int>(i);
    return -1;
  }
  // The slot another module's import of export `index` resolves to.
  velum_import_slot SlotFor(int index) {
    const velum_export_desc& e = desc_->exports[index];
    if (e.kind == VELUM_EXTERN_FUNC) return {memory_, e.call};
    return {e.get(memory_), nullptr};
  }
  ExternType TypeOf(int index) {
    const ExportInfo& e = module_->exports()[index];
    return LiveLimits(e.kind, SlotFor(index).target, e.type);
  }
  // The memory WASI calls read and write, as it is now (it moves and grows): the export
  // "memory" (the WASI ABI's), else an imported memory; none: every pointer is a fault.
  WasiMemory GuestMemory() const {
    wasm_rt_memory_t* m = imported_memory_;
    if (memory_export_ >= 0)
      m = static_cast<wasm_rt_memory_t*>(desc_->exports[memory_export_].get(memory_));
    if (!m) return {};
    // pages, not size: wasm2c's 32-bit size reads 0 for a memory of 4 GiB.
    return {m->data, uint64_t{m->pages} * InstanceLimits::kPageSize};
  }

 private:
  // Links the WASI import `imp` to limits_.wasi: its slot, and the type it has.
  Status LinkWasi(const ImportInfo& imp, velum_import_slot* slot, ExternType* have);

  Error TrapError(int code) const {
    if (code == VELUM_AOT_HOST_OUT_OF_MEMORY)
      return MakeError(ErrorKind::kMemoryLimitExceeded, "the executor ran out of memory");
    if (velum_aot_limit_hit)
      return MakeError(ErrorKind::kMemoryLimitExceeded,
                       "memory would exceed the limit of " +
                           std::to_string(limits_.max_memory_pages * 64 / 1024) + " MiB");
    return MakeTrap(TrapFromCode(code));
  }

  ModulePtr module_;
  const velum_module_desc* desc_;
  InstanceLimits limits_;
  void* memory_;
  bool instantiated_ = false;
  std::vector<velum_import_slot> slots_;
  std::vector<std::unique_ptr<WasiBinding>> wasi_;  // the slots' targets: addresses kept
  int memory_export_ = -1;                          // GuestMemory's sources
  wasm_rt_memory_t* imported_memory_ = nullptr;
};

WasiStep RunWasi(const WasiBinding& binding, const velum_val* args) noexcept {
  const WasiSignature& sig = *binding.sig;
  uint64_t in[kMaxWasiParams] = {};
  for (size_t i = 0; i < sig.params.size(); i++) {
    if (sig.params[i] == WasiType::kI64) {
      std::memcpy(&in[i], &args[i], sizeof(uint64_t));
    } else {  // the glue stored 4 bytes; the rest of the cell is not defined
      uint32_t v;
      std::memcpy(&v, &args[i], sizeof v);
      in[i] = v;
    }
  }
  try {
    WasiOutcome outcome = binding.host->Call(sig.func, in, binding.instance->GuestMemory());
    if (outcome.exit_code) return {WasiNext::kExit, 0};
    return {WasiNext::kReturn, outcome.errno_value};
  } catch (const std::bad_alloc&) {
    return {WasiNext::kOutOfMemory, 0};
  }
}

Status AotInstance::LinkWasi(const ImportInfo& imp, velum_import_slot* slot, ExternType* have) {
  const std::string where = imp.module + "." + imp.field;
  const WasiSignature* sig = FindWasiFunction(imp.field);
  if (!sig) return MakeError(ErrorKind::kUnlinkable, "unknown import " + where);
  if (sig->params.size() > kMaxWasiParams)
    return MakeError(ErrorKind::kUnlinkable, "unsupported import " + where + ": more than " +
                                                 std::to_string(kMaxWasiParams) + " parameters");
  wasi_.push_back(std::make_unique<WasiBinding>(WasiBinding{limits_.wasi, sig, this}));
  *slot = {wasi_.back().get(), &WasiThunk};
  *have = WasiExternType(*sig);
  return {};
}

Status AotInstance::Link(AotEngine::State& state) {
  slots_.push_back({VELUM_SLOTS_MAGIC, nullptr});
  for (const ImportInfo& imp : module_->imports()) {
    velum_import_slot slot{};
    ExternType have;
    ExternKind have_kind = imp.kind;
    std::string where = imp.module + "." + imp.field;
    if (imp.module == "spectest") {
      slot.target = velum_aot_spectest(imp.field.c_str(), &slot.thunk);
      if (!slot.target && !slot.thunk)
        return MakeError(ErrorKind::kUnlinkable, "unknown import " + where);
      have = SpectestType(imp.field, &have_kind);
    } else if (imp.module == kWasiModule && limits_.wasi) {
      have_kind = ExternKind::kFunc;
      if (Status s = LinkWasi(imp, &slot, &have); !s.ok()) return s;
    } else {
      auto it = state.registered.find(imp.module);
      int index = it == state.registered.end() ? -1 : it->second->FindExport(imp.field, imp.kind);
      if (index < 0) return MakeError(ErrorKind::kUnlinkable, "unknown import " + where);
      slot = it->second->SlotFor(index);
      have = it->second->TypeOf(index);
    }
    if (have_kind != imp.kind || !Matches(imp.kind, imp.type, have))
      return MakeError(ErrorKind::kUnlinkable, "incompatible import type for " + where);
    slots_.push_back(slot);
    if (imp.kind == ExternKind::kMemory && !imported_memory_)
      imported_memory_ = static_cast<wasm_rt_memory_t*>(slot.target);
  }
  memory_export_ = FindExport("memory", ExternKind::kMemory);
  return {};
}

Status AotInstance::Start() {
  velum_aot_max_pages = limits_.max_memory_pages;
  int code = velum_aot_instantiate(desc_, memory_, slots_.data());
  // proc_exit in a start function: refused as the interpreter refuses it (a trap naming it).
  if (code == VELUM_AOT_EXIT) return MakeTrap(TrapKind::kOther, kWasiExitTrap);
  if (code != 0) return TrapError(code);
  instantiated_ = true;
  return {};
}

Result<std::vector<Value>> AotInstance::Call(const std::string& name,
                                             const std::vector<Value>& args) {
  int index = FindExport(name, ExternKind::kFunc);
  if (index < 0) return module_->FindFunction(name).error();
  const FuncSig& sig = module_->exports()[index].sig;
  if (args.size() != sig.params.size())
    return MakeError(ErrorKind::kBadArguments, "expected " + std::to_string(sig.params.size()) +
                                                   " arguments, got " +
                                                   std::to_string(args.size()));
  std::vector<velum_val> in(args.size() + 1), out(sig.results.size() + 1);
  for (size_t i = 0; i < args.size(); i++) {
    if (args[i].type != sig.params[i])
      return MakeError(ErrorKind::kBadArguments, "argument " + std::to_string(i + 1) +
                                                     " has type " + ValTypeName(args[i].type));
    in[i] = ToCell(args[i]);
  }
  velum_aot_max_pages = limits_.max_memory_pages;
  int code = velum_aot_invoke(desc_->exports[index].call, memory_, in.data(), out.data());
  // The program ended itself (WASI proc_exit): a normal end, its exit code in its WasiHost.
  if (code == VELUM_AOT_EXIT) return std::vector<Value>{};
  if (code != 0) return TrapError(code);
  std::vector<Value> results;
  for (size_t i = 0; i < sig.results.size(); i++)
    results.push_back(FromCell(sig.results[i], out[i]));
  return results;
}

Result<Value> AotInstance::GetGlobal(const std::string& name) {
  int index = FindExport(name, ExternKind::kGlobal);
  if (index < 0) return MakeError(ErrorKind::kExportNotFound, "no global '" + name + "'");
  velum_val cell{};
  ValType type = module_->exports()[index].type.value_type;
  void* p = desc_->exports[index].get(memory_);
  size_t size = type == ValType::kI32 || type == ValType::kF32   ? 4
                : type == ValType::kI64 || type == ValType::kF64 ? 8
                : type == ValType::kV128                         ? 16
                : type == ValType::kFuncRef                      ? sizeof(wasm_rt_funcref_t)
                                                                 : sizeof(void*);
  std::memcpy(&cell, p, size);
  return FromCell(type, cell);
}

}  // namespace

AotEngine::AotEngine(AotCompiler* compiler) : state_(std::make_unique<State>()) {
  state_->compiler = compiler;
  velum_aot_init();
}

AotEngine::~AotEngine() = default;

bool AotEngine::IsLoaded(const Module& module) const { return state_->loaded.count(module.hash()); }

Status AotEngine::Load(const std::filesystem::path& shared_object,
                       const std::vector<ModulePtr>& modules) {
  void* handle = dlopen(shared_object.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return MakeError(ErrorKind::kCompilerFailed, std::string("dlopen: ") + dlerror());
  return Adopt(handle, shared_object.string(), modules);
}

Status AotEngine::Adopt(void* handle, const std::string& name,
                        const std::vector<ModulePtr>& modules) {
  state_->handles.push_back(handle);
  for (size_t i = 0; i < modules.size(); i++) {
    auto* desc =
        static_cast<const velum_module_desc*>(dlsym(handle, AotCompiler::SymbolFor(i).c_str()));
    if (!desc || desc->abi_version != VELUM_AOT_ABI_VERSION)
      return MakeError(ErrorKind::kCompilerFailed,
                       name + ": bad or missing " + AotCompiler::SymbolFor(i));
    state_->loaded.emplace(modules[i]->hash(), Loaded{desc, false});
  }
  return {};
}

Status AotEngine::Preload(const std::vector<ModulePtr>& modules) {
  if (modules.empty()) return {};
  auto path = state_->compiler->Compile(modules);
  if (path.ok()) return Load(*path, modules);
  if (path.error().kind != ErrorKind::kCompilerFailed) return path.error();
  // Leave out what wasm2c cannot translate (remembered, reported at instantiation) and
  // compile the rest together.
  std::vector<ModulePtr> translatable;
  for (const auto& m : modules) {
    Status t = state_->compiler->Translatable(m);
    if (t.ok())
      translatable.push_back(m);
    else
      state_->failed.emplace(m->hash(), t.error());
  }
  if (translatable.size() == modules.size()) return path.error();  // the C compiler failed
  if (translatable.empty()) return {};
  auto rest = state_->compiler->Compile(translatable);
  if (!rest.ok()) return rest.error();
  return Load(*rest, translatable);
}

Result<std::unique_ptr<Instance>> AotEngine::Instantiate(const ModulePtr& module,
                                                         const InstanceLimits& limits) {
  if (auto failed = state_->failed.find(module->hash()); failed != state_->failed.end())
    return failed->second;
  auto it = state_->loaded.find(module->hash());
  if (it == state_->loaded.end()) {
    if (Status s = Preload({module}); !s.ok()) return s.error();
    if (auto failed = state_->failed.find(module->hash()); failed != state_->failed.end())
      return failed->second;
    it = state_->loaded.find(module->hash());
  }
  Loaded& loaded = it->second;
  if (!loaded.initialised) {
    loaded.desc->init_module();
    loaded.initialised = true;
  }
  auto instance = std::make_unique<AotInstance>(module, loaded.desc, limits);
  if (Status s = instance->Link(*state_); !s.ok()) return s.error();
  if (Status s = instance->Start(); !s.ok()) return s.error();
  return std::unique_ptr<Instance>(std::move(instance));
}

void AotEngine::Register(const std::string& name, Instance* instance) {
  state_->registered[name] = static_cast<AotInstance*>(instance);
}

}  // namespace velum
