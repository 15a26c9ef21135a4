#include "core/pid_namespaces.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/wire.h"
#include "spdlog/spdlog.h"

namespace viztrace {
namespace {

struct Status {
  std::uint32_t ppid = 0;
  std::vector<std::uint32_t> nspid;  // from our namespace down to the process's own
};

// The PPid and NSpid lines of a /proc status file. False when it cannot be read.
bool read_status(const std::string& path, Status& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  if (const char* p = std::strstr(buf, "\nPPid:")) out.ppid = std::strtoul(p + 6, nullptr, 10);
  const char* p = std::strstr(buf, "\nNSpid:");
  if (!p) return false;
  p += 7;
  for (;;) {
    char* end = nullptr;
    unsigned long v = std::strtoul(p, &end, 10);
    if (end == p) break;
    out.nspid.push_back(static_cast<std::uint32_t>(v));
    p = end;
    if (*p == '\n' || *p == '\0') break;
  }
  return !out.nspid.empty();
}

std::string proc_path(std::uint32_t pid) {
  return "/proc/" + std::to_string(pid);
}

// The numeric entries of a /proc directory.
std::vector<std::uint32_t> numbers_in(const std::string& dir) {
  std::vector<std::uint32_t> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (unsigned long v = std::strtoul(e->d_name, nullptr, 10)) out.push_back(v);
    closedir(d);
  }
  return out;
}

// The children of every thread of pid (their pids in our namespace).
std::vector<std::uint32_t> children_of(std::uint32_t pid) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t tid : numbers_in(proc_path(pid) + "/task")) {
    std::string path = proc_path(pid) + "/task/" + std::to_string(tid) + "/children";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
      text.append(buf, static_cast<std::size_t>(n));
    close(fd);
    const char* p = text.c_str();
    for (char* end = nullptr;; p = end) {
      unsigned long v = std::strtoul(p, &end, 10);
      if (end == p) break;
      out.push_back(static_cast<std::uint32_t>(v));
    }
  }
  return out;
}

template <class T>
bool payload(unsigned char* body, std::size_t size, T& out) {
  if (size < sizeof(vt_record) + sizeof out) return false;
  std::memcpy(&out, body, sizeof out);
  return true;
}

}  // namespace

const PidNamespaces::Proc& PidNamespaces::learn(std::uint32_t sender, std::uint32_t inner,
                                                std::uint32_t image) {
  auto it = procs_.find(sender);
  if (it != procs_.end() && it->second.inner == inner) return it->second;
  Proc proc;
  proc.inner = inner;
  proc.image = image;
  struct stat st;
  Status status;
  if (stat((proc_path(sender) + "/ns/pid").c_str(), &st) == 0) {
    proc.ns = st.st_ino;
    if (read_status(proc_path(sender) + "/status", status) && status.nspid.back() == inner)
      proc.level = static_cast<std::uint32_t>(status.nspid.size() - 1);
  } else if (auto owner = image_owner_.find(image); owner != image_owner_.end() &&
                                                    owner->second != sender &&
                                                    procs_.count(owner->second)) {
    // Gone already, and a fork child of a process of another namespace (a fork keeps the
    // image): in its parent's namespace.
    const Proc& parent = procs_[owner->second];
    proc.ns = parent.ns;
    proc.level = parent.level;
  } else {
    proc.ns = (1ull << 63) | next_key_++;  // unknown: placed once a parent names it
    unplaced_.push_back(sender);
  }
  outer_[{proc.ns, inner}] = sender;
  return procs_[sender] = proc;
}

std::uint32_t PidNamespaces::adopt(const Proc& proc, std::uint32_t inner, std::uint32_t image) {
  for (std::size_t i = 0; i < unplaced_.size(); ++i) {
    auto it = procs_.find(unplaced_[i]);
    if (it == procs_.end() || !(it->second.ns >> 63)) {
      unplaced_[i--] = unplaced_.back();
      unplaced_.pop_back();
      continue;
    }
    Proc& child = it->second;
    if (child.inner != inner ||
        (child.image != image && child.image != vt_image_nonce(image, inner)))
      continue;
    outer_.erase({child.ns, inner});
    child.ns = proc.ns;
    child.level = proc.level;
    const std::uint32_t pid = it->first;
    outer_[{proc.ns, inner}] = pid;
    unplaced_[i] = unplaced_.back();
    unplaced_.pop_back();
    return pid;
  }
  return 0;
}

