// The private directory of one tracing session: "$TMPDIR/viztrace-XXXXXX", mode 0700, holding the
// FIFO and the spill segments. The session keeps an exclusive flock on the dir for its whole life,
// so a later start can tell a dead session's dir (lock free) from a live one and sweep it.
//
// A dir cannot be made locked: it is made as "viztrace-new-XXXXXX", a name sweeps leave alone
// while it is young, locked, and only then renamed to its session name. So no session dir is
// ever seen unlocked, and a viztrace killed in between leaves a "new" dir that ages into a sweep.
#pragma once

#include <cstdint>
#include <string>

namespace viztrace::spill {

// Where spill segments go: a dir fd, told each time the number of segments grows (a SessionDir
// tells its cleanup guards).
class SegmentDir {
 public:
  virtual int fd() const = 0;
  virtual void set_segments(std::uint32_t segments) = 0;

 protected:
  SegmentDir() = default;
  SegmentDir(const SegmentDir&) = default;
  ~SegmentDir() = default;
};

class SessionDir final : public SegmentDir {
 public:
  // Names in the temp root, each followed by mkdtemp's six characters.
  static constexpr const char* kSessionPrefix = "viztrace-";
  static constexpr const char* kUnfinishedPrefix = "viztrace-new-";  // being created
  static constexpr const char* kKeptPrefix = "viztrace-kept-";       // --keep-temp
  // An unfinished dir this much older than now cannot be one that a live viztrace is creating.
  static constexpr int kUnfinishedSweepSeconds = 60;

  // Creates, locks and registers a new session dir under temp_root. Throws viztrace::Error
  // naming the temp root and the reason (missing, read-only, full, ...).
  static SessionDir create(const std::string& temp_root);

  SessionDir(SessionDir&& other) noexcept;
  SessionDir& operator=(SessionDir&&) = delete;
  SessionDir(const SessionDir&) = delete;
  ~SessionDir();  // sweeps unless kept

  const std::string& path() const { return path_; }
  std::string fifo_path() const { return path_ + "/fifo"; }
  // A thread whose function ring is full writes a byte here to wake viztrace at once.
  std::string wake_path() const { return path_ + "/wake"; }
  int fd() const override { return fd_; }

  // Makes the FIFO the traced processes write into and the wake FIFO (mode 0600).
  void make_fifo();
  // Makes the socket processes in other PID namespaces say hello to (VT_HELLO_NAME, mode
  // 0600, passing on each sender's credentials). Returns it (non-blocking, close-on-exec).
  int make_hello_socket();
  // Makes "shim.so" in the dir a symbolic link to target; returns the link's path.
  std::string link_shim(const std::string& target);
  // Tells the cleanup guards how many spill segments exist.
  void set_segments(std::uint32_t segments) override;
  // Leaves the dir in place at the end (--keep-temp), renamed "viztrace-kept-XXXXXX" so that
  // no later start sweeps it as an orphan. Returns where it is now.
  std::string keep();
  // Removes the FIFO, the segments and the dir; idempotent.
  void sweep();

  // The temp root: $TMPDIR, or /tmp when unset or empty.
  static std::string default_temp_root();

 private:
  SessionDir(std::string path, int fd, int slot) : path_(std::move(path)), fd_(fd), slot_(slot) {}
  std::string path_;
  int fd_ = -1;
  int slot_ = -1;
};

}  // namespace viztrace::spill
