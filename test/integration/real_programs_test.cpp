// viztrace run on real tools that start processes in their own ways: GNU make (posix_spawn,
// parallel jobs), CMake and Meson with Ninja, Cargo, the Go toolchain (raw system calls, static
// tools no shim can enter), CPython multiprocessing (fork, spawn, a fork server), Node (libuv) and
// Java (a spawn helper).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "harness.h"

using namespace vt_test;

TEST_CASE("make -j2 of a generated project: every compiler run appears under make") {
  Sandbox s;
  constexpr int kUnits = 6;
  std::string makefile = "OBJS =";
  for (int i = 0; i < kUnits; ++i) {
    s.write_file(
        "u" + std::to_string(i) + ".c",
        "int f" + std::to_string(i) + "(int x) { return x * " + std::to_string(i) + "; }\n");
    makefile += " u" + std::to_string(i) + ".o";
  }
  s.write_file("main.c", "int main(void) { return 0; }\n");
  makefile += "\nprog: main.o $(OBJS)\n\tcc -o $@ $^\n%.o: %.c\n\tcc -c -o $@ $<\n";
  s.write_file("Makefile", makefile);

  auto r = s.viztrace({"run", "--", "make", "-j2"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report();
  const Process make = rep.target();
  CHECK(make.name == "make");
  // One cc per object plus the link, each a child of make, each successful.
  auto cc = rep.named("cc");
  std::set<std::string> sources;
  int links = 0;
  for (const auto& p : cc) {
    CHECK(p.ppid == make.pid);
    CHECK(p.exit_code == 0);
    if (p.argv.size() >= 2 && p.argv[1] == "-c") sources.insert(p.argv.back());
    if (p.argv.size() >= 3 && p.argv[1] == "-o" && p.argv[2] == "prog") ++links;
  }
  CHECK(sources.size() == kUnits + 1);
  CHECK(links == 1);
  // The compiler driver's own children (cc1, as, collect2/ld) are there too, below cc.
  CHECK(!rep.named("cc1").empty());
  CHECK(!rep.named("as").empty());
  for (const auto& p : rep.named("cc1")) {
    const Process* parent = rep.parent_of(p);
    REQUIRE(parent);
    CHECK(parent->name == "cc");
  }
  require_clean(s);
}

// Runs of the toolchain's programs in one build, from `strace -f` (the oracle): "compile",
// "link", ... for real work, "compile -V=full", ... for version queries (go dedupes those
// unevenly between runs, so only their presence is compared).
std::map<std::string, int> toolchain_runs_by_strace(const Sandbox& s, const std::string& dir,
                                                    const Options& o) {
  // One log per process (-ff): in one file, an exec that another process's event interrupts
  // is split over two lines.
  auto r = straced(s, {"sh", "-c", "cd " + dir + " && go build -o hello ."},
                   s.path("go-strace/log"), o);
  REQUIRE(r.exit_code() == 0);
  std::map<std::string, int> counts;
  for (const auto& entry : std::filesystem::directory_iterator(s.path("go-strace"))) {
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      for (const char* tool : {"/compile\"", "/asm\"", "/link\""}) {
        if (line.find("execve(") != std::string::npos && line.find(tool) != std::string::npos &&
            line.find("= 0") != std::string::npos) {
          std::string name(tool + 1, std::strlen(tool) - 2);
          ++counts[line.find("\"-V=full\"") != std::string::npos ? name + " -V=full" : name];
        }
      }
    }
  }
  return counts;
}

TEST_CASE("go build: the static toolchain's compile, asm and link appear as strace sees them") {
  if (!on_path("go") || !on_path("strace")) {
    VT_SKIP("go or strace is missing (scripts/setup --tests installs them)");
  }
  Sandbox s;
  for (const char* dir : {"a", "b"}) {
    s.write_file(std::string(dir) + "/go.mod", "module example.com/hello\n\ngo 1.19\n");
    s.write_file(std::string(dir) + "/main.go",
                 "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n");
  }
  // Two copies, each with a fresh cache, so both builds do the same work.
  Options oracle, traced;
  oracle.env["GOCACHE"] = s.path("cache-a");
  traced.env["GOCACHE"] = s.path("cache-b");
  for (Options* o : {&oracle, &traced}) {
    o->env["GOPATH"] = s.path("gopath");
    o->env["GOFLAGS"] = "-mod=mod";
    o->timeout_s = 240;
  }
  auto expected = toolchain_runs_by_strace(s, "a", oracle);
  REQUIRE(expected["compile"] >= 1);
  REQUIRE(expected["link"] >= 1);

  auto r = s.viztrace({"run", "--", "sh", "-c", "cd b && go build -o hello . && ./hello"}, traced);
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "hello\n");
  Report rep = s.report();
  auto go = rep.named("go");
  REQUIRE(!go.empty());
  // A run first seen between fork and exec and next only once it had ended (a busy machine)
  // is reported with its name alone: /proc no longer has its argv or exe. It may have been a
  // version query or real work, so it may stand for either.
  std::map<std::string, int> seen, unknown_args;
  for (const char* tool : {"compile", "asm", "link"}) {
    for (const auto& p : rep.named(tool)) {
      bool version = std::find(p.argv.begin(), p.argv.end(), "-V=full") != p.argv.end();
      if (p.exe.empty() && p.argv.size() == 1)
        ++unknown_args[tool];
      else
        ++seen[version ? std::string(tool) + " -V=full" : tool];
      CHECK_FALSE(p.traced);
      const Process* parent = rep.parent_of(p);
      REQUIRE(parent);
      CHECK(parent->name == "go");
    }
  }
  for (const auto& [run, count] : expected) {
    int by_name = unknown_args[run.substr(0, run.find(' '))];
    INFO(run << ": " << seen[run] << " seen with argv, " << by_name << " of its tool by name only");
    if (run.find("-V=full") != std::string::npos) {
      // Polled, without the kernel's process events (root only), a version query of a
      // millisecond can pass between two looks.
      if (geteuid() == 0) CHECK(seen[run] + by_name >= 1);
    } else {
      CHECK(seen[run] <= count);
      CHECK(seen[run] + by_name >= count);
    }
  }
  auto hello = rep.named("hello");
  REQUIRE(hello.size() == 1);
  CHECK(hello[0].exit_code == 0);
  require_clean(s);
}

