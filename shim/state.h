// The shim's process-wide state, in one block that never crosses a page.
//
// Every traced process writes this state as it starts, and a fork child as it begins. The first
// write to a page is a page fault, the costliest thing the shim does in a short process
// (measured on a VM: ~14 µs for a fault, ~1 µs for a system call). Spread over the objects of
// three files, the state took three pages; in one block it takes one.
#pragma once

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim/channel.h"
#include "common/env_doctor.h"
#include "shim/tracer.h"

namespace vt_shim {

// tracer.cc: the lifecycle side.
struct TracerState {
  bool tracing;          // set up and reporting
  bool debug;            // VIZTRACE_DEBUG: explain on stderr why tracing is off
  bool stalled;          // a write timed out: stop waiting for the collector
  bool have_env;         // env holds the shim's variables
  bool other_pid_ns;     // in another PID namespace than viztrace (see tracer.cc)
  bool sampling;         // threads sample themselves (sampling.cc; its state is elsewhere)
  pid_t pid;             // the pid this state belongs to (see tracer.h on contexts)
  uint32_t image;        // nonce of this process image
  unsigned threads;      // threads started through the trampoline
  uint64_t pid_ns;       // inode of viztrace's PID namespace; 0: unknown
  char** argv;           // as the loader passed it to the constructor
  const char* fifo_path; // inside env.fifo_entry
  EnvValues env;         // "VIZTRACE_FIFO=...", "VIZTRACE_SHIM=..." and the shim's path
};

// functions.cc: function tracing.
struct FnState {
  bool initialized;     // functions_init ran
  bool enabled;         // tracing, and the session dir is known
  bool tsc;             // timestamps are TSC ticks (the collector maps them to ns)
  uint32_t max_depth;   // calls deeper than this are not recorded
  size_t dir_length;    // of the session dir in TracerState::fifo_path, with its slash
  // dlpi_adds + dlpi_subs when the modules were last announced; 0: not yet in this process
  unsigned long long loads_announced;
};

struct ShimStateHead {
  RealFunctions real;
  TracerState tracer;
  FnState fn;
};

constexpr size_t kStateBlock = 1024;

struct alignas(kStateBlock) ShimState {
  ShimStateHead head;
  // The environment entries of TracerState::env when they fit (a session in a short TMPDIR);
  // else they go to a buffer of their own.
  char text[kStateBlock - sizeof(ShimStateHead)];
};
static_assert(sizeof(ShimState) == kStateBlock, "the state is one block, within one page");

extern ShimState g_state;  // constant-initialized, in tracer.cc

inline constexpr RealFunctions& g_real = g_state.head.real;

// The real function in slot (a field of g_real), looked up on first use if the constructor did
// not; errno is kept. dlsym takes locks: functions that can run between vfork and exec or in a
// signal handler are resolved in the constructor instead.
template <class T>
T ensure_real(T& slot, const char* name) {
  if (!slot) {
    const int saved = errno;
    slot = reinterpret_cast<T>(dlsym(RTLD_NEXT, name));
    errno = saved;
  }
  return slot;
}

}  // namespace vt_shim
