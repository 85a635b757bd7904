// A scratch directory for a benchmark program: made fresh under $TMPDIR (or /tmp), removed with
// its contents when it goes out of scope. Header-only, shared by the bench programs.
#ifndef VELUM_BENCH_TEMP_DIR_H_
#define VELUM_BENCH_TEMP_DIR_H_

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace velum::bench {

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/velum-bench-" + tag + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("velum bench: mkdtemp");
      std::exit(1);
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace velum::bench

#endif  // VELUM_BENCH_TEMP_DIR_H_
