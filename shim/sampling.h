// Sampled stacks where the kernel will not take them (perf_event_open refused: a container's
// seccomp profile, kernel.perf_event_paranoid above 2). viztrace then sets VIZTRACE_SAMPLE=<hz>
// and each traced thread samples itself: a timer on the thread's CPU-time clock sends it
// SIGPROF every 1/hz second of CPU time, and the handler sends its registers and the top of its
// stack to the collector as one chunk (VT_REC_SAMPLE), which the report unwinds.
//
// The program's own use of SIGPROF is kept: sigaction and signal are interposed for SIGPROF,
// the program's handler is called for every SIGPROF that is not one of ours, and it is told
// back as it set it. The handler keeps errno, allocates nothing, takes no lock, never waits
// (a full FIFO drops the sample, counted), and is installed with SA_RESTART. A thread that
// blocks SIGPROF is simply not sampled. Go programs, whose runtime owns SIGPROF, are not sampled
// this way.
#pragma once

#include <signal.h>

namespace vt_shim {

// From the constructor, once tracing is set up: VIZTRACE_SAMPLE's value, null when unset.
void sampling_init(const char* hz, bool go) noexcept;
// The calling thread starts or ends (threads made through pthread_create).
void sampling_thread_start() noexcept;
void sampling_thread_exit() noexcept;
// In a fork child: timers are not inherited; the child's one thread gets its own.
void sampling_fork_child() noexcept;

// sigaction and signal for SIGPROF while sampling (hooks.cc); false: not sampling, the caller
// goes to the real function.
bool sampling_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept;

}  // namespace vt_shim
