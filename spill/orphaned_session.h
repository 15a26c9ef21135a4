// A session dir whose viztrace is gone (killed by SIGKILL, power loss): its flock is free.
// Also a dir whose viztrace was killed while creating it, once it is old enough (SessionDir).
//
// Claiming takes that lock, so two sweepers (or a sweeper and `viztrace recover`) never work on
// the same dir, and a live session's dir can never be claimed. Sweeping removes the entries
// inside the claimed dir through its fd, never following a symbolic link and never descending
// into a directory, then the dir itself.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace viztrace::spill {

class OrphanedSession {
 public:
  enum class Kind {
    session,     // "viztrace-XXXXXX"
    kept,        // "viztrace-kept-XXXXXX", left by --keep-temp
    unfinished,  // "viztrace-new-XXXXXX", its creation cut short
  };
  // Names in temp_root of dirs of that kind.
  static std::vector<std::string> candidates(const std::string& temp_root, Kind kind);
  // Locks temp_root/name if it is a session dir of this user whose owner is gone.
  static std::optional<OrphanedSession> claim(const std::string& temp_root,
                                              const std::string& name);
  // Every dir of that kind in temp_root that can be claimed, newest first; unfinished ones only
  // when SessionDir::kUnfinishedSweepSeconds old, so that none being created is taken.
  static std::vector<OrphanedSession> claim_all(const std::string& temp_root,
                                                Kind kind = Kind::session);

  OrphanedSession(OrphanedSession&& other) noexcept;
  OrphanedSession& operator=(OrphanedSession&& other) noexcept;
  OrphanedSession(const OrphanedSession&) = delete;
  ~OrphanedSession();  // releases the lock

  const std::string& path() const { return path_; }
  std::time_t modified() const { return modified_; }
  bool has_spill() const;
  // Number of entries in the dir.
  std::size_t entries() const;
  // Removes the dir's entries and the dir. False, with what was left in *problem, when
  // something could not be removed (a directory planted inside it, say).
  bool sweep(std::string* problem = nullptr);

 private:
  OrphanedSession(std::string root, std::string name, int root_fd, int fd, std::time_t modified)
      : root_(std::move(root)), name_(std::move(name)), path_(root_ + "/" + name_),
        root_fd_(root_fd), fd_(fd), modified_(modified) {}
  std::string root_, name_, path_;
  int root_fd_ = -1, fd_ = -1;
  std::time_t modified_ = 0;
};

}  // namespace viztrace::spill
