// viztrace run on real tools that start processes in their own ways: GNU make (posix_spawn,
// parallel jobs) and the Go toolchain (raw system calls, static tools no shim can enter).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "harness.h"

using namespace vt_test;

namespace {

bool have(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace

TEST_CASE("make -j2 of a generated project: every compiler run appears under make") {
  Sandbox s;
  constexpr int kUnits = 6;
  std::string makefile = "OBJS =";
  for (int i = 0; i < kUnits; ++i) {
    s.write_file("u" + std::to_string(i) + ".c",
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
  auto r = s.command({"strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o",
                      s.path("strace.txt"), "sh", "-c", "cd " + dir + " && go build -o hello ."},
                     o);
  REQUIRE(r.exit_code() == 0);
  std::ifstream in(s.path("strace.txt"));
  std::map<std::string, int> counts;
  for (std::string line; std::getline(in, line);) {
    for (const char* tool : {"/compile\"", "/asm\"", "/link\""}) {
      if (line.find("execve(") != std::string::npos && line.find(tool) != std::string::npos &&
          line.find("= 0") != std::string::npos) {
        std::string name(tool + 1, std::strlen(tool) - 2);
        ++counts[line.find("\"-V=full\"") != std::string::npos ? name + " -V=full" : name];
      }
    }
  }
  return counts;
}

TEST_CASE("go build: the static toolchain's compile, asm and link appear as strace sees them") {
  if (!have("go") || !have("strace")) {
    WARN("go or strace is missing (scripts/setup --tests installs them)");
    return;
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
  std::map<std::string, int> seen;
  for (const char* tool : {"compile", "asm", "link"}) {
    for (const auto& p : rep.named(tool)) {
      bool version = std::find(p.argv.begin(), p.argv.end(), "-V=full") != p.argv.end();
      ++seen[version ? std::string(tool) + " -V=full" : tool];
      CHECK_FALSE(p.traced);
      const Process* parent = rep.parent_of(p);
      REQUIRE(parent);
      CHECK(parent->name == "go");
    }
  }
  for (const auto& [run, count] : expected) {
    INFO(run);
    if (run.find("-V=full") != std::string::npos) CHECK(seen[run] >= 1);
    else CHECK(seen[run] == count);
  }
  auto hello = rep.named("hello");
  REQUIRE(hello.size() == 1);
  CHECK(hello[0].exit_code == 0);
  require_clean(s);
}
