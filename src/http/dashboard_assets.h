// TEMPORARY until the dashboard branch lands.
#ifndef VELUM_HTTP_DASHBOARD_ASSETS_H_
#define VELUM_HTTP_DASHBOARD_ASSETS_H_
#include <string_view>
namespace velum::http {
struct DashboardAsset {
  std::string_view path;
  std::string_view content_type;
  std::string_view body;
};
const DashboardAsset* FindDashboardAsset(std::string_view path);
}  // namespace velum::http
#endif
