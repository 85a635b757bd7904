// GET /api/jobs/ID/timeline's body: a job's attempts per worker over time (timeline_json.h).
#include "http/timeline_json.h"

#include <set>

namespace velum::http {

nlohmann::json JobTimelineJson(const core::JobTimeline& timeline) {
  nlohmann::json spans = nlohmann::json::array();
  std::set<core::NodeId> workers;
  for (const core::ChunkSpan& s : timeline.spans) {
    workers.insert(s.worker);
    spans.push_back({s.worker, s.begin, s.end, s.done, s.started_ms, s.ended_ms,
                     core::SpanOutcomeName(s.outcome), s.backup});
  }
  return {{"job", timeline.job},
          {"state", core::JobStateName(timeline.state)},
          {"elapsed_ms", timeline.elapsed_ms},
          {"dropped", timeline.dropped},
          {"restored", timeline.restored},
          {"workers", workers},
          {"columns",
           {"worker", "begin", "end", "done", "started_ms", "ended_ms", "outcome", "backup"}},
          {"spans", std::move(spans)}};
}

}  // namespace velum::http
