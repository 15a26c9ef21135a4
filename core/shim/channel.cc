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

// Channels open at this moment, process-wide, for the fork hook. More emissions than slots at
// once (threads, signal handlers) just go untracked: their fds are close-on-exec still.
constexpr int kOpenSlots = 16;
int g_open[kOpenSlots];  // fd + 1; 0: free

void track(int fd) {
  for (int& slot : g_open) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&slot, &expected, fd + 1, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
      return;
  }
}

void untrack(int fd) {
  for (int& slot : g_open) {
    int expected = fd + 1;
    if (__atomic_compare_exchange_n(&slot, &expected, 0, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
      return;
  }
}

int64_t now_ms() {
  struct timespec ts;
  sys::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

long open_fifo(const char* path) { return sys::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC); }

}  // namespace

bool channel_open(Channel& ch, const char* path) noexcept {
  long fd = open_fifo(path);
  if (fd < 0) return false;
  struct stat st;
  if (sys::fstat(static_cast<int>(fd), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    sys::close(static_cast<int>(fd));
    return false;
  }
  ch.fd = static_cast<int>(fd);
  track(ch.fd);
  return true;
}

void channel_close(Channel& ch) noexcept {
  if (ch.fd < 0) return;
  untrack(ch.fd);
  sys::close(ch.fd);
  ch.fd = -1;
}

void channel_close_inherited() noexcept {
  for (int& slot : g_open) {
    const int v = __atomic_exchange_n(&slot, 0, __ATOMIC_RELAXED);
    if (v > 0) sys::close(v - 1);
  }
}

WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept {
  if (ch.fd < 0) {
    // The session's own FIFO, checked when the process started: no fstat again.
    const long fd = open_fifo(path);
    if (fd < 0) return WriteResult::kGone;
    ch.fd = static_cast<int>(fd);
    track(ch.fd);
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
