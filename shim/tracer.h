// The shim's process-wide state and the lifecycle records it emits.
//
// Contexts: a normal thread writes through its thread-local stream, into the FIFO opened for
// that one emission.
// Code that may run in a vfork child, or in a child made by a raw clone that ran no fork
// handler, notices that getpid() is not the pid it was set up for and then touches no shared or
// thread-local state at all: it writes through a stream and a channel of its own, on its stack.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "shim/channel.h"
#include "shim/chunk_writer.h"
#include "common/env_doctor.h"

namespace vt_shim {

// The functions the hooks forward to, found with dlsym(RTLD_NEXT).
struct RealFunctions {
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
  int (*execveat)(int, const char*, char* const[], char* const[], int);
  int (*posix_spawn)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                     const posix_spawnattr_t*, char* const[], char* const[]);
  int (*posix_spawnp)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                      const posix_spawnattr_t*, char* const[], char* const[]);
  pid_t (*fork)();
  void (*exit_)(int);
  void (*Exit)(int);
  pid_t (*wait)(int*);
  pid_t (*waitpid)(pid_t, int*, int);
  pid_t (*wait3)(int*, int, struct rusage*);
  pid_t (*wait4)(pid_t, int*, int, struct rusage*);
  int (*waitid)(idtype_t, id_t, siginfo_t*, int);
  int (*pthread_create)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  void (*pthread_exit)(void*);
  int (*pthread_setname_np)(pthread_t, const char*);
  void* (*dlopen)(const char*, int);
  int (*dlclose)(void*);
  int (*sigaction)(int, const struct sigaction*, struct sigaction*);
  __sighandler_t (*signal)(int, __sighandler_t);
};

// Whether this process reports to a collector.
bool tracing() noexcept;
// The values doctor_env puts back (valid once the constructor ran, even when not tracing).
const EnvValues* env_values() noexcept;
uint64_t now_ns() noexcept;

// Lifecycle records. Each is a complete chunk (or a few) written before returning; all keep
// errno. exe_flags are VT_EXE_* from probe_exe.
void emit_exec(const char* path, char* const argv[], uint32_t exe_flags) noexcept;
void emit_exec_failed(int error) noexcept;
void emit_spawn(uint64_t ts, const char* path, char* const argv[], uint32_t exe_flags, pid_t pid,
                int error) noexcept;
void emit_fork(uint64_t ts, pid_t child) noexcept;
// The fork hook calls this in the child: a new process with a copy of our state. before_fork:
// channel_activity() as the parent read it before it forked.
void on_fork_child(unsigned long before_fork) noexcept;
// Around a change of user or root (setuid, chroot, ...): before it, a channel is opened while
// the session can still be reached; after it succeeded, identity_changed sees whether it still
// can, and if not says so through that channel (VT_REC_DETACHED), stops tracing, and takes
// the shim out of LD_PRELOAD: the program's children could neither load nor use it.
void identity_changing(Channel& before) noexcept;
void identity_changed(Channel& before, uint32_t what) noexcept;
void emit_exit(int status) noexcept;
void emit_reap(pid_t pid, int wait_status, const struct rusage* usage) noexcept;
void emit_thread_start() noexcept;
void emit_thread_exit() noexcept;
void emit_thread_name(const char* name) noexcept;  // the calling thread's

// Annotations (include/viztrace.h, `viztrace mark|span|counter`; exported in annotations.cc).
// Each is one chunk, safe from any thread and from signal handlers. Names are cut at
// kMaxAnnotationName bytes; args items that would pass kMaxAnnotationArgs bytes are left out.
constexpr size_t kMaxAnnotationName = 256;
constexpr size_t kMaxAnnotationArgs = 512;
// "key=value" items: space-separated in one string (the C API), or a null-terminated list
// (the command line, where values may hold spaces). Either or both may be null.
struct AnnotationArgs {
  const char* words;
  const char* const* list;
};
void emit_span_begin(const char* name) noexcept;
void emit_span_end(AnnotationArgs args) noexcept;
void emit_mark(const char* name, AnnotationArgs args, bool global) noexcept;
void emit_counter(const char* name, double value) noexcept;
// The program names the calling thread: that name stands over the one the kernel has at exit.
void name_thread(const char* name) noexcept;

// Function tracing (functions.cc) needs these.
struct StreamId {
  uint32_t pid, tid, image;  // pid 0: this context must not set up anything (a vfork child)
};
StreamId current_stream() noexcept;
void emit_fn_ring(uint32_t clock) noexcept;  // the calling thread's ring exists now
void emit_modules() noexcept;                // every loaded ELF object with executable code

// Thread start trampolines: a fixed pool, so pthread_create needs no allocation.
void* thread_trampoline_arg(void* (*start)(void*), void* arg) noexcept;  // null when full
void thread_trampoline_release(void* slot) noexcept;                     // pthread_create failed
void* thread_trampoline(void* slot);

}  // namespace vt_shim
