// The node's home directory ($VELUM_HOME, default ~/.velum): caches, keys, journals.
// Created on first use with private permissions.
#ifndef VELUM_RUNTIME_HOME_H_
#define VELUM_RUNTIME_HOME_H_

#include <filesystem>

namespace velum {

std::filesystem::path DefaultHome();
// Creates `dir` (and parents) if missing; returns false if it cannot be made.
bool EnsureDirectory(const std::filesystem::path& dir);

}  // namespace velum

#endif  // VELUM_RUNTIME_HOME_H_
