#include "core/shim/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
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

void close_tracked(int& fd) {
  if (fd < 0) return;
  untrack(fd);
  sys::close(fd);
  fd = -1;
}

int64_t now_ms() {
  struct timespec ts;
  sys::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Blocking, so that a send with a timeout (SO_SNDTIMEO) can wait for room; the first try of
// every chunk passes MSG_DONTWAIT.
long make_socket() { return sys::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

// A byte into the session's wake FIFO (beside the socket), which the collector always polls:
// it drains its queue now rather than at its next pass.
void wake_collector(const char* path) {
  char wake[PATH_MAX];
  const char* slash = strrchr(path, '/');
  size_t n = slash ? static_cast<size_t>(slash - path) + 1 : 0;
  if (n == 0 || n + sizeof "wake" > sizeof wake) return;
  memcpy(wake, path, n);
  memcpy(wake + n, "wake", sizeof "wake");
  // Read-write: a reader always exists, so the write can never raise SIGPIPE.
  const long fd = sys::open(wake, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  const char byte = 1;
  sys::write(static_cast<int>(fd), &byte, 1);  // a full FIFO: the collector is awake anyway
  sys::close(static_cast<int>(fd));
}

// The address of the socket at path: the path itself when it fits, else the name within the
// session dir through /proc (opening the dir into ch.dir_fd). False if there is none.
bool socket_address(Channel& ch, const char* path, struct sockaddr_un& addr, unsigned& length) {
  addr.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n < sizeof addr.sun_path) {
    memcpy(addr.sun_path, path, n + 1);
  } else {
    const char* slash = strrchr(path, '/');
    char dir[PATH_MAX];
    size_t d = slash ? static_cast<size_t>(slash - path) : 0;
    if (d == 0 || d >= sizeof dir || strlen(slash) > 64) return false;
    if (ch.dir_fd < 0) {
      memcpy(dir, path, d);
      dir[d] = '\0';
      long fd = sys::open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return false;
      ch.dir_fd = static_cast<int>(fd);
      track(ch.dir_fd);
    }
    static const char kPrefix[] = "/proc/self/fd/";
    memcpy(addr.sun_path, kPrefix, sizeof kPrefix - 1);
    n = sizeof kPrefix - 1;
    char digits[12];
    int k = 0;
    unsigned v = static_cast<unsigned>(ch.dir_fd);
    do digits[k++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (k) addr.sun_path[n++] = digits[--k];
    memcpy(addr.sun_path + n, slash, strlen(slash) + 1);
    n += strlen(slash);
  }
  length = static_cast<unsigned>(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return true;
}

}  // namespace

bool channel_open(Channel& ch) noexcept {
  long fd = make_socket();
  if (fd < 0) return false;
  ch.fd = static_cast<int>(fd);
  track(ch.fd);
  return true;
}

void channel_close(Channel& ch) noexcept {
  close_tracked(ch.fd);
  close_tracked(ch.dir_fd);
}

void channel_close_inherited() noexcept {
  for (int& slot : g_open) {
    const int v = __atomic_exchange_n(&slot, 0, __ATOMIC_RELAXED);
    if (v > 0) sys::close(v - 1);
  }
}

WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept {
  struct sockaddr_un addr;
  unsigned addr_len = 0;
  if (!socket_address(ch, path, addr, addr_len)) return WriteResult::kGone;
  if (ch.fd < 0 && !channel_open(ch)) return WriteResult::kFull;
  int64_t deadline = -1;
  int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
  for (;;) {
    long sent = sys::sendto(ch.fd, chunk, length, flags, &addr, addr_len);
    if (sent == static_cast<long>(length)) return WriteResult::kSent;
    if (sent == -EINTR) continue;
    if (sent != -EAGAIN) {
      // Refused, or no socket at path: nobody will read. (Too big cannot happen: chunks are
      // far below the socket's send buffer.)
      return sent == -ENOBUFS || sent == -ENOMEM ? WriteResult::kFull : WriteResult::kGone;
    }
    // The collector's queue is full: it is behind, and a send that waits is woken by its
    // next read. A collector that goes away meanwhile ends the wait with ECONNREFUSED.
    const int64_t now = now_ms();
    if (deadline < 0) {
      if (wait_ms <= 0) return WriteResult::kFull;
      deadline = now + wait_ms;
      wake_collector(path);
    }
    if (now >= deadline) return WriteResult::kFull;
    const int64_t left = deadline - now;
    struct timeval timeout = {static_cast<time_t>(left / 1000),
                              static_cast<suseconds_t>(left % 1000) * 1000};
    if (sys::setsockopt(ch.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0)
      return WriteResult::kFull;
    flags = MSG_NOSIGNAL;
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
