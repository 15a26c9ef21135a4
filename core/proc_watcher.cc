#include "core/proc_watcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/exe_probe.h"
#include "common/wire.h"
#include "spdlog/spdlog.h"

namespace viztrace {
namespace {

// A fork child shows its parent's exe and cmdline until it execs; give it this long.
constexpr std::uint64_t kExecGraceNs = 20'000'000;
// Process events kept for a subtree that a process announces a moment after it began.
constexpr std::uint64_t kRecentEventsNs = 2'000'000'000;
constexpr std::size_t kRecentEvents = 65536;

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::string task = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(task.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(read_file(task + "/" + e->d_name + "/children"));
    pid_t child;
    while (in >> child) out.push_back(child);
  }
  closedir(d);
  return out;
}

namespace {

// Field 52 of /proc/<pid>/stat is the exit code in wait-status form, while the zombie lasts.
int zombie_status(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(close_paren + 2));
  std::string field;
  char state = 0;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  if (fields.empty()) return -1;
  state = fields[0][0];
  // fields[0] is field 3 (state); field 52 is fields[49].
  if (state != 'Z' || fields.size() < 50) return -1;
  return std::atoi(fields[49].c_str());
}

// The command name in /proc/<pid>/stat, which stays readable for a zombie.
std::string zombie_comm(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto open_paren = stat.find('('), close_paren = stat.rfind(')');
  if (open_paren == std::string::npos || close_paren == std::string::npos) return {};
  return stat.substr(open_paren + 1, close_paren - open_paren - 1);
}

pid_t parent_of(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  pid_t ppid = 0;
  if (auto close_paren = stat.rfind(')'); close_paren != std::string::npos)
    std::sscanf(stat.c_str() + close_paren + 1, " %*c %d", &ppid);
  return ppid;
}

int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

ProcWatcher::~ProcWatcher() {
  for (auto& [fd, pid] : pidfds_) ::close(fd);
}

void ProcWatcher::watch_children(pid_t pid, std::uint64_t since) {
  scanned_.insert(pid);
  follow(pid);
  if (events_.fd() < 0 || since == UINT64_MAX) return;
  finish();  // the events until now
  // Children it started and ended before viztrace learnt of it (a record read late on a busy
  // machine): the kernel told of them a moment ago.
  for (const ProcEvents::Event& e : recent_)
    if (e.ts >= since) on_child_event(e);
}

void ProcWatcher::listen() {
  if (events_tried_) return;
  events_tried_ = true;
  if (!events_.open())
    spdlog::debug("no process events ({}): subtrees are polled", std::strerror(errno));
}

void ProcWatcher::watch_subtree(pid_t pid, std::uint64_t since, bool announced,
                                const std::string& argv) {
  listen();
  finish();  // the events until now, before pid is a member
  const std::string base = "/proc/" + std::to_string(pid);
  Member& m = subtree_[pid];
  m.argv = argv.empty() ? read_file(base + "/cmdline") : argv;
  m.exe = read_link(base + "/exe");
  m.ppid = parent_of(pid);
  if (events_.fd() < 0) {
    watch_children(pid);
    return;
  }
  if (announced) m.skip_exec_from = since;
  // What the subtree did before viztrace knew of it (the process said so a moment after).
  for (const ProcEvents::Event& e : recent_)
    if (e.ts >= since) on_event(e, true);
}

// A child of a process whose children are scanned, as the kernel tells it: its exec is read
// at once rather than at the next scan, so that short ones are not missed.
bool ProcWatcher::on_child_event(const ProcEvents::Event& e) {
  using Kind = ProcEvents::Event::Kind;
  if (e.kind == Kind::exit && unnamed_.erase(e.pid)) {
    on_ended_({e.pid, e.ts, e.status});
    return true;
  }
  if (e.kind == Kind::fork) {
    if (!scanned_.count(e.parent) || known_.count(e.pid)) return false;
    forked_[e.pid] = {e.parent, e.ts};
    return true;
  }
  auto it = forked_.find(e.pid);
  if (it == forked_.end()) return false;
  const Pending fork = it->second;
  forked_.erase(it);
  if (known_.count(e.pid)) return true;  // a scan saw it first
  const std::string base = "/proc/" + std::to_string(e.pid);
  if (e.kind == Kind::exec) {
    if (!report(e.pid, fork.ppid, fork.first_seen, read_link(base + "/exe"),
                read_file(base + "/cmdline"), e.ts)) {
      // Gone already, even its zombie (the kernel's exec event names no program): seen, with
      // its parent, times and exit status, but not what it ran.
      on_observed_({e.pid, fork.ppid, fork.first_seen, {}, {}});
      unnamed_.insert(e.pid);
    }
  } else {  // it ended without an exec: a fork running its parent's program
    known_.insert(e.pid);
    pending_.erase(e.pid);
    on_observed_({e.pid, fork.ppid, fork.first_seen, {}, {}, false, true});
    on_ended_({e.pid, e.ts, e.status});
  }
  return true;
}

void ProcWatcher::on_event(const ProcEvents::Event& e, bool replayed) {
  using Kind = ProcEvents::Event::Kind;
  if (!replayed && on_child_event(e)) return;
  const bool ours = subtree_.count(e.kind == Kind::fork ? e.parent : e.pid);
  if (!ours) {
    // Kept a moment, for a subtree that turns out to have begun before this event.
    if (replayed) return;
    while (!recent_.empty() &&
           (recent_.front().ts + kRecentEventsNs < e.ts || recent_.size() >= kRecentEvents))
      recent_.pop_front();
    recent_.push_back(e);
    return;
  }
  if (e.kind == Kind::fork) {
    auto parent = subtree_.find(e.parent);
    if (subtree_.count(e.pid)) return;
    known_.insert(e.pid);
    Member child = parent->second;  // the parent's image until it execs
    child.ppid = e.parent;
    on_observed_({e.pid, e.parent, e.ts, child.argv, child.exe, false, true});
    subtree_[e.pid] = std::move(child);
    return;
  }
  auto it = subtree_.find(e.pid);
  if (e.kind == Kind::exec && e.ts >= it->second.skip_exec_from) {
    it->second.skip_exec_from = UINT64_MAX;
    it->second.argv = read_file("/proc/" + std::to_string(e.pid) + "/cmdline");
    return;
  }
  if (e.kind == Kind::exec) {
    const std::string base = "/proc/" + std::to_string(e.pid);
    std::string argv = read_file(base + "/cmdline");
    // Gone already (or a zombie): its name, from stat, is all that is left.
    if (argv.empty()) argv = zombie_comm(e.pid) + '\0';
    it->second.argv = argv;
    it->second.exe = read_link(base + "/exe");
    on_observed_({e.pid, it->second.ppid, e.ts, std::move(argv), it->second.exe, true});
    return;
  }
  on_ended_({e.pid, e.ts, e.status});
  subtree_.erase(it);
}

void ProcWatcher::finish() {
  if (events_.fd() < 0) return;
  if (events_.drain([this](const ProcEvents::Event& e) { on_event(e, false); })) {
    events_lost_ = true;
    forked_.clear();  // their execs may be among the lost: scans take them again
  }
}

void ProcWatcher::announced(pid_t pid) {
  if (scanned_.empty() && forked_.empty()) return;  // nothing watched: nothing to tell
  known_.insert(pid);
  pending_.erase(pid);
  forked_.erase(pid);
}

void ProcWatcher::follow(pid_t pid) {
  if (!followed_.insert(pid).second) return;
  int fd = pidfd_open(pid);
  if (fd >= 0) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    pidfds_[fd] = pid;
  }
}

