// velum-fuzz-decoders: one libFuzzer entry for every decoder of untrusted mesh bytes (datagram
// MACs, the TCP session's records, the protobuf codecs of datagrams, link frames and journal
// records); input[0] picks one (fuzz_inputs.h).
#include <google/protobuf/stubs/logging.h>
#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/message.h"
#include "core/types.h"
#include "net/datagram_auth.h"
#include "net/secure_session.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_inputs.h"
#include "wire/codec.h"
#include "wire/job_codec.h"
#include "wire/velum.pb.h"

namespace {

using namespace velum;
using fuzz::kKey;
using fuzz::kLocal;
using fuzz::kNowMs;
using fuzz::Reader;

// --- Deterministic randomness: nonces come from a counter reset before every input, so a
// run of one input takes the same path every time.
uint64_t g_random_counter = 0;

void DeterministicBuf(void* buf, size_t size) {
  uint8_t seed[randombytes_SEEDBYTES] = {};
  uint64_t counter = g_random_counter++;
  std::memcpy(seed, &counter, sizeof counter);
  randombytes_buf_deterministic(buf, size, seed);
}
uint32_t DeterministicRandom() {
  uint32_t v;
  DeterministicBuf(&v, sizeof v);
  return v;
}
const char* DeterministicName() { return "velum-fuzz-deterministic"; }

randombytes_implementation g_deterministic = {DeterministicName, DeterministicRandom, nullptr,
                                              nullptr,           DeterministicBuf,    nullptr};

// --- The codec: accepted input stays within core/message.h's limits and round-trips.
void CheckMeta(const core::NodeMeta& m) {
  FUZZ_CHECK(m.addr.size() <= core::kMaxMetaString);
  FUZZ_CHECK(m.gossip_addr.size() <= core::kMaxMetaString);
  FUZZ_CHECK(m.version.size() <= core::kMaxMetaString);
}

void CheckUpdate(const core::Update& u) {
  FUZZ_CHECK(u.id != core::kNoNode);
  FUZZ_CHECK(u.state <= core::MemberState::kLeft);
  CheckMeta(u.meta);
}

void CheckMessage(const core::Message& m) {
  CheckUpdate(m.from);
  FUZZ_CHECK(m.from.state == core::MemberState::kAlive || m.from.state == core::MemberState::kLeft);
  FUZZ_CHECK(m.gossip.size() <= core::kMaxGossipPerMessage);
  for (const core::Update& u : m.gossip) CheckUpdate(u);
  if (const auto* b = std::get_if<core::PingReq>(&m.body)) FUZZ_CHECK(b->target != core::kNoNode);
  if (const auto* b = std::get_if<core::IndirectAck>(&m.body)) {
    FUZZ_CHECK(b->target != core::kNoNode);
  }
  if (const auto* b = std::get_if<core::Nack>(&m.body)) FUZZ_CHECK(b->target != core::kNoNode);
  if (const auto* b = std::get_if<core::JoinAck>(&m.body)) {
    FUZZ_CHECK(b->members.size() <= core::kMaxJoinAckMembers);
    FUZZ_CHECK(b->ranges.size() <= core::kMaxSummaryRanges);
    for (const core::Update& u : b->members) CheckUpdate(u);
  }
}

// Returns whether `bytes` decoded; a decoded message must encode and decode to itself.
bool FuzzMessage(std::string_view bytes, core::Message* msg) {
  if (!wire::Decode(bytes, msg)) return false;
  CheckMessage(*msg);
  std::string encoded = wire::Encode(*msg);
  FUZZ_CHECK(encoded.size() <= wire::kMaxMessageBytes);
  core::Message back;
  FUZZ_CHECK(wire::Decode(encoded, &back));
  FUZZ_CHECK(back == *msg);
  FUZZ_CHECK(wire::Encode(back) == encoded);
  return true;
}

bool FuzzBeacon(std::string_view bytes, wire::Beacon* beacon) {
  if (!wire::DecodeBeacon(bytes, beacon)) return false;
  FUZZ_CHECK(beacon->id != core::kNoNode);
  CheckMeta(beacon->meta);
  std::string encoded = wire::EncodeBeacon(*beacon);
  wire::Beacon back;
  FUZZ_CHECK(wire::DecodeBeacon(encoded, &back));
  FUZZ_CHECK(back == *beacon);
  return true;
}

// What src/node/node.cc does with an opened datagram's payload.
void DecodeAsNode(uint32_t sender, std::string_view payload) {
  if (payload.empty()) return;
  if (payload[0] == 'B') {
    wire::Beacon beacon;
    if (FuzzBeacon(payload.substr(1), &beacon) && beacon.id != sender) return;  // refused
  } else if (payload[0] == 'M') {
    core::Message msg;
    if (FuzzMessage(payload.substr(1), &msg) && msg.from.id != sender) return;  // refused
  }
}

// --- Structured: messages built with the generated classes, so counts and field values
// beyond the limits are one op away; the decoder's verdict is compared with the rules below,
// an independent statement of wire/codec.h's (a rule added there must be added here too).
void BuildUpdate(Reader& in, wire::pb::Update* u) {
  u->set_id(in.U16());
  u->set_incarnation(in.U8());
  u->set_state(static_cast<wire::pb::MemberState>(in.U8() % 6));
  u->set_suspecter(in.U8());
  if (in.U8() & 1) {
    wire::pb::NodeMeta* m = u->mutable_meta();
    m->set_slots(in.U8());
    m->set_addr(std::string(in.U8() * 2u, 'a'));
    m->set_gossip_addr(std::string(in.U8() * 2u, 'g'));
    m->set_version(std::string(in.U8() * 2u, 'v'));
  }
}

bool MetaObeysRules(const wire::pb::NodeMeta& m) {
  return m.addr().size() <= core::kMaxMetaString &&
         m.gossip_addr().size() <= core::kMaxMetaString &&
         m.version().size() <= core::kMaxMetaString;
}

bool UpdateObeysRules(const wire::pb::Update& u) {
  return u.id() != 0 && u.state() >= wire::pb::MEMBER_STATE_ALIVE &&
         u.state() <= wire::pb::MEMBER_STATE_LEFT && (!u.has_meta() || MetaObeysRules(u.meta()));
}

bool MessageObeysRules(const wire::pb::Membership& p) {
  if (!p.has_from() || !UpdateObeysRules(p.from())) return false;
  if (p.from().state() != wire::pb::MEMBER_STATE_ALIVE &&
      p.from().state() != wire::pb::MEMBER_STATE_LEFT) {
    return false;
  }
  if (static_cast<size_t>(p.gossip_size()) > core::kMaxGossipPerMessage) return false;
  for (const auto& u : p.gossip()) {
    if (!UpdateObeysRules(u)) return false;
  }
  switch (p.body_case()) {
    case wire::pb::Membership::BODY_NOT_SET:
      return false;
    case wire::pb::Membership::kPingReq:
      return p.ping_req().target() != 0;
    case wire::pb::Membership::kIndirectAck:
      return p.indirect_ack().target() != 0;
    case wire::pb::Membership::kNack:
      return p.nack().target() != 0;
    case wire::pb::Membership::kJoinAck: {
      const auto& a = p.join_ack();
      if (static_cast<size_t>(a.members_size()) > core::kMaxJoinAckMembers) return false;
      if (static_cast<size_t>(a.ranges_size()) > core::kMaxSummaryRanges) return false;
      for (const auto& u : a.members()) {
        if (!UpdateObeysRules(u)) return false;
      }
      return true;
    }
    default:
      return true;
  }
}

void SetBody(wire::pb::Membership* p, uint8_t body, uint64_t seq, uint32_t target) {
  switch (body % 10) {
    case 0:
      p->mutable_ping()->set_seq(seq);
      break;
    case 1:
      p->mutable_ack()->set_seq(seq);
      break;
    case 2: {
      p->mutable_ping_req()->set_seq(seq);
      p->mutable_ping_req()->set_target(target);
      break;
    }
    case 3: {
      p->mutable_indirect_ack()->set_seq(seq);
      p->mutable_indirect_ack()->set_target(target);
      break;
    }
    case 4: {
      p->mutable_nack()->set_seq(seq);
      p->mutable_nack()->set_target(target);
      break;
    }
    case 5: {
      p->mutable_join()->set_seq(seq);
      p->mutable_join()->set_cursor(target);
      p->mutable_join()->set_summary(seq & 1);
      break;
    }
    case 6: {
      p->mutable_join_ack()->set_seq(seq);
      p->mutable_join_ack()->set_next_cursor(target);
      p->mutable_join_ack()->set_done(seq & 1);
      break;
    }
    case 7:
      p->mutable_leave();
      break;
    case 8:
      p->mutable_gossip_only();
      break;
    default:
      p->clear_body();
      break;
  }
}

void FuzzStructured(Reader in) {
  bool beacon = in.U8() & 1;
  wire::pb::Membership p;
  for (int ops = 0; !in.empty() && ops < 256; ops++) {
    switch (in.U8() % fuzz::kBuildOps) {
      case fuzz::kBuildFrom:
        BuildUpdate(in, p.mutable_from());
        break;
      case fuzz::kBuildGossip:
        BuildUpdate(in, p.add_gossip());
        break;
      case fuzz::kBuildMember:
        BuildUpdate(in, p.mutable_join_ack()->add_members());
        break;
      case fuzz::kBuildRange: {
        wire::pb::RangeDigest* r = p.mutable_join_ack()->add_ranges();
        r->set_start(in.U16());
        r->set_digest(in.U32());
        break;
      }
      case fuzz::kBuildBody: {
        uint8_t body = in.U8();
        uint8_t seq = in.U8();
        SetBody(&p, body, seq, in.U8());
        break;
      }
      case fuzz::kBuildTo:
        p.set_to(in.U16());
        break;
    }
  }
  if (beacon) {
    wire::pb::Beacon b;
    b.set_id(p.from().id());
    b.set_incarnation(p.from().incarnation());
    if (p.from().has_meta()) *b.mutable_meta() = p.from().meta();
    bool obeys = b.id() != 0 && b.has_meta() && MetaObeysRules(b.meta());
    wire::Beacon decoded;
    FUZZ_CHECK(FuzzBeacon(b.SerializeAsString(), &decoded) == obeys);
    if (obeys) FUZZ_CHECK(decoded.id == b.id() && decoded.meta.addr == b.meta().addr());
    return;
  }
  core::Message decoded;
  FUZZ_CHECK(FuzzMessage(p.SerializeAsString(), &decoded) == MessageObeysRules(p));
}

// --- Link frames and journal records (wire/job_codec): what DecodeLink, DecodeJobSpec and
// DecodeNums accept stays within wire/job_codec.h's limits, and encodes and decodes to itself.
void CheckValues(const std::vector<wire::WireValue>& values) {
  FUZZ_CHECK(values.size() <= wire::kMaxCallValues);
  for (const wire::WireValue& v : values) {
    FUZZ_CHECK(v.type <= 3);
    if (v.type == 0 || v.type == 2) FUZZ_CHECK(v.bits <= 0xffffffffu);
  }
}

void CheckLink(const wire::LinkMessage& message) {
  std::visit(
      [](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, core::Assign>) {
          FUZZ_CHECK(m.job != 0 && m.attempt != 0);
          FUZZ_CHECK(!m.func.empty() && m.func.size() <= core::kMaxFuncName);
          FUZZ_CHECK(m.start < m.end);
          FUZZ_CHECK(m.reducer <= core::ReducerKind::kModule);
          FUZZ_CHECK((m.reducer == core::ReducerKind::kModule)
                         ? !m.reduce_func.empty() && m.reduce_func.size() <= core::kMaxFuncName
                         : m.reduce_func.empty() && m.base.empty());
          FUZZ_CHECK(m.base.values.size() <= core::kMaxResultValues);
          FUZZ_CHECK(m.max_memory_pages <= 65536 && m.slice_ms > 0);
        } else if constexpr (std::is_same_v<M, core::Cancel>) {
          FUZZ_CHECK(m.job != 0);
        } else if constexpr (std::is_same_v<M, core::Report>) {
          FUZZ_CHECK(m.job != 0 && m.attempt != 0 && m.upto <= m.running_to);
          FUZZ_CHECK(m.partial.values.size() <= core::kMaxResultValues);
          for (const core::Num& n : m.partial.values) FUZZ_CHECK(n.kind <= core::NumKind::kF64);
          FUZZ_CHECK(m.error.message.size() <= core::kMaxErrorMessage);
          if (!m.has_error) FUZZ_CHECK(m.error == core::TaskError{});
        } else if constexpr (std::is_same_v<M, wire::ModuleData>) {
          FUZZ_CHECK(m.data.size() <= wire::kModulePiece && m.offset <= m.total);
          FUZZ_CHECK(m.data.size() <= m.total - m.offset);
          FUZZ_CHECK(m.error.size() <= core::kMaxErrorMessage);
          FUZZ_CHECK(m.error.empty() || m.data.empty());
        } else if constexpr (std::is_same_v<M, wire::CallRequest>) {
          FUZZ_CHECK(m.id != 0);
          FUZZ_CHECK(!m.func.empty() && m.func.size() <= core::kMaxFuncName);
          FUZZ_CHECK(m.max_memory_pages <= 65536);
          CheckValues(m.args);
        } else if constexpr (std::is_same_v<M, wire::CallResult>) {
          FUZZ_CHECK(m.id != 0 && m.engine.size() <= 16);
          FUZZ_CHECK(m.error.message.size() <= core::kMaxErrorMessage);
          if (!m.has_error) FUZZ_CHECK(m.error == core::TaskError{});
          CheckValues(m.values);
        } else if constexpr (std::is_same_v<M, wire::CallCancel>) {
          FUZZ_CHECK(m.id != 0);
        }
      },
      message);
}

