// viztrace run on real process trees: every process appears with its argv, parent and status,
// the exit status is the target's, and the temp root is empty afterwards.
#include <climits>
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "harness.h"

using namespace vt_test;


TEST_CASE("shell pipeline: every stage appears with argv, parent and exit code") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", "sh", "-c", "printf 'b\\na\\nc\\n' | sort | head -n 2; exit 7"});
  INFO(r.err);
  CHECK(r.exit_code() == 7);
  CHECK(r.out == "a\nb\n");
  Report rep = s.report();
  const Process sh = rep.target();
  CHECK(sh.name == "sh");
  CHECK(sh.exit_code == 7);
  CHECK(sh.argv == std::vector<std::string>{"sh", "-c", "printf 'b\\na\\nc\\n' | sort | head -n 2; exit 7"});
  for (const char* stage : {"sort", "head"}) {
    auto found = rep.named(stage);
    INFO(stage);
    REQUIRE(found.size() == 1);
    CHECK(found[0].ppid == sh.pid);
    CHECK(found[0].exit_code == 0);
    CHECK(found[0].ts >= sh.ts);
    CHECK(found[0].ts + found[0].dur <= sh.ts + sh.dur + 1e-3);
  }
  CHECK(rep.named("head")[0].argv == std::vector<std::string>{"head", "-n", "2"});
  require_clean(s);
}

TEST_CASE("a program run by a relative path has its absolute path as exe, without ./") {
  Sandbox s;
  s.command({"mkdir", "bin"});
  s.command({"cp", "/bin/true", "bin/mytrue"});
  auto r = s.viztrace({"run", "--", "sh", "-c", "./bin/mytrue && .//./bin/mytrue && cd / && "
                       "\"${0#/}\"/bin/mytrue && cd \"$0\"/bin && ./mytrue", s.dir()});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  auto runs = s.report().named("mytrue");
  REQUIRE(runs.size() == 4);
  char real[PATH_MAX];
  REQUIRE(realpath(s.dir().c_str(), real) != nullptr);
  for (const Process& p : runs) CHECK(p.exe == std::string(real) + "/bin/mytrue");
  require_clean(s);
}

TEST_CASE("target exit status is viztrace's exit status") {
  Sandbox s;
  auto r = s.viztrace({"run", "-q", "--", "sh", "-c", "exit 42"});
  CHECK(r.exit_code() == 42);
  CHECK(r.err.empty());
  CHECK(s.report().target().exit_code == 42);
  require_clean(s);
}

TEST_CASE("target killed by SIGSEGV: reported as a signal, viztrace exits 139") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("segv")});
  CHECK(r.exit_code() == 128 + SIGSEGV);
  CHECK(r.out == "about to crash\n");
  CHECK(r.err.find("SIGSEGV") != std::string::npos);
  auto p = s.report().named("segv");
  REQUIRE(p.size() == 1);
  CHECK(p[0].signal == SIGSEGV);
  CHECK_FALSE(p[0].exit_code.has_value());
  require_clean(s);
}

TEST_CASE("fork without exec: each child is its own process with its own exit code") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("fork_no_exec")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report();
  auto all = rep.named("fork_no_exec");
  REQUIRE(all.size() == 4);
  auto parent = std::find_if(all.begin(), all.end(), [](auto& p) { return p.started_by != "fork"; });
  REQUIRE(parent != all.end());
  std::multiset<long long> codes;
  for (const auto& p : all) {
    if (p.pid == parent->pid) continue;
    CHECK(p.ppid == parent->pid);
    CHECK(p.started_by == "fork");
    REQUIRE(p.exit_code.has_value());
    codes.insert(*p.exit_code);
    // The report says which pid exited with which code, as the program itself printed it.
    CHECK(r.out.find("child " + std::to_string(p.pid) + " exited " + std::to_string(*p.exit_code)) !=
          std::string::npos);
  }
  CHECK(codes == std::multiset<long long>{10, 11, 12});
  require_clean(s);
}

