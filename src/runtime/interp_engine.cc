// The wabt interpreter behind the Engine interface, with a spectest host module and a linker.
// Calls run in batches of instructions so deadlines and cancellation are checked as they go.
#include "runtime/interp_engine.h"

#include <map>
#include <memory>

#include "runtime/wasi.h"
#include "wabt/binary-reader.h"
#include "wabt/error-formatter.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"

namespace velum {

namespace interp = wabt::interp;

// wabt runs a call to completion in Func::Call. To meter it we need the three steps that
// Func::Call is made of (push arguments, push the frame, pop results), which wabt keeps
// private. Explicit template instantiation may name private members (C++ [temp.spec]/6),
// which gives pointers to them without patching wabt.
namespace {
using PushValuesFn = void (interp::Thread::*)(const interp::ValueTypes&, const interp::Values&);
using PopValuesFn = void (interp::Thread::*)(const interp::ValueTypes&, interp::Values*);
using PushCallFn = interp::RunResult (interp::Thread::*)(const interp::DefinedFunc&,
                                                         interp::Trap::Ptr*);
template <typename Tag>
struct Stolen {
  static typename Tag::type ptr;
};
template <typename Tag>
typename Tag::type Stolen<Tag>::ptr;
template <typename Tag, typename Tag::type M>
struct Steal {
  struct Init {
    Init() { Stolen<Tag>::ptr = M; }
  };
  static Init init;
};
template <typename Tag, typename Tag::type M>
typename Steal<Tag, M>::Init Steal<Tag, M>::init;

struct PushValuesTag {
  using type = PushValuesFn;
};
struct PopValuesTag {
  using type = PopValuesFn;
};
struct PushCallTag {
  using type = PushCallFn;
};
template struct Steal<PushValuesTag, &interp::Thread::PushValues>;
template struct Steal<PopValuesTag, &interp::Thread::PopValues>;
template struct Steal<PushCallTag, static_cast<PushCallFn>(&interp::Thread::PushCall)>;

constexpr int kInstructionBatch = 100000;

interp::ValueType ToWabt(ValType t) {
  switch (t) {
    case ValType::kI32:
      return interp::ValueType::I32;
    case ValType::kI64:
      return interp::ValueType::I64;
    case ValType::kF32:
      return interp::ValueType::F32;
    case ValType::kF64:
      return interp::ValueType::F64;
    case ValType::kV128:
      return interp::ValueType::V128;
    case ValType::kFuncRef:
      return interp::ValueType::FuncRef;
    case ValType::kExternRef:
      return interp::ValueType::ExternRef;
  }
  return interp::ValueType::I32;
}

ValType FromWabt(interp::ValueType t) {
  switch (t) {
    case interp::ValueType::I32:
      return ValType::kI32;
    case interp::ValueType::I64:
      return ValType::kI64;
    case interp::ValueType::F32:
      return ValType::kF32;
    case interp::ValueType::F64:
      return ValType::kF64;
    case interp::ValueType::V128:
      return ValType::kV128;
    case interp::ValueType::FuncRef:
      return ValType::kFuncRef;
    default:
      return ValType::kExternRef;
  }
}

// Extern references made by the caller are host objects of the store (wabt checks a
// stored reference's type by looking its object up), one per payload, made on first use.
class ExternRefs {
 public:
  explicit ExternRefs(interp::Store& store) : store_(store) {}
  interp::Ref ToRef(uint64_t payload) {
    auto it = objects_.find(payload);
    if (it != objects_.end()) return it->second.ref();
    auto object = interp::Foreign::New(store_, nullptr);
    interp::Ref ref = object.ref();
    payloads_[ref.index] = payload;
    objects_.emplace(payload, std::move(object));
    return ref;
  }
  uint64_t ToPayload(interp::Ref ref) const {
    auto it = payloads_.find(ref.index);
    return it != payloads_.end() ? it->second : ref.index;
  }