namespace {

// Processes whose argv contains needle somewhere.
std::vector<Process> with_arg(const Report& rep, const std::string& needle) {
  std::vector<Process> out;
  for (const auto& p : rep.processes)
    for (const auto& a : p.argv)
      if (a.find(needle) != std::string::npos) {
        out.push_back(p);
        break;
      }
  return out;
}

}  // namespace

TEST_CASE("python multiprocessing: fork, spawn and forkserver workers all appear") {
  Sandbox s;
  s.write_file("pools.py",
               "import multiprocessing as mp\n"
               "def square(x): return x * x\n"
               "if __name__ == '__main__':\n"
               "    for method in ('fork', 'spawn', 'forkserver'):\n"
               "        with mp.get_context(method).Pool(2) as pool:\n"
               "            assert pool.map(square, range(8)) == [x * x for x in range(8)]\n"
               "    print('pools done')\n");
  auto r = s.viztrace({"run", "--", "/usr/bin/python3", "pools.py"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "pools done\n");
  Report rep = s.report();
  const Process main = rep.target();
  // fork: two workers with the main program's argv, forked by it, never exec'd.
  int forked = 0;
  for (const auto& p : rep.processes)
    if (p.pid != main.pid && p.argv == main.argv && p.ppid == main.pid) ++forked;
  CHECK(forked == 2);
  // spawn: two fresh interpreters, children of the main program.
  auto spawned = with_arg(rep, "multiprocessing.spawn");
  CHECK(spawned.size() == 2);
  for (const auto& p : spawned) CHECK(p.ppid == main.pid);
  // forkserver: the server, a child of the main program, forks the two workers.
  auto server = with_arg(rep, "multiprocessing.forkserver");
  std::vector<Process> servers, workers;
  for (const auto& p : server) (p.ppid == main.pid ? servers : workers).push_back(p);
  REQUIRE(servers.size() == 1);
  CHECK(servers[0].exit_code == 0);
  CHECK(workers.size() == 2);
  for (const auto& p : workers) CHECK(p.ppid == servers[0].pid);
  require_clean(s);
}

TEST_CASE("node child_process: execSync, spawnSync and fork, each with its exit") {
  if (!on_path("node")) {
    VT_SKIP("node is missing (scripts/setup --tests installs it)");
  }
  Sandbox s;
  s.write_file(
      "kids.js",
      "const cp = require('child_process');\n"
      "if (process.argv[2] === 'child') {\n"
      "  cp.spawnSync('/bin/sh', ['-c', 'exit 6']);\n"
      "  process.exit(3);\n"
      "}\n"
      "process.stdout.write(cp.execSync('echo from-sh').toString());\n"
      "cp.fork(__filename, ['child']).on('exit', (code) => console.log('child', code));\n");
  auto r = s.viztrace({"run", "--", "node", "kids.js"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "from-sh\nchild 3\n");
  Report rep = s.report();
  const Process main = rep.target();
  auto echo = with_arg(rep, "echo from-sh");
  REQUIRE(!echo.empty());
  CHECK(echo.back().ppid == main.pid);
  CHECK(echo.back().exit_code == 0);
  // The forked node (its own forks, about to exec sh, have its argv too, below it).
  std::vector<Process> child;
  for (const auto& p : rep.processes)
    if (p.argv.size() == 3 && p.argv[2] == "child" && p.ppid == main.pid) child.push_back(p);
  REQUIRE(child.size() == 1);
  CHECK(child[0].exit_code == 3);
  auto sh = with_arg(rep, "exit 6");
  REQUIRE(!sh.empty());
  CHECK(sh.back().ppid == child[0].pid);
  CHECK(sh.back().exit_code == 6);
  require_clean(s);
}

TEST_CASE("java ProcessBuilder: the child started through the spawn helper appears") {
  if (!on_path("javac") || !on_path("java")) {
    VT_SKIP("java or javac is missing (scripts/setup --tests installs them)");
  }
  Sandbox s;
  s.write_file("Kid.java",
               "public class Kid {\n"
               "  public static void main(String[] a) throws Exception {\n"
               "    Process p = new ProcessBuilder(\"/bin/sh\", \"-c\", \"exit 4\").start();\n"
               "    System.out.println(\"child \" + p.waitFor());\n"
               "  }\n"
               "}\n");
  Options o;
  o.timeout_s = 120;
  REQUIRE(s.command({"javac", "Kid.java"}, o).exit_code() == 0);
  auto r = s.viztrace({"run", "--", "java", "-cp", ".", "Kid"}, o);
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "child 4\n");
  Report rep = s.report();
  const Process jvm = rep.target();
  auto sh = with_arg(rep, "exit 4");
  REQUIRE(!sh.empty());
  CHECK(sh.back().ppid == jvm.pid);
  CHECK(sh.back().exit_code == 4);
  CHECK(sh.back().traced);
  require_clean(s);
}

TEST_CASE("a browser: headless chromium's zygotes and the processes they fork appear") {
  if (!on_path("chromium")) {
    VT_SKIP("chromium is missing (scripts/setup --tests installs it)");
  }
  Sandbox s;
  std::string profile = s.path("profile");
  REQUIRE(mkdir(profile.c_str(), 0700) == 0);
  REQUIRE(mkdir((profile + "/tmp").c_str(), 0700) == 0);
  s.write_file("page.html", "<p id=x>traced page</p>\n");
  Options o;
  o.timeout_s = 180;
  // Chromium's own temp files go to its profile: the sandbox's TMPDIR is viztrace's alone.
  auto r = s.viztrace({"run", "--", "env", "TMPDIR=" + profile + "/tmp", "HOME=" + profile,
                       "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update",
                       "--user-data-dir=" + profile, "--dump-dom", "file://" + s.path("page.html")},
                      o);
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out.find("traced page") != std::string::npos);
  CHECK(r.err.find("nothing lost") != std::string::npos);
  Report rep = s.report();
  // The browser process starts its zygotes with exec; they fork renderers and utilities. A
  // zygote rewrites its command line as one string (its process title), and its forks inherit
  // that, so the flag is looked for inside the arguments.
  auto zygote = [](const Process& p) {
    return std::any_of(p.argv.begin(), p.argv.end(), [](const std::string& a) {
      return a.find("--type=zygote") != std::string::npos;
    });
  };
  std::vector<Process> zygotes, forked;
  for (const auto& p : rep.processes) {
    if (!zygote(p)) continue;
    const Process* parent = rep.parent_of(p);
    REQUIRE(parent);
    (zygote(*parent) ? forked : zygotes).push_back(p);
  }
  CHECK(zygotes.size() >= 1);
  CHECK(forked.size() >= 1);  // at least the renderer of the page
  // How each ended is known: the browser stops its children before it exits.
  for (const auto& p : zygotes) CHECK(p.exit_code == 0);
  for (const auto& p : forked) {
    INFO("pid " << p.pid);
    CHECK((p.exit_code.has_value() || p.signal.has_value()));
  }
  require_clean(s);
}