TEST_CASE("the shim leaves no descriptor open in the program, however much it says") {
  Sandbox s;
  // Forks, a thread and an exit all make the shim write; between its writes, none of its
  // descriptors is open.
  s.write_file("fds.c",
               "#include <dirent.h>\n#include <pthread.h>\n#include <stdio.h>\n"
               "#include <stdlib.h>\n#include <string.h>\n#include <sys/wait.h>\n"
               "#include <unistd.h>\n"
               "static void* nop(void* a) { return a; }\n"
               "int main(void) {\n"
               "  for (int i = 0; i < 3; i++) {\n"
               "    pid_t p = fork();\n"
               "    if (p == 0) _exit(0);\n"
               "    waitpid(p, 0, 0); }\n"
               "  pthread_t t;\n"
               "  pthread_create(&t, 0, nop, 0);\n"
               "  pthread_join(t, 0);\n"
               "  DIR* d = opendir(\"/proc/self/fd\");\n"
               "  int all = 0, session = 0, highest = -1;\n"
               "  for (struct dirent* e; (e = readdir(d));) {\n"
               "    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;\n"
               "    char path[64], link[4096] = \"\";\n"
               "    snprintf(path, sizeof path, \"/proc/self/fd/%s\", e->d_name);\n"
               "    if (readlink(path, link, sizeof link - 1) < 0) continue;\n"
               "    all++;\n"
               "    if (strstr(link, \"/viztrace-\")) { session++; highest = atoi(e->d_name); } }\n"
               "  printf(\"all %d session %d at %d\\n\", all, session, highest);\n"
               "  return 0; }\n");
  compile(s, {"gcc", "-O1", "-pthread", "-o", "fds", "fds.c"});
  // Against the same program untraced (it inherits whatever the test runner left open).
  auto untraced = s.command({"./fds"});
  int all = -1, session = -1, at = -1;
  REQUIRE(std::sscanf(untraced.out.c_str(), "all %d session %d at %d", &all, &session, &at) == 3);
  CHECK(session == 0);
  auto r = s.viztrace({"run", "-q", "--", "./fds"});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  int traced_all = -1, traced_session = -1, traced_at = -1;
  REQUIRE(std::sscanf(r.out.c_str(), "all %d session %d at %d", &traced_all, &traced_session,
                      &traced_at) == 3);
  CHECK(traced_all == all);
  CHECK(traced_session == 0);
  require_clean(s);
}

TEST_CASE("threads appear with the names they were given, however they got them") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("named_threads")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report();
  auto proc = rep.named("named_threads");
  REQUIRE(proc.size() == 1);
  std::set<std::string> names;
  for (const auto& t : rep.threads) {
    CHECK(t.pid == proc[0].pid);
    CHECK(t.tid != proc[0].pid);
    CHECK(t.ts >= proc[0].ts);
    CHECK(t.ts + t.dur <= proc[0].ts + proc[0].dur + 1e-3);
    names.insert(t.name);
  }
  CHECK(names == std::set<std::string>{"worker-self", "worker-main", "worker-prctl"});
  require_clean(s);
}

TEST_CASE("a program that execs with an environment of its own is still traced") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("exec_own_env")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "FOO=bar\nchild-of-own-env\n");
  Report rep = s.report();
  auto echo = rep.named("echo");
  REQUIRE(echo.size() == 1);
  CHECK(echo[0].argv == std::vector<std::string>{"/bin/echo", "child-of-own-env"});
  // One pid, two images: the fixture, then sh after the exec.
  auto sh = rep.named("sh");
  REQUIRE(sh.size() == 1);
  CHECK(echo[0].ppid == sh[0].pid);
  auto first = rep.named("exec_own_env");
  REQUIRE(first.size() == 1);
  CHECK(first[0].pid == sh[0].pid);
  CHECK(first[0].ts + first[0].dur <= sh[0].ts + 1e-3);
  require_clean(s);
}

