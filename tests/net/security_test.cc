// Tests of the mesh's security primitives: the cluster key file, authenticated datagrams
// (MAC, staleness, replay, garbage) and the secure session (handshake, wrong key, tampering).
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

TEST(DatagramAuth, RoundTripAndSender) {
  DatagramAuth tx(Key(1)), rx(Key(1));
  std::string d = tx.Seal(7, "hello", 1000);
  uint32_t sender = 0;
  std::string_view payload;
  ASSERT_EQ(rx.Open(d, 1000, &sender, &payload), DatagramVerdict::kOk);
  EXPECT_EQ(sender, 7u);
  EXPECT_EQ(payload, "hello");
}

TEST(DatagramAuth, WrongKeyTamperStaleReplayGarbage) {
  DatagramAuth tx(Key(1)), rx(Key(1)), other(Key(2));
  uint32_t sender;
  std::string_view payload;
  std::string d = tx.Seal(7, "hello", 100000);
  EXPECT_EQ(other.Open(d, 100000, &sender, &payload), DatagramVerdict::kBadMac);
  std::string tampered = d;
  tampered[DatagramAuth::kHeaderSize] ^= 1;
  EXPECT_EQ(rx.Open(tampered, 100000, &sender, &payload), DatagramVerdict::kBadMac);
  EXPECT_EQ(rx.Open(d, 100000 + DatagramAuth::kDefaultWindowMs + 1, &sender, &payload),
            DatagramVerdict::kStale);
  EXPECT_EQ(rx.Open(d, 100000, &sender, &payload), DatagramVerdict::kOk);
  EXPECT_EQ(rx.Open(d, 100001, &sender, &payload), DatagramVerdict::kReplay);
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; i++) {
    std::string junk(rng() % 200, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (i % 2 && junk.size() >= 4) junk.replace(0, 4, "VLMD");
    EXPECT_NE(rx.Open(junk, 100000, &sender, &payload), DatagramVerdict::kOk);
  }
  EXPECT_EQ(rx.stats().accepted, 1u);
  EXPECT_EQ(rx.stats().replayed, 1u);
  EXPECT_EQ(rx.stats().stale, 1u);
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
