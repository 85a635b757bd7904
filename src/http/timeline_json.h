// A job's chunk timeline (Node::JobTimeline) as the JSON of GET /api/jobs/ID/timeline, compact
// (one array per attempt) so that a job of 20 000 attempts stays about a megabyte.
#ifndef VELUM_HTTP_TIMELINE_JSON_H_
#define VELUM_HTTP_TIMELINE_JSON_H_

#include <nlohmann/json.hpp>

#include "core/coordinator.h"

namespace velum::http {

// {"job", "state", "elapsed_ms", "dropped", "restored", "workers": [ids],
//  "columns": ["worker","begin","end","done","started_ms","ended_ms","outcome","backup"],
//  "spans": [[...], ...]}   outcome: running, done, lost, failed or stopped.
nlohmann::json JobTimelineJson(const core::JobTimeline& timeline);

}  // namespace velum::http

#endif  // VELUM_HTTP_TIMELINE_JSON_H_
