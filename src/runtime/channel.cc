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

// Sends the first bytes of `p` with `pass_fd` attached; the rest goes through WriteAll.
bool WriteWithFd(int fd, const uint8_t* p, size_t n, int pass_fd) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{const_cast<uint8_t*>(p), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  ssize_t w;
  do {
    w = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w <= 0) return false;
  return WriteAll(fd, p + w, n - static_cast<size_t>(w));
}

// Reads exactly `n` bytes; any descriptor that arrives with them goes to `received_fd` (one
// is kept, extra ones are closed) or is closed when the caller expects none.
bool ReadAll(int fd, uint8_t* p, size_t n, int* received_fd) {
  while (n > 0) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{p, n};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (received_fd && *received_fd < 0)
          *received_fd = got;
        else
          close(got);
      }
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

bool WriteFrame(int fd, const std::vector<uint8_t>& frame, int pass_fd) {
  uint32_t n = static_cast<uint32_t>(frame.size());
  if (pass_fd < 0)
    return WriteAll(fd, reinterpret_cast<uint8_t*>(&n), 4) &&
           WriteAll(fd, frame.data(), frame.size());
  // The descriptor rides on the length prefix, so it arrives with the frame it belongs to.
  return WriteWithFd(fd, reinterpret_cast<uint8_t*>(&n), 4, pass_fd) &&
         WriteAll(fd, frame.data(), frame.size());
}

bool ReadFrame(int fd, std::vector<uint8_t>* frame, int* received_fd) {
  if (received_fd) *received_fd = -1;
  uint32_t n = 0;
  bool ok = ReadAll(fd, reinterpret_cast<uint8_t*>(&n), 4, received_fd) && n <= kMaxChannelFrame;
  if (ok) {
    frame->resize(n);
    ok = ReadAll(fd, frame->data(), n, received_fd);
  }
  if (!ok && received_fd && *received_fd >= 0) {
    close(*received_fd);
    *received_fd = -1;
  }
  return ok;
}

}  // namespace velum
