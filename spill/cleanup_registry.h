// What to remove when viztrace ends, in whatever way it ends.
//
// One process-wide registry shared by three guards: SessionDir's destructor (normal and exception
// paths), an atexit hook, and the signal handlers. Everything here is async-signal-safe: the
// registry lives in static storage, holds open directory fds and fixed-size paths, and sweeping
// uses only unlinkat/rmdir/close.
#pragma once

#include <cstdint>

namespace viztrace::spill {

class CleanupRegistry {
 public:
  static constexpr int kMaxDirs = 4;
  static constexpr int kMaxFiles = 4;

  // A session dir whose entries are "fifo", "wake", "hello", maybe "shim.so", and the spill
  // segments 0..segments-1. Returns a slot for the calls below, or -1 when full.
  static int add_dir(int dir_fd, const char* path);
  static void set_segments(int slot, std::uint32_t segments);
  // After either of these the slot is free for another session: forget its number.
  static void keep_dir(int slot);   // --keep-temp: leave it in place
  static void sweep_dir(int slot);  // remove the dir's known entries, then the dir

  // A file outside any session dir (the report's temporary name). Returns a slot or -1.
  static int add_file(const char* path);
  static void remove_file(int slot);  // unlink it (if it still exists) and forget it
  static void forget_file(int slot);  // it was renamed into place: keep it, forget it

  // Sweeps everything registered. Async-signal-safe; used by the handlers and the atexit hook.
  static void sweep_all();

  // Installs the atexit hook once.
  static void install_atexit();
};

}  // namespace viztrace::spill
