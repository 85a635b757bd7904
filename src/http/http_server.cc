// The HTTP server on cpp-httplib: a route table (method, path, who may call it, handler), one
// wrapper for access, headers, counting and errors, and the bodies of POST /api/jobs.
#include "http/http_server.h"

#include <httplib.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <asio/ip/address.hpp>
#include <atomic>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/assert.h"
#include "http/dashboard_assets.h"
#include "http/event_feed.h"
#include "http/http_runs.h"
#include "http/http_token.h"
#include "http/metrics.h"
#include "http/timeline_json.h"
#include "shell/command_table.h"
#include "shell/module_lookup.h"
#include "shell/option_limits.h"

namespace velum::http {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Who may call a route: kRead is open on loopback (a token beyond it); kChange always needs
// the token; kPage (the dashboard's own files, no data in them) is open, so that a browser can
// load the page that then asks for the token.
enum class Access : uint8_t { kPage, kRead, kChange };

// What went wrong with a request, as HTTP says it.
enum class Refusal : uint8_t {
  kBadRequest,
  kUnauthorized,
  kNotFound,
  kConflict,
  kUnsupportedType,
  kTooMany,
  kFailed
};

int StatusOf(Refusal r) {
  switch (r) {
    case Refusal::kBadRequest:
      return 400;
    case Refusal::kUnauthorized:
      return 401;
    case Refusal::kNotFound:
      return 404;
    case Refusal::kConflict:
      return 409;
    case Refusal::kUnsupportedType:
      return 415;
    case Refusal::kTooMany:
      return 503;
    case Refusal::kFailed:
      return 500;
  }
  return 500;
}

// An error thrown by a handler: its status and one line of words.
struct HttpError {
  Refusal refusal;
  std::string message;
};

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Literal addresses parsed by Asio, as the transport parses --bind.
bool IsLoopback(const std::string& bind) {
  asio::error_code ec;
  asio::ip::address addr = asio::ip::make_address(bind, ec);
  return !ec && addr.is_loopback();
}

// A Host header naming loopback: 127.x.x.x, localhost or [::1], with or without a port.
bool LoopbackHost(const std::string& host) {
  std::string name = host;
  if (!name.empty() && name[0] == '[') {
    size_t close = name.find(']');
    if (close == std::string::npos) return false;
    name = name.substr(1, close - 1);
  } else if (size_t colon = name.rfind(':'); colon != std::string::npos) {
    name = name.substr(0, colon);
  }
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name == "localhost" || IsLoopback(name);
}

bool IsAddress(const std::string& bind) {
  asio::error_code ec;
  asio::ip::make_address(bind, ec);
  return !ec;
}

// A field of a submission, of the type asked, or an HttpError naming it.
const json* Field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::string Text(const json& body, const char* name, bool required = false) {
  const json* f = Field(body, name);
  if (!f) {
    if (required) throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" is missing"};
    return "";
  }
  if (!f->is_string())
    throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" must be a string"};
  std::string s = f->get<std::string>();
  if (s.find('\0') != std::string::npos)
    throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" holds a NUL character"};
  return s;
}

// A number given as a JSON number (or a string of one, for 64-bit values past 2^53). With a
// range, it is checked here as the shell would check it, so a bad value is a 400 at once and
// not a job that fails later.
std::optional<std::string> Number(const json& body, const char* name,
                                  const shell::NumberRange* range = nullptr) {
  const json* f = Field(body, name);
  if (!f) return std::nullopt;
  std::string text;
  if (f->is_number())
    text = f->dump();
  else if (f->is_string())
    text = Text(body, name);
  else
    throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" must be a number"};
  if (range) {
    shell::NumberRange named = *range;
    std::string quoted = std::string("\"") + name + "\"";
    named.name = quoted.c_str();
    double v;
    if (std::string problem = shell::CheckNumber(named, text, &v); !problem.empty())
      throw HttpError{Refusal::kBadRequest, problem};
  }
  return text;
}

constexpr shell::NumberRange kChunkItems{"chunk", "items", 1,
                                         9.2e18,  false,   shell::NumberKind::kWhole};

