// The shim's end of the session FIFO.
//
// Opened by path (not inherited), read-write: a pipe with a reader never raises SIGPIPE, and
// here the writer itself is one, so no write can ever signal the program even when viztrace is
// gone. Non-blocking: when the pipe is full the writer asks whether a collector still holds the
// session's lock (flock on the session dir) and waits, boundedly, only if one does.
// Close-on-exec, and moved to a high fd number out of the program's way. Before every write the
// fd is checked to still be our FIFO (programs close or reuse fds behind our back), except the
// first one right after opening it, when no program code has run in between.
#pragma once

#include <stddef.h>
#include <sys/types.h>

namespace vt_shim {

struct Channel {
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  bool fresh = false;  // opened, not written to yet
};

// Opens the FIFO at path into ch. False if it cannot (no session, not a FIFO).
bool channel_open(Channel& ch, const char* path) noexcept;

enum class WriteResult { kSent, kFull, kGone };

// Writes one chunk atomically. When the pipe is full, waits at most wait_ms for room if the
// collector is alive. kGone: no collector any more (or the FIFO cannot be reopened), so writing
// again is pointless.
WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept;

// Whether a collector holds the lock on the directory that contains path.
bool collector_alive(const char* path) noexcept;

}  // namespace vt_shim
