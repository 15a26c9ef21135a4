// The terminal summary: the command's fate, counts, losses, slowest processes, the report.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "report/report.h"
#include "report/writers/summary.h"
#include "synthetic_trace.h"

using namespace viztrace::report;
using viztrace::test::TempDir;

namespace {

constexpr std::uint64_t T0 = 1'000'000'000;

Process process(std::uint32_t pid, std::uint64_t start_ms, std::uint64_t end_ms,
                std::vector<std::string> argv) {
  Process p;
  p.pid = p.json_pid = pid;
  p.start = T0 + start_ms * 1'000'000;
  p.end = T0 + end_ms * 1'000'000;
  Image im;
  im.start = p.start;
  im.end = p.end;
  im.argv = std::move(argv);
  im.traced = true;
  p.images.push_back(im);
  return p;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

// What write_report prints as its summary for the spill in dir, reporting to dir/r.json.
std::string summary_of(const TempDir& dir, const std::string& spill_dir, bool quiet = false) {
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  REQUIRE(out);
  ReportOptions o;
  o.output = dir.file("r.json");
  o.quiet = quiet;
  o.summary_to = out;
  write_report(spill_dir, o);
  std::fclose(out);
  std::string text(buf, size);
  std::free(buf);
  return text;
}

// The collector's chunks for one run of /bin/<name> as pid 10: started 1 µs after the session
// began, reaped with status 0 at 2 ms.
std::vector<viztrace::test::Stream::Chunk> one_run(const std::string& name) {
  viztrace::test::Stream c(9, 9, 1, VT_CHUNK_COLLECTOR);
  c.session(T0, 1, 10, 9, {name}, "/");
  c.spawn(T0 + 1000, 10, "/bin/" + name, {name});
  c.reap(T0 + 2'000'000, 10, 0);
  return c.chunks();
}

TraceModel make_model() {
  TraceModel m;
  m.session.known = true;
  m.session.ts = T0;
  m.session.command = {"make", "-j2"};
  m.origin = T0;
  m.end = T0 + 3'214'000'000;
  m.events = 1234;
  m.processes.push_back(process(100, 0, 3214, {"make", "-j2"}));
  m.processes[0].is_target = true;
  m.processes[0].status = ExitStatus::from_wait_status(0);
  m.target = 0;
  for (std::uint32_t i = 0; i < 7; ++i)
    m.processes.push_back(
        process(200 + i, 10, 100 + 100 * i, {"cc1", "-O2", "f" + std::to_string(i) + ".c"}));
  m.processes[1].threads.push_back(Thread{201, 0, 0, "t", false});
  return m;
}

}  // namespace

TEST_CASE("summary: status, counts, the five slowest processes and the report") {
  TraceModel m = make_model();
  auto out = lines(format_summary(m, "viztrace.json", 1'234'567));
  REQUIRE(out.size() == 9);
  CHECK(out[0] == "viztrace: `make -j2` exited with status 0 after 3.214 s");
  CHECK(out[1] == "  8 processes, 9 threads, 1234 events, nothing lost");
  CHECK(out[2] == "  slowest processes:");
  CHECK(out[3] == "     0.690 s  cc1 -O2 f6.c  (pid 206)");  // the target is not listed
  CHECK(out[4] == "     0.590 s  cc1 -O2 f5.c  (pid 205)");
  CHECK(out[7] == "     0.290 s  cc1 -O2 f2.c  (pid 202)");
  CHECK(out[8] ==
        "  report: viztrace.json (1.2 MB): open it in https://ui.perfetto.dev or chrome://tracing");
}

TEST_CASE("summary: signals and losses are spelled out") {
  TraceModel m = make_model();
  m.processes[0].status = ExitStatus::from_wait_status(SIGSEGV | 0x80);
  m.lost.dropped_records = 3;
  m.lost.seq_gaps = 1;
  m.lost.spill_lost = 2;
  auto out = lines(format_summary(m, "r.json.gz", 999));
  CHECK(out[0] == "viztrace: `make -j2` was killed by SIGSEGV (core dumped) after 3.214 s");
  CHECK(out[1] ==
        "  8 processes, 9 threads, 1234 events, lost: 3 records dropped by traced "
        "processes, 1 chunk missing, 2 chunks not spilled to disk");
  CHECK(out.back() ==
        "  report: r.json.gz (999 bytes): open it in https://ui.perfetto.dev or chrome://tracing");
  CHECK(lines(format_summary(m, "r.speedscope.json", 999)).back() ==
        "  report: r.speedscope.json (999 bytes): drop it on https://www.speedscope.app (nothing "
        "is uploaded) or run npx speedscope on it");
  m.target.reset();
  m.processes[0].is_target = false;
  CHECK(lines(format_summary(m, "r.json", 1))[0] ==
        "viztrace: `make -j2` ended with an unknown status after 3.214 s");
}

TEST_CASE("summary: function records left out of the report are counted, with why") {
  TraceModel m = make_model();
  FunctionSummary f;
  f.calls = 10;
  auto none = format_summary(m, "r.json", 1, f);
  CHECK(none.find("left out") == std::string::npos);
  f.unreadable_chunks = 1;
  f.unmatched_returns = 2;
  f.unmapped = 3;
  auto out = lines(format_summary(m, "r.json", 1, f));
  CHECK(std::count(out.begin(), out.end(),
                   "  function records left out: 1 chunk that did not unpack, 2 returns without "
                   "their calls, 3 records whose time could not be placed") == 1);
  f.unreadable_chunks = f.unmapped = 0;
  f.unmatched_returns = 1;
  out = lines(format_summary(m, "r.json", 1, f));
  CHECK(std::count(out.begin(), out.end(),
                   "  function records left out: 1 return without its call") == 1);
}

TEST_CASE("summary: a packed function chunk that does not unpack is left out and counted") {
  TempDir dir;
  viztrace::test::SyntheticSpill spill(dir);
  spill.add(one_run("prog"));
  // Two calls, then a chunk whose one record names an address slot past the table.
  spill.add({viztrace::test::function_chunk(
      10, 10, 7,
      {{T0 + 10'000, 0x1000}, {(T0 + 20'000) | VT_FN_EXIT, 0x1000},
       {T0 + 30'000, 0x1000}, {(T0 + 40'000) | VT_FN_EXIT, 0x1000}})});
  auto bad = viztrace::test::function_chunk(10, 10, 7, {{T0 + 50'000, 0x1000}});
  bad[sizeof(vt_chunk_header)] = 0x02;     // a table hit...
  bad[sizeof(vt_chunk_header) + 1] = 64;   // ...of slot 64
  spill.add({bad});
  const std::string text = summary_of(dir, spill.dir());
  INFO(text);
  CHECK(text.find("  2 function calls") != std::string::npos);
  CHECK(text.find("  function records left out: 1 chunk that did not unpack\n") !=
        std::string::npos);
}

TEST_CASE("summary: argv is made printable and shortened to fit the line") {
  CHECK(printable_command({"a", "b c"}, 100) == "a 'b c'");
  CHECK(printable_command({"esc\x1b[2J", "\xff", "caf\xc3\xa9"}, 100) ==
        "$'esc\\x1b[2J' $'\\xff' caf\xc3\xa9");
  CHECK(printable_command({"abcdefghij", "klmnop"}, 10) == "abcdefg...");
  CHECK(printable_command({"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"}, 4) == "\xc3\xa9...");
  CHECK(printable_command({"abcd"}, 4) == "abcd");

  TraceModel m = make_model();
  m.processes[3].images[0].argv = {"cc1", std::string(500, 'x')};
  for (const std::string& line : lines(format_summary(m, "r.json", 1))) CHECK(line.size() <= 100);
}

TEST_CASE("summary: the command is quoted as a POSIX shell would take it back") {
  // Bare where no character means anything to a shell.
  CHECK(printable_command({"cc", "-O2", "--opt=1,2:3@4%5+6/7.8_9", "caf\xc3\xa9"}, 100) ==
        "cc -O2 --opt=1,2:3@4%5+6/7.8_9 caf\xc3\xa9");
  CHECK(printable_command({"sh", "-c", "ls / | head -2; exit 3"}, 100) ==
        "sh -c 'ls / | head -2; exit 3'");
  CHECK(printable_command({"echo", "it's", ""}, 100) == "echo 'it'\\''s' ''");
  for (const char* special : {"~", "#x", "*", "a?", "[a]", "$HOME", "a\\b", "{a,b}", "!x", "a b",
                              "x&", "(x)", "<in", "a`b`", "\"q\"", "a^b"}) {
    INFO(special);
    CHECK(printable_command({"echo", special}, 100).find("echo '") == 0);
  }
  // A first word with '=' would be taken for an assignment.
  CHECK(printable_command({"A=b", "x=y"}, 100) == "'A=b' x=y");
  // Bytes that cannot be shown: $'...' with \xNN (C1 controls too, which terminals obey).
  CHECK(printable_command({"a'b\x01"}, 100) == "$'a\\'b\\x01'");
  CHECK(printable_command({"echo", "a\tb"}, 100) == "echo $'a\\x09b'");
  CHECK(printable_command({"\xc2\x9b" "1m"}, 100) == "$'\\xc2\\x9b1m'");
  // Cut to the columns whatever the quoting.
  CHECK(printable_command({"sh", "-c", "echo hello world"}, 12) == "sh -c 'ec...");

  TraceModel m = make_model();
  m.session.command = {"sh", "-c", "ls / | head -2; exit 3"};
  m.processes[7].images[0].argv = {"grep", "a b"};
  std::string text = format_summary(m, "r.json", 1);
  CHECK(lines(text)[0] ==
        "viztrace: `sh -c 'ls / | head -2; exit 3'` exited with status 0 after 3.214 s");
  CHECK(text.find("  grep 'a b'  (pid 206)") != std::string::npos);
}

TEST_CASE("summary: write_report prints it unless quiet") {
  TempDir dir;
  viztrace::test::SyntheticSpill spill(dir);
  spill.add(one_run("true"));
  for (bool quiet : {false, true}) {
    const std::string text = summary_of(dir, spill.dir(), quiet);
    if (quiet) {
      CHECK(text.empty());
    } else {
      CHECK(text.rfind("viztrace: `true` exited with status 0 after 0.002 s\n", 0) == 0);
      CHECK(text.find("  report: " + dir.file("r.json") + " (") != std::string::npos);
    }
  }
}