void ProcWatcher::examine(pid_t child, pid_t parent, std::uint64_t first_seen, std::uint64_t now) {
  std::string base = "/proc/" + std::to_string(child);
  std::string exe = read_link(base + "/exe");
  std::string argv = read_file(base + "/cmdline");
  std::string pbase = "/proc/" + std::to_string(parent);
  // Between fork and exec a child shows its parent's exe and cmdline; during exec, none.
  bool looks_like_parent =
      exe == read_link(pbase + "/exe") && argv == read_file(pbase + "/cmdline");
  bool in_exec = argv.empty() && !exe.empty();
  spdlog::debug("pid {}: child {} exe {} argv {} bytes", parent, child, exe, argv.size());
  if ((looks_like_parent || in_exec) && now - first_seen < kExecGraceNs && !exe.empty()) {
    pending_[child] = {parent, first_seen};
    return;
  }
  report(child, parent, first_seen, std::move(exe), std::move(argv), now);
}

bool ProcWatcher::report(pid_t child, pid_t parent, std::uint64_t first_seen, std::string exe,
                         std::string argv, std::uint64_t now) {
  const std::string base = "/proc/" + std::to_string(child);
  pending_.erase(child);
  known_.insert(child);
  if (exe.empty() && argv.empty()) {
    // Already a zombie (or gone): its name and status can still be read until it is reaped.
    std::string comm = zombie_comm(child);
    if (comm.empty()) return false;
    on_observed_({child, parent, first_seen, comm + '\0', ""});
    on_ended_({child, now, zombie_status(child)});
    return true;
  }
  if (subtree_.count(parent)) {
    subtree_[child] = {argv, exe, parent};
    on_observed_({child, parent, first_seen, std::move(argv), exe});
    watch_children(child);
    return true;
  }
  on_observed_({child, parent, first_seen, std::move(argv), exe});
  int fd = ::open((base + "/exe").c_str(), O_RDONLY | O_CLOEXEC);
  std::uint32_t flags = VT_EXE_UNREADABLE;
  if (fd >= 0) flags = vt_shim::probe_exe_fd(fd);
  if (fd >= 0) ::close(fd);
  if (flags & (VT_EXE_SHIMLESS | VT_EXE_GO))
    watch_children(child);
  else
    follow(child);
  return true;
}