 private:
  interp::Store& store_;
  std::map<uint64_t, interp::Foreign::Ptr> objects_;
  std::map<size_t, uint64_t> payloads_;
};

interp::Value ToWabtValue(const Value& v, ExternRefs& externs) {
  switch (v.type) {
    case ValType::kI32:
      return interp::Value::Make(static_cast<uint32_t>(v.lo));
    case ValType::kI64:
      return interp::Value::Make(static_cast<uint64_t>(v.lo));
    case ValType::kF32:
      return interp::Value::Make(v.f32());
    case ValType::kF64:
      return interp::Value::Make(v.f64());
    case ValType::kV128: {
      ::v128 x;
      std::memcpy(&x, &v.lo, 8);
      std::memcpy(reinterpret_cast<char*>(&x) + 8, &v.hi, 8);
      return interp::Value::Make(x);
    }
    case ValType::kFuncRef:
      return interp::Value::Make(v.hi ? interp::Ref(v.lo) : interp::Ref::Null);
    case ValType::kExternRef:
      return interp::Value::Make(v.hi ? externs.ToRef(v.lo) : interp::Ref::Null);
  }
  return {};
}

Value FromWabtValue(interp::ValueType type, const interp::Value& v, const ExternRefs& externs) {
  switch (FromWabt(type)) {
    case ValType::kI32:
      return Value{ValType::kI32, v.Get<uint32_t>(), 0};
    case ValType::kI64:
      return Value{ValType::kI64, v.Get<uint64_t>(), 0};
    case ValType::kF32:
      return Value::F32(v.Get<float>());
    case ValType::kF64:
      return Value::F64(v.Get<double>());
    case ValType::kV128: {
      ::v128 x = v.Get<::v128>();
      Value out{ValType::kV128, 0, 0};
      std::memcpy(&out.lo, &x, 8);
      std::memcpy(&out.hi, reinterpret_cast<char*>(&x) + 8, 8);
      return out;
    }
    case ValType::kFuncRef:
    case ValType::kExternRef: {
      interp::Ref r = v.Get<interp::Ref>();
      ValType t = FromWabt(type);
      if (r == interp::Ref::Null) return Value{t, 0, 0};
      return Value{t, t == ValType::kExternRef ? externs.ToPayload(r) : r.index, 1};
    }
  }
  return {};
}

TrapKind ClassifyTrap(const std::string& message) {
  struct {
    const char* text;
    TrapKind kind;
  } static const kTable[] = {
      {"unreachable", TrapKind::kUnreachable},
      {"divide by zero", TrapKind::kIntegerDivideByZero},
      {"integer overflow", TrapKind::kIntegerOverflow},
      {"invalid conversion", TrapKind::kInvalidConversion},
      {"out of bounds memory", TrapKind::kOutOfBoundsMemory},
      {"out of bounds table", TrapKind::kOutOfBoundsTable},
      {"indirect call signature mismatch", TrapKind::kIndirectCallMismatch},
      {"uninitialized table element", TrapKind::kUninitializedElement},
      {"undefined table index", TrapKind::kOutOfBoundsTable},
      {"call stack exhausted", TrapKind::kStackExhausted},
      {"null", TrapKind::kNullReference},
  };
  for (const auto& row : kTable)
    if (message.find(row.text) != std::string::npos) return row.kind;
  return TrapKind::kOther;
}

class InterpEngine;

class InterpInstance : public Instance {
 public:
  InterpInstance(InterpEngine* engine, ModulePtr module, interp::Instance::Ptr instance,
                 interp::Module::Ptr wmodule, InstanceLimits limits, bool memory_clamped)
      : engine_(engine),
        module_(std::move(module)),
        instance_(std::move(instance)),
        wmodule_(std::move(wmodule)),
        limits_(limits),
        memory_clamped_(memory_clamped) {}

  Result<std::vector<Value>> Call(const std::string& name, const std::vector<Value>& args) override;
  Result<Value> GetGlobal(const std::string& name) override;
  const Module& module() const override { return *module_; }
  InstanceLimits& limits() override { return limits_; }

  // The export `name` as a Ref into the store, if it exists.
  bool FindExport(const std::string& name, interp::Ref* out) const {
    const auto& types = wmodule_->export_types();
    for (size_t i = 0; i < types.size(); i++) {
      if (types[i].name == name) {
        *out = instance_->exports()[i];
        return true;
      }
    }
    return false;
  }

 private:
  Result<std::vector<Value>> RunMetered(interp::Func::Ptr func, const std::vector<Value>& args);
  bool AtMemoryLimit();

  InterpEngine* engine_;
  ModulePtr module_;
  interp::Instance::Ptr instance_;
  interp::Module::Ptr wmodule_;
  InstanceLimits limits_;
  bool memory_clamped_;
};

class InterpEngine : public Engine {
 public:
  InterpEngine() { MakeSpectest(); }
  EngineKind kind() const override { return EngineKind::kInterp; }
  Result<std::unique_ptr<Instance>> Instantiate(const ModulePtr& module,
                                                const InstanceLimits& limits) override;
  void Register(const std::string& name, Instance* instance) override {
    registered_[name] = static_cast<InterpInstance*>(instance);
  }
  interp::Store& store() { return store_; }
  ExternRefs& externs() { return externs_; }

