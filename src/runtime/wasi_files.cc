// WASI's descriptor and path functions over host descriptors. Every path is resolved by the
// kernel beneath its directory (openat2 RESOLVE_BENEATH): `..`, absolute paths and symlinks
// that lead out fail, with no window for a rename race, unlike any check of the string.
#include "runtime/wasi_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "core/assert.h"
#include "runtime/wasi_guest.h"

namespace velum {

using namespace wasi_guest;  // NOLINT: the guest memory helpers are this file's vocabulary

namespace {

// WASI rights (wasi_snapshot_preview1's `rights`), bit by bit.
enum Right : uint64_t {
  kFdDatasync = 1ull << 0,
  kFdRead = 1ull << 1,
  kFdSeek = 1ull << 2,
  kFdFdstatSetFlags = 1ull << 3,
  kFdSync = 1ull << 4,
  kFdTell = 1ull << 5,
  kFdWrite = 1ull << 6,
  kFdAdvise = 1ull << 7,
  kFdAllocate = 1ull << 8,
  kPathCreateDirectory = 1ull << 9,
  kPathCreateFile = 1ull << 10,
  kPathLinkSource = 1ull << 11,
  kPathLinkTarget = 1ull << 12,
  kPathOpen = 1ull << 13,
  kFdReaddir = 1ull << 14,
  kPathReadlink = 1ull << 15,
  kPathRenameSource = 1ull << 16,
  kPathRenameTarget = 1ull << 17,
  kPathFilestatGet = 1ull << 18,
  kPathFilestatSetSize = 1ull << 19,
  kPathFilestatSetTimes = 1ull << 20,
  kFdFilestatGet = 1ull << 21,
  kFdFilestatSetSize = 1ull << 22,
  kFdFilestatSetTimes = 1ull << 23,
  kPathSymlink = 1ull << 24,
  kPathRemoveDirectory = 1ull << 25,
  kPathUnlinkFile = 1ull << 26,
  kPollFdReadwrite = 1ull << 27,
};

constexpr uint64_t kFileRights = kFdDatasync | kFdRead | kFdSeek | kFdFdstatSetFlags | kFdSync |
                                 kFdTell | kFdWrite | kFdAdvise | kFdAllocate | kFdFilestatGet |
                                 kFdFilestatSetSize | kFdFilestatSetTimes | kPollFdReadwrite;
constexpr uint64_t kDirRights =
    kFdFdstatSetFlags | kFdSync | kPathCreateDirectory | kPathCreateFile | kPathLinkSource |
    kPathLinkTarget | kPathOpen | kFdReaddir | kPathReadlink | kPathRenameSource |
    kPathRenameTarget | kPathFilestatGet | kPathFilestatSetSize | kPathFilestatSetTimes |
    kFdFilestatGet | kFdFilestatSetTimes | kPathSymlink | kPathRemoveDirectory | kPathUnlinkFile;
// What a read-only preopen withholds, from itself and everything opened beneath it.
constexpr uint64_t kWriteRights = kFdDatasync | kFdWrite | kFdAllocate | kPathCreateDirectory |
                                  kPathCreateFile | kPathLinkSource | kPathLinkTarget |
                                  kPathRenameSource | kPathRenameTarget | kPathFilestatSetSize |
                                  kPathFilestatSetTimes | kFdFilestatSetSize | kFdFilestatSetTimes |
                                  kPathSymlink | kPathRemoveDirectory | kPathUnlinkFile;

// WASI's filetype, fdflags, oflags, lookupflags and fstflags values.
enum Filetype : uint8_t {
  kUnknown = 0,
  kBlockDevice = 1,
  kCharacterDevice = 2,
  kDirectory = 3,
  kRegularFile = 4,
  kSocketStream = 6,
  kSymbolicLink = 7,
};
enum FdFlag : uint16_t { kAppend = 1, kDsync = 2, kNonblock = 4, kRsync = 8, kSync = 16 };
enum OFlag : uint16_t { kCreat = 1, kODirectory = 2, kExcl = 4, kTrunc = 8 };
constexpr uint32_t kSymlinkFollow = 1;
enum FstFlag : uint16_t { kAtim = 1, kAtimNow = 2, kMtim = 4, kMtimNow = 8 };

WasiErrno FromErrno(int e) {
  switch (e) {
    case 0:
      return WasiErrno::kSuccess;
    case E2BIG:
      return WasiErrno::k2big;
    case EACCES:
      return WasiErrno::kAcces;
    case EAGAIN:
      return WasiErrno::kAgain;
    case EBADF:
      return WasiErrno::kBadf;
    case EBUSY:
      return WasiErrno::kBusy;
    case EDQUOT:
      return WasiErrno::kDquot;
    case EEXIST:
      return WasiErrno::kExist;
    case EFAULT:
      return WasiErrno::kFault;
    case EFBIG:
      return WasiErrno::kFbig;
    case EINTR:
      return WasiErrno::kIntr;
    case EINVAL:
      return WasiErrno::kInval;
    case EISDIR:
      return WasiErrno::kIsdir;
    case ELOOP:
      return WasiErrno::kLoop;
    case EMFILE:
      return WasiErrno::kMfile;
    case EMLINK:
      return WasiErrno::kMlink;
    case ENAMETOOLONG:
      return WasiErrno::kNametoolong;
    case ENFILE:
      return WasiErrno::kNfile;
    case ENODEV:
      return WasiErrno::kNodev;
    case ENOENT:
      return WasiErrno::kNoent;
    case ENOMEM:
      return WasiErrno::kNomem;
    case ENOSPC:
      return WasiErrno::kNospc;
    case ENOSYS:
      return WasiErrno::kNosys;
    case ENOTDIR:
      return WasiErrno::kNotdir;
    case ENOTEMPTY:
      return WasiErrno::kNotempty;
    case ENOTSOCK:
      return WasiErrno::kNotsock;
    case EOPNOTSUPP:
      return WasiErrno::kNotsup;
    case ENOTTY:
      return WasiErrno::kNotty;
    case ENXIO:
      return WasiErrno::kNxio;
    case EOVERFLOW:
      return WasiErrno::kOverflow;
    case EPERM:
      return WasiErrno::kPerm;
    case EPIPE:
      return WasiErrno::kPipe;
    case ERANGE:
      return WasiErrno::kRange;
    case EROFS:
      return WasiErrno::kRofs;
    case ESPIPE:
      return WasiErrno::kSpipe;
    case ETXTBSY:
      return WasiErrno::kTxtbsy;
    case EXDEV:
      return WasiErrno::kXdev;
    default:
      return WasiErrno::kIo;
  }
}

WasiErrno LastError() { return FromErrno(errno); }

uint8_t FiletypeOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return kRegularFile;
    case S_IFDIR:
      return kDirectory;
    case S_IFLNK:
      return kSymbolicLink;
    case S_IFCHR:
      return kCharacterDevice;
    case S_IFBLK:
      return kBlockDevice;
    case S_IFSOCK:
      return kSocketStream;
    default:
      return kUnknown;
  }
}

