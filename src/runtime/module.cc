// Module loading: a bounded pre-pass, then wabt parses and validates, libsodium hashes, and the
// IR gives signatures. Nothing here executes code; an invalid module gets wabt's own message.
#include "runtime/module.h"

#include <sodium.h>

#include "runtime/file_reader.h"
#include "runtime/wasi.h"
#include "wabt/binary-reader-ir.h"
#include "wabt/binary-reader.h"
#include "wabt/cast.h"
#include "wabt/error-formatter.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/ir.h"
#include "wabt/validator.h"

namespace velum {

const char* ExternKindName(ExternKind kind) {
  switch (kind) {
    case ExternKind::kFunc:
      return "func";
    case ExternKind::kTable:
      return "table";
    case ExternKind::kMemory:
      return "memory";
    case ExternKind::kGlobal:
      return "global";
    case ExternKind::kTag:
      return "tag";
  }
  return "?";
}

std::string HashToHex(const ModuleHash& hash) {
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, hash.data(), hash.size());
  return hex;
}

ModuleHash HashBytes(const uint8_t* data, size_t size) {
  ModuleHash hash;
  crypto_generichash(hash.data(), hash.size(), data, size, nullptr, 0);
  return hash;
}

namespace {

ValType FromWabt(wabt::Type type) {
  switch (type) {
    case wabt::Type::I32:
      return ValType::kI32;
    case wabt::Type::I64:
      return ValType::kI64;
    case wabt::Type::F32:
      return ValType::kF32;
    case wabt::Type::F64:
      return ValType::kF64;
    case wabt::Type::V128:
      return ValType::kV128;
    case wabt::Type::FuncRef:
      return ValType::kFuncRef;
    default:
      return ValType::kExternRef;
  }
}

FuncSig SigFromWabt(const wabt::FuncSignature& sig) {
  FuncSig out;
  for (auto t : sig.param_types) out.params.push_back(FromWabt(t));
  for (auto t : sig.result_types) out.results.push_back(FromWabt(t));
  return out;
}

ExternKind KindFromWabt(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func:
      return ExternKind::kFunc;
    case wabt::ExternalKind::Table:
      return ExternKind::kTable;
    case wabt::ExternalKind::Memory:
      return ExternKind::kMemory;
    case wabt::ExternalKind::Global:
      return ExternKind::kGlobal;
    case wabt::ExternalKind::Tag:
      return ExternKind::kTag;
  }
  return ExternKind::kFunc;
}

ExternType LimitsType(const wabt::Limits& limits) {
  ExternType t;
  t.initial = limits.initial;
  t.max = limits.max;
  t.has_max = limits.has_max;
  return t;
}

ExternType ExportType(const wabt::Module& ir, const wabt::Export& e) {
  switch (e.kind) {
    case wabt::ExternalKind::Func:
      return ExternType{SigFromWabt(ir.GetFunc(e.var)->decl.sig)};
    case wabt::ExternalKind::Global: {
      const wabt::Global* g = ir.GetGlobal(e.var);
      ExternType t;
      t.value_type = FromWabt(g->type);
      t.is_mutable = g->mutable_;
      return t;
    }
    case wabt::ExternalKind::Memory:
      return LimitsType(ir.GetMemory(e.var)->page_limits);
    case wabt::ExternalKind::Table: {
      const wabt::Table* table = ir.GetTable(e.var);
      ExternType t = LimitsType(table->elem_limits);
      t.value_type = FromWabt(table->elem_type);
      return t;
    }
    default:
      return {};
  }
}

ExternType ImportType(const wabt::Import& i) {
  if (auto* f = wabt::dyn_cast<wabt::FuncImport>(&i))
    return ExternType{SigFromWabt(f->func.decl.sig)};
  if (auto* g = wabt::dyn_cast<wabt::GlobalImport>(&i)) {
    ExternType t;
    t.value_type = FromWabt(g->global.type);
    t.is_mutable = g->global.mutable_;
    return t;
  }
  if (auto* m = wabt::dyn_cast<wabt::MemoryImport>(&i)) return LimitsType(m->memory.page_limits);
  if (auto* tb = wabt::dyn_cast<wabt::TableImport>(&i)) {
    ExternType t = LimitsType(tb->table.elem_limits);
    t.value_type = FromWabt(tb->table.elem_type);
    return t;
  }
  return {};
}

