// Processes inside PID namespaces (unshare -p, bubblewrap, Bazel's and Nix's sandboxes) are
// recorded under the pids of viztrace's namespace, each with its own exit code and duration,
// and with the pid it had inside as args.ns_pid. strace -f is the oracle for what ran.
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "test/integration/harness.h"
#include "test/skip.h"

using namespace vt_test;

namespace {

// Whether `unshare -pf` works here (root, or user namespaces allowed).
bool can_unshare(const Sandbox& s) {
  if (!on_path("unshare") || !on_path("strace")) return false;
  return s.command({"unshare", "-pf", "--mount-proc", "true"}).exit_code() == 0;
}

// How many times each program was exec'd successfully, by base name, per strace -f (a log per
// process, so that no line is split between two).
std::map<std::string, int> execs_by_strace(const Sandbox& s, const std::vector<std::string>& cmd) {
  REQUIRE(straced(s, cmd, s.path("strace/log")).exit_code() == 0);
  std::map<std::string, int> runs;
  for (const StracedExec& e : strace_execs(s.path("strace/log")))
    ++runs[e.path.substr(e.path.rfind('/') + 1)];
  return runs;
}

// Two sandboxes side by side, each running programs with exit codes of their own.
const char* const kTwoSandboxes =
    "unshare -pf %s sh -c 'sh -c \"sleep 0.2; exit 3\"; sh -c \"exit 5\"; exit 7' & "
    "unshare -pf %s sh -c 'sh -c \"sleep 0.3; exit 4\"; sh -c \"exit 6\"; exit 8' & wait";

std::string two_sandboxes(const char* mount_proc) {
  char buf[512];
  std::snprintf(buf, sizeof buf, kTwoSandboxes, mount_proc, mount_proc);
  return buf;
}

// The images of programs exec'd under that base name (not a fork's copy of its parent).
int runs_of(const Report& rep, const std::string& name) {
  int n = 0;
  for (const Process& p : rep.named(name)) n += p.started_by != "fork";
  return n;
}

// The images whose argv ends with `last`.
std::vector<Process> with_last_arg(const Report& rep, const std::string& last) {
  std::vector<Process> out;
  for (const Process& p : rep.processes)
    if (!p.argv.empty() && p.argv.back() == last) out.push_back(p);
  return out;
}

void check_two_sandboxes(const Sandbox& s, const char* mount_proc) {
  const std::string script = two_sandboxes(mount_proc);
  auto oracle = execs_by_strace(s, {"sh", "-c", script});
  auto r = s.viztrace({"run", "--", "sh", "-c", script});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report();
  // Every program strace saw, as often: sh (1 + 2 inits + 4 inner), unshare, sleep.
  for (const auto& [name, runs] : oracle) {
    INFO(name);
    CHECK(runs_of(rep, name) == runs);
  }
  // Each inner program under a pid of its own, with its own exit code, inner pid as arg.
  std::set<long long> pids;
  struct Expect {
    const char* last_arg;
    int exit_code;
    double min_ms;
  };
  for (Expect e : {Expect{"sleep 0.2; exit 3", 3, 200}, Expect{"sleep 0.3; exit 4", 4, 300},
                   Expect{"exit 5", 5, 0}, Expect{"exit 6", 6, 0}}) {
    INFO(e.last_arg);
    auto images = with_last_arg(rep, e.last_arg);
    REQUIRE(images.size() == 1);
    const Process& p = images[0];
    CHECK(p.exit_code == e.exit_code);
    CHECK(p.dur >= e.min_ms * 1000);
    REQUIRE(p.ns_pid.has_value());
    CHECK(*p.ns_pid != p.pid);
    CHECK(*p.ns_pid < 10);  // a new namespace numbers from 1
    CHECK(p.pid != *p.ns_pid);
    CHECK(rep.find_pid(p.ppid) != nullptr);  // its parent is a process of the trace
    pids.insert(p.pid);
  }
  CHECK(pids.size() == 4);
  // The sandboxes' inits (pid 1 inside), each with its own exit code.
  for (auto [last, code] :
       {std::pair{"sh -c \"sleep 0.2; exit 3\"; sh -c \"exit 5\"; exit 7", 7},
        std::pair{"sh -c \"sleep 0.3; exit 4\"; sh -c \"exit 6\"; exit 8", 8}}) {
    INFO(last);
    std::vector<Process> inits;
    for (const Process& p : with_last_arg(rep, last))
      if (p.name == "sh" && p.started_by != "fork") inits.push_back(p);
    REQUIRE(inits.size() == 1);
    CHECK(inits[0].exit_code == code);
    CHECK(inits[0].ns_pid == 1);
    CHECK(inits[0].pid != 1);
  }
  // No process under a pid nobody had outside.
  for (const Process& p : rep.processes) CHECK(p.pid > 2);
  require_clean(s);
}

}  // namespace

TEST_CASE("processes in two PID namespaces side by side keep their own pids and exit codes") {
  Sandbox s;
  if (!can_unshare(s)) VT_SKIP("cannot unshare a PID namespace here (needs root or userns)");
  check_two_sandboxes(s, "");
}

TEST_CASE("processes in PID namespaces with their own /proc keep their own pids and exit codes") {
  Sandbox s;
  if (!can_unshare(s)) VT_SKIP("cannot unshare a PID namespace here (needs root or userns)");
  check_two_sandboxes(s, "--mount-proc");
}

TEST_CASE("a sandbox whose init forks, execs the work and reaps it is recorded whole") {
  // As Bazel's linux-sandbox does: pid 1 is a small init that starts the real command and
  // waits for it; the command's children are its own.
  Sandbox s;
  if (!can_unshare(s)) VT_SKIP("cannot unshare a PID namespace here (needs root or userns)");
  const std::string script =
      "unshare -pf --mount-proc sh -c '"
      "sh -c \"sh -c \\\"sleep 0.1; exit 9\\\"; exit 11\" & wait $!; echo work=$?; exit 0'";
  auto oracle = execs_by_strace(s, {"sh", "-c", script});
  auto r = s.viztrace({"run", "--", "sh", "-c", script});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "work=11\n");
  Report rep = s.report();
  for (const auto& [name, runs] : oracle) {
    INFO(name);
    CHECK(runs_of(rep, name) == runs);
  }
  auto work = with_last_arg(rep, "sh -c \"sleep 0.1; exit 9\"; exit 11");
  auto leaf = with_last_arg(rep, "sleep 0.1; exit 9");
  REQUIRE(work.size() == 1);
  REQUIRE(leaf.size() == 1);
  CHECK(work[0].exit_code == 11);
  CHECK(leaf[0].exit_code == 9);
  CHECK(leaf[0].dur >= 100000);
  CHECK(work[0].dur >= leaf[0].dur);
  CHECK(leaf[0].ppid == work[0].pid);
  REQUIRE(work[0].ns_pid.has_value());
  std::vector<Process> inits;
  for (const Process& p : rep.processes)
    if (p.pid == work[0].ppid && p.started_by != "fork") inits.push_back(p);
  REQUIRE(inits.size() == 1);
  CHECK(inits[0].ns_pid == 1);
  CHECK(inits[0].exit_code == 0);
  for (const Process& p : rep.processes) CHECK(p.pid > 2);
  require_clean(s);
}
