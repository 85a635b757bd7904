// The pre-pass: wabt's streaming binary reader with a counting delegate that builds nothing.
// The reader is iterative, so even a module of a million nested blocks costs no stack here.
#include "runtime/module_bounds.h"

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "wabt/binary-reader-nop.h"
#include "wabt/binary-reader.h"
#include "wabt/error-formatter.h"

namespace velum {
namespace {

// Counts as the reader goes and fails the callback at the first excess; the reader then
// stops (stop_on_first_error) and the first error recorded is the one reported.
class BoundsReader : public wabt::BinaryReaderNop {
 public:
  BoundsReader(const ModuleBounds& bounds, ModuleCounts* counts)
      : bounds_(bounds), counts_(*counts) {}

  const std::string& limit_error() const { return limit_error_; }
  bool ChargeModuleBytes(size_t size) {
    return Charge(1, ParseCost::kBase, "module bytes") &&
           Charge(size, ParseCost::kPerModuleByte, "module bytes");
  }
  wabt::Errors& errors() { return errors_; }

  bool OnError(const wabt::Error& error) override {
    // The reader reports a failed callback as "... callback failed": our own message says more.
    if (limit_error_.empty()) errors_.push_back(error);
    return true;
  }

  // Module-level vectors: the declared count is known before a single item is built.
  wabt::Result OnTypeCount(wabt::Index count) override {
    return All({Add(&counts_.types, count, bounds_.max_types, "types"),
                Charge(count, ParseCost::kPerType, "types")});
  }
  wabt::Result OnFuncType(wabt::Index, wabt::Index param_count, wabt::Type*,
                          wabt::Index result_count, wabt::Type*) override {
    // Remembered for the functions, blocks and calls that copy the signature (bounded: the
    // number of types is, by max_types and the budget).
    sig_fields_.push_back(param_count + result_count);
    return All({Check(param_count, bounds_.max_params_per_type, "parameters of a type"),
                Check(result_count, bounds_.max_params_per_type, "results of a type"),
                Charge(param_count + result_count, ParseCost::kPerSigField, "type fields")});
  }
  wabt::Result OnImportCount(wabt::Index count) override {
    return All({Add(&counts_.imports, count, bounds_.max_imports, "imports"),
                Charge(count, ParseCost::kPerImport, "imports")});
  }
  wabt::Result OnImport(wabt::Index, wabt::ExternalKind, std::string_view module_name,
                        std::string_view field_name) override {
    return All({Name(module_name, "import module name"), Name(field_name, "import name")});
  }
  wabt::Result OnImportFunc(wabt::Index, std::string_view, std::string_view, wabt::Index,
                            wabt::Index sig_index) override {
    return All({Add(&counts_.functions, 1, bounds_.max_functions, "functions"),
                Charge(1, ParseCost::kPerFunction, "functions"), Signature(sig_index)});
  }
  wabt::Result OnImportTable(wabt::Index, std::string_view, std::string_view, wabt::Index,
                             wabt::Type, const wabt::Limits* limits) override {
    return Table(*limits);
  }
  wabt::Result OnImportMemory(wabt::Index, std::string_view, std::string_view, wabt::Index,
                              const wabt::Limits*) override {
    return All({Add(&counts_.memories, 1, bounds_.max_memories, "memories")});
  }
  wabt::Result OnImportGlobal(wabt::Index, std::string_view, std::string_view, wabt::Index,
                              wabt::Type, bool) override {
    return All({Add(&counts_.globals, 1, bounds_.max_globals, "globals"),
                Charge(1, ParseCost::kPerGlobal, "globals")});
  }
  wabt::Result OnFunctionCount(wabt::Index count) override {
    return All({Add(&counts_.functions, count, bounds_.max_functions, "functions"),
                Charge(count, ParseCost::kPerFunction, "functions")});
  }
  wabt::Result OnFunction(wabt::Index, wabt::Index sig_index) override {
    return All({Signature(sig_index)});
  }
  wabt::Result OnTable(wabt::Index, wabt::Type, const wabt::Limits* limits) override {
    return Table(*limits);
  }
  wabt::Result OnMemory(wabt::Index, const wabt::Limits*) override {
    return All({Add(&counts_.memories, 1, bounds_.max_memories, "memories")});
  }
  wabt::Result OnGlobalCount(wabt::Index count) override {
    return All({Add(&counts_.globals, count, bounds_.max_globals, "globals"),
                Charge(count, ParseCost::kPerGlobal, "globals")});
  }
  wabt::Result OnExportCount(wabt::Index count) override {
    return All({Add(&counts_.exports, count, bounds_.max_exports, "exports"),
                Charge(count, ParseCost::kPerExport, "exports")});
  }
  wabt::Result OnExport(wabt::Index, wabt::ExternalKind, wabt::Index,
                        std::string_view name) override {
    return All({Name(name, "export name")});
  }
  wabt::Result OnDataSegmentCount(wabt::Index count) override {
    return All({Add(&counts_.data_segments, count, bounds_.max_data_segments, "data segments"),
                Charge(count, ParseCost::kPerSegment, "data segments")});
  }
  wabt::Result OnDataSegmentData(wabt::Index, const void*, wabt::Address size) override {
    counts_.data_bytes += size;
    return All({Charge(size, ParseCost::kPerDataByte, "bytes of data")});
  }
  wabt::Result OnElemSegmentCount(wabt::Index count) override {
    return All({Add(&counts_.elem_segments, count, bounds_.max_elem_segments, "element segments"),
                Charge(count, ParseCost::kPerSegment, "element segments")});
  }
  wabt::Result OnElemSegmentElemExprCount(wabt::Index, wabt::Index count) override {
    counts_.elem_entries += count;
    return All({Charge(count, ParseCost::kPerElemEntry, "element entries")});
  }
  wabt::Result BeginCustomSection(wabt::Index, wabt::Offset, std::string_view name) override {
    return All({Name(name, "custom section name")});
  }

