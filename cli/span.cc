// viztrace span NAME [--] command [args...]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

#include "cli/commands.h"
#include "cli/end_like.h"
#include "cli/shim_annotations.h"
#include "common/error.h"
#include "report/model/exit_status.h"

namespace viztrace::cli {
namespace {

volatile sig_atomic_t g_child = 0;

// Async-signal-safe: SIGTERM or SIGHUP sent to us alone (a CI runner, `timeout`) goes on to
// the command, whose end then decides ours. SIGINT and SIGQUIT from a terminal reach the whole
// foreground group, the command included: we only wait for it, as a shell does.
void on_signal(int sig) {
  if (sig == SIGTERM || sig == SIGHUP) {
    pid_t child = g_child;
    if (child > 0) kill(child, sig);
  }
}

// Runs the command as a child and returns its wait status; 127 (not found) or 126 (cannot run)
// when it could not start, as a shell does, with the reason printed.
int run_child(const std::vector<std::string>& command) {
  std::vector<const char*> argv = c_list(command);
  int report[2];  // the child's exec error, if any; a successful exec closes it
  if (pipe2(report, O_CLOEXEC) != 0) throw system_error("span: cannot make a pipe");
  const int kSignals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
  struct sigaction sa = {}, old[4];
  bool caught[4] = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigset_t block, saved;
  sigemptyset(&block);
  for (int i = 0; i < 4; ++i) {
    // Caught, not ignored: exec gives the command the defaults. One ignored already (nohup, a
    // background job of a script) stays ignored, for the command too, as without us.
    sigaction(kSignals[i], nullptr, &old[i]);
    if (old[i].sa_handler == SIG_IGN) continue;
    sigaction(kSignals[i], &sa, nullptr);
    caught[i] = true;
    sigaddset(&block, kSignals[i]);
  }
  // Held back until the child's pid is known, so that none is lost.
  sigprocmask(SIG_BLOCK, &block, &saved);
  // fork and exec, not posix_spawn: glibc's posix_spawn leaves its internal signals (32, 33)
  // ignored in the command, which would then differ from the same command run by a shell.
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    for (int i = 0; i < 4; ++i)
      if (caught[i]) signal(kSignals[i], SIG_DFL);
    sigprocmask(SIG_SETMASK, &saved, nullptr);
    execvp(argv[0], const_cast<char* const*>(argv.data()));
    int err = errno;
    ssize_t ignored = write(report[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  int err = pid < 0 ? errno : 0;
  close(report[1]);
  if (pid > 0) {
    g_child = pid;
    while (read(report[0], &err, sizeof err) < 0 && errno == EINTR) {
    }
  }
  close(report[0]);
  sigprocmask(SIG_SETMASK, &saved, nullptr);
  int status = 0;
  if (pid > 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  if (err != 0) {
    std::fprintf(stderr, "viztrace: span: cannot run %s: %s\n", argv[0], std::strerror(err));
    status = W_EXITCODE(err == ENOENT ? 127 : 126, 0);
  }
  g_child = 0;
  for (int i = 0; i < 4; ++i)
    if (caught[i]) sigaction(kSignals[i], &old[i], nullptr);
  return status;
}

[[noreturn]] void span(const std::vector<std::string>& words) {
  std::size_t at = 0;
  if (words.empty() || words[0].empty() || words[0] == "--")
    throw Error("span: no NAME given (viztrace span NAME -- command [args...])");
  const std::string& name = words[at++];
  if (at < words.size() && words[at] == "--") ++at;
  std::vector<std::string> command(words.begin() + static_cast<std::ptrdiff_t>(at), words.end());
  if (command.empty())
    throw Error("span: no command given (viztrace span NAME -- command [args...])");

  ShimAnnotations shim = ShimAnnotations::find();
  if (shim.span_begin) shim.span_begin(name.c_str());
  int status = run_child(command);
  if (shim.span_end_args) {
    std::vector<std::string> args;
    if (WIFEXITED(status)) {
      args.push_back("exit_code=" + std::to_string(WEXITSTATUS(status)));
    } else if (WIFSIGNALED(status)) {
      args.push_back("signal=" + std::to_string(WTERMSIG(status)));
      args.push_back("signal_name=" + report::signal_name(WTERMSIG(status)));
    }
    shim.span_end_args(c_list(args).data());
  }
  end_like(status);
}

}  // namespace

Command add_span_command(CLI::App& app) {
  auto words = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "span",
      "Run a command as a named span of a traced run, from a shell script or any program.\n"
      "Usage: viztrace span NAME [--] command [args...]\n"
      "Exits with the command's status; outside `viztrace run` it just runs the command.");
  cmd->footer(
      "The report shows a slice NAME (cat \"span\") on this viztrace process's track, over the\n"
      "command (its child), with args.exit_code, or args.signal and args.signal_name.\n"
      "viztrace ends as the command did: its exit code, or death by the same signal for\n"
      "SIGINT, SIGTERM and the like (else 128+N), so `set -e` and `||` work as without it. A\n"
      "command that cannot be found exits 127 (126 when it cannot run), as in a shell. Ctrl+C\n"
      "reaches the command; SIGTERM and SIGHUP sent to viztrace are passed on to it.\n\n"
      "Examples:\n"
      "  viztrace span build -- make -j8\n"
      "  viztrace span \"unit tests\" -- ctest -j4 || echo 'tests failed, going on'\n"
      "  viztrace run -- ./ci.sh          (ci.sh calls viztrace span/mark/counter)");
  return {cmd, [words]() -> int { span(*words); },
          [words](int argc, char** argv) {
            int i = subcommand_index(argc, argv);
            if (i == argc || std::strcmp(argv[i], "span") != 0) return argc;
            if (i + 1 < argc &&
                (std::strcmp(argv[i + 1], "-h") == 0 || std::strcmp(argv[i + 1], "--help") == 0))
              return argc;
            words->assign(argv + i + 1, argv + argc);
            return i + 1;
          }};
}

}  // namespace viztrace::cli
