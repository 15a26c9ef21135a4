// A temp filesystem that is small or full costs trace data, counted and said, never the
// command and never the report of what was collected. Each test mounts a tmpfs of its own
// over the sandbox's TMPDIR, in a private mount namespace (so it needs root and unshare).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "harness.h"

using namespace vt_test;

namespace {

bool can_mount() {
  return geteuid() == 0 && on_path("unshare") && on_path("gcc");
}

// An instrumented program: `threads` N CALLS runs N threads that make CALLS calls each.
void build_threads(const Sandbox& s) {
  s.write_file("threads.c",
               "#include <pthread.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
               "static volatile long sink;\n"
               "__attribute__((noinline)) void tick(long i) { sink += i; }\n"
               "static long calls;\n"
               "void* work(void* arg) { for (long i = 0; i < calls; i++) tick(i); return arg; }\n"
               "int main(int argc, char** argv) {\n"
               "  int n = atoi(argv[1]); calls = atol(argv[2]);\n"
               "  pthread_t t[64];\n"
               "  for (int i = 0; i < n; i++) pthread_create(&t[i], 0, work, 0);\n"
               "  for (int i = 0; i < n; i++) pthread_join(t[i], 0);\n"
               "  printf(\"threads done\\n\");\n"
               "  return 0; }\n");
  compile(s, {"gcc", "-O1", "-finstrument-functions", "-pthread", "-o", "threads", "threads.c"});
}

// Runs `prepare`, then viztrace with args, with TMPDIR on a tmpfs of `size`; prints what is
// left in that tmpfs after a line "left:" and exits with viztrace's status.
Result run_on_tmpfs(const Sandbox& s, const std::string& size, const std::string& prepare,
                    const std::string& args) {
  const std::string script = "mount -t tmpfs -o size=" + size +
                             " viztrace-test \"$TMPDIR\" || exit 99\n" + prepare + "\n\"" +
                             viztrace_bin() + "\" " + args +
                             "\nstatus=$?\necho left: $(ls -A \"$TMPDIR\")\nexit $status\n";
  return s.command({"unshare", "--mount", "--propagation", "private", "sh", "-c", script});
}

}  // namespace

TEST_CASE("a small temp filesystem costs function records, never the program") {
  if (!can_mount()) {
    VT_SKIP("needs root, unshare and gcc");
  }
  Sandbox s;
  build_threads(s);
  // 8 threads, 400k calls each: their rings alone want 32 MiB, twice the filesystem.
  Result r = run_on_tmpfs(s, "16m", "", "run -- ./threads 8 400000");
  INFO(r.out);
  INFO(r.err);
  REQUIRE(r.exit_code() != 99);
  CHECK(r.exit_code() == 0);
  CHECK(r.out.find("threads done\n") != std::string::npos);
  CHECK(r.out.find("left:\n") != std::string::npos);
  CHECK(r.err.find("nothing lost") == std::string::npos);
  CHECK(r.err.find("the temp filesystem was full") != std::string::npos);
  Report report = s.report();
  CHECK(report.target().exit_code == 0);
  require_clean(s);
}

TEST_CASE("a full temp filesystem: the program runs, and the report says what is missing") {
  if (!can_mount()) {
    VT_SKIP("needs root, unshare and gcc");
  }
  Sandbox s;
  build_threads(s);
  // Almost nothing left: no ring, and little or no spill.
  Result r = run_on_tmpfs(s, "2m", "head -c 2000k /dev/zero > \"$TMPDIR/filler\" 2>/dev/null",
                          "run -- ./threads 4 100000");
  INFO(r.out);
  INFO(r.err);
  REQUIRE(r.exit_code() != 99);
  CHECK(r.exit_code() == 0);
  CHECK(r.out.find("threads done\n") != std::string::npos);
  CHECK(r.out.find("left: filler\n") != std::string::npos);
  CHECK(r.err.find("viztrace: `./threads 4 100000` exited with status 0") != std::string::npos);
  CHECK(r.err.find("nothing lost") == std::string::npos);
  require_clean(s);
}

TEST_CASE("a spill that fills the temp filesystem costs function chunks, never processes") {
  if (!can_mount()) {
    VT_SKIP("needs root, unshare and gcc");
  }
  Sandbox s;
  build_threads(s);
  // 6 million calls pack into some 18 MB of spill, more than the filesystem: while they fill
  // it, 100 short processes start and end, and each must be in the report with its status.
  Result r = run_on_tmpfs(
      s, "8m", "",
      "run -- sh -c './threads 2 3000000 & for i in $(seq 100); do /bin/true; done; wait; exit 5'");
  INFO(r.out);
  INFO(r.err);
  REQUIRE(r.exit_code() != 99);
  CHECK(r.exit_code() == 5);
  CHECK(r.out.find("threads done\n") != std::string::npos);
  CHECK(r.out.find("left:\n") != std::string::npos);
  CHECK(r.err.find("exited with status 5") != std::string::npos);
  CHECK(r.err.find("not spilled to disk") != std::string::npos);
  Report report = s.report();
  CHECK(report.target().exit_code == 5);
  int threads = 0, trues = 0;
  for (const auto& p : report.processes) {
    if (p.argv.empty() || p.exit_code != 0) continue;
    threads += p.argv[0] == "./threads";
    trues += p.argv[0] == "/bin/true";
  }
  CHECK(threads == 1);
  CHECK(trues == 100);
  require_clean(s);
}