// Returns whether `bytes` decoded as a link frame; a decoded frame must encode and decode to
// itself.
bool FuzzLink(std::string_view bytes) {
  wire::LinkMessage msg;
  bool ok = wire::DecodeLink(bytes, &msg);
  if (!ok) return false;
  CheckLink(msg);
  std::string encoded = wire::EncodeLink(msg);
  FUZZ_CHECK(encoded.size() <= wire::kMaxLinkMessageBytes);
  wire::LinkMessage back;
  FUZZ_CHECK(wire::DecodeLink(encoded, &back));
  FUZZ_CHECK(back == msg);
  FUZZ_CHECK(wire::EncodeLink(back) == encoded);
  return true;
}

bool FuzzJobSpec(std::string_view bytes) {
  core::JobSpec spec;
  if (!wire::DecodeJobSpec(bytes, &spec)) return false;
  FUZZ_CHECK(!spec.func.empty() && spec.func.size() <= core::kMaxFuncName);
  FUZZ_CHECK(spec.start < spec.end && spec.reducer <= core::ReducerKind::kModule);
  FUZZ_CHECK((spec.reducer == core::ReducerKind::kModule) == !spec.reduce_func.empty());
  FUZZ_CHECK(!spec.result_kinds.empty() && spec.result_kinds.size() <= core::kMaxResultValues);
  for (core::NumKind k : spec.result_kinds) FUZZ_CHECK(k <= core::NumKind::kF64);
  FUZZ_CHECK(spec.label.size() <= 4096);
  std::string encoded = wire::EncodeJobSpec(spec);
  core::JobSpec back;
  FUZZ_CHECK(wire::DecodeJobSpec(encoded, &back));
  FUZZ_CHECK(back == spec);
  FUZZ_CHECK(wire::EncodeJobSpec(back) == encoded);
  return true;
}

