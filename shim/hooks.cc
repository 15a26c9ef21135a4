// The functions the shim exports (see shim.version): each records what the program did and
// forwards to the real function with the same arguments, result and errno.
//
// The exec and spawn family only flush what the process was about to say and put the shim's
// variables back into an explicit environment; every new image announces itself from the
// shim's constructor, whichever libc entry point started it.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/env_doctor.h"
#include "common/exe_probe.h"
#include "shim/sampling.h"
#include "shim/state.h"
#include "common/sys.h"
#include "shim/decimal.h"
#include "shim/tracer.h"
#include "common/wire.h"

extern char** environ;

#define VT_EXPORT extern "C" __attribute__((visibility("default")))

using namespace vt_shim;

namespace {

// The real function, resolved in the constructor or, should a hook run before it, here.
#define REAL(field, name) ensure_real(g_real.field, name)

// Longer paths may not reach the collector in one piece with their record.
constexpr size_t kMaxUnprobedPath = 512;

// Scratch for a doctored environment, on the caller's stack.
struct EnvBuffers {
  char preload[PATH_MAX * 2];
  char asan[1024];
};

// Calls `run(envp)` with envp doctored into stack storage (or as it is when it already carries
// the shim's variables, or cannot be doctored).
template <class Run>
int with_env(char* const envp[], Run run) {
  const EnvValues* values = env_values();
  size_t n = env_count(envp);
  if (!values || n > kMaxEnvEntries) return run(envp);
  char* slots[n + kExtraSlots];
  EnvBuffers buffers;
  EnvScratch scratch = {slots,        n + kExtraSlots,    buffers.preload, sizeof buffers.preload,
                        buffers.asan, sizeof buffers.asan};
  return run(doctor_env(envp, *values, scratch));
}

// The flags of the record: an absolute path is probed by the collector, off the program's
// critical path (five system calls fewer before every exec); anything else here.
uint32_t exe_flags(const char* path) {
  if (path[0] == '/' && strnlen(path, kMaxUnprobedPath) < kMaxUnprobedPath) return VT_EXE_UNPROBED;
  return probe_exe(AT_FDCWD, path);
}

// "file" resolved along PATH as execvp does, for the record; the real call still resolves it.
const char* resolve_for_record(const char* file, char* buf, size_t size) {
  return search_path(file, getenv("PATH"), buf, size) ? buf : file;
}

int do_execve(const char* path, char* const argv[], char* const envp[]) {
  if (!REAL(execve, "execve")) return errno = ENOSYS, -1;
  if (tracing()) emit_exec(path, argv, exe_flags(path));
  int r = with_env(envp, [&](char* const* env) { return g_real.execve(path, argv, env); });
  int err = errno;
  if (tracing()) emit_exec_failed(err);
  errno = err;
  return r;
}

int do_execvpe(const char* file, char* const argv[], char* const envp[]) {
  if (!REAL(execvpe, "execvpe")) return errno = ENOSYS, -1;
  if (tracing()) {
    char found[PATH_MAX];
    const char* path = resolve_for_record(file, found, sizeof found);
    emit_exec(path, argv, exe_flags(path));
  }
  int r = with_env(envp, [&](char* const* env) { return g_real.execvpe(file, argv, env); });
  int err = errno;
  if (tracing()) emit_exec_failed(err);
  errno = err;
  return r;
}

// argv of an execl-style call, collected into a caller-provided array.
size_t count_varargs(const char* arg0, va_list ap) {
  size_t n = 1;
  while (arg0 && va_arg(ap, const char*)) ++n;
  return arg0 ? n : 0;
}

}  // namespace

VT_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  return do_execve(path, argv, envp);
}

VT_EXPORT int execv(const char* path, char* const argv[]) {
  return do_execve(path, argv, environ);
}

VT_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  return do_execvpe(file, argv, envp);
}

VT_EXPORT int execvp(const char* file, char* const argv[]) {
  return do_execvpe(file, argv, environ);
}

#define COLLECT_ARGS(arg0, argv_name, envp_out)                                 \
  va_list ap_count;                                                             \
  va_start(ap_count, arg0);                                                     \
  size_t argc_ = count_varargs(arg0, ap_count);                                 \
  va_end(ap_count);                                                             \
  char* argv_name[argc_ + 1];                                                   \
  va_list ap_take;                                                              \
  va_start(ap_take, arg0);                                                      \
  if (argc_) argv_name[0] = const_cast<char*>(arg0);                            \
  for (size_t i_ = 1; i_ < argc_; ++i_) argv_name[i_] = va_arg(ap_take, char*); \
  if (argc_) (void)va_arg(ap_take, char*);                                      \
  argv_name[argc_] = nullptr;                                                   \
  envp_out;                                                                     \
  va_end(ap_take)

