// How a process ended, decoded from a raw wait status or an exit code, and signal names.
#pragma once

#include <string>

namespace viztrace::report {

struct ExitStatus {
  enum class Kind { unknown, exited, signaled };
  Kind kind = Kind::unknown;
  int code = 0;    // exited: the exit code
  int signal = 0;  // signaled: the signal number
  bool core_dumped = false;

  static ExitStatus from_wait_status(int status);
  static ExitStatus from_exit_code(int code);
  bool known() const { return kind != Kind::unknown; }
};

// "SIGSEGV", "SIGRTMIN+3", or "signal 99" for numbers the system does not name.
std::string signal_name(int signal);

// "ENOENT", or "error 999" for numbers the system does not name.
std::string errno_name(int err);

}  // namespace viztrace::report
