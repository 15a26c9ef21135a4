// The kernel's process events (the proc connector: fork, exec and exit of every process, with
// exit status), for following processes the shim cannot enter without missing short ones.
// Listening needs CAP_NET_ADMIN; without it open() fails and /proc polling is all there is.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>

namespace viztrace {

class ProcEvents {
 public:
  struct Event {
    enum class Kind { fork, exec, exit } kind;
    std::uint64_t ts;  // CLOCK_MONOTONIC ns
    pid_t pid;         // the process (thread group); the child of a fork
    pid_t parent;      // fork: the parent process
    int status;        // exit: wait status
  };

  ProcEvents() = default;
  ~ProcEvents();
  ProcEvents(const ProcEvents&) = delete;
  ProcEvents& operator=(const ProcEvents&) = delete;

  // Starts listening; false (errno set) when the kernel refuses.
  bool open();
  int fd() const { return fd_; }
  // Reads every event waiting; events of threads (not of processes) are left out. Returns the
  // number of events the kernel dropped because they were not read fast enough (0 or 1: a
  // drop is known, not counted).
  int drain(const std::function<void(const Event&)>& fn);

 private:
  int fd_ = -1;
};

}  // namespace viztrace
