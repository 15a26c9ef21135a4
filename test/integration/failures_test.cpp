// Things going wrong: viztrace crashing, the report not writable, the temp dir missing or full,
// garbage in the FIFO, a crashing target, a cut pipeline. Whatever happens, the temp root is
// empty afterwards, the message names the file and the reason, and the status stays honest.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "harness.h"
#include "simdjson.h"

using namespace vt_test;
namespace fs = std::filesystem;

namespace {

// Files in the work dir whose name says they are a report's temporary.
int report_temporaries(const Sandbox& s) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(s.dir()))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) ++n;
  return n;
}

// A small tmpfs, unmounted at the end; skipped where mounting is not allowed.
class SmallFs {
 public:
  SmallFs(const std::string& dir, const char* size) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ = mount("tmpfs", dir.c_str(), "tmpfs", 0, (std::string("size=") + size).c_str()) == 0;
  }
  ~SmallFs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// The report's metadata.lost.<key>.
std::uint64_t lost(const Report& rep, const char* key) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(rep.raw);
  std::uint64_t v = 0;
  REQUIRE(doc["metadata"]["lost"][key].get(v) == simdjson::SUCCESS);
  return v;
}

}  // namespace

TEST_CASE("viztrace crashing or aborting at any phase leaves nothing behind") {
  Sandbox s;
  auto [fault, sig] = GENERATE(std::make_pair("collect-abort", SIGABRT),
                               std::make_pair("collect-segv", SIGSEGV),
                               std::make_pair("report-abort", SIGABRT),
                               std::make_pair("report-segv", SIGSEGV));
  INFO(fault);
  s.write_file("viztrace.json", "an earlier report\n");
  Options o;
  o.env["VIZTRACE_TEST_FAULT"] = fault;
  auto r = s.viztrace({"run", "--", "sh", "-c", "ls / >/dev/null; echo done"}, o);
  INFO(r.err);
  CHECK(r.signal() == sig);
  CHECK(slurp(s.path("viztrace.json")) == "an earlier report\n");
  CHECK(report_temporaries(s) == 0);
  require_clean(s);
}

TEST_CASE("a report that cannot be written: one clear line, nothing left, status not masked") {
  Sandbox s;
  SECTION("no space left (/dev/full)") {
    auto ok = s.viztrace({"run", "-o", "/dev/full", "--", "true"});
    CHECK(ok.exit_code() == 2);
    CHECK(ok.err.find("viztrace: cannot write /dev/full: No space left on device") !=
          std::string::npos);
    auto failing = s.viztrace({"run", "-o", "/dev/full", "--", "sh", "-c", "exit 3"});
    CHECK(failing.exit_code() == 3);  // the command's failure is never hidden
    CHECK(failing.err.find("cannot write /dev/full") != std::string::npos);
  }
  SECTION("the output's directory disappears during the run") {
    fs::create_directory(s.path("out"));
    auto r = s.viztrace({"run", "-o", "out/report.json", "--", "rmdir", "out"});
    CHECK(r.exit_code() == 2);
    CHECK(r.err.find("viztrace: cannot write out/report.json: No such file or directory") !=
          std::string::npos);
  }
  SECTION("an existing report stays untouched") {
    s.write_file("keep.json", "the previous report\n");
    Options o;
    o.env["VIZTRACE_TEST_FAULT"] = "report-abort";
    s.viztrace({"run", "-o", "keep.json", "--", "true"}, o);
    CHECK(slurp(s.path("keep.json")) == "the previous report\n");
  }
  CHECK(report_temporaries(s) == 0);
  require_clean(s);
}

TEST_CASE("an output path that cannot work is refused before the command starts") {
  Sandbox s;
  fs::create_directory(s.path("a-dir"));
  auto [output, reason] = GENERATE(
      std::make_pair("missing/report.json", "cannot write missing/report.json: No such file"),
      std::make_pair("a-dir", "cannot write a-dir: Is a directory"),
      std::make_pair("report.txt", "unknown report format for report.txt"));
  auto r = s.viztrace({"run", "-o", output, "--", "touch", "ran"});
  INFO(r.err);
  CHECK(r.exit_code() == 2);
  CHECK(r.err.find(reason) != std::string::npos);
  CHECK_FALSE(fs::exists(s.path("ran")));
  require_clean(s);
}