std::uint32_t PidNamespaces::outer_pid(std::uint32_t sender, const Proc& proc, std::uint32_t inner,
                                       bool child, std::uint32_t image) {
  if (inner == proc.inner) return sender;
  if (auto it = outer_.find({proc.ns, inner}); it != outer_.end()) return it->second;
  if (child && !unplaced_.empty())
    if (std::uint32_t pid = adopt(proc, inner, image)) return pid;
  if (proc.level == 0) return 0;
  std::vector<std::uint32_t> candidates;
  if (child) {
    candidates = children_of(sender);
  } else if (Status s; read_status(proc_path(sender) + "/status", s)) {
    candidates.push_back(s.ppid);
  }
  for (std::uint32_t pid : candidates) {
    Status s;
    if (read_status(proc_path(pid) + "/status", s) && s.nspid.size() > proc.level &&
        s.nspid[proc.level] == inner) {
      outer_[{proc.ns, inner}] = pid;
      return pid;
    }
  }
  return 0;
}

std::uint32_t PidNamespaces::outer_tid(std::uint32_t sender, const Proc& proc, std::uint32_t tid) {
  if (tid == proc.inner) return sender;
  if (auto it = tids_.find({sender, tid}); it != tids_.end()) return it->second;
  const std::string task = proc_path(sender) + "/task/";
  for (std::uint32_t t : numbers_in(task)) {
    Status s;
    if (read_status(task + std::to_string(t) + "/status", s) && s.nspid.back() == tid) {
      tids_[{sender, tid}] = t;
      return t;
    }
  }
  ++unresolved_;
  return tid;  // gone already: its own number, which no thread of ours has in this process
}

PidNamespaces::Original PidNamespaces::translate(unsigned char* p, std::uint32_t sender) {
  vt_chunk_header h;
  std::memcpy(&h, p, sizeof h);
  const Original original{h.pid, h.tid};
  if (h.pid == sender) return original;
  const Proc& proc = learn(sender, h.pid, h.image);
  image_owner_.emplace(h.image, sender);
  h.tid = outer_tid(sender, proc, h.tid);
  h.pid = sender;
  std::memcpy(p, &h, sizeof h);
  auto resolve = [&](std::int32_t& pid, bool child) {
    if (pid <= 0) return;
    const std::int32_t inner_pid = pid;
    pid = static_cast<std::int32_t>(
        outer_pid(sender, proc, static_cast<std::uint32_t>(pid), child, h.image));
    if (pid == 0) {
      ++unresolved_;
      spdlog::debug("pid namespaces: {} (pid {} inside, namespace {:x}) named pid {}, unknown",
                    sender, proc.inner, proc.ns, inner_pid);
    }
  };
  for (std::size_t off = sizeof h; off < h.length;) {
    vt_record r;
    std::memcpy(&r, p + off, sizeof r);
    unsigned char* body = p + off + sizeof r;
    // The child a FORK, SPAWN or REAP names, in place; returns its pid inside (0: none).
    auto resolve_child = [&](auto v) -> std::int32_t {
      if (!payload(body, r.size, v)) return 0;
      const std::int32_t inner = v.pid;
      resolve(v.pid, true);
      std::memcpy(body, &v, sizeof v);
      return inner;
    };
    switch (r.type) {
      case VT_REC_FORK:
        resolve_child(vt_pid{});
        break;
      case VT_REC_SPAWN:
        resolve_child(vt_spawn{});
        break;
      case VT_REC_REAP:
        if (const std::int32_t inner = resolve_child(vt_reap{}); inner > 0)
          outer_.erase({proc.ns, static_cast<std::uint32_t>(inner)});  // free again
        break;
      case VT_REC_PROC_START:
      case VT_REC_EXEC: {
        vt_proc_start v;
        if (!payload(body, r.size, v)) break;
        if (v.ppid == 0) {  // its parent is outside its namespace: the kernel knows which
          Status s;
          if (read_status(proc_path(sender) + "/status", s)) v.ppid = s.ppid;
        } else {
          std::int32_t ppid = static_cast<std::int32_t>(v.ppid);
          resolve(ppid, false);
          v.ppid = static_cast<std::uint32_t>(ppid);
        }
        v.ns_pid = proc.inner;
        std::memcpy(body, &v, sizeof v);
        break;
      }
      case VT_REC_THREAD_NAME:
        r.aux = outer_tid(sender, proc, r.aux);
        std::memcpy(p + off, &r, sizeof r);
        break;
      default:
        break;
    }
    off += r.size;
  }
  return original;
}

}  // namespace viztrace
