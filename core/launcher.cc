#include "core/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "common/error.h"
#include "common/env_doctor.h"
#include "common/exe_probe.h"
#include "core/signal_guard.h"
#include "common/wire.h"

namespace viztrace {

std::uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::vector<std::string> target_environment(char** environ_in, const std::string& shim_path,
                                            const std::string& fifo_path) {
  std::string fifo_entry = std::string(VT_ENV_FIFO) + "=" + fifo_path;
  std::string shim_entry = std::string(VT_ENV_SHIM) + "=" + shim_path;
  vt_shim::EnvValues values = {fifo_entry.c_str(), shim_entry.c_str(), shim_path.c_str()};
  std::size_t n = vt_shim::env_count(environ_in);
  std::vector<char*> slots(n + vt_shim::kExtraSlots);
  // Room for the longest value doctor_env may extend.
  auto longest = [&](const char* prefix) {
    std::size_t most = 0, len = std::strlen(prefix);
    for (char** e = environ_in; e && *e; ++e)
      if (std::strncmp(*e, prefix, len) == 0) most = std::max(most, std::strlen(*e));
    return most;
  };
  std::vector<char> preload(longest("LD_PRELOAD=") + shim_path.size() + 64);
  std::vector<char> asan(longest("ASAN_OPTIONS=") + 64);
  vt_shim::EnvScratch scratch = {slots.data(), slots.size(), preload.data(), preload.size(),
                                 asan.data(), asan.size()};
  std::vector<std::string> env;
  for (char* const* e = vt_shim::doctor_env(environ_in, values, scratch, /*claim=*/true); e && *e;
       ++e)
    env.emplace_back(*e);
  return env;
}

Launched launch(const LaunchSpec& spec) {
  if (spec.argv.empty()) throw Error("no command to run");
  std::vector<std::string> env_strings = target_environment(environ, spec.shim_path,
                                                            spec.fifo_path);
  for (const std::string& extra : spec.extra_env) {
    std::string prefix = extra.substr(0, extra.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& e) { return e.starts_with(prefix); });
    env_strings.push_back(extra);
  }
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  Launched out;
  char found[PATH_MAX];
  const char* path_env = getenv("PATH");
  if (vt_shim::search_path(spec.argv[0].c_str(), path_env, found, sizeof found)) {
    out.path = found;
    out.exe_flags = vt_shim::probe_exe(AT_FDCWD, found);
  } else {
    out.path = spec.argv[0];
    out.exe_flags = VT_EXE_UNREADABLE;
  }

  // The child reports a failed exec through this pipe; a successful exec closes it.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) throw system_error("cannot create a pipe");
  // vfork: the child borrows our memory until it execs, so nothing is copied, and nothing
  // this process writes later takes a copy-on-write fault (a fork cost ~1 ms here in faults).
  // Every signal is blocked around it, so no handler of ours ever runs in the child; the child
  // puts the dispositions and the mask back before it execs.
  sigset_t all, mask;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &mask);
  out.ts = monotonic_ns();
  pid_t pid = vfork();
  if (pid == 0) {
    SignalGuard::restore_for_child();
    execvpe(argv[0], argv.data(), envp.data());
    int err = errno;
    ssize_t w = write(report[1], &err, sizeof err);
    (void)w;
    _exit(127);  // never exit(): the atexit hook would sweep the parent's session
  }
  int fork_err = errno;
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    throw system_error("cannot fork", fork_err);
  }
  close(report[1]);
  int err = 0;
  ssize_t got;
  do got = read(report[0], &err, sizeof err);
  while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got == sizeof err) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int code = (err == ENOENT || err == ENOTDIR) ? 127 : 126;
    throw LaunchError("cannot run '" + spec.argv[0] + "': " + std::strerror(err), code);
  }
  out.pid = pid;
  return out;
}

}  // namespace viztrace