bool FuzzNums(std::string_view bytes) {
  std::vector<core::Num> values;
  if (!wire::DecodeNums(bytes, &values)) return false;
  FUZZ_CHECK(values.size() <= core::kMaxResultValues);
  std::string encoded = wire::EncodeNums(values);
  std::vector<core::Num> back;
  FUZZ_CHECK(wire::DecodeNums(encoded, &back));
  FUZZ_CHECK(back == values);
  FUZZ_CHECK(wire::EncodeNums(back) == encoded);
  return true;
}

// --- Structured link frames: fields read from the input, often at a limit or one past it.
uint64_t U64(Reader& in) {
  uint64_t lo = in.U32();
  return lo | uint64_t{in.U32()} << 32;
}
// A length or count near `limit`: at it, one past, one short, none, or small.
size_t Near(Reader& in, size_t limit) {
  switch (in.U8() % 5) {
    case 0:
      return limit;
    case 1:
      return limit + 1;
    case 2:
      return limit - 1;
    case 3:
      return 0;
    default:
      return in.U8() % 40;
  }
}
std::string Text(Reader& in, size_t limit, char c) { return std::string(Near(in, limit), c); }
// Small signed numbers, so that start >= end and running_to < upto come up often.
int64_t Small(Reader& in) { return static_cast<int8_t>(in.U8()); }
uint32_t Pages(Reader& in) {
  switch (in.U8() % 4) {
    case 0:
      return 65536;
    case 1:
      return 65537;
    case 2:
      return 0;
    default:
      return in.U16();
  }
}
uint64_t Id(Reader& in) { return in.U8() % 3; }  // 0 is invalid