TEST_CASE("an output directory without write permission is refused before the command starts") {
  Sandbox s;
  fs::create_directory(s.path("locked"));
  chmod(s.path("locked").c_str(), 0555);
  std::vector<std::string> argv = {viztrace_bin(), "run", "-o", "locked/report.json", "--",
                                   "touch", "ran"};
  // Root passes permission checks by its capabilities: run viztrace as root without any, to
  // whom the mode applies as to anyone (another user could not reach a checkout in /root).
  if (geteuid() == 0) {
    if (!on_path("setpriv"))
      VT_SKIP("setpriv is missing: root cannot be denied a write (util-linux has it)");
    argv.insert(argv.begin(), {"setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"});
  }
  auto r = s.command(argv);
  INFO(r.err);
  CHECK(r.exit_code() == 2);
  CHECK(r.err.find("cannot write locked/report.json: Permission denied") != std::string::npos);
  CHECK_FALSE(fs::exists(s.path("ran")));
  require_clean(s);
}

TEST_CASE("a temp root that is missing, not a directory, or full: refused before the start") {
  Sandbox s;
  SECTION("missing or not a directory") {
    s.write_file("plain-file", "");
    auto [root, reason] = GENERATE(std::make_pair("/nonexistent/vt", "No such file or directory"),
                                   std::make_pair("plain-file", "Not a directory"));
    Options o;
    o.env["TMPDIR"] = root[0] == '/' ? root : s.path(root);
    auto r = s.viztrace({"run", "--", "touch", "ran"}, o);
    INFO(r.err);
    CHECK(r.exit_code() == 2);
    CHECK(r.err.find(std::string("temp dir ")) != std::string::npos);
    CHECK(r.err.find(reason) != std::string::npos);
  }
  SECTION("read-only") {
    Options o;
    o.env["TMPDIR"] = "/proc/self";
    auto r = s.viztrace({"run", "--", "touch", "ran"}, o);
    INFO(r.err);
    CHECK(r.exit_code() == 2);
    CHECK(r.err.find("cannot create a session dir in /proc/self") != std::string::npos);
  }
  SECTION("full") {
    SmallFs small(s.path("small"), "64k");
    if (!small.mounted()) {
      VT_SKIP("cannot mount a tmpfs here");
    }
    std::ofstream(s.path("small/filler")) << std::string(1 << 20, 'x');  // fails when full
    Options o;
    o.env["TMPDIR"] = s.path("small");
    auto r = s.viztrace({"run", "--", "touch", "ran"}, o);
    INFO(r.err);
    CHECK(r.exit_code() == 2);
    CHECK(r.err.find("No space left on device") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(s.path("ran")));
  require_clean(s);
}

TEST_CASE("the temp filesystem filling up mid-run: the command runs on, the loss is reported") {
  Sandbox s;
  SmallFs small(s.path("small"), "128k");
  if (!small.mounted()) {
    VT_SKIP("cannot mount a tmpfs here");
  }
  // ~400 processes with 2 KB command lines: far more than 128 KiB of trace.
  std::string arg(2000, 'a');
  Options o;
  o.env["TMPDIR"] = s.path("small");
  auto r = s.viztrace({"run", "--", "sh", "-c",
                       "for i in $(seq 400); do /bin/echo " + arg + " >/dev/null; done; exit 4"},
                      o);
  INFO(r.err);
  CHECK(r.exit_code() == 4);
  CHECK(r.err.find("not spilled to disk") != std::string::npos);
  Report rep = s.report();
  CHECK(lost(rep, "spill_lost") > 0);
  CHECK(fs::is_empty(s.path("small")));
}

TEST_CASE("garbage written into the FIFO is counted, and the report is still whole") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", "sh", "-c",
                       "head -c 100000 /dev/urandom > \"$VIZTRACE_FIFO\"; printf 'VZT1 not a chunk' "
                       "> \"$VIZTRACE_FIFO\"; /bin/echo after"});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "after\n");
  Report rep = s.report();
  CHECK(lost(rep, "bad_bytes") >= 100000);
  CHECK(rep.named("echo").size() == 1);
  CHECK(rep.named("head").size() == 1);
  CHECK(r.err.find("bad chunks") != std::string::npos);
  require_clean(s);
}

