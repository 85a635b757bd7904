// velum-fuzz-seeds DIR: writes the seed corpus of velum-fuzz-decoders, valid encodings built
// with the real encoders (so the seeds follow the schema), one file per input, into DIR.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/message.h"
#include "core/types.h"
#include "net/datagram_auth.h"
#include "net/secure_session.h"
#include "tests/fuzz/fuzz_inputs.h"
#include "wire/codec.h"
#include "wire/job_codec.h"

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

// One link frame of every body (wire/job_codec), a few at their limits.
std::vector<std::pair<std::string, wire::LinkMessage>> LinkMessages() {
  core::ModuleDigest digest;
  for (size_t i = 0; i < digest.size(); i++) digest[i] = static_cast<uint8_t>(i * 37);
  core::Assign assign;
  assign.job = 3;
  assign.attempt = (uint64_t{2} << 40) + 1;
  assign.module = digest;
  assign.module_size = 4000;
  assign.func = "count_primes";
  assign.start = 0;
  assign.end = 500000;
  core::Assign wide = assign;
  wide.wide = true;
  wide.func = "sum_squares";
  wide.start = 4294967000;
  wide.end = 4294968000;
  wide.reducer = core::ReducerKind::kMax;
  core::Report report;
  report.job = 3;
  report.attempt = assign.attempt;
  report.upto = 1000;
  report.running_to = 2000;
  report.partial.values = {core::Num::Int(-7), core::Num::F32(-0.0f),
                           core::Num::F64(std::numeric_limits<double>::quiet_NaN())};
  report.busy_us = 12345;
  core::Report full = report;
  full.partial.values.assign(core::kMaxResultValues, core::Num::Int(1));
  core::Report failed = report;
  failed.partial.values.clear();
  failed.has_error = true;
  failed.error = {2, "trap: integer divide by zero", false};
  wire::CallRequest call;
  call.id = 9;
  call.module = digest;
  call.module_size = 300;
  call.func = "add";
  call.args = {{0, 2}, {1, 3}, {2, 0x3f800000}, {3, 0x4000000000000000}};
  call.timeout_ms = 5000;
  wire::CallResult result;
  result.id = 9;
  result.values = {{0, 5}};
  result.run_us = 40;
  result.engine = "interp";
  wire::CallResult trapped = result;
  trapped.values.clear();
  trapped.has_error = true;
  trapped.error = {2, "trap: unreachable", false};
  return {
      {"ping", wire::LinkFrame{wire::LinkFrame::Kind::kPing, 1, 1700000000000000}},
      {"pong", wire::LinkFrame{wire::LinkFrame::Kind::kPong, 1, 1700000000000000}},
      {"assign", assign},
      {"assign-wide", wide},
      {"cancel", core::Cancel{3, assign.attempt}},
      {"cancel-all", core::Cancel{3, 0}},
      {"report", report},
      {"report-full", full},
      {"report-error", failed},
      {"module-request", wire::ModuleRequest{digest}},
      {"module-data", wire::ModuleData{digest, 3000, 1000, std::string(500, 'w'), ""}},
      {"module-data-error", wire::ModuleData{digest, 0, 0, "", "no such module"}},
      {"call", call},
      {"call-result", result},
      {"call-trapped", trapped},
      {"call-cancel", wire::CallCancel{9}},
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
  add("raw-beacon",
      Writer(fuzz::kRawDatagram)
          .Bytes(auth.Seal(1, net::DatagramKind::kBroadcast, "", beacon_payload, fuzz::kNowMs)));
  add("raw-garbage", Writer(fuzz::kRawDatagram).Bytes(std::string("VLMD") + std::string(60, 'x')));
  add("sealed-beacon",
      Writer(fuzz::kSealedDatagram).U8(0x20).U8(0).U16(0).U32(1).Bytes(beacon_payload));
  add("sealed-beacon-later",
      Writer(fuzz::kSealedDatagram).U8(0x30).U8(0).U16(0).U32(1).Bytes(beacon_payload));
  add("sealed-misdirected",
      Writer(fuzz::kSealedDatagram).U8(0x40).U8(0).U16(0).U32(1).Bytes(beacon_payload));
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
      add("raw-" + name, Writer(fuzz::kRawDatagram)
                             .Bytes(auth.Seal(1, net::DatagramKind::kUnicast, fuzz::kLocal,
                                              "M" + encoded, fuzz::kNowMs)));
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

  // Link frames and journal records (wire/job_codec), as bytes and structured.
  for (const auto& [name, m] : LinkMessages())
    add("link-" + name, Writer(fuzz::kLink).Bytes(wire::EncodeLink(m)));
  core::JobSpec spec;
  spec.module = std::get<core::Assign>(LinkMessages()[2].second).module;
  spec.module_size = 4000;
  spec.func = "harmonic";
  spec.start = -10;
  spec.end = 1000000;
  spec.wide = true;
  spec.result_kinds = {core::NumKind::kF64};
  spec.label = "range64.wasm";
  add("jobspec", Writer(fuzz::kJobSpec).Bytes(wire::EncodeJobSpec(spec)));
  add("nums", Writer(fuzz::kNums)
                  .Bytes(wire::EncodeNums(
                      {core::Num::Int(41538), core::Num::F32(1.5f), core::Num::F64(-0.0)})));
  // Every structured body with a few fillers: 0x00 (ids 0, lengths at the limit), 0x01 (ids
  // 1, one past the limits), 0x07 and 0x0b (other mixes).
  for (uint8_t kind = 0; kind < fuzz::kLinkKinds; kind++) {
    if (kind == fuzz::kLinkReportText) continue;
    for (uint8_t filler : {0x00, 0x01, 0x07, 0x0b}) {
      add("structured-link-" + std::to_string(kind) + "-" + std::to_string(filler),
          Writer(fuzz::kStructuredLink).U8(kind).Bytes(std::string(96, static_cast<char>(filler))));
    }
  }
  // ... and each body valid with its fields at their limits, so that one mutation breaks one
  // rule (the byte layout of FuzzStructuredLink: ids u8 % 3, lengths u8 % 5 with 0 "at the
  // limit" and 4 "small: u8 % 40", Small s8, Pages u8 % 4 with 0 "65536").
  auto link = [](fuzz::LinkKind kind) { return Writer(fuzz::kStructuredLink).U8(kind); };
  // An assign: job 1, attempt 1, a 32-byte digest, module_size 400, a 255-byte func,
  // [0, 10), reducer first, wide, timeout 500 ms, 65536 pages, slice 1 ms.
  add("structured-link-valid-assign", link(fuzz::kLinkAssign)
                                          .U8(1)
                                          .U8(1)
                                          .U8(0)
                                          .U16(400)
                                          .U8(0)
                                          .U8(0)
                                          .U8(10)
                                          .U8(3)
                                          .U8(1)
                                          .U16(500)
                                          .U8(0)
                                          .U8(1));
  Writer report = link(fuzz::kLinkReport).U8(1).U8(2).U8(0).U8(5).U8(0);  // 16 values
  for (int i = 0; i < 16; i++)
    report.U8(static_cast<uint8_t>(i % 2 * 2)).U32(0x7fc00000u + i).U32(i);
  add("structured-link-valid-report",
      report.U32(1000).U8(1).U8(2).U8(0).U8(1));  // an error of 1024 bytes
  // A piece of 20 bytes at 980 of a 1000-byte module, no error.
  add("structured-link-valid-module-data",
      link(fuzz::kLinkModuleData).U8(0).U8(0).U16(1000).U8(0).U16(980).U8(4).U8(20).U8(0));
  Writer call = link(fuzz::kLinkCall).U8(1).U8(0).U16(100).U8(4).U8(3).U8(0);  // 64 args
  for (int i = 0; i < 64; i++) call.U8(static_cast<uint8_t>(i % 4)).U8(0).U32(i);
  add("structured-link-valid-call", call.U16(1000).U8(0));
  // Call 2: an i32 and an f64, an error of 30 bytes, run_us 50, a 16-byte engine name.
  add("structured-link-valid-call-result", link(fuzz::kLinkCallResult)
                                               .U8(2)
                                               .U8(4)
                                               .U8(2)
                                               .U8(0)
                                               .U8(0)
                                               .U32(7)
                                               .U8(3)
                                               .U8(1)
                                               .U32(1)
                                               .U32(2)
                                               .U8(1)
                                               .U8(2)
                                               .U8(4)
                                               .U8(30)
                                               .U8(0)
                                               .U32(50)
                                               .U8(0));
  Writer spec_ops = link(fuzz::kLinkJobSpec).U8(0).U16(10).U8(0).U8(0xfb).U8(5).U8(2).U8(1).U8(0);
  for (int i = 0; i < 16; i++) spec_ops.U8(static_cast<uint8_t>(i % 3));  // 16 kinds
  add("structured-link-valid-jobspec", spec_ops.U16(0).U8(0).U16(100).U8(0).U8(0));
  Writer nums = link(fuzz::kLinkNums).U8(0);  // 16 values
  for (int i = 0; i < 16; i++) nums.U8(static_cast<uint8_t>(i % 2 * 2)).U32(i).U32(0xfff00000u);
  add("structured-link-valid-nums", nums);

  std::string accents = "x";
  for (int i = 0; i < 600; i++) accents += "\xc3\xa9";  // e-acute: a cut at 1024 splits one
  add("report-text-long", Writer(fuzz::kStructuredLink).U8(fuzz::kLinkReportText).Bytes(accents));
  add("report-text-invalid",
      Writer(fuzz::kStructuredLink).U8(fuzz::kLinkReportText).Bytes("trap \xff\xfe in f\xc3"));

  for (const auto& [name, w] : seeds) {
    if (!WriteSeed(dir, name, w)) return 1;
  }
  std::printf("velum-fuzz-seeds: %zu seeds in %s\n", seeds.size(), dir.c_str());
  return 0;
}
