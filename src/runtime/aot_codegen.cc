// Glue generation for compiled modules. wasm2c names symbols after the generated import and
// export names; we read those symbols back from its header rather than re-deriving its mangling.
#include "runtime/aot_codegen.h"

#include <map>
#include <sstream>
#include <vector>

#include "runtime/aot_rewrite.h"

namespace velum {

extern const char kAotAbiSource[];

namespace {

const char* CType(ValType t) {
  switch (t) {
    case ValType::kI32:
      return "u32";
    case ValType::kI64:
      return "u64";
    case ValType::kF32:
      return "f32";
    case ValType::kF64:
      return "f64";
    case ValType::kV128:
      return "v128";
    case ValType::kFuncRef:
      return "wasm_rt_funcref_t";
    case ValType::kExternRef:
      return "wasm_rt_externref_t";
  }
  return "u32";
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The identifier just before the first '(' of a prototype, or after the last '*'/space of a
// struct field declaration ("wasm_rt_memory_t *Z_spectestZ_memory;").
std::string DeclaredName(const std::string& line) {
  size_t end = line.find('(');
  if (end == std::string::npos) end = line.find(';');
  if (end == std::string::npos) return {};
  size_t begin = line.find_last_of(" *", end - 1);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return line.substr(begin, end - begin);
}

// Text before the declared name: the return type of a prototype.
std::string ReturnType(const std::string& line, const std::string& name) {
  std::string type = line.substr(0, line.find(name));
  if (StartsWith(type, "extern ")) type = type.substr(7);
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type;
}

// "/* import: 'M' 'f' */" -> {M, f} (generated names: no quotes inside).
bool ParseImportComment(const std::string& line, std::string* module, std::string* field) {
  const std::string head = "/* import: '", mid = "' '", tail = "' */";
  size_t a = line.find(head);
  if (a == std::string::npos) return false;
  size_t m = line.find(mid, a + head.size());
  size_t t = line.rfind(tail);
  if (m == std::string::npos || t == std::string::npos || t < m) return false;
  *module = line.substr(a + head.size(), m - a - head.size());
  *field = line.substr(m + mid.size(), t - m - mid.size());
  return true;
}

// The type of the first parameter of the prototype of `name` ("struct Z_M_instance_t*").
std::string FirstParamType(const std::vector<std::string>& lines, const std::string& name) {
  for (const auto& line : lines) {
    size_t at = line.find(" " + name + "(");
    if (at == std::string::npos) continue;
    size_t open = at + name.size() + 2;
    size_t close = line.find_first_of(",)", open);
    if (close != std::string::npos) return line.substr(open, close - open);
  }
  return {};
}

// Field names of "struct wasm_multi_X { T a0; T b1; };" in declaration order.
std::vector<std::string> MultiFields(const std::vector<std::string>& lines,
                                     const std::string& type) {
  std::vector<std::string> fields;
  for (size_t i = 0; i < lines.size(); i++) {
    if (lines[i] != type + " {") continue;
    for (size_t j = i + 1; j < lines.size() && !StartsWith(lines[j], "}"); j++)
      fields.push_back(DeclaredName(lines[j]));
    break;
  }
  return fields;
}

std::string Unpack(const std::vector<ValType>& types, const char* array, const char* var) {
  std::string out;
  for (size_t i = 0; i < types.size(); i++) {
    std::string n = std::string(var) + std::to_string(i);
    out += "  " + std::string(CType(types[i])) + " " + n + "; memcpy(&" + n + ", &" + array + "[" +
           std::to_string(i) + "], sizeof " + n + ");\n";
  }
  return out;
}

// Stores a call's result(s) `r` into cells; multi-value results are a struct.
std::string Pack(const std::vector<ValType>& results, const std::vector<std::string>& fields,
                 const char* array) {
  std::string out;
  if (results.size() == 1) {
    out += std::string("  memcpy(&") + array + "[0], &r, sizeof r);\n";
  } else {
    for (size_t i = 0; i < fields.size(); i++)
      out += std::string("  memcpy(&") + array + "[" + std::to_string(i) + "], &r." + fields[i] +
             ", sizeof r." + fields[i] + ");\n";
  }
  return out;
}

}  // namespace

Result<AotGlue> GenerateAotGlue(const Module& module, const std::string& prefix,
                                const std::string& header, const std::string& source_file) {
  auto fail = [&](const std::string& why) {
    return MakeError(ErrorKind::kCompilerFailed, "glue for " + prefix + ": " + why);
  };
  std::vector<std::string> lines = Lines(header);
  const std::string instance_type = "Z_" + prefix + "_instance_t";

  // The module was rewritten before wasm2c (aot_rewrite.h): the header names import i
  // kAotImportModule.AotImportField(i) and export j AotExportName(j), in module order, so the
  // comment before each declaration says which import or export of `module` it is.
  std::map<std::string, std::pair<std::string, std::string>> import_decl;  // by field
  std::string instantiate_proto;
  std::vector<std::pair<std::string, std::string>> export_decls;  // (name, return type)
  for (size_t i = 0; i + 1 < lines.size(); i++) {
    std::string mod, field;
    const std::string& next = lines[i + 1];
    if (ParseImportComment(lines[i], &mod, &field)) {
      if (mod != kAotImportModule) return fail("unexpected import module in: " + lines[i]);
      std::string name = DeclaredName(next);
      if (name.empty()) return fail("cannot read the import after: " + lines[i]);
      import_decl[field] = {name, ReturnType(next, name)};
    } else if (StartsWith(lines[i], "/* export: ")) {
      if (lines[i] != "/* export: '" + AotExportName(export_decls.size()) + "' */")
        return fail("unexpected export " + lines[i]);
      std::string name = DeclaredName(next);
      if (name.empty()) return fail("cannot read the export after: " + lines[i]);
      export_decls.push_back({name, ReturnType(next, name)});
    }
    if (StartsWith(lines[i], "void Z_" + prefix + "_instantiate(")) instantiate_proto = lines[i];
  }
  if (export_decls.size() != module.exports().size())
    return fail("header lists " + std::to_string(export_decls.size()) + " exports, module has " +
                std::to_string(module.exports().size()));
  if (import_decl.size() != module.imports().size())
    return fail("header lists " + std::to_string(import_decl.size()) + " imports, module has " +
                std::to_string(module.imports().size()));
  if (instantiate_proto.empty()) return fail("no instantiate function in the header");

  std::string pre, post;
  pre += "/* Generated by VelumOS: glue between wasm2c output and the AOT ABI. */\n";
  pre += "#include <string.h>\n";
  pre += kAotAbiSource;
  pre += "\n";
  // Imported symbols are renamed per module, so that two modules in one shared object may
  // import the same name with different types.
  const auto& imports = module.imports();
  for (size_t i = 0; i < imports.size(); i++) {
    auto it = import_decl.find(AotImportField(i));
    if (it == import_decl.end()) return fail("import " + std::to_string(i) + " not in the header");
    pre +=
        "#define " + it->second.first + " velum_" + prefix + "_import_" + std::to_string(i) + "\n";
  }
  AotGlue result;
  result.preamble = pre;
  pre += "#include \"" + source_file + "\"\n\n";
  pre +=
      "static velum_import_slot* velum_slots(void* ctx) {\n"
      "  velum_import_slot* s = (velum_import_slot*)ctx;\n"
      "  return s[0].target == VELUM_SLOTS_MAGIC ? s : *(velum_import_slot**)ctx;\n}\n";

  for (size_t i = 0; i < imports.size(); i++) {
    const ImportInfo& imp = imports[i];
    const auto& decl = import_decl[AotImportField(i)];
    std::string fn = "velum_" + prefix + "_import_" + std::to_string(i);
    std::string slot = "velum_slots(ctx)[" + std::to_string(i + 1) + "]";
    std::string ctx_type = FirstParamType(lines, decl.first);
    if (ctx_type.empty()) return fail("no prototype for " + decl.first);
    if (imp.kind != ExternKind::kFunc) {
      post += decl.second + " " + fn + "(" + ctx_type + " ctx) { return (" + decl.second + ")" +
              slot + ".target; }\n";
      continue;
    }
    const FuncSig& sig = imp.sig;
    std::string params = ctx_type + " ctx";
    std::string pack;
    for (size_t p = 0; p < sig.params.size(); p++) {
      params += std::string(", ") + CType(sig.params[p]) + " a" + std::to_string(p);
      pack += "  memcpy(&args[" + std::to_string(p) + "], &a" + std::to_string(p) + ", sizeof a" +
              std::to_string(p) + ");\n";
    }
    post += decl.second + " " + fn + "(" + params + ") {\n";
    post += "  velum_val args[" + std::to_string(sig.params.size() + 1) + "], res[" +
            std::to_string(sig.results.size() + 1) + "];\n" + pack;
    post += "  " + slot + ".thunk(" + slot + ".target, args, res);\n";
    if (sig.results.size() == 1) {
      post += "  " + decl.second + " r; memcpy(&r, &res[0], sizeof r); return r;\n";
    } else if (sig.results.size() > 1) {
      post += "  " + decl.second + " r;\n";
      auto fields = MultiFields(lines, decl.second);
      if (fields.size() != sig.results.size()) return fail("cannot read " + decl.second);
      for (size_t k = 0; k < fields.size(); k++)
        post += "  memcpy(&r." + fields[k] + ", &res[" + std::to_string(k) + "], sizeof r." +
                fields[k] + ");\n";
      post += "  return r;\n";
    }
    post += "}\n";
  }

  std::string table;
  for (size_t j = 0; j < export_decls.size(); j++) {
    const ExportInfo& e = module.exports()[j];
    const auto& [name, ret] = export_decls[j];
    std::string fn = "velum_" + prefix + "_export_" + std::to_string(j);
    if (e.kind != ExternKind::kFunc) {
      post += "static void* " + fn + "(void* inst) { return (void*)" + name + "((" + instance_type +
              "*)inst); }\n";
      int kind = e.kind == ExternKind::kTable ? 1 : e.kind == ExternKind::kMemory ? 2 : 3;
      table += "  {" + std::to_string(kind) + ", 0, " + fn + "},\n";
      continue;
    }
    post += "static void " + fn + "(void* inst, const velum_val* args, velum_val* res) {\n";
    post += "  (void)args; (void)res;\n";
    post += Unpack(e.sig.params, "args", "a");
    std::string call = name + "((" + instance_type + "*)inst";
    for (size_t p = 0; p < e.sig.params.size(); p++) call += ", a" + std::to_string(p);
    call += ")";
    if (e.sig.results.empty()) {
      post += "  " + call + ";\n";
    } else {
      post += "  " + ret + " r = " + call + ";\n";
      std::vector<std::string> fields;
      if (e.sig.results.size() > 1) {
        fields = MultiFields(lines, ret);
        if (fields.size() != e.sig.results.size()) return fail("cannot read " + ret);
      }
      post += Pack(e.sig.results, fields, "res");
    }
    post += "}\n";
    table += "  {0, " + fn + ", 0},\n";
  }
  if (table.empty()) table = "  {0, 0, 0},\n";

  // The instantiate function takes one context per imported module name; every context is
  // the same slot array (the slot index identifies the import).
  size_t contexts = 0;
  for (char c : instantiate_proto) contexts += c == ',';
  post += "static void velum_" + prefix + "_instantiate(void* inst, velum_import_slot* slots) {\n";
  post += "  (void)slots;\n  Z_" + prefix + "_instantiate((" + instance_type + "*)inst";
  for (size_t c = 0; c < contexts; c++) post += ", (void*)slots";
  post += ");\n}\n";
  post += "static void velum_" + prefix + "_free(void* inst) { Z_" + prefix + "_free((" +
          instance_type + "*)inst); }\n";
  post += "static const velum_export_desc velum_" + prefix + "_exports[] = {\n" + table + "};\n";
  post += "const velum_module_desc velum_module_" + prefix + " = {\n";
  post += "  VELUM_AOT_ABI_VERSION, " + std::to_string(export_decls.size()) + ", " +
          std::to_string(imports.size()) + ", sizeof(" + instance_type + "),\n";
  post += "  Z_" + prefix + "_init_module, velum_" + prefix + "_instantiate, velum_" + prefix +
          "_free, velum_" + prefix + "_exports};\n";
  result.glue = pre + post;
  return result;
}

}  // namespace velum
