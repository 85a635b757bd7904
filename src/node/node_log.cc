// A node's logger: the stderr and HOME/logs/node-ID.log sinks, flushed at every line so the
// log file holds the last words of a node that is killed.
#include "node/node_log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <vector>

#include "runtime/home.h"

namespace velum {

namespace {

// The log file's sink; an error if it cannot be opened.
Result<spdlog::sink_ptr> FileSink(uint32_t id, const std::filesystem::path& home) {
  std::filesystem::path logs = home / "logs";
  if (!EnsureDirectory(logs)) return MakeError(ErrorKind::kIo, "cannot create " + logs.string());
  std::filesystem::path log_file = logs / ("node-" + std::to_string(id) + ".log");
  try {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string());
    file->set_level(spdlog::level::info);
    return spdlog::sink_ptr(file);
  } catch (const spdlog::spdlog_ex& e) {
    return MakeError(ErrorKind::kIo, "cannot open the log " + log_file.string() + ": " + e.what());
  }
}

}  // namespace

Status InstallNodeLogger(const std::string& name, ConsoleLog console, uint32_t id,
                         const std::filesystem::path& home, LogFile file) {
  std::vector<spdlog::sink_ptr> sinks;
  if (console != ConsoleLog::kQuiet) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_level(console == ConsoleLog::kVerbose ? spdlog::level::info : spdlog::level::warn);
    sinks.push_back(sink);
  }
  Result<spdlog::sink_ptr> file_sink = FileSink(id, home);
  if (file_sink.ok())
    sinks.push_back(*file_sink);
  else if (file == LogFile::kRequired)
    return file_sink.error();
  auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace velum
