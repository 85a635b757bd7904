// The node's home directory ($VELUM_HOME, default ~/.velum): caches, keys, journals.
// Created on first use with private permissions; refused when another user could tamper with it.
#ifndef VELUM_RUNTIME_HOME_H_
#define VELUM_RUNTIME_HOME_H_

#include <filesystem>

#include "runtime/error.h"

namespace velum {

// $VELUM_HOME; else .velum in $HOME, or in the user's home from the password database when
// HOME is unset. Empty when there is none: PrepareHome then says so (no shared fallback).
std::filesystem::path DefaultHome();

// Makes `home` ready for a node or a run: creates it (and missing parents) mode 0700, then
// refuses it with one clear error if it is not a directory, belongs to another user, is
// writable by group or others, or cannot be written (a read-only file system, for example).
Status PrepareHome(const std::filesystem::path& home);

// A secret file (the cluster key): refused if it belongs to another user or is readable or
// writable by group or others. A missing file is fine (it is created private).
Status CheckPrivateFile(const std::filesystem::path& file);

// Creates `dir` (and parents, each mode 0700) if missing; returns false if it cannot be made.
bool EnsureDirectory(const std::filesystem::path& dir);

}  // namespace velum

#endif  // VELUM_RUNTIME_HOME_H_
