// What the integration tests share: a sandbox per test (a fresh TMPDIR and working dir), a way
// to run the real viztrace binary with a deadline, and a parsed view of the report it wrote.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/skip.h"

namespace vt_test {

// Paths of the binaries under test, from the build (overridable with $VIZTRACE_BIN).
std::string viztrace_bin();
std::string fixture(const std::string& name);

struct Result {
  int status = 0;  // raw wait status of viztrace
  std::string out, err;
  bool exited() const;
  int exit_code() const;  // -1 when it did not exit normally
  int signal() const;     // 0 when not killed by a signal
};

struct Options {
  std::map<std::string, std::string> env;  // added to (or replacing) the inherited environment
  std::vector<std::string> unset;          // removed from it
  std::string stdin_data;
  double timeout_s = 60;
  bool own_group = false;  // start it in a process group of its own (as a shell job)
  bool close_stderr = false;
};

// A process started in the background, for tests that signal it while it runs.
class Running {
 public:
  Running(const std::vector<std::string>& argv, const std::string& cwd, const std::string& tmp,
          const Options& o);
  ~Running();  // kills what is left of it (its group when it has one)
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

  pid_t pid() const { return pid_; }
  // Waits until text appears on its stdout / stderr; fails the test after timeout_s.
  void wait_for_out(const std::string& text, double timeout_s = 30);
  void wait_for_err(const std::string& text, double timeout_s = 30);
  void signal(int sig);        // to the process alone
  void signal_group(int sig);  // to its whole process group, as a terminal's Ctrl+C does
  // Waits for it to end; fails the test after timeout_s.
  Result finish(double timeout_s = 60);
  const std::string& out() const { return r_.out; }
  const std::string& err() const { return r_.err; }

 private:
  bool pump(double timeout_s);  // reads what is there; true once the process has ended
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1, pidfd_ = -1;
  bool own_group_ = false, reaped_ = false;
  Result r_;
};

// One process of the report: a cat:"process" X event.
struct Process {
  long long pid = 0, tid = 0, ppid = -1;
  std::string name;
  std::vector<std::string> argv;
  std::string exe, started_by;
  std::optional<long long> exit_code, signal;
  std::optional<long long> ns_pid;  // its pid in the PID namespace it ran in
  bool traced = true;
  bool target = false;  // the command viztrace ran
  double ts = 0, dur = 0;
};

struct Thread {
  long long pid = 0, tid = 0;
  std::string name;
  double ts = 0, dur = 0;
};

struct Report {
  std::vector<Process> processes;                                       // one per process image
  std::vector<Thread> threads;                                          // cat:"thread" spans
  std::map<std::pair<long long, long long>, std::string> thread_names;  // thread_name metadata
  std::string raw;                                                      // the JSON text
  // Images whose argv[0] ends with the given basename.
  std::vector<Process> named(const std::string& base) const;
  const Process* find_pid(long long pid) const;
  // The image of p's parent that was running when p started (its last image if none was).
  const Process* parent_of(const Process& p) const;
  // The image of the command viztrace ran (fails the test if there is not exactly one).
  Process target() const;
};

// A whole file (a ".gz" one decompressed); fails the test when it cannot be read.
std::string slurp(const std::string& path);
// Whether an executable of that name is on PATH (tests of optional tools skip without it).
bool on_path(const std::string& program);
// The children of pid, from /proc.
std::vector<pid_t> children_of(pid_t pid);
// Waits for any process (not only a child) to end, through a pidfd; fails after timeout_s.
void await_exit(pid_t pid, double timeout_s = 30);

// A successful execve in the logs of `strace -ff -o <prefix>` (one file per process, so no
// exec is split across lines by another process's): the path exec'd and argv[0].
struct StracedExec {
  std::string path, arg0;
};
std::vector<StracedExec> strace_execs(const std::string& prefix);

class Sandbox;
// Every integration test ends with this: nothing left behind in the temp root.
void require_clean(const Sandbox& s);
// Runs a compiler command in s's working dir; fails the test, with its stderr, if it fails.
void compile(const Sandbox& s, const std::vector<std::string>& argv);
// Runs argv under `strace -ff -qq -e trace=execve -e signal=none -o <prefix>`: a log per process,
// for strace_execs. Creates prefix's directory.
Result straced(const Sandbox& s, const std::vector<std::string>& argv, const std::string& prefix,
               const Options& o = {});
// Leaves the trace data dir of a `viztrace run` killed with SIGKILL once its spill has data, and
// kills its command: a trace for recover, the only entry in the temp root.
void leave_orphan(const Sandbox& s);
// Kills a running `viztrace run` (of one command) with SIGKILL once its spill holds the
// modules a function ring announced, waits for the command to end, then runs
// `viztrace recover -q -o r.json`, which must succeed.
void kill_then_recover(const Sandbox& s, Running& run);

class Sandbox {
 public:
  Sandbox();
  ~Sandbox();  // removes the work dir (never the TMPDIR: tests assert it is empty)
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& tmp() const { return tmp_; }  // $TMPDIR for viztrace
  const std::string& dir() const { return dir_; }  // working dir
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Runs viztrace with args in dir(), TMPDIR=tmp(). Fails the test on timeout.
  Result viztrace(const std::vector<std::string>& args, const Options& o = {}) const;
  // Runs any command the same way (for untraced comparisons).
  Result command(const std::vector<std::string>& argv, const Options& o = {}) const;
  // Starts viztrace (or any command) in the background.
  std::unique_ptr<Running> start_viztrace(const std::vector<std::string>& args,
                                          const Options& o = {}) const;
  std::unique_ptr<Running> start(const std::vector<std::string>& argv, const Options& o = {}) const;
  // Entries left in the temp root (must be none after every run).
  std::vector<std::string> temp_leftovers() const;
  // Parses the report at path (.json or .json.gz); fails the test when it is not valid.
  Report report(const std::string& name = "viztrace.json") const;
  void write_file(const std::string& name, const std::string& content,
                  bool executable = false) const;

 private:
  std::string root_, tmp_, dir_;
};

}  // namespace vt_test
