#include "core/signal_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "spill/cleanup_registry.h"

namespace viztrace {
namespace {

int g_pipe[2] = {-1, -1};
std::atomic<int> g_mode{0};
std::atomic<int> g_report_interrupts{0};
sigset_t g_original_mask;
constexpr int kInterrupts[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr int kFatal[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
constexpr int kIgnored[] = {SIGPIPE, SIGXFSZ};
bool g_was_ignored[NSIG];

// Async-signal-safe: sweep, then die of the same signal with its default action.
void die_by(int sig) {
  spill::CleanupRegistry::sweep_all();
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
}

// Async-signal-safe: two bytes per signal into the self-pipe (dropped if the pipe is full).
void on_interrupt(int sig, siginfo_t* info, void*) {
  if (g_mode.load() == static_cast<int>(SignalGuard::Mode::kReporting) && sig != SIGCHLD) {
    // The report holds everything collected: a first interrupt does not throw it away.
    if (g_report_interrupts.fetch_add(1) == 0) {
      static const char kMsg[] =
          "viztrace: writing the report; interrupt again to abandon it\n";
      ssize_t r = write(2, kMsg, sizeof kMsg - 1);
      (void)r;
      return;
    }
    die_by(sig);
    return;
  }
  int saved = errno;
  unsigned char b[2] = {static_cast<unsigned char>(sig),
                        static_cast<unsigned char>(info && info->si_code == SI_USER)};
  ssize_t r = write(g_pipe[1], b, sizeof b);
  (void)r;
  errno = saved;
}

// Async-signal-safe: viztrace itself crashed or aborted.
void on_fatal(int sig) { die_by(sig); }

void handle(int sig, void (*fn)(int), int flags) {
  struct sigaction sa = {};
  sa.sa_handler = fn;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = flags;
  sigaction(sig, &sa, nullptr);
}

void handle_info(int sig, void (*fn)(int, siginfo_t*, void*), int flags) {
  struct sigaction sa = {};
  sa.sa_sigaction = fn;
  sa.sa_flags = flags | SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = flags;
  sigaction(sig, &sa, nullptr);
}

}  // namespace

void SignalGuard::install() {
  if (g_pipe[0] >= 0) return;
  if (pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) g_pipe[0] = g_pipe[1] = -1;
  sigprocmask(SIG_SETMASK, nullptr, &g_original_mask);
  for (int sig : kInterrupts) {
    struct sigaction old;
    sigaction(sig, nullptr, &old);
    g_was_ignored[sig] = old.sa_handler == SIG_IGN;
    // A shell starts background jobs with SIGINT/SIGQUIT ignored: keep it that way.
    if (!g_was_ignored[sig]) handle_info(sig, on_interrupt, SA_RESTART);
  }
  handle_info(SIGCHLD, on_interrupt, SA_RESTART | SA_NOCLDSTOP);
  for (int sig : kFatal) handle(sig, on_fatal, SA_RESETHAND | SA_NODEFER);
  for (int sig : kIgnored) {
    struct sigaction old;
    sigaction(sig, nullptr, &old);
    g_was_ignored[sig] = old.sa_handler == SIG_IGN;
    signal(sig, SIG_IGN);
  }
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int sig : kInterrupts) sigaddset(&unblock, sig);
  sigaddset(&unblock, SIGCHLD);
  sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
}

void SignalGuard::set_mode(Mode mode) { g_mode.store(static_cast<int>(mode)); }

int SignalGuard::wakeup_fd() { return g_pipe[0]; }

int SignalGuard::take(Received* out, int max) {
  int n = 0;
  unsigned char buf[2];
  // Each signal is one 2-byte write, so reads of 2 bytes never split one.
  while (n < max && read(g_pipe[0], buf, sizeof buf) == sizeof buf)
    out[n++] = {buf[0], buf[1] != 0};
  return n;
}

void SignalGuard::restore_for_child() {
  for (int sig : kInterrupts) signal(sig, g_was_ignored[sig] ? SIG_IGN : SIG_DFL);
  for (int sig : kIgnored) signal(sig, g_was_ignored[sig] ? SIG_IGN : SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  for (int sig : kFatal) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &g_original_mask, nullptr);
}

}  // namespace viztrace
