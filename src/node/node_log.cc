// A node's logger: the stderr and HOME/logs/node-ID.log sinks, flushed at every line so the
// log file holds the last words of a node that is killed.
#include "node/node_log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
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

// The JSON lines: spdlog's formatter interface, so both sinks write the same objects.
class JsonFormatter : public spdlog::formatter {
 public:
  explicit JsonFormatter(uint32_t node) : node_(node) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    int64_t ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line =
        JsonLogLine(ms, std::string(level.data(), level.size()).c_str(), node_,
                    std::string(msg.logger_name.data(), msg.logger_name.size()), msg.thread_id,
                    std::string(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(node_);
  }

 private:
  uint32_t node_;
};

}  // namespace

std::string JsonLogLine(int64_t unix_ms, const char* level, uint32_t node,
                        const std::string& logger, uint64_t thread, const std::string& message) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char time[96];
  std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  nlohmann::json fields = {{"logger", logger}, {"thread", thread}};
  // Our lines name their part first ("http: serving on ..."): that word is a field too.
  size_t colon = message.find(": ");
  if (colon != std::string::npos && colon > 0 && colon <= 24 && message.find(' ') >= colon)
    fields["component"] = message.substr(0, colon);
  nlohmann::json j = {
      {"time", time}, {"level", level}, {"node", node}, {"event", message}, {"fields", fields}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status InstallNodeLogger(const std::string& name, ConsoleLog console, uint32_t id,
                         const std::filesystem::path& home, LogFile file, LogFormat format) {
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
  if (format == LogFormat::kJson)
    for (auto& sink : sinks) sink->set_formatter(std::make_unique<JsonFormatter>(id));
  auto logger = std::make_shared<spdlog::logger>(name, sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace velum
