// Printable names of member states and message types, for logs, JSON and test messages.
// Kept in one place so the driver, the command line, the simulator and the docs agree on wording.
#include "core/assert.h"
#include "core/job_types.h"
#include "core/message.h"
#include "core/types.h"

namespace velum::core {

const char* OutputStreamName(OutputStream stream) {
  switch (stream) {
    case OutputStream::kStdout:
      return "stdout";
    case OutputStream::kStderr:
      return "stderr";
  }
  return "?";
}

const char* StateName(MemberState state) {
  switch (state) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
    case MemberState::kLeft:
      return "left";
  }
  return "?";
}

const char* MessageTypeName(size_t body_index) {
  static const char* const kNames[] = {"ping", "ack",      "ping_req", "indirect_ack", "nack",
                                       "join", "join_ack", "leave",    "gossip"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == kMessageTypes);
  VELUM_ASSERT(body_index < kMessageTypes);
  return kNames[body_index];
}

}  // namespace velum::core
