#include "shim/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include "common/sys.h"
#include "shim/decimal.h"

namespace vt_shim {
namespace {

// Channels open at this moment, process-wide, for the fork hook. More emissions than slots at
// once (threads, signal handlers) just go untracked: their fds are close-on-exec still.
constexpr int kOpenSlots = 16;
int g_open[kOpenSlots];  // fd + 1; 0: free
// Opens and closes under way (between the system call and the table, an fd exists that the
// table does not hold), and how many have ended. fork copies the fd table before the memory,
// while other threads run on: a child that finds one under way, or one ended since its parent
// called fork, cannot trust the table and looks for such fds itself.
int g_in_flight;
unsigned long g_ended;

struct InFlight {
  InFlight() { __atomic_add_fetch(&g_in_flight, 1, __ATOMIC_SEQ_CST); }
  ~InFlight() {
    __atomic_add_fetch(&g_ended, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&g_in_flight, 1, __ATOMIC_SEQ_CST);
  }
};

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
    if (__atomic_compare_exchange_n(&slot, &expected, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      return;
  }
}

int64_t now_ms() {
  struct timespec ts;
  sys::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void close_tracked(int fd) {
  if (fd < 0) return;
  untrack(fd);
  sys::close(fd);
}

// The address of the file `name` in the session dir (where fifo_path is): its path when that
// fits, else through /proc/self/fd of the dir, opened into *dir_fd. False if there is none.
bool session_address(const char* fifo_path, const char* name, struct sockaddr_un& addr,
                     unsigned& length, int* dir_fd) {
  const char* slash = strrchr(fifo_path, '/');
  if (!slash) return false;
  const size_t d = static_cast<size_t>(slash - fifo_path) + 1;  // with the slash
  const size_t ln = strlen(name);
  addr.sun_family = AF_UNIX;
  size_t n = 0;
  if (d + ln < sizeof addr.sun_path) {
    memcpy(addr.sun_path, fifo_path, d);
    n = d;
  } else {
    char dir[PATH_MAX];
    if (d >= sizeof dir) return false;
    memcpy(dir, fifo_path, d);
    dir[d] = '\0';
    const long fd = sys::open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    *dir_fd = static_cast<int>(fd);
    track(*dir_fd);
    static const char kPrefix[] = "/proc/self/fd/";
    memcpy(addr.sun_path, kPrefix, sizeof kPrefix - 1);
    n = sizeof kPrefix - 1;
    n += put_decimal(addr.sun_path + n, static_cast<unsigned long>(fd));
    addr.sun_path[n++] = '/';
  }
  memcpy(addr.sun_path + n, name, ln + 1);
  length = static_cast<unsigned>(offsetof(struct sockaddr_un, sun_path) + n + ln + 1);
  return true;
}

long open_fifo(const char* path) {
  return sys::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

}  // namespace

bool channel_open(Channel& ch, const char* path) noexcept {
  InFlight in_flight;
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
  InFlight in_flight;
  untrack(ch.fd);
  sys::close(ch.fd);
  ch.fd = -1;
}

unsigned long channel_activity() noexcept {
  return __atomic_load_n(&g_ended, __ATOMIC_SEQ_CST);
}

void channel_close_inherited(const char* fifo_path, unsigned long before_fork) noexcept {
  for (int& slot : g_open) {
    const int v = __atomic_exchange_n(&slot, 0, __ATOMIC_RELAXED);
    if (v > 0) sys::close(v - 1);
  }
  const bool unsure = __atomic_exchange_n(&g_in_flight, 0, __ATOMIC_SEQ_CST) != 0 ||
                      __atomic_load_n(&g_ended, __ATOMIC_SEQ_CST) != before_fork;
  if (!unsure || !fifo_path) return;
  // Another thread opened or closed the FIFO while the fork copied the process: close
  // whatever fd refers to it. Rare: a few system calls per fd of the process.
  struct stat fifo;
  if (sys::stat(fifo_path, &fifo) != 0) return;
  const long dir = sys::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buf[4096];
  for (long n; (n = sys::getdents64(static_cast<int>(dir), buf, sizeof buf)) > 0;) {
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      off += reclen;
      int fd = 0;
      bool number = *name != '\0';
      for (const char* p = name; *p; ++p) {
        if (*p < '0' || *p > '9')
          number = false;
        else
          fd = fd * 10 + (*p - '0');
      }
      struct stat st;
      if (!number || fd == dir || sys::fstat(fd, &st) != 0) continue;
      if (S_ISFIFO(st.st_mode) && st.st_dev == fifo.st_dev && st.st_ino == fifo.st_ino)
        sys::close(fd);
    }
  }
  sys::close(static_cast<int>(dir));
}

WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept {
  if (ch.fd < 0) {
    // The session's own FIFO, checked when the process started: no fstat again.
    InFlight in_flight;
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

bool channel_hello(const char* fifo_path, const vt_hello& hello, int wait_ms) noexcept {
  struct sockaddr_un addr;
  unsigned addr_len = 0;
  int dir_fd = -1;
  if (!session_address(fifo_path, VT_HELLO_NAME, addr, addr_len, &dir_fd)) return false;
  // Blocking, so that a send with a timeout (SO_SNDTIMEO) can wait for room; the first try
  // passes MSG_DONTWAIT. MSG_NOSIGNAL: never SIGPIPE.
  const long fd = sys::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bool sent = false;
  if (fd >= 0) {
    track(static_cast<int>(fd));
    int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    for (;;) {
      const long n =
          sys::sendto(static_cast<int>(fd), &hello, sizeof hello, flags, &addr, addr_len);
      if (n == -EINTR) continue;
      sent = n == static_cast<long>(sizeof hello);
      // Refused or no socket: no collector. Full: the collector polls the socket and reads it
      // at once; a send that waits is woken by that read, or gives up at the timeout.
      if (n != -EAGAIN || wait_ms <= 0 || !(flags & MSG_DONTWAIT)) break;
      struct timeval timeout = {static_cast<time_t>(wait_ms / 1000),
                                static_cast<suseconds_t>(wait_ms % 1000) * 1000};
      if (sys::setsockopt(static_cast<int>(fd), SOL_SOCKET, SO_SNDTIMEO, &timeout,
                          sizeof timeout) != 0)
        break;
      flags = MSG_NOSIGNAL;
    }
    close_tracked(static_cast<int>(fd));
  }
  close_tracked(dir_fd);
  return sent;
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
