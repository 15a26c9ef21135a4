#include "spill/cleanup_registry.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "spill/sample_file.h"
#include "spill/spill_format.h"

namespace viztrace::spill {
namespace {

struct linux_dirent64 {
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

struct DirSlot {
  std::atomic<bool> used{false};
  std::atomic<bool> live{false};  // registered and not yet swept or kept
  int fd = -1;
  std::atomic<std::uint32_t> segments{0};
  char path[PATH_MAX] = {};
};

struct FileSlot {
  std::atomic<bool> used{false};
  std::atomic<bool> live{false};
  char path[PATH_MAX] = {};
};

DirSlot g_dirs[CleanupRegistry::kMaxDirs];
FileSlot g_files[CleanupRegistry::kMaxFiles];

bool copy_path(char (&dst)[PATH_MAX], const char* src) {
  std::size_t n = std::strlen(src);
  if (n >= PATH_MAX) return false;
  std::memcpy(dst, src, n + 1);
  return true;
}

// The function rings of traced threads ("fn-<pid>-<tid>-<image>"): their names are not known in
// advance, so the dir is listed with getdents64 into a static buffer (async-signal-safe; the
// live flag lets only one sweeper into a slot).
void remove_function_rings(int dir_fd) {
  alignas(8) static char buf[8192];
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* e = reinterpret_cast<struct linux_dirent64*>(buf + off);
      off += e->d_reclen;
      if (std::strncmp(e->d_name, "fn-", 3) == 0) unlinkat(dir_fd, e->d_name, 0);
    }
  }
  close(fd);
}

}  // namespace

int CleanupRegistry::add_dir(int dir_fd, const char* path) {
  for (int i = 0; i < kMaxDirs; ++i) {
    bool expected = false;
    if (!g_dirs[i].used.compare_exchange_strong(expected, true)) continue;
    if (!copy_path(g_dirs[i].path, path)) {
      g_dirs[i].used = false;
      return -1;
    }
    g_dirs[i].fd = dir_fd;
    g_dirs[i].segments = 0;
    g_dirs[i].live = true;
    return i;
  }
  return -1;
}

void CleanupRegistry::set_segments(int slot, std::uint32_t segments) {
  if (slot >= 0) g_dirs[slot].segments = segments;
}

void CleanupRegistry::keep_dir(int slot) {
  if (slot < 0) return;
  g_dirs[slot].live = false;
  g_dirs[slot].used = false;
}

void CleanupRegistry::sweep_dir(int slot) {
  if (slot < 0) return;
  DirSlot& d = g_dirs[slot];
  bool expected = true;
  if (!d.live.compare_exchange_strong(expected, false)) return;
  int saved = errno;
  // unlinkat on names inside the dir fd: never follows a symlink, never leaves the dir.
  unlinkat(d.fd, "fifo", 0);
  unlinkat(d.fd, "wake", 0);
  unlinkat(d.fd, VT_HELLO_NAME, 0);
  unlinkat(d.fd, "shim.so", 0);
  unlinkat(d.fd, kSampleFileName, 0);
  char name[kSegmentNameMax];
  for (std::uint32_t i = 0, n = d.segments; i < n; ++i) {
    segment_name(i, name);
    unlinkat(d.fd, name, 0);
  }
  remove_function_rings(d.fd);
  rmdir(d.path);
  d.used = false;  // the slot can serve another session now
  errno = saved;
}

int CleanupRegistry::add_file(const char* path) {
  for (int i = 0; i < kMaxFiles; ++i) {
    bool expected = false;
    if (!g_files[i].used.compare_exchange_strong(expected, true)) continue;
    if (!copy_path(g_files[i].path, path)) {
      g_files[i].used = false;
      return -1;
    }
    g_files[i].live = true;
    return i;
  }
  return -1;
}

void CleanupRegistry::remove_file(int slot) {
  if (slot < 0) return;
  bool expected = true;
  if (g_files[slot].live.compare_exchange_strong(expected, false)) {
    int saved = errno;
    unlink(g_files[slot].path);
    errno = saved;
  }
  g_files[slot].used = false;
}

void CleanupRegistry::forget_file(int slot) {
  if (slot < 0) return;
  g_files[slot].live = false;
  g_files[slot].used = false;
}

void CleanupRegistry::sweep_all() {
  for (int i = 0; i < kMaxFiles; ++i) {
    bool expected = true;
    if (g_files[i].live.compare_exchange_strong(expected, false)) {
      int saved = errno;
      unlink(g_files[i].path);
      errno = saved;
    }
  }
  for (int i = 0; i < kMaxDirs; ++i) sweep_dir(i);
}

void CleanupRegistry::install_atexit() {
  static std::atomic<bool> installed{false};
  if (!installed.exchange(true)) std::atexit([] { sweep_all(); });
}

}  // namespace viztrace::spill
