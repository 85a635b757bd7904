// Blocking frame I/O for the executor channel, robust to short reads and EINTR.
// A frame is a 4-byte little-endian length followed by that many bytes.
#include "runtime/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

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
bool ReadAll(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
}  // namespace

bool WriteFrame(int fd, const std::vector<uint8_t>& frame) {
  uint32_t n = static_cast<uint32_t>(frame.size());
  return WriteAll(fd, reinterpret_cast<uint8_t*>(&n), 4) &&
         WriteAll(fd, frame.data(), frame.size());
}

bool ReadFrame(int fd, std::vector<uint8_t>* frame) {
  uint32_t n = 0;
  if (!ReadAll(fd, reinterpret_cast<uint8_t*>(&n), 4) || n > kMaxChannelFrame) return false;
  frame->resize(n);
  return ReadAll(fd, frame->data(), n);
}

}  // namespace velum