bool Flag(const json& body, const char* name) {
  const json* f = Field(body, name);
  if (!f) return false;
  if (!f->is_boolean())
    throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" must be true or false"};
  return f->get<bool>();
}

std::vector<std::string> Strings(const json& body, const char* name, size_t max) {
  const json* f = Field(body, name);
  std::vector<std::string> out;
  if (!f) return out;
  if (!f->is_array())
    throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" must be an array"};
  if (f->size() > max)
    throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" has more than " +
                                              std::to_string(max) + " entries"};
  for (const json& v : *f) {
    std::string s;
    if (v.is_string())
      s = v.get<std::string>();
    else if (v.is_number())
      s = v.dump();
    else
      throw HttpError{Refusal::kBadRequest,
                      std::string("\"") + name + "\" must hold strings or numbers"};
    if (s.find('\0') != std::string::npos)
      throw HttpError{Refusal::kBadRequest, std::string("\"") + name + "\" holds a NUL character"};
    out.push_back(std::move(s));
  }
  return out;
}

// A word that the command's own parser would take for a flag or a separator.
void NotAFlag(const std::string& word, const char* what) {
  if (word.empty() || word[0] == '-' || word == ":::" || word == "&")
    throw HttpError{Refusal::kBadRequest,
                    std::string(what) + " '" + word + "' is empty or looks like an option"};
}

constexpr size_t kMaxWords = 4096;  // args or env entries of one submission

// A submission's temporary files (stdin, inline items): removed if it is refused, handed to
// its run otherwise, which removes them when the command has returned.
struct TempFiles {
  std::vector<fs::path> paths;
  ~TempFiles() { Cleanup(paths)(); }
  static std::function<void()> Cleanup(std::vector<fs::path> paths) {
    return [paths = std::move(paths)] {
      for (const fs::path& p : paths) {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    };
  }
  std::function<void()> Release() {
    std::vector<fs::path> taken;
    taken.swap(paths);
    return Cleanup(std::move(taken));
  }
};

}  // namespace

struct HttpServer::Impl {
  Node& node;
  HttpOptions options;
  std::string token;
  bool loopback = true;
  int port = 0;
  httplib::Server server;
  std::thread thread;
  std::unique_ptr<EventFeed> feed;
  std::unique_ptr<HttpRuns> runs;
  std::atomic<size_t> event_clients{0};
  std::atomic<bool> stopping{false};
  std::mutex modules_mu;  // the store of uploaded modules
  std::atomic<uint64_t> temp_seq{0};

  Impl(Node& n, HttpOptions o) : node(n), options(std::move(o)) {}

  using Handler = void (Impl::*)(const httplib::Request&, httplib::Response&);
  struct Route {
    const char* method;
    const char* pattern;
    Access access;
    Handler handler;
  };
  static const std::vector<Route>& Routes();
  void Install();
  void Serve(const Route& route, const httplib::Request& req, httplib::Response& res);

  void Reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(Dump(body), "application/json");
  }
  // The shell's command, run as `node --json` runs it.
  shell::CommandResult RunShell(const std::vector<std::string>& words) {
    shell::ShellContext context;
    context.json = true;
    return shell::DispatchWords(node, words, context);
  }
  // Its JSON as the answer.
  void Shell(httplib::Response& res, const std::vector<std::string>& words) {
    ReplyShell(res, RunShell(words));
  }
  // `failed`: the status of a command that did not work (a `result` of no job: 404).
  void ReplyShell(httplib::Response& res, shell::CommandResult r, int failed = 404) {
    // A job that failed or was cancelled is still an answer (it has a state); an unknown
    // one is not found.
    bool answer = r.ok || (r.json.is_object() && r.json.contains("state"));
    int status = answer ? 200 : r.usage ? 400 : failed;
    if (!r.ok && r.json.is_object() && !r.json.contains("error")) r.json["error"] = r.text;
    Reply(res, status, r.json);
  }

  void Page(const httplib::Request& req, httplib::Response& res);
  void Peers(const httplib::Request& req, httplib::Response& res);
  void Status(const httplib::Request& req, httplib::Response& res);
  void Jobs(const httplib::Request& req, httplib::Response& res);
  void JobOne(const httplib::Request& req, httplib::Response& res);
  void Timeline(const httplib::Request& req, httplib::Response& res);
  void Submit(const httplib::Request& req, httplib::Response& res);
  void Cancel(const httplib::Request& req, httplib::Response& res);
  void Events(const httplib::Request& req, httplib::Response& res);
  void Metrics(const httplib::Request& req, httplib::Response& res);

  uint64_t JobId(const httplib::Request& req);
  fs::path ModuleOf(const json& body, std::string* hash);
  fs::path TempPath(const std::string& what);
};

