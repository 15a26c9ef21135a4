// Writing the report file: atomic replacement, cleanup on every failure, gzip, formats.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/error.h"
#include "report/writers/gzip_sink.h"
#include "report/writers/output_file.h"
#include "report/report.h"
#include "spill/cleanup_registry.h"
#include "synthetic_trace.h"

using viztrace::report::GzipSink;
using viztrace::report::OutputFile;
using viztrace::report::ReportOptions;
using viztrace::report::write_report;
using namespace viztrace::test;

namespace {

// A minimal session: the collector launches one process that exits 0.
void minimal_trace(SyntheticSpill& spill, int extra_processes = 0) {
  Stream c(1000, 1000, 1, VT_CHUNK_COLLECTOR);
  c.session(1000000, 1700000000000000000ull, 2000, 1000, {"prog"}, "/w");
  c.spawn(1000100, 2000, "/bin/prog", {"prog"});
  Stream p(2000, 2000, 5);
  p.proc_start(1000200, 1000, {"prog"}, "/bin/prog", "/w");
  for (int i = 0; i < extra_processes; ++i) {
    auto child = static_cast<std::int32_t>(3000 + i);
    p.spawn(1000300 + static_cast<std::uint64_t>(i), child, "/bin/child",
            {"child", std::string(200, 'x')});
    c.reap(1000400 + static_cast<std::uint64_t>(i), child, 0);
  }
  p.exit(1100000, 0);
  c.reap(1200000, 2000, 0);
  spill.add(interleave({&c, &p}, 0));
}

ReportOptions quiet(const std::string& output) {
  ReportOptions o;
  o.output = output;
  o.quiet = true;
  return o;
}

}  // namespace

TEST_CASE("OutputFile appears only on commit, with mode 0666 & ~umask") {
  TempDir dir;
  std::string path = dir.file("out.json");
  mode_t old_mask = umask(027);
  {
    OutputFile f(path);
    f.write("hello ", 6);
    f.write("world", 5);
    CHECK(f.bytes_written() == 11);
    auto entries = dir.entries();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].rfind("out.json.tmp-", 0) == 0);  // only the temporary name so far
    f.commit();
  }
  umask(old_mask);
  CHECK(dir.entries() == std::vector<std::string>{"out.json"});
  CHECK(read_file(path) == "hello world");
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
}

TEST_CASE("OutputFile without commit removes its temporary file and keeps the old report") {
  TempDir dir;
  std::string path = dir.file("r.json");
  write_file(path, "old report");
  {
    OutputFile f(path);
    f.write("new", 3);
  }
  CHECK(dir.entries() == std::vector<std::string>{"r.json"});
  CHECK(read_file(path) == "old report");
}

TEST_CASE("OutputFile's temporary file is known to the cleanup guards, by absolute path") {
  TempDir dir, elsewhere;
  char cwd[4096];
  REQUIRE(getcwd(cwd, sizeof cwd));
  REQUIRE(chdir(dir.path().c_str()) == 0);
  {
    OutputFile f("relative.json");
    f.write("x", 1);
    REQUIRE(dir.entries().size() == 1);
    REQUIRE(chdir(elsewhere.path().c_str()) == 0);
    viztrace::spill::CleanupRegistry::sweep_all();  // what a signal handler or atexit does
    CHECK(dir.entries().empty());
  }
  REQUIRE(chdir(cwd) == 0);
  CHECK(dir.entries().empty());
}

TEST_CASE("OutputFile in a missing directory fails naming the path and leaves nothing") {
  TempDir dir;
  std::string path = dir.file("missing/r.json");
  CHECK_THROWS_WITH(OutputFile(path), "cannot write " + path + ": No such file or directory");
  CHECK(dir.entries().empty());
}