namespace {

// Successful execs of programs whose path ends in "/<name>", from the logs of
// `strace -ff -o <prefix>`: one file per process, so no exec is split across lines by another
// process's (as `strace -f` into one file does when processes run at once).
std::map<std::string, int> execs_in_strace_logs(const std::string& prefix,
                                                const std::vector<std::string>& names) {
  std::map<std::string, int> counts;
  for (const StracedExec& e : strace_execs(prefix))
    for (const auto& name : names)
      if (e.path.ends_with("/" + name)) ++counts[name];
  return counts;
}

// Runs `script` in copies a/ (under strace -f, the oracle) and b/ (under viztrace) of a
// project, and checks that every program in `names` ran as often under both.
void same_runs_as_strace(const Sandbox& s, const std::string& script,
                         const std::vector<std::string>& names, Options o) {
  o.timeout_s = 300;
  auto oracle = straced(s, {"sh", "-c", "cd a && " + script}, s.path("strace/log"), o);
  INFO(oracle.err);
  REQUIRE(oracle.exit_code() == 0);
  auto expected = execs_in_strace_logs(s.path("strace/log"), names);
  auto r = s.viztrace({"run", "--", "sh", "-c", "cd b && " + script}, o);
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.err.find("nothing lost") != std::string::npos);
  Report rep = s.report();
  for (const auto& name : names) {
    INFO(name);
    int seen = 0;
    for (const auto& p : rep.processes)
      if (p.started_by != "fork" && (p.exe.ends_with("/" + name) || p.exe == name)) {
        ++seen;
        // An image that exec'd another (a rustup proxy) has no exit of its own.
        bool replaced = std::any_of(rep.processes.begin(), rep.processes.end(),
                                    [&](auto& q) { return q.pid == p.pid && q.ts > p.ts; });
        // Its status is known (cargo's probes of an older rustc may exit 1, untraced too).
        if (!replaced) CHECK(p.exit_code.has_value());
      }
    CHECK(expected[name] >= 1);
    CHECK(seen == expected[name]);
  }
}

}  // namespace

