// The process model in the report: trees of fork/exec/spawn, failed and shimless execs,
// processes seen only through /proc, pid reuse and threads, whatever the arrival order.
#include <signal.h>

#include <catch2/catch.hpp>

#include "report/report.h"
#include "report_run.h"
#include "synthetic_trace.h"

using namespace viztrace::test;
using R = ParsedReport;
using Run = ReportRun;

namespace {

constexpr std::uint64_t T0 = 5'000'000'000;  // the session start, CLOCK_MONOTONIC ns
constexpr std::int32_t kViztrace = 1000;

Stream collector() {
  return Stream(kViztrace, kViztrace, 1, VT_CHUNK_COLLECTOR);
}

// The collector's opening: the session, then the launch of the target.
void open_session(Stream& c, std::int32_t target, const std::vector<std::string>& argv,
                  const std::string& path) {
  c.session(T0, 1700000000123456789ull, target, kViztrace, argv, "/work");
  c.spawn(T0 + 100'000, target, path, argv);
}

std::vector<std::string> args_argv(simdjson::dom::element e) {
  return R::strings(e["args"]["argv"].value());
}

}  // namespace

TEST_CASE("report: a fork+exec tree resolves the same in any arrival order") {
  Stream c = collector();
  open_session(c, 2000, {"sh", "-c", "make -j2"}, "/bin/sh");
  Stream sh(2000, 2000, 0xa);
  sh.proc_start(T0 + 200'000, kViztrace, {"sh", "-c", "make -j2"}, "/bin/sh", "/work");
  sh.fork(T0 + 1'234'567, 2001);  // read after the child already ran
  Stream child(2001, 2001, 0xa);
  child.proc_start(T0 + 1'200'000, 2000, {"sh", "-c", "make -j2"}, "/bin/sh", "/work",
                   VT_PROC_FORKED);
  child.exec(T0 + 1'500'000, "/usr/bin/make", {"make", "-j2"});
  Stream make(2001, 2001, 0xb);
  make.proc_start(T0 + 1'600'000, 2000, {"make", "-j2"}, "/usr/bin/make", "/work/sub");
  make.exit(T0 + 7'900'000, 2, vt_usage{2'000'000, 1'000'000, 2048});
  vt_usage usage{3'000'000, 1'250'000, 4096};  // with children make waited for
  sh.reap(T0 + 8'000'000, 2001, 2 << 8, &usage);
  sh.exit(T0 + 8'500'000, 0);
  c.reap(T0 + 9'000'000, 2000, 0);
  c.stats(T0 + 9'500'000, vt_stats{});

  std::string first_text;
  for (unsigned seed : {0u, 1u, 2u, 3u, 7u, 11u, 42u, 1234u}) {
    INFO("arrival order seed " << seed);
    Run run(interleave({&c, &sh, &child, &make}, seed));

    auto sh_spans = run->find("X", "process", 2000);
    REQUIRE(sh_spans.size() == 1);
    auto s = sh_spans[0];
    CHECK(R::str(s, "name") == "sh");
    CHECK(R::num(s, "tid") == 2000);
    CHECK(R::ts(s) == Approx(100.0));
    CHECK(R::dur(s) == Approx(8400.0));
    CHECK(args_argv(s) == std::vector<std::string>{"sh", "-c", "make -j2"});
    CHECK(R::str(s["args"], "exe") == "/bin/sh");
    CHECK(R::num(s["args"], "ppid") == kViztrace);
    CHECK(R::num(s["args"], "pid") == 2000);
    CHECK(R::str(s["args"], "started_by") == "launch");
    CHECK(s["args"]["traced"].get_bool().value());
    CHECK(R::num(s["args"], "exit_code") == 0);

    auto images = run->find("X", "process", 2001);
    REQUIRE(images.size() == 2);
    auto fork_image = images[0], make_image = images[1];
    CHECK(R::str(fork_image, "name") == "sh");
    CHECK(R::ts(fork_image) == Approx(1200.0));  // the child's own record came first
    CHECK(R::dur(fork_image) == Approx(300.0));  // until the exec
    CHECK(R::str(fork_image["args"], "started_by") == "fork");
    CHECK(args_argv(fork_image) == std::vector<std::string>{"sh", "-c", "make -j2"});
    CHECK_FALSE(R::has(fork_image["args"], "exit_code"));  // the status goes on the last image
    CHECK(R::str(make_image, "name") == "make");
    CHECK(R::ts(make_image) == Approx(1500.0));   // touches the first image
    CHECK(R::dur(make_image) == Approx(6400.0));  // until its EXIT
    CHECK(R::str(make_image["args"], "started_by") == "exec");
    CHECK(args_argv(make_image) == std::vector<std::string>{"make", "-j2"});
    CHECK(R::str(make_image["args"], "exe") == "/usr/bin/make");
    CHECK(R::str(make_image["args"], "cwd") == "/work/sub");
    CHECK(R::num(make_image["args"], "ppid") == 2000);
    CHECK(R::num(make_image["args"], "exit_code") == 2);  // the reaper's word
    // Its own word, not the reaper's count (which includes its children's).
    CHECK(make_image["args"]["utime_ms"].get_double().value() == Approx(2.0));
    CHECK(make_image["args"]["stime_ms"].get_double().value() == Approx(1.0));
    CHECK(R::num(make_image["args"], "max_rss_kb") == 2048);
    // sh waited for make: its own figures are zero, its subtree's are make's count.
    CHECK(s["args"]["utime_ms"].get_double().value() == Approx(0.0));
    CHECK_FALSE(R::has(s["args"], "max_rss_kb"));
    CHECK(s["args"]["utime_ms_with_children"].get_double().value() == Approx(3.0));
    CHECK(s["args"]["stime_ms_with_children"].get_double().value() == Approx(1.25));
    CHECK_FALSE(R::has(make_image["args"], "utime_ms_with_children"));

    CHECK(run->metadata_name("process_name", 2000, 2000) == "sh");
    CHECK(run->metadata_name("process_name", 2001, 2001) == "make");
    CHECK(run->metadata_name("thread_name", 2001, 2001) == "make");
    CHECK(run.result.processes == 2);
    CHECK(run.result.threads == 2);
    CHECK(run.result.events == 12);
    CHECK(run.result.lost == 0);
    CHECK(run.result.target_known);
    CHECK(run.result.target_wait_status == 0);

    if (seed == 0) first_text = run->text();
    CHECK(run->text() == first_text);  // nothing depends on the arrival order
  }
}

TEST_CASE("report: a failed exec leaves the image running and shows an instant") {
  Stream c = collector();
  open_session(c, 3000, {"run"}, "/bin/run");
  Stream p(3000, 3000, 1);
  p.proc_start(T0 + 200'000, kViztrace, {"run"}, "/bin/run", "/");
  p.exec(T0 + 300'000, "/nope/tool", {"tool", "x"});
  p.exec_failed(T0 + 310'000, ENOENT);
  p.exec(T0 + 400'000, "/bin/true", {"true"});
  Stream t(3000, 3000, 2);
  t.proc_start(T0 + 450'000, kViztrace, {"true"}, "/usr/bin/true", "/");
  t.exit(T0 + 500'000, 0);
  c.reap(T0 + 600'000, 3000, 0);
  for (unsigned seed : {0u, 5u}) {
    Run run(interleave({&c, &p, &t}, seed));
    auto images = run->find("X", "process", 3000);
    REQUIRE(images.size() == 2);
    CHECK(R::str(images[0], "name") == "run");
    CHECK(R::ts(images[0]) == Approx(100.0));
    CHECK(R::dur(images[0]) == Approx(300.0));  // to the exec that worked
    CHECK(R::str(images[1], "name") == "true");
    CHECK(R::str(images[1]["args"], "started_by") == "exec");

    auto instants = run->find("i", "", 3000);
    REQUIRE(instants.size() == 1);
    CHECK(R::str(instants[0], "name") == "exec failed: tool");
    CHECK(R::str(instants[0], "s") == "t");
    CHECK(R::num(instants[0], "tid") == 3000);
    CHECK(R::ts(instants[0]) == Approx(310.0));
    CHECK(R::str(instants[0]["args"], "error") == "ENOENT");
    CHECK(R::str(instants[0]["args"], "path") == "/nope/tool");
    CHECK(args_argv(instants[0]) == std::vector<std::string>{"tool", "x"});
  }
}

TEST_CASE("report: an image the shim cannot enter is shown untraced, ended by the reaper") {
  Stream c = collector();
  open_session(c, 3000, {"build"}, "/bin/build");
  Stream p(3000, 3000, 1);
  p.proc_start(T0 + 200'000, kViztrace, {"build"}, "/bin/build", "/src");
  p.exec(T0 + 300'000, "/opt/go/bin/gotool", {"gotool", "vet"}, VT_EXE_STATIC | VT_EXE_GO);
  // The static program execs a dynamic one: no EXEC record, the shim is back in.
  Stream d(3000, 3000, 2);
  d.proc_start(T0 + 700'000, kViztrace, {"cc", "-c", "a.c"}, "/usr/bin/cc", "/src");
  c.reap(T0 + 900'000, 3000, SIGSEGV | 0x80);  // killed, core dumped; no EXIT record
  Run run(interleave({&c, &p, &d}, 3));

  auto images = run->find("X", "process", 3000);
  REQUIRE(images.size() == 3);
  CHECK(images[0]["args"]["traced"].get_bool().value());
  CHECK(R::str(images[1], "name") == "gotool");
  CHECK(R::ts(images[1]) == Approx(300.0));
  CHECK(R::dur(images[1]) == Approx(400.0));
  CHECK_FALSE(images[1]["args"]["traced"].get_bool().value());
  CHECK(R::str(images[1]["args"], "exe_kind") == "static,go");
  CHECK(args_argv(images[1]) == std::vector<std::string>{"gotool", "vet"});
  CHECK(R::str(images[1]["args"], "cwd") == "/src");
  CHECK_FALSE(R::has(images[1]["args"], "signal"));
  CHECK(R::str(images[2], "name") == "cc");
  CHECK(R::str(images[2]["args"], "started_by") == "exec");
  CHECK(images[2]["args"]["traced"].get_bool().value());
  CHECK(R::dur(images[2]) == Approx(200.0));  // ends at the reap
  CHECK(R::num(images[2]["args"], "signal") == SIGSEGV);
  CHECK(R::str(images[2]["args"], "signal_name") == "SIGSEGV");
  CHECK(images[2]["args"]["core_dumped"].get_bool().value());
  CHECK_FALSE(R::has(images[2]["args"], "exit_code"));
  CHECK_FALSE(R::has(images[2]["args"], "end_unknown"));
  simdjson::dom::element status = run->metadata()["exit_status"].value();
  CHECK(R::num(status, "signal") == SIGSEGV);
  CHECK(R::str(status, "signal_name") == "SIGSEGV");
  CHECK(run.result.target_wait_status == (SIGSEGV | 0x80));
}

TEST_CASE("report: processes seen through /proc and ended through a pidfd") {
  Stream c = collector();
  open_session(c, 4000, {"go", "build"}, "/usr/bin/go");
  Stream go(4000, 4000, 1);
  go.proc_start(T0 + 200'000, kViztrace, {"go", "build"}, "/usr/lib/go/bin/go", "/m", VT_PROC_GO);
  c.observed(T0 + 1'000'000, 4001, 4000, {"compile", "-o", "x.o"}, "/usr/lib/go/pkg/tool/compile");
  c.ended(T0 + 3'000'000, 4001, 1 << 8);
  c.observed(T0 + 1'100'000, 4002, 4000, {"asm"}, "/usr/lib/go/pkg/tool/asm");
  c.ended(T0 + 2'000'000, 4002, -1);  // nobody could tell the status
  go.exit(T0 + 4'000'000, 0);
  c.reap(T0 + 4'100'000, 4000, 0);
  Run run(interleave({&c, &go}, 9));

  auto compile = run->find("X", "process", 4001);
  REQUIRE(compile.size() == 1);
  CHECK(R::str(compile[0], "name") == "compile");
  CHECK(R::ts(compile[0]) == Approx(1000.0));
  CHECK(R::dur(compile[0]) == Approx(2000.0));
  CHECK(R::str(compile[0]["args"], "started_by") == "observed");
  CHECK_FALSE(compile[0]["args"]["traced"].get_bool().value());
  CHECK(R::num(compile[0]["args"], "ppid") == 4000);
  CHECK(R::str(compile[0]["args"], "exe") == "/usr/lib/go/pkg/tool/compile");
  CHECK(R::num(compile[0]["args"], "exit_code") == 1);
  auto assembler = run->find("X", "process", 4002);
  REQUIRE(assembler.size() == 1);
  CHECK(R::dur(assembler[0]) == Approx(900.0));
  CHECK_FALSE(R::has(assembler[0]["args"], "exit_code"));
  CHECK_FALSE(R::has(assembler[0]["args"], "end_unknown"));
}

TEST_CASE(
    "report: without its own word, a process's CPU is its reaper's count less its waited "
    "children's") {
  auto ms = [](simdjson::dom::element e, const char* key) {
    return e["args"][key].get_double().value();
  };
  SECTION("a traced parent killed before it could tell") {
    Stream c = collector();
    open_session(c, 3000, {"sh", "-c", "busy; kill -9 $$"}, "/bin/sh");
    Stream sh(3000, 3000, 1);
    sh.proc_start(T0 + 200'000, kViztrace, {"sh", "-c", "busy; kill -9 $$"}, "/bin/sh", "/");
    sh.fork(T0 + 300'000, 3001);
    Stream busy(3001, 3001, 2);
    busy.proc_start(T0 + 400'000, 3000, {"busy"}, "/bin/busy", "/");
    busy.exit(T0 + 5'000'000, 0, vt_usage{390'000'000, 10'000'000, 70000});
    const vt_usage busy_count{390'500'000, 10'000'000, 70000};
    sh.reap(T0 + 5'100'000, 3001, 0, &busy_count);
    const vt_usage sh_count{396'000'000, 12'500'000, 70000};
    c.reap(T0 + 5'200'000, 3000, SIGKILL, &sh_count);
    Run run(interleave({&c, &sh, &busy}, 4));
    auto parent = run->find("X", "process", 3000);
    REQUIRE(parent.size() == 1);
    CHECK(ms(parent[0], "utime_ms") == Approx(5.5));
    CHECK(ms(parent[0], "stime_ms") == Approx(2.5));
    CHECK_FALSE(R::has(parent[0]["args"], "max_rss_kb"));  // the count is the child's peak
    CHECK(ms(parent[0], "utime_ms_with_children") == Approx(396.0));
    auto child = run->find("X", "process", 3001);
    REQUIRE(child.size() == 1);
    CHECK(ms(child[0], "utime_ms") == Approx(390.0));
    CHECK(R::num(child[0]["args"], "max_rss_kb") == 70000);
  }
  SECTION("a program the shim is not in, whose children it reaped unseen") {
    Stream c = collector();
    open_session(c, 4000, {"builder"}, "/opt/builder");
    c.spawn(T0 + 100'000, 4000, "/opt/builder", {"builder"}, VT_EXE_STATIC);
    c.observed(T0 + 1'000'000, 4001, 4000, {"cc"}, "/usr/bin/cc");
    Stream cc(4001, 4001, 1);
    cc.proc_start(T0 + 1'100'000, 4000, {"cc"}, "/usr/bin/cc", "/");
    cc.exit(T0 + 2'000'000, 0, vt_usage{100'000'000, 0, 5000});
    c.ended(T0 + 2'100'000, 4001, 0);
    const vt_usage builder_count{130'000'000, 5'000'000, 9000};
    c.reap(T0 + 3'000'000, 4000, 0, &builder_count);
    Run run(interleave({&c, &cc}, 2));
    auto builder = run->find("X", "process", 4000);
    REQUIRE(builder.size() == 1);
    CHECK_FALSE(builder[0]["args"]["traced"].get_bool().value());
    CHECK(ms(builder[0], "utime_ms") == Approx(30.0));
    CHECK(ms(builder[0], "stime_ms") == Approx(5.0));
    CHECK_FALSE(R::has(builder[0]["args"], "max_rss_kb"));
    CHECK(ms(builder[0], "utime_ms_with_children") == Approx(130.0));
    auto compiler = run->find("X", "process", 4001);
    REQUIRE(compiler.size() == 1);
    CHECK(ms(compiler[0], "utime_ms") == Approx(100.0));
  }
  SECTION("a program that reaped children nobody can count has no CPU of its own") {
    Stream c = collector();
    open_session(c, 5000, {"builder"}, "/opt/builder");
    c.spawn(T0 + 100'000, 5000, "/opt/builder", {"builder"}, VT_EXE_STATIC);
    c.observed(T0 + 1'000'000, 5001, 5000, {"tool"}, "/opt/tool");  // static too: no word
    c.ended(T0 + 2'000'000, 5001, 0);
    const vt_usage builder_count{130'000'000, 5'000'000, 9000};
    c.reap(T0 + 3'000'000, 5000, 0, &builder_count);
    Run run(interleave({&c}, 0));
    auto builder = run->find("X", "process", 5000);
    REQUIRE(builder.size() == 1);
    CHECK_FALSE(R::has(builder[0]["args"], "utime_ms"));
    CHECK_FALSE(R::has(builder[0]["args"], "max_rss_kb"));
    CHECK(ms(builder[0], "utime_ms_with_children") == Approx(130.0));
  }
}

TEST_CASE("report: a process whose end nobody told ends at the run's end, else its last record") {
  // The target ended; its child was still running: no EXIT, REAP or ENDED of it.
  auto streams = [](Stream& c, Stream& sh, Stream& daemon) {
    open_session(c, 6000, {"sh"}, "/bin/sh");
    sh.proc_start(T0 + 200'000, kViztrace, {"sh"}, "/bin/sh", "/");
    sh.fork(T0 + 300'000, 6001);
    daemon.proc_start(T0 + 400'000, 6000, {"daemon"}, "/bin/daemon", "/");
    daemon.thread_name(T0 + 500'000, 6001, "daemon");
    sh.exit(T0 + 1'000'000, 0);
    c.reap(T0 + 1'100'000, 6000, 0);
  };
  SECTION("viztrace ended the run: the process was running then") {
    Stream c = collector(), sh(6000, 6000, 1), daemon(6001, 6001, 2);
    streams(c, sh, daemon);
    c.stats(T0 + 9'000'000, vt_stats{});
    Run run(interleave({&c, &sh, &daemon}, 1));
    auto d = run->find("X", "process", 6001);
    REQUIRE(d.size() == 1);
    CHECK(R::ts(d[0]) + R::dur(d[0]) == Approx(9000.0));
    CHECK(d[0]["args"]["unfinished"].get_bool().value());
    CHECK_FALSE(R::has(run->find("X", "process", 6000)[0]["args"], "unfinished"));
  }
  SECTION("viztrace was killed: the last record of it, function calls included") {
    Stream c = collector(), sh(6000, 6000, 1), daemon(6001, 6001, 2);
    streams(c, sh, daemon);
    std::vector<Stream::Chunk> chunks = interleave({&c, &sh, &daemon}, 2);
    chunks.push_back(function_chunk(
        6001, 6001, 2, {{T0 + 600'000, 0x1000}, {(T0 + 4'000'000) | VT_FN_EXIT, 0x1000}}));
    Run run(chunks);
    auto d = run->find("X", "process", 6001);
    REQUIRE(d.size() == 1);
    CHECK(R::ts(d[0]) + R::dur(d[0]) == Approx(4000.0));
    CHECK(d[0]["args"]["unfinished"].get_bool().value());
  }
  SECTION("without function calls: its last lifecycle record") {
    Stream c = collector(), sh(6000, 6000, 1), daemon(6001, 6001, 2);
    streams(c, sh, daemon);
    Run run(interleave({&c, &sh, &daemon}, 3));
    auto d = run->find("X", "process", 6001);
    REQUIRE(d.size() == 1);
    CHECK(R::ts(d[0]) + R::dur(d[0]) == Approx(500.0));
    CHECK(d[0]["args"]["unfinished"].get_bool().value());
  }
}

TEST_CASE("report: an argv the shim cut is marked, and the launcher's whole copy wins") {
  const std::vector<std::string> whole = {"tool", "a", "b", "c", "d"};
  const std::vector<std::string> cut = {"tool", "a"};
  auto cut_string = [](Stream& s, std::uint64_t ts, std::uint64_t arguments, std::uint64_t bytes) {
    const vt_argv_cut c{arguments, bytes};
    s.builder().string(VT_STR_ARGV_CUT, std::string(reinterpret_cast<const char*>(&c), sizeof c),
                       ts);
  };
  Stream c = collector();
  open_session(c, 7000, whole, "/bin/tool");
  Stream tool(7000, 7000, 1);
  cut_string(tool, T0 + 200'000, 3, 6);  // strings gather until their record
  tool.proc_start(T0 + 200'000, kViztrace, cut, "/bin/tool", "/");
  cut_string(tool, T0 + 300'000, 3, 6);
  tool.exec(T0 + 300'000, "/bin/other", {"other", "a"});
  Stream other(7000, 7000, 2);
  cut_string(other, T0 + 400'000, 3, 6);
  other.proc_start(T0 + 400'000, kViztrace, {"other", "a"}, "/bin/other", "/");
  other.exit(T0 + 500'000, 0);
  c.reap(T0 + 600'000, 7000, 0);
  Run run(interleave({&c, &tool, &other}, 0));
  auto images = run->find("X", "process", 7000);
  REQUIRE(images.size() == 2);
  CHECK(args_argv(images[0]) == whole);
  CHECK_FALSE(R::has(images[0]["args"], "argv_truncated"));
  CHECK(args_argv(images[1]) == std::vector<std::string>{"other", "a"});
  CHECK(R::num(images[1]["args"]["argv_truncated"], "arguments_left_out") == 3);
  CHECK(R::num(images[1]["args"]["argv_truncated"], "bytes_left_out") == 6);
  CHECK(R::num(run->metadata()["lost"], "argv_cut") == 1);
  CHECK(R::num(run->metadata()["lost"], "argv_arguments_left_out") == 3);
  CHECK(run.result.lost == 1);
}

TEST_CASE("report: a reused pid becomes a second process with its own json pid") {
  Stream c = collector();
  open_session(c, 2000, {"sh"}, "/bin/sh");
  Stream sh(2000, 2000, 1);
  sh.proc_start(T0 + 200'000, kViztrace, {"sh"}, "/bin/sh", "/");
  Stream first(5000, 5000, 0x51), second(5000, 5000, 0x52), second_thread(5000, 5001, 0x52);
  sh.fork(T0 + 1'000'000, 5000);
  first.proc_start(T0 + 1'000'100, 2000, {"sh"}, "/bin/sh", "/", VT_PROC_FORKED);
  first.exec(T0 + 1'100'000, "/bin/one", {"one"});
  Stream one(5000, 5000, 0x53);
  one.proc_start(T0 + 1'200'000, 2000, {"one"}, "/bin/one", "/");
  one.exit(T0 + 2'000'000, 0);
  sh.reap(T0 + 2'100'000, 5000, 0);
  sh.spawn(T0 + 3'000'000, 5000, "/bin/two", {"two", "--x"});  // the pid came round again
  second.proc_start(T0 + 2'999'000, 2000, {"two", "--x"}, "/bin/two", "/");
  second_thread.thread_start(T0 + 3'500'000);
  second_thread.thread_exit(T0 + 3'600'000);
  second.exit(T0 + 4'000'000, 3);
  sh.reap(T0 + 4'100'000, 5000, 3 << 8);
  sh.exit(T0 + 5'000'000, 0);
  c.reap(T0 + 5'100'000, 2000, 0);

  for (unsigned seed : {0u, 17u, 99u}) {
    INFO("seed " << seed);
    Run run(interleave({&c, &sh, &first, &one, &second, &second_thread}, seed));
    auto old_images = run->find("X", "process", 5000);
    REQUIRE(old_images.size() == 2);
    CHECK(R::str(old_images[0], "name") == "sh");
    CHECK(R::str(old_images[1], "name") == "one");
    CHECK(R::ts(old_images[1]) + R::dur(old_images[1]) == Approx(2000.0));
    CHECK(R::num(old_images[1]["args"], "exit_code") == 0);

    const std::int64_t reused = 5000 + 4194304;
    auto new_images = run->find("X", "process", reused);
    REQUIRE(new_images.size() == 1);
    CHECK(R::str(new_images[0], "name") == "two");
    CHECK(R::num(new_images[0], "tid") == reused);
    CHECK(R::num(new_images[0]["args"], "pid") == 5000);
    CHECK(R::str(new_images[0]["args"], "started_by") == "spawn");
    CHECK(R::ts(new_images[0]) == Approx(2999.0));
    CHECK(R::num(new_images[0]["args"], "exit_code") == 3);
    CHECK(run->metadata_name("process_name", reused, reused) == "two");
    auto threads = run->find("X", "thread", reused);
    REQUIRE(threads.size() == 1);  // the thread went with the second process
    CHECK(R::num(threads[0], "tid") == 5001);
    CHECK(run->find("X", "thread", 5000).empty());
    CHECK(run.result.processes == 3);
  }
}

TEST_CASE("report: threads get spans on their own tracks and their latest names") {
  Stream c = collector();
  open_session(c, 6000, {"server"}, "/bin/server");
  Stream main_thread(6000, 6000, 1), worker(6000, 6001, 1), other(6000, 6002, 1);
  main_thread.proc_start(T0 + 200'000, kViztrace, {"server", "--port=1"}, "/bin/server", "/");
  worker.thread_start(T0 + 300'000);
  worker.thread_name(T0 + 310'000, 6001, "worker-1");
  main_thread.thread_name(T0 + 350'000, 6001, "io");  // renamed from another thread
  main_thread.thread_name(T0 + 360'000, 6000,
                          "srv-main");  // the main thread keeps the process name
  worker.thread_exit(T0 + 800'000);
  other.thread_start(T0 + 400'000);  // never ends on its own
  main_thread.exit(T0 + 1'000'000, 0);
  c.reap(T0 + 1'100'000, 6000, 0);
  Run run(interleave({&c, &main_thread, &worker, &other}, 4));

  auto threads = run->find("X", "thread", 6000);
  REQUIRE(threads.size() == 2);
  CHECK(R::num(threads[0], "tid") == 6001);
  CHECK(R::str(threads[0], "name") == "io");
  CHECK(R::ts(threads[0]) == Approx(300.0));
  CHECK(R::dur(threads[0]) == Approx(500.0));
  CHECK(R::num(threads[1], "tid") == 6002);
  CHECK(R::str(threads[1], "name") == "thread 6002");
  CHECK(R::ts(threads[1]) + R::dur(threads[1]) == Approx(1000.0));  // the process's end
  CHECK(threads[1]["args"]["end_unknown"].get_bool().value());
  CHECK(run->metadata_name("thread_name", 6000, 6001) == "io");
  CHECK(run->metadata_name("thread_name", 6000, 6002) == "thread 6002");
  CHECK(run->metadata_name("thread_name", 6000, 6000) == "server");
  CHECK(run->find("X", "", 6000).size() == 3);  // one process span, two thread spans
  for (auto e : run->find("X", "", 6000))
    CHECK(!(R::str(e, "cat") == "thread" && R::num(e, "tid") == 6000));
  CHECK(run->metadata()["threads"].get_int64().value() == 3);
}

TEST_CASE("report: a vfork child known only from its EXEC starts with the exec'd program") {
  Stream c = collector();
  open_session(c, 7000, {"env", "sh", "-c", "ls; static; nope"}, "/usr/bin/env");
  Stream env(7000, 7000, 8), sh(7000, 7000, 9);
  env.proc_start(T0 + 150'000, kViztrace, {"env", "sh", "-c", "ls; static; nope"}, "/usr/bin/env",
                 "/d");
  env.exec(T0 + 180'000, "/bin/sh", {"sh", "-c", "ls; static; nope"}, 0, kViztrace);
  sh.proc_start(T0 + 200'000, kViztrace, {"sh", "-c", "ls; static; nope"}, "/bin/sh", "/d");
  // dash vforks: no FORK record, the child's first word is its EXEC.
  Stream ls_child(7001, 7001, 1), ls(7001, 7001, 2);
  ls_child.exec(T0 + 1'000'000, "/usr/bin/ls", {"ls", "-l"}, 0, 7000);
  ls.proc_start(T0 + 1'100'000, 7000, {"ls", "-l"}, "/usr/bin/ls", "/d");
  ls.exit(T0 + 1'500'000, 0);
  sh.reap(T0 + 1'600'000, 7001, 0);
  // A static program: the shim never enters it, the EXEC is all there is.
  Stream st(7002, 7002, 3);
  st.exec(T0 + 2'000'000, "/opt/static", {"static"}, VT_EXE_STATIC, 7000);
  sh.reap(T0 + 2'500'000, 7002, 0);
  // An exec that failed: the vfork child goes on in dash's code and _exits.
  Stream nope(7003, 7003, 4);
  nope.exec(T0 + 3'000'000, "/nope", {"nope"}, 0, 7000);
  nope.exec_failed(T0 + 3'000'100, ENOENT);
  nope.exit(T0 + 3'000'200, 127);
  sh.reap(T0 + 3'100'000, 7003, 127 << 8);
  // The pid comes round again, for another vfork child.
  Stream again(7001, 7001, 5);
  again.exec(T0 + 4'000'000, "/usr/bin/wc", {"wc"}, VT_EXE_STATIC, 7000);
  sh.reap(T0 + 4'500'000, 7001, 0);
  sh.exit(T0 + 5'000'000, 0);
  c.reap(T0 + 5'100'000, 7000, 0);

  for (unsigned seed : {0u, 21u, 1000u}) {
    INFO("seed " << seed);
    Run run(interleave({&c, &env, &sh, &ls_child, &ls, &st, &nope, &again}, seed));
    auto ls_images = run->find("X", "process", 7001);
    REQUIRE(ls_images.size() == 1);  // no empty image before the exec
    CHECK(R::str(ls_images[0], "name") == "ls");
    CHECK(R::ts(ls_images[0]) == Approx(1000.0));
    CHECK(R::dur(ls_images[0]) == Approx(500.0));
    CHECK(R::num(ls_images[0]["args"], "ppid") == 7000);
    CHECK(R::str(ls_images[0]["args"], "exe") == "/usr/bin/ls");
    CHECK(ls_images[0]["args"]["traced"].get_bool().value());
    CHECK_FALSE(R::has(ls_images[0]["args"], "start_unknown"));

    auto static_images = run->find("X", "process", 7002);
    REQUIRE(static_images.size() == 1);
    CHECK(R::str(static_images[0], "name") == "static");
    CHECK(R::num(static_images[0]["args"], "ppid") == 7000);  // from the EXEC record
    CHECK_FALSE(static_images[0]["args"]["traced"].get_bool().value());
    CHECK(R::dur(static_images[0]) == Approx(500.0));  // until the reap

    auto failed = run->find("X", "process", 7003);
    REQUIRE(failed.size() == 1);
    CHECK(R::str(failed[0], "name") == "sh");  // it ran dash's code until _exit
    CHECK(args_argv(failed[0]) == std::vector<std::string>{"sh", "-c", "ls; static; nope"});
    CHECK(R::str(failed[0]["args"], "exe") == "/bin/sh");
    CHECK(R::num(failed[0]["args"], "exit_code") == 127);
    auto instants = run->find("i", "", 7003);
    REQUIRE(instants.size() == 1);
    CHECK(R::str(instants[0], "name") == "exec failed: nope");

    auto reused = run->find("X", "process", 7001 + 4194304);
    REQUIRE(reused.size() == 1);
    CHECK(R::str(reused[0], "name") == "wc");
    CHECK(R::ts(reused[0]) == Approx(4000.0));
    CHECK(run.result.processes == 5);
  }
}
