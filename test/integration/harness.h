// What the integration tests share: a sandbox per test (a fresh TMPDIR and working dir), a way
// to run the real viztrace binary with a deadline, and a parsed view of the report it wrote.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

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
};

// One process of the report: a cat:"process" X event.
struct Process {
  long long pid = 0, tid = 0, ppid = -1;
  std::string name;
  std::vector<std::string> argv;
  std::string exe, started_by;
  std::optional<long long> exit_code, signal;
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
  std::vector<Process> processes;  // one per process image
  std::vector<Thread> threads;     // cat:"thread" spans
  std::map<std::pair<long long, long long>, std::string> thread_names;  // thread_name metadata
  std::string raw;                 // the JSON text
  // Images whose argv[0] ends with the given basename.
  std::vector<Process> named(const std::string& base) const;
  const Process* find_pid(long long pid) const;
  // The image of p's parent that was running when p started (its last image if none was).
  const Process* parent_of(const Process& p) const;
  // The image of the command viztrace ran (fails the test if there is not exactly one).
  Process target() const;
};

class Sandbox {
 public:
  Sandbox();
  ~Sandbox();  // removes the work dir (never the TMPDIR: tests assert it is empty)
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& tmp() const { return tmp_; }   // $TMPDIR for viztrace
  const std::string& dir() const { return dir_; }   // working dir
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Runs viztrace with args in dir(), TMPDIR=tmp(). Fails the test on timeout.
  Result viztrace(const std::vector<std::string>& args, const Options& o = {}) const;
  // Runs any command the same way (for untraced comparisons).
  Result command(const std::vector<std::string>& argv, const Options& o = {}) const;
  // Entries left in the temp root (must be none after every run).
  std::vector<std::string> temp_leftovers() const;
  // Parses the report at path (.json or .json.gz); fails the test when it is not valid.
  Report report(const std::string& name = "viztrace.json") const;
  void write_file(const std::string& name, const std::string& content, bool executable = false) const;

 private:
  std::string root_, tmp_, dir_;
};

}  // namespace vt_test
