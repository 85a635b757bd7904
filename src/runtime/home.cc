// Locating and creating the node's home directory.
// $VELUM_HOME wins; otherwise ~/.velum, falling back to /tmp when there is no HOME.
#include "runtime/home.h"

#include <cstdlib>
#include <system_error>

namespace velum {

std::filesystem::path DefaultHome() {
  if (const char* env = std::getenv("VELUM_HOME"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".velum";
  return "/tmp/velum-home";
}

bool EnsureDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return false;
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return std::filesystem::is_directory(dir);
}

}  // namespace velum
