#include "core/shim/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "core/shim/sys.h"

namespace vt_shim {
namespace {

// Programs assume low fd numbers are theirs (the first open() returns 3); stay far above.
// (This grows every traced process's fd table past the 64 slots it has built in; fd 63 instead
// measured no different in the exec loop, interleaved over 21 rounds.)
constexpr int kHighFd = 511;

int64_t now_ms() {
  struct timespec ts;
  sys::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool still_ours(const Channel& ch) {
  struct stat st;
  return ch.fd >= 0 && sys::fstat(ch.fd, &st) == 0 && st.st_dev == ch.dev && st.st_ino == ch.ino;
}

}  // namespace

bool channel_open(Channel& ch, const char* path) noexcept {
  long fd = sys::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (sys::fstat(static_cast<int>(fd), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    sys::close(static_cast<int>(fd));
    return false;
  }
  long high = sys::fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, kHighFd);
  if (high >= 0) {
    sys::close(static_cast<int>(fd));
    fd = high;
  }
  ch.fd = static_cast<int>(fd);
  ch.dev = st.st_dev;
  ch.ino = st.st_ino;
  ch.fresh = true;
  return true;
}

WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept {
  const bool fresh = ch.fresh;
  ch.fresh = false;
  if (!fresh && !still_ours(ch)) {
    // Closed or replaced by the program: open a fresh one; the old number is not ours to close.
    Channel fresh;
    if (!channel_open(fresh, path)) return WriteResult::kGone;
    ch = fresh;
  }
  int64_t deadline = -1;
  for (;;) {
    long n = sys::write(ch.fd, chunk, length);
    if (n == static_cast<long>(length)) return WriteResult::kSent;
    if (n == -EINTR) continue;
    if (n != -EAGAIN) return WriteResult::kFull;
    // The pipe is full: either the collector is behind, or it is gone and nobody reads.
    int64_t now = now_ms();
    if (deadline < 0) {
      if (!collector_alive(path)) return WriteResult::kGone;
      deadline = now + wait_ms;
    }
    if (now >= deadline) return WriteResult::kFull;
    struct pollfd p = {ch.fd, POLLOUT, 0};
    int64_t left = deadline - now;
    struct timespec timeout = {static_cast<time_t>(left / 1000),
                               static_cast<long>(left % 1000) * 1000000};
    sys::ppoll(&p, 1, &timeout);
  }
}

bool collector_alive(const char* path) noexcept {
  char dir[PATH_MAX];
  const char* slash = strrchr(path, '/');
  size_t n = slash ? static_cast<size_t>(slash - path) : 0;
  if (n == 0 || n >= sizeof dir) return false;
  memcpy(dir, path, n);
  dir[n] = '\0';
  long fd = sys::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  // The session holds an exclusive lock for its whole life: a shared one is refused meanwhile.
  bool alive = sys::flock(static_cast<int>(fd), LOCK_SH | LOCK_NB) == -EWOULDBLOCK;
  sys::close(static_cast<int>(fd));  // also drops the lock if we got it
  return alive;
}

}  // namespace vt_shim
