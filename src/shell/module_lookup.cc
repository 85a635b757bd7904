// Lookup of modules by bare name and the export shapes ./velum and the node's shell agree on.
// Linked into both programs (velum_shell_base), so `velum run primes` and `wasm primes` agree.
#include "shell/module_lookup.h"

#include <cstdlib>
#include <vector>

#include "core/job_types.h"

namespace velum::shell {

namespace fs = std::filesystem;

std::vector<fs::path> ModuleSearchDirs() {
  std::error_code ec;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("VELUM_WASM_PATH"); env && *env) {
    std::string path = env;
    for (size_t start = 0; start <= path.size();) {
      size_t colon = path.find(':', start);
      if (colon == std::string::npos) colon = path.size();
      if (colon > start) dirs.emplace_back(path.substr(start, colon - start));
      start = colon + 1;
    }
  }
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(self.parent_path() / "build" / "wasm");
    dirs.push_back(self.parent_path() / "wasm");
  }
  return dirs;
}

fs::path ResolveModule(const std::string& text) {
  std::error_code ec;
  fs::path given(text);
  if (fs::exists(given, ec) || text.find('/') != std::string::npos) return given;
  std::vector<std::string> names = {text};
  if (given.extension() != ".wasm") names.push_back(text + ".wasm");
  for (const auto& dir : ModuleSearchDirs())
    for (const auto& name : names)
      if (fs::exists(dir / name, ec)) return dir / name;
  return given;  // not found: reading it reports the error with the name the user gave
}

std::string RangeExportProblem(const ExportInfo& e, bool* wide) {
  const auto& p = e.sig.params;
  bool narrow = p.size() == 2 && p[0] == ValType::kI32 && p[1] == ValType::kI32;
  *wide = p.size() == 2 && p[0] == ValType::kI64 && p[1] == ValType::kI64;
  auto shape = [] {
    return "scatter needs (i32, i32) or (i64, i64) parameters and 1 to " +
           std::to_string(core::kMaxResultValues) + " numeric results";
  };
  if (e.kind != ExternKind::kFunc) return e.name + " is not a function; " + shape();
  if (!narrow && !*wide) return e.name + " has type " + e.sig.ToString() + "; " + shape();
  if (e.sig.results.empty() || e.sig.results.size() > core::kMaxResultValues)
    return e.name + " has type " + e.sig.ToString() + "; " + shape();
  for (ValType t : e.sig.results)
    if (t != ValType::kI32 && t != ValType::kI64 && t != ValType::kF32 && t != ValType::kF64)
      return e.name + " returns " + ValTypeName(t) + "; " + shape();
  return "";
}

std::string ReducerExportProblem(const ExportInfo& range, const ExportInfo& combine) {
  FuncSig want;
  want.params = range.sig.results;
  want.params.insert(want.params.end(), range.sig.results.begin(), range.sig.results.end());
  want.results = range.sig.results;
  std::string shape = "a reducer of " + range.name + "'s results must have type " +
                      want.ToString() + " (two results in, lower range first; one out)";
  if (combine.kind != ExternKind::kFunc) return combine.name + " is not a function; " + shape;
  if (!(combine.sig == want))
    return combine.name + " has type " + combine.sig.ToString() + "; " + shape;
  return "";
}

bool IsToolchainExport(const std::string& name) {
  // C reserves names that begin with two underscores for the implementation: clang, wasm-ld
  // and rustc put their start-up code and memory layout symbols there. `_initialize` is the
  // WASI reactor's constructor entry.
  return name.rfind("__", 0) == 0 || name == "_initialize";
}

}  // namespace velum::shell
