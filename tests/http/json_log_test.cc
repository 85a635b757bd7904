// Tests of --log-format json's lines: one JSON object each, with time, level, node, event and
// fields, whatever bytes the message holds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "node/node_log.h"

namespace velum {
namespace {

TEST(JsonLog, ALineIsOneObjectWithItsFields) {
  std::string line =
      JsonLogLine(1796599864083, "info", 7, "node", 42, "http: serving on 127.0.0.1:8080");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-12-06T23:31:04.083Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["node"], 7);
  EXPECT_EQ(j["event"], "http: serving on 127.0.0.1:8080");
  EXPECT_EQ(j["fields"]["component"], "http");
  EXPECT_EQ(j["fields"]["logger"], "node");
  EXPECT_EQ(j["fields"]["thread"], 42);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(JsonLog, HostileMessagesStayOneValidLine) {
  for (const std::string& message :
       {std::string("line\nbreak \"quoted\" \\ back"), std::string("\xff\xfe invalid utf-8"),
        std::string("nul \0 inside", 12), std::string(""), std::string(": leading colon"),
        std::string("a sentence with words: not a component")}) {
    std::string line = JsonLogLine(0, "warning", 1, "node", 1, message);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_FALSE(j["fields"].contains("component")) << line;
  }
}

}  // namespace
}  // namespace velum