VT_EXPORT int execl(const char* path, const char* arg, ...) {
  COLLECT_ARGS(arg, argv, (void)0);
  return do_execve(path, argv, environ);
}

VT_EXPORT int execlp(const char* file, const char* arg, ...) {
  COLLECT_ARGS(arg, argv, (void)0);
  return do_execvpe(file, argv, environ);
}

VT_EXPORT int execle(const char* path, const char* arg, ...) {
  char* const* envp;
  COLLECT_ARGS(arg, argv, envp = va_arg(ap_take, char* const*));
  return do_execve(path, argv, envp);
}

VT_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  if (!REAL(fexecve, "fexecve")) return errno = ENOSYS, -1;
  if (tracing()) {
    char link[64] = "/proc/self/fd/", path[PATH_MAX];
    put_decimal(link + strlen(link), fd < 0 ? 0ul : static_cast<unsigned long>(fd));
    long n = sys::readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
    emit_exec(n > 0 ? path : link, argv, probe_exe_fd(fd));
  }
  int r = with_env(envp, [&](char* const* env) { return g_real.fexecve(fd, argv, env); });
  int err = errno;
  if (tracing()) emit_exec_failed(err);
  errno = err;
  return r;
}

VT_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                       int flags) {
  if (!REAL(execveat, "execveat")) return errno = ENOSYS, -1;
  if (tracing()) {
    uint32_t exe =
        (flags & AT_EMPTY_PATH) && path[0] == '\0' ? probe_exe_fd(dirfd) : probe_exe(dirfd, path);
    emit_exec(path, argv, exe);
  }
  int r = with_env(
      envp, [&](char* const* env) { return g_real.execveat(dirfd, path, argv, env, flags); });
  int err = errno;
  if (tracing()) emit_exec_failed(err);
  errno = err;
  return r;
}

VT_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                          const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  if (!REAL(posix_spawn, "posix_spawn")) return ENOSYS;
  if (!tracing()) return g_real.posix_spawn(pid, path, actions, attr, argv, envp);
  uint64_t ts = now_ns();
  uint32_t exe = exe_flags(path);
  pid_t child = -1;
  int r = with_env(envp, [&](char* const* env) {
    return g_real.posix_spawn(&child, path, actions, attr, argv, env);
  });
  if (pid && r == 0) *pid = child;
  emit_spawn(ts, path, argv, exe, child, r);
  return r;
}

VT_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                           const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  if (!REAL(posix_spawnp, "posix_spawnp")) return ENOSYS;
  if (!tracing()) return g_real.posix_spawnp(pid, file, actions, attr, argv, envp);
  uint64_t ts = now_ns();
  char found[PATH_MAX];
  const char* path = resolve_for_record(file, found, sizeof found);
  uint32_t exe = exe_flags(path);
  pid_t child = -1;
  int r = with_env(envp, [&](char* const* env) {
    return g_real.posix_spawnp(&child, file, actions, attr, argv, env);
  });
  if (pid && r == 0) *pid = child;
  emit_spawn(ts, path, argv, exe, child, r);
  return r;
}

VT_EXPORT pid_t fork() {
  if (!REAL(fork, "fork")) return errno = ENOSYS, -1;
  uint64_t ts = now_ns();
  const unsigned long before = channel_activity();
  pid_t child = g_real.fork();
  if (child == 0)
    on_fork_child(before);
  else if (child > 0 && tracing())
    emit_fork(ts, child);
  return child;
}