TEST_CASE("cmake and meson, each with ninja: every compiler run appears as strace sees it") {
  if (!on_path("strace") || !on_path("meson")) {
    VT_SKIP("strace or meson is missing (scripts/setup --tests installs them)");
  }
  Sandbox s;
  for (const char* dir : {"a", "b"}) {
    std::string d(dir);
    for (int i = 0; i < 3; ++i)
      s.write_file(d + "/u" + std::to_string(i) + ".c",
                   "int f" + std::to_string(i) + "(void) { return " + std::to_string(i) + "; }\n");
    s.write_file(d + "/main.c", "int main(void) { return 0; }\n");
    s.write_file(d + "/CMakeLists.txt",
                 "cmake_minimum_required(VERSION 3.16)\nproject(demo C)\n"
                 "add_executable(demo main.c u0.c u1.c u2.c)\n");
    s.write_file(d + "/meson.build",
                 "project('demo', 'c')\nexecutable('demo', 'main.c', 'u0.c', 'u1.c', 'u2.c')\n");
  }
  same_runs_as_strace(s,
                      "cmake -S . -B cm -G Ninja >/dev/null && ninja -C cm >/dev/null && "
                      "meson setup ms >/dev/null && ninja -C ms >/dev/null",
                      {"cmake", "ninja", "meson", "cc1", "as", "collect2"}, Options{});
  require_clean(s);
}

TEST_CASE("cargo build: every rustc run appears as strace sees it") {
  if (!on_path("strace") || !on_path("cargo")) {
    VT_SKIP("strace or cargo is missing (scripts/setup --tests installs them)");
  }
  Sandbox s;
  for (const char* dir : {"a", "b"}) {
    std::string d(dir);
    s.write_file(d + "/Cargo.toml",
                 "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    s.write_file(d + "/src/main.rs", "fn main() { println!(\"hello\"); }\n");
  }
  Options o;
  o.env["CARGO_TARGET_DIR"] = "target";  // inside each copy: both builds do the same work
  same_runs_as_strace(s, "cargo build --offline -q", {"cargo", "rustc", "cc"}, o);
  require_clean(s);
}
