// The shim's end of the session socket.
//
// The session's channel is a unix datagram socket that the collector binds in the session dir:
// the kernel tells the collector which process sent each chunk, as a pid of viztrace's own
// namespace, which is how processes inside PID namespaces are recorded under their real pids.
// No descriptor of the shim stays open in the program: a program that lists its fds
// (/proc/self/fd, close_range, a sandbox that refuses unknown ones) must see what it sees
// untraced. So a socket is made for each emission and closed at its end, and chunks are sent to
// the session's path (socket, sendto and close: as many calls as opening a FIFO, writing and
// closing it). A session path too long for a socket address is reached through the session
// dir, opened for the emission, as /proc/self/fd/N/socket. A chunk is one datagram. A send never
// raises SIGPIPE (MSG_NOSIGNAL) and never blocks while there is room; when the collector's queue is
// full the sender wakes it through the session's wake FIFO and waits, boundedly. A collector that
// has gone away refuses the send (ECONNREFUSED), so nobody ever waits for it. Close-on-exec; and a
// fork in another thread while one is open is caught by the fork hook, which closes it in the
// child.
#pragma once

#include <stddef.h>
#include <sys/types.h>

namespace vt_shim {

// Open only within one emission.
struct Channel {
  int fd = -1;
  int dir_fd = -1;  // the session dir, when its path is too long for a socket address
};

// Makes the socket of ch. False if it cannot.
bool channel_open(Channel& ch) noexcept;
// Closes ch if open.
void channel_close(Channel& ch) noexcept;
// In a fork child: closes the channels other threads of the parent had open at the fork.
void channel_close_inherited() noexcept;

enum class WriteResult { kSent, kFull, kGone };

// Sends one chunk to the socket at path, making ch's socket first if needed. When the
// collector's queue is full, waits at most wait_ms for room. kGone: no collector any more (or
// no session socket at path), so sending again is pointless.
WriteResult channel_write(Channel& ch, const char* path, const void* chunk, size_t length,
                          int wait_ms) noexcept;

// Whether a collector holds the lock on the directory that contains path.
bool collector_alive(const char* path) noexcept;

}  // namespace vt_shim
