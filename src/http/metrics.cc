// TEMPORARY until the metrics branch lands.
#include "http/metrics.h"
namespace velum::http {
std::string RenderMetrics(Node&, const HttpFigures& http) {
  return "# HELP velum_http_requests_total Requests.\n# TYPE velum_http_requests_total "
         "counter\nvelum_http_requests_total " +
         std::to_string(http.requests) + "\n";
}
}  // namespace velum::http
