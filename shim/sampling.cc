#include "shim/sampling.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "common/sys.h"
#include "common/wire.h"
#include "shim/channel.h"
#include "shim/functions.h"
#include "shim/state.h"

namespace vt_shim {
namespace {

// Sampling's state, apart from the shim's one-page block: only a sampled process touches it
// (whether it samples is TracerState::sampling, in the block every process touches anyway).
struct SamplingState {
  long period_ns;
  // What the program set for SIGPROF (or inherited): called for every SIGPROF not ours.
  struct sigaction program;
  uint32_t dropped;  // samples the full FIFO took no room for since the last one sent
};
SamplingState g_samp;
__thread int t_timer = -1;  // the kernel's id of the calling thread's timer

constexpr TracerState& g = g_state.head.tracer;

// Where a sample's stack copy starts in its chunk, and how much of it fits.
constexpr size_t kStackAt = sizeof(vt_chunk_header) + sizeof(vt_record) + sizeof(vt_sample);
constexpr size_t kStackMax = (VT_CHUNK_MAX - kStackAt) & ~size_t{7};

struct KernelSigevent {  // the kernel's struct sigevent, for SIGEV_THREAD_ID
  union {
    int sival_int;
    void* sival_ptr;
  } value;
  int signo;
  int notify;
  int tid;
  int pad[11];
};

void start_timer() {
  if (!g.sampling || t_timer >= 0) return;
  KernelSigevent ev = {};
  ev.value.sival_ptr = &g_samp;  // marks the signals as ours
  ev.signo = SIGPROF;
  ev.notify = 4;  // SIGEV_THREAD_ID
  ev.tid = static_cast<int>(sys::gettid());
  int id = -1;
  if (sys::call(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, sys::arg(&ev), sys::arg(&id)) != 0)
    return;
  struct itimerspec every = {};
  every.it_interval.tv_sec = g_samp.period_ns / 1000000000;
  every.it_interval.tv_nsec = g_samp.period_ns % 1000000000;
  every.it_value = every.it_interval;
  if (sys::call(SYS_timer_settime, id, 0, sys::arg(&every), 0) != 0) {
    sys::call(SYS_timer_delete, id);
    return;
  }
  t_timer = id;
}

void stop_timer() {
  if (t_timer < 0) return;
  sys::call(SYS_timer_delete, t_timer);
  t_timer = -1;
}

uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the vDSO; async-signal-safe
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void take_sample(void* context, int overrun) {
  const int saved = errno;
  const auto* gr = static_cast<const ucontext_t*>(context)->uc_mcontext.gregs;
  alignas(8) unsigned char chunk[VT_CHUNK_MAX];
  vt_sample s = {};
  // CPU-time timers expire on the scheduler's tick: one signal may stand for several periods.
  s.period_ns = static_cast<uint64_t>(g_samp.period_ns) * static_cast<uint64_t>(1 + (overrun > 0 ? overrun : 0));
  const int order[VT_SAMPLE_REGS] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
                                     REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                     REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int i = 0; i < VT_SAMPLE_REGS; ++i) s.regs[i] = static_cast<uint64_t>(gr[order[i]]);
  // The stack from rsp up, as far as it is mapped: the kernel copies and stops at the first
  // page that is not, where reading it here would fault.
  const long pid = sys::getpid();
  struct iovec local = {chunk + kStackAt, kStackMax};
  struct iovec remote = {reinterpret_cast<void*>(s.regs[7]), kStackMax};
  long got = sys::call(SYS_process_vm_readv, pid, sys::arg(&local), 1, sys::arg(&remote), 1, 0);
  s.stack_bytes = got > 0 ? static_cast<uint32_t>(got) : 0;
  const size_t padded = (s.stack_bytes + 7) & ~size_t{7};
  memset(chunk + kStackAt + s.stack_bytes, 0, padded - s.stack_bytes);

