// GET /metrics: a node's figures (Node::Metrics) and the HTTP server's own, as Prometheus text
// exposition format 0.0.4. Every name starts with velum_; docs/HTTP.md lists the families.
#ifndef VELUM_HTTP_METRICS_H_
#define VELUM_HTTP_METRICS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "node/node.h"
#include "node/node_metrics.h"

namespace velum {

// What the HTTP server counts itself (http_server.cc).
struct HttpFigures {
  uint64_t requests = 0;
  uint64_t unauthorized = 0;   // answered 401: a wrong or missing bearer token
  uint64_t event_clients = 0;  // /api/events streams open now
};

// The served content type of RenderMetrics' text.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The whole page: the node's snapshot, then the HTTP figures. Thread-safe (Node::Metrics is).
std::string RenderMetrics(Node& node, const HttpFigures& http);
// The same of a snapshot already taken (tests give one of their own).
std::string RenderMetrics(const NodeMetrics& metrics, const HttpFigures& http);

// A label value as the text format quotes it: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view value);

}  // namespace velum

#endif  // VELUM_HTTP_METRICS_H_
