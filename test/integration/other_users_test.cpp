// Processes after a change of user or root (setpriv, su, chroot) cannot reach the session:
// they are followed through /proc, so every program strace sees run appears, with how it
// ended, and the summary says how many were followed from outside. What the programs print is
// what they print untraced.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "harness.h"

using namespace vt_test;

namespace {

// A program by argv[0]'s last component: a process that ended before viztrace could read its
// argv is known by the kernel's name for it.
std::string program_name(const std::string& arg0) {
  return arg0.substr(arg0.rfind('/') == std::string::npos ? 0 : arg0.rfind('/') + 1);
}

// argv[0] of every successful execve in the logs of `strace -ff -o <prefix>`, counted.
std::map<std::string, int> strace_programs(const std::string& prefix) {
  std::map<std::string, int> counts;
  for (const StracedExec& e : strace_execs(prefix)) ++counts[program_name(e.arg0)];
  return counts;
}

// The same for the images of a report (argv[0] of each image that is not a bare fork).
std::map<std::string, int> report_programs(const Report& rep) {
  std::map<std::string, int> counts;
  for (const auto& p : rep.processes)
    if (p.started_by != "fork" && !p.argv.empty()) ++counts[program_name(p.argv[0])];
  return counts;
}

// Runs argv under strace -ff (the oracle) and under viztrace; both must agree on the programs
// that ran, and on what the command printed and how it ended.
void same_programs_as_strace(const Sandbox& s, const std::vector<std::string>& argv,
                             int expected_status) {
  Result oracle = straced(s, argv, s.path("strace/log"));
  REQUIRE(oracle.exit_code() == expected_status);
  Result plain = s.command(argv);
  std::vector<std::string> traced_argv = {"run", "--"};
  traced_argv.insert(traced_argv.end(), argv.begin(), argv.end());
  Result r = s.viztrace(traced_argv);
  INFO(r.err);
  CHECK(r.exit_code() == expected_status);
  CHECK(r.out == plain.out);
  // The command's own stderr comes first, then viztrace's summary.
  CHECK(r.err.substr(0, plain.err.size()) == plain.err);
  CHECK(r.err.find("followed from outside") != std::string::npos);
  Report rep = s.report();
  auto text = [](const std::map<std::string, int>& m) {
    std::string out;
    for (const auto& [name, n] : m) out += name + " x" + std::to_string(n) + "; ";
    return out;
  };
  const std::map<std::string, int> traced = report_programs(rep);
  const std::map<std::string, int> seen = strace_programs(s.path("strace/log"));
  INFO("report: " << text(traced));
  INFO("strace: " << text(seen));
  // A program that ended before viztrace could read its argv is an exec of an unknown
  // program: it still counts, for whichever program strace saw.
  int unknown = traced.count("") ? traced.at("") : 0;
  int missing = 0, total_seen = 0, total_traced = 0;
  for (const auto& [name, n] : seen) {
    total_seen += n;
    const int found = traced.count(name) ? traced.at(name) : 0;
    if (found < n) missing += n - found;
  }
  for (const auto& [name, n] : traced) total_traced += n;
  CHECK(missing <= unknown);
  CHECK(total_traced == total_seen);
  for (const auto& p : rep.processes)
    if (p.argv.size() == 1 && p.argv[0] == "true") CHECK(p.exit_code == 0);
  require_clean(s);
}

bool root_with(std::initializer_list<const char*> programs) {
  if (geteuid() != 0) return false;
  for (const char* p : programs)
    if (!on_path(p)) return false;
  return true;
}

}  // namespace

TEST_CASE("after setpriv to another user, every program still appears, with its status") {
  if (!root_with({"setpriv", "strace"})) VT_SKIP("needs root, setpriv and strace");
  Sandbox s;
  same_programs_as_strace(s,
                          {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh",
                           "-c", "sleep 0.1; /bin/true; echo out; echo err >&2; sh -c 'exit 6'"},
                          6);
}

TEST_CASE("after su to another user, every program still appears, with its status") {
  if (!root_with({"su", "strace"})) VT_SKIP("needs root, su and strace");
  Sandbox s;
  same_programs_as_strace(
      s, {"su", "nobody", "-s", "/bin/sh", "-c", "/bin/true; sleep 0.1; echo out; exit 5"}, 5);
}

TEST_CASE("after runuser to another user, every program still appears, with its status") {
  if (!root_with({"runuser", "strace"})) VT_SKIP("needs root, runuser and strace");
  Sandbox s;
  same_programs_as_strace(
      s, {"runuser", "-u", "nobody", "--", "sh", "-c", "/bin/true; sleep 0.1; exit 3"}, 3);
}

TEST_CASE("after sudo to another user, every program still appears, with its status") {
  if (!root_with({"sudo", "strace"})) VT_SKIP("needs root, sudo and strace");
  Sandbox s;
  same_programs_as_strace(
      s, {"sudo", "-u", "nobody", "sh", "-c", "/bin/true; sleep 0.1; echo out; exit 7"}, 7);
}

TEST_CASE("in a chroot the programs print what they print untraced, and all appear") {
  if (!root_with({"chroot", "strace", "ldd"})) VT_SKIP("needs root, chroot, strace and ldd");
  Sandbox s;
  // A root with a shell and `true` and the libraries they need, and no viztrace in it.
  const std::string root = s.path("root");
  Result made = s.command({"sh", "-c",
                           "set -e; for p in /bin/sh /bin/true; do mkdir -p \"" + root +
                               "$(dirname $p)\";"
                               " cp \"$(readlink -f $p)\" \"" +
                               root +
                               "$p\";"
                               " for lib in $(ldd $p | grep -o '/[^ ]*'); do mkdir -p \"" +
                               root +
                               "$(dirname $lib)\";"
                               " cp -L \"$lib\" \"" +
                               root + "$lib\"; done; done"});
  INFO(made.err);
  REQUIRE(made.exit_code() == 0);
  same_programs_as_strace(
      s, {"chroot", root, "/bin/sh", "-c", "/bin/true; echo in chroot; echo err >&2; exit 4"}, 4);
}
