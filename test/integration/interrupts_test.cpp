// Ctrl+C, SIGTERM and friends: the target gets them as it would untraced, viztrace waits for it,
// keeps what was collected, writes the report, sweeps, and ends the way the target did. Never
// traps the user; never lets descendants keep it waiting forever.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "harness.h"

using namespace vt_test;

namespace {

Options job() {
  Options o;
  o.own_group = true;  // like a shell job in a terminal: Ctrl+C goes to the whole group
  return o;
}

}  // namespace

TEST_CASE("Ctrl+C reaches the target: viztrace keeps the report, sweeps, and dies of SIGINT") {
  Sandbox s;
  auto run = s.start_viztrace(
      {"run", "--", "sh", "-c", fixture("signal_target") + " default; echo never"}, job());
  run->wait_for_out("ready");
  run->signal_group(SIGINT);
  Result r = run->finish();
  INFO(r.err);
  // A shell shows 130 and stops a script, as for the target itself.
  CHECK(r.signal() == SIGINT);
  CHECK(r.out == "ready\n");
  Report rep = s.report();
  CHECK(rep.target().signal == SIGINT);
  auto child = rep.named("signal_target");
  REQUIRE(child.size() == 1);
  CHECK(child[0].signal == SIGINT);
  CHECK(child[0].ppid == rep.target().pid);
  CHECK(r.err.find("killed by SIGINT") != std::string::npos);
  require_clean(s);
}

TEST_CASE("a target that handles Ctrl+C and exits 0 makes viztrace exit 0") {
  Sandbox s;
  auto run = s.start_viztrace({"run", "--", fixture("signal_target"), "catch"}, job());
  run->wait_for_out("ready");
  run->signal_group(SIGINT);
  Result r = run->finish();
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "ready\ncaught SIGINT\n");
  CHECK(s.report().target().exit_code == 0);
  require_clean(s);
}

TEST_CASE("a target that ignores Ctrl+C: the second sends SIGTERM, the third SIGKILL") {
  Sandbox s;
  SECTION("SIGTERM ends it") {
    auto run = s.start_viztrace({"run", "--", fixture("signal_target"), "ignore"}, job());
    run->wait_for_out("ready");
    run->signal_group(SIGINT);
    run->wait_for_err("still running; interrupt again to send it SIGTERM");
    run->signal_group(SIGINT);
    Result r = run->finish();
    INFO(r.err);
    CHECK(r.err.find("sent SIGTERM") != std::string::npos);
    CHECK(r.signal() == SIGTERM);
    CHECK(s.report().target().signal == SIGTERM);
  }
  SECTION("only SIGKILL ends it") {
    auto run = s.start_viztrace({"run", "--", fixture("signal_target"), "ignore-all"}, job());
    run->wait_for_out("ready");
    run->signal_group(SIGINT);
    run->wait_for_err("interrupt again");
    run->signal_group(SIGINT);
    run->wait_for_err("sent SIGTERM");
    run->signal_group(SIGINT);
    Result r = run->finish();
    INFO(r.err);
    CHECK(r.err.find("sent SIGKILL") != std::string::npos);
    CHECK(r.signal() == SIGKILL);
    CHECK(s.report().target().signal == SIGKILL);
  }
  require_clean(s);
}

TEST_CASE("SIGTERM or SIGHUP sent to viztrace alone is passed on to the target") {
  Sandbox s;
  int sig = GENERATE(SIGTERM, SIGHUP);
  auto run = s.start_viztrace({"run", "--", fixture("signal_target"), "default"}, job());
  run->wait_for_out("ready");
  run->signal(sig);
  Result r = run->finish();
  INFO(r.err);
  CHECK(r.signal() == sig);
  CHECK(s.report().target().signal == sig);
  require_clean(s);
}

TEST_CASE("descendants that outlive the target keep viztrace only for the linger time") {
  Sandbox s;
  auto r = s.viztrace({"run", "--linger", "0.3", "--", "sh", "-c", "sleep 30 & echo $!"});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  CHECK(r.err.find("1 process still running") != std::string::npos);
  long long straggler = std::stoll(r.out);
  Report rep = s.report();
  auto sleep = rep.named("sleep");
  REQUIRE(sleep.size() == 1);
  CHECK(sleep[0].pid == straggler);
  CHECK_FALSE(sleep[0].exit_code.has_value());
  kill(static_cast<pid_t>(straggler), SIGKILL);
  require_clean(s);
}

TEST_CASE("an interrupt while descendants linger ends the wait at once") {
  Sandbox s;
  auto run = s.start_viztrace({"run", "--linger", "60", "--", "sh", "-c",
                               "sleep 30 & echo $!; echo ready"},
                              job());
  run->wait_for_out("ready");
  long long straggler = std::stoll(run->out());
  // Once the target is gone, only the straggler keeps the session open.
  for (pid_t child : children_of(run->pid()))
    if (child != straggler) await_exit(child);
  run->signal(SIGTERM);
  Result r = run->finish(20);
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  // Still running (maybe not even exec'd yet): in the report, with no exit status.
  Report rep = s.report();
  const Process* p = rep.find_pid(straggler);
  REQUIRE(p);
  CHECK_FALSE(p->exit_code.has_value());
  CHECK_FALSE(p->signal.has_value());
  kill(static_cast<pid_t>(straggler), SIGKILL);
  require_clean(s);
}

TEST_CASE("a CI cancel: the shell around viztrace is terminated, viztrace still reports") {
  // GitHub Actions sends SIGINT to the step's shell only (a non-interactive shell does not pass
  // it on), then SIGTERM to it; viztrace learns of its parent's death (PR_SET_PDEATHSIG).
  Sandbox s;
  s.write_file("step.sh", "#!/bin/bash\n" + viztrace_bin() +
                              " run -o report.json -- sh -c 'echo ready; sleep 30'\necho after\n",
               true);
  auto shell = s.start({"bash", s.path("step.sh")}, job());
  shell->wait_for_out("ready");
  auto children = children_of(shell->pid());
  REQUIRE(children.size() == 1);  // viztrace, the shell's foreground command
  pid_t viztrace = children[0];
  shell->signal(SIGINT);
  shell->signal(SIGTERM);
  Result r = shell->finish();
  CHECK(r.signal() == SIGTERM);
  await_exit(viztrace);
  Report rep = s.report("report.json");
  CHECK(rep.target().signal == SIGHUP);
  require_clean(s);
}
