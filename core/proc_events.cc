#include "core/proc_events.h"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace viztrace {
namespace {

// The receive buffer: a build forks thousands of processes a second, system-wide.
constexpr int kReceiveBytes = 8 << 20;

}  // namespace

ProcEvents::~ProcEvents() {
  if (fd_ >= 0) ::close(fd_);
}

bool ProcEvents::open() {
  if (fd_ >= 0) return true;
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
  if (fd < 0) return false;
  sockaddr_nl addr = {};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return false;
  }
  int bytes = kReceiveBytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  // A netlink header, a connector message, and the operation as its payload.
  alignas(
      nlmsghdr) unsigned char request[NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))] = {};
  auto* header = reinterpret_cast<nlmsghdr*>(request);
  header->nlmsg_len = sizeof request;
  header->nlmsg_type = NLMSG_DONE;
  header->nlmsg_pid = static_cast<__u32>(getpid());
  auto* message = static_cast<cn_msg*>(NLMSG_DATA(header));
  message->id.idx = CN_IDX_PROC;
  message->id.val = CN_VAL_PROC;
  message->len = sizeof(proc_cn_mcast_op);
  const proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
  std::memcpy(message->data, &op, sizeof op);
  if (::send(fd, request, sizeof request, 0) != static_cast<ssize_t>(sizeof request)) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return false;
  }
  fd_ = fd;
  return true;
}

int ProcEvents::drain(const std::function<void(const Event&)>& fn) {
  int dropped = 0;
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      dropped = 1;
      continue;
    }
    if (n <= 0) break;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_NOOP) continue;
      auto* message = static_cast<cn_msg*>(NLMSG_DATA(h));
      if (message->id.idx != CN_IDX_PROC || message->len < sizeof(proc_event)) continue;
      proc_event ev;
      std::memcpy(&ev, message->data, sizeof ev);
      Event out = {};
      out.ts = ev.timestamp_ns;
      switch (ev.what) {
        case proc_event::PROC_EVENT_FORK:
          if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid) continue;  // thread
          out.kind = Event::Kind::fork;
          out.pid = ev.event_data.fork.child_tgid;
          out.parent = ev.event_data.fork.parent_tgid;
          break;
        case proc_event::PROC_EVENT_EXEC:
          out.kind = Event::Kind::exec;
          out.pid = ev.event_data.exec.process_tgid;
          break;
        case proc_event::PROC_EVENT_EXIT:
          if (ev.event_data.exit.process_pid != ev.event_data.exit.process_tgid) continue;
          out.kind = Event::Kind::exit;
          out.pid = ev.event_data.exit.process_tgid;
          out.status = static_cast<int>(ev.event_data.exit.exit_code);
          break;
        default:
          continue;
      }
      fn(out);
    }
  }
  return dropped;
}

}  // namespace viztrace
