#include "report/writers/output_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "spill/cleanup_registry.h"

namespace viztrace::report {
namespace {

mode_t current_umask() {
  mode_t mask = umask(0);
  umask(mask);
  return mask;
}

// Blocks the signals that run cleanup handlers while a temp file is created and registered, so
// no handler can run between the two and miss the file.
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SignalBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

 private:
  sigset_t old_;
};

}  // namespace

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  struct stat st;
  if (stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    // A device, FIFO or terminal (/dev/stdout, /dev/full): written in place, nothing to rename.
    fd_ = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) throw system_error("cannot write " + path_);
    in_place_ = true;
    return;
  }
  // Through a symbolic link, the file it points to is what gets replaced, not the link.
  std::string target = path_;
  char real[PATH_MAX];
  if (lstat(path_.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && realpath(path_.c_str(), real))
    target = real;
  target_path_ = target;
  std::string templ = target + ".tmp-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  {
    SignalBlock block;
    fd_ = mkostemp(buf.data(), O_CLOEXEC);
    if (fd_ < 0) throw system_error("cannot write " + path_);
    temp_path_ = buf.data();
    // Registered by absolute path: a signal handler must not depend on the working directory.
    std::error_code ec;
    std::string absolute = std::filesystem::absolute(temp_path_, ec).string();
    slot_ = spill::CleanupRegistry::add_file(ec ? temp_path_.c_str() : absolute.c_str());
  }
  if (fchmod(fd_, 0666 & ~current_umask()) != 0) fail(errno);
}

OutputFile::~OutputFile() {
  discard();
}

void OutputFile::discard() {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (in_place_) return;
  if (slot_ >= 0)
    spill::CleanupRegistry::remove_file(slot_);
  else
    unlink(temp_path_.c_str());
}

void OutputFile::fail(int err) {
  discard();
  throw system_error("cannot write " + path_, err);
}

void OutputFile::write(const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(w < 0 ? errno : ENOSPC);
    data += w;
    n -= static_cast<std::size_t>(w);
    bytes_written_ += static_cast<std::uint64_t>(w);
  }
}

void OutputFile::commit() {
  int fd = fd_;
  fd_ = -1;
  // close() reports the errors of delayed writes (NFS, quotas): a report is whole only if it is 0.
  if (close(fd) != 0) fail(errno);
  if (in_place_) {
    done_ = true;
    return;
  }
  if (std::rename(temp_path_.c_str(), target_path_.c_str()) != 0) fail(errno);
  done_ = true;
  spill::CleanupRegistry::forget_file(slot_);
}

}  // namespace viztrace::report