 private:
  // What a WASI program's host functions need: its host, and its memory once instantiated.
  struct WasiLink {
    WasiHost* host = nullptr;
    interp::Ref memory = interp::Ref::Null;
  };
  void MakeSpectest();
  bool Resolve(const interp::ImportType& import, interp::Ref* out);
  // A host function of `link` for the WASI import `import`; false: not one this host has, or
  // declared with another type (the import is then unknown or incompatible, as any other).
  bool ResolveWasi(const interp::ImportType& import, const std::shared_ptr<WasiLink>& link,
                   interp::Ref* out);

  interp::Store store_;
  ExternRefs externs_{store_};
  std::map<std::pair<std::string, std::string>, interp::Ref> spectest_;
  std::vector<interp::Object::Ptr> keep_alive_;
  std::map<std::string, InterpInstance*> registered_;
};

void InterpEngine::MakeSpectest() {
  using interp::ValueType;
  auto add = [&](const std::string& name, interp::Object::Ptr object) {
    spectest_[{"spectest", name}] = object.ref();
    keep_alive_.push_back(std::move(object));
  };
  auto print = [&](const std::string& name, interp::ValueTypes params) {
    add(name,
        interp::HostFunc::New(store_, interp::FuncType(params, {}),
                              [](interp::Thread&, const interp::Values&, interp::Values&,
                                 interp::Trap::Ptr*) -> wabt::Result { return wabt::Result::Ok; }));
  };
  print("print", {});
  print("print_i32", {ValueType::I32});
  print("print_i64", {ValueType::I64});
  print("print_f32", {ValueType::F32});
  print("print_f64", {ValueType::F64});
  print("print_i32_f32", {ValueType::I32, ValueType::F32});
  print("print_f64_f64", {ValueType::F64, ValueType::F64});
  auto global = [&](const std::string& name, ValueType type, interp::Value value) {
    add(name,
        interp::Global::New(store_, interp::GlobalType(type, interp::Mutability::Const), value));
  };
  global("global_i32", ValueType::I32, interp::Value::Make(uint32_t{666}));
  global("global_i64", ValueType::I64, interp::Value::Make(uint64_t{666}));
  global("global_f32", ValueType::F32, interp::Value::Make(666.6f));
  global("global_f64", ValueType::F64, interp::Value::Make(666.6));
  add("table",
      interp::Table::New(store_, interp::TableType(ValueType::FuncRef, wabt::Limits(10, 20))));
  add("memory", interp::Memory::New(store_, interp::MemoryType(wabt::Limits(1, 2))));
}

bool InterpEngine::ResolveWasi(const interp::ImportType& import,
                               const std::shared_ptr<WasiLink>& link, interp::Ref* out) {
  const WasiSignature* sig = FindWasiFunction(import.name);
  if (!sig) return false;
  interp::ValueTypes params, results;
  for (WasiType t : sig->params)
    params.push_back(t == WasiType::kI64 ? interp::ValueType::I64 : interp::ValueType::I32);
  if (sig->returns_errno) results.push_back(interp::ValueType::I32);
  interp::Store* store = &store_;
  auto func = interp::HostFunc::New(
      store_, interp::FuncType(params, results),
      [store, link, sig](interp::Thread&, const interp::Values& in, interp::Values& out,
                         interp::Trap::Ptr* trap) -> wabt::Result {
        uint64_t args[kMaxWasiParams] = {};
        for (size_t i = 0; i < sig->params.size() && i < kMaxWasiParams; i++)
          args[i] =
              sig->params[i] == WasiType::kI64 ? in[i].Get<uint64_t>() : in[i].Get<uint32_t>();
        WasiMemory memory;
        if (link->memory != interp::Ref::Null) {
          auto mem = store->UnsafeGet<interp::Memory>(link->memory);
          memory.data = mem->UnsafeData();
          memory.size = mem->ByteSize();
        }
        WasiOutcome outcome = link->host->Call(sig->func, args, memory);
        if (outcome.exit_code) {
          *trap = interp::Trap::New(*store, kWasiExitTrap);
          return wabt::Result::Error;
        }
        if (sig->returns_errno) {
          if (out.empty()) out.resize(1);
          out[0] = interp::Value::Make(outcome.errno_value);
        }
        return wabt::Result::Ok;
      });
  *out = func.ref();
  keep_alive_.push_back(std::move(func));
  return true;
}

bool InterpEngine::Resolve(const interp::ImportType& import, interp::Ref* out) {
  auto it = spectest_.find({import.module, import.name});
  if (it != spectest_.end()) {
    *out = it->second;
    return true;
  }
  auto reg = registered_.find(import.module);
  return reg != registered_.end() && reg->second->FindExport(import.name, out);
}

Result<std::unique_ptr<Instance>> InterpEngine::Instantiate(const ModulePtr& module,
                                                            const InstanceLimits& limits) {
  wabt::Features features;
  wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
  wabt::Errors errors;
  interp::ModuleDesc desc;
  const auto& bytes = module->bytes();
  if (wabt::Failed(interp::ReadBinaryInterp("module", bytes.data(), bytes.size(), options, &errors,
                                            &desc))) {
    return MakeError(ErrorKind::kInvalidModule,
                     wabt::FormatErrorsToString(errors, wabt::Location::Type::Binary));
  }
  // Enforce the memory limit by lowering the declared maximum: memory.grow past it then
  // returns -1 as the spec allows. A limit of 65536 pages (4 GiB) is "no limit" and leaves
  // the declaration untouched, which keeps import matching exactly as the spec defines it.
  bool clamped = false;
  if (limits.max_memory_pages < 65536) {
    for (auto& mem : desc.memories) {
      auto& l = mem.type.limits;
      if (l.initial > limits.max_memory_pages) {
        return MakeError(ErrorKind::kMemoryLimitExceeded,
                         "module needs " + std::to_string(l.initial * 64 / 1024) +
                             " MiB of initial memory, limit is " +
                             std::to_string(limits.max_memory_pages * 64 / 1024) + " MiB");
      }
      if (!l.has_max || l.max > limits.max_memory_pages) {
        l.has_max = true;
        l.max = limits.max_memory_pages;
        clamped = true;
      }
    }
  }
  // Tables count against the same limit: a table's entries are host memory (a Ref each, and
  // a growing vector may briefly hold two copies), so table.grow past it returns -1 too.
  if (limits.max_memory_pages < 65536) {
    const uint64_t max_elements =
        uint64_t{limits.max_memory_pages} * 65536 / (2 * sizeof(interp::Ref));
    for (auto& table : desc.tables) {
      auto& l = table.type.limits;
      if (l.initial > max_elements) {
        return MakeError(ErrorKind::kMemoryLimitExceeded,
                         "module needs a table of " + std::to_string(l.initial) +
                             " entries, limit is " + std::to_string(max_elements));
      }
      if (!l.has_max || l.max > max_elements) {
        l.has_max = true;
        l.max = max_elements;
      }
    }
  }
  interp::Module::Ptr wmodule = interp::Module::New(store_, desc);

  interp::RefVec imports;
  std::shared_ptr<WasiLink> wasi;
  if (limits.wasi) {
    wasi = std::make_shared<WasiLink>();
    wasi->host = limits.wasi;
  }
  for (const auto& import : wmodule->import_types()) {
    interp::Ref ref;
    bool resolved = wasi && import.module == kWasiModule ? ResolveWasi(import, wasi, &ref)
                                                         : Resolve(import, &ref);
    if (!resolved) {
      return MakeError(ErrorKind::kUnlinkable,
                       "unknown import " + import.module + "." + import.name);
    }
    interp::Trap::Ptr trap;
    interp::Extern::Ptr ext = store_.UnsafeGet<interp::Extern>(ref);
    if (wabt::Failed(ext->Match(store_, import, &trap))) {
      return MakeError(ErrorKind::kUnlinkable, "incompatible import " + import.module + "." +
                                                   import.name + ": " + trap->message());
    }
    imports.push_back(ref);
  }
  interp::Trap::Ptr trap;
  interp::Instance::Ptr instance =
      interp::Instance::Instantiate(store_, wmodule.ref(), imports, &trap);
  if (!instance) {
    std::string message = trap ? trap->message() : "instantiation failed";
    return MakeTrap(ClassifyTrap(message), message);
  }
  if (wasi) {  // the program's own memory, which its WASI calls read and write
    const auto& types = wmodule->export_types();
    for (size_t i = 0; i < types.size(); i++)
      if (types[i].name == "memory" && store_.Is<interp::Memory>(instance->exports()[i]))
        wasi->memory = instance->exports()[i];
    // None exported: an imported one (the instance lists imported memories first), as the
    // AOT tier does.
    bool imports_memory = false;
    for (const ImportInfo& import : module->imports())
      imports_memory |= import.kind == ExternKind::kMemory;
    if (wasi->memory == interp::Ref::Null && imports_memory && !instance->memories().empty())
      wasi->memory = instance->memories()[0];
  }
  return std::unique_ptr<Instance>(
      new InterpInstance(this, module, std::move(instance), std::move(wmodule), limits, clamped));
}

bool InterpInstance::AtMemoryLimit() {
  if (!memory_clamped_) return false;
  for (interp::Ref ref : instance_->memories()) {
    auto mem = engine_->store().UnsafeGet<interp::Memory>(ref);
    if (mem->PageSize() >= limits_.max_memory_pages) return true;
  }
  return false;
}

Result<std::vector<Value>> InterpInstance::Call(const std::string& name,
                                                const std::vector<Value>& args) {
  interp::Ref ref;
  if (!FindExport(name, &ref) || !engine_->store().Is<interp::Func>(ref)) {
    auto found = module_->FindFunction(name);
    return found.ok() ? MakeError(ErrorKind::kInternal, "export table mismatch") : found.error();
  }
  interp::Func::Ptr func = engine_->store().UnsafeGet<interp::Func>(ref);
  const auto& type = func->type();
  if (args.size() != type.params.size())
    return MakeError(ErrorKind::kBadArguments, "expected " + std::to_string(type.params.size()) +
                                                   " arguments, got " +
                                                   std::to_string(args.size()));
  for (size_t i = 0; i < args.size(); i++) {
    if (ToWabt(args[i].type) != type.params[i])
      return MakeError(ErrorKind::kBadArguments, "argument " + std::to_string(i + 1) +
                                                     " has type " + ValTypeName(args[i].type));
  }
  auto result = RunMetered(func, args);
  if (!result.ok() && result.error().kind == ErrorKind::kTrap && AtMemoryLimit()) {
    return MakeError(ErrorKind::kMemoryLimitExceeded,
                     "memory.grow was refused at the limit of " +
                         std::to_string(limits_.max_memory_pages * 64 / 1024) +
                         " MiB, then the code trapped (" + TrapKindName(result.error().trap) + ")");
  }
  return result;
}

Result<std::vector<Value>> InterpInstance::RunMetered(interp::Func::Ptr func,
                                                      const std::vector<Value>& args) {
  interp::Store& store = engine_->store();
  const interp::FuncType& type = func->type();
  interp::Values params;
  for (const auto& a : args) params.push_back(ToWabtValue(a, engine_->externs()));
  interp::Values results;
  interp::Trap::Ptr trap;
  interp::Thread thread(store);

  if (!store.Is<interp::DefinedFunc>(func.ref())) {
    // A host function re-exported: nothing to meter.
    if (wabt::Failed(func->Call(thread, params, results, &trap)))
      return MakeTrap(ClassifyTrap(trap->message()), trap->message());
  } else {
    auto defined = store.UnsafeGet<interp::DefinedFunc>(func.ref());
    (thread.*Stolen<PushValuesTag>::ptr)(type.params, params);
    interp::RunResult run = (thread.*Stolen<PushCallTag>::ptr)(*defined, &trap);
    while (run == interp::RunResult::Ok) {
      run = thread.Run(kInstructionBatch, &trap);
      if (trap) run = interp::RunResult::Trap;  // wabt's DoCall can report Ok with a trap set
      if (run != interp::RunResult::Ok) break;
      if (limits_.cancel && limits_.cancel->load(std::memory_order_relaxed))
        return MakeError(ErrorKind::kCancelled, "the call was cancelled");
      if (std::chrono::steady_clock::now() > limits_.deadline)
        return MakeError(ErrorKind::kDeadlineExceeded, "the call ran past its deadline");
    }
    if (run == interp::RunResult::Trap) {
      if (limits_.wasi && limits_.wasi->exit_code()) return std::vector<Value>{};  // proc_exit
      return MakeTrap(ClassifyTrap(trap->message()), trap->message());
    }
    if (run == interp::RunResult::Exception)
      return MakeTrap(TrapKind::kOther, "uncaught exception");
    (thread.*Stolen<PopValuesTag>::ptr)(type.results, &results);
  }
  std::vector<Value> out;
  for (size_t i = 0; i < results.size(); i++)
    out.push_back(FromWabtValue(type.results[i], results[i], engine_->externs()));
  return out;
}

Result<Value> InterpInstance::GetGlobal(const std::string& name) {
  interp::Ref ref;
  if (!FindExport(name, &ref) || !engine_->store().Is<interp::Global>(ref))
    return MakeError(ErrorKind::kExportNotFound, "no global '" + name + "'");
  auto global = engine_->store().UnsafeGet<interp::Global>(ref);
  return FromWabtValue(global->type().type, global->Get(), engine_->externs());
}

}  // namespace

std::unique_ptr<Engine> NewInterpEngine() { return std::make_unique<InterpEngine>(); }

}  // namespace velum
