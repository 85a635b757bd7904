// Conversion between the core's message structs and the generated protobuf classes, with the
// validation that keeps hostile or corrupt datagrams from ever reaching the protocol's rules.
#include "wire/codec.h"

#include <type_traits>

#include "wire/velum.pb.h"

namespace velum::wire {

namespace {

using core::MemberState;

pb::MemberState StateToPb(MemberState s) {
  switch (s) {
    case MemberState::kAlive:
      return pb::MEMBER_STATE_ALIVE;
    case MemberState::kSuspect:
      return pb::MEMBER_STATE_SUSPECT;
    case MemberState::kDead:
      return pb::MEMBER_STATE_DEAD;
    case MemberState::kLeft:
      return pb::MEMBER_STATE_LEFT;
  }
  return pb::MEMBER_STATE_UNSPECIFIED;
}

bool StateFromPb(int s, MemberState* out) {
  switch (s) {
    case pb::MEMBER_STATE_ALIVE:
      *out = MemberState::kAlive;
      return true;
    case pb::MEMBER_STATE_SUSPECT:
      *out = MemberState::kSuspect;
      return true;
    case pb::MEMBER_STATE_DEAD:
      *out = MemberState::kDead;
      return true;
    case pb::MEMBER_STATE_LEFT:
      *out = MemberState::kLeft;
      return true;
    default:
      return false;  // unspecified, or a value from a newer schema
  }
}

void MetaToPb(const core::NodeMeta& m, pb::NodeMeta* p) {
  p->set_addr(m.addr);
  p->set_gossip_addr(m.gossip_addr);
  p->set_slots(m.slots);
  p->set_engines(m.engines);
  p->set_version(m.version);
  p->set_load(m.load);
}

bool MetaFromPb(const pb::NodeMeta& p, core::NodeMeta* m) {
  if (p.addr().size() > core::kMaxMetaString || p.gossip_addr().size() > core::kMaxMetaString ||
      p.version().size() > core::kMaxMetaString) {
    return false;
  }
  m->addr = p.addr();
  m->gossip_addr = p.gossip_addr();
  m->slots = p.slots();
  m->engines = p.engines();
  m->version = p.version();
  m->load = p.load();
  return true;
}

void UpdateToPb(const core::Update& u, pb::Update* p) {
  p->set_id(u.id);
  p->set_incarnation(u.incarnation);
  p->set_state(StateToPb(u.state));
  // Gossip leaves the metadata out of bad news; an empty one costs no bytes on the wire.
  if (!(u.meta == core::NodeMeta{})) MetaToPb(u.meta, p->mutable_meta());
  p->set_suspecter(u.suspecter);
}

bool UpdateFromPb(const pb::Update& p, core::Update* u) {
  if (p.id() == core::kNoNode) return false;
  u->id = p.id();
  u->incarnation = p.incarnation();
  if (!StateFromPb(p.state(), &u->state)) return false;
  u->meta = core::NodeMeta{};
  if (p.has_meta() && !MetaFromPb(p.meta(), &u->meta)) return false;
  u->suspecter = p.suspecter();
  return true;
}

bool UpdatesFromPb(const google::protobuf::RepeatedPtrField<pb::Update>& ps, size_t max,
                   std::vector<core::Update>* out) {
  if (static_cast<size_t>(ps.size()) > max) return false;
  out->clear();
  out->reserve(ps.size());
  for (const pb::Update& p : ps) {
    out->emplace_back();
    if (!UpdateFromPb(p, &out->back())) return false;
  }
  return true;
}

// Target-carrying bodies share one shape; a target of 0 means nobody.
template <typename T, typename P>
bool TargetFromPb(const P& p, core::Body* body) {
  if (p.target() == core::kNoNode) return false;
  *body = T{p.seq(), p.target()};
  return true;
}

}  // namespace

std::string Encode(const core::Message& msg) {
  pb::Membership p;
  UpdateToPb(msg.from, p.mutable_from());
  p.set_to(msg.to);
  for (const core::Update& u : msg.gossip) UpdateToPb(u, p.add_gossip());
  std::visit(
      [&p](const auto& b) {
        using B = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<B, core::Ping>) {
          p.mutable_ping()->set_seq(b.seq);
        } else if constexpr (std::is_same_v<B, core::Ack>) {
          p.mutable_ack()->set_seq(b.seq);
        } else if constexpr (std::is_same_v<B, core::PingReq>) {
          p.mutable_ping_req()->set_seq(b.seq);
          p.mutable_ping_req()->set_target(b.target);
        } else if constexpr (std::is_same_v<B, core::IndirectAck>) {
          p.mutable_indirect_ack()->set_seq(b.seq);
          p.mutable_indirect_ack()->set_target(b.target);
        } else if constexpr (std::is_same_v<B, core::Nack>) {
          p.mutable_nack()->set_seq(b.seq);
          p.mutable_nack()->set_target(b.target);
        } else if constexpr (std::is_same_v<B, core::Join>) {
          p.mutable_join()->set_seq(b.seq);
          p.mutable_join()->set_cursor(b.cursor);
          p.mutable_join()->set_summary(b.summary);
        } else if constexpr (std::is_same_v<B, core::JoinAck>) {
          pb::JoinAck* a = p.mutable_join_ack();
          a->set_seq(b.seq);
          a->set_next_cursor(b.next_cursor);
          a->set_done(b.done);
          for (const core::Update& u : b.members) UpdateToPb(u, a->add_members());
          for (const core::RangeDigest& r : b.ranges) {
            pb::RangeDigest* pr = a->add_ranges();
            pr->set_start(r.start);
            pr->set_digest(r.digest);
          }
        } else if constexpr (std::is_same_v<B, core::Leave>) {
          p.mutable_leave();
        } else {
          static_assert(std::is_same_v<B, core::Gossip>);
          p.mutable_gossip_only();
        }
      },
      msg.body);
  return p.SerializeAsString();
}

