#include "spill/orphaned_session.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "spill/session_dir.h"
#include "spill/spill_format.h"

namespace viztrace::spill {
namespace {

constexpr std::size_t kSuffix = 6;  // mkdtemp's XXXXXX

bool session_name(const char* name, const char* prefix) {
  std::size_t n = std::strlen(name), p = std::strlen(prefix);
  return n == p + kSuffix && std::strncmp(name, prefix, p) == 0;
}

// The entry names in a dir, read through a duplicate of its fd.
std::vector<std::string> list(int fd) {
  std::vector<std::string> out;
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return out;
  DIR* d = fdopendir(dup_fd);
  if (!d) {
    close(dup_fd);
    return out;
  }
  rewinddir(d);
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      out.emplace_back(e->d_name);
  }
  closedir(d);
  return out;
}

}  // namespace

std::vector<std::string> OrphanedSession::candidates(const std::string& temp_root, Kind kind) {
  std::vector<std::string> out;
  int fd = open(temp_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  const char* prefix = kind == Kind::kept         ? SessionDir::kKeptPrefix
                       : kind == Kind::unfinished ? SessionDir::kUnfinishedPrefix
                                                  : SessionDir::kSessionPrefix;
  for (auto& name : list(fd))
    if (session_name(name.c_str(), prefix)) out.push_back(std::move(name));
  close(fd);
  return out;
}

std::optional<OrphanedSession> OrphanedSession::claim(const std::string& temp_root,
                                                      const std::string& name) {
  int root_fd = open(temp_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return std::nullopt;
  // O_NOFOLLOW: a symbolic link planted under a session's name is never followed.
  int fd = openat(root_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  // Looked at again once locked: a dir another sweeper removed meanwhile has no links left.
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid != geteuid() || !S_ISDIR(st.st_mode) ||
      flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0) {
    if (fd >= 0) close(fd);
    close(root_fd);
    return std::nullopt;
  }
  return OrphanedSession(temp_root, name, root_fd, fd, st.st_mtime);
}

std::vector<OrphanedSession> OrphanedSession::claim_all(const std::string& temp_root, Kind kind) {
  std::vector<OrphanedSession> out;
  const std::time_t now = std::time(nullptr);
  for (const auto& name : candidates(temp_root, kind)) {
    auto s = claim(temp_root, name);
    if (!s) continue;
    // A young one may be between its mkdtemp and its lock: its viztrace is alive.
    if (kind == Kind::unfinished && now - s->modified() < SessionDir::kUnfinishedSweepSeconds)
      continue;
    out.push_back(std::move(*s));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.modified() > b.modified(); });
  return out;
}

OrphanedSession::OrphanedSession(OrphanedSession&& o) noexcept
    : root_(std::move(o.root_)), name_(std::move(o.name_)), path_(std::move(o.path_)),
      root_fd_(o.root_fd_), fd_(o.fd_), modified_(o.modified_) {
  o.root_fd_ = o.fd_ = -1;
}

OrphanedSession& OrphanedSession::operator=(OrphanedSession&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    if (root_fd_ >= 0) close(root_fd_);
    root_ = std::move(o.root_);
    name_ = std::move(o.name_);
    path_ = std::move(o.path_);
    root_fd_ = o.root_fd_;
    fd_ = o.fd_;
    modified_ = o.modified_;
    o.root_fd_ = o.fd_ = -1;
  }
  return *this;
}

OrphanedSession::~OrphanedSession() {
  if (fd_ >= 0) close(fd_);
  if (root_fd_ >= 0) close(root_fd_);
}

bool OrphanedSession::has_spill() const {
  struct stat st;
  return fstatat(fd_, segment_name(0).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

std::size_t OrphanedSession::entries() const { return list(fd_).size(); }

bool OrphanedSession::sweep(std::string* problem) {
  std::string left;
  for (const auto& name : list(fd_)) {
    struct stat st;
    if (fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      left += (left.empty() ? "" : ", ") + name + "/ (a directory: not ours)";
      continue;
    }
    // unlinkat removes a symbolic link itself, never what it points to.
    if (unlinkat(fd_, name.c_str(), 0) != 0)
      left += (left.empty() ? "" : ", ") + name + " (" + std::strerror(errno) + ")";
  }
  if (left.empty() && unlinkat(root_fd_, name_.c_str(), AT_REMOVEDIR) != 0)
    left = std::string("the dir itself (") + std::strerror(errno) + ")";
  if (problem) *problem = left;
  return left.empty();
}

}  // namespace viztrace::spill