void BuildNum(Reader& in, wire::pb::Num* n) {
  switch (in.U8() % 4) {
    case 0:
      n->set_int_(static_cast<int64_t>(U64(in)));
      break;
    case 1:
      n->set_f32_bits(in.U32());
      break;
    case 2:
      n->set_f64_bits(U64(in));
      break;
    default:
      break;  // no value: invalid
  }
}
void BuildValue(Reader& in, wire::pb::Value* v) {
  v->set_type(in.U8() % 6);
  v->set_bits((in.U8() & 1) ? U64(in) : in.U32());
}
void BuildError(Reader& in, wire::pb::TaskError* e) {
  e->set_kind(in.U8());
  e->set_message(Text(in, core::kMaxErrorMessage, 'm'));
  e->set_retryable(in.U8() & 1);
}

template <typename Repeated>
bool NumsObey(const Repeated& ns) {
  if (static_cast<size_t>(ns.size()) > core::kMaxResultValues) return false;
  for (const auto& n : ns) {
    if (n.v_case() == wire::pb::Num::V_NOT_SET) return false;
  }
  return true;
}
template <typename Repeated>
bool ValuesObey(const Repeated& vs) {
  if (static_cast<size_t>(vs.size()) > wire::kMaxCallValues) return false;
  for (const auto& v : vs) {
    if (v.type() > 3 || ((v.type() == 0 || v.type() == 2) && v.bits() > 0xffffffffu)) return false;
  }
  return true;
}
bool FuncObeys(const std::string& f) { return !f.empty() && f.size() <= core::kMaxFuncName; }
bool ReducerObeys(int r) { return r >= 0 && r <= 4; }
// REDUCER_MODULE (4) names its export; the others name none.
bool ReduceFuncObeys(int r, const std::string& f) { return r == 4 ? FuncObeys(f) : f.empty(); }