uint8_t FiletypeOfDirent(unsigned char type) {
  switch (type) {
    case DT_REG:
      return kRegularFile;
    case DT_DIR:
      return kDirectory;
    case DT_LNK:
      return kSymbolicLink;
    case DT_CHR:
      return kCharacterDevice;
    case DT_BLK:
      return kBlockDevice;
    case DT_SOCK:
      return kSocketStream;
    default:
      return kUnknown;
  }
}

// A path from the guest is bytes; one with a NUL in it cannot name a file.
bool ValidPath(const std::string& path) { return path.find('\0') == std::string::npos; }

// openat2 beneath `dir`: a path that leads out of it (absolute, `..`, a symlink pointing out)
// is ENOTCAPABLE, the capability error, rather than the kernel's EXDEV.
WasiErrno OpenBeneath(int dir, const std::string& path, uint64_t flags, int* fd) {
  if (!ValidPath(path)) return WasiErrno::kInval;
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? 0666 : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: a concurrent rename touched the walk (RESOLVE_BENEATH refuses to guess); retried.
  for (int attempt = 0; attempt < 8; attempt++) {
    long r = syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how);
    if (r >= 0) {
      *fd = static_cast<int>(r);
      return WasiErrno::kSuccess;
    }
    if (errno != EAGAIN) break;
  }
  return errno == EXDEV ? WasiErrno::kNotcapable : LastError();
}

void StoreFilestat(const WasiMemory& m, uint32_t out, const struct stat& st) {
  std::memset(m.data + out, 0, 64);
  Store<uint64_t>(m, out, st.st_dev);
  Store<uint64_t>(m, out + 8ull, st.st_ino);
  Store<uint8_t>(m, out + 16ull, FiletypeOf(st.st_mode));
  Store<uint64_t>(m, out + 24ull, st.st_nlink);
  Store<uint64_t>(m, out + 32ull, static_cast<uint64_t>(st.st_size));
  auto ns = [](const timespec& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(t.tv_nsec);
  };
  Store<uint64_t>(m, out + 40ull, ns(st.st_atim));
  Store<uint64_t>(m, out + 48ull, ns(st.st_mtim));
  Store<uint64_t>(m, out + 56ull, ns(st.st_ctim));
}

