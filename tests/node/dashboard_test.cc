// The dashboard's side of the node: its files built into the binary (FindDashboardAsset) obey
// the page's Content-Security-Policy, and a job's timeline renders to the JSON the page reads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "http/dashboard_assets.h"
#include "http/timeline_json.h"

namespace velum::http {
namespace {

TEST(DashboardAssets, ServesThePageAndItsFiles) {
  const DashboardAsset* page = FindDashboardAsset("/");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page->body.substr(0, 15), "<!doctype html>");
  EXPECT_EQ(FindDashboardAsset("/index.html"), page);
  for (const char* path :
       {"/assets/dashboard.js", "/assets/dashboard.css", "/assets/chart.min.js"}) {
    const DashboardAsset* a = FindDashboardAsset(path);
    ASSERT_NE(a, nullptr) << path;
    EXPECT_EQ(a->path, path);
    EXPECT_GT(a->body.size(), 1000u) << path;
    EXPECT_NE(page->body.find(path), std::string_view::npos) << "the page does not load " << path;
  }
  EXPECT_EQ(FindDashboardAsset("/assets/dashboard.js")->content_type,
            "text/javascript; charset=utf-8");
  EXPECT_EQ(FindDashboardAsset("/assets/dashboard.css")->content_type, "text/css; charset=utf-8");
  EXPECT_NE(FindDashboardAsset("/assets/chart.min.js")->body.find("Chart.js"),
            std::string_view::npos);
  for (const char* path : {"", "/assets/", "/assets/nope.js", "/assets/../index.html",
                           "/ASSETS/dashboard.js", "/assets/dashboard.js/", "/index.htm"})
    EXPECT_EQ(FindDashboardAsset(path), nullptr) << path;
}

// script-src 'self' and style-src 'self': no inline script, handler or style in the page.
TEST(DashboardAssets, PageHasNothingInline) {
  std::string page(FindDashboardAsset("/")->body);
  std::smatch m;
  std::regex script("<script([^>]*)>");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), script);
       it != std::sregex_iterator(); ++it)
    EXPECT_NE((*it)[1].str().find("src=\"/assets/"), std::string::npos) << (*it)[0].str();
  EXPECT_EQ(page.find("<style"), std::string::npos);
  EXPECT_FALSE(std::regex_search(page, m, std::regex("\\sstyle=")));
  EXPECT_FALSE(std::regex_search(page, m, std::regex("\\son[a-z]+=")));
  std::string js(FindDashboardAsset("/assets/dashboard.js")->body);
  EXPECT_EQ(js.find("innerHTML"), std::string::npos);  // data goes in as text, never markup
  EXPECT_EQ(js.find("eval("), std::string::npos);
}

TEST(TimelineJson, OneArrayPerSpan) {
  core::JobTimeline t;
  t.job = 7;
  t.state = core::JobState::kDone;
  t.elapsed_ms = 900;
  t.dropped = 2;
  t.spans.push_back({3, 0, 100, 100, 0, 400, core::SpanOutcome::kDone, false});
  t.spans.push_back({2, 100, 300, 150, 10, 500, core::SpanOutcome::kLost, false});
  t.spans.push_back({4, 150, 300, 300, 500, 900, core::SpanOutcome::kDone, true});
  nlohmann::json j = JobTimelineJson(t);
  EXPECT_EQ(j["job"], 7);
  EXPECT_EQ(j["state"], "done");
  EXPECT_EQ(j["elapsed_ms"], 900);
  EXPECT_EQ(j["dropped"], 2);
  EXPECT_EQ(j["restored"], false);
  EXPECT_EQ(j["workers"], nlohmann::json::parse("[2, 3, 4]"));
  EXPECT_EQ(j["columns"], nlohmann::json::parse(R"(["worker", "begin", "end", "done",
                                                   "started_ms", "ended_ms", "outcome", "backup"])"));
  ASSERT_EQ(j["spans"].size(), 3u);
  EXPECT_EQ(j["spans"][1], nlohmann::json::parse(R"([2, 100, 300, 150, 10, 500, "lost", false])"));
  EXPECT_EQ(j["spans"][2][6], "done");
  EXPECT_EQ(j["spans"][2][7], true);
  core::JobTimeline empty;
  EXPECT_EQ(JobTimelineJson(empty)["spans"], nlohmann::json::array());
  EXPECT_EQ(JobTimelineJson(empty)["state"], "running");
}

}  // namespace
}  // namespace velum::http
