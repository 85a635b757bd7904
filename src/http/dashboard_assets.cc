// TEMPORARY until the dashboard branch lands.
#include "http/dashboard_assets.h"
namespace velum::http {
const DashboardAsset* FindDashboardAsset(std::string_view) { return nullptr; }
}  // namespace velum::http
