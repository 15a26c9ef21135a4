// viztrace's signal handling.
//
// While collecting, SIGINT/SIGTERM/SIGHUP/SIGQUIT and SIGCHLD only wake the collector's loop
// through a self-pipe: the target gets terminal signals itself (it stays in our process group),
// and the loop decides (wait, forward, escalate). While the report is written, an interrupt
// sweeps the temp files and ends viztrace by the same signal. A fatal signal of viztrace itself
// (SIGSEGV, SIGABRT, ...) sweeps and re-raises, so the exit status and core stay truthful.
// SIGPIPE and SIGXFSZ are ignored (a closed stderr or a file size limit must not kill us before
// we sweep) and restored for the target.
#pragma once

#include <csignal>

namespace viztrace {

class SignalGuard {
 public:
  enum class Mode { kCollecting, kReporting };

  static void install();
  static void set_mode(Mode mode);
  // Readable when a signal arrived; drain it with take().
  static int wakeup_fd();
  struct Received {
    int signal;
    bool from_process;  // sent with kill() by some process, not by the kernel or a terminal
  };
  // Signals received since the last call, in order (at most max).
  static int take(Received* out, int max);
  // In the target between fork and exec: the dispositions and mask viztrace started with.
  static void restore_for_child();
};

}  // namespace viztrace
