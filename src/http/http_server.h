// A node's HTTP server (`node ID --http PORT`): the JSON API, the event stream, /metrics and
// the dashboard, on threads of its own, reading the node through its thread-safe methods.
#ifndef VELUM_HTTP_HTTP_SERVER_H_
#define VELUM_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "node/node.h"
#include "runtime/error.h"

namespace velum::http {

struct HttpOptions {
  std::string bind = "127.0.0.1";  // a literal address, or "localhost"
  uint16_t port = 0;               // 0: one the system picks (port() says which)
  std::filesystem::path home;      // where http.token is, and uploaded modules go
};

// The limits of the server, in one place.
struct HttpLimits {
  static constexpr size_t kThreads = 40;             // requests served at once
  static constexpr size_t kMaxEventClients = 24;     // /api/events streams at once (each a thread)
  static constexpr size_t kMaxStoredModules = 64;    // uploaded modules kept, oldest dropped
  static constexpr size_t kMaxInlineItems = 100000;  // items given in a map submission's body
  static constexpr time_t kReadTimeoutS = 10;        // a request that trickles in is dropped
  static constexpr time_t kWriteTimeoutS = 10;       // a reader that stops reading is dropped
  static constexpr int kHeartbeatS = 15;             // an idle event stream says it is there
};

class HttpServer {
 public:
  // Loads or creates the token, binds, and starts serving. An error when the token file is
  // unusable, the address is not one, or the port is taken.
  static Result<std::unique_ptr<HttpServer>> Start(Node& node, HttpOptions options);
  ~HttpServer();  // stops serving; open event streams end

  uint16_t port() const;
  std::string address() const;  // "127.0.0.1:8080"
  bool loopback() const;        // bound to loopback only: reads need no token

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace velum::http

#endif  // VELUM_HTTP_HTTP_SERVER_H_
