// Map items from paths: a file is an item, a folder gives its files (sorted), --lines makes
// each line of each file an item. The shell's `map` and the C API both collect with this.
#include "node/map_inputs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>

#include "core/map_plan.h"

namespace velum {

namespace fs = std::filesystem;

namespace {

// The regular files an INPUT names, with their names: the file itself by its own name, or a
// folder's files by their paths under it, sorted (byte order), subfolders only if recursive.
std::string FilesOf(const fs::path& input, bool recursive,
                    std::vector<std::pair<std::string, fs::path>>* out) {
  std::error_code ec;
  fs::file_status st = fs::status(input, ec);
  if (st.type() == fs::file_type::not_found) return input.string() + " does not exist";
  if (ec) return input.string() + ": " + ec.message();
  if (st.type() == fs::file_type::regular) {
    out->emplace_back(input.filename().string(), fs::absolute(input, ec));
    return "";
  }
  if (st.type() != fs::file_type::directory)
    return input.string() + " is not a regular file or a folder";
  std::vector<std::pair<std::string, fs::path>> found;
  auto take = [&](const fs::directory_entry& e) {
    std::error_code e2;
    if (!e.is_regular_file(e2)) return;  // links to files count; sockets, FIFOs do not
    found.emplace_back(e.path().lexically_relative(input).generic_string(),
                       fs::absolute(e.path(), e2));
  };
  if (recursive) {
    fs::recursive_directory_iterator it(input, fs::directory_options::none, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      take(*it);
      if (found.size() > core::MapPlan::kMaxItems) break;
    }
  } else {
    fs::directory_iterator it(input, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      take(*it);
      if (found.size() > core::MapPlan::kMaxItems) break;
    }
  }
  if (ec) return input.string() + ": " + ec.message();
  std::sort(found.begin(), found.end());
  out->insert(out->end(), found.begin(), found.end());
  return "";
}

}  // namespace

Status CollectMapItems(const std::vector<std::string>& inputs, bool lines, bool recursive,
                       std::vector<MapItem>* items) {
  std::vector<std::pair<std::string, fs::path>> files;
  for (const std::string& input : inputs) {
    if (std::string e = FilesOf(input, recursive, &files); !e.empty())
      return MakeError(ErrorKind::kIo, e);
    if (files.size() > core::MapPlan::kMaxItems) break;
  }
  if (!lines) {
    if (files.size() > core::MapPlan::kMaxItems)
      return MakeError(ErrorKind::kLimitExceeded,
                       "more than " + std::to_string(core::MapPlan::kMaxItems) + " inputs");
    for (auto& [name, path] : files) items->push_back({name, "", path, ""});
    return {};
  }
  uint64_t total = 0;
  for (auto& [name, path] : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorKind::kIo, "cannot read " + path.string());
    std::string line;
    uint64_t number = 0;
    while (std::getline(in, line)) {
      number++;
      if (!in.eof()) line.push_back('\n');  // the line as it was, newline included
      total += line.size();
      if (total > kMaxMapInlineBytes)
        return MakeError(ErrorKind::kLimitExceeded,
                         "--lines reads at most " + std::to_string(kMaxMapInlineBytes >> 20) +
                             " MiB of lines; give larger inputs as files");
      if (items->size() >= core::MapPlan::kMaxItems)
        return MakeError(ErrorKind::kLimitExceeded,
                         "more than " + std::to_string(core::MapPlan::kMaxItems) + " lines");
      char out_name[32];
      std::snprintf(out_name, sizeof out_name, "%08llu.out",
                    static_cast<unsigned long long>(items->size()));
      items->push_back({name + ":" + std::to_string(number), out_name, std::nullopt, line});
    }
    if (in.bad()) return MakeError(ErrorKind::kIo, "cannot read " + path.string());
  }
  return {};
}

}  // namespace velum
