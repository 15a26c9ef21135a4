#include "shim/tracer.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim/channel.h"
#include "common/exe_probe.h"
#include "shim/functions.h"
#include "shim/sampling.h"
#include "shim/state.h"
#include "common/sys.h"
#include "shim/decimal.h"
#include "common/wire.h"

namespace vt_shim {

// Constant-initialized: a dynamic initializer would run after shim_init (same TU, later in
// .init_array) and wipe the state it set up.
constinit ShimState g_state{};

namespace {

// How long a lifecycle record may wait for room in a full pipe before it is dropped.
constexpr int kWaitMs = 2000;
// Lifecycle chunks are built on the stack: 1 KiB holds a typical process start whole, and a
// long command line just takes more chunks. (Each stack page a process touches is a fault.)
constexpr size_t kLifecycleChunk = 1024;

constexpr TracerState& g = g_state.head.tracer;
// The environment entries when they do not fit in g_state.text.
char g_long_text[2 * PATH_MAX + 64];

// The calling thread's stream; tid == 0 until first use. Reset in a fork child.
__thread Stream t_stream;
__thread bool t_in_emit;
__thread bool t_named;  // named through name_thread: its kernel name is not read at exit

void debug(const char* what) {
  if (!g.debug) return;
  int saved = errno;
  const char* prefix = "viztrace-shim: ";
  sys::write(2, prefix, strlen(prefix));
  sys::write(2, what, strlen(what));
  sys::write(2, "\n", 1);
  errno = saved;
}

uint32_t make_image_nonce(uint64_t seed, pid_t pid) {
  return vt_image_nonce(seed, static_cast<uint32_t>(pid));
}

pid_t raw_gettid() {
  return static_cast<pid_t>(sys::gettid());
}

bool sink_shared(const void* chunk, size_t length, void* context) {
  WriteResult r = channel_write(*static_cast<Channel*>(context), g.fifo_path, chunk, length,
                                g.stalled ? 0 : kWaitMs);
  if (r == WriteResult::kGone) {
    g.tracing = false;
    debug("the collector is gone; not tracing any more");
  } else if (r == WriteResult::kFull && !g.stalled) {
    g.stalled = true;
    debug("the collector is not draining; dropping records from now on");
  }
  return r == WriteResult::kSent;
}

bool sink_detached(const void* chunk, size_t length, void* context) {
  return channel_write(*static_cast<Channel*>(context), g.fifo_path, chunk, length, kWaitMs) ==
         WriteResult::kSent;
}

// Whether this process runs in another PID namespace than viztrace (one stat). Without /proc,
// or without viztrace's namespace in the environment, it is taken to run in the same.
bool in_other_pid_ns() {
  if (g.pid_ns == 0) return false;
  struct stat st;
  return sys::stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != g.pid_ns;
}

// Before the first chunk of an image in another PID namespace: tells the collector which
// process of its own namespace sends the chunks of (pid, image).
void send_hello(pid_t pid, uint32_t image) {
  const vt_hello hello = {VT_WIRE_MAGIC,
                          VT_WIRE_VERSION,
                          static_cast<uint32_t>(pid),
                          static_cast<uint32_t>(raw_gettid()),
                          image,
                          0};
  if (!channel_hello(g.fifo_path, hello, g.stalled ? 0 : kWaitMs))
    debug("cannot send a hello to the collector");
}

// One emission: picks the context, keeps errno, and flushes when it goes out of scope. The
// FIFO is open only from its first chunk to its end.
class Emission {
 public:
  // known_pid: the caller has just read getpid() itself. opened: a channel to take over.
  explicit Emission(pid_t known_pid = 0, Channel* opened = nullptr) noexcept : saved_errno_(errno) {
    if (opened) {
      channel_ = *opened;
      opened->fd = -1;
    }
    active_ = g.tracing;
    if (!active_) return;
    pid_t pid = known_pid ? known_pid : static_cast<pid_t>(sys::getpid());
    if (pid == g.pid) {
      nested_ = t_in_emit;  // a signal handler interrupted an emission on this thread
      t_in_emit = true;
      if (t_stream.tid == 0) {
        t_stream.pid = static_cast<uint32_t>(pid);
        t_stream.tid = static_cast<uint32_t>(raw_gettid());
        t_stream.image = g.image;
      }
      stream_ = &t_stream;
      writer_.start(t_stream, sink_shared, &channel_, nested_);
    } else {
      // Another process in our memory (vfork child): nothing shared may change.
      detached_ = true;
      local_.pid = static_cast<uint32_t>(pid);
      local_.tid = static_cast<uint32_t>(pid);  // a new process has one thread: tid == pid
      local_.image = make_image_nonce(g.image, pid);
      // Nothing records that it said hello already, so it says it on each emission: in its
      // parent's namespace when that is another, or as the init of a new one (a raw clone
      // with CLONE_NEWPID, as bubblewrap makes).
      if (g.other_pid_ns || pid == 1) send_hello(pid, local_.image);
      stream_ = &local_;
      writer_.start(local_, sink_detached, &channel_, false);
    }
  }
  ~Emission() {
    writer_.flush();
    channel_close(channel_);
    if (active_ && !detached_) t_in_emit = nested_;
    errno = saved_errno_;
  }
  Emission(const Emission&) = delete;
  Emission& operator=(const Emission&) = delete;

