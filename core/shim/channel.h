// The shim's end of the session FIFO.
//
// Opened by path (not inherited), write-only and non-blocking: opening fails at once when no
// collector reads (ENXIO), a write fails at once when the collector is gone (EPIPE; the SIGPIPE
// that comes with it is blocked around the write and taken back, so the program never sees
// one), and a full pipe costs a bounded wait. Close-on-exec, and moved to a high fd number out
// of the program's way. Before every write the fd is checked to still be our FIFO: programs
// close or reuse fds behind our back.
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
enum class WriteResult { kSent, kFull, kGone };

// Writes one chunk atomically. Waits at most wait_ms for room in the pipe. kGone: no collector
// reads any more (or the FIFO cannot be reopened), so writing again is pointless.
WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                   int wait_ms) noexcept;

}  // namespace vt_shim