// A process of a watched subtree whose cmdline changed has exec'd: a new image.
void ProcWatcher::check_exec(pid_t pid, std::uint64_t now) {
  auto it = subtree_.find(pid);
  if (it == subtree_.end()) return;
  const std::string base = "/proc/" + std::to_string(pid);
  std::string argv = read_file(base + "/cmdline");
  if (argv.empty() || argv == it->second.argv) return;  // a zombie, or the same image
  it->second.argv = argv;
  it->second.exe = read_link(base + "/exe");
  const pid_t ppid = it->second.ppid ? it->second.ppid : parent_of(pid);
  on_observed_({pid, ppid, now, std::move(argv), it->second.exe, true});
}

void ProcWatcher::scan(std::uint64_t now) {
  if (events_.fd() < 0)
    for (const auto& [pid, member] : subtree_) check_exec(pid, now);
  for (pid_t pid : std::vector<pid_t>(scanned_.begin(), scanned_.end())) {
    for (pid_t child : children_of(pid)) {
      if (known_.count(child) || forked_.count(child)) continue;  // forked_: events will tell
      auto it = pending_.find(child);
      examine(child, pid, it == pending_.end() ? now : it->second.first_seen, now);
    }
  }
}

void ProcWatcher::add_pollfds(std::vector<pollfd>& fds) const {
  if (events_.fd() >= 0) fds.push_back({events_.fd(), POLLIN, 0});
  for (const auto& [fd, pid] : pidfds_) fds.push_back({fd, POLLIN, 0});
}

void ProcWatcher::on_ready(int fd, std::uint64_t now) {
  if (fd == events_.fd()) {
    finish();
    return;
  }
  auto it = pidfds_.find(fd);
  if (it == pidfds_.end()) return;
  pid_t pid = it->second;
  // Its last children may have appeared since the previous scan.
  if (scanned_.count(pid)) scan(now);
  on_ended_({pid, now, zombie_status(pid)});
  ::close(fd);
  pidfds_.erase(it);
  scanned_.erase(pid);
  subtree_.erase(pid);
}

}  // namespace viztrace
