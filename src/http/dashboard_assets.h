// The dashboard's files (src/http/dashboard/ and Debian's Chart.js), built into the binary so
// a node serves its page with no internet and no files beside it. Generated: embed_assets.cmake.
#ifndef VELUM_HTTP_DASHBOARD_ASSETS_H_
#define VELUM_HTTP_DASHBOARD_ASSETS_H_

#include <string_view>

namespace velum::http {

struct DashboardAsset {
  std::string_view path;  // as requested: /index.html, /assets/dashboard.js ...
  std::string_view content_type;
  std::string_view body;
};

// "/" -> index.html; "/assets/dashboard.js", "/assets/dashboard.css", "/assets/chart.min.js";
// nullptr: no such asset. The table is static: the pointer stays valid for the program's life.
const DashboardAsset* FindDashboardAsset(std::string_view path);

}  // namespace velum::http

#endif  // VELUM_HTTP_DASHBOARD_ASSETS_H_