TEST_CASE("GzipSink writes a gzip file that zlib reads back") {
  TempDir dir;
  std::string path = dir.file("r.json.gz");
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "{\"n\":" + std::to_string(i) + "}\n";
  {
    OutputFile f(path);
    GzipSink gz(f, path);
    gz.write(text.data(), 1000);
    gz.write(text.data() + 1000, text.size() - 1000);
    gz.finish();
    f.commit();
  }
  std::string raw = read_file(path);
  REQUIRE(raw.size() > 2);
  CHECK(static_cast<unsigned char>(raw[0]) == 0x1f);  // gzip magic
  CHECK(static_cast<unsigned char>(raw[1]) == 0x8b);
  CHECK(raw.size() < text.size() / 4);
  CHECK(gunzip_file(path) == text);
}

TEST_CASE("write_report: .json.gz holds the same report as .json") {
  TempDir dir;
  SyntheticSpill spill(dir);
  minimal_trace(spill, 3);
  write_report(spill.dir(), quiet(dir.file("r.json")));
  write_report(spill.dir(), quiet(dir.file("r.json.gz")));
  std::string plain = read_file(dir.file("r.json"));
  CHECK(plain.find("\"traceEvents\"") != std::string::npos);
  CHECK(gunzip_file(dir.file("r.json.gz")) == plain);
}

TEST_CASE("write_report: an unknown extension is refused before anything is written") {
  TempDir dir;
  SyntheticSpill spill(dir);
  minimal_trace(spill);
  for (std::string name : {"r.txt", "r.gz", "r.json.bz2", "r.JSON", "r.json.gz.tmp"}) {
    std::string path = dir.file(name);
    CHECK_THROWS_WITH(
        write_report(spill.dir(), quiet(path)),
        "unknown report format for " + path + ": use .json, .json.gz, .pftrace, .html or .speedscope.json");
  }
  CHECK(dir.entries().size() == 1);  // the session dir only
}

TEST_CASE("write_report: output into a missing directory throws and leaves no temp file") {
  TempDir dir;
  SyntheticSpill spill(dir);
  minimal_trace(spill);
  std::string path = dir.file("no/such/dir/r.json");
  CHECK_THROWS_WITH(write_report(spill.dir(), quiet(path)),
                    "cannot write " + path + ": No such file or directory");
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("write_report: when the output path is a directory, it stays as it was") {
  TempDir dir;
  SyntheticSpill spill(dir);
  minimal_trace(spill);
  std::string path = dir.file("r.json");
  REQUIRE(mkdir(path.c_str(), 0755) == 0);
  write_file(path + "/inside", "keep");
  CHECK_THROWS_WITH(write_report(spill.dir(), quiet(path)),
                    Catch::StartsWith("cannot write " + path + ": "));
  CHECK(read_file(path + "/inside") == "keep");
  CHECK(dir.entries().size() == 2);  // the session dir and r.json: no temporary file
}

TEST_CASE("write_report: a spill that cannot be read leaves the old report and no temp file") {
  TempDir dir;
  std::string path = dir.file("r.json");
  write_file(path, "old");
  CHECK_THROWS_WITH(write_report(dir.path(), quiet(path)), Catch::Contains("no trace data"));
  CHECK(read_file(path) == "old");
  CHECK(dir.entries() == std::vector<std::string>{"r.json"});
}

TEST_CASE("write_report: a full disk (RLIMIT_FSIZE) fails cleanly and keeps the old report") {
  TempDir dir;
  SyntheticSpill spill(dir);
  minimal_trace(spill, 400);  // a report of ~200 kB
  std::string path = dir.file("r.json");
  write_file(path, "old report");
  // In a child, so the limit and the ignored SIGXFSZ stay there. The child reports by exit code.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {65536, 65536};
    setrlimit(RLIMIT_FSIZE, &lim);
    int code = 1;
    try {
      write_report(spill.dir(), quiet(path));
      code = 2;  // it should have failed
    } catch (const viztrace::Error& e) {
      code = std::string(e.what()) == "cannot write " + path + ": File too large" ? 0 : 3;
    }
    _exit(code);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(read_file(path) == "old report");
  CHECK(dir.entries().size() == 2);  // the session dir and r.json: no temporary file

  // Without the limit the same spill makes a whole report.
  write_report(spill.dir(), quiet(path));
  CHECK(read_file(path).size() > 65536);
}