bool Decode(std::string_view bytes, core::Message* msg) {
  if (bytes.size() > kMaxMessageBytes) return false;
  pb::Membership p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  if (!p.has_from() || !UpdateFromPb(p.from(), &msg->from)) return false;
  // A sender speaks for itself only as alive, or as leaving.
  if (msg->from.state != MemberState::kAlive && msg->from.state != MemberState::kLeft) return false;
  msg->to = p.to();
  if (!UpdatesFromPb(p.gossip(), core::kMaxGossipPerMessage, &msg->gossip)) return false;
  switch (p.body_case()) {
    case pb::Membership::kPing:
      msg->body = core::Ping{p.ping().seq()};
      return true;
    case pb::Membership::kAck:
      msg->body = core::Ack{p.ack().seq()};
      return true;
    case pb::Membership::kPingReq:
      return TargetFromPb<core::PingReq>(p.ping_req(), &msg->body);
    case pb::Membership::kIndirectAck:
      return TargetFromPb<core::IndirectAck>(p.indirect_ack(), &msg->body);
    case pb::Membership::kNack:
      return TargetFromPb<core::Nack>(p.nack(), &msg->body);
    case pb::Membership::kJoin:
      msg->body = core::Join{p.join().seq(), p.join().cursor(), p.join().summary()};
      return true;
    case pb::Membership::kJoinAck: {
      core::JoinAck a;
      a.seq = p.join_ack().seq();
      a.next_cursor = p.join_ack().next_cursor();
      a.done = p.join_ack().done();
      if (!UpdatesFromPb(p.join_ack().members(), core::kMaxJoinAckMembers, &a.members)) {
        return false;
      }
      if (static_cast<size_t>(p.join_ack().ranges_size()) > core::kMaxSummaryRanges) return false;
      for (const pb::RangeDigest& r : p.join_ack().ranges()) {
        a.ranges.push_back(core::RangeDigest{r.start(), r.digest()});
      }
      msg->body = std::move(a);
      return true;
    }
    case pb::Membership::kLeave:
      msg->body = core::Leave{};
      return true;
    case pb::Membership::kGossipOnly:
      msg->body = core::Gossip{};
      return true;
    case pb::Membership::BODY_NOT_SET:
      return false;
  }
  return false;
}

std::string EncodeBeacon(const Beacon& beacon) {
  pb::Beacon p;
  p.set_id(beacon.id);
  p.set_incarnation(beacon.incarnation);
  MetaToPb(beacon.meta, p.mutable_meta());
  return p.SerializeAsString();
}

bool DecodeBeacon(std::string_view bytes, Beacon* beacon) {
  if (bytes.size() > kMaxMessageBytes) return false;
  pb::Beacon p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  if (p.id() == core::kNoNode || !p.has_meta()) return false;
  beacon->id = p.id();
  beacon->incarnation = p.incarnation();
  return MetaFromPb(p.meta(), &beacon->meta);
}

}  // namespace velum::wire
