#include "core/collector.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fault_injection.h"
#include "common/exe_probe.h"
#include "core/signal_guard.h"
#include "spdlog/spdlog.h"
#include "spill/spill_format.h"

namespace viztrace {
namespace {

constexpr std::size_t kReadBytes = 1u << 20;
constexpr int kScanIntervalMs = 1;
// The FIFO is drained on a timer rather than on every write: a write into a pipe nobody waits
// on wakes no one, which is what keeps the cost per traced process low. Only while chunks pour
// in faster than that does the loop wait on the FIFO itself.
constexpr int kDrainIntervalMs = 2;
constexpr std::size_t kHotDrainBytes = 64u << 10;
// After an interrupt, how long the command may take to end before viztrace says it still runs.
constexpr std::uint64_t kStillRunningNs = 1'000'000'000;
// While function rings exist: how often they are emptied, and how often the TSC is sampled.
constexpr int kRingIntervalMs = 1;
// A pass that moved this many records means threads are writing fast: go again at once.
constexpr std::uint64_t kHotRingRecords = 16384;
constexpr std::uint64_t kClockIntervalNs = 250'000'000;
// A detached process's argv, kept to tell its next exec by: a prefix is enough.
constexpr std::size_t kMaxBaselineArgv = 64u << 10;

vt_usage usage_of(const struct rusage& ru) {
  vt_usage u;
  u.utime_ns = static_cast<std::uint64_t>(ru.ru_utime.tv_sec) * 1000000000ull +
               static_cast<std::uint64_t>(ru.ru_utime.tv_usec) * 1000ull;
  u.stime_ns = static_cast<std::uint64_t>(ru.ru_stime.tv_sec) * 1000000000ull +
               static_cast<std::uint64_t>(ru.ru_stime.tv_usec) * 1000ull;
  u.maxrss_kb = static_cast<std::uint64_t>(ru.ru_maxrss);
  return u;
}

std::uint32_t own_image() {
  return static_cast<std::uint32_t>(monotonic_ns()) | 1u;
}

}  // namespace

Collector::Collector(int fifo_fd, spill::SpillWriter& spill, CollectorOptions options)
    : fifo_fd_(fifo_fd),
      spill_(spill),
      options_(options),
      self_(getpid()),
      own_(static_cast<std::uint32_t>(self_), static_cast<std::uint32_t>(self_), own_image(),
           VT_CHUNK_COLLECTOR),
      buffer_(std::make_unique_for_overwrite<unsigned char[]>(kReadBytes + VT_CHUNK_MAX)) {
  watcher_ = std::make_unique<ProcWatcher>(
      [this](const ProcWatcher::Observed& o) {
        own_.string(VT_STR_ARGV, o.argv, o.ts);
        own_.string(VT_STR_EXE, o.exe, o.ts);
        const std::uint32_t aux =
            (o.exec ? uint32_t{VT_OBSERVED_EXEC} : 0u) | (o.fork ? uint32_t{VT_OBSERVED_FORK} : 0u);
        own_.record(VT_REC_OBSERVED, aux, o.ts, vt_observed{o.pid, o.ppid});
        spdlog::debug("observed pid {} (parent {})", o.pid, o.ppid);
      },
      [this](const ProcWatcher::Ended& e) {
        own_.record(VT_REC_ENDED, 0, e.ts, vt_ended{e.pid, e.status});
      });
  // Before the command starts: its execs are then known, should it switch users later.
  watcher_->listen();
  if (options_.session_dir_fd >= 0)
    rings_ = std::make_unique<FnRings>(options_.session_dir_fd, spill_);
  // Orphaned descendants are re-parented to us, so we see how every one of them ends.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

void Collector::begin(const std::vector<std::string>& command, const std::string& cwd) {
  start_ns_ = monotonic_ns();
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  start_realtime_ns_ = static_cast<std::uint64_t>(rt.tv_sec) * 1000000000ull +
                       static_cast<std::uint64_t>(rt.tv_nsec);
  command_argv_.clear();
  for (const auto& a : command) command_argv_.append(a).push_back('\0');
  cwd_ = cwd;
}

// Our own records go to disk at once: if viztrace is killed, `viztrace recover` finds them.
void Collector::emit_own() {
  auto chunks = own_.take();
  if (chunks.empty()) return;
  for (auto& chunk : chunks) spill_.append(chunk.data(), chunk.size());
  spill_.flush();
}

// The flags of an executable the shim left to us (VT_EXE_UNPROBED), from the path the stream
// sent with its record.
std::uint32_t Collector::probe_for(const StreamKey& key) {
  auto it = paths_.find(key);
  if (it == paths_.end() || !it->second.complete || it->second.text.empty() ||
      it->second.text[0] != '/')
    return VT_EXE_UNREADABLE;
  return vt_shim::probe_exe(AT_FDCWD, it->second.text.c_str());
}

// Looks inside lifecycle records for what the collector must act on: processes that the shim
// cannot enter (their children are watched through /proc instead), and executables the shim
// left for us to probe (their flags are written into the record before it is spilled).
void Collector::inspect_records(unsigned char* p, const vt_chunk_header& h,
                                const PidNamespaces::Original& original) {
  const StreamKey key{h.pid, h.tid, h.image};
  for (std::size_t off = sizeof h; off < h.length;) {
    vt_record r;
    std::memcpy(&r, p + off, sizeof r);
    const unsigned char* body = p + off + sizeof r;
    if (r.type == VT_REC_STRING) {
      if (VT_STR_FIELD(r.aux) == VT_STR_ARGV) {
        std::size_t n = std::min<std::size_t>(VT_STR_LEN(r.aux), r.size - sizeof r);
        std::string& argv = paths_[key].argv;
        if (argv.size() < kMaxBaselineArgv) argv.append(reinterpret_cast<const char*>(body), n);
      } else if (VT_STR_FIELD(r.aux) == VT_STR_PATH) {
        PendingPath& path = paths_[key];
        if (path.complete) path = PendingPath{};
        std::size_t n = std::min<std::size_t>(VT_STR_LEN(r.aux), r.size - sizeof r);
        path.text.append(reinterpret_cast<const char*>(body), n);
        path.complete = VT_STR_IS_FINAL(r.aux);
      }
      off += r.size;
      continue;
    }
    if ((r.type == VT_REC_EXEC || r.type == VT_REC_SPAWN) && (r.aux & VT_EXE_UNPROBED)) {
      r.aux = probe_for(key);
      std::memcpy(p + off, &r, sizeof r);
    }
    if (r.type == VT_REC_DETACHED) {
      // It can no longer say what it does: follow it, its execs and its descendants.
      auto it = paths_.find(key);
      watcher_->watch_subtree(static_cast<pid_t>(h.pid), r.ts, false,
                              it == paths_.end() ? "" : it->second.argv);
      ++result_.stats.detached;
    }
    paths_.erase(key);  // strings belong to the record that follows them
    // A process that announced itself is traced: no need to observe it from outside.
    if (r.type == VT_REC_PROC_START) watcher_->announced(static_cast<pid_t>(h.pid));
    if (r.type == VT_REC_FN_RING && (r.aux & VT_FN_RING_NO_SPACE)) {
      ++result_.stats.no_space_threads;
    } else if (r.type == VT_REC_FN_RING && rings_) {
      // A second (TSC, CLOCK_MONOTONIC) pair early on: a session killed before the periodic
      // one still has two to map ticks with.
      if (rings_->stats().rings == 0) sample_clock();
      rings_->add(original.pid, original.tid, h.image, h.pid, h.tid);
    } else if (r.type == VT_REC_PROC_START && (r.aux & VT_PROC_GO)) {
      watcher_->watch_children(static_cast<pid_t>(h.pid), r.ts);
    } else if (r.type == VT_REC_EXEC && (r.aux & VT_EXE_SETUID)) {
      // The loader drops LD_PRELOAD from its environment: no descendant loads the shim.
      watcher_->watch_subtree(static_cast<pid_t>(h.pid), r.ts, true);
    } else if (r.type == VT_REC_EXEC && (r.aux & (VT_EXE_SHIMLESS | VT_EXE_GO))) {
      watcher_->watch_children(static_cast<pid_t>(h.pid), r.ts);
    } else if (r.type == VT_REC_SPAWN && (r.aux & (VT_EXE_SHIMLESS | VT_EXE_GO)) &&
               r.size >= sizeof r + sizeof(vt_spawn)) {
      vt_spawn s;
      std::memcpy(&s, body, sizeof s);
      if (s.pid > 0 && (r.aux & VT_EXE_SETUID))
        watcher_->watch_subtree(s.pid, r.ts, true);
      else if (s.pid > 0)
        watcher_->watch_children(s.pid, r.ts);
    }
    off += r.size;
  }
}

void Collector::drain_hellos() {
  if (options_.hello_fd < 0) return;
  // Bounded, so that processes that never stop starting cannot hold the loop.
  for (int i = 0; i < 4096; ++i) {
    vt_hello hello;
    iovec iov = {&hello, sizeof hello};
    alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(options_.hello_fd, &msg, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    // The sender, as our namespace numbers it: the kernel's word.
    pid_t sender = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      }
    if (n != sizeof hello || hello.magic != VT_WIRE_MAGIC || hello.version != VT_WIRE_VERSION ||
        sender <= 0) {
      spdlog::debug("a malformed hello ({} bytes from pid {})", n, sender);
      continue;
    }
    any_hello_ = true;
    senders_[std::uint64_t{hello.pid} << 32 | hello.image] = static_cast<std::uint32_t>(sender);
  }
}

std::uint32_t Collector::sender_of(const unsigned char* p) {
  vt_chunk_header h;
  std::memcpy(&h, p, sizeof h);
  if (!any_hello_) return h.pid;
  const std::uint64_t key = std::uint64_t{h.pid} << 32 | h.image;
  auto it = senders_.find(key);
  if (it == senders_.end()) {
    // A hello is sent before the first chunk of its image: one not taken yet is queued now.
    drain_hellos();
    it = senders_.find(key);
    if (it == senders_.end()) it = senders_.emplace(key, 0).first;
  }
  return it->second ? it->second : h.pid;
}

void Collector::take_chunk(unsigned char* p) {
  const PidNamespaces::Original original = namespaces_.translate(p, sender_of(p));
  vt_chunk_header h;
  std::memcpy(&h, p, sizeof h);
  vt_stats& st = result_.stats;
  ++st.chunks;
  st.records += h.nrec;
  st.dropped_records += h.dropped;
  if (!(h.flags & VT_CHUNK_UNSEQUENCED)) {
    StreamKey key{h.pid, h.tid, h.image};
    auto it = next_seq_.find(key);
    std::uint32_t expected = it == next_seq_.end() ? 0 : it->second;
    if (h.seq > expected) st.seq_gaps += h.seq - expected;
    if (h.flags & VT_CHUNK_STREAM_END) {
      if (it != next_seq_.end()) next_seq_.erase(it);
    } else if (it == next_seq_.end()) {
      next_seq_.emplace(key, h.seq + 1);
    } else {
      it->second = h.seq + 1;
    }
  }
  inspect_records(p, h, original);
  spill_.append(p, h.length);
}

bool Collector::drain_fifo() {
  bool any = false;
  last_drain_bytes_ = 0;
  // Bounded, so a process that never stops writing cannot hold the loop.
  for (int reads = 0; reads < 64; ++reads) {
    ssize_t n = read(fifo_fd_, buffer_.get() + buffered_, kReadBytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    any = true;
    buffered_ += static_cast<std::size_t>(n);
    last_drain_bytes_ += static_cast<std::size_t>(n);
    // Writers send whole chunks atomically, but a read can end inside one: keep the tail.
    std::size_t off = 0;
    vt_stats& st = result_.stats;
    while (buffered_ - off >= sizeof(vt_chunk_header)) {
      unsigned char* p = buffer_.get() + off;
      vt_chunk_header h;
      std::memcpy(&h, p, sizeof h);
      if (spill::valid_chunk_header(h) && h.length > buffered_ - off) break;  // rest to come
      // Only viztrace writes collector chunks: one from the FIFO is forged, so it is garbage.
      // Function chunks are made by viztrace from the rings, never sent through the FIFO.
      if (spill::valid_chunk(p, buffered_ - off) && !(h.flags & VT_CHUNK_COLLECTOR) &&
          h.kind == VT_KIND_RECORDS) {
        take_chunk(p);
        off += h.length;
        continue;
      }
      // Garbage: skip to the next byte that could start a chunk.
      ++st.bad_chunks;
      std::size_t skip = 1;
      while (off + skip + 4 <= buffered_ && std::memcmp(p + skip, "\x56\x5a\x54\x31", 4) != 0)
        ++skip;
      st.bad_bytes += skip;
      off += skip;
    }
    std::memmove(buffer_.get(), buffer_.get() + off, buffered_ - off);
    buffered_ -= off;
    if (static_cast<std::size_t>(n) < kReadBytes) break;  // the pipe is empty for now
  }
  if (any) spill_.flush();
  return any;
}

// A (TSC, CLOCK_MONOTONIC) pair: the report maps the TSC ticks of function records with them.
void Collector::sample_clock() {
  std::uint64_t tsc = 0, mono = 0;
  if (!options_.tsc || !sample_tsc(tsc, mono)) return;
  own_.record(VT_REC_CLOCK, 0, mono, vt_clock{tsc});
  last_clock_ns_ = mono;
}

void Collector::reap_children(std::uint64_t now) {
  for (;;) {
    int status = 0;
    struct rusage ru;
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) break;
    vt_reap r = {};
    r.pid = pid;
    r.has_usage = 1;
    r.usage = usage_of(ru);
    own_.record(VT_REC_REAP, static_cast<std::uint32_t>(status), now, r);
    if (pid == target_.pid) {
      result_.target_status = status;
      result_.target_reaped = true;
      target_end_ns_ = now;
      spdlog::debug("target {} ended, status {:#x}", pid, status);
    }
  }
}

void Collector::handle_signal(int sig, bool from_process, std::uint64_t now) {
  if (sig == SIGCHLD) return;
  int n = ++result_.interrupts;
  if (n == 1) first_interrupt_ns_ = now;
  pid_t to = 0;
  if (result_.target_reaped) {
    // Only descendants are left; the loop stops waiting for them.
  } else if (n == 1) {
    // A terminal sends SIGINT/SIGQUIT to the whole foreground group: the target has it already.
    // Anything sent to viztrace alone (kill, a CI runner cancelling) is passed on.
    bool from_terminal = (sig == SIGINT || sig == SIGQUIT) && !from_process;
    if (!from_terminal) {
      to = target_.pid;
      kill(to, sig);
    }
  } else {
    // The target did not stop: escalate, so nobody is ever trapped.
    to = target_.pid;
    int next = n == 2 ? SIGTERM : SIGKILL;
    kill(to, next);
    std::fprintf(stderr, "viztrace: %s again: sent %s to %s (pid %d)\n", strsignal(sig),
                 next == SIGTERM ? "SIGTERM" : "SIGKILL", target_.path.c_str(), to);
  }
  own_.record(VT_REC_SIGNAL, static_cast<std::uint32_t>(sig), now, vt_pid{to, 0});
}

CollectorResult Collector::run(const Launched& target) {
  target_ = target;
  std::uint64_t now = 0;
  own_.string(VT_STR_COMMAND, command_argv_, start_ns_);
  own_.string(VT_STR_CWD, cwd_, start_ns_);
  own_.record(VT_REC_SESSION, 0, start_ns_,
              vt_session{start_realtime_ns_, target.pid, static_cast<std::int32_t>(self_)});
  // The target was launched by viztrace itself: record it like a spawn by us.
  own_.string(VT_STR_PATH, target.path, target.ts);
  own_.string(VT_STR_ARGV, command_argv_, target.ts);
  own_.record(VT_REC_SPAWN, target.exe_flags, target.ts, vt_spawn{target.pid, 0});
  if (target.exe_flags & VT_EXE_SETUID)
    watcher_->watch_subtree(target.pid, target.ts, true);
  else if (target.exe_flags & (VT_EXE_SHIMLESS | VT_EXE_GO))
    watcher_->watch_children(target.pid);
  sample_clock();
  emit_own();

  std::vector<pollfd> fds;
  for (;;) {
    now = monotonic_ns();
    reap_children(now);
    bool children_left = true;
    if (result_.target_reaped) {
      inject_fault("collect");  // once the command has ended: a point the tests control
      // Anything we can still wait for? (Orphans are our children: we are the subreaper.)
      siginfo_t info = {};
      children_left = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
      // After an interrupt the user wants the prompt back: stragglers are not waited for.
      if (result_.interrupts > 0) options_.linger_ns = 0;
      if (!children_left || now - target_end_ns_ >= options_.linger_ns) break;
    }
    bool hot = last_drain_bytes_ >= kHotDrainBytes;
    fds.clear();
    fds.push_back({hot ? fifo_fd_ : -1, POLLIN, 0});
    fds.push_back({SignalGuard::wakeup_fd(), POLLIN, 0});
    fds.push_back({options_.wake_fd, POLLIN, 0});   // poll ignores a negative fd
    fds.push_back({options_.hello_fd, POLLIN, 0});  // a sender may wait for room
    Sampler* sampler = options_.sampler && options_.sampler->active() ? options_.sampler : nullptr;
    if (sampler) sampler->add_pollfds(fds);
    const std::size_t watched = fds.size();
    watcher_->add_pollfds(fds);
    int timeout = watcher_->scanning() ? kScanIntervalMs : kDrainIntervalMs;
    if (rings_ && !rings_->empty()) timeout = rings_hot_ ? 0 : kRingIntervalMs;
    if (first_interrupt_ns_ && !result_.target_reaped && !told_still_running_ &&
        now - first_interrupt_ns_ >= kStillRunningNs) {
      // Interrupted, but the command goes on: say how to stop it.
      std::fprintf(stderr,
                   "viztrace: %s (pid %d) is still running; interrupt again to send it "
                   "SIGTERM\n",
                   target_.path.c_str(), target_.pid);
      told_still_running_ = true;
    }
    if (result_.target_reaped) {
      std::uint64_t left = options_.linger_ns - (now - target_end_ns_);
      int ms = static_cast<int>(left / 1'000'000) + 1;
      timeout = std::min(timeout, ms);
    }
    int n = poll(fds.data(), fds.size(), timeout);
    now = monotonic_ns();
    if (n < 0 && errno != EINTR) break;
    if (fds[2].revents) {  // a full ring: taken below, with the FIFO that announced it
      char bytes[256];
      while (read(options_.wake_fd, bytes, sizeof bytes) > 0) {
      }
    }
    if (fds[3].revents) drain_hellos();  // before the chunks they announce
    drain_fifo();
    if (rings_ && !rings_->empty()) {
      rings_hot_ = rings_->drain() >= kHotRingRecords;
      if (now - last_clock_ns_ >= kClockIntervalNs) sample_clock();
    }
    if (fds[1].revents) {
      SignalGuard::Received sigs[64];
      int k = SignalGuard::take(sigs, 64);
      for (int i = 0; i < k; ++i) handle_signal(sigs[i].signal, sigs[i].from_process, now);
    }
    if (sampler) sampler->drain();
    for (std::size_t i = watched; i < fds.size(); ++i)
      if (fds[i].revents) watcher_->on_ready(fds[i].fd, now);
    if (watcher_->scanning()) watcher_->scan(now);
    emit_own();
  }

  // Every writer that is gone wrote before it went: drain what is left.
  drain_hellos();
  drain_fifo();
  watcher_->finish();
  if (rings_) {
    rings_->finish();
    const RingStats& rs = rings_->stats();
    result_.stats.fn_records = rs.records;
    result_.stats.fn_waited_ns = rs.waited_ns;
    result_.stats.no_space_records = rs.no_space;
    result_.stats.dropped_records += rs.dropped;
    if (rs.rings) sample_clock();
  }
  if (options_.sampler) {
    options_.sampler->finish();
    result_.stats.samples = options_.sampler->stats().samples;
    result_.stats.samples_lost = options_.sampler->stats().lost;
  }
  result_.stats.bad_bytes += buffered_;
  result_.lingering = children_of(self_).size();
  spill_.flush();
  result_.stats.spill_lost = spill_.lost_chunks();
  struct rusage self_usage;
  getrusage(RUSAGE_SELF, &self_usage);
  vt_usage cpu = usage_of(self_usage);
  spdlog::debug("collector: {} chunks, {} records, {:.1f} ms CPU, {} spill bytes",
                result_.stats.chunks, result_.stats.records, (cpu.utime_ns + cpu.stime_ns) / 1e6,
                spill_.bytes_written());
  own_.record(VT_REC_STATS, 0, monotonic_ns(), result_.stats);
  own_.end_stream();
  emit_own();
  spill_.flush();
  return result_;
}

}  // namespace viztrace