  // Function bodies. Depth restarts with every body and initialiser: a malformed one must
  // not charge its unclosed blocks to the next.
  wabt::Result BeginFunctionBody(wabt::Index index, wabt::Offset) override {
    function_ = index;
    depth_ = 0;
    locals_ = 0;
    return wabt::Result::Ok;
  }
  wabt::Result OnLocalDecl(wabt::Index, wabt::Index count, wabt::Type) override {
    locals_ += count;  // 64-bit: a u32 per group cannot overflow it
    if (locals_ > counts_.max_locals) counts_.max_locals = locals_;
    return All({Check(locals_, bounds_.max_locals_per_function, "locals in function " + Function()),
                Charge(1, ParseCost::kPerLocalGroup, "local declarations")});
  }
  wabt::Result BeginGlobalInitExpr(wabt::Index) override { return Initialiser(); }
  wabt::Result BeginElemSegmentInitExpr(wabt::Index) override { return Initialiser(); }
  wabt::Result BeginDataSegmentInitExpr(wabt::Index) override { return Initialiser(); }
  wabt::Result EndGlobalInitExpr(wabt::Index) override { return EndInitialiser(); }
  wabt::Result EndElemSegmentInitExpr(wabt::Index) override { return EndInitialiser(); }
  wabt::Result EndDataSegmentInitExpr(wabt::Index) override { return EndInitialiser(); }

  wabt::Result OnOpcode(wabt::Opcode opcode) override {
    counts_.instructions++;
    return All({Charge(1, ParseCost::kPerInstruction, "instructions"),
                !in_initialiser_ || Constant(opcode)});
  }
  wabt::Result OnBrTableExpr(wabt::Index num_targets, wabt::Index*, wabt::Index) override {
    // Each target is one byte of input but one entry in the IR and the interpreter.
    counts_.instructions += num_targets;
    return All({Charge(num_targets, ParseCost::kPerInstruction, "instructions")});
  }
  wabt::Result OnCallIndirectExpr(wabt::Index sig_index, wabt::Index) override {
    return All({Signature(sig_index)});
  }
  wabt::Result OnReturnCallIndirectExpr(wabt::Index sig_index, wabt::Index) override {
    return All({Signature(sig_index)});
  }
  wabt::Result OnBlockExpr(wabt::Type type) override { return Open(type); }
  wabt::Result OnLoopExpr(wabt::Type type) override { return Open(type); }
  wabt::Result OnIfExpr(wabt::Type type) override { return Open(type); }
  wabt::Result OnTryExpr(wabt::Type type) override { return Open(type); }
  wabt::Result OnEndExpr() override {
    if (depth_ > 0) depth_--;
    return wabt::Result::Ok;
  }

