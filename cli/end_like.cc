#include "cli/end_like.h"

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace viztrace::cli {

void end_like(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (WIFEXITED(status)) std::exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  switch (sig) {
    case SIGHUP:
    case SIGINT:
    case SIGPIPE:
    case SIGTERM:
    case SIGKILL:
    case SIGALRM:
    case SIGUSR1:
    case SIGUSR2: {
      std::signal(sig, SIG_DFL);
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, sig);
      sigprocmask(SIG_UNBLOCK, &set, nullptr);
      raise(sig);
      break;
    }
    default:
      break;
  }
  std::exit(128 + sig);
}

}  // namespace viztrace::cli