// A change of user or root: the session may be out of reach afterwards (a dir of another user,
// a path outside the new root). Then the process says so while it still can, and viztrace
// follows it and its descendants through /proc. Rare calls: the lookup and the extra open cost
// nothing that matters.
#define VT_IDENTITY_HOOK(name, params, args, what)            \
  VT_EXPORT int name params {                                 \
    static decltype(&::name) real;                            \
    if (!ensure_real(real, #name)) return errno = ENOSYS, -1; \
    Channel before;                                           \
    identity_changing(before);                                \
    const int result = real args;                             \
    const int err = errno;                                    \
    if (result == 0)                                          \
      identity_changed(before, what);                         \
    else                                                      \
      channel_close(before);                                  \
    errno = err;                                              \
    return result;                                            \
  }
VT_IDENTITY_HOOK(setuid, (uid_t u), (u), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(seteuid, (uid_t u), (u), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setreuid, (uid_t r, uid_t e), (r, e), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setgid, (gid_t g), (g), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setegid, (gid_t g), (g), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setregid, (gid_t r, gid_t e), (r, e), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(setgroups, (size_t n, const gid_t* list), (n, list), VT_DETACHED_CREDENTIALS)
VT_IDENTITY_HOOK(chroot, (const char* path), (path), VT_DETACHED_ROOT)
#undef VT_IDENTITY_HOOK

VT_EXPORT void _exit(int status) {
  if (tracing()) emit_exit(status);
  if (REAL(exit_, "_exit")) g_real.exit_(status);
  sys::exit_group(status);
}

VT_EXPORT void _Exit(int status) {
  if (tracing()) emit_exit(status);
  if (REAL(Exit, "_Exit")) g_real.Exit(status);
  sys::exit_group(status);
}

namespace {
bool ended(int status) {
  return WIFEXITED(status) || WIFSIGNALED(status);
}
}  // namespace

VT_EXPORT pid_t wait(int* status) {
  int local;
  int* s = status ? status : &local;
  pid_t r = REAL(wait, "wait")(s);
  if (r > 0 && ended(*s) && tracing()) emit_reap(r, *s, nullptr);
  return r;
}

VT_EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  int local;
  int* s = status ? status : &local;
  pid_t r = REAL(waitpid, "waitpid")(pid, s, options);
  if (r > 0 && ended(*s) && tracing()) emit_reap(r, *s, nullptr);
  return r;
}

VT_EXPORT pid_t wait3(int* status, int options, struct rusage* usage) {
  int local;
  struct rusage local_usage;
  int* s = status ? status : &local;
  struct rusage* u = usage ? usage : &local_usage;
  pid_t r = REAL(wait3, "wait3")(s, options, u);
  if (r > 0 && ended(*s) && tracing()) emit_reap(r, *s, u);
  return r;
}

VT_EXPORT pid_t wait4(pid_t pid, int* status, int options, struct rusage* usage) {
  int local;
  struct rusage local_usage;
  int* s = status ? status : &local;
  struct rusage* u = usage ? usage : &local_usage;
  pid_t r = REAL(wait4, "wait4")(pid, s, options, u);
  if (r > 0 && ended(*s) && tracing()) emit_reap(r, *s, u);
  return r;
}

VT_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t* info, int options) {
  siginfo_t local;
  siginfo_t* i = info ? info : &local;
  if (!info) memset(&local, 0, sizeof local);
  int r = REAL(waitid, "waitid")(idtype, id, i, options);
  if (r == 0 && !(options & WNOWAIT) && i->si_pid > 0 && tracing()) {
    int status = -1;
    if (i->si_code == CLD_EXITED)
      status = (i->si_status & 0xff) << 8;
    else if (i->si_code == CLD_KILLED)
      status = i->si_status & 0x7f;
    else if (i->si_code == CLD_DUMPED)
      status = (i->si_status & 0x7f) | 0x80;
    if (status >= 0) emit_reap(i->si_pid, status, nullptr);
  }
  return r;
}

VT_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                             void* arg) {
  if (!REAL(pthread_create, "pthread_create")) return ENOSYS;
  void* slot = tracing() ? thread_trampoline_arg(start, arg) : nullptr;
  if (!slot) return g_real.pthread_create(thread, attr, start, arg);
  int r = g_real.pthread_create(thread, attr, thread_trampoline, slot);
  if (r != 0) thread_trampoline_release(slot);
  return r;
}

VT_EXPORT void pthread_exit(void* value) {
  if (tracing()) emit_thread_exit();
  REAL(pthread_exit, "pthread_exit");
  g_real.pthread_exit(value);
  __builtin_unreachable();
}

// SIGPROF while sampling (shim/sampling.h): the program's handler is kept, ours stays.
VT_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sampling_sigaction(sig, act, old)) return 0;
  if (!REAL(sigaction, "sigaction")) return errno = ENOSYS, -1;
  return g_real.sigaction(sig, act, old);
}

VT_EXPORT __sighandler_t signal(int sig, __sighandler_t handler) {
  struct sigaction act = {}, old = {};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, sig);
  act.sa_flags = SA_RESTART;  // what glibc's signal() asks for
  if (sampling_sigaction(sig, &act, &old)) return old.sa_handler;
  if (!REAL(signal, "signal")) return errno = ENOSYS, SIG_ERR;
  return g_real.signal(sig, handler);
}

VT_EXPORT int pthread_setname_np(pthread_t thread, const char* name) {
  if (!REAL(pthread_setname_np, "pthread_setname_np")) return ENOSYS;
  int r = g_real.pthread_setname_np(thread, name);
  // Another thread's name is read when that thread (or the process) ends.
  if (r == 0 && tracing() && pthread_equal(thread, pthread_self())) emit_thread_name(name);
  return r;
}
