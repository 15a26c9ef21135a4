// A session dir whose viztrace is gone (killed by SIGKILL, power loss): its flock is free.
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
  // Names in temp_root that look like session dirs ("viztrace-XXXXXX"), or with kept=true
  // the dirs --keep-temp left ("viztrace-kept-XXXXXX").
  static std::vector<std::string> candidates(const std::string& temp_root, bool kept = false);
  // Locks temp_root/name if it is a session dir of this user whose owner is gone.
  static std::optional<OrphanedSession> claim(const std::string& temp_root,
                                              const std::string& name);
  // Every session dir in temp_root that can be claimed, newest first.
  static std::vector<OrphanedSession> claim_all(const std::string& temp_root, bool kept = false);

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
