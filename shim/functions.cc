#include "shim/functions.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "shim/channel.h"
#include "shim/decimal.h"
#include "shim/state.h"
#include "common/sys.h"
#include "shim/tracer.h"
#include "common/wire.h"

#define VT_EXPORT extern "C" __attribute__((visibility("default")))
#define VT_HOT __attribute__((no_instrument_function, always_inline)) inline

namespace vt_shim {
namespace {

// 4 MiB of records per thread: at ~10 ns per record, ~3 ms of headroom for a collector that
// empties rings every millisecond or two. Pages are touched only as far as a thread writes.
constexpr uint64_t kCapacity = 1u << 18;
constexpr size_t kRingBytes = VT_FN_RING_HEADER + kCapacity * sizeof(vt_fn_record);
// Modules are re-checked at least this often (in records), whenever a thread waits, and at the
// first record after a dlopen.
constexpr uint64_t kCheckEvery = 1u << 16;
// A full ring waits for the collector at most this long before records are dropped.
constexpr uint64_t kMaxWaitNs = 1'000'000'000;
// Space is reserved as the ring is first written: a thread that makes few calls takes 64 KiB,
// and each reservation doubles what the ring holds, up to kCheckEvery records at a time.
constexpr uint32_t kFirstBacked = 4096;
// When the filesystem is full, records are dropped, and space asked for again this often.
constexpr uint32_t kSpaceRetryEvery = 4096;
static_assert(kFirstBacked <= kCheckEvery && kCheckEvery % kFirstBacked == 0);

enum State : uint8_t { kUnset = 0, kActive = 1, kOff = 2 };

struct FnThread {
  vt_fn_record* records;
  vt_fn_ring* ring;
  uint64_t produced;  // our copy of ring->produced
  uint64_t limit;     // produced may reach this without looking at the collector
  uint32_t depth;     // calls open on this thread, recorded or not
  State state;
  uint8_t busy;       // inside the hook: a signal handler's calls are dropped, not interleaved
  uint8_t dropping;   // the ring is full and waiting did not help: drop without waiting
  // Active, TSC clock, no depth limit: the hooks go straight to the fast path, and depth is
  // not counted (only a limit needs it).
  uint8_t fast;
  uint8_t recheck;  // dlopen was called: look at the modules at the next record
  uint32_t backed;       // slots the ring file has space for (a copy of ring->backed)
  uint32_t space_retry;  // records to drop before asking the filesystem for space again
  StreamId id;           // names the ring file, to reserve more of it
};

constexpr FnState& g_fn = g_state.head.fn;
// The session FIFO: the rings go next to it.
constexpr const char* const& g_fifo_path = g_state.head.tracer.fifo_path;
__thread FnThread t_fn;

// Out of line: the TSC path stays free of a call and its register spills.
__attribute__((noinline, no_instrument_function)) uint64_t monotonic_now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the vDSO: no system call
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

VT_HOT uint64_t clock_now() {
#if defined(__x86_64__)
  if (__builtin_expect(g_fn.tsc, 1)) return __rdtsc();
#endif
  return monotonic_now();
}

__attribute__((no_instrument_function)) int count_loads(struct dl_phdr_info* info, size_t,
                                                        void* out) {
  *static_cast<unsigned long long*>(out) = info->dlpi_adds + info->dlpi_subs;
  return 1;
}

// Announces the loaded modules when the loader has loaded or unloaded anything since the last
// time. Each announcement lists every module, all with one timestamp: the report can tell
// when each module was mapped, and names the calls at a reused address from the library that
// was there at the time.
__attribute__((no_instrument_function)) void check_modules() {
  unsigned long long loads = 0;
  dl_iterate_phdr(count_loads, &loads);
  unsigned long long seen = __atomic_load_n(&g_fn.loads_announced, __ATOMIC_RELAXED);
  if (loads == seen) return;
  if (!__atomic_compare_exchange_n(&g_fn.loads_announced, &seen, loads, false, __ATOMIC_RELAXED,
                                   __ATOMIC_RELAXED))
    return;  // another thread announces them
  emit_modules();
}

__attribute__((no_instrument_function)) void put_hex(char* out, uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[8];
  int n = 0;
  do tmp[n++] = digits[v & 15];
  while ((v >>= 4) != 0);
  while (n) *out++ = tmp[--n];
  *out = '\0';
}

// The path of a thread's ring, fn-<pid>-<tid>-<image in hex> in the session dir. False if it
// does not fit.
__attribute__((no_instrument_function)) bool ring_path(const StreamId& id, char (&name)[PATH_MAX]) {
  size_t n = g_fn.dir_length;
  if (id.pid == 0 || n + 48 >= sizeof name) return false;
  memcpy(name, g_fifo_path, n);
  memcpy(name + n, "fn-", 3);
  n += 3;
  n += put_decimal(name + n, id.pid);
  name[n++] = '-';
  n += put_decimal(name + n, id.tid);
  name[n++] = '-';
  put_hex(name + n, id.image);
  return true;
}

// Gives the ring's file space for `slots` records from slot 0, so that writing them can never
// fault (a mapped page the filesystem cannot back kills the program with SIGBUS). Space is
// allocated, not just promised: on tmpfs, fallocate takes the pages.
__attribute__((no_instrument_function)) bool reserve(int fd, uint64_t slots) {
  const long bytes = static_cast<long>(VT_FN_RING_HEADER + slots * sizeof(vt_fn_record));
  long r;
  do r = sys::fallocate(fd, 0, 0, bytes);
  while (r == -EINTR);
  return r == 0;
}

// Makes the calling thread's ring: fn-<pid>-<tid>-<image in hex> in the session dir.
__attribute__((noinline, no_instrument_function)) bool setup_thread(FnThread& t) {
  if (t.state == kOff) return false;
  if (!g_fn.initialized) return false;  // an instrumented constructor ran before ours
  if (!g_fn.enabled || !tracing()) {
    t.state = kOff;
    return false;
  }
  t.busy = 1;
  int saved = errno;
  StreamId id = current_stream();
  t.state = kOff;
  char name[PATH_MAX];
  if (ring_path(id, name)) {
    int fd = static_cast<int>(
        sys::open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd >= 0) {
      void* p = MAP_FAILED;
      bool space = reserve(fd, kFirstBacked);
      if (space && sys::ftruncate(fd, static_cast<long>(kRingBytes)) == 0)
        p = sys::mmap(nullptr, kRingBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      sys::close(fd);
      if (!space) {
        sys::unlink(name);
        emit_fn_ring(VT_FN_RING_NO_SPACE);  // said, so that the report says what is missing
      } else if (!sys::mmap_failed(p) && p != MAP_FAILED) {
        auto* ring = static_cast<vt_fn_ring*>(p);
        ring->magic = VT_FN_RING_MAGIC;
        ring->version = VT_WIRE_VERSION;
        ring->pid = id.pid;
        ring->tid = id.tid;
        ring->image = id.image;
        ring->clock = g_fn.tsc ? VT_CLOCK_TSC : VT_CLOCK_MONOTONIC;
        ring->capacity = kCapacity;
        ring->backed = kFirstBacked;
        t.ring = ring;
        t.records = reinterpret_cast<vt_fn_record*>(static_cast<char*>(p) + VT_FN_RING_HEADER);
        t.produced = 0;
        t.backed = kFirstBacked;
        t.space_retry = 0;
        t.id = id;
        t.limit = kFirstBacked;
        t.state = kActive;
        t.fast = g_fn.tsc && g_fn.max_depth == UINT32_MAX;
        check_modules();  // before the ring: the report knows the modules when it reads it
        emit_fn_ring(ring->clock);
      } else {
        sys::unlink(name);
      }
    }
  }
  errno = saved;
  t.busy = 0;
  return t.state == kActive;
}

// Tells the collector how far the ring is written.
VT_HOT void publish(FnThread& t) {
  if (t.state == kActive) __atomic_store_n(&t.ring->produced, t.produced, __ATOMIC_RELEASE);
}

// Asks the collector to empty the rings now rather than at its next pass (1-2 ms away, as
// long as a thread making calls flat out takes to fill its ring): a byte into the session's
// wake FIFO, which the collector always polls.
__attribute__((noinline, no_instrument_function)) void wake_collector() {
  char path[PATH_MAX];
  const size_t n = g_fn.dir_length;
  if (n + sizeof "wake" > sizeof path) return;
  memcpy(path, g_fifo_path, n);
  memcpy(path + n, "wake", sizeof "wake");
  // Read-write, as the session FIFO: a reader always exists, so the write can never raise
  // SIGPIPE even if viztrace is gone by then.
  const long fd = sys::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  const char byte = 1;
  sys::write(static_cast<int>(fd), &byte, 1);  // a full FIFO: the collector is awake anyway
  sys::close(static_cast<int>(fd));
}

// The ring's file has space for the records written so far: reserve the next stretch. False
// when the filesystem has none (asked again every kSpaceRetryEvery records dropped).
__attribute__((noinline, no_instrument_function)) bool extend(FnThread& t) {
  if (t.space_retry > 0) {
    --t.space_retry;
    return false;
  }
  uint64_t want = t.backed < kCheckEvery ? 2ull * t.backed : t.backed + kCheckEvery;
  if (want > kCapacity) want = kCapacity;
  char name[PATH_MAX];
  bool ok = false;
  if (ring_path(t.id, name)) {
    const int fd = static_cast<int>(sys::open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (fd >= 0) {
      ok = reserve(fd, want);
      sys::close(fd);
    }
  }
  if (!ok) {
    t.space_retry = kSpaceRetryEvery - 1;
    return false;
  }
  t.backed = static_cast<uint32_t>(want);
  __atomic_store_n(&t.ring->backed, t.backed, __ATOMIC_RELEASE);
  return true;
}

// The ring is full as far as we know, or it is time to look at the modules again, or to
// reserve more of its file.
__attribute__((noinline, no_instrument_function)) bool make_room(FnThread& t) {
  int saved = errno;
  vt_fn_ring* ring = t.ring;
  publish(t);
  if (t.recheck || (t.produced & (kCheckEvery - 1)) == 0) {
    t.recheck = 0;
    check_modules();
  }
  if (t.backed < kCapacity && t.produced >= t.backed && !extend(t)) {
    ++ring->dropped;
    ++ring->no_space;
    errno = saved;
    return false;
  }
  uint64_t consumed = __atomic_load_n(&ring->consumed, __ATOMIC_ACQUIRE);
  if (t.produced - consumed >= kCapacity) {
    // The collector is behind. Wait for it, boundedly and only while it lives; once a wait
    // has failed, drop at once until it catches up, so a program whose viztrace is gone
    // runs on at full speed.
    if (!t.dropping && collector_alive(g_fifo_path)) {
      wake_collector();
      // Naps, so that a collector on this CPU gets to run; a nap is often longer than asked.
      const struct timespec nap = {0, 50000};
      const uint64_t start = monotonic_now();
      uint64_t waited = 0;
      while (t.produced - consumed >= kCapacity && waited < kMaxWaitNs) {
        sys::ppoll<void, struct timespec>(nullptr, 0, &nap);
        waited = monotonic_now() - start;
        consumed = __atomic_load_n(&ring->consumed, __ATOMIC_ACQUIRE);
      }
      ring->waited_ns += waited;
    }
    if (t.produced - consumed >= kCapacity) {
      t.dropping = 1;
      ++ring->dropped;
      errno = saved;
      return false;
    }
  }
  t.dropping = 0;
  uint64_t next_check = (t.produced | (kCheckEvery - 1)) + 1;
  if (t.backed < kCapacity && next_check > t.backed) next_check = t.backed;  // first lap
  t.limit = consumed + kCapacity < next_check ? consumed + kCapacity : next_check;
  errno = saved;
  return true;
}

VT_HOT void record(FnThread& t, void* fn, uint64_t exit_bit) {
  t.busy = 1;
  __asm__ __volatile__("" ::: "memory");
  uint64_t i = t.produced;
  if (__builtin_expect(i >= t.limit, 0) && !make_room(t)) {
    __asm__ __volatile__("" ::: "memory");
    t.busy = 0;
    return;
  }
  vt_fn_record* r = &t.records[i & (kCapacity - 1)];
  r->ts = clock_now() | exit_bit;
  r->addr = reinterpret_cast<uint64_t>(fn);
  t.produced = i + 1;
  __atomic_store_n(&t.ring->produced, i + 1, __ATOMIC_RELEASE);
  __asm__ __volatile__("" ::: "memory");
  t.busy = 0;
}

}  // namespace

void functions_init(const char* clock, const char* max_depth) noexcept {
  g_fn.initialized = true;
  const char* slash = strrchr(g_fifo_path, '/');
  if (!slash) return;
  size_t n = static_cast<size_t>(slash - g_fifo_path) + 1;
  if (n + 64 >= PATH_MAX) return;
  g_fn.dir_length = n;
  g_fn.tsc = clock && strcmp(clock, "tsc") == 0;
#if !defined(__x86_64__)
  g_fn.tsc = false;
#endif
  unsigned long d = max_depth && *max_depth ? strtoul(max_depth, nullptr, 10) : 0;
  g_fn.max_depth = d > 0 && d < UINT32_MAX ? static_cast<uint32_t>(d) : UINT32_MAX;
  g_fn.enabled = true;
}

void functions_on_fork_child() noexcept {
  // The parent's rings stay mapped (unmapping costs more than it saves) but are never written.
  t_fn = FnThread{};
  g_fn.loads_announced = 0;  // a new process: its modules are announced with its first ring
}

void functions_thread_exit() noexcept {
  FnThread& t = t_fn;
  if (t.state != kActive) return;
  int saved = errno;
  check_modules();
  publish(t);
  t.fast = 0;
  __atomic_store_n(&t.ring->closed, 1u, __ATOMIC_RELEASE);
  t.state = kOff;
  errno = saved;
}

void functions_publish() noexcept { publish(t_fn); }

void functions_process_exit() noexcept {
  publish(t_fn);
  functions_modules_changed();
}

void functions_announce_modules() noexcept {
  if (!g_fn.enabled) return;
  int saved = errno;
  check_modules();
  errno = saved;
}

void functions_modules_changed() noexcept {
  if (!g_fn.enabled || __atomic_load_n(&g_fn.loads_announced, __ATOMIC_RELAXED) == 0) return;
  int saved = errno;
  check_modules();
  errno = saved;
}

}  // namespace vt_shim

using vt_shim::g_real;
using vt_shim::t_fn;

namespace vt_shim {
namespace {

// The fast path, for a thread whose `fast` is set: not inside the hook already, room in the
// ring. It calls nothing, so it needs no stack frame; everything else goes to the slow path.
VT_HOT bool record_fast(FnThread& t, void* fn, uint64_t exit_bit) {
#if defined(__x86_64__)
  // busy is read on its own: a 2-byte load of it and its neighbour together, right after the
  // byte stores to busy, would stall on store forwarding (measured: +11 ns per call).
  if (__builtin_expect(*static_cast<volatile uint8_t*>(&t.busy) != 0, 0)) return false;
  t.busy = 1;
  __asm__ __volatile__("" ::: "memory");  // a signal handler from here on sees busy
  uint64_t i = t.produced;
  if (__builtin_expect(i >= t.limit, 0)) {
    __asm__ __volatile__("" ::: "memory");
    t.busy = 0;
    return false;
  }
  vt_fn_record* r = &t.records[i & (kCapacity - 1)];
  r->ts = __rdtsc() | exit_bit;
  r->addr = reinterpret_cast<uint64_t>(fn);
  t.produced = i + 1;
  // Publishing every record costs ~2 ns: the collector reads that cache line too.
  if (((i + 1) & (VT_FN_PUBLISH_EVERY - 1)) == 0)
    __atomic_store_n(&t.ring->produced, i + 1, __ATOMIC_RELEASE);
  __asm__ __volatile__("" ::: "memory");
  t.busy = 0;
  return true;
#else
  (void)t, (void)fn, (void)exit_bit;
  return false;
#endif
}

__attribute__((noinline, no_instrument_function)) void enter_slow(FnThread& t, void* fn) {
  if (!t.fast) {
    if (t.depth++ >= g_fn.max_depth) return;
    if (t.state != kActive && !setup_thread(t)) return;
  }
  if (t.busy) {
    ++t.ring->dropped;
    return;
  }
  record(t, fn, 0);
}

__attribute__((noinline, no_instrument_function)) void exit_slow(FnThread& t, void* fn) {
  if (!t.fast && t.depth > 0 && --t.depth >= g_fn.max_depth) return;
  if (t.state != kActive) return;  // its entry was not recorded
  if (t.busy) {
    ++t.ring->dropped;
    return;
  }
  record(t, fn, VT_FN_EXIT);
}

}  // namespace
}  // namespace vt_shim

VT_EXPORT __attribute__((no_instrument_function)) void __cyg_profile_func_enter(void* fn, void*) {
  vt_shim::FnThread& t = t_fn;
  if (__builtin_expect(t.fast && vt_shim::record_fast(t, fn, 0), 1)) return;
  vt_shim::enter_slow(t, fn);
}

VT_EXPORT __attribute__((no_instrument_function)) void __cyg_profile_func_exit(void* fn, void*) {
  vt_shim::FnThread& t = t_fn;
  if (__builtin_expect(t.fast && vt_shim::record_fast(t, fn, VT_FN_EXIT), 1)) return;
  vt_shim::exit_slow(t, fn);
}

// dlopen: the calling thread announces the modules at its next record, right after the call
// returns. Whoever calls dlopen must stay its caller: the loader searches the caller's RUNPATH
// (and $ORIGIN) for a bare library name, and finds the caller by the return address. So dlopen
// is a stub that jumps to the real one once this has run, leaving the return address alone.
extern "C" __attribute__((no_instrument_function, used)) void* vt_shim_before_dlopen() {
  vt_shim::FnThread& t = t_fn;
  if (t.state == vt_shim::kActive) {
    t.recheck = 1;
    t.limit = t.produced;  // the next record goes through make_room
  }
  return reinterpret_cast<void*>(vt_shim::ensure_real(g_real.dlopen, "dlopen"));
}

#if defined(__x86_64__)
// The stack is realigned for the call; the two argument registers are kept across it. A null
// real dlopen (never seen) returns null.
__asm__(
    ".text\n"
    ".globl dlopen\n"
    ".type dlopen, @function\n"
    "dlopen:\n"
    "  push %rdi\n"
    "  push %rsi\n"
    "  sub $8, %rsp\n"
    "  call vt_shim_before_dlopen\n"
    "  add $8, %rsp\n"
    "  pop %rsi\n"
    "  pop %rdi\n"
    "  test %rax, %rax\n"
    "  jz 1f\n"
    "  jmp *%rax\n"
    "1:\n"
    "  ret\n"
    ".size dlopen, .-dlopen\n");
#endif

// dlclose: the modules are announced before (the closing library's calls can be named) and
// after (its address may be given to the next library loaded).
VT_EXPORT __attribute__((no_instrument_function)) int dlclose(void* handle) {
  if (!vt_shim::ensure_real(g_real.dlclose, "dlclose")) return -1;
  vt_shim::functions_modules_changed();
  int r = g_real.dlclose(handle);
  vt_shim::functions_modules_changed();
  return r;
}