  bool active() const { return active_; }
  ChunkWriter& w() { return writer_; }
  pid_t pid() const { return static_cast<pid_t>(stream_->pid); }
  bool detached() const { return detached_; }

 private:
  int saved_errno_;
  bool active_ = false;
  bool nested_ = false;
  bool detached_ = false;
  Stream local_ = {};
  Stream* stream_ = nullptr;
  Channel channel_;
  ChunkWriterN<kLifecycleChunk> writer_;
};

void usage_of(const struct rusage& ru, vt_usage& u) {
  u.utime_ns = static_cast<uint64_t>(ru.ru_utime.tv_sec) * 1000000000ull +
               static_cast<uint64_t>(ru.ru_utime.tv_usec) * 1000ull;
  u.stime_ns = static_cast<uint64_t>(ru.ru_stime.tv_sec) * 1000000000ull +
               static_cast<uint64_t>(ru.ru_stime.tv_usec) * 1000ull;
  u.maxrss_kb = static_cast<uint64_t>(ru.ru_maxrss);
}

// Reads a small /proc text file (a comm) into buf without its newline. False on failure.
bool read_small(const char* path, char* buf, size_t size) {
  int fd = static_cast<int>(sys::open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  long n = sys::read(fd, buf, size - 1);
  sys::close(fd);
  if (n <= 0) return false;
  if (buf[n - 1] == '\n') --n;
  buf[n] = '\0';
  return true;
}

// Names of this process's other threads, read at exit (threads can be named in many ways).
void emit_thread_names(Emission& e, uint64_t ts) {
  int dir = static_cast<int>(sys::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return;
  alignas(8) char buf[2048];
  for (;;) {
    long n = sys::getdents64(dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      unsigned long tid = strtoul(d->d_name, nullptr, 10);
      if (tid == 0 || tid == static_cast<unsigned long>(e.pid())) continue;
      char path[64] = "/proc/self/task/";
      put_decimal(path + strlen(path), tid);
      strcat(path, "/comm");
      char name[64];
      if (!read_small(path, name, sizeof name)) continue;
      e.w().string(VT_STR_NAME, name, strlen(name), ts);
      e.w().record(VT_REC_THREAD_NAME, static_cast<uint32_t>(tid), ts);
    }
  }
  sys::close(dir);
}

// The working directory when it is too long for the common case: kept in static storage
// (written only by the process's own constructor or fork handler, never concurrently).
__attribute__((noinline)) const char* long_cwd() {
  static char buf[PATH_MAX];
  return sys::getcwd(buf, sizeof buf) > 0 ? buf : nullptr;
}

// Kept out of emit_proc_start's frame: its buffer is only on the stack when needed.
__attribute__((noinline)) void emit_relative_exe(ChunkWriter& w, const char* cwd, const char* exe,
                                                 uint64_t ts) {
  char full[PATH_MAX];
  // "./prog" names cwd/prog: the "./" (always safe to drop, unlike "..") is left out.
  while (exe[0] == '.' && exe[1] == '/') {
    exe += 2;
    while (exe[0] == '/') ++exe;
  }
  size_t lc = strlen(cwd), le = strlen(exe);
  if (lc > 0 && cwd[lc - 1] == '/') --lc;  // the root
  if (lc + 1 + le >= sizeof full) return;
  memcpy(full, cwd, lc);
  full[lc] = '/';
  memcpy(full + lc + 1, exe, le + 1);
  w.string(VT_STR_EXE, full, lc + 1 + le, ts);
}

void emit_proc_start(uint32_t flags, char** argv, uint64_t ts, Channel* opened = nullptr) {
  Emission e(g.pid, opened);
  if (!e.active()) return;
  e.w().string_list(VT_STR_ARGV, argv, ts);
  char cwd_short[512];
  long got = sys::getcwd(cwd_short, sizeof cwd_short);
  const char* cwd = got > 0 ? cwd_short : got == -ERANGE ? long_cwd() : nullptr;
  bool have_cwd = cwd != nullptr;
  // A fork child runs its parent's image: the report takes the executable from there. Else
  // the file the kernel exec'd, as the exec call named it (free, unlike reading
  // /proc/self/exe), made absolute with the working directory when it was relative.
  const char* exe =
      (flags & VT_PROC_FORKED) ? nullptr : reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  if (exe && exe[0] != '/' && have_cwd)
    emit_relative_exe(e.w(), cwd, exe, ts);
  else if (exe)
    e.w().string(VT_STR_EXE, exe, strlen(exe), ts);
  if (have_cwd) e.w().string(VT_STR_CWD, cwd, strlen(cwd), ts);
  vt_proc_start p = {static_cast<uint32_t>(sys::getppid()), 0};
  e.w().record(VT_REC_PROC_START, flags, ts, &p, sizeof p);
}

}  // namespace

// In the child of fork(), called from the fork hook (a pthread_atfork handler would cost a
// malloc arena in every process that never allocates). Only async-signal-safe calls here:
// the parent may have had other threads.
void on_fork_child(unsigned long before_fork) noexcept {
  int saved = errno;
  channel_close_inherited(g.fifo_path, before_fork);
  g.pid = static_cast<pid_t>(sys::getpid());
  g.threads = 0;
  t_stream = Stream{};
  t_stream.pid = static_cast<uint32_t>(g.pid);
  t_stream.tid = static_cast<uint32_t>(g.pid);  // the child's one thread: tid == pid
  t_stream.image = g.image;
  t_in_emit = false;
  t_named = false;
  // A fork child may be in a namespace its parent is not in (unshare -p, then fork).
  g.other_pid_ns = g.tracing && in_other_pid_ns();
  if (g.other_pid_ns) send_hello(g.pid, g.image);
  functions_on_fork_child();
  if (g.tracing) emit_proc_start(VT_PROC_FORKED, g.argv, now_ns());
  sampling_fork_child();
  errno = saved;
}

namespace {

void at_exit(int status, void*) {
  emit_exit(status);
}

template <class T>
void resolve(T& slot, const char* name) {
  slot = reinterpret_cast<T>(dlsym(RTLD_NEXT, name));
}

bool running_go() {
  auto phdr = getauxval(AT_PHDR);
  auto phnum = getauxval(AT_PHNUM);
  if (!phdr || !phnum) return false;
  // The load bias is where PT_PHDR says the headers are, against where they really are.
  const auto* ph = reinterpret_cast<const Elf64_Phdr*>(phdr);
  uintptr_t bias = 0;
  for (size_t i = 0; i < phnum; ++i)
    if (ph[i].p_type == PT_PHDR) bias = phdr - ph[i].p_vaddr;
  return phdrs_mark_go(ph, phnum, bias);
}

// Appends "name=value" at *at within end; returns the entry, or null when it does not fit.
char* append_entry(char*& at, const char* end, const char* name, const char* value) {
  size_t ln = strlen(name), lv = strlen(value);
  if (ln + 1 + lv + 1 > static_cast<size_t>(end - at)) return nullptr;
  char* entry = at;
  memcpy(at, name, ln);
  at[ln] = '=';
  memcpy(at + ln + 1, value, lv + 1);
  at += ln + 1 + lv + 1;
  return entry;
}

__attribute__((constructor)) void shim_init(int, char** argv, char**) {
  int saved = errno;
  // Functions that can run between vfork and exec or inside signal handlers are resolved now:
  // dlsym takes locks. The pthread ones are resolved on first use.
  resolve(g_real.execve, "execve");
  resolve(g_real.execvpe, "execvpe");
  resolve(g_real.fexecve, "fexecve");
  resolve(g_real.execveat, "execveat");
  resolve(g_real.posix_spawn, "posix_spawn");
  resolve(g_real.posix_spawnp, "posix_spawnp");
  resolve(g_real.fork, "fork");
  resolve(g_real.exit_, "_exit");
  resolve(g_real.Exit, "_Exit");
  resolve(g_real.wait, "wait");
  resolve(g_real.waitpid, "waitpid");
  resolve(g_real.wait3, "wait3");
  resolve(g_real.wait4, "wait4");
  resolve(g_real.waitid, "waitid");

  g.debug = getenv(VT_ENV_DEBUG) != nullptr;
  g.argv = argv;
  // The session's variables, kept for an exec with an environment of the program's own: the
  // FIFO and the shim (without them nothing is traced), then the function tracer's settings.
  enum { kFifo, kShim, kMore, kClock = kMore, kMaxDepth, kPidNs, kSample, kEntries };
  static_assert(kEntries == kMore + kMoreEntries, "the settings fill EnvValues::more");
  const char* const names[kEntries] = {VT_ENV_FIFO,   VT_ENV_SHIM,      VT_ENV_CLOCK,
                                       VT_ENV_MAX_DEPTH, VT_ENV_PID_NS, VT_ENV_SAMPLE};
  const char* values[kEntries];
  char* entries[kEntries] = {};
  for (int i = 0; i < kEntries; ++i) values[i] = getenv(names[i]);
  if (values[kFifo] && *values[kFifo] && values[kShim] && *values[kShim]) {
    struct {
      char* text;
      size_t size;
    } const places[] = {{g_state.text, sizeof g_state.text}, {g_long_text, sizeof g_long_text}};
    for (const auto& place : places) {
      char* at = place.text;
      const char* end = place.text + place.size;
      for (int i = 0; i < kEntries; ++i) {
        // Settings that do not fit are left out (they are a few bytes unless forged).
        entries[i] = values[i] ? append_entry(at, end, names[i], values[i]) : nullptr;
        if (i < kMore && !entries[i]) break;
      }
      if (entries[kFifo] && entries[kShim]) break;
    }
  }
  char* fifo_entry = entries[kFifo];
  char* shim_entry = entries[kShim];
  if (!fifo_entry || !shim_entry) {
    debug("no session in the environment; not tracing");
    errno = saved;
    return;
  }
  g.env.fifo_entry = fifo_entry;
  g.env.shim_entry = shim_entry;
  g.env.shim_path = shim_entry + strlen(VT_ENV_SHIM) + 1;
  for (size_t k = 0; k < kMoreEntries; ++k) g.env.more[k] = entries[kMore + k];
  g.fifo_path = fifo_entry + strlen(VT_ENV_FIFO) + 1;
  g.have_env = true;

  g.pid = static_cast<pid_t>(sys::getpid());
  uint64_t start = now_ns();
  g.image = make_image_nonce(start, g.pid);
  Channel channel;
  if (!channel_open(channel, g.fifo_path)) {
    debug("cannot open the session FIFO; not tracing");
    errno = saved;
    return;
  }
  if (on_exit(at_exit, nullptr) != 0) {
    debug("cannot register an exit handler; not tracing");
    channel_close(channel);
    errno = saved;
    return;
  }
  g.tracing = true;
  if (const char* ns = entries[kPidNs] ? values[kPidNs] : nullptr)
    for (; *ns >= '0' && *ns <= '9'; ++ns)
      g.pid_ns = g.pid_ns * 10 + static_cast<uint64_t>(*ns - '0');
  g.other_pid_ns = in_other_pid_ns();
  if (g.other_pid_ns) send_hello(g.pid, g.image);
  functions_init(values[kClock], values[kMaxDepth]);
  const bool go = running_go();
  sampling_init(entries[kSample] ? values[kSample] : nullptr, go);
  emit_proc_start(go ? VT_PROC_GO : 0, argv, start, &channel);
  errno = saved;
}

// Thread start trampolines.
struct StartSlot {
  void* (*start)(void*);
  void* arg;
  int busy;
};
constexpr int kStartSlots = 256;
StartSlot g_start_slots[kStartSlots];

}  // namespace

bool tracing() noexcept {
  return g.tracing;
}

const EnvValues* env_values() noexcept {
  return g.have_env ? &g.env : nullptr;
}

uint64_t now_ns() noexcept {
  struct timespec ts;
  sys::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void emit_exec(const char* path, char* const argv[], uint32_t exe_flags) noexcept {
  functions_publish();
  Emission e;
  if (!e.active()) return;
  uint64_t ts = now_ns();
  e.w().string(VT_STR_PATH, path, strlen(path), ts);
  e.w().string_list(VT_STR_ARGV, argv, ts);
  // Another process in our memory (vfork child) was made by the process g describes.
  uint32_t ppid =
      e.detached() ? static_cast<uint32_t>(g.pid) : static_cast<uint32_t>(sys::getppid());
  vt_proc_start p = {ppid, 0};
  e.w().record(VT_REC_EXEC, exe_flags, ts, &p, sizeof p);
}

namespace {

// LD_PRELOAD without the shim's entry (entries are separated by colons or spaces).
void strip_preload(const char* shim) {
  const char* value = getenv("LD_PRELOAD");
  if (!value || !shim) return;
  char rest[PATH_MAX * 2];
  size_t n = 0;
  const size_t shim_len = strlen(shim);
  for (const char* p = value; *p;) {
    while (*p == ':' || *p == ' ') ++p;
    const char* end = p;
    while (*end && *end != ':' && *end != ' ') ++end;
    const size_t len = static_cast<size_t>(end - p);
    if (len > 0 && !(len == shim_len && memcmp(p, shim, len) == 0)) {
      if (n + len + 2 > sizeof rest) return;  // leave an odd one alone
      if (n > 0) rest[n++] = ':';
      memcpy(rest + n, p, len);
      n += len;
    }
    p = end;
  }
  rest[n] = '\0';
  if (n == 0)
    unsetenv("LD_PRELOAD");
  else
    setenv("LD_PRELOAD", rest, 1);
}

}  // namespace

void identity_changing(Channel& before) noexcept {
  if (!g.tracing || sys::getpid() != g.pid) return;
  const int saved = errno;
  channel_open(before, g.fifo_path);
  errno = saved;
}

void identity_changed(Channel& before, uint32_t what) noexcept {
  if (before.fd < 0) return;
  const int saved = errno;
  Channel probe;
  if (channel_open(probe, g.fifo_path)) {  // still reachable: nothing changes
    channel_close(probe);
    channel_close(before);
    errno = saved;
    return;
  }
  {
    Emission e(g.pid, &before);
    if (e.active()) {
      // The image it is now: viztrace tells a later exec of it from this.
      const uint64_t ts = now_ns();
      e.w().string_list(VT_STR_ARGV, g.argv, ts);
      e.w().record(VT_REC_DETACHED, what, ts);
    }
  }
  g.tracing = false;
  g.have_env = false;  // exec no longer puts the shim back into an environment
  strip_preload(g.env.shim_path);
  debug("the session cannot be reached after a change of user or root; not tracing");
  errno = saved;
}

void emit_exec_failed(int error) noexcept {
  Emission e;
  if (e.active()) e.w().record(VT_REC_EXEC_FAILED, static_cast<uint32_t>(error), now_ns());
}

void emit_spawn(uint64_t ts, const char* path, char* const argv[], uint32_t exe_flags, pid_t pid,
                int error) noexcept {
  Emission e;
  if (!e.active()) return;
  e.w().string(VT_STR_PATH, path, strlen(path), ts);
  e.w().string_list(VT_STR_ARGV, argv, ts);
  vt_spawn s = {error ? -1 : pid, error};
  e.w().record(VT_REC_SPAWN, exe_flags, ts, &s, sizeof s);
}

void emit_fork(uint64_t ts, pid_t child) noexcept {
  Emission e;
  if (!e.active()) return;
  vt_pid p = {child, 0};
  e.w().record(VT_REC_FORK, 0, ts, &p, sizeof p);
}

void emit_exit(int status) noexcept {
  functions_process_exit();
  Emission e;
  if (!e.active()) return;
  uint64_t ts = now_ns();
  vt_usage u = {};
  struct rusage ru;
  if (sys::getrusage(RUSAGE_SELF, &ru) == 0) usage_of(ru, u);
  if (!e.detached() && g.threads > 0) emit_thread_names(e, ts);
  e.w().record(VT_REC_EXIT, static_cast<uint32_t>(status), ts, &u, sizeof u);
}

void emit_reap(pid_t pid, int wait_status, const struct rusage* usage) noexcept {
  Emission e;
  if (!e.active()) return;
  vt_reap r = {};
  r.pid = pid;
  if (usage) {
    r.has_usage = 1;
    usage_of(*usage, r.usage);
  }
  e.w().record(VT_REC_REAP, static_cast<uint32_t>(wait_status), now_ns(), &r, sizeof r);
}

void emit_thread_start() noexcept {
  sampling_thread_start();
  Emission e;
  if (e.active()) e.w().record(VT_REC_THREAD_START, 0, now_ns());
}

void emit_thread_exit() noexcept {
  sampling_thread_exit();
  functions_thread_exit();
  Emission e;
  if (!e.active()) return;
  uint64_t ts = now_ns();
  char name[64];
  if (!t_named && read_small("/proc/thread-self/comm", name, sizeof name)) {
    e.w().string(VT_STR_NAME, name, strlen(name), ts);
    e.w().record(VT_REC_THREAD_NAME, static_cast<uint32_t>(raw_gettid()), ts);
  }
  e.w().record(VT_REC_THREAD_EXIT, 0, ts);
  e.w().end_stream();
}

void emit_thread_name(const char* name) noexcept {
  Emission e;
  if (!e.active()) return;
  uint64_t ts = now_ns();
  e.w().string(VT_STR_NAME, name, strnlen(name, 64), ts);
  e.w().record(VT_REC_THREAD_NAME, static_cast<uint32_t>(raw_gettid()), ts);
}

namespace {

// Annotations come from the program's own code, which has libc's pages mapped already: the
// vDSO's clock saves them a system call (it is async-signal-safe too).
uint64_t annotation_now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Name, args and the record with its payload, each padded: one chunk, so that an annotation
// from a signal handler never has its strings apart from its record.
static_assert(sizeof(vt_chunk_header) + 3 * sizeof(vt_record) + kMaxAnnotationName +
                      kMaxAnnotationArgs + 3 * 8 <=
                  kLifecycleChunk,
              "an annotation fits one chunk");

void annotation_name(Emission& e, const char* name, uint64_t ts) {
  if (!name) name = "";
  e.w().string(VT_STR_NAME, name, strnlen(name, kMaxAnnotationName), ts);
}

void annotation_args(Emission& e, AnnotationArgs args, uint64_t ts) {
  if (args.words && *args.words)
    e.w().string_words(VT_STR_ARGS, args.words, ts, kMaxAnnotationArgs);
  else if (args.list && *args.list)
    e.w().string_list(VT_STR_ARGS, args.list, ts, kMaxAnnotationArgs);
}

}  // namespace

void emit_span_begin(const char* name) noexcept {
  Emission e;
  if (!e.active()) return;
  uint64_t ts = annotation_now();
  annotation_name(e, name, ts);
  e.w().record(VT_REC_SPAN_BEGIN, 0, ts);
}

void emit_span_end(AnnotationArgs args) noexcept {
  Emission e;
  if (!e.active()) return;
  uint64_t ts = annotation_now();
  annotation_args(e, args, ts);
  e.w().record(VT_REC_SPAN_END, 0, ts);
}

void emit_mark(const char* name, AnnotationArgs args, bool global) noexcept {
  Emission e;
  if (!e.active()) return;
  uint64_t ts = annotation_now();
  annotation_name(e, name, ts);
  annotation_args(e, args, ts);
  e.w().record(VT_REC_MARK, global ? uint32_t{VT_MARK_GLOBAL} : 0u, ts);
}

void emit_counter(const char* name, double value) noexcept {
  Emission e;
  if (!e.active()) return;
  uint64_t ts = annotation_now();
  annotation_name(e, name, ts);
  vt_counter c = {value};
  e.w().record(VT_REC_COUNTER, 0, ts, &c, sizeof c);
}

void name_thread(const char* name) noexcept {
  if (!name) return;
  Emission e;
  if (!e.active()) return;
  if (!e.detached()) t_named = true;
  uint64_t ts = annotation_now();
  e.w().string(VT_STR_NAME, name, strnlen(name, kMaxAnnotationName), ts);
  e.w().record(VT_REC_THREAD_NAME, static_cast<uint32_t>(raw_gettid()), ts);
}

StreamId current_stream() noexcept {
  if (!g.tracing || static_cast<pid_t>(sys::getpid()) != g.pid) return StreamId{0, 0, 0};
  return StreamId{static_cast<uint32_t>(g.pid), static_cast<uint32_t>(raw_gettid()), g.image};
}

void emit_fn_ring(uint32_t clock) noexcept {
  Emission e;
  if (e.active()) e.w().record(VT_REC_FN_RING, clock, now_ns());
}

namespace {

struct ModuleWalk {
  Emission* e;
  uint64_t ts;
};

int emit_module(struct dl_phdr_info* info, size_t, void* context) {
  auto* walk = static_cast<ModuleWalk*>(context);
  const char* name = info->dlpi_name;
  if (name && (strncmp(name, "linux-vdso", 10) == 0 || strncmp(name, "linux-gate", 10) == 0))
    return 0;
  vt_module m = {info->dlpi_addr, UINT64_MAX, 0};
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uint64_t low = info->dlpi_addr + ph.p_vaddr;
    if (low < m.low) m.low = low;
    if (low + ph.p_memsz > m.high) m.high = low + ph.p_memsz;
  }
  if (m.high == 0) return 0;
  char exe[PATH_MAX];
  if (!name || !*name) {  // the program itself
    long n = sys::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    name = exe;
  }
  walk->e->w().string(VT_STR_PATH, name, strlen(name), walk->ts);
  walk->e->w().record(VT_REC_MODULE, 0, walk->ts, &m, sizeof m);
  return 0;
}

}  // namespace

void emit_modules() noexcept {
  Emission e;
  if (!e.active() || e.detached()) return;
  ModuleWalk walk = {&e, now_ns()};
  dl_iterate_phdr(emit_module, &walk);
}

void* thread_trampoline_arg(void* (*start)(void*), void* arg) noexcept {
  for (int i = 0; i < kStartSlots; ++i) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&g_start_slots[i].busy, &expected, 1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED)) {
      g_start_slots[i].start = start;
      g_start_slots[i].arg = arg;
      __atomic_fetch_add(&g.threads, 1u, __ATOMIC_RELAXED);
      return &g_start_slots[i];
    }
  }
  return nullptr;
}

void thread_trampoline_release(void* p) noexcept {
  __atomic_fetch_sub(&g.threads, 1u, __ATOMIC_RELAXED);
  __atomic_store_n(&static_cast<StartSlot*>(p)->busy, 0, __ATOMIC_RELEASE);
}

void* thread_trampoline(void* p) {
  auto* slot = static_cast<StartSlot*>(p);
  void* (*start)(void*) = slot->start;
  void* arg = slot->arg;
  __atomic_store_n(&slot->busy, 0, __ATOMIC_RELEASE);
  emit_thread_start();
  void* result = start(arg);
  emit_thread_exit();
  return result;
}

}  // namespace vt_shim
