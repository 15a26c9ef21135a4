// What the report says besides the process tree: hostile strings, exact timestamps, instants,
// top-level metadata and loss counts.
#include <signal.h>

#include <catch2/catch.hpp>
#include <regex>

#include "report/report.h"
#include "report_run.h"
#include "synthetic_trace.h"

using namespace viztrace::test;
using R = ParsedReport;
using Run = ReportRun;

namespace {

constexpr std::uint64_t T0 = 7'000'000'000;
constexpr std::int32_t kViztrace = 900;

Stream collector() {
  return Stream(kViztrace, kViztrace, 1, VT_CHUNK_COLLECTOR);
}

}  // namespace

TEST_CASE("report: hostile argv, paths and names still make valid JSON") {
  const std::string long_arg(10000, 'L');  // spans three chunks
  const std::vector<std::string> argv = {"evil\"quote\\back",
                                         std::string("ctl\x01\x1b[31mred\x7f\n\t", 15),
                                         "bad\xff\xfe utf8 \xc0\xaf \xed\xa0\x80 end",
                                         "</script><script>alert(1)</script>",
                                         "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                         long_arg,
                                         ""};
  Stream c = collector();
  c.session(T0, 1, 2000, kViztrace, argv, "/w\nd");
  c.spawn(T0 + 10, 2000, "/bin/\xff", argv);
  Stream p(2000, 2000, 1), t(2000, 2001, 1);
  p.proc_start(T0 + 20, kViztrace, argv, "/usr/bin/ev\"il\x01", "/tmp/\x80\x81");
  t.thread_start(T0 + 30);
  t.thread_name(T0 + 31, 2001, "\x1b]0;title\x07");
  t.thread_exit(T0 + 40);
  p.exit(T0 + 50, 0);
  c.reap(T0 + 60, 2000, 0);
  Run run(interleave({&c, &p, &t}, 1));  // parsing it at all proves valid UTF-8 JSON

  auto spans = run->find("X", "process", 2000);
  REQUIRE(spans.size() == 1);
  std::vector<std::string> got = R::strings(spans[0]["args"]["argv"].value());
  REQUIRE(got.size() == argv.size());
  CHECK(got[0] == argv[0]);  // valid text round-trips exactly
  CHECK(got[1] == argv[1]);  // control characters too (escaped in the file)
  CHECK(got[2] == "bad\\xff\\xfe utf8 \\xc0\\xaf \\xed\\xa0\\x80 end");  // invalid bytes: \xNN
  CHECK(got[3] == argv[3]);
  CHECK(got[4] == argv[4]);
  CHECK(got[5] == long_arg);
  CHECK(got[6].empty());
  CHECK(R::str(spans[0], "name") == "ev\"il\x01");  // the file exec'd, as ps names it
  CHECK(R::str(spans[0]["args"], "exe") == "/usr/bin/ev\"il\x01");
  CHECK(R::str(spans[0]["args"], "cwd") == "/tmp/\\x80\\x81");
  CHECK(run->metadata_name("thread_name", 2000, 2001) == "\x1b]0;title\x07");
  CHECK(R::strings(run->metadata()["command"].value()) == got);
  CHECK(R::str(run->metadata(), "cwd") == "/w\nd");
  // The file itself holds no raw control characters and no raw invalid bytes.
  const std::string& text = run->text();
  std::size_t raw_controls = std::count_if(text.begin(), text.end(), [](char ch) {
    auto u = static_cast<unsigned char>(ch);
    return (u < 0x20 && u != '\n') || u == 0x7f;  // line breaks only between events
  });
  CHECK(raw_controls == 0);
  CHECK(text.find("\\u001b[31mred\\u007f\\n\\t") != std::string::npos);
}

TEST_CASE("report: ts and dur are exact microseconds with three decimals, from the session") {
  Stream c = collector();
  c.session(T0, 1, 2000, kViztrace, {"p"}, "/");
  c.spawn(T0 + 1'234'567, 2000, "/bin/p", {"p"});
  Stream p(2000, 2000, 1);
  p.proc_start(T0 + 1'234'600, kViztrace, {"p"}, "/bin/p", "/");
  p.exec(T0 + 1'234'572, "/bin/q", {"q"});  // 5 ns after the launch
  p.exit(T0 + 86'400'000'000'001, 0);       // a day later, 1 ns past the µs
  // A process the collector found already running: before the session started.
  c.observed(T0 - 5'000, 2100, 1, {"early"}, "/bin/early");
  c.ended(T0 + 2'000, 2100, 0);
  Run run(interleave({&c, &p}, 0));
  const std::string& text = run->text();
  CHECK(text.find(R"("ts":1234.567,"dur":0.005)") != std::string::npos);
  CHECK(text.find(R"("ts":1234.572,"dur":86399998765.429)") != std::string::npos);
  CHECK(text.find(R"("ts":0.000,"dur":2.000)") != std::string::npos);  // clamped to 0
  // Every ts and dur in the file has exactly three decimals.
  std::regex number(R"re("(ts|dur|duration_ms)":([0-9.eE+-]+))re");
  int seen = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number);
       it != std::sregex_iterator(); ++it, ++seen)
    CHECK(std::regex_match((*it)[2].str(), std::regex(R"([0-9]+\.[0-9]{3})")));
  CHECK(seen >= 5);
  CHECK(R::str(run->metadata(), "start_time").size() > 0);
  CHECK(run->metadata()["duration_ms"].get_double().value() == Approx(86400000.0));
}

