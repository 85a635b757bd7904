// Runs a spec script in a child process, so a crash or hang of the engine costs one command
// rather than the whole run: that command is recorded as failed and the script run again.
#ifndef VELUM_TESTS_CONFORMANCE_SCRIPT_PROCESS_H_
#define VELUM_TESTS_CONFORMANCE_SCRIPT_PROCESS_H_

#include <chrono>
#include <filesystem>

#include "conformance/spectest_runner.h"

namespace velum::conformance {

// Like RunScript, but in forked children. A child that dies by a signal or outlives
// `timeout` has the command it was running marked as failed ("crashed the process: ...");
// the script is then rerun without that command, up to a few times. The caller must be
// single-threaded when it calls this (fork).
ScriptResult RunScriptIsolated(const std::filesystem::path& json_path, const EngineFactory& factory,
                               const RunOptions& options, std::chrono::seconds timeout);

}  // namespace velum::conformance

#endif  // VELUM_TESTS_CONFORMANCE_SCRIPT_PROCESS_H_
