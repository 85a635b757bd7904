// Blocking frame I/O for the executor channel, robust to short reads and EINTR.
// A frame is a 4-byte little-endian length followed by that many bytes.
#include "runtime/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace velum {

namespace {

bool WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Sends the first bytes of `p` with `pass_fds` attached (one SCM_RIGHTS message); the rest
// goes through WriteAll.
bool WriteWithFds(int fd, const uint8_t* p, size_t n, const std::vector<int>& pass_fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  const size_t fds_bytes = sizeof(int) * pass_fds.size();
  iovec iov{const_cast<uint8_t*>(p), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(fds_bytes);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(fds_bytes);
  std::memcpy(CMSG_DATA(c), pass_fds.data(), fds_bytes);
  ssize_t w;
  do {
    w = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w <= 0) return false;
  return WriteAll(fd, p + w, n - static_cast<size_t>(w));
}

// What came with a frame's bytes: its descriptors in order, and whether it broke the rules.
struct Received {
  std::vector<int> fds;
  bool refused = false;  // more than kMaxPassedFds, or some dropped by the kernel

  void CloseAll() {
    for (int got : fds) close(got);
    fds.clear();
  }
};

// Reads exactly `n` bytes, collecting every descriptor that arrives with them in `received`:
// the kernel hands them over as they are read, so each is closed or kept, never lost.
bool ReadAll(int fd, uint8_t* p, size_t n, Received* received) {
  while (n > 0) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
    iovec iov{p, n};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    // Truncated: the kernel closed what did not fit, so the list is not the sender's.
    if (msg.msg_flags & MSG_CTRUNC) received->refused = true;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (received->fds.size() < kMaxPassedFds) {
          received->fds.push_back(got);
        } else {
          close(got);
          received->refused = true;
        }
      }
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

bool WriteFrame(int fd, const std::vector<uint8_t>& frame, const std::vector<int>& pass_fds) {
  if (pass_fds.size() > kMaxPassedFds) return false;
  uint32_t n = static_cast<uint32_t>(frame.size());
  if (pass_fds.empty())
    return WriteAll(fd, reinterpret_cast<uint8_t*>(&n), 4) &&
           WriteAll(fd, frame.data(), frame.size());
  // The descriptors ride on the length prefix, so they arrive with the frame they belong to.
  return WriteWithFds(fd, reinterpret_cast<uint8_t*>(&n), 4, pass_fds) &&
         WriteAll(fd, frame.data(), frame.size());
}

bool ReadFrame(int fd, std::vector<uint8_t>* frame, std::vector<int>* received_fds) {
  if (received_fds) received_fds->clear();
  Received received;
  uint32_t n = 0;
  bool ok = ReadAll(fd, reinterpret_cast<uint8_t*>(&n), 4, &received) && n <= kMaxChannelFrame;
  if (ok) {
    frame->resize(n);
    ok = ReadAll(fd, frame->data(), n, &received);
  }
  if (!ok || received.refused || !received_fds) {
    received.CloseAll();
    return ok && !received.refused;
  }
  *received_fds = std::move(received.fds);
  return true;
}

}  // namespace velum
