// velum-fuzz-seeds DIR: writes the seed corpus of velum-fuzz-decoders, valid encodings built
// with the real encoders (so the seeds follow the schema), one file per input, into DIR.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/message.h"
#include "core/types.h"
#include "net/datagram_auth.h"
#include "net/secure_session.h"
#include "tests/fuzz/fuzz_inputs.h"
#include "wire/codec.h"

namespace {

using namespace velum;
using fuzz::Writer;

core::NodeMeta Meta(uint32_t id) {
  std::string addr = "127.0.0.1:" + std::to_string(8000 + id);
  return core::NodeMeta{addr, addr, 2, core::kEngineInterp | core::kEngineAot, "0.1.0", 1};
}

core::Update Alive(uint32_t id, uint64_t incarnation) {
  return core::Update{id, incarnation, core::MemberState::kAlive, Meta(id), core::kNoNode};
}

// One message of every body type, sent by node 1, with some gossip on a few.
std::vector<std::pair<std::string, core::Message>> Messages() {
  std::vector<core::Update> gossip = {
      Alive(3, 2),
      core::Update{4, 7, core::MemberState::kSuspect, {}, 2},
      core::Update{5, 1, core::MemberState::kDead, {}, core::kNoNode},
      core::Update{6, 9, core::MemberState::kLeft, {}, core::kNoNode},
  };
  core::JoinAck page{12, 33, false, {Alive(1, 1), Alive(2, 4), gossip[1], gossip[2]}, {}};
  core::JoinAck summary{13, 0, true, {}, {{1, 0x1234567890abcdefULL}, {33, 42}, {65, 7}}};
  // Exactly at the limits of core/message.h: one more entry must be refused.
  core::JoinAck full_page{14, 0, true, {}, {}};
  for (uint32_t id = 1; id <= core::kMaxJoinAckMembers; id++)
    full_page.members.push_back(Alive(id, id));
  core::JoinAck full_summary{15, 0, true, {}, {}};
  for (uint32_t i = 0; i < core::kMaxSummaryRanges; i++)
    full_summary.ranges.push_back({1 + 32 * i, i});
  std::vector<core::Update> full_gossip;
  for (uint32_t id = 2; id < 2 + core::kMaxGossipPerMessage; id++) {
    full_gossip.push_back(core::Update{id, 1, core::MemberState::kSuspect, {}, 1});
  }
  auto from = Alive(1, 1);
  auto leaving = from;
  leaving.state = core::MemberState::kLeft;
  leaving.incarnation = 2;
  return {
      {"ping", {from, 2, {}, core::Ping{1}}},
      {"ping-gossip", {from, 2, gossip, core::Ping{2}}},
      {"ack", {from, 2, {gossip[0]}, core::Ack{3}}},
      {"ping-req", {from, 2, {}, core::PingReq{4, 3}}},
      {"indirect-ack", {from, 2, {}, core::IndirectAck{5, 3}}},
      {"nack", {from, 2, {}, core::Nack{6, 3}}},
      {"join", {from, core::kNoNode, {}, core::Join{7, 0, false}}},
      {"join-summary", {from, 2, {}, core::Join{8, 0, true}}},
      {"join-ack-page", {from, 2, {}, page}},
      {"join-ack-summary", {from, 2, {}, summary}},
      {"leave", {leaving, 2, {}, core::Leave{}}},
      {"gossip", {from, 2, gossip, core::Gossip{}}},
      {"full-join-ack-page", {from, 2, {}, full_page}},
      {"full-join-ack-summary", {from, 2, {}, full_summary}},
      {"full-gossip", {from, 2, full_gossip, core::Gossip{}}},
  };
}

bool WriteSeed(const std::filesystem::path& dir, const std::string& name, const Writer& w) {
  std::ofstream out(dir / name, std::ios::binary);
  out.write(w.bytes().data(), static_cast<std::streamsize>(w.bytes().size()));
  if (!out) {
    std::fprintf(stderr, "velum-fuzz-seeds: cannot write %s\n", (dir / name).c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: velum-fuzz-seeds DIR\n");
    return 2;
  }
  std::filesystem::path dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "velum-fuzz-seeds: %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }

  std::vector<std::pair<std::string, Writer>> seeds;
  auto add = [&seeds](std::string name, Writer w) { seeds.emplace_back(std::move(name), w); };

  wire::Beacon beacon{1, 3, Meta(1)};
  std::string beacon_payload = "B" + wire::EncodeBeacon(beacon);
  add("beacon", Writer(fuzz::kBeacon).Bytes(wire::EncodeBeacon(beacon)));

  net::DatagramAuth auth(fuzz::kKey);
  add("raw-beacon", Writer(fuzz::kRawDatagram).Bytes(auth.Seal(1, beacon_payload, fuzz::kNowMs)));
  add("raw-garbage", Writer(fuzz::kRawDatagram).Bytes(std::string("VLMD") + std::string(60, 'x')));
  add("sealed-beacon",
      Writer(fuzz::kSealedDatagram).U8(0).U8(0).U16(0).U32(1).Bytes(beacon_payload));
  add("sealed-beacon-later",
      Writer(fuzz::kSealedDatagram).U8(0x10).U8(0).U16(0).U32(1).Bytes(beacon_payload));
  add("sealed-stale",
      Writer(fuzz::kSealedDatagram).U8(0).U8(31).U16(0).U32(1).Bytes(beacon_payload));
  add("sealed-tampered",
      Writer(fuzz::kSealedDatagram).U8(1 | 3 << 1).U8(0).U16(40).U32(1).Bytes(beacon_payload));

  for (const auto& [name, msg] : Messages()) {
    std::string encoded = wire::Encode(msg);
    add("message-" + name, Writer(fuzz::kMessage).Bytes(encoded));
    add("sealed-" + name,
        Writer(fuzz::kSealedDatagram).U8(0).U8(0).U16(0).U32(msg.from.id).Bytes("M" + encoded));
    if (name == "ping-gossip" || name == "join-ack-page") {
      add("raw-" + name,
          Writer(fuzz::kRawDatagram).Bytes(auth.Seal(1, "M" + encoded, fuzz::kNowMs)));
    }
  }

  // The session: a genuine hello to start from, then frames over an established link.
  net::SecureSession peer(fuzz::kKey, 1, true);
  std::string hello_record = peer.Start();
  add("session-hello", Writer(fuzz::kSessionHandshake).U8(0).Chunk(hello_record));
  add("session-hello-split", Writer(fuzz::kSessionHandshake)
                                 .U8(2)
                                 .Chunk(hello_record.substr(0, 3))
                                 .Chunk(hello_record.substr(3)));
  add("session-bad-proof", Writer(fuzz::kSessionHandshake)
                               .U8(4)
                               .Chunk(std::string("\x20\0\0\0", 4) + std::string(32, 'p')));
  add("session-frames", Writer(fuzz::kSessionEstablished)
                            .U8(0)
                            .Seal("hello")
                            .Seal("M" + wire::Encode(Messages()[0].second))
                            .Deliver(7)
                            .Seal("")
                            .Deliver(65535));
  add("session-chunked-handshake", Writer(fuzz::kSessionEstablished)
                                       .U8(3)
                                       .Deliver(2)
                                       .Deliver(40)
                                       .Deliver(65535)
                                       .Seal("after the handshake")
                                       .Deliver(10));
  add("session-flip", Writer(fuzz::kSessionEstablished).U8(0).Seal("tampered").Flip(9, 0));
  add("session-raw",
      Writer(fuzz::kSessionEstablished).U8(1).Seal("x").Raw(std::string("\x10\0\0\0", 4)));

  // Structured: a ping with one gossip update, a JoinAck page, a beacon.
  add("structured-ping", Writer(fuzz::kStructured)
                             .U8(0)
                             .Update(fuzz::kBuildFrom, 1, 1)
                             .Update(fuzz::kBuildGossip, 3, 2)
                             .U8(fuzz::kBuildBody)
                             .U8(0)
                             .U8(1)
                             .U8(0)
                             .U8(fuzz::kBuildTo)
                             .U16(2));
  add("structured-join-ack", Writer(fuzz::kStructured)
                                 .U8(0)
                                 .Update(fuzz::kBuildFrom, 1, 1)
                                 .U8(fuzz::kBuildBody)
                                 .U8(6)
                                 .U8(2)
                                 .U8(0)
                                 .Update(fuzz::kBuildMember, 1, 1)
                                 .Update(fuzz::kBuildMember, 5, 3)
                                 .U8(fuzz::kBuildRange)
                                 .U16(1)
                                 .U32(77));
  add("structured-beacon", Writer(fuzz::kStructured)
                               .U8(1)
                               .U8(fuzz::kBuildFrom)
                               .U16(4)
                               .U8(2)
                               .U8(1)
                               .U8(0)
                               .U8(1)
                               .U8(2)
                               .U8(7)
                               .U8(7)
                               .U8(3));

  for (const auto& [name, w] : seeds) {
    if (!WriteSeed(dir, name, w)) return 1;
  }
  std::printf("velum-fuzz-seeds: %zu seeds in %s\n", seeds.size(), dir.c_str());
  return 0;
}