const std::vector<HttpServer::Impl::Route>& HttpServer::Impl::Routes() {
  static const std::vector<Route> routes = {
      {"GET", "/", Access::kPage, &Impl::Page},
      {"GET", "/assets/[A-Za-z0-9._-]+", Access::kPage, &Impl::Page},
      {"GET", "/api/peers", Access::kRead, &Impl::Peers},
      {"GET", "/api/status", Access::kRead, &Impl::Status},
      {"GET", "/api/jobs", Access::kRead, &Impl::Jobs},
      {"GET", "/api/jobs/([1-9][0-9]{0,18})", Access::kRead, &Impl::JobOne},
      {"GET", "/api/jobs/([1-9][0-9]{0,18})/timeline", Access::kRead, &Impl::Timeline},
      {"POST", "/api/jobs", Access::kChange, &Impl::Submit},
      {"POST", "/api/jobs/([1-9][0-9]{0,18})/cancel", Access::kChange, &Impl::Cancel},
      {"GET", "/api/events", Access::kRead, &Impl::Events},
      {"GET", "/metrics", Access::kRead, &Impl::Metrics},
  };
  return routes;
}

void HttpServer::Impl::Install() {
  for (const Route& route : Routes()) {
    auto handler = [this, &route](const httplib::Request& req, httplib::Response& res) {
      Serve(route, req, res);
    };
    if (std::string(route.method) == "GET")
      server.Get(route.pattern, handler);
    else
      server.Post(route.pattern, handler);
  }
  // Every answer keeps other sites out: no CORS headers at all, no framing, no sniffing, and
  // the page runs only its own scripts and talks only to this origin.
  server.set_default_headers(
      {{"X-Content-Type-Options", "nosniff"},
       {"X-Frame-Options", "DENY"},
       {"Referrer-Policy", "no-referrer"},
       {"Cross-Origin-Resource-Policy", "same-origin"},
       {"Cache-Control", "no-store"},
       {"Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"}});
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    json body = {{"error", res.status == 404   ? "no such path: " + req.path
                           : res.status == 413 ? std::string("the request body is too large")
                                               : "HTTP " + std::to_string(res.status)}};
    node.CountHttpRequest(false);  // answered by the library (no route, too large, unparsable)
    res.set_content(Dump(body), "application/json");
  });
  server.set_payload_max_length(node.options().max_module_bytes * 4 / 3 + (64ull << 20));
  server.set_read_timeout(HttpLimits::kReadTimeoutS, 0);
  server.set_write_timeout(HttpLimits::kWriteTimeoutS, 0);
  server.set_keep_alive_max_count(100);
  server.new_task_queue = [] { return new httplib::ThreadPool(HttpLimits::kThreads); };
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a second node
  // could bind the same port and take half of this one's requests.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
}

