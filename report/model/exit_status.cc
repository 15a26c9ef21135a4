#include "report/model/exit_status.h"

#include <sys/wait.h>

#include <csignal>
#include <cstring>

namespace viztrace::report {

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.kind = Kind::exited;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.kind = Kind::signaled;
    s.signal = WTERMSIG(status);
    s.core_dumped = WCOREDUMP(status);
  }
  return s;
}

ExitStatus ExitStatus::from_exit_code(int code) {
  ExitStatus s;
  s.kind = Kind::exited;
  s.code = code & 0xff;  // what the parent would see: exit(256) is status 0
  return s;
}

std::string signal_name(int signal) {
  if (const char* abbrev = sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  if (signal >= SIGRTMIN && signal <= SIGRTMAX)
    return "SIGRTMIN+" + std::to_string(signal - SIGRTMIN);
  return "signal " + std::to_string(signal);
}

std::string errno_name(int err) {
  if (const char* name = strerrorname_np(err)) return name;
  return "error " + std::to_string(err);
}

}  // namespace viztrace::report