TEST_CASE("report: signals and failed spawns are instants, and viztrace's pid gets a name") {
  Stream c = collector();
  c.session(T0, 1, 2000, kViztrace, {"p"}, "/");
  c.spawn(T0 + 100, 2000, "/bin/p", {"p"});
  Stream p(2000, 2000, 1), worker(2000, 2003, 1);
  p.proc_start(T0 + 200, kViztrace, {"p"}, "/bin/p", "/");
  worker.spawn(T0 + 3'000, 0, "/usr/bin/nope", {"nope", "-x"}, 0, ENOENT);
  c.signal(T0 + 5'000, SIGINT, 2000);
  c.signal(T0 + 6'000, SIGTERM, 0);
  p.exit(T0 + 9'000, 130);
  c.reap(T0 + 9'500, 2000, SIGINT);
  Run run(interleave({&c, &p, &worker}, 2));

  auto failed = run->find("i", "", 2000);
  REQUIRE(failed.size() == 1);
  CHECK(R::str(failed[0], "name") == "spawn failed: nope");
  CHECK(R::num(failed[0], "tid") == 2003);
  CHECK(R::ts(failed[0]) == Approx(3.0));
  CHECK(R::str(failed[0]["args"], "error") == "ENOENT");
  CHECK(R::str(failed[0]["args"], "path") == "/usr/bin/nope");
  CHECK(R::strings(failed[0]["args"]["argv"].value()) == std::vector<std::string>{"nope", "-x"});

  auto signals = run->find("i", "", kViztrace);
  REQUIRE(signals.size() == 2);
  CHECK(R::str(signals[0], "name") == "viztrace got SIGINT");
  CHECK(R::str(signals[0], "s") == "g");
  CHECK(R::num(signals[0], "tid") == kViztrace);
  CHECK(R::num(signals[0]["args"], "forwarded_to") == 2000);
  CHECK(R::str(signals[1], "name") == "viztrace got SIGTERM");
  CHECK_FALSE(R::has(signals[1]["args"], "forwarded_to"));
  CHECK(run->metadata_name("process_name", kViztrace, kViztrace) == "viztrace");
  // The reaper's status wins over the exit code the process announced.
  auto span = run->find("X", "process", 2000).at(0);
  CHECK(R::str(span["args"], "signal_name") == "SIGINT");
  CHECK_FALSE(R::has(span["args"], "exit_code"));
}

TEST_CASE("report: top-level metadata tells version, command, start, status and counts") {
  Stream c = collector();
  c.session(T0, 1700000000123456789ull, 2000, kViztrace, {"make", "-j2"}, "/src");
  c.spawn(T0 + 100, 2000, "/usr/bin/make", {"make", "-j2"});
  Stream p(2000, 2000, 1);
  p.proc_start(T0 + 200, kViztrace, {"make", "-j2"}, "/usr/bin/make", "/src");
  p.exit(T0 + 3'214'000'000, 0);
  c.reap(T0 + 3'214'500'000, 2000, 7 << 8);
  c.stats(T0 + 3'300'000'000, vt_stats{100, 500, 3, 1, 7, 2, 4});
  Run run(interleave({&c, &p}, 0));
  auto meta = run->metadata();
  CHECK(std::regex_match(R::str(meta, "viztrace_version"), std::regex(R"(\d+\.\d+\.\d+.*)")));
  CHECK(R::strings(meta["command"].value()) == std::vector<std::string>{"make", "-j2"});
  CHECK(R::str(meta, "cwd") == "/src");
  CHECK(R::str(meta, "start_time") == "2023-11-14T22:13:20.123Z");
  CHECK(meta["duration_ms"].get_double().value() == Approx(3214.0));
  CHECK(R::num(meta["exit_status"].value(), "exit_code") == 7);
  CHECK(R::num(meta, "processes") == 1);
  CHECK(R::num(meta, "threads") == 1);
  CHECK(R::num(meta, "events") == 6);
  simdjson::dom::element lost = meta["lost"].value();
  CHECK(R::num(lost, "dropped_records") == 3);
  CHECK(R::num(lost, "seq_gaps") == 1);
  CHECK(R::num(lost, "bad_bytes") == 7);
  CHECK(R::num(lost, "bad_chunks") == 2);
  CHECK(R::num(lost, "spill_lost") == 4);
  CHECK(R::num(lost, "damaged_bytes") == 0);
  CHECK(R::str(run->root(), "displayTimeUnit") == "ns");
  CHECK(run.result.lost == 3 + 1 + 2 + 4);
  CHECK(run.result.target_wait_status == (7 << 8));
  CHECK(run->text().find("PATH=") == std::string::npos);
}

TEST_CASE("report: without the collector's stats, losses are counted from the spill") {
  Stream c = collector();
  c.session(T0, 1, 2000, kViztrace, {"p"}, "/");
  c.spawn(T0 + 100, 2000, "/bin/p", {"p"});
  Stream p(2000, 2000, 1);
  p.proc_start(T0 + 200, kViztrace, {"p"}, "/bin/p", "/");
  p.thread_name(T0 + 300, 2000, "lost-chunk");
  p.builder().add_dropped(5);
  p.exit(T0 + 400, 0);
  auto chunks = interleave({&c, &p}, 0);
  // Lose the stream's second chunk on the way.
  auto second = std::find_if(chunks.begin(), chunks.end(), [](const Stream::Chunk& ch) {
    vt_chunk_header h;
    std::memcpy(&h, ch.data(), sizeof h);
    return h.pid == 2000 && h.seq == 1;
  });
  REQUIRE(second != chunks.end());
  chunks.erase(second);
  Run run(chunks);
  auto lost = run->metadata()["lost"];
  CHECK(R::num(lost.value(), "seq_gaps") == 1);
  CHECK(R::num(lost.value(), "dropped_records") == 5);
  CHECK(run.result.lost == 6);
  // No reap and no status from a reaper: the span ends at the EXIT, the status is its code.
  auto span = run->find("X", "process", 2000).at(0);
  CHECK(R::num(span["args"], "exit_code") == 0);
  CHECK_FALSE(run.result.target_known);
}

TEST_CASE("report: a chunk written from a signal handler neither breaks a string nor the count") {
  Stream c = collector();
  c.session(T0, 1, 2000, kViztrace, {"p"}, "/");
  c.spawn(T0 + 100, 2000, "/bin/p", {"p"});
  // The process's argv spans chunks; a signal handler's chunk arrives between them.
  std::string long_arg(6000, 'a');
  viztrace::ChunkBuilder b(2000, 2000, 1);
  b.string(VT_STR_ARGV, argv_bytes({"p", long_arg}), T0 + 200);
  b.string(VT_STR_EXE, "/bin/p", T0 + 200);
  b.string(VT_STR_CWD, "/", T0 + 200);
  b.record(VT_REC_PROC_START, 0, T0 + 200, vt_proc_start{kViztrace, 0});
  auto main_chunks = b.take();
  REQUIRE(main_chunks.size() == 2);
  viztrace::ChunkBuilder handler(2000, 2000, 1, VT_CHUNK_UNSEQUENCED);
  handler.string(VT_STR_NAME, "in-handler", T0 + 250);
  handler.record(VT_REC_THREAD_NAME, 2000, T0 + 250);
  b.record(VT_REC_EXIT, 0, T0 + 300, vt_usage{});
  auto tail = b.take();
  std::vector<Stream::Chunk> chunks = c.chunks();
  chunks.push_back(main_chunks[0]);
  for (auto& ch : handler.take()) chunks.push_back(ch);
  chunks.push_back(main_chunks[1]);
  for (auto& ch : tail) chunks.push_back(ch);
  Run run(chunks);
  auto span = run->find("X", "process", 2000).at(0);
  CHECK(R::strings(span["args"]["argv"].value()) == std::vector<std::string>{"p", long_arg});
  CHECK(R::num(run->metadata()["lost"].value(), "seq_gaps") == 0);
  CHECK(run.result.lost == 0);
}

TEST_CASE("report: a spill without a session still makes a report") {
  Stream p(3000, 3000, 1);
  p.proc_start(T0, 1, {"lonely"}, "/bin/lonely", "/");
  p.exit(T0 + 1'000, 0);
  Run run(p.chunks());
  auto span = run->find("X", "process", 3000).at(0);
  CHECK(R::ts(span) == Approx(0.0));  // time 0 is the first record
  CHECK(R::dur(span) == Approx(1.0));
  CHECK(R::str(span["args"], "started_by") == "spawn");
  CHECK(run->metadata()["exit_status"].is_null());
  CHECK(run->metadata()["command"].get_array().value().size() == 0);
}
