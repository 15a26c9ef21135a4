#include "core/shim/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace vt_shim {
namespace {

// Programs assume low fd numbers are theirs (the first open() returns 3); stay far above.
constexpr int kHighFd = 511;

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool still_ours(const Channel& ch) {
  struct stat st;
  return ch.fd >= 0 && fstat(ch.fd, &st) == 0 && st.st_dev == ch.dev && st.st_ino == ch.ino;
}

// One write with SIGPIPE held off: blocked for the call, and if the write raised it, taken
// back before the mask is restored, unless the program already had one pending.
ssize_t write_without_sigpipe(int fd, const void* data, size_t length) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  bool was_pending = false;
  if (sigismember(&old, SIGPIPE)) {
    sigset_t pending;
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
  }
  ssize_t n = write(fd, data, length);
  int err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  if (!sigismember(&old, SIGPIPE)) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

}  // namespace

bool channel_open(Channel& ch, const char* path) noexcept {
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    return false;
  }
  int high = fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  ch.fd = fd;
  ch.dev = st.st_dev;
  ch.ino = st.st_ino;
  return true;
}

WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept {
  if (!still_ours(ch)) {
    // Closed or replaced by the program: open a fresh one; the old number is not ours to close.
    Channel fresh;
    if (!channel_open(fresh, path)) return WriteResult::kGone;
    ch = fresh;
  }
  int64_t deadline = -1;
  for (;;) {
    ssize_t n = write_without_sigpipe(ch.fd, chunk, length);
    if (n == static_cast<ssize_t>(length)) return WriteResult::kSent;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) return WriteResult::kGone;
    if (n >= 0 || errno != EAGAIN) return WriteResult::kFull;
    // The pipe is full: the collector is behind. Wait for room, but not forever.
    int64_t now = now_ms();
    if (deadline < 0) deadline = now + wait_ms;
    if (now >= deadline) return WriteResult::kFull;
    struct pollfd p = {ch.fd, POLLOUT, 0};
    poll(&p, 1, static_cast<int>(deadline - now));
  }
}

}  // namespace vt_shim