void HttpServer::Impl::Serve(const Route& route, const httplib::Request& req,
                             httplib::Response& res) {
  // On loopback, reads are open only to this machine's own pages: a Host that is not a
  // loopback name is a page elsewhere reaching us through a rebound DNS name.
  if (loopback && !LoopbackHost(req.get_header_value("Host"))) {
    node.CountHttpRequest(false);
    Reply(res, 403,
          {{"error", "Host '" + req.get_header_value("Host").substr(0, 100) +
                         "' is not a loopback name of this node (127.0.0.1, localhost, [::1])"}});
    return;
  }
  const bool needs_token =
      route.access == Access::kChange || (route.access == Access::kRead && !loopback);
  const bool refused = needs_token && !BearerMatches(token, req.get_header_value("Authorization"));
  node.CountHttpRequest(refused);
  if (refused) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"velum\"");
    Reply(res, 401,
          {{"error", req.has_header("Authorization")
                         ? "wrong token (the node's is in $VELUM_HOME/http.token)"
                         : "this request needs Authorization: Bearer TOKEN (the node's is in "
                           "$VELUM_HOME/http.token)"}});
    return;
  }
  try {
    (this->*route.handler)(req, res);
  } catch (const HttpError& e) {
    Reply(res, StatusOf(e.refusal), {{"error", e.message}});
  } catch (const std::exception& e) {  // nothing from a request may end the node
    spdlog::warn("http {} {}: {}", req.method, req.path, e.what());
    Reply(res, 500, {{"error", std::string("internal error: ") + e.what()}});
  }
}

void HttpServer::Impl::Page(const httplib::Request& req, httplib::Response& res) {
  const DashboardAsset* asset = FindDashboardAsset(req.path);
  if (!asset) throw HttpError{Refusal::kNotFound, "no such file: " + req.path};
  res.set_content(std::string(asset->body), std::string(asset->content_type));
}

void HttpServer::Impl::Peers(const httplib::Request& req, httplib::Response& res) {
  std::vector<std::string> words = {"peers"};
  if (req.has_param("all") && req.get_param_value("all") != "0") words.push_back("--all");
  Shell(res, words);
}

void HttpServer::Impl::Status(const httplib::Request&, httplib::Response& res) {
  Shell(res, {"status"});
}

void HttpServer::Impl::Jobs(const httplib::Request& req, httplib::Response& res) {
  std::vector<std::string> words = {"jobs"};
  if (req.has_param("all") && req.get_param_value("all") != "0") words.push_back("--all");
  shell::CommandResult r = RunShell(words);
  if (r.ok) {
    json calls = runs->ListCalls();
    if (!calls.empty()) r.json["calls"] = calls;  // calls submitted here (not jobs of the node)
  }
  ReplyShell(res, std::move(r), 500);  // the journal could not be read
}