// The rules of wire/job_codec.h, stated again: DecodeLink must accept exactly these frames.
bool LinkObeysRules(const wire::pb::LinkFrame& p) {
  if (p.ByteSizeLong() > wire::kMaxLinkMessageBytes) return false;
  switch (p.body_case()) {
    case wire::pb::LinkFrame::kPing:
    case wire::pb::LinkFrame::kPong:
      return true;
    case wire::pb::LinkFrame::kAssign: {
      const auto& a = p.assign();
      return a.job() != 0 && a.attempt() != 0 && a.module().size() == 32 && FuncObeys(a.func()) &&
             a.start() < a.end() && ReducerObeys(a.reducer()) && a.max_memory_pages() <= 65536 &&
             a.slice_ms() != 0 && ReduceFuncObeys(a.reducer(), a.reduce_func()) &&
             NumsObey(a.base().values()) && (a.reducer() == 4 || a.base().values_size() == 0);
    }
    case wire::pb::LinkFrame::kCancel:
      return p.cancel().job() != 0;
    case wire::pb::LinkFrame::kReport: {
      const auto& r = p.report();
      return r.job() != 0 && r.attempt() != 0 && r.upto() <= r.running_to() &&
             NumsObey(r.partial().values()) &&
             (!r.has_error() || r.error().message().size() <= core::kMaxErrorMessage);
    }
    case wire::pb::LinkFrame::kModuleRequest:
      return p.module_request().hash().size() == 32;
    case wire::pb::LinkFrame::kModuleData: {
      const auto& d = p.module_data();
      return d.hash().size() == 32 && d.data().size() <= wire::kModulePiece &&
             d.offset() <= d.total() && d.data().size() <= d.total() - d.offset() &&
             d.error().size() <= core::kMaxErrorMessage && (d.error().empty() || d.data().empty());
    }
    case wire::pb::LinkFrame::kCall: {
      const auto& c = p.call();
      return c.id() != 0 && c.module().size() == 32 && FuncObeys(c.func()) &&
             ValuesObey(c.args()) && c.max_memory_pages() <= 65536;
    }
    case wire::pb::LinkFrame::kCallResult: {
      const auto& c = p.call_result();
      return c.id() != 0 && ValuesObey(c.values()) && c.engine().size() <= 16 &&
             (!c.has_error() || c.error().message().size() <= core::kMaxErrorMessage);
    }
    case wire::pb::LinkFrame::kCallCancel:
      return p.call_cancel().id() != 0;
    case wire::pb::LinkFrame::kCommand: {
      const auto& c = p.command();
      if (c.id() == 0 || c.module().size() != 32 || c.max_memory_pages() > 65536) return false;
      if (c.args().empty() ||
          static_cast<size_t>(c.args_size() + c.env_size()) > wire::kMaxCommandArgs)
        return false;
      size_t bytes = 0;
      for (const auto* list : {&c.args(), &c.env()})
        for (const std::string& w : *list) {
          if (w.find('\0') != std::string::npos) return false;
          bytes += w.size();
        }
      if (bytes > wire::kMaxCommandArgBytes) return false;
      if (static_cast<size_t>(c.dirs_size()) > wire::kMaxCommandDirs) return false;
      for (const std::string& d : c.dirs())
        if (d.empty() || d.size() > wire::kMaxCommandPathBytes || d.find('\0') != d.npos)
          return false;
      if (static_cast<size_t>(c.inputs_size()) > wire::kMaxCommandFiles) return false;
      if (c.inputs_size() > 0 && c.dirs_size() == 0) return false;
      uint64_t total = 0;
      for (const auto& f : c.inputs()) {
        if (f.dir() >= static_cast<uint32_t>(c.dirs_size()) || !wire::CommandPathOk(f.path()) ||
            f.hash().size() != 32 || f.size() > wire::kMaxCommandInputBytes - total)
          return false;
        total += f.size();
      }
      if (c.has_stdin()) {
        const auto& f = c.stdin();
        if (f.dir() != 0 || !wire::CommandPathOk(f.path()) || f.hash().size() != 32) return false;
        if (f.size() > wire::kMaxCommandInputBytes - total) return false;
      }
      return true;
    }
    case wire::pb::LinkFrame::kCommandOutput: {
      const auto& o = p.command_output();
      return o.id() != 0 && (o.stream() == 1 || o.stream() == 2) && !o.data().empty() &&
             o.data().size() <= wire::kCommandOutputPiece;
    }
    case wire::pb::LinkFrame::kCommandResult: {
      const auto& c = p.command_result();
      if (c.id() == 0 || c.engine().size() > 16 || c.out_error().size() > core::kMaxErrorMessage)
        return false;
      if (c.has_error() && c.error().message().size() > core::kMaxErrorMessage) return false;
      if (static_cast<size_t>(c.out_size()) > wire::kMaxCommandFiles) return false;
      uint64_t total = 0;
      for (const auto& f : c.out()) {
        if (f.dir() != 0 || !wire::CommandPathOk(f.path()) || f.hash().size() != 32 ||
            f.size() > wire::kMaxCommandOutBytes - total)
          return false;
        total += f.size();
      }
      return true;
    }
    case wire::pb::LinkFrame::kCommandCancel:
      return p.command_cancel().id() != 0;
    case wire::pb::LinkFrame::kBlobRequest:
      return p.blob_request().id() != 0 && p.blob_request().hash().size() == 32;
    case wire::pb::LinkFrame::kBlobData: {
      const auto& d = p.blob_data();
      return d.id() != 0 && d.hash().size() == 32 && d.data().size() <= wire::kModulePiece &&
             d.offset() <= d.total() && d.data().size() <= d.total() - d.offset() &&
             d.error().size() <= core::kMaxErrorMessage && (d.error().empty() || d.data().empty());
    }
    case wire::pb::LinkFrame::BODY_NOT_SET:
      return false;
  }
  return false;
}

bool JobSpecObeysRules(const wire::pb::JobSpecRecord& p) {
  if (p.module().size() != 32 || !FuncObeys(p.func()) || p.start() >= p.end()) return false;
  if (!ReducerObeys(p.reducer()) || p.result_kinds_size() == 0) return false;
  if (!ReduceFuncObeys(p.reducer(), p.reduce_func())) return false;
  if (p.max_memory_pages() > 65536) return false;  // a wasm32 memory holds at most 4 GiB
  if (static_cast<size_t>(p.result_kinds_size()) > core::kMaxResultValues) return false;
  for (uint32_t k : p.result_kinds()) {
    if (k > 2) return false;
  }
  return p.label().size() <= 4096;
}

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), written out
// here independently of the codec.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; k++) {
      uint8_t d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

// Text the encoder cut or cleaned: valid, within `limit`, and the very text when it was valid
// and short enough; a valid text that was too long keeps all of its first limit - 3 bytes.
void CheckText(std::string_view sent, const std::string& got, size_t limit) {
  FUZZ_CHECK(got.size() <= limit && ValidUtf8(got));
  if (!ValidUtf8(sent)) return;
  if (sent.size() <= limit) {
    FUZZ_CHECK(got == sent);
  } else {
    FUZZ_CHECK(sent.substr(0, got.size()) == got && got.size() + 3 >= limit);
  }
}

void FuzzReportText(std::string_view text) {
  core::Report r;
  r.job = 1;
  r.attempt = 1;
  r.has_error = true;
  r.error.message = std::string(text);
  wire::LinkMessage back;
  FUZZ_CHECK(wire::DecodeLink(wire::EncodeLink(r), &back));
  CheckText(text, std::get<core::Report>(back).error.message, core::kMaxErrorMessage);

  wire::CallResult c;
  c.id = 1;
  c.engine = std::string(text);
  FUZZ_CHECK(wire::DecodeLink(wire::EncodeLink(c), &back));
  CheckText(text, std::get<wire::CallResult>(back).engine, 16);

  wire::ModuleData d;
  d.error = std::string(text);
  FUZZ_CHECK(wire::DecodeLink(wire::EncodeLink(d), &back));
  CheckText(text, std::get<wire::ModuleData>(back).error, core::kMaxErrorMessage);

  core::JobSpec spec;
  spec.func = "f";
  spec.end = 1;
  spec.result_kinds = {core::NumKind::kInt};
  spec.label = std::string(text);
  core::JobSpec spec_back;
  FUZZ_CHECK(wire::DecodeJobSpec(wire::EncodeJobSpec(spec), &spec_back));
  CheckText(text, spec_back.label, 4096);
}