std::string FirstLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& c : text)
    if (c == '\n') c = ';';
  return text;
}

}  // namespace

Result<ModulePtr> Module::FromBytes(std::vector<uint8_t> bytes, const ModuleBounds& bounds) {
  if (sodium_init() < 0) return MakeError(ErrorKind::kInternal, "libsodium failed to initialise");
  if (bytes.size() < 8 || std::memcmp(bytes.data(), "\0asm", 4) != 0) {
    return MakeError(ErrorKind::kInvalidModule, bytes.size() < 4
                                                    ? "file too short to be a wasm module"
                                                    : "not a wasm module (bad magic number)");
  }
  // Before any IR exists: wabt builds and frees it recursively and at about a hundred bytes
  // per byte of input, so nesting and counts are bounded first (module_bounds.h).
  if (Status bounded = CheckModuleBounds(bytes.data(), bytes.size(), bounds); !bounded.ok())
    return bounded.error();
  wabt::Features features;  // defaults: the WebAssembly 2.0 feature set
  wabt::ReadBinaryOptions options(features, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/true);
  wabt::Errors errors;
  wabt::Module ir;
  wabt::interp::ModuleDesc desc;  // the interpreter's reader validates constant expressions fully
  if (wabt::Failed(
          wabt::ReadBinaryIr("module", bytes.data(), bytes.size(), options, &errors, &ir)) ||
      wabt::Failed(wabt::ValidateModule(&ir, &errors, wabt::ValidateOptions(features))) ||
      wabt::Failed(wabt::interp::ReadBinaryInterp("module", bytes.data(), bytes.size(), options,
                                                  &errors, &desc))) {
    return MakeError(ErrorKind::kInvalidModule,
                     FirstLine(wabt::FormatErrorsToString(errors, wabt::Location::Type::Binary)));
  }

  auto module = std::shared_ptr<Module>(new Module());
  for (const wabt::Export* e : ir.exports) {
    ExportInfo info{e->name, KindFromWabt(e->kind), {}, ExportType(ir, *e)};
    info.sig = info.type.sig;
    module->exports_.push_back(std::move(info));
  }
  for (const wabt::Import* i : ir.imports) {
    ImportInfo info{i->module_name, i->field_name, KindFromWabt(i->kind()), {}, ImportType(*i)};
    info.sig = info.type.sig;
    module->imports_.push_back(std::move(info));
  }
  module->hash_ = HashBytes(bytes.data(), bytes.size());
  module->bytes_ = std::move(bytes);
  return ModulePtr(std::move(module));
}

Result<ModulePtr> Module::FromFile(const std::filesystem::path& path, uint64_t max_bytes) {
  auto bytes = ReadFileBounded(path, max_bytes, "the module size limit");
  if (!bytes.ok()) return bytes.error();
  auto module = FromBytes(std::move(*bytes));
  if (!module.ok()) {
    Error e = module.error();
    e.message = path.filename().string() + ": " + e.message;
    return e;
  }
  return module;
}

bool Module::ImportsWasi() const {
  for (const auto& i : imports_)
    if (i.module == kWasiModule) return true;
  return false;
}

Result<const ExportInfo*> Module::FindFunction(const std::string& name) const {
  std::string available;
  for (const auto& e : exports_) {
    if (e.kind != ExternKind::kFunc) continue;
    if (e.name == name) return &e;
    if (!available.empty()) available += ", ";
    available += e.name + e.sig.ToString();
  }
  return MakeError(ErrorKind::kExportNotFound,
                   "no function '" + name +
                       "'; exports: " + (available.empty() ? std::string("(none)") : available));
}

}  // namespace velum