 private:
  wabt::Result Initialiser() {
    function_ = kNoFunction;
    depth_ = 0;
    in_initialiser_ = true;
    return wabt::Result::Ok;
  }
  wabt::Result EndInitialiser() {
    in_initialiser_ = false;
    return wabt::Result::Ok;
  }
  // An initialiser holds constant instructions only, as the spec's validator requires. Checked
  // here because wabt 1.0.32 builds the IR before it validates: a `block` in a global's
  // initialiser makes BinaryReaderIR::OnEndExpr take back() of an empty list, an assert()
  // Debian's libwabt.a keeps (SIGABRT in velum and the node; fuzzer, 2026-12-04). With no block,
  // loop, if or try allowed, the initialiser's first `end` is its own and nothing nests.
  bool Constant(wabt::Opcode opcode) {
    switch (opcode) {
      case wabt::Opcode::I32Const:
      case wabt::Opcode::I64Const:
      case wabt::Opcode::F32Const:
      case wabt::Opcode::F64Const:
      case wabt::Opcode::V128Const:
      case wabt::Opcode::GlobalGet:
      case wabt::Opcode::RefNull:
      case wabt::Opcode::RefFunc:
      case wabt::Opcode::End:
        return true;
      default:
        if (limit_error_.empty())
          limit_error_ = "constant expression required (" + std::string(opcode.GetName()) +
                         " in an initialiser)";
        return false;
    }
  }
  wabt::Result Open(wabt::Type type) {
    depth_++;
    if (depth_ > counts_.max_depth) counts_.max_depth = depth_;
    return All({Check(depth_, bounds_.max_nesting_depth, "nesting depth in function " + Function()),
                Charge(1, ParseCost::kPerBlock, "blocks"),
                type.IsIndex() ? Signature(type.GetIndex()) : true});
  }
  wabt::Result Table(const wabt::Limits& limits) {
    return All({Add(&counts_.tables, 1, bounds_.max_tables, "tables"),
                Check(limits.initial, bounds_.max_table_elements, "initial table elements"),
                Charge(1, ParseCost::kPerTable, "tables")});
  }
  // A signature copied by a function, block or call: its fields are charged again.
  bool Signature(wabt::Index sig_index) {
    if (sig_index >= sig_fields_.size()) return true;  // invalid: wabt will say so
    return Charge(sig_fields_[sig_index], ParseCost::kPerSigField, "signature fields");
  }
  bool Add(uint64_t* total, uint64_t more, uint64_t limit, const char* what) {
    *total += more;  // every addend is a u32 or a section size: no overflow in 64 bits
    return Check(*total, limit, what);
  }
  bool Name(std::string_view name, const char* what) {
    return Check(name.size(), bounds_.max_name_bytes, std::string("bytes in an ") + what) &&
           Charge(name.size(), ParseCost::kPerNameByte, "bytes of names");
  }
  bool Check(uint64_t value, uint64_t limit, const std::string& what) {
    if (value <= limit) return true;
    Refuse(what + " " + std::to_string(value) + " exceeds the limit of " + std::to_string(limit));
    return false;
  }
  // Adds units * cost to the estimate; `what` names the items that passed the budget.
  bool Charge(uint64_t units, uint64_t cost, const char* what) {
    counts_.parse_bytes += units * cost;  // units < 2^33, costs < 2^10: no overflow
    if (counts_.parse_bytes <= bounds_.max_parse_bytes) return true;
    Refuse("parsing would take an estimated " + Mib(counts_.parse_bytes) + " (at " + what +
           "), over the budget of " + Mib(bounds_.max_parse_bytes));
    return false;
  }
  void Refuse(const std::string& why) {
    if (limit_error_.empty()) limit_error_ = "module too complex: " + why;
  }
  static std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }
  // Every check runs, in order (a braced list is evaluated left to right): the first failure
  // is the one reported.
  static wabt::Result All(std::initializer_list<bool> passed) {
    for (bool ok : passed)
      if (!ok) return wabt::Result::Error;
    return wabt::Result::Ok;
  }
  std::string Function() const {
    return function_ == kNoFunction ? std::string("initialiser") : std::to_string(function_);
  }

  static constexpr wabt::Index kNoFunction = ~wabt::Index{0};
  const ModuleBounds& bounds_;
  ModuleCounts& counts_;
  std::string limit_error_;
  wabt::Errors errors_;
  std::vector<uint64_t> sig_fields_;  // params + results of each type
  wabt::Index function_ = kNoFunction;
  uint64_t depth_ = 0;
  uint64_t locals_ = 0;
  bool in_initialiser_ = false;  // between Begin*InitExpr and End*InitExpr
};

}  // namespace

Status CheckModuleBounds(const uint8_t* data, size_t size, const ModuleBounds& bounds,
                         ModuleCounts* counts) {
  ModuleCounts scratch;
  if (!counts) counts = &scratch;
  *counts = {};
  BoundsReader reader(bounds, counts);
  if (!reader.ChargeModuleBytes(size))
    return MakeError(ErrorKind::kInvalidModule, reader.limit_error());
  wabt::Features features;  // the set Module::FromBytes parses with
  wabt::ReadBinaryOptions options(features, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/true);
  if (wabt::Succeeded(wabt::ReadBinary(data, size, &reader, options))) return {};
  if (!reader.limit_error().empty())
    return MakeError(ErrorKind::kInvalidModule, reader.limit_error());
  std::string text = wabt::FormatErrorsToString(reader.errors(), wabt::Location::Type::Binary);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& c : text)
    if (c == '\n') c = ';';
  return MakeError(ErrorKind::kInvalidModule, text.empty() ? "malformed module" : text);
}

}  // namespace velum