TEST_CASE("a target that aborts: its events up to the crash are in the report") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("signal_target"), "abort"});
  INFO(r.err);
  CHECK(r.exit_code() == 128 + SIGABRT);
  CHECK(r.out == "aborting\n");
  Report rep = s.report();
  CHECK(rep.target().signal == SIGABRT);
  require_clean(s);
}

TEST_CASE("a pipeline cut short: the target dies of SIGPIPE as untraced, viztrace ends 141") {
  Sandbox s;
  auto r = s.command({"bash", "-c", viztrace_bin() +
                                        " run -o r.json -- yes | head -n 1; echo \"status "
                                        "${PIPESTATUS[0]}\""});
  INFO(r.err);
  CHECK(r.out == "y\nstatus 141\n");
  CHECK(s.report("r.json").target().signal == SIGPIPE);
  require_clean(s);
}

TEST_CASE("a closed or broken stderr never stops viztrace from writing the report and sweeping") {
  Sandbox s;
  SECTION("closed") {
    Options o;
    o.close_stderr = true;
    auto r = s.viztrace({"run", "--", "sh", "-c", "exit 5"}, o);
    CHECK(r.exit_code() == 5);
  }
  SECTION("a pipe whose reader is gone") {
    auto r = s.command({"bash", "-c", viztrace_bin() +
                                          " run -- sh -c 'exit 6' 2>&1 >/dev/null | true; echo "
                                          "\"status ${PIPESTATUS[0]}\""});
    CHECK(r.out == "status 6\n");
  }
  CHECK(s.report().target().exit_code.has_value());
  require_clean(s);
}

TEST_CASE("a command that cannot run: one line with the reason, the shell's status, nothing left") {
  Sandbox s;
  auto missing = s.viztrace({"run", "--", "./no-such-program"});
  CHECK(missing.exit_code() == 127);
  CHECK(missing.err == "viztrace: cannot run './no-such-program': No such file or directory\n");
  s.write_file("not-executable.sh", "echo hi\n");
  auto denied = s.viztrace({"run", "--", "./not-executable.sh"});
  CHECK(denied.exit_code() == 126);
  CHECK(denied.err == "viztrace: cannot run './not-executable.sh': Permission denied\n");
  CHECK(denied.out.empty());
  // No report is written for a command that never ran.
  struct stat st;
  CHECK(stat(s.path("viztrace.json").c_str(), &st) != 0);
  require_clean(s);
}

TEST_CASE("an exec of a FIFO fails as untraced, and neither the program nor viztrace waits on it") {
  // Inspecting what is about to be exec'd must never block: a FIFO opens only once a writer
  // comes. The shell's exec of it fails (not a regular file) and the shell goes on.
  Sandbox s;
  REQUIRE(mkfifo(s.path("pipe").c_str(), 0755) == 0);
  for (const std::string& how : {s.path("pipe"), std::string("./pipe")}) {
    INFO(how);
    auto plain = s.command({"sh", "-c", how + "; echo after $?"});
    Options o;
    o.timeout_s = 20;
    auto traced = s.viztrace({"run", "-q", "--", "sh", "-c", how + "; echo after $?"}, o);
    CHECK(plain.out == "after 126\n");
    CHECK(traced.out == plain.out);
    CHECK(traced.exit_code() == 0);
  }
  require_clean(s);
}
