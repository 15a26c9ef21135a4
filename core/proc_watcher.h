// Follows processes the shim cannot see into, through /proc.
//
// Static binaries and set-user-ID programs never load the shim, and Go programs fork and exec
// with raw system calls past any hook. For such a process the collector polls
// /proc/<pid>/task/<tid>/children; each new child is reported (argv from /proc/<pid>/cmdline)
// and followed with a pidfd for the moment it ends. A child that can itself not be entered is
// watched the same way. Processes shorter than one poll interval can be missed.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace viztrace {

// The children of every thread of pid, from /proc.
std::vector<pid_t> children_of(pid_t pid);

class ProcWatcher {
 public:
  struct Observed {
    pid_t pid, ppid;
    std::uint64_t ts;
    std::string argv;  // NUL-separated, as /proc/<pid>/cmdline
    std::string exe;
  };
  struct Ended {
    pid_t pid;
    std::uint64_t ts;
    int status;  // raw wait status when the zombie could still be read, else -1
  };
  using ObservedFn = std::function<void(const Observed&)>;
  using EndedFn = std::function<void(const Ended&)>;

  ProcWatcher(ObservedFn on_observed, EndedFn on_ended)
      : on_observed_(std::move(on_observed)), on_ended_(std::move(on_ended)) {}
  ~ProcWatcher();
  ProcWatcher(const ProcWatcher&) = delete;
  ProcWatcher& operator=(const ProcWatcher&) = delete;

  // Scan pid's children from now on (and follow its end).
  void watch_children(pid_t pid);
  // Follow pid's end only.
  void follow(pid_t pid);
  // Whether any process is being scanned (the loop then polls every interval).
  bool scanning() const { return !scanned_.empty(); }
  // One scan of all watched processes' children.
  void scan(std::uint64_t now);
  // pidfds to poll; call on_ready for those that become readable.
  void add_pollfds(std::vector<pollfd>& fds) const;
  void on_ready(int fd, std::uint64_t now);

 private:
  struct Pending {
    pid_t ppid;
    std::uint64_t first_seen;
  };
  void examine(pid_t child, pid_t parent, std::uint64_t first_seen, std::uint64_t now);

  ObservedFn on_observed_;
  EndedFn on_ended_;
  std::unordered_set<pid_t> scanned_;           // pids whose children we look for
  std::unordered_map<int, pid_t> pidfds_;       // fd -> pid followed
  std::unordered_set<pid_t> followed_;
  std::unordered_set<pid_t> known_;             // children already reported
  std::unordered_map<pid_t, Pending> pending_;  // forked, maybe not exec'd yet
};

}  // namespace viztrace