// The two timespecs of utimensat from WASI's fstflags; false: contradictory or unknown flags.
bool Times(uint64_t atim, uint64_t mtim, uint32_t flags, timespec ts[2]) {
  if ((flags & ~0xFu) != 0 || ((flags & kAtim) && (flags & kAtimNow)) ||
      ((flags & kMtim) && (flags & kMtimNow)))
    return false;
  auto one = [](uint64_t ns, bool set, bool now, timespec* t) {
    if (now) {
      t->tv_sec = 0;
      t->tv_nsec = UTIME_NOW;
    } else if (set) {
      t->tv_sec = static_cast<time_t>(ns / 1'000'000'000ull);
      t->tv_nsec = static_cast<long>(ns % 1'000'000'000ull);
    } else {
      t->tv_sec = 0;
      t->tv_nsec = UTIME_OMIT;
    }
  };
  one(atim, flags & kAtim, flags & kAtimNow, &ts[0]);
  one(mtim, flags & kMtim, flags & kMtimNow, &ts[1]);
  return true;
}

bool IsStdioKind(WasiFiles::Kind k) {
  return k == WasiFiles::Kind::kStdin || k == WasiFiles::Kind::kStdout ||
         k == WasiFiles::Kind::kStderr;
}

}  // namespace

WasiFiles::Parent::~Parent() {
  if (owned >= 0) close(owned);
}

WasiFiles::WasiFiles(std::vector<WasiPreopen> preopens,
                     std::optional<std::chrono::steady_clock::time_point> deadline)
    : deadline_(deadline) {
  const Kind stdio[] = {Kind::kStdin, Kind::kStdout, Kind::kStderr};
  for (Kind k : stdio) {
    auto e = std::make_unique<Entry>();
    e->kind = k;
    e->base = (k == Kind::kStdin ? kFdRead : kFdWrite) | kPollFdReadwrite | kFdFilestatGet;
    table_.push_back(std::move(e));
  }
  for (WasiPreopen& p : preopens) {
    if (table_.size() >= kMaxWasiDescriptors) {
      if (p.fd >= 0) close(p.fd);
      continue;
    }
    auto e = std::make_unique<Entry>();
    e->kind = Kind::kDirectory;
    e->host = p.fd;
    e->preopen = true;
    e->preopen_name = p.guest_path;
    uint64_t withheld = p.read_only ? kWriteRights : 0;
    e->base = kDirRights & ~withheld;
    e->inheriting = (kDirRights | kFileRights) & ~withheld;
    p.fd = -1;
    table_.push_back(std::move(e));
  }
}

WasiFiles::~WasiFiles() {
  for (auto& e : table_)
    if (e && e->host >= 0) close(e->host);
}

WasiFiles::Entry* WasiFiles::Get(uint32_t fd) {
  return fd < table_.size() ? table_[fd].get() : nullptr;
}

WasiFiles::Kind WasiFiles::KindOf(uint32_t fd) const {
  if (fd >= table_.size() || !table_[fd]) return Kind::kNone;
  return table_[fd]->kind;
}

WasiErrno WasiFiles::CheckStdio(uint32_t fd, bool write) const {
  if (fd >= table_.size() || !table_[fd]) return WasiErrno::kBadf;
  const Entry& e = *table_[fd];
  VELUM_ASSERT(IsStdioKind(e.kind));
  return (e.base & (write ? kFdWrite : kFdRead)) ? WasiErrno::kSuccess : WasiErrno::kBadf;
}

WasiErrno WasiFiles::Dir(uint32_t fd, uint64_t rights, Entry** out) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  if (e->kind != Kind::kDirectory) return WasiErrno::kNotdir;
  if ((e->base & rights) != rights) return WasiErrno::kNotcapable;
  *out = e;
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::File(uint32_t fd, uint64_t rights, Entry** out) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  if ((e->base & rights) != rights) return WasiErrno::kNotcapable;
  *out = e;
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::Install(std::unique_ptr<Entry> entry, uint32_t* fd) {
  VELUM_ASSERT(entry && entry->host >= 0);
  for (uint32_t i = 0; i < table_.size(); i++) {
    if (!table_[i]) {
      table_[i] = std::move(entry);
      *fd = i;
      return WasiErrno::kSuccess;
    }
  }
  if (table_.size() >= kMaxWasiDescriptors) {
    close(entry->host);
    return WasiErrno::kMfile;
  }
  table_.push_back(std::move(entry));
  *fd = static_cast<uint32_t>(table_.size() - 1);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::OpenParent(const Entry& dir, const std::string& path, Parent* out) {
  if (!ValidPath(path)) return WasiErrno::kInval;
  size_t end = path.size();
  while (end > 0 && path[end - 1] == '/') end--;
  if (path.empty()) return WasiErrno::kNoent;
  if (end == 0) return WasiErrno::kNotcapable;  // "/" or "//": the root of the host
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos) {
    out->fd = dir.host;
    out->last = path;
    return CheckLast(dir, path, *out);
  }
  out->last = path.substr(slash + 1);
  // "/x" keeps its slash as the parent: absolute, so beneath-resolution refuses it.
  WasiErrno e = OpenBeneath(dir.host, path.substr(0, slash + 1), O_PATH | O_DIRECTORY, &out->owned);
  if (e != WasiErrno::kSuccess) return e;
  out->fd = out->owned;
  return CheckLast(dir, path, *out);
}

// The kernel resolves a last component of ".." and follows a symbolic link named with a
// trailing slash ("link/") by itself, beyond any directory: either must resolve beneath
// first, or a program could learn what exists outside from the errors of readlink or link.
WasiErrno WasiFiles::CheckLast(const Entry& dir, const std::string& path, const Parent& p) {
  size_t end = p.last.find_last_not_of('/');
  VELUM_ASSERT(end != std::string::npos);
  std::string name = p.last.substr(0, end + 1);
  bool check = name == "..";
  if (!check && end + 1 < p.last.size()) {
    struct stat st {};
    check = fstatat(p.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  }
  if (!check) return WasiErrno::kSuccess;
  int fd = -1;
  WasiErrno e = OpenBeneath(dir.host, path, O_PATH, &fd);
  if (fd >= 0) close(fd);
  return e;
}

WasiErrno WasiFiles::Call(WasiFunc func, const uint64_t* a, WasiMemory m) {
  // A path argument (pointer, length at `i`, `i + 1`), or EFAULT.
  auto path = [&](size_t i, std::string* out) {
    auto s = LoadString(m, Arg32(a, i), Arg32(a, i + 1));
    if (!s) return false;
    *out = std::move(*s);
    return true;
  };
  std::string p1, p2;
  Entry* e = nullptr;
  WasiErrno r = WasiErrno::kSuccess;
  switch (func) {
    case WasiFunc::kFdAdvise: {
      if ((r = File(Arg32(a, 0), kFdAdvise, &e)) != WasiErrno::kSuccess) return r;
      if (e->kind == Kind::kDirectory || IsStdioKind(e->kind)) return WasiErrno::kBadf;
      if (Arg32(a, 3) > 5) return WasiErrno::kInval;
      const int advice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                            POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
      return FromErrno(posix_fadvise(e->host, static_cast<off_t>(a[1]), static_cast<off_t>(a[2]),
                                     advice[Arg32(a, 3)]));
    }
    case WasiFunc::kFdAllocate: {
      if ((r = File(Arg32(a, 0), kFdAllocate, &e)) != WasiErrno::kSuccess) return r;
      if (e->kind != Kind::kFile) return WasiErrno::kBadf;
      if (static_cast<int64_t>(a[1]) < 0 || static_cast<int64_t>(a[2]) <= 0)
        return WasiErrno::kInval;
      return FromErrno(
          posix_fallocate(e->host, static_cast<off_t>(a[1]), static_cast<off_t>(a[2])));
    }
    case WasiFunc::kFdClose:
      return FdClose(Arg32(a, 0));
    case WasiFunc::kFdDatasync:
    case WasiFunc::kFdSync: {
      bool data = func == WasiFunc::kFdDatasync;
      if ((r = File(Arg32(a, 0), data ? kFdDatasync : kFdSync, &e)) != WasiErrno::kSuccess)
        return r;
      if (IsStdioKind(e->kind)) return WasiErrno::kInval;
      return (data ? fdatasync(e->host) : fsync(e->host)) == 0 ? WasiErrno::kSuccess : LastError();
    }
    case WasiFunc::kFdFdstatGet:
      return FdFdstatGet(Arg32(a, 0), Arg32(a, 1), m);
    case WasiFunc::kFdFdstatSetFlags:
      return FdFdstatSetFlags(Arg32(a, 0), Arg32(a, 1));
    case WasiFunc::kFdFdstatSetRights:
      return FdFdstatSetRights(Arg32(a, 0), a[1], a[2]);
    case WasiFunc::kFdFilestatGet:
      return FdFilestatGet(Arg32(a, 0), Arg32(a, 1), m);
    case WasiFunc::kFdFilestatSetSize: {
      if ((r = File(Arg32(a, 0), kFdFilestatSetSize, &e)) != WasiErrno::kSuccess) return r;
      if (e->kind != Kind::kFile) return WasiErrno::kBadf;
      if (static_cast<int64_t>(a[1]) < 0) return WasiErrno::kInval;
      return ftruncate(e->host, static_cast<off_t>(a[1])) == 0 ? WasiErrno::kSuccess : LastError();
    }
    case WasiFunc::kFdFilestatSetTimes:
      return FdFilestatSetTimes(Arg32(a, 0), a[1], a[2], Arg32(a, 3));
    case WasiFunc::kFdPread:
      return FdIo(Arg32(a, 0), false, a[3], Arg32(a, 1), Arg32(a, 2), Arg32(a, 4), m);
    case WasiFunc::kFdPwrite:
      return FdIo(Arg32(a, 0), true, a[3], Arg32(a, 1), Arg32(a, 2), Arg32(a, 4), m);
    case WasiFunc::kFdRead:
      return FdIo(Arg32(a, 0), false, std::nullopt, Arg32(a, 1), Arg32(a, 2), Arg32(a, 3), m);
    case WasiFunc::kFdWrite:
      return FdIo(Arg32(a, 0), true, std::nullopt, Arg32(a, 1), Arg32(a, 2), Arg32(a, 3), m);
    case WasiFunc::kFdPrestatGet:
      return FdPrestatGet(Arg32(a, 0), Arg32(a, 1), m);
    case WasiFunc::kFdPrestatDirName:
      return FdPrestatDirName(Arg32(a, 0), Arg32(a, 1), Arg32(a, 2), m);
    case WasiFunc::kFdReaddir:
      return FdReaddir(Arg32(a, 0), Arg32(a, 1), Arg32(a, 2), a[3], Arg32(a, 4), m);
    case WasiFunc::kFdRenumber:
      return FdRenumber(Arg32(a, 0), Arg32(a, 1));
    case WasiFunc::kFdSeek:
      return FdSeek(Arg32(a, 0), static_cast<int64_t>(a[1]), Arg32(a, 2), Arg32(a, 3), m);
    case WasiFunc::kFdTell:
      return FdSeek(Arg32(a, 0), 0, 1, Arg32(a, 1), m);
    case WasiFunc::kPathCreateDirectory:
    case WasiFunc::kPathRemoveDirectory:
    case WasiFunc::kPathUnlinkFile:
      if (!path(1, &p1)) return WasiErrno::kFault;
      return PathChange(func, Arg32(a, 0), p1);
    case WasiFunc::kPathFilestatGet:
      if (!path(2, &p1)) return WasiErrno::kFault;
      return PathFilestatGet(Arg32(a, 0), Arg32(a, 1), p1, Arg32(a, 4), m);
    case WasiFunc::kPathFilestatSetTimes:
      if (!path(2, &p1)) return WasiErrno::kFault;
      return PathFilestatSetTimes(Arg32(a, 0), Arg32(a, 1), p1, a[4], a[5], Arg32(a, 6));
    case WasiFunc::kPathLink:
      if (!path(2, &p1) || !path(5, &p2)) return WasiErrno::kFault;
      if (Arg32(a, 1) & kSymlinkFollow) return WasiErrno::kInval;  // see PathLink
      return PathLinkOrRename(func, Arg32(a, 0), p1, Arg32(a, 4), p2);
    case WasiFunc::kPathOpen:
      if (!path(2, &p1)) return WasiErrno::kFault;
      return PathOpen(Arg32(a, 0), Arg32(a, 1), p1, Arg32(a, 4), a[5], a[6], Arg32(a, 7),
                      Arg32(a, 8), m);
    case WasiFunc::kPathReadlink:
      if (!path(1, &p1)) return WasiErrno::kFault;
      return PathReadlink(Arg32(a, 0), p1, Arg32(a, 3), Arg32(a, 4), Arg32(a, 5), m);
    case WasiFunc::kPathRename:
      if (!path(1, &p1) || !path(4, &p2)) return WasiErrno::kFault;
      return PathLinkOrRename(func, Arg32(a, 0), p1, Arg32(a, 3), p2);
    case WasiFunc::kPathSymlink:
      if (!path(0, &p1) || !path(3, &p2)) return WasiErrno::kFault;
      return PathSymlink(p1, Arg32(a, 2), p2);
    case WasiFunc::kPollOneoff:
      return PollOneoff(Arg32(a, 0), Arg32(a, 1), Arg32(a, 2), Arg32(a, 3), m);
    case WasiFunc::kSockAccept:
    case WasiFunc::kSockRecv:
    case WasiFunc::kSockSend:
    case WasiFunc::kSockShutdown:
      return Sock(Arg32(a, 0));
    case WasiFunc::kProcRaise:
      return WasiErrno::kNosys;
    default:
      VELUM_ASSERT(false && "WasiHost serves this function itself");
      return WasiErrno::kNosys;
  }
}

void WasiFiles::Release(uint32_t fd) {
  Entry* e = Get(fd);
  VELUM_ASSERT(e != nullptr && listing_bytes_ >= e->listing_bytes);
  listing_bytes_ -= e->listing_bytes;
  if (e->host >= 0) close(e->host);
  table_[fd].reset();
}

WasiErrno WasiFiles::FdClose(uint32_t fd) {
  if (!Get(fd)) return WasiErrno::kBadf;
  Release(fd);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdFdstatGet(uint32_t fd, uint32_t out, WasiMemory m) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  if (!InBounds(m, out, 24)) return WasiErrno::kFault;
  uint8_t type = kUnknown;  // stdio is captured or a pipe, not a terminal: isatty is false
  uint16_t flags = 0;
  if (!IsStdioKind(e->kind)) {
    struct stat st {};
    if (fstat(e->host, &st) != 0) return LastError();
    type = FiletypeOf(st.st_mode);
    int fl = fcntl(e->host, F_GETFL);
    if (fl < 0) return LastError();
    if (fl & O_APPEND) flags |= kAppend;
    if (fl & O_NONBLOCK) flags |= kNonblock;
    if ((fl & O_SYNC) == O_SYNC) flags |= kSync | kRsync;
    if (fl & O_DSYNC) flags |= kDsync;
  }
  std::memset(m.data + out, 0, 24);
  Store<uint8_t>(m, out, type);
  Store<uint16_t>(m, out + 2ull, flags);
  Store<uint64_t>(m, out + 8ull, e->base);
  Store<uint64_t>(m, out + 16ull, e->inheriting);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdFdstatSetFlags(uint32_t fd, uint32_t flags) {
  Entry* e = nullptr;
  if (WasiErrno r = File(fd, kFdFdstatSetFlags, &e); r != WasiErrno::kSuccess) return r;
  if (flags & ~0x1Fu) return WasiErrno::kInval;
  // Linux cannot turn synchronous writes on or off on an open file (F_SETFL ignores them).
  if (flags & (kDsync | kRsync | kSync)) return WasiErrno::kNotsup;
  if (IsStdioKind(e->kind)) return WasiErrno::kSuccess;  // captured: nothing to change
  int fl = fcntl(e->host, F_GETFL);
  if (fl < 0) return LastError();
  fl &= ~(O_APPEND | O_NONBLOCK);
  if (flags & kAppend) fl |= O_APPEND;
  if (flags & kNonblock) fl |= O_NONBLOCK;
  return fcntl(e->host, F_SETFL, fl) == 0 ? WasiErrno::kSuccess : LastError();
}

WasiErrno WasiFiles::FdFdstatSetRights(uint32_t fd, uint64_t base, uint64_t inheriting) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  // Rights only shrink.
  if ((base & ~e->base) != 0 || (inheriting & ~e->inheriting) != 0) return WasiErrno::kNotcapable;
  e->base = base;
  e->inheriting = inheriting;
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdFilestatGet(uint32_t fd, uint32_t out, WasiMemory m) {
  Entry* e = nullptr;
  if (WasiErrno r = File(fd, kFdFilestatGet, &e); r != WasiErrno::kSuccess) return r;
  if (!InBounds(m, out, 64)) return WasiErrno::kFault;
  if (IsStdioKind(e->kind)) {
    std::memset(m.data + out, 0, 64);
    return WasiErrno::kSuccess;
  }
  struct stat st {};
  if (fstat(e->host, &st) != 0) return LastError();
  StoreFilestat(m, out, st);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdFilestatSetTimes(uint32_t fd, uint64_t atim, uint64_t mtim, uint32_t flags) {
  Entry* e = nullptr;
  if (WasiErrno r = File(fd, kFdFilestatSetTimes, &e); r != WasiErrno::kSuccess) return r;
  if (IsStdioKind(e->kind)) return WasiErrno::kBadf;
  timespec ts[2];
  if (!Times(atim, mtim, flags, ts)) return WasiErrno::kInval;
  return futimens(e->host, ts) == 0 ? WasiErrno::kSuccess : LastError();
}

WasiErrno WasiFiles::FdIo(uint32_t fd, bool write, std::optional<uint64_t> offset, uint32_t iovs,
                          uint32_t iovs_len, uint32_t done_out, WasiMemory m) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  VELUM_ASSERT(!IsStdioKind(e->kind) || offset);  // stdio streams are WasiHost's
  if (IsStdioKind(e->kind)) return WasiErrno::kSpipe;
  if (e->kind == Kind::kDirectory) return WasiErrno::kIsdir;
  uint64_t need = (write ? kFdWrite : kFdRead) | (offset ? uint64_t{kFdSeek} : 0);
  if ((e->base & need) != need) return WasiErrno::kNotcapable;
  if (iovs_len > kMaxIovecs) return WasiErrno::kInval;
  auto vecs = LoadIovecs(m, iovs, iovs_len);
  if (!vecs || !InBounds(m, done_out, 4)) return WasiErrno::kFault;
  if (offset && static_cast<int64_t>(*offset) < 0) return WasiErrno::kInval;
  std::vector<iovec> host(vecs->size());
  for (size_t i = 0; i < vecs->size(); i++)
    host[i] = iovec{m.data + (*vecs)[i].ptr, (*vecs)[i].len};
  int n = static_cast<int>(host.size());
  ssize_t done;
  if (offset) {
    off_t at = static_cast<off_t>(*offset);
    done = write ? pwritev(e->host, host.data(), n, at) : preadv(e->host, host.data(), n, at);
  } else {
    done = write ? writev(e->host, host.data(), n) : readv(e->host, host.data(), n);
  }
  if (done < 0) return LastError();
  Store<uint32_t>(m, done_out, static_cast<uint32_t>(done));
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdPrestatGet(uint32_t fd, uint32_t out, WasiMemory m) {
  Entry* e = Get(fd);
  if (!e || !e->preopen) return WasiErrno::kBadf;
  if (!InBounds(m, out, 8)) return WasiErrno::kFault;
  std::memset(m.data + out, 0, 8);
  Store<uint32_t>(m, out + 4ull, static_cast<uint32_t>(e->preopen_name.size()));
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdPrestatDirName(uint32_t fd, uint32_t path, uint32_t len, WasiMemory m) {
  Entry* e = Get(fd);
  if (!e || !e->preopen) return WasiErrno::kBadf;
  if (len < e->preopen_name.size()) return WasiErrno::kNametoolong;
  if (!InBounds(m, path, e->preopen_name.size())) return WasiErrno::kFault;
  std::memcpy(m.data + path, e->preopen_name.data(), e->preopen_name.size());
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdReaddir(uint32_t fd, uint32_t buf, uint32_t len, uint64_t cookie,
                               uint32_t used_out, WasiMemory m) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  if (e->kind != Kind::kDirectory) return WasiErrno::kNotdir;
  if (!(e->base & kFdReaddir)) return WasiErrno::kNotcapable;
  if (!InBounds(m, buf, len) || !InBounds(m, used_out, 4)) return WasiErrno::kFault;
  // Cookie 0 reads the directory afresh; later cookies page through that snapshot.
  if (cookie == 0 || e->listing.empty()) {
    std::vector<DirEntry> listing;
    // The old snapshot goes first; the new one counts against the program's listing budget.
    listing_bytes_ -= e->listing_bytes;
    e->listing_bytes = 0;
    e->listing.clear();
    uint64_t bytes = 0;
    if (lseek(e->host, 0, SEEK_SET) < 0) return LastError();
    alignas(8) char chunk[32768];
    for (;;) {
      long n = syscall(SYS_getdents64, e->host, chunk, sizeof chunk);
      if (n < 0) return LastError();
      if (n == 0) break;
      for (long at = 0; at < n;) {
        auto* d = reinterpret_cast<dirent64*>(chunk + at);
        at += d->d_reclen;
        DirEntry entry;
        entry.ino = d->d_ino;
        entry.name = d->d_name;
        entry.filetype = FiletypeOfDirent(d->d_type);
        if (d->d_type == DT_UNKNOWN) {
          struct stat st {};
          if (fstatat(e->host, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            entry.filetype = FiletypeOf(st.st_mode);
        }
        bytes += sizeof(DirEntry) + entry.name.size();
        if (listing.size() >= kMaxWasiDirEntries || listing_bytes_ + bytes > kMaxWasiListingBytes)
          return WasiErrno::kNomem;
        listing.push_back(std::move(entry));
      }
    }
    e->listing = std::move(listing);
    e->listing_bytes = bytes;
    listing_bytes_ += bytes;
  }
  uint64_t used = 0;
  for (uint64_t i = cookie; i < e->listing.size() && used < len; i++) {
    const DirEntry& d = e->listing[i];
    uint8_t header[24] = {};
    uint64_t next = i + 1;
    uint32_t namlen = static_cast<uint32_t>(d.name.size());
    std::memcpy(header, &next, 8);
    std::memcpy(header + 8, &d.ino, 8);
    std::memcpy(header + 16, &namlen, 4);
    header[20] = d.filetype;
    // The last entry may not fit: the guest sees a full buffer and asks again at its cookie.
    uint64_t n = std::min<uint64_t>(sizeof header, len - used);
    std::memcpy(m.data + buf + used, header, n);
    used += n;
    n = std::min<uint64_t>(d.name.size(), len - used);
    std::memcpy(m.data + buf + used, d.name.data(), n);
    used += n;
  }
  Store<uint32_t>(m, used_out, static_cast<uint32_t>(used));
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdRenumber(uint32_t from, uint32_t to) {
  if (!Get(from) || !Get(to)) return WasiErrno::kBadf;
  if (from == to) return WasiErrno::kSuccess;
  Release(to);
  table_[to] = std::move(table_[from]);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::FdSeek(uint32_t fd, int64_t offset, uint32_t whence, uint32_t out,
                            WasiMemory m) {
  Entry* e = Get(fd);
  if (!e) return WasiErrno::kBadf;
  if (IsStdioKind(e->kind)) return WasiErrno::kSpipe;
  if (e->kind == Kind::kDirectory) return WasiErrno::kBadf;
  // A seek that only asks where the offset is needs fd_tell alone.
  uint64_t need = (offset == 0 && whence == 1) ? kFdTell : kFdSeek;
  if ((e->base & need) != need) return WasiErrno::kNotcapable;
  if (whence > 2) return WasiErrno::kInval;
  if (!InBounds(m, out, 8)) return WasiErrno::kFault;
  const int how[] = {SEEK_SET, SEEK_CUR, SEEK_END};
  off_t at = lseek(e->host, offset, how[whence]);
  if (at < 0) return LastError();
  Store<uint64_t>(m, out, static_cast<uint64_t>(at));
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::PathOpen(uint32_t dirfd, uint32_t lookup, const std::string& path,
                              uint32_t oflags, uint64_t base, uint64_t inheriting, uint32_t fdflags,
                              uint32_t fd_out, WasiMemory m) {
  Entry* dir = nullptr;
  if (WasiErrno r = Dir(dirfd, kPathOpen, &dir); r != WasiErrno::kSuccess) return r;
  if (!InBounds(m, fd_out, 4)) return WasiErrno::kFault;
  if ((oflags & ~0xFu) || (fdflags & ~0x1Fu)) return WasiErrno::kInval;
  // What the program may do with the file: what it asked for, within what the directory
  // passes on. Asking to write where the directory passes no write right is refused here.
  base &= (kFileRights | kDirRights);
  if ((base & kFdWrite) && !(dir->inheriting & kFdWrite)) return WasiErrno::kNotcapable;
  if ((oflags & kCreat) && !(dir->base & kPathCreateFile)) return WasiErrno::kNotcapable;
  if ((oflags & kTrunc) && !(dir->base & kPathFilestatSetSize)) return WasiErrno::kNotcapable;
  base &= dir->inheriting;
  inheriting &= dir->inheriting;
  bool read = base & (kFdRead | kFdReaddir);
  bool write = base & (kFdWrite | kFdAllocate | kFdFilestatSetSize);
  uint64_t flags = O_NOCTTY;
  if (oflags & kODirectory) {
    if (base & kFdWrite) return WasiErrno::kIsdir;  // as open(2) of a directory for writing
    flags |= O_DIRECTORY | O_RDONLY;
  } else {
    flags |= write ? (read ? O_RDWR : O_WRONLY) : O_RDONLY;
  }
  if (oflags & kCreat) flags |= O_CREAT;
  if (oflags & kExcl) flags |= O_EXCL;
  if (oflags & kTrunc) {
    if (!write) flags = (flags & ~O_ACCMODE) | (read ? O_RDWR : O_WRONLY);
    flags |= O_TRUNC;
  }
  if (fdflags & kAppend) flags |= O_APPEND;
  // Always opened without blocking: a FIFO planted in the directory would otherwise hang the
  // host in open(2), where no deadline reaches it. The program's choice is restored below.
  flags |= O_NONBLOCK;
  if (fdflags & kDsync) flags |= O_DSYNC;
  if (fdflags & (kSync | kRsync)) flags |= O_SYNC;
  if (!(lookup & kSymlinkFollow)) flags |= O_NOFOLLOW;
  int host = -1;
  if (WasiErrno r = OpenBeneath(dir->host, path, flags, &host); r != WasiErrno::kSuccess) return r;
  struct stat st {};
  WasiErrno opened = fstat(host, &st) == 0 ? WasiErrno::kSuccess : LastError();
  // Regular files and directories only: FIFOs, devices and sockets could block the host.
  if (opened == WasiErrno::kSuccess && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    opened = WasiErrno::kNotsup;
  if (opened == WasiErrno::kSuccess && !(fdflags & kNonblock) &&
      fcntl(host, F_SETFL, fcntl(host, F_GETFL) & ~O_NONBLOCK) != 0)
    opened = LastError();
  if (opened != WasiErrno::kSuccess) {
    close(host);
    return opened;
  }
  auto entry = std::make_unique<Entry>();
  entry->host = host;
  entry->kind = S_ISDIR(st.st_mode) ? Kind::kDirectory : Kind::kFile;
  entry->base = base & (entry->kind == Kind::kDirectory ? kDirRights | kFdReaddir : kFileRights);
  entry->inheriting = inheriting;
  uint32_t fd = 0;
  if (WasiErrno r2 = Install(std::move(entry), &fd); r2 != WasiErrno::kSuccess) return r2;
  Store<uint32_t>(m, fd_out, fd);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::PathFilestatGet(uint32_t dirfd, uint32_t lookup, const std::string& path,
                                     uint32_t out, WasiMemory m) {
  Entry* dir = nullptr;
  if (WasiErrno r = Dir(dirfd, kPathFilestatGet, &dir); r != WasiErrno::kSuccess) return r;
  if (!InBounds(m, out, 64)) return WasiErrno::kFault;
  // Opened as a path (O_PATH: no permission needed), so the kernel keeps the walk beneath.
  int fd = -1;
  uint64_t flags = O_PATH | ((lookup & kSymlinkFollow) ? 0 : O_NOFOLLOW);
  if (WasiErrno r = OpenBeneath(dir->host, path, flags, &fd); r != WasiErrno::kSuccess) return r;
  struct stat st {};
  int rc = fstat(fd, &st);
  int err = errno;
  close(fd);
  if (rc != 0) return FromErrno(err);
  StoreFilestat(m, out, st);
  return WasiErrno::kSuccess;
}

WasiErrno WasiFiles::PathFilestatSetTimes(uint32_t dirfd, uint32_t lookup, const std::string& path,
                                          uint64_t atim, uint64_t mtim, uint32_t flags) {
  Entry* dir = nullptr;
  if (WasiErrno r = Dir(dirfd, kPathFilestatSetTimes, &dir); r != WasiErrno::kSuccess) return r;
  timespec ts[2];
  if (!Times(atim, mtim, flags, ts)) return WasiErrno::kInval;
  int fd = -1;
  uint64_t open_flags = O_PATH | ((lookup & kSymlinkFollow) ? 0 : O_NOFOLLOW);
  if (WasiErrno r = OpenBeneath(dir->host, path, open_flags, &fd); r != WasiErrno::kSuccess)
    return r;
  int rc = utimensat(fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  int err = errno;
  close(fd);
  return rc == 0 ? WasiErrno::kSuccess : FromErrno(err);
}

WasiErrno WasiFiles::PathReadlink(uint32_t dirfd, const std::string& path, uint32_t buf,
                                  uint32_t len, uint32_t used_out, WasiMemory m) {
  Entry* dir = nullptr;
  if (WasiErrno r = Dir(dirfd, kPathReadlink, &dir); r != WasiErrno::kSuccess) return r;
  if (!InBounds(m, buf, len) || !InBounds(m, used_out, 4)) return WasiErrno::kFault;
  Parent p;
  if (WasiErrno r = OpenParent(*dir, path, &p); r != WasiErrno::kSuccess) return r;
  std::vector<char> target(PATH_MAX);
  ssize_t n = readlinkat(p.fd, p.last.c_str(), target.data(), target.size());
  if (n < 0) return LastError();
  uint32_t copied = static_cast<uint32_t>(std::min<ssize_t>(n, len));
  std::memcpy(m.data + buf, target.data(), copied);
  Store<uint32_t>(m, used_out, copied);
  return WasiErrno::kSuccess;
}

// Hard links never follow a symlink at the source (linkat would follow it out of the
// directory); the guest's SYMLINK_FOLLOW is refused with EINVAL before we get here.
WasiErrno WasiFiles::PathLinkOrRename(WasiFunc func, uint32_t old_dirfd,
                                      const std::string& old_path, uint32_t new_dirfd,
                                      const std::string& new_path) {
  bool link = func == WasiFunc::kPathLink;
  VELUM_ASSERT(link || func == WasiFunc::kPathRename);
  Entry *from = nullptr, *to = nullptr;
  if (WasiErrno r = Dir(old_dirfd, link ? kPathLinkSource : kPathRenameSource, &from);
      r != WasiErrno::kSuccess)
    return r;
  if (WasiErrno r = Dir(new_dirfd, link ? kPathLinkTarget : kPathRenameTarget, &to);
      r != WasiErrno::kSuccess)
    return r;
  Parent a, b;
  if (WasiErrno r = OpenParent(*from, old_path, &a); r != WasiErrno::kSuccess) return r;
  if (WasiErrno r = OpenParent(*to, new_path, &b); r != WasiErrno::kSuccess) return r;
  int rc = link ? linkat(a.fd, a.last.c_str(), b.fd, b.last.c_str(), 0)
                : renameat(a.fd, a.last.c_str(), b.fd, b.last.c_str());
  return rc == 0 ? WasiErrno::kSuccess : LastError();
}

WasiErrno WasiFiles::PathSymlink(const std::string& target, uint32_t dirfd,
                                 const std::string& path) {
  Entry* dir = nullptr;
  if (WasiErrno r = Dir(dirfd, kPathSymlink, &dir); r != WasiErrno::kSuccess) return r;
  if (!ValidPath(target)) return WasiErrno::kInval;
  // A link to an absolute path could never be followed beneath a preopen: refused (EPERM,
  // as other WASI hosts do) rather than left dangling.
  if (!target.empty() && target[0] == '/') return WasiErrno::kPerm;
  Parent p;
  if (WasiErrno r = OpenParent(*dir, path, &p); r != WasiErrno::kSuccess) return r;
  return symlinkat(target.c_str(), p.fd, p.last.c_str()) == 0 ? WasiErrno::kSuccess : LastError();
}

WasiErrno WasiFiles::PathChange(WasiFunc func, uint32_t dirfd, const std::string& path) {
  uint64_t need = func == WasiFunc::kPathCreateDirectory   ? kPathCreateDirectory
                  : func == WasiFunc::kPathRemoveDirectory ? kPathRemoveDirectory
                                                           : kPathUnlinkFile;
  Entry* dir = nullptr;
  if (WasiErrno r = Dir(dirfd, need, &dir); r != WasiErrno::kSuccess) return r;
  Parent p;
  if (WasiErrno r = OpenParent(*dir, path, &p); r != WasiErrno::kSuccess) return r;
  int rc = func == WasiFunc::kPathCreateDirectory   ? mkdirat(p.fd, p.last.c_str(), 0777)
           : func == WasiFunc::kPathRemoveDirectory ? unlinkat(p.fd, p.last.c_str(), AT_REMOVEDIR)
                                                    : unlinkat(p.fd, p.last.c_str(), 0);
  return rc == 0 ? WasiErrno::kSuccess : LastError();
}

WasiErrno WasiFiles::Sock(uint32_t fd) { return Get(fd) ? WasiErrno::kNotsock : WasiErrno::kBadf; }

WasiErrno WasiFiles::PollOneoff(uint32_t in, uint32_t out, uint32_t count, uint32_t nevents_out,
                                WasiMemory m) {
  if (count == 0 || count > kMaxWasiPollSubscriptions) return WasiErrno::kInval;
  if (!InBounds(m, in, 48ull * count) || !InBounds(m, out, 32ull * count) ||
      !InBounds(m, nevents_out, 4))
    return WasiErrno::kFault;
  using Clock = std::chrono::steady_clock;
  struct Event {
    uint64_t userdata = 0;
    uint16_t error = 0;
    uint8_t type = 0;
    uint64_t nbytes = 0;
  };
  std::vector<Event> ready;
  std::optional<Clock::time_point> wake;                    // the earliest clock subscription
  std::vector<std::pair<Event, Clock::time_point>> timers;  // each with when it is due
  for (uint32_t i = 0; i < count; i++) {
    uint64_t at = in + 48ull * i, userdata = 0;
    uint8_t tag = 0;
    Load(m, at, &userdata);
    Load(m, at + 8, &tag);
    Event ev;
    ev.userdata = userdata;
    ev.type = tag;
    if (tag == 0) {  // clock
      uint32_t id = 0;
      uint64_t timeout = 0;
      uint16_t flags = 0;
      Load(m, at + 16, &id);
      Load(m, at + 24, &timeout);
      Load(m, at + 40, &flags);
      if (id > 3) {
        ev.error = static_cast<uint16_t>(WasiErrno::kInval);
        ready.push_back(ev);
        continue;
      }
      uint64_t wait_ns = timeout;
      if (flags & 1) {  // absolute: against that clock's now
        timespec now{};
        clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
        uint64_t now_ns = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + now.tv_nsec;
        wait_ns = timeout > now_ns ? timeout - now_ns : 0;
      }
      auto when =
          Clock::now() + std::chrono::nanoseconds(std::min<uint64_t>(wait_ns, uint64_t{1} << 62));
      if (!wake || when < *wake) wake = when;
      timers.emplace_back(ev, when);
    } else if (tag == 1 || tag == 2) {  // fd_read, fd_write: files and stdio are always ready
      uint32_t fd = 0;
      Load(m, at + 16, &fd);
      Entry* e = Get(fd);
      if (!e) {
        ev.error = static_cast<uint16_t>(WasiErrno::kBadf);
      } else if (!(e->base & kPollFdReadwrite) && !IsStdioKind(e->kind)) {
        ev.error = static_cast<uint16_t>(WasiErrno::kNotcapable);
      } else if (tag == 1 && e->kind == Kind::kFile) {
        struct stat st {};
        off_t pos = lseek(e->host, 0, SEEK_CUR);
        if (fstat(e->host, &st) == 0 && pos >= 0 && st.st_size > pos)
          ev.nbytes = static_cast<uint64_t>(st.st_size - pos);
      }
      ready.push_back(ev);
    } else {
      ev.error = static_cast<uint16_t>(WasiErrno::kInval);
      ready.push_back(ev);
    }
  }
  if (ready.empty() && wake) {
    // Sleep until the earliest timer, never past the call's deadline.
    Clock::time_point until = *wake;
    if (deadline_ && *deadline_ < until) until = *deadline_;
    std::this_thread::sleep_until(until);
    if (until < *wake) return WasiErrno::kIntr;
    auto now = Clock::now();
    for (const auto& [ev, when] : timers)
      if (when <= now) ready.push_back(ev);
  }
  VELUM_ASSERT(ready.size() <= count);
  for (size_t i = 0; i < ready.size(); i++) {
    uint64_t at = out + 32ull * i;
    std::memset(m.data + at, 0, 32);
    Store<uint64_t>(m, at, ready[i].userdata);
    Store<uint16_t>(m, at + 8, ready[i].error);
    Store<uint8_t>(m, at + 10, ready[i].type);
    Store<uint64_t>(m, at + 16, ready[i].nbytes);
  }
  Store<uint32_t>(m, nevents_out, static_cast<uint32_t>(ready.size()));
  return WasiErrno::kSuccess;
}

}  // namespace velum