TEST_CASE("a session under a long TMPDIR traces through an environment of the program's own") {
  // The shim keeps its variables for such an exec; long ones do not fit its state block.
  Sandbox s;
  std::string deep = s.tmp();
  std::vector<std::string> made;
  for (int i = 0; i < 4; ++i) {
    deep += "/" + std::string(200, static_cast<char>('a' + i));
    REQUIRE(mkdir(deep.c_str(), 0700) == 0);
    made.push_back(deep);
  }
  Options o;
  o.env["TMPDIR"] = deep;
  auto r = s.viztrace({"run", "--", fixture("exec_own_env")}, o);
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "FOO=bar\nchild-of-own-env\n");
  auto echo = s.report().named("echo");
  REQUIRE(echo.size() == 1);
  CHECK(echo[0].argv == std::vector<std::string>{"/bin/echo", "child-of-own-env"});
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    INFO(*it);
    CHECK(rmdir(it->c_str()) == 0);  // fails when the session left anything behind
  }
  require_clean(s);
}

TEST_CASE("python subprocess with close_fds=True is traced") {
  Sandbox s;
  s.write_file("spawn.py",
               "import subprocess, sys\n"
               "r = subprocess.run(['/bin/sh', '-c', 'exit 5'], close_fds=True)\n"
               "out = subprocess.run(['/bin/echo', 'hi'], close_fds=True, capture_output=True)\n"
               "sys.exit(r.returncode + len(out.stdout))\n");
  auto r = s.viztrace({"run", "--", "/usr/bin/python3", "spawn.py"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 8);
  Report rep = s.report();
  auto py = rep.named("python3");
  REQUIRE(!py.empty());
  auto sh = rep.named("sh");
  REQUIRE(sh.size() == 1);
  CHECK(sh[0].exit_code == 5);
  CHECK(sh[0].ppid == py.back().pid);
  auto echo = rep.named("echo");
  REQUIRE(echo.size() == 1);
  CHECK(echo[0].exit_code == 0);
  require_clean(s);
}

TEST_CASE("a static program is not entered but appears, and its dynamic children are traced") {
  Sandbox s;
  SECTION("as the target") {
    auto r = s.viztrace({"run", "--", fixture("static_spawner"), "/bin/true", "/bin/false"});
    INFO(r.err);
    CHECK(r.exit_code() == 1);
    Report rep = s.report();
    auto st = rep.named("static_spawner");
    REQUIRE(st.size() == 1);
    CHECK_FALSE(st[0].traced);
    CHECK(st[0].exit_code == 1);
    auto t = rep.named("true"), f = rep.named("false");
    REQUIRE(t.size() == 1);
    REQUIRE(f.size() == 1);
    CHECK(t[0].ppid == st[0].pid);
    CHECK(f[0].ppid == st[0].pid);
    CHECK(t[0].argv == std::vector<std::string>{"/bin/true", "spawned-by-static"});
    CHECK(f[0].exit_code == 1);
  }
  SECTION("in the middle of a tree") {
    auto r = s.viztrace({"run", "--", "sh", "-c", fixture("static_spawner") + " /bin/true; echo done"});
    INFO(r.err);
    CHECK(r.exit_code() == 0);
    Report rep = s.report();
    const Process sh = rep.target();
    auto st = rep.named("static_spawner");
    REQUIRE(st.size() == 1);
    CHECK(st[0].ppid == sh.pid);
    CHECK_FALSE(st[0].traced);
    CHECK(st[0].exit_code == 0);
    auto t = rep.named("true");
    REQUIRE(t.size() == 1);
    CHECK(t[0].ppid == st[0].pid);
  }
  require_clean(s);
}

TEST_CASE("a static program's static children are found through /proc, mid-tree and by spawn") {
  // Nothing of viztrace runs in a static program or its static children: they are seen only
  // because the exec (or spawn) of the static parent was recognised and its children watched.
  Sandbox s;
  s.write_file("parent.c",
               "#include <stdlib.h>\n#include <sys/wait.h>\n#include <unistd.h>\n"
               "int main(int argc, char** argv) {\n"
               "  for (int i = 0; i < 3; ++i) {\n"
               "    pid_t pid = fork();\n"
               "    if (pid == 0) { execl(argv[1], \"vt-static-child\", (char*)0); _exit(127); }\n"
               "    waitpid(pid, 0, 0);\n"
               "  }\n"
               "  return 0; }\n");
  s.write_file("child.c",
               "#include <time.h>\n"
               "int main(void) { struct timespec t = {0, 20000000}; nanosleep(&t, 0); return 4; }\n");
  for (const char* name : {"parent", "child"})
    REQUIRE(s.command({"cc", "-O1", "-static", "-o", name, std::string(name) + ".c"}).exit_code() ==
            0);
  const std::string parent = s.path("parent"), child = s.path("child");
  for (const std::string& script : {parent + " " + child,  // exec'd by the shell
                                   "python3 -c 'import os, sys; os.posix_spawn(sys.argv[1], "
                                   "sys.argv[1:], os.environ); os.wait()' " + parent + " " + child}) {
    INFO(script);
    auto r = s.viztrace({"run", "-o", "tree.json", "--", "sh", "-c", script});
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
    Report rep = s.report("tree.json");
    auto parents = rep.named("parent");
    REQUIRE(parents.size() == 1);
    CHECK_FALSE(parents[0].traced);
    auto children = rep.named("vt-static-child");
    CHECK(children.size() == 3);
    for (const auto& c : children) {
      CHECK(c.ppid == parents[0].pid);
      // Its end comes from a pidfd; its status only if the zombie was still there to read
      // (the static parent reaps it itself, unseen).
      CHECK(c.dur >= 10000);  // µs: each child sleeps 20 ms
      if (c.exit_code) CHECK(*c.exit_code == 4);
    }
  }
  require_clean(s);
}

TEST_CASE("a static program's short children are found when viztrace learns of it late") {
  // The kernel's process events tell of children that were born and reaped before viztrace
  // read the record that named their static parent (a busy collector): they are taken from
  // the recent events, with their parent, times and exit status. What they ran is gone with
  // them (the exec event names no program).
  if (geteuid() != 0) VT_SKIP("process events need root");
  Sandbox s;
  s.write_file("parent.c",
               "#include <sys/wait.h>\n#include <unistd.h>\n"
               "int main(int argc, char** argv) {\n"
               "  for (int i = 0; i < 3; ++i) {\n"
               "    pid_t pid = fork();\n"
               "    if (pid == 0) { execl(argv[1], argv[1], (char*)0); _exit(127); }\n"
               "    waitpid(pid, 0, 0);\n"
               "  }\n"
               "  return 0; }\n");
  s.write_file("quick.c", "int main(void) { return 4; }\n");
  for (const char* name : {"parent", "quick"})
    compile(s, {"cc", "-O1", "-static", "-o", name, std::string(name) + ".c"});
  REQUIRE(s.command({"mkfifo", "gate"}).exit_code() == 0);
  auto run = s.start_viztrace(
      {"run", "-o", "late.json", "--", "sh", "-c", "echo ready; read go < gate; ./parent ./quick; echo done"});
  run->wait_for_out("ready");
  run->signal(SIGSTOP);  // viztrace reads nothing until the static children are gone
  {
    std::ofstream gate(s.path("gate"));
    gate << "go" << std::endl;
  }
  run->wait_for_out("done");
  run->signal(SIGCONT);
  Result r = run->finish();
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report("late.json");
  auto parents = rep.named("parent");
  REQUIRE(parents.size() == 1);
  std::vector<Process> children;
  for (const Process& p : rep.processes)
    if (p.ppid == parents[0].pid) children.push_back(p);
  CHECK(children.size() == 3);
  for (const auto& c : children) {
    CHECK(c.exit_code == 4);
    CHECK_FALSE(c.traced);
  }
  require_clean(s);
}

TEST_CASE("an ASan build with a leak reports it and exits as it does untraced") {
  Sandbox s;
  Options o;
  int expected = 1;  // ASan's exit code for leaks
  SECTION("default options") {}
  SECTION("the user's own ASAN_OPTIONS are kept") {
    o.env["ASAN_OPTIONS"] = "exitcode=9:detect_leaks=1";
    expected = 9;
  }
  auto plain = s.command({fixture("asan_leak")}, o);
  auto traced = s.viztrace({"run", "-q", "--", fixture("asan_leak")}, o);
  CHECK(plain.exit_code() == expected);
  CHECK(traced.exit_code() == expected);
  CHECK(traced.out == plain.out);
  for (const auto* r : {&plain, &traced}) {
    CHECK(r->err.find("ERROR: LeakSanitizer: detected memory leaks") != std::string::npos);
    CHECK(r->err.find("SUMMARY: AddressSanitizer: 4242 byte(s) leaked in 1 allocation(s).") !=
          std::string::npos);
  }
  auto p = s.report().named("asan_leak");
  REQUIRE(p.size() == 1);
  CHECK(p[0].exit_code == expected);
  require_clean(s);
}

TEST_CASE("the summary names the slowest processes and the report, and .json.gz is gzip JSON") {
  Sandbox s;
  auto r = s.viztrace({"run", "-o", "trace.json.gz", "--", "sh", "-c", "sleep 0.2; sleep 0.1"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.err.find("viztrace: `sh -c 'sleep 0.2; sleep 0.1'` exited with status 0 after") == 0);
  CHECK(r.err.find("3 processes") != std::string::npos);
  CHECK(r.err.find("nothing lost") != std::string::npos);
  // Slowest first: the 0.2 s sleep before the 0.1 s one.
  auto first = r.err.find("sleep 0.2  (pid"), second = r.err.find("sleep 0.1  (pid");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(first < second);
  CHECK(r.err.find("report: trace.json.gz") != std::string::npos);
  CHECK(r.err.find("https://ui.perfetto.dev") != std::string::npos);
  Report rep = s.report("trace.json.gz");
  CHECK(rep.named("sleep").size() == 2);
  for (const auto& p : rep.named("sleep")) CHECK(p.exit_code == 0);
  require_clean(s);
}

TEST_CASE("the summary shows the command quoted as a shell takes it back, bytes made visible") {
  Sandbox s;
  const std::vector<std::string> command = {"sh", "-c", "ls / | head -2; exit 3", "it's",
                                            "$HOME", ""};
  std::vector<std::string> args = {"run", "-o", "r.html", "--"};
  args.insert(args.end(), command.begin(), command.end());
  auto r = s.viztrace(args);
  INFO(r.err);
  CHECK(r.exit_code() == 3);
  const std::string shown = "sh -c 'ls / | head -2; exit 3' 'it'\\''s' '$HOME' ''";
  CHECK(r.err.find("viztrace: `" + shown + "` exited with status 3") == 0);
  // The line runs the same command again: same output, same status.
  auto again = s.command({"sh", "-c", shown});
  auto direct = s.command(command);
  CHECK(again.out == direct.out);
  CHECK(again.exit_code() == 3);
  // The HTML report's header shows it the same way.
  std::ifstream html(s.path("r.html"), std::ios::binary);
  std::string page{std::istreambuf_iterator<char>(html), std::istreambuf_iterator<char>()};
  CHECK(page.find("\"title\":\"sh -c 'ls / | head -2; exit 3' 'it'\\\\''s' '$HOME' ''\"") !=
        std::string::npos);

  // A terminal control sequence or a byte that is not UTF-8 is shown, never sent.
  auto bytes = s.viztrace({"run", "-o", "b.json", "--", "printf", "%s", "\x1b[2J\xff"});
  INFO(bytes.err);
  CHECK(bytes.exit_code() == 0);
  CHECK(bytes.err.find("viztrace: `printf %s $'\\x1b[2J\\xff'` exited with status 0") == 0);
  CHECK(bytes.err.find('\x1b') == std::string::npos);
  require_clean(s);
}
