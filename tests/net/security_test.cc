// Tests of the mesh's security primitives: the cluster key file, sealed datagrams (AEAD,
// destination binding, staleness, replay, garbage) and the secure session (handshake, keys).
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "net/cluster_key.h"
#include "net/datagram_auth.h"
#include "net/secure_session.h"

namespace velum::net {
namespace {

namespace fs = std::filesystem;

ClusterKey Key(uint8_t fill) {
  ClusterKey k;
  k.fill(fill);
  return k;
}

TEST(ClusterKey, CreatedOnceWithPrivateModeAndReused) {
  fs::path dir = fs::temp_directory_path() / ("velum-key-" + std::to_string(getpid()));
  fs::remove_all(dir);
  auto a = LoadOrCreateClusterKey(dir / "cluster.key");
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  struct stat st {};
  ASSERT_EQ(stat((dir / "cluster.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto b = LoadOrCreateClusterKey(dir / "cluster.key");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  chmod((dir / "cluster.key").c_str(), 0644);
  EXPECT_FALSE(LoadClusterKey(dir / "cluster.key").ok());
  fs::remove_all(dir);
}

constexpr std::string_view kNodeA = "10.0.0.1:8001";
constexpr std::string_view kNodeB = "10.0.0.2:8002";

// Opens with fresh out-parameters; returns the verdict.
struct Opened {
  DatagramVerdict verdict;
  uint32_t sender = 0;
  DatagramKind kind = DatagramKind::kUnicast;
  std::string payload;
};
Opened OpenAt(DatagramAuth& rx, std::string_view d, std::string_view local, uint64_t now) {
  Opened o;
  std::string_view payload;
  o.verdict = rx.Open(d, local, now, &o.sender, &o.kind, &payload);
  if (o.verdict == DatagramVerdict::kOk) o.payload = std::string(payload);
  return o;
}

TEST(DatagramAuth, RoundTripAndSender) {
  DatagramAuth tx(Key(1)), rx(Key(1));
  std::string d = tx.Seal(7, DatagramKind::kUnicast, kNodeA, "hello", 1000);
  Opened o = OpenAt(rx, d, kNodeA, 1000);
  ASSERT_EQ(o.verdict, DatagramVerdict::kOk);
  EXPECT_EQ(o.sender, 7u);
  EXPECT_EQ(o.kind, DatagramKind::kUnicast);
  EXPECT_EQ(o.payload, "hello");
  std::string beacon = tx.Seal(7, DatagramKind::kBroadcast, "ignored", "beacon", 1000);
  o = OpenAt(rx, beacon, kNodeB, 1000);
  ASSERT_EQ(o.verdict, DatagramVerdict::kOk);
  EXPECT_EQ(o.kind, DatagramKind::kBroadcast);
  EXPECT_EQ(o.payload, "beacon");
}

TEST(DatagramAuth, WrongKeyTamperStaleReplayGarbage) {
  DatagramAuth tx(Key(1)), rx(Key(1)), other(Key(2));
  std::string d = tx.Seal(7, DatagramKind::kUnicast, kNodeA, "hello", 100000);
  EXPECT_EQ(OpenAt(other, d, kNodeA, 100000).verdict, DatagramVerdict::kBadMac);
  // Every single bit flipped after the destination fails (a flipped destination byte is
  // refused as misdirected or malformed before decryption).
  for (size_t i = 0; i < d.size(); i++) {
    std::string tampered = d;
    tampered[i] ^= 1;
    EXPECT_NE(OpenAt(rx, tampered, kNodeA, 100000).verdict, DatagramVerdict::kOk) << "byte " << i;
  }
  EXPECT_EQ(OpenAt(rx, d, kNodeA, 100000 + DatagramAuth::kDefaultWindowMs + 1).verdict,
            DatagramVerdict::kStale);
  EXPECT_EQ(OpenAt(rx, d, kNodeA, 100000).verdict, DatagramVerdict::kOk);
  EXPECT_EQ(OpenAt(rx, d, kNodeA, 100001).verdict, DatagramVerdict::kReplay);
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; i++) {
    std::string junk(rng() % 200, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (i % 2 && junk.size() >= 4) junk.replace(0, 4, "VLMD");
    if (i % 4 == 1 && junk.size() >= 7) junk[4] = 2, junk[5] = 'U', junk[6] = 0;
    EXPECT_NE(OpenAt(rx, junk, "", 100000).verdict, DatagramVerdict::kOk);
  }
  EXPECT_EQ(rx.stats().accepted, 1u);
  EXPECT_EQ(rx.stats().replayed, 1u);
  EXPECT_EQ(rx.stats().stale, 1u);
}

// Issue 9: a datagram sealed for node A and delivered to node B (a replay, or a stale
// address) is dropped and counted, before decryption; rewriting its destination in clear
// fails authentication. A beacon is bound to "broadcast" and opens anywhere, but not as
// unicast: the kind is authenticated.
TEST(DatagramAuth, BoundToItsDestination) {
  DatagramAuth tx(Key(1)), at_a(Key(1)), at_b(Key(1));
  std::string d = tx.Seal(7, DatagramKind::kUnicast, kNodeA, "ping", 5000);
  EXPECT_EQ(OpenAt(at_b, d, kNodeB, 5000).verdict, DatagramVerdict::kMisdirected);
  EXPECT_EQ(at_b.stats().misdirected, 1u);
  EXPECT_EQ(at_b.stats().dropped(), 1u);
  EXPECT_EQ(OpenAt(at_b, d, "10.0.0.1:8002", 5000).verdict, DatagramVerdict::kMisdirected)
      << "another port of the same host is another destination";
  std::string rewritten = d;
  size_t at = rewritten.find(kNodeA);
  ASSERT_NE(at, std::string::npos);
  rewritten.replace(at, kNodeA.size(), kNodeB);
  EXPECT_EQ(OpenAt(at_b, rewritten, kNodeB, 5000).verdict, DatagramVerdict::kBadMac);
  std::string as_beacon = d;
  as_beacon[5] = static_cast<char>(DatagramKind::kBroadcast);
  EXPECT_NE(OpenAt(at_b, as_beacon, kNodeB, 5000).verdict, DatagramVerdict::kOk);
  EXPECT_EQ(at_b.stats().accepted, 0u);
  EXPECT_EQ(OpenAt(at_a, d, kNodeA, 5000).verdict, DatagramVerdict::kOk);
}

// Issue 9: the LAN cannot read the membership. Sender id, time and payload are encrypted:
// none of a payload's bytes (a member's address) appears in the datagram.
TEST(DatagramAuth, PayloadIsNotInClear) {
  DatagramAuth tx(Key(1)), rx(Key(1));
  const std::string secret = "member 42 at 192.168.77.42:8042 slots 4";
  for (DatagramKind kind : {DatagramKind::kUnicast, DatagramKind::kBroadcast}) {
    std::string d = tx.Seal(0x2a2a2a2a, kind, kNodeA, secret, 5000);
    EXPECT_EQ(d.find("192.168.77.42"), std::string::npos);
    EXPECT_EQ(d.find("member 42"), std::string::npos);
    EXPECT_EQ(d.find(std::string(4, '\x2a')), std::string::npos) << "sender id in clear";
    Opened o = OpenAt(rx, d, kNodeA, 5000);
    ASSERT_EQ(o.verdict, DatagramVerdict::kOk);
    EXPECT_EQ(o.payload, secret);
    EXPECT_EQ(o.sender, 0x2a2a2a2au);
  }
  // Two seals of the same payload differ everywhere past the header (random nonces).
  std::string a = tx.Seal(1, DatagramKind::kUnicast, kNodeA, secret, 5000);
  std::string b = tx.Seal(1, DatagramKind::kUnicast, kNodeA, secret, 5000);
  EXPECT_NE(a.substr(DatagramAuth::kMinHeaderSize), b.substr(DatagramAuth::kMinHeaderSize));
}

TEST(DatagramAuth, OversizedDestinationOrPayloadIsNotSealed) {
  DatagramAuth tx(Key(1));
  EXPECT_TRUE(tx.Seal(1, DatagramKind::kUnicast, std::string(65, 'x'), "p", 1).empty());
  EXPECT_TRUE(tx.Seal(1, DatagramKind::kUnicast, kNodeA, std::string(65000, 'p'), 1).empty());
  EXPECT_FALSE(tx.Seal(1, DatagramKind::kUnicast, kNodeA, std::string(60000, 'p'), 1).empty());
}

// Runs both sides of a handshake to completion through in-memory pipes.
void Pump(SecureSession& a, SecureSession& b, std::string a_out, std::string b_out,
          std::vector<std::string>* a_msgs, std::vector<std::string>* b_msgs) {
  for (int round = 0; round < 8 && (!a_out.empty() || !b_out.empty()); round++) {
    std::string a_next, b_next;
    if (!b_out.empty()) a.Feed(b_out, a_msgs, &a_next);
    if (!a_out.empty()) b.Feed(a_out, b_msgs, &b_next);
    a_out = a_next;
    b_out = b_next;
  }
}

TEST(SecureSession, HandshakeThenEncryptedFramesBothWays) {
  SecureSession a(Key(3), 1, true), b(Key(3), 2, false);
  std::vector<std::string> am, bm;
  Pump(a, b, a.Start(), b.Start(), &am, &bm);
  ASSERT_TRUE(a.established());
  ASSERT_TRUE(b.established());
  EXPECT_EQ(a.peer_id(), 2u);
  EXPECT_EQ(b.peer_id(), 1u);
  std::string reply;
  std::string frame = a.Seal("ping");
  EXPECT_EQ(frame.find("ping"), std::string::npos) << "frames are encrypted";
  // Delivered one byte at a time: framing must reassemble.
  for (char c : frame) ASSERT_TRUE(b.Feed(std::string(1, c), &bm, &reply));
  ASSERT_EQ(bm.size(), 1u);
  EXPECT_EQ(bm[0], "ping");
  ASSERT_TRUE(a.Feed(b.Seal("pong"), &am, &reply));
  EXPECT_EQ(am.back(), "pong");
  // A replayed frame fails: the receive counter has moved on.
  EXPECT_FALSE(b.Feed(frame, &bm, &reply));
  EXPECT_EQ(b.state(), SecureSession::State::kFailed);
}

TEST(SecureSession, WrongKeyIsRefusedAndNoFrameIsAccepted) {
  SecureSession a(Key(3), 1, true), b(Key(4), 2, false);
  std::vector<std::string> am, bm;
  Pump(a, b, a.Start(), b.Start(), &am, &bm);
  EXPECT_EQ(a.state(), SecureSession::State::kFailed);
  EXPECT_EQ(b.state(), SecureSession::State::kFailed);
  EXPECT_NE(b.failure().find("cluster key"), std::string::npos) << b.failure();
}

TEST(SecureSession, OversizedAndGarbageRecordsFailBeforeAllocation) {
  SecureSession s(Key(3), 1, false);
  std::vector<std::string> msgs;
  std::string reply;
  std::string huge("\xff\xff\xff\x7f", 4);
  EXPECT_FALSE(s.Feed(huge, &msgs, &reply));
  SecureSession t(Key(3), 1, false);
  std::string junk = std::string("\x29\0\0\0", 4) + std::string(41, 'x');
  EXPECT_FALSE(t.Feed(junk, &msgs, &reply));
  EXPECT_NE(t.failure().find("not a VelumOS peer"), std::string::npos);
}

TEST(SecureSession, TamperedFrameFails) {
  SecureSession a(Key(5), 1, true), b(Key(5), 2, false);
  std::vector<std::string> am, bm;
  Pump(a, b, a.Start(), b.Start(), &am, &bm);
  std::string frame = a.Seal("payload");
  frame[6] ^= 0x20;
  std::string reply;
  EXPECT_FALSE(b.Feed(frame, &bm, &reply));
  EXPECT_TRUE(bm.empty());
}

}  // namespace
}  // namespace velum::net