  vt_record r = {};
  r.type = VT_REC_SAMPLE;
  r.size = static_cast<uint16_t>(sizeof r + sizeof s + padded);
  r.aux = __atomic_exchange_n(&g_samp.dropped, 0u, __ATOMIC_RELAXED);
  r.ts = monotonic_ns();
  vt_chunk_header h = {};
  h.magic = VT_WIRE_MAGIC;
  h.version = VT_WIRE_VERSION;
  h.kind = VT_KIND_RECORDS;
  h.length = static_cast<uint16_t>(sizeof h + r.size);
  h.pid = static_cast<uint32_t>(pid);
  h.tid = static_cast<uint32_t>(sys::gettid());
  h.image = g.image;
  h.nrec = 1;
  h.flags = VT_CHUNK_UNSEQUENCED;
  memcpy(chunk, &h, sizeof h);
  memcpy(chunk + sizeof h, &r, sizeof r);
  memcpy(chunk + sizeof h + sizeof r, &s, sizeof s);
  Channel ch;
  if (channel_write(ch, g.fifo_path, chunk, h.length, 0) != WriteResult::kSent)
    __atomic_fetch_add(&g_samp.dropped, 1u + r.aux, __ATOMIC_RELAXED);
  channel_close(ch);
  errno = saved;
}

void on_sigprof(int sig, siginfo_t* info, void* context) {
  if (info && info->si_code == SI_TIMER && info->si_value.sival_ptr == &g_samp) {
    if (static_cast<pid_t>(sys::getpid()) == g.pid)  // not a vfork child
      take_sample(context, info->si_overrun);
    return;
  }
  // Not ours: what the program would have had.
  const struct sigaction p = g_samp.program;
  if (p.sa_flags & SA_SIGINFO) {
    if (p.sa_sigaction) p.sa_sigaction(sig, info, context);
  } else if (p.sa_handler == SIG_DFL) {
    // SIGPROF's default ends the process: let it, as it would have.
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    g_real.sigaction(SIGPROF, &dfl, nullptr);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGPROF);
    sigprocmask(SIG_UNBLOCK, &only, nullptr);
    sys::call(SYS_tgkill, sys::getpid(), sys::gettid(), SIGPROF);
  } else if (p.sa_handler != SIG_IGN && p.sa_handler) {
    p.sa_handler(sig);
  }
}

}  // namespace

void sampling_init(const char* hz, bool go) noexcept {
  if (!hz || !*hz || go || !g.tracing) return;
  unsigned long rate = 0;
  for (const char* c = hz; *c >= '0' && *c <= '9' && rate < 1000000; ++c)
    rate = rate * 10 + static_cast<unsigned long>(*c - '0');
  if (rate == 0 || rate > 100000) return;
  if (!ensure_real(g_real.sigaction, "sigaction")) return;
  const int saved = errno;
  struct sigaction ours = {};
  ours.sa_sigaction = on_sigprof;
  ours.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&ours.sa_mask);
  if (g_real.sigaction(SIGPROF, nullptr, &g_samp.program) != 0 ||
      g_real.sigaction(SIGPROF, &ours, nullptr) != 0) {
    errno = saved;
    return;
  }
  g_samp.period_ns = static_cast<long>(1000000000ul / rate);
  g.sampling = true;
  // The report unwinds the samples through the modules: say which are loaded.
  functions_announce_modules();
  start_timer();
  errno = saved;
}

void sampling_thread_start() noexcept {
  if (!g.sampling) return;
  const int saved = errno;
  start_timer();
  errno = saved;
}

void sampling_thread_exit() noexcept {
  if (t_timer < 0) return;
  const int saved = errno;
  stop_timer();
  errno = saved;
}

void sampling_fork_child() noexcept {
  if (!g.sampling) return;
  t_timer = -1;  // the parent's, not ours
  const int saved = errno;
  functions_announce_modules();
  start_timer();
  errno = saved;
}

bool sampling_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  if (sig != SIGPROF || !g.sampling) return false;
  // Our handler stays installed; the program's is kept for what is not ours.
  if (old) *old = g_samp.program;
  if (act) g_samp.program = *act;
  return true;
}

}  // namespace vt_shim