void FuzzStructuredLink(Reader in) {
  uint8_t kind = in.U8() % fuzz::kLinkKinds;
  if (kind == fuzz::kLinkReportText) return FuzzReportText(in.Rest());
  if (kind == fuzz::kLinkJobSpec) {
    wire::pb::JobSpecRecord p;
    p.set_module(Text(in, 32, 'h'));
    p.set_module_size(in.U16());
    p.set_func(Text(in, core::kMaxFuncName, 'f'));
    p.set_start(Small(in));
    p.set_end(Small(in));
    p.set_reducer(static_cast<wire::pb::Reducer>(in.U8() % 6));
    p.set_wide(in.U8() & 1);
    for (size_t n = Near(in, core::kMaxResultValues); n > 0; n--) p.add_result_kinds(in.U8() % 4);
    p.set_chunk_items(in.U16());
    p.set_exclude_self(in.U8() & 1);
    p.set_timeout_ms(in.U16());
    p.set_max_memory_pages(Pages(in));
    p.set_label(Text(in, 4096, 'l'));
    p.set_reduce_func(Text(in, core::kMaxFuncName, 'r'));
    FUZZ_CHECK(FuzzJobSpec(p.SerializeAsString()) == JobSpecObeysRules(p));
    return;
  }
  if (kind == fuzz::kLinkNums) {
    wire::pb::NumList p;
    for (size_t n = Near(in, core::kMaxResultValues); n > 0; n--) BuildNum(in, p.add_values());
    FUZZ_CHECK(FuzzNums(p.SerializeAsString()) == NumsObey(p.values()));
    return;
  }
  wire::pb::LinkFrame p;
  switch (kind) {
    case fuzz::kLinkPing:
      p.mutable_ping()->set_seq(in.U8());
      p.mutable_ping()->set_sent_us(in.U32());
      break;
    case fuzz::kLinkPong:
      p.mutable_pong()->set_seq(in.U8());
      break;
    case fuzz::kLinkAssign: {
      wire::pb::TaskAssign* a = p.mutable_assign();
      a->set_job(Id(in));
      a->set_attempt(Id(in));
      a->set_module(Text(in, 32, 'h'));
      a->set_module_size(in.U16());
      a->set_func(Text(in, core::kMaxFuncName, 'f'));
      a->set_start(Small(in));
      a->set_end(Small(in));
      a->set_reducer(static_cast<wire::pb::Reducer>(in.U8() % 6));
      a->set_wide(in.U8() & 1);
      a->set_timeout_ms(in.U16());
      a->set_max_memory_pages(Pages(in));
      a->set_slice_ms(in.U8() % 3);
      a->set_reduce_func(Text(in, core::kMaxFuncName, 'r'));
      for (size_t n = Near(in, core::kMaxResultValues); n > 0; n--)
        BuildNum(in, a->mutable_base()->add_values());
      break;
    }
    case fuzz::kLinkCancel:
      p.mutable_cancel()->set_job(Id(in));
      p.mutable_cancel()->set_attempt(Id(in));
      break;
    case fuzz::kLinkReport: {
      wire::pb::TaskReport* r = p.mutable_report();
      r->set_job(Id(in));
      r->set_attempt(Id(in));
      r->set_upto(Small(in));
      r->set_running_to(Small(in));
      for (size_t n = Near(in, core::kMaxResultValues); n > 0; n--)
        BuildNum(in, r->mutable_partial()->add_values());
      r->set_busy_us(in.U32());
      if (in.U8() & 1) BuildError(in, r->mutable_error());
      break;
    }
    case fuzz::kLinkModuleRequest:
      p.mutable_module_request()->set_hash(Text(in, 32, 'h'));
      break;
    case fuzz::kLinkModuleData: {
      wire::pb::ModuleData* d = p.mutable_module_data();
      d->set_hash(Text(in, 32, 'h'));
      d->set_total((in.U8() & 1) ? U64(in) : in.U16());
      d->set_offset((in.U8() & 1) ? U64(in) : in.U16());
      d->set_data(Text(in, wire::kModulePiece, 'd'));
      if (in.U8() & 1) d->set_error(Text(in, core::kMaxErrorMessage, 'e'));
      break;
    }
    case fuzz::kLinkCall: {
      wire::pb::CallRequest* c = p.mutable_call();
      c->set_id(Id(in));
      c->set_module(Text(in, 32, 'h'));
      c->set_module_size(in.U16());
      c->set_func(Text(in, core::kMaxFuncName, 'f'));
      for (size_t n = Near(in, wire::kMaxCallValues); n > 0; n--) BuildValue(in, c->add_args());
      c->set_timeout_ms(in.U16());
      c->set_max_memory_pages(Pages(in));
      break;
    }
    case fuzz::kLinkCallResult: {
      wire::pb::CallResult* c = p.mutable_call_result();
      c->set_id(Id(in));
      for (size_t n = Near(in, wire::kMaxCallValues); n > 0; n--) BuildValue(in, c->add_values());
      if (in.U8() & 1) BuildError(in, c->mutable_error());
      c->set_run_us(in.U32());
      c->set_engine(Text(in, 16, 'e'));
      break;
    }
    case fuzz::kLinkCallCancel:
      p.mutable_call_cancel()->set_id(Id(in));
      break;
    default:
      break;  // kLinkNone
  }
  FUZZ_CHECK(FuzzLink(p.SerializeAsString()) == LinkObeysRules(p));
}

