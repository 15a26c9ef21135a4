// The shim's end of the session FIFO.
//
// No descriptor of the shim stays open in the program: a program that lists its fds
// (/proc/self/fd, close_range, a sandbox that refuses unknown ones) must see what it sees
// untraced. So the FIFO is opened by path for each emission and closed at its end; a write is
// a few records that belong together, so that costs an open and a close per emission.
// Read-write: a pipe with a reader never raises SIGPIPE, and here the writer itself is one, so
// no write can ever signal the program even when viztrace is gone. Non-blocking: when the pipe
// is full the writer asks whether a collector still holds the session's lock (flock on the
// session dir) and waits, boundedly, only if one does. Close-on-exec; and a fork in another
// thread while one is open is caught by the fork hook, which closes it in the child.
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "common/wire.h"

namespace vt_shim {

// Open only within one emission.
struct Channel {
  int fd = -1;
};

// Opens the FIFO at path into ch when it is one. False if it cannot (no session, not a FIFO).
bool channel_open(Channel& ch, const char* path) noexcept;
// Closes ch if open.
void channel_close(Channel& ch) noexcept;
// Read by the fork hook before it forks, for channel_close_inherited.
unsigned long channel_activity() noexcept;
// In a fork child: closes the channels other threads of the parent had open at the fork,
// also one that was being opened or closed meanwhile (found by the FIFO at fifo_path).
void channel_close_inherited(const char* fifo_path, unsigned long before_fork) noexcept;

enum class WriteResult { kSent, kFull, kGone };

// Writes one chunk atomically, opening ch at path first if needed. When the pipe is full,
// waits at most wait_ms for room if the collector is alive. kGone: no collector any more (or
// the FIFO cannot be opened), so writing again is pointless.
WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept;

// Sends hello to the session's hello socket, beside the FIFO at fifo_path (socket, sendto and
// close; through /proc/self/fd of the session dir when the path is too long for a socket
// address). When the collector's queue is full, waits at most wait_ms. True when sent.
bool channel_hello(const char* fifo_path, const vt_hello& hello, int wait_ms) noexcept;

// Whether a collector holds the lock on the directory that contains path.
bool collector_alive(const char* path) noexcept;

}  // namespace vt_shim
