// The Prometheus text format (0.0.4) of a node's metrics: each family's HELP and TYPE, then its
// samples; counters end in _total, units are in the names, label values are escaped.
#include "http/metrics.h"

#include <array>
#include <charconv>
#include <cmath>
#include <concepts>
#include <initializer_list>
#include <string>
#include <utility>

#include "core/types.h"

namespace velum {

namespace {

struct Label {
  std::string_view name;
  std::string value;
};

template <std::integral V>
std::string Number(V value) {
  return std::to_string(value);
}

std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 64> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf.data(), end);
}

// HELP text: backslash and newline escaped (double quotes stay as they are).
std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Page {
 public:
  // Opens a family: every sample that follows until the next one is of it.
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += EscapeHelp(help);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }
  template <typename V>
  void Sample(std::string_view name, std::initializer_list<Label> labels, V value) {
    text_ += name;
    if (labels.size() > 0) {
      text_ += '{';
      bool first = true;
      for (const Label& l : labels) {
        if (!first) text_ += ',';
        first = false;
        text_ += l.name;
        text_ += "=\"";
        text_ += EscapeLabelValue(l.value);
        text_ += '"';
      }
      text_ += '}';
    }
    text_ += ' ';
    text_ += Number(value);
    text_ += '\n';
  }
  // A family of one sample without labels.
  template <typename V>
  void Single(std::string_view name, std::string_view type, std::string_view help, V value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

constexpr std::array<core::JobState, 3> kEndStates = {
    core::JobState::kDone, core::JobState::kFailed, core::JobState::kCancelled};

void Membership(const NodeMetrics& m, Page* p) {
  p->Single("velum_uptime_seconds", "gauge", "Seconds since this node started.", m.uptime_seconds);
  p->Family("velum_members", "gauge",
            "Members of the mesh this node knows, itself included, by membership state.");
  for (auto state : {core::MemberState::kAlive, core::MemberState::kSuspect,
                     core::MemberState::kDead, core::MemberState::kLeft})
    p->Sample("velum_members", {{"state", core::StateName(state)}},
              m.members[static_cast<size_t>(state)]);
  p->Family("velum_membership_events_total", "counter",
            "Failure detector events: probes sent, suspicions raised, members declared dead, "
            "suspicions of this node refuted.");
  p->Sample("velum_membership_events_total", {{"event", "probe"}}, m.probes);
  p->Sample("velum_membership_events_total", {{"event", "suspicion"}}, m.suspicions);
  p->Sample("velum_membership_events_total", {{"event", "declared_dead"}}, m.declared_dead);
  p->Sample("velum_membership_events_total", {{"event", "refutation"}}, m.refutations);
}

void Transport(const NodeMetrics& m, Page* p) {
  p->Single("velum_links_up", "gauge", "Encrypted TCP links to peers established now.", m.links_up);
  p->Family("velum_link_rtt_seconds", "gauge",
            "Round trip of the last heartbeat on the link to each peer with a link up.");
  for (const auto& r : m.rtt)
    p->Sample("velum_link_rtt_seconds", {{"peer", std::to_string(r.peer)}}, r.seconds);
  p->Single("velum_datagrams_received_total", "counter",
            "UDP datagrams (gossip and beacons) received, accepted or dropped.", m.datagrams_in);
  p->Single("velum_datagrams_sent_total", "counter", "UDP datagrams (gossip and beacons) sent.",
            m.datagrams_out);
  p->Single("velum_frames_received_total", "counter", "Messages received on established links.",
            m.frames_in);
  p->Single("velum_frames_sent_total", "counter", "Messages queued on established links.",
            m.frames_out);
  p->Single("velum_transport_received_bytes_total", "counter",
            "Bytes received in datagrams and on links.", m.bytes_in);
  p->Single("velum_transport_sent_bytes_total", "counter", "Bytes sent in datagrams and on links.",
            m.bytes_out);
  p->Family("velum_dropped_total", "counter",
            "Traffic refused or dropped, by reason (datagrams, connections, link frames, "
            "job frames held for a peer, peers past the table's bound).");
  for (size_t r = 0; r < kDropReasons; r++)
    p->Sample("velum_dropped_total", {{"reason", DropReasonName(static_cast<DropReason>(r))}},
              m.dropped[r]);
}

void Jobs(const NodeMetrics& m, Page* p) {
  p->Family("velum_jobs_running", "gauge", "Jobs this node coordinates that are running now.");
  p->Sample("velum_jobs_running", {{"kind", "scatter"}}, m.jobs_running);
  p->Sample("velum_jobs_running", {{"kind", "map"}}, m.maps.running);
  p->Family("velum_jobs_ended_total", "counter",
            "Jobs this node coordinated that ended since it started, by kind and final state.");
  for (core::JobState s : kEndStates) {
    const size_t i = static_cast<size_t>(s);
    p->Sample("velum_jobs_ended_total", {{"kind", "scatter"}, {"state", core::JobStateName(s)}},
              m.scatter.ended[i]);
    p->Sample("velum_jobs_ended_total", {{"kind", "map"}, {"state", core::JobStateName(s)}},
              m.maps.ended[i]);
  }
  p->Family("velum_items_done_total", "counter",
            "Items done in jobs this node coordinates: scatter items committed, map items "
            "that succeeded.");
  p->Sample("velum_items_done_total", {{"kind", "scatter"}}, m.scatter.items_done);
  p->Sample("velum_items_done_total", {{"kind", "map"}}, m.maps.items_ok);
  p->Single("velum_map_items_failed_total", "counter",
            "Map items that failed for good (their retries spent).", m.maps.items_failed);
  p->Single("velum_chunks_done_total", "counter",
            "Chunks of scatter jobs completed (this node coordinating).", m.scatter.chunks_done);
  p->Single("velum_reassignments_total", "counter",
            "Remainders of chunks handed to another worker after a loss.", m.scatter.reassigned);
  p->Single("velum_reassigned_items_total", "counter", "Items in the reassigned remainders.",
            m.scatter.reassigned_items);
  p->Single("velum_recomputed_items_total", "counter",
            "Scatter items computed more than once (in flight on a lost worker, a losing "
            "backup's work).",
            m.scatter.recomputed);
  p->Single("velum_map_reruns_total", "counter",
            "Map item runs handed back to run again after a loss or a failure.", m.maps.reruns);
  p->Family("velum_work_served_total", "counter",
            "Work this node ran for others: slices of jobs, calls of peers, WASI commands.");
  p->Sample("velum_work_served_total", {{"kind", "slice"}}, m.slices_run);
  p->Sample("velum_work_served_total", {{"kind", "call"}}, m.calls_served);
  p->Sample("velum_work_served_total", {{"kind", "command"}}, m.commands_served);
}

void Executors(const NodeMetrics& m, Page* p) {
  p->Single("velum_executor_slots", "gauge", "Executor slots of this node.", m.slots);
  p->Single("velum_executor_slots_busy", "gauge", "Executor slots running work now.", m.slots_busy);
  p->Family("velum_calls_total", "counter",
            "Executor calls on this node, by the engine that answered and how they ended.");
  for (size_t e = 0; e < kCallEngines; e++)
    for (size_t r = 0; r < kCallResults; r++)
      p->Sample("velum_calls_total",
                {{"engine", CallEngineName(static_cast<CallEngine>(e))},
                 {"outcome", CallResultName(static_cast<CallResult>(r))}},
                m.calls.calls[e][r]);
  p->Family("velum_call_duration_seconds", "histogram",
            "Wall time of executor calls on this node, by engine.");
  for (size_t e = 0; e < kCallEngines; e++) {
    const std::string engine = CallEngineName(static_cast<CallEngine>(e));
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kCallSecondsBuckets.size(); b++) {
      cumulative += m.calls.buckets[e][b];
      p->Sample("velum_call_duration_seconds_bucket",
                {{"engine", engine}, {"le", Number(kCallSecondsBuckets[b])}}, cumulative);
    }
    cumulative += m.calls.buckets[e][kCallSecondsBuckets.size()];
    p->Sample("velum_call_duration_seconds_bucket", {{"engine", engine}, {"le", "+Inf"}},
              cumulative);
    p->Sample("velum_call_duration_seconds_sum", {{"engine", engine}},
              static_cast<double>(m.calls.micros[e]) / 1e6);
    p->Sample("velum_call_duration_seconds_count", {{"engine", engine}}, cumulative);
  }
  p->Single("velum_executors_started_total", "counter", "Executor processes started.",
            m.pool.executors_started);
  p->Single("velum_executors_replaced_total", "counter",
            "Executors replaced after a crash, a deadline kill or a lost race.",
            m.pool.executors_replaced);
  p->Single("velum_aot_compiles_total", "counter", "AOT compiles started by the compile queue.",
            m.pool.compiles);
  p->Single("velum_aot_compile_failures_total", "counter",
            "Modules whose AOT compile failed or that are over the AOT budget.",
            m.pool.compiles_failed);
  p->Single("velum_aot_compiles_refused_total", "counter",
            "AOT compiles asked for while the compile queue was full.", m.pool.compiles_refused);
  p->Single("velum_cache_bytes", "gauge",
            "Bytes of the module store and the AOT cache in this node's home.", m.pool.cache_bytes);
  p->Single("velum_cache_evictions_total", "counter",
            "Files evicted from the module store and the AOT cache to stay under the cap.",
            m.pool.cache_evictions);
  p->Family("velum_module_transfers_total", "counter",
            "Modules fetched from peers (in) and served to peers (out).");
  p->Sample("velum_module_transfers_total", {{"direction", "in"}}, m.modules_in);
  p->Sample("velum_module_transfers_total", {{"direction", "out"}}, m.modules_out);
  p->Single("velum_module_received_bytes_total", "counter", "Bytes of modules fetched from peers.",
            m.module_bytes_in);
}

void Http(const HttpFigures& http, Page* p) {
  p->Single("velum_http_requests_total", "counter", "HTTP requests served.", http.requests);
  p->Single("velum_http_unauthorized_total", "counter",
            "HTTP requests refused with 401: a wrong or missing bearer token.", http.unauthorized);
  p->Single("velum_http_event_clients", "gauge", "Event streams (/api/events) open now.",
            http.event_clients);
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderMetrics(const NodeMetrics& metrics, const HttpFigures& http) {
  Page page;
  Membership(metrics, &page);
  Transport(metrics, &page);
  Jobs(metrics, &page);
  Executors(metrics, &page);
  Http(http, &page);
  return page.Take();
}

std::string RenderMetrics(Node& node, const HttpFigures& http) {
  return RenderMetrics(node.Metrics(), http);
}

}  // namespace velum