// --- Datagrams.
void FuzzRawDatagram(std::string_view datagram) {
  net::DatagramAuth auth(kKey);
  uint32_t sender = 0;
  net::DatagramKind kind;
  std::string_view payload;
  net::DatagramVerdict verdict = auth.Open(datagram, kLocal, kNowMs, &sender, &kind, &payload);
  if (verdict != net::DatagramVerdict::kOk) {
    FUZZ_CHECK(auth.stats().dropped() == 1 && auth.stats().accepted == 0);
    return;
  }
  FUZZ_CHECK(payload.size() + net::DatagramAuth::kMinHeaderSize + net::DatagramAuth::kSealedFields +
                 net::DatagramAuth::kTagSize <=
             datagram.size());
  std::string opened(payload);
  uint32_t again_sender = 0;
  std::string_view again_payload;
  FUZZ_CHECK(auth.Open(datagram, kLocal, kNowMs, &again_sender, &kind, &again_payload) ==
             net::DatagramVerdict::kReplay);
  DecodeAsNode(sender, opened);
}

void FuzzSealedDatagram(Reader in) {
  uint8_t flags = in.U8();
  int64_t skew_ms = static_cast<int64_t>(static_cast<int8_t>(in.U8())) * 1000;
  uint16_t position = in.U16();
  uint32_t sender = in.U32();
  std::string_view payload = in.Rest();
  // bit 5: a beacon (bound to "broadcast"); bit 6: sealed for another node's address.
  const auto kind = flags & 0x20 ? net::DatagramKind::kBroadcast : net::DatagramKind::kUnicast;
  const bool elsewhere = (flags & 0x40) && kind == net::DatagramKind::kUnicast;

  net::DatagramAuth sealer(kKey), opener(kKey);
  std::string datagram =
      sealer.Seal(sender, kind, elsewhere ? "127.0.0.1:8003" : kLocal, payload, kNowMs + skew_ms);
  if (datagram.empty()) {
    FUZZ_CHECK(payload.size() + 128 > net::DatagramAuth::kMaxDatagram);
    return;
  }
  bool tampered = flags & 1;
  if (tampered) datagram[position % datagram.size()] ^= static_cast<char>(1 << (flags >> 1 & 7));

  uint32_t got_sender = 0;
  net::DatagramKind got_kind;
  std::string_view got_payload;
  net::DatagramVerdict verdict =
      opener.Open(datagram, kLocal, kNowMs, &got_sender, &got_kind, &got_payload);
  if (tampered) {
    FUZZ_CHECK(verdict == net::DatagramVerdict::kMalformed ||
               verdict == net::DatagramVerdict::kMisdirected ||
               verdict == net::DatagramVerdict::kBadMac);
    return;
  }
  net::DatagramVerdict expected = net::DatagramVerdict::kOk;
  if (elsewhere) {
    expected = net::DatagramVerdict::kMisdirected;
  } else if (skew_ms > static_cast<int64_t>(net::DatagramAuth::kDefaultWindowMs) ||
             -skew_ms > static_cast<int64_t>(net::DatagramAuth::kDefaultWindowMs)) {
    expected = net::DatagramVerdict::kStale;
  }
  FUZZ_CHECK(verdict == expected);
  if (verdict != net::DatagramVerdict::kOk) return;
  FUZZ_CHECK(got_sender == sender && got_payload == payload && got_kind == kind);
  DecodeAsNode(got_sender, std::string(got_payload));
  if (flags & 0x10) {
    // A minute later another datagram pushes the first one's entry out of the replay memory:
    // the first one, sent again, must now be refused as stale.
    uint64_t later = kNowMs + 2 * net::DatagramAuth::kDefaultWindowMs + 1000;
    std::string next = sealer.Seal(sender, kind, kLocal, payload, later);
    FUZZ_CHECK(opener.Open(next, kLocal, later, &got_sender, &got_kind, &got_payload) ==
               net::DatagramVerdict::kOk);
    FUZZ_CHECK(opener.Open(datagram, kLocal, later, &got_sender, &got_kind, &got_payload) ==
               net::DatagramVerdict::kStale);
    FUZZ_CHECK(opener.stats().accepted == 2 && opener.stats().stale == 1);
  }
}

// --- The TCP session.
constexpr size_t kProofRecord = 4 + 32;

// Arbitrary bytes from a stranger: never established, never a message, at most one proof sent.
void FuzzSessionHandshake(Reader in) {
  uint8_t flags = in.U8();
  bool initiator = flags & 1;
  net::SecureSession session(kKey, 2, initiator);
  if (flags & 2) (void)session.Start();
  std::vector<std::string> messages;
  std::string reply;
  if (flags & 4) {
    net::SecureSession peer(kKey, 1, !initiator);
    FUZZ_CHECK(session.Feed(peer.Start(), &messages, &reply));
    FUZZ_CHECK(session.state() == net::SecureSession::State::kProof);
    FUZZ_CHECK(reply.size() == kProofRecord);
  }
  while (!in.empty()) {
    uint8_t length = in.U8();
    std::string_view chunk = in.Bytes(length);
    bool ok = session.Feed(chunk, &messages, &reply);
    FUZZ_CHECK(ok == (session.state() != net::SecureSession::State::kFailed));
    if (!ok) {
      FUZZ_CHECK(!session.failure().empty());
      FUZZ_CHECK(!session.Feed(chunk, &messages, &reply));
      break;
    }
  }
  FUZZ_CHECK(!session.established());
  FUZZ_CHECK(messages.empty());
  FUZZ_CHECK(reply.empty() || reply.size() == kProofRecord);
}

