// A WASI program's descriptor table and the functions over it: stdio, the preopened
// directories, and what the program opens beneath them. Nothing else is reachable.
#ifndef VELUM_RUNTIME_WASI_FILES_H_
#define VELUM_RUNTIME_WASI_FILES_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/wasi.h"

namespace velum {

// Bounds of one program's file state: descriptors open at once (past it: EMFILE), entries of
// one directory listing (fd_readdir; past it: ENOMEM), subscriptions of one poll_oneoff.
constexpr uint32_t kMaxWasiDescriptors = 1024;
constexpr size_t kMaxWasiDirEntries = 1 << 20;
constexpr uint32_t kMaxWasiPollSubscriptions = 4096;
// Bytes of fd_readdir snapshots one program holds across all its descriptors (past it: ENOMEM).
constexpr uint64_t kMaxWasiListingBytes = 64ull << 20;

class WasiFiles {
 public:
  // What a descriptor is. The stdio kinds are served by WasiHost (captured, capped output).
  enum class Kind : uint8_t { kNone, kStdin, kStdout, kStderr, kFile, kDirectory };

  WasiFiles(std::vector<WasiPreopen> preopens,
            std::optional<std::chrono::steady_clock::time_point> deadline);
  ~WasiFiles();  // closes every host descriptor
  WasiFiles(const WasiFiles&) = delete;
  WasiFiles& operator=(const WasiFiles&) = delete;

  // The kind of `fd`, and whether its rights allow reading (fd_read) or writing (fd_write):
  // for stdio, WasiHost asks before it serves the data.
  Kind KindOf(uint32_t fd) const;
  WasiErrno CheckStdio(uint32_t fd, bool write) const;

  // Every function but args, environ, clocks, random, proc_exit, sched_yield, and fd_read or
  // fd_write on stdio.
  WasiErrno Call(WasiFunc func, const uint64_t* args, WasiMemory m);

 private:
  struct DirEntry {
    uint64_t ino = 0;
    uint8_t filetype = 0;
    std::string name;
  };
  struct Entry {
    Kind kind = Kind::kNone;
    int host = -1;                      // files and directories; stdio is WasiHost's
    uint64_t base = 0, inheriting = 0;  // WASI rights
    bool preopen = false;
    std::string preopen_name;
    std::vector<DirEntry> listing;  // fd_readdir's snapshot, taken at cookie 0
    uint64_t listing_bytes = 0;     // its share of listing_bytes_
  };
  // The parent directory of a path's last component, opened beneath a directory descriptor,
  // and that component (trailing slashes kept, so the kernel applies their meaning).
  struct Parent {
    int fd = -1;     // the descriptor to use: `owned` or the directory's own
    int owned = -1;  // closed by the destructor
    std::string last;
    ~Parent();
  };

  Entry* Get(uint32_t fd);
  // `fd`'s entry if it is a directory holding `rights`; else the errno to return.
  WasiErrno Dir(uint32_t fd, uint64_t rights, Entry** out);
  WasiErrno File(uint32_t fd, uint64_t rights, Entry** out);
  WasiErrno OpenParent(const Entry& dir, const std::string& path, Parent* out);
  WasiErrno CheckLast(const Entry& dir, const std::string& path, const Parent& parent);
  // A new descriptor number for `entry`, or EMFILE.
  WasiErrno Install(std::unique_ptr<Entry> entry, uint32_t* fd);
  // Closes `fd`'s host descriptor and forgets its entry (and its listing's bytes).
  void Release(uint32_t fd);

  WasiErrno FdFdstatGet(uint32_t fd, uint32_t out, WasiMemory m);
  WasiErrno FdFdstatSetFlags(uint32_t fd, uint32_t flags);
  WasiErrno FdFdstatSetRights(uint32_t fd, uint64_t base, uint64_t inheriting);
  WasiErrno FdFilestatGet(uint32_t fd, uint32_t out, WasiMemory m);
  WasiErrno FdFilestatSetTimes(uint32_t fd, uint64_t atim, uint64_t mtim, uint32_t flags);
  WasiErrno FdIo(uint32_t fd, bool write, std::optional<uint64_t> offset, uint32_t iovs,
                 uint32_t iovs_len, uint32_t done_out, WasiMemory m);
  WasiErrno FdPrestatGet(uint32_t fd, uint32_t out, WasiMemory m);
  WasiErrno FdPrestatDirName(uint32_t fd, uint32_t path, uint32_t len, WasiMemory m);
  WasiErrno FdReaddir(uint32_t fd, uint32_t buf, uint32_t len, uint64_t cookie, uint32_t used_out,
                      WasiMemory m);
  WasiErrno FdRenumber(uint32_t from, uint32_t to);
  WasiErrno FdSeek(uint32_t fd, int64_t offset, uint32_t whence, uint32_t out, WasiMemory m);
  WasiErrno FdClose(uint32_t fd);
  WasiErrno PathOpen(uint32_t dirfd, uint32_t lookup, const std::string& path, uint32_t oflags,
                     uint64_t base, uint64_t inheriting, uint32_t fdflags, uint32_t fd_out,
                     WasiMemory m);
  WasiErrno PathFilestatGet(uint32_t dirfd, uint32_t lookup, const std::string& path, uint32_t out,
                            WasiMemory m);
  WasiErrno PathFilestatSetTimes(uint32_t dirfd, uint32_t lookup, const std::string& path,
                                 uint64_t atim, uint64_t mtim, uint32_t flags);
  WasiErrno PathReadlink(uint32_t dirfd, const std::string& path, uint32_t buf, uint32_t len,
                         uint32_t used_out, WasiMemory m);
  // path_link and path_rename: from a path beneath one directory to a path beneath another.
  WasiErrno PathLinkOrRename(WasiFunc func, uint32_t old_dirfd, const std::string& old_path,
                             uint32_t new_dirfd, const std::string& new_path);
  WasiErrno PathSymlink(const std::string& target, uint32_t dirfd, const std::string& path);
  // path_create_directory, path_remove_directory and path_unlink_file.
  WasiErrno PathChange(WasiFunc func, uint32_t dirfd, const std::string& path);
  WasiErrno PollOneoff(uint32_t in, uint32_t out, uint32_t count, uint32_t nevents_out,
                       WasiMemory m);
  WasiErrno Sock(uint32_t fd);

  std::vector<std::unique_ptr<Entry>> table_;  // index: the guest's descriptor number
  uint64_t listing_bytes_ = 0;                 // every entry's listing_bytes
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_WASI_FILES_H_
