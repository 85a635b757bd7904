// TEMPORARY until the metrics branch lands.
#ifndef VELUM_HTTP_METRICS_H_
#define VELUM_HTTP_METRICS_H_
#include <cstdint>
#include <string>

#include "node/node.h"
namespace velum::http {
struct HttpFigures {
  uint64_t requests = 0;
  uint64_t unauthorized = 0;
  uint64_t event_clients = 0;
};
std::string RenderMetrics(Node& node, const HttpFigures& http);
}  // namespace velum::http
#endif