uint64_t HttpServer::Impl::JobId(const httplib::Request& req) {
  uint64_t id = 0;
  const std::string text = req.matches[1];
  for (char c : text) {
    if (id > (UINT64_MAX - 9) / 10) throw HttpError{Refusal::kNotFound, "no job " + text};
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  return id;
}

void HttpServer::Impl::JobOne(const httplib::Request& req, httplib::Response& res) {
  uint64_t id = JobId(req);
  // A run of this server's: its own JSON, but a running map's is the node's `result`.
  if (auto run = runs->Find(id); run && ((*run)["kind"] == "wasm" || (*run)["state"] != "running"))
    return Reply(res, 200, *run);
  Shell(res, {"result", std::to_string(id)});
}

// The dashboard's lanes: a job's attempts per worker over time, while this run holds the job.
void HttpServer::Impl::Timeline(const httplib::Request& req, httplib::Response& res) {
  uint64_t id = JobId(req);
  std::optional<core::JobTimeline> timeline = node.JobTimeline(id);
  if (!timeline)
    throw HttpError{Refusal::kNotFound, "no timeline of job " + std::to_string(id) +
                                            " (unknown, a map job, or no longer held in memory)"};
  Reply(res, 200, JobTimelineJson(*timeline));
}

void HttpServer::Impl::Cancel(const httplib::Request& req, httplib::Response& res) {
  uint64_t id = JobId(req);
  switch (runs->Cancel(id)) {
    case HttpRuns::CancelResult::kAsked:
      return Reply(res, 200, {{"job", id}, {"state", "cancelling"}});
    case HttpRuns::CancelResult::kEnded:
      return Reply(res, 409, {{"job", id}, {"error", "job " + std::to_string(id) + " has ended"}});
    case HttpRuns::CancelResult::kUnknown:
      break;  // a job of the node's
  }
  velum::Status s = node.CancelJob(id);
  if (!s.ok()) {
    // A job that has ended is a conflict with its state; one never heard of is not found.
    std::optional<std::string> ended;
    if (auto j = node.Job(id)) ended = core::JobStateName(j->state);
    for (const MapSummary& m : node.Maps())
      if (m.job == id) ended = core::JobStateName(m.state);
    if (ended)
      throw HttpError{Refusal::kConflict,
                      "job " + std::to_string(id) + " has ended (" + *ended + ")"};
    throw HttpError{Refusal::kNotFound, s.error().message};
  }
  Reply(res, 200, {{"job", id}, {"state", "cancelling"}});
}

fs::path HttpServer::Impl::TempPath(const std::string& what) {
  fs::path dir = options.home / "http" / "tmp";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir / (what + "-" + std::to_string(getpid()) + "-" + std::to_string(++temp_seq));
}

// The module of a submission: uploaded bytes (kept by their SHA-256 under HOME/http/modules,
// so a later submission may name the hash), a hash uploaded before, or a bare module name the
// node's shell would find (`wasm pi`).
fs::path HttpServer::Impl::ModuleOf(const json& body, std::string* hash) {
  const json* bytes = Field(body, "module");
  std::string given_hash = Text(body, "module_hash");
  std::string name = Text(body, "module_name");
  if ((bytes != nullptr) + !given_hash.empty() + !name.empty() != 1)
    throw HttpError{Refusal::kBadRequest,
                    "give exactly one of \"module\" (base64 bytes), \"module_hash\" or "
                    "\"module_name\""};
  fs::path store = options.home / "http" / "modules";
  if (!name.empty()) {
    if (name.find('/') != std::string::npos || name[0] == '.' || name[0] == '-')
      throw HttpError{Refusal::kBadRequest,
                      "\"module_name\" is a bare name (pi, primes.wasm), not a path"};
    fs::path p = shell::ResolveModule(name);
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      throw HttpError{Refusal::kNotFound, "no module named " + name + " on this node"};
    return fs::absolute(p, ec);
  }
  if (!given_hash.empty()) {
    bool hex = given_hash.size() == 64 &&
               std::all_of(given_hash.begin(), given_hash.end(),
                           [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    if (!hex) throw HttpError{Refusal::kBadRequest, "\"module_hash\" is 64 lowercase hex digits"};
    fs::path p = store / (given_hash + ".wasm");
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      throw HttpError{Refusal::kNotFound,
                      "no module with hash " + given_hash + " here: upload it as \"module\""};
    *hash = given_hash;
    return p;
  }
  if (!bytes->is_string())
    throw HttpError{Refusal::kBadRequest, "\"module\" must be the module's bytes in base64"};
  const std::string& b64 = bytes->get_ref<const std::string&>();
  std::string wasm(b64.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(wasm.data()), wasm.size(), b64.data(),
                        b64.size(), " \r\n", &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    throw HttpError{Refusal::kBadRequest, "\"module\" is not valid base64"};
  wasm.resize(len);
  if (wasm.empty()) throw HttpError{Refusal::kBadRequest, "\"module\" is empty"};
  if (wasm.size() > node.options().max_module_bytes)
    throw HttpError{Refusal::kBadRequest, "the module is " + std::to_string(wasm.size()) +
                                              " bytes, over this node's " +
                                              std::to_string(node.options().max_module_bytes)};
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(wasm.data()), wasm.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  *hash = hex;
  fs::path p = store / (*hash + ".wasm");
  std::lock_guard<std::mutex> lock(modules_mu);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) {
    fs::last_write_time(p, fs::file_time_type::clock::now(), ec);  // used: kept longest
    return p;
  }
  fs::create_directories(store, ec);
  fs::path temp = TempPath("module");
  {
    std::ofstream out(temp, std::ios::binary);
    out.write(wasm.data(), static_cast<std::streamsize>(wasm.size()));
    if (!out.flush()) {
      fs::remove(temp, ec);
      throw HttpError{Refusal::kFailed, "cannot write the module under " + store.string()};
    }
  }
  fs::rename(temp, p, ec);
  if (ec) throw HttpError{Refusal::kFailed, "cannot keep the module: " + ec.message()};
  // The store is bounded: the least recently used modules go first.
  std::vector<std::pair<fs::file_time_type, fs::path>> kept;
  for (const auto& e : fs::directory_iterator(store, ec))
    if (e.path() != p) kept.push_back({e.last_write_time(ec), e.path()});
  std::sort(kept.begin(), kept.end());
  for (size_t i = 0; i + HttpLimits::kMaxStoredModules <= kept.size(); i++)
    fs::remove(kept[i].second, ec);
  return p;
}

void HttpServer::Impl::Submit(const httplib::Request& req, httplib::Response& res) {
  // JSON only: a form's content types (which a page of another site may send without asking)
  // are refused before their body is looked at.
  std::string type = req.get_header_value("Content-Type");
  if (type.substr(0, type.find(';')) != "application/json")
    throw HttpError{
        Refusal::kUnsupportedType,
        "send the submission as Content-Type: application/json, not '" + type.substr(0, 80) + "'"};
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw HttpError{Refusal::kBadRequest, "the body must be one JSON object"};
  const std::string kind = Text(body, "kind", true);
  if (kind != "wasm" && kind != "scatter" && kind != "map")
    throw HttpError{Refusal::kBadRequest, "\"kind\" is wasm, scatter or map, not '" + kind + "'"};
  std::string hash;
  const fs::path module = ModuleOf(body, &hash);
  std::vector<std::string> words = {kind};
  auto option = [&](const char* name, const char* flag, const shell::NumberRange& range) {
    if (auto v = Number(body, name, &range)) {
      NotAFlag(*v, name);
      words.push_back(flag);
      words.push_back(*v);
    }
  };
  option("timeout", "--timeout", shell::kCallTimeout);
  option("max_memory", "--max-memory", shell::kCallMemory);
  for (const std::string& e : Strings(body, "env", kMaxWords)) {
    if (kind == "scatter") throw HttpError{Refusal::kBadRequest, "scatter takes no \"env\""};
    words.push_back("--env");
    words.push_back(e);
  }
  TempFiles temps;
  if (kind == "scatter") {
    option("chunk", "--chunk", kChunkItems);
    if (Flag(body, "exclude_self")) words.push_back("--exclude-self");
    if (std::string reduce = Text(body, "reduce"); !reduce.empty()) {
      NotAFlag(reduce, "reduce");
      words.push_back("--reduce");
      words.push_back(reduce);
    }
    std::string func = Text(body, "func", true);
    NotAFlag(func, "func");
    auto start = Number(body, "start"), end = Number(body, "end");
    if (!start || !end)
      throw HttpError{Refusal::kBadRequest, "scatter needs \"start\" and \"end\""};
    words.insert(words.end(), {module.string(), func, *start, *end, "&"});
    shell::CommandResult r = RunShell(words);
    if (!r.ok || r.background_job == 0) {
      json err = r.json.is_object() ? r.json : json::object();
      if (!err.contains("error")) err["error"] = r.text;
      return Reply(res, 400, err);
    }
    return Reply(res, 202, {{"job", r.background_job}, {"kind", kind}, {"module_hash", hash}});
  }
  if (kind == "wasm") {
    if (Flag(body, "local")) words.push_back("--local");
    option("node", "--node", shell::kNodeId);
    if (const json* in = Field(body, "stdin")) {
      if (!in->is_string()) throw HttpError{Refusal::kBadRequest, "\"stdin\" must be a string"};
      fs::path file = TempPath("stdin");
      temps.paths.push_back(file);
      std::ofstream out(file, std::ios::binary);
      out << in->get<std::string>();
      if (!out.flush()) throw HttpError{Refusal::kFailed, "cannot write stdin to " + file.string()};
      words.push_back("--stdin");
      words.push_back(file.string());
    }
    words.push_back(module.string());
    std::string func = Text(body, "func");
    if (!func.empty()) {
      NotAFlag(func, "func");
      words.push_back(func);
    }
    for (std::string& a : Strings(body, "args", kMaxWords)) {
      // A call's arguments are numbers ("-5" is one); the shell would take "--local" after
      // the module for its own option. A command's words are all its own.
      if (!func.empty() && (a.rfind("--", 0) == 0 || a == "&"))
        throw HttpError{Refusal::kBadRequest, "a call's \"args\" are numbers, not '" + a + "'"};
      words.push_back(std::move(a));
    }
  } else {  // map
    if (std::string out = Text(body, "out"); !out.empty()) {
      if (out[0] != '/') throw HttpError{Refusal::kBadRequest, "\"out\" is an absolute path"};
      words.push_back("--out");
      words.push_back(out);
    }
    if (Flag(body, "lines")) words.push_back("--lines");
    if (Flag(body, "recursive")) words.push_back("--recursive");
    if (Flag(body, "exclude_self")) words.push_back("--exclude-self");
    option("retries", "--retries", shell::kMapRetries);
    words.push_back(module.string());
    for (std::string& a : Strings(body, "args", kMaxWords)) {
      if (a == ":::") throw HttpError{Refusal::kBadRequest, "an argument may not be :::"};
      words.push_back(std::move(a));
    }
    words.push_back(":::");
    std::vector<std::string> inputs = Strings(body, "inputs", kMaxWords);
    for (const std::string& in : inputs)
      if (in.empty() || in[0] != '/')
        throw HttpError{Refusal::kBadRequest, "\"inputs\" are absolute paths on the node"};
    std::vector<std::string> items = Strings(body, "items", HttpLimits::kMaxInlineItems);
    if (!items.empty()) {  // inline items: files of a folder of their own, item-NNNNNNNN
      fs::path dir = TempPath("items");
      temps.paths.push_back(dir);
      std::error_code ec;
      fs::create_directories(dir, ec);
      for (size_t i = 0; i < items.size(); i++) {
        char name[32];
        std::snprintf(name, sizeof name, "item-%08zu", i);
        std::ofstream out(dir / name, std::ios::binary);
        out << items[i];
        if (!out.flush())
          throw HttpError{Refusal::kFailed, "cannot write the items under " + dir.string()};
      }
      inputs.push_back(dir.string());
    }
    if (inputs.empty())
      throw HttpError{Refusal::kBadRequest, "map needs \"inputs\" (paths) or \"items\" (strings)"};
    words.insert(words.end(), inputs.begin(), inputs.end());
  }
  if (words.size() > 3 * kMaxWords + HttpLimits::kMaxInlineItems)
    throw HttpError{Refusal::kBadRequest, "too many words"};
  if (std::string problem = shell::CheckArguments(*shell::FindCommand(kind), words);
      !problem.empty())
    throw HttpError{Refusal::kBadRequest, problem};
  auto id = runs->Start(kind == "wasm" ? RunKind::kWasm : RunKind::kMap, std::move(words),
                        temps.Release());
  if (!id.ok()) {
    Refusal r = id.error().kind == ErrorKind::kLimitExceeded ? Refusal::kTooMany
                : id.error().kind == ErrorKind::kUnavailable ? Refusal::kTooMany
                                                             : Refusal::kBadRequest;
    throw HttpError{r, id.error().message};
  }
  Reply(res, 202, {{"job", *id}, {"kind", kind}, {"module_hash", hash}});
}

void HttpServer::Impl::Events(const httplib::Request& req, httplib::Response& res) {
  if (event_clients.fetch_add(1) >= HttpLimits::kMaxEventClients) {
    event_clients--;
    throw HttpError{Refusal::kTooMany, std::to_string(HttpLimits::kMaxEventClients) +
                                           " event streams are open already"};
  }
  uint64_t after = feed->Last();
  if (std::string last = req.get_header_value("Last-Event-ID"); !last.empty()) {
    char* end = nullptr;
    uint64_t v = std::strtoull(last.c_str(), &end, 10);
    if (end && *end == '\0' && v <= after) after = v;
  }
  feed->Subscribe();
  auto quiet_since =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, after, quiet_since, greeted = false](size_t, httplib::DataSink& sink) mutable {
        if (stopping) return false;
        if (!greeted) {  // first: who this is and where the stream starts (no id: not kept)
          greeted = true;
          std::string hello =
              "event: hello\ndata: " + Dump({{"node", node.id()}, {"after", after}}) + "\n\n";
          if (!sink.write(hello.data(), hello.size())) return false;
        }
        std::vector<Event> events = feed->Next(after, std::chrono::milliseconds(1000));
        if (stopping || !sink.is_writable()) return false;
        auto now = std::chrono::steady_clock::now();
        if (events.empty()) {
          if (now - *quiet_since < std::chrono::seconds(HttpLimits::kHeartbeatS)) return true;
          *quiet_since = now;
          return sink.write(": still here\n\n", 14);
        }
        *quiet_since = now;
        std::string out;
        for (const Event& e : events) {
          out += "id: " + std::to_string(e.seq) + "\nevent: " + EventTypeName(e.type) +
                 "\ndata: " + e.data + "\n\n";
          after = e.seq;
        }
        return sink.write(out.data(), out.size());
      },
      [this](bool) {
        feed->Unsubscribe();
        event_clients--;
      });
}

void HttpServer::Impl::Metrics(const httplib::Request&, httplib::Response& res) {
  HttpFigures figures;
  const HttpCounters counted = node.Http();  // the node keeps the count, for `status` too
  figures.requests = counted.requests;
  figures.unauthorized = counted.unauthorized;
  figures.event_clients = event_clients;
  res.set_content(RenderMetrics(node, figures), "text/plain; version=0.0.4; charset=utf-8");
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Node& node, HttpOptions options) {
  if (options.bind == "localhost") options.bind = "127.0.0.1";
  if (!IsAddress(options.bind))
    return MakeError(
        ErrorKind::kBadArguments,
        "--http-bind takes an IP address (127.0.0.1, 0.0.0.0, ::1), not '" + options.bind + "'");
  auto impl = std::make_unique<Impl>(node, options);
  impl->loopback = IsLoopback(options.bind);
  // The token is in place before anything is served, and beyond loopback nothing is served
  // without it.
  auto token = LoadOrCreateToken(options.home);
  if (!token.ok()) return token.error();
  impl->token = std::move(*token);
  // What an earlier run left there (a kill during a submission) is nobody's any more.
  std::error_code ec;
  fs::remove_all(options.home / "http" / "tmp", ec);
  impl->runs = std::make_unique<HttpRuns>(node);
  impl->feed =
      std::make_unique<EventFeed>(node, [raw = impl.get()] { return raw->runs->CallStates(); });
  impl->Install();
  if (options.port == 0) {
    impl->port = impl->server.bind_to_any_port(options.bind);
  } else if (impl->server.bind_to_port(options.bind, options.port)) {
    impl->port = options.port;
  }
  if (impl->port <= 0)
    return MakeError(ErrorKind::kUnavailable, "cannot serve HTTP on " + options.bind + " port " +
                                                  std::to_string(options.port) +
                                                  " (taken, or not an address of this machine)");
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(impl)));
  node.SetHttpAddress(server->address());
  spdlog::info("http: serving on {}{}", server->address(),
               server->loopback() ? " (loopback: reads open, changes need the token)"
                                  : " (every request needs the token)");
  return server;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  impl_->stopping = true;
  impl_->feed->Stop();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->runs.reset();
}

uint16_t HttpServer::port() const { return static_cast<uint16_t>(impl_->port); }

std::string HttpServer::address() const {
  bool v6 = impl_->options.bind.find(':') != std::string::npos;
  return (v6 ? "[" + impl_->options.bind + "]" : impl_->options.bind) + ":" +
         std::to_string(impl_->port);
}

bool HttpServer::loopback() const { return impl_->loopback; }

}  // namespace velum::http
