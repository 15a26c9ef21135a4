// Follows processes the shim cannot see into, through /proc.
//
// Static binaries and set-user-ID programs never load the shim, and Go programs fork and exec
// with raw system calls past any hook. For such a process the collector polls
// /proc/<pid>/task/<tid>/children; each new child is reported (argv from /proc/<pid>/cmdline)
// and followed with a pidfd for the moment it ends. A child that can itself not be entered is
// watched the same way. A subtree (below a set-user-ID program, whose environment the loader
// scrubs, or a process that switched to another user or root) is watched whole: through the
// kernel's process events when viztrace may listen to them (root), which tell every fork, exec
// and exit; else by polling, its execs told by their cmdline changing. Polling can miss
// processes shorter than one poll interval.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/proc_events.h"

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
    bool exec = false;  // a new image of a process already reported
    bool fork = false;  // known to be a fork child (running its parent's program)
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

  // Scan pid's children from now on (and follow its end). With process events, the children it
  // started from `since` on (before viztrace knew of it) are taken from the recent events.
  void watch_children(pid_t pid, std::uint64_t since = UINT64_MAX);
  // Listens to the kernel's process events from now on, where viztrace may (root).
  void listen();
  // Follows pid, its children, theirs, and their execs, from `since` (CLOCK_MONOTONIC ns) on.
  // announced: pid's next exec was announced already (the shim's EXEC of a set-user-ID
  // program), not to be reported again. argv: pid's cmdline as last known (empty: take it
  // from /proc now), for telling execs by polling.
  void watch_subtree(pid_t pid, std::uint64_t since, bool announced, const std::string& argv = {});
  // Follow pid's end only.
  void follow(pid_t pid);
  // pid loaded the shim and said so: it is not reported as a child seen from outside.
  void announced(pid_t pid);
  // Whether any process is being scanned (the loop then polls every interval).
  bool scanning() const { return !scanned_.empty(); }
  // One scan of all watched processes' children.
  void scan(std::uint64_t now);
  // pidfds to poll; call on_ready for those that become readable.
  void add_pollfds(std::vector<pollfd>& fds) const;
  void on_ready(int fd, std::uint64_t now);
  // Takes the last process events (once the run is over).
  void finish();
  // Whether some process events were lost (the kernel's queue overflowed).
  bool events_lost() const { return events_lost_; }

 private:
  struct Pending {
    pid_t ppid;
    std::uint64_t first_seen;
  };
  void examine(pid_t child, pid_t parent, std::uint64_t first_seen, std::uint64_t now);
  void check_exec(pid_t pid, std::uint64_t now);
  // Reports a child of a scanned process, as /proc shows it now (exe and argv read), and
  // counts it known. False when it is gone already, even its zombie: nothing was reported.
  bool report(pid_t child, pid_t parent, std::uint64_t first_seen, std::string exe,
              std::string argv, std::uint64_t now);
  bool on_child_event(const ProcEvents::Event& e);
  // replayed: taken again from recent_ for a new subtree.
  void on_event(const ProcEvents::Event& e, bool replayed);

  ObservedFn on_observed_;
  EndedFn on_ended_;
  std::unordered_set<pid_t> scanned_;  // pids whose children we look for
  struct Member {
    std::string argv;  // cmdline last seen
    std::string exe;
    pid_t ppid = 0;
    std::uint64_t skip_exec_from = UINT64_MAX;  // the announced exec: from then on, not told
  };
  std::deque<ProcEvents::Event> recent_;       // of processes outside any subtree, by time
  std::unordered_map<pid_t, Member> subtree_;  // the processes of whole subtrees
  ProcEvents events_;
  bool events_tried_ = false;
  bool events_lost_ = false;
  std::unordered_map<int, pid_t> pidfds_;  // fd -> pid followed
  std::unordered_set<pid_t> followed_;
  std::unordered_set<pid_t> known_;             // children already reported
  std::unordered_map<pid_t, Pending> pending_;  // forked, maybe not exec'd yet
  std::unordered_map<pid_t, Pending> forked_;   // forked, as events told; exec not seen yet
  // Exec'd and gone before /proc could be read, reported without a name: their exit event
  // ends them.
  std::unordered_set<pid_t> unnamed_;
};

}  // namespace viztrace
