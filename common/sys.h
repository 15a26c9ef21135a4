// System calls made directly, for the shim's own I/O.
//
// Going through libc would touch libc code pages a short-lived program never needed (each a page
// fault, which costs more than the call itself), write errno, and pass through sanitizer
// interceptors. These return the kernel's result: a value >= 0, or -errno.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

namespace vt_shim::sys {

#if defined(__x86_64__)
inline long call(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
inline long call(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}
#else
#error "the shim's direct system calls are written for x86-64 and aarch64"
#endif

template <class P>
inline long arg(P* p) {
  return reinterpret_cast<long>(p);
}

constexpr int kAtFdcwd = -100;      // AT_FDCWD
constexpr int kAtEmptyPath = 0x1000;  // AT_EMPTY_PATH

inline long open(const char* path, int flags, int mode = 0) {
  return call(SYS_openat, kAtFdcwd, arg(path), flags, mode);
}
inline long openat(int dirfd, const char* path, int flags, int mode = 0) {
  return call(SYS_openat, dirfd, arg(path), flags, mode);
}
inline long close(int fd) { return call(SYS_close, fd); }
inline long unlink(const char* path) { return call(SYS_unlinkat, kAtFdcwd, arg(path), 0); }
inline long read(int fd, void* buf, size_t n) { return call(SYS_read, fd, arg(buf), long(n)); }
inline long write(int fd, const void* buf, size_t n) {
  return call(SYS_write, fd, arg(buf), long(n));
}
inline long pread(int fd, void* buf, size_t n, long offset) {
  return call(SYS_pread64, fd, arg(buf), long(n), offset);
}
// struct stat is the kernel's on x86-64 and aarch64.
template <class Stat>
inline long fstat(int fd, Stat* st) {
  return call(SYS_newfstatat, fd, arg(""), arg(st), kAtEmptyPath);
}
template <class Stat>
inline long stat(const char* path, Stat* st) {
  return call(SYS_newfstatat, kAtFdcwd, arg(path), arg(st), 0);
}
inline long access(const char* path, int mode) {
  return call(SYS_faccessat, kAtFdcwd, arg(path), mode);
}
inline long fcntl(int fd, int cmd, long a = 0) { return call(SYS_fcntl, fd, cmd, a); }
inline long flock(int fd, int op) { return call(SYS_flock, fd, op); }
inline long readlink(const char* path, char* buf, size_t n) {
  return call(SYS_readlinkat, kAtFdcwd, arg(path), arg(buf), long(n));
}
inline long getcwd(char* buf, size_t n) { return call(SYS_getcwd, arg(buf), long(n)); }
inline long fgetxattr(int fd, const char* name, void* value, size_t n) {
  return call(SYS_fgetxattr, fd, arg(name), arg(value), long(n));
}
inline long getdents64(int fd, void* buf, size_t n) {
  return call(SYS_getdents64, fd, arg(buf), long(n));
}
template <class Usage>
inline long getrusage(int who, Usage* usage) {
  return call(SYS_getrusage, who, arg(usage));
}
// The kernel writes the time left back into the timeout it is given; libc's ppoll passes a
// copy, and so does this one, so that the caller's timeout means the same on every call.
template <class PollFd, class TimeSpec>
inline long ppoll(PollFd* fds, unsigned n, const TimeSpec* timeout) {
  TimeSpec left;
  if (timeout) left = *timeout;
  return call(SYS_ppoll, arg(fds), n, arg(timeout ? &left : nullptr), 0, 8);
}
inline long ftruncate(int fd, long length) { return call(SYS_ftruncate, fd, length); }
inline long fallocate(int fd, int mode, long offset, long length) {
  return call(SYS_fallocate, fd, mode, offset, length);
}
inline void* mmap(void* addr, size_t n, int prot, int flags, int fd, long offset) {
  return reinterpret_cast<void*>(call(SYS_mmap, arg(addr), long(n), prot, flags, fd, offset));
}
inline long munmap(void* addr, size_t n) { return call(SYS_munmap, arg(addr), long(n)); }
// -4095..-1 are errors, as for every system call.
inline bool mmap_failed(void* p) { return reinterpret_cast<unsigned long>(p) > -4096ul; }
inline long socket(int domain, int type, int protocol) {
  return call(SYS_socket, domain, type, protocol);
}
inline long sendto(int fd, const void* buf, size_t n, int flags, const void* addr,
                   unsigned addr_len) {
  return call(SYS_sendto, fd, arg(buf), long(n), flags, arg(addr), addr_len);
}
inline long setsockopt(int fd, int level, int name, const void* value, unsigned length) {
  return call(SYS_setsockopt, fd, level, name, arg(value), length);
}
inline long getpid() { return call(SYS_getpid); }
inline long getppid() { return call(SYS_getppid); }
inline long gettid() { return call(SYS_gettid); }
// The raw syscall: the vDSO would cost two page faults in a process that never read a clock.
template <class TimeSpec>
inline long clock_gettime(int clock, TimeSpec* ts) {
  return call(SYS_clock_gettime, clock, arg(ts));
}
[[noreturn]] inline void exit_group(int status) {
  for (;;) call(SYS_exit_group, status);
}

}  // namespace vt_shim::sys