// A genuine sender `a` and the receiver `b` under test, the bytes from a to b cut, tampered
// with and extended by the input. Untouched, every message arrives once, in order; with only
// bit flips, what arrives is a prefix of what was sent; after a failure nothing arrives.
void FuzzSessionEstablished(Reader in) {
  uint8_t flags = in.U8();
  bool b_initiator = flags & 1;
  net::SecureSession a(kKey, 1, !b_initiator);
  net::SecureSession b(kKey, 2, b_initiator);
  std::vector<std::string> got, a_messages;
  std::string a_reply, b_reply;
  FUZZ_CHECK(a.Feed(b.Start(), &a_messages, &a_reply));  // a's proof is in a_reply
  std::string stream = a.Start() + a_reply;
  a_reply.clear();
  size_t delivered = 0;
  bool tampered = false, injected = false, b_failed = false;
  size_t got_at_failure = 0;
  std::vector<std::string> sent;

  // Delivers up to `count` pending bytes to b; b's replies (its proof) go straight to a.
  auto deliver = [&](size_t count) {
    count = std::min(count, stream.size() - delivered);
    bool ok = b.Feed(std::string_view(stream).substr(delivered, count), &got, &b_reply);
    delivered += count;
    FUZZ_CHECK(ok == (b.state() != net::SecureSession::State::kFailed));
    if (!ok) {
      if (!b_failed) got_at_failure = got.size();
      b_failed = true;
      FUZZ_CHECK(tampered);  // a genuine stream never fails
    }
    if (!b_reply.empty()) {
      bool a_ok = a.Feed(b_reply, &a_messages, &a_reply);
      FUZZ_CHECK(a_ok || tampered);  // b's proof can be wrong only if a's hello was altered
      FUZZ_CHECK(a_reply.empty() && a_messages.empty());
      b_reply.clear();
    }
  };

  if (!(flags & 2)) {
    deliver(stream.size());
    FUZZ_CHECK(a.established() && b.established());
    FUZZ_CHECK(a.peer_id() == 2 && b.peer_id() == 1);
  }
  for (int ops = 0; !in.empty() && ops < 512; ops++) {
    switch (in.U8() % fuzz::kOps) {
      case fuzz::kOpSeal: {
        std::string_view message = in.Bytes(in.U16());
        if (a.established()) {
          stream += a.Seal(message);
          sent.emplace_back(message);
        }
        break;
      }
      case fuzz::kOpRaw: {
        std::string_view raw = in.Bytes(in.U8());
        if (!raw.empty()) tampered = injected = true;
        stream += raw;
        break;
      }
      case fuzz::kOpFlip: {
        uint16_t position = in.U16();
        uint8_t bit = in.U8();
        if (delivered < stream.size()) {
          stream[delivered + position % (stream.size() - delivered)] ^=
              static_cast<char>(1 << (bit & 7));
          tampered = true;
        }
        break;
      }
      case fuzz::kOpDeliver:
        deliver(in.U16());
        break;
    }
  }
  deliver(stream.size());

  if (b_failed) {
    FUZZ_CHECK(got.size() == got_at_failure);
    FUZZ_CHECK(!b.failure().empty());
  }
  if (!injected) {
    // Only a's frames were ever on the wire: b cannot have accepted anything a did not send.
    FUZZ_CHECK(got.size() <= sent.size());
    for (size_t i = 0; i < got.size(); i++) FUZZ_CHECK(got[i] == sent[i]);
  }
  if (!tampered) {
    FUZZ_CHECK(a.established() && b.established());
    FUZZ_CHECK(got == sent);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  randombytes_set_implementation(&g_deterministic);
  if (sodium_init() < 0) std::abort();
  // Invalid UTF-8 in a string field is an expected rejection, not worth a line per input.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  g_random_counter = 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % fuzz::kTargets) {
    case fuzz::kRawDatagram:
      FuzzRawDatagram(rest);
      break;
    case fuzz::kSealedDatagram:
      FuzzSealedDatagram(Reader(rest));
      break;
    case fuzz::kMessage: {
      core::Message msg;
      FuzzMessage(rest, &msg);
      break;
    }
    case fuzz::kBeacon: {
      wire::Beacon beacon;
      FuzzBeacon(rest, &beacon);
      break;
    }
    case fuzz::kSessionHandshake:
      FuzzSessionHandshake(Reader(rest));
      break;
    case fuzz::kSessionEstablished:
      FuzzSessionEstablished(Reader(rest));
      break;
    case fuzz::kStructured:
      FuzzStructured(Reader(rest));
      break;
    case fuzz::kLink:
      FuzzLink(rest);
      break;
    case fuzz::kJobSpec:
      FuzzJobSpec(rest);
      break;
    case fuzz::kNums:
      FuzzNums(rest);
      break;
    case fuzz::kStructuredLink:
      FuzzStructuredLink(Reader(rest));
      break;
  }
  return 0;
}
