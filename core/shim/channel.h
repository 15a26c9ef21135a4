// The shim's end of the session FIFO.
//
// Opened by path (not inherited), read-write so that a write can never raise SIGPIPE even when
// viztrace is gone, non-blocking so that a stuck collector costs a bounded wait, close-on-exec,
// and moved to a high fd number out of the program's way. Before every write the fd is checked
// to still be our FIFO: programs close or reuse fds behind our back.
#pragma once

#include <stddef.h>
#include <sys/types.h>

namespace vt_shim {

struct Channel {
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
};

// Opens the FIFO at path into ch. False if it cannot (no session, not a FIFO).
bool channel_open(Channel& ch, const char* path) noexcept;
// Writes one chunk atomically. Waits at most wait_ms for room in the pipe; false if not sent.
bool channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                   int wait_ms) noexcept;

}  // namespace vt_shim
