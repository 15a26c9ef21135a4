#include "spill/session_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/fault_injection.h"
#include "common/wire.h"
#include "spill/cleanup_registry.h"

namespace viztrace::spill {

std::string SessionDir::default_temp_root() {
  const char* t = std::getenv("TMPDIR");
  return (t && *t) ? t : "/tmp";
}

namespace {

// Renames from to to unless to exists. Filesystems without RENAME_NOREPLACE get a check first:
// to can only be taken by a dir left from an older session, never by one being created.
bool rename_no_replace(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno != EINVAL && errno != ENOSYS) return false;
  struct stat st;
  if (lstat(to.c_str(), &st) == 0) {
    errno = EEXIST;
    return false;
  }
  return rename(from.c_str(), to.c_str()) == 0;
}

}  // namespace

SessionDir SessionDir::create(const std::string& temp_root) {
  struct stat st;
  if (stat(temp_root.c_str(), &st) != 0) throw system_error("temp dir " + temp_root);
  if (!S_ISDIR(st.st_mode)) throw Error("temp dir " + temp_root + ": Not a directory");
  // A full temp filesystem would only fail later, losing the trace: say so before the start.
  struct statvfs fs;
  if (statvfs(temp_root.c_str(), &fs) == 0 &&
      ((fs.f_blocks && !fs.f_bavail) || (fs.f_files && !fs.f_favail)))
    throw Error("temp dir " + temp_root + ": No space left on device (set TMPDIR elsewhere)");
  CleanupRegistry::install_atexit();
  std::string root = temp_root;
  if (root.back() != '/') root += '/';
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::string templ = root + kUnfinishedPrefix + "XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw system_error("cannot create a session dir in " + temp_root);
    std::string unfinished(buf.data());
    int fd = open(unfinished.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) continue;  // swept: we stalled here longer than a sweep waits
      rmdir(unfinished.c_str());
      throw system_error("cannot open session dir " + unfinished, err);
    }
    // A sweeper may hold the lock right now: wait for it, then make sure the dir still exists
    // (a removed dir has no links); if not, start again.
    if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0) {
      close(fd);
      continue;
    }
    inject_fault("session");
    std::string path = root + kSessionPrefix + unfinished.substr(templ.size() - 6);
    if (!rename_no_replace(unfinished, path)) {
      int err = errno;
      rmdir(unfinished.c_str());
      close(fd);
      if (err == EEXIST || err == ENOTEMPTY) continue;  // an old dir has that name
      throw system_error("cannot create session dir " + path, err);
    }
    int slot = CleanupRegistry::add_dir(fd, path.c_str());
    return SessionDir(std::move(path), fd, slot);
  }
  throw Error("cannot create a session dir in " + temp_root + ": it keeps disappearing");
}

SessionDir::SessionDir(SessionDir&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), slot_(other.slot_) {
  other.fd_ = -1;
  other.slot_ = -1;
}

SessionDir::~SessionDir() {
  sweep();
  if (fd_ >= 0) close(fd_);
}

void SessionDir::make_fifo() {
  if (mkfifoat(fd_, "fifo", 0600) != 0 || mkfifoat(fd_, "wake", 0600) != 0)
    throw system_error("cannot create FIFO in " + path_);
}

int SessionDir::make_hello_socket() {
  // A path too long for a socket address is bound through the dir (the shim does the same).
  std::string path = path_ + "/" VT_HELLO_NAME;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    path = "/proc/self/fd/" + std::to_string(fd_) + "/" VT_HELLO_NAME;
  if (path.size() >= sizeof addr.sun_path) throw Error("session path too long: " + path_);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw system_error("cannot create a socket in " + path_);
  const int on = 1;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      fchmodat(fd_, VT_HELLO_NAME, 0600, 0) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    int err = errno;
    close(fd);
    throw system_error("cannot create a socket in " + path_, err);
  }
  return fd;
}

std::string SessionDir::link_shim(const std::string& target) {
  if (symlinkat(target.c_str(), fd_, "shim.so") != 0)
    throw system_error("cannot link the preload library into " + path_);
  return path_ + "/shim.so";
}

void SessionDir::set_segments(std::uint32_t segments) {
  CleanupRegistry::set_segments(slot_, segments);
}

std::string SessionDir::keep() {
  CleanupRegistry::keep_dir(slot_);
  slot_ = -1;
  auto slash = path_.rfind('/');
  std::string kept = path_.substr(0, slash + 1) + kKeptPrefix +
                     path_.substr(slash + 1 + std::strlen(kSessionPrefix));
  if (rename(path_.c_str(), kept.c_str()) == 0) path_ = kept;
  return path_;
}

void SessionDir::sweep() {
  CleanupRegistry::sweep_dir(slot_);
  slot_ = -1;
}

}  // namespace viztrace::spill
