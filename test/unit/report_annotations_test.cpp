// Spans, marks and counters that programs add (include/viztrace.h, `viztrace mark|span|counter`),
// decoded from synthetic spills: pairing per thread whatever the arrival order, args, spans left
// open or ended without a begin, global marks, one counter track per name, and the same content
// in the Perfetto report.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "proto_decoder.h"
#include "report/model/annotation_table.h"
#include "report/report.h"
#include "report_run.h"
#include "synthetic_trace.h"

using viztrace::report::NumberArgs;
using viztrace::report::ReportOptions;
using viztrace::report::TextArgs;
using viztrace::report::write_report;
using namespace viztrace::test;
using R = ParsedReport;

namespace {

constexpr std::uint64_t T0 = 9'000'000'000;
constexpr std::int32_t kViztrace = 900;
constexpr std::int32_t kApp = 3000;

std::string write_spill(const TempDir& dir, const std::vector<Stream::Chunk>& chunks,
                        const std::string& name) {
  SyntheticSpill spill(dir);
  spill.add(chunks);
  ReportOptions o;
  o.output = dir.file(name);
  o.quiet = true;
  write_report(spill.dir(), o);
  return o.output;
}

struct Run : ReportRun {
  using ReportRun::ReportRun;
  simdjson::dom::element annotations() const { return report->metadata()["annotations"].value(); }
  // The span events, by start.
  std::vector<simdjson::dom::element> spans() const { return report->find("X", "span"); }
};

Stream collector() {
  return Stream(kViztrace, kViztrace, 1, VT_CHUNK_COLLECTOR);
}

// A session that launched `app` as pid kApp.
Stream session() {
  Stream c = collector();
  c.session(T0, 1, kApp, kViztrace, {"app"}, "/");
  c.spawn(T0 + 100, kApp, "/bin/app", {"app"});
  return c;
}

bool unfinished(simdjson::dom::element e) {
  bool v = false;
  return !e["args"]["unfinished"].get(v) && v;
}

}  // namespace

TEST_CASE("report: spans pair per thread, nest, and take the args their end gives") {
  for (unsigned seed : {0u, 1u, 2u, 7u}) {
    Stream c = session();
    Stream m(kApp, kApp, 1), w(kApp, 3001, 1);
    m.proc_start(T0 + 200, kViztrace, {"app"}, "/bin/app", "/");
    m.span_begin(T0 + 1000, "outer");
    m.span_begin(T0 + 2000, "inner");
    w.thread_start(T0 + 1500);
    w.thread_name(T0 + 1501, 3001, "worker");
    w.span_begin(T0 + 2500, "outer");  // the same name on another thread: its own span
    m.span_end(T0 + 3000, {"n=42", "who=main thread", "neg=-7", "lead=007",
                           "big=99999999999999999999", "eq=a=b", "n=43"});
    w.span_end(T0 + 3500);
    m.span_end(T0 + 4000, {"exit_code=3"});
    w.thread_exit(T0 + 5000);
    m.exit(T0 + 9000, 0);
    c.reap(T0 + 9500, kApp, 0);
    Run run(interleave({&c, &m, &w}, seed));
    INFO("seed " << seed);

    auto spans = run.spans();
    REQUIRE(spans.size() == 3);
    CHECK(R::str(spans[0], "name") == "outer");
    CHECK(R::num(spans[0], "tid") == kApp);
    CHECK(R::num(spans[0], "pid") == kApp);
    CHECK(R::ts(spans[0]) == Approx(1.0));
    CHECK(R::dur(spans[0]) == Approx(3.0));
    CHECK(R::num(spans[0]["args"], "exit_code") == 3);  // a number, as a process's
    CHECK_FALSE(unfinished(spans[0]));

    CHECK(R::str(spans[1], "name") == "inner");
    CHECK(R::ts(spans[1]) == Approx(2.0));
    CHECK(R::dur(spans[1]) == Approx(1.0));
    simdjson::dom::element args = spans[1]["args"];
    CHECK(R::num(args, "n") == 43);  // a key given again: the last value
    CHECK(R::str(args, "who") == "main thread");
    CHECK(R::num(args, "neg") == -7);
    CHECK(R::str(args, "lead") == "007");                  // not canonical: a text
    CHECK(R::str(args, "big") == "99999999999999999999");  // too big: a text
    CHECK(R::str(args, "eq") == "a=b");                    // split at the first '='

    CHECK(R::str(spans[2], "name") == "outer");
    CHECK(R::num(spans[2], "tid") == 3001);
    CHECK(R::ts(spans[2]) == Approx(2.5));
    CHECK(R::dur(spans[2]) == Approx(1.0));
    CHECK(run->metadata_name("thread_name", kApp, 3001) == "worker");

    auto a = run.annotations();
    CHECK(R::num(a, "spans") == 3);
    CHECK(R::num(a, "unfinished_spans") == 0);
    CHECK(R::num(a, "unmatched_span_ends") == 0);
    CHECK(R::num(a, "marks") == 0);
    CHECK(R::num(a, "counter_samples") == 0);
  }
}

TEST_CASE(
    "report: an end without a begin is counted, and open spans close where their thread or image "
    "ended") {
  Stream c = session();
  Stream m(kApp, kApp, 1), w(kApp, 3001, 1), next(kApp, kApp, 2);
  m.proc_start(T0 + 200, kViztrace, {"app"}, "/bin/app", "/");
  m.span_end(T0 + 500);  // nothing open: ignored
  m.span_begin(T0 + 1000, "never ends");
  m.span_begin(T0 + 1100, "inner never ends");
  w.thread_start(T0 + 1500);
  w.span_begin(T0 + 2000, "worker open");
  w.thread_exit(T0 + 3000);
  m.exec(T0 + 4000, "/bin/next", {"next"});
  next.proc_start(T0 + 4100, kViztrace, {"next"}, "/bin/next", "/");
  next.span_end(T0 + 4200);  // the spans of the program before exec are not this one's
  next.span_begin(T0 + 5000, "last");
  next.exit(T0 + 6000, 0);
  c.reap(T0 + 6500, kApp, 0);
  Run run(interleave({&c, &m, &w, &next}, 3));

  auto images = run->find("X", "process", kApp);
  REQUIRE(images.size() == 2);
  auto spans = run.spans();
  REQUIRE(spans.size() == 4);
  std::map<std::string, simdjson::dom::element> by_name;
  for (auto s : spans) by_name[R::str(s, "name")] = s;
  REQUIRE(by_name.size() == 4);
  for (auto s : spans) CHECK(unfinished(s));
  // Closed where the first program ended (its exec), nested as they were.
  auto first_end = R::ts(images[0]) + R::dur(images[0]);
  CHECK(R::ts(by_name["never ends"]) == Approx(1.0));
  CHECK(R::ts(by_name["never ends"]) + R::dur(by_name["never ends"]) == Approx(first_end));
  CHECK(first_end == Approx(4.0));
  CHECK(R::ts(by_name["inner never ends"]) == Approx(1.1));
  CHECK(R::ts(by_name["inner never ends"]) + R::dur(by_name["inner never ends"]) ==
        Approx(first_end));
  // On its thread: closed at the thread's end.
  CHECK(R::num(by_name["worker open"], "tid") == 3001);
  CHECK(R::ts(by_name["worker open"]) == Approx(2.0));
  CHECK(R::dur(by_name["worker open"]) == Approx(1.0));
  // The last program's: at the process's end.
  auto last_end = R::ts(images[1]) + R::dur(images[1]);
  CHECK(R::ts(by_name["last"]) + R::dur(by_name["last"]) == Approx(last_end));

  auto a = run.annotations();
  CHECK(R::num(a, "spans") == 4);
  CHECK(R::num(a, "unfinished_spans") == 4);
  CHECK(R::num(a, "unmatched_span_ends") == 2);
}

TEST_CASE("report: a span ended from a signal handler pairs with the begin its chunk overtook") {
  Stream c = session();
  Stream m(kApp, kApp, 1);
  Stream handler(kApp, kApp, 1, VT_CHUNK_UNSEQUENCED);
  m.proc_start(T0 + 200, kViztrace, {"app"}, "/bin/app", "/");
  m.span_begin(T0 + 1000, "waiting");  // the handler interrupted this write
  handler.span_begin(T0 + 1500, "in handler");
  handler.span_end(T0 + 1600);
  handler.span_end(T0 + 1700, {"ended_by=handler"});
  handler.mark(T0 + 1650, "from handler", {"sig=10"});
  m.exit(T0 + 5000, 0);
  c.reap(T0 + 5500, kApp, 0);
  // The handler's chunks arrive first: they were written while the interrupted one waited.
  Run run(interleave({&c, &handler, &m}, 0));

  auto spans = run.spans();
  REQUIRE(spans.size() == 2);
  CHECK(R::str(spans[0], "name") == "waiting");
  CHECK(R::ts(spans[0]) == Approx(1.0));
  CHECK(R::dur(spans[0]) == Approx(0.7));
  CHECK(R::str(spans[0]["args"], "ended_by") == "handler");
  CHECK(R::str(spans[1], "name") == "in handler");
  CHECK(R::ts(spans[1]) == Approx(1.5));
  CHECK(R::dur(spans[1]) == Approx(0.1));
  auto marks = run->find("i", "mark");
  REQUIRE(marks.size() == 1);
  CHECK(R::num(marks[0]["args"], "sig") == 10);
  CHECK(R::num(run.annotations(), "unmatched_span_ends") == 0);
  CHECK(R::num(run->metadata()["lost"].value(), "seq_gaps") == 0);
}

TEST_CASE("report: marks are instants, global ones trace-wide, counters one track per name") {
  Stream c = session();
  Stream a(kApp, kApp, 1), b(3100, 3100, 1);
  a.proc_start(T0 + 200, kViztrace, {"app"}, "/bin/app", "/");
  a.spawn(T0 + 300, 3100, "/bin/tool", {"tool"});
  b.proc_start(T0 + 400, kApp, {"tool"}, "/bin/tool", "/");
  a.mark(T0 + 1000, "cache miss", {"key=users", "n=3"});
  b.mark(T0 + 2000, "release", {"version=1.2", "msg=hello world"}, true);
  b.mark(T0 + 2200, "bare", {});
  a.counter(T0 + 1100, "queue", 5);
  b.counter(T0 + 2100, "queue", 2.5);
  a.counter(T0 + 3000, "queue", std::nan(""));  // JSON cannot hold it: left out
  a.counter(T0 + 3100, "odd \"name\"\n", -1e300);
  b.exit(T0 + 4000, 0);
  a.reap(T0 + 4100, 3100, 0);
  a.exit(T0 + 5000, 0);
  c.reap(T0 + 5500, kApp, 0);
  Run run(interleave({&c, &a, &b}, 5));

  auto marks = run->find("i", "mark");
  REQUIRE(marks.size() == 3);
  CHECK(R::str(marks[0], "name") == "cache miss");
  CHECK(R::str(marks[0], "s") == "t");
  CHECK(R::num(marks[0], "pid") == kApp);
  CHECK(R::num(marks[0], "tid") == kApp);
  CHECK(R::ts(marks[0]) == Approx(1.0));
  CHECK(R::str(marks[0]["args"], "key") == "users");
  CHECK(R::num(marks[0]["args"], "n") == 3);
  CHECK(R::str(marks[1], "name") == "release");
  CHECK(R::str(marks[1], "s") == "g");
  CHECK(R::num(marks[1], "pid") == 3100);
  CHECK(R::str(marks[1]["args"], "msg") == "hello world");
  CHECK(R::str(marks[1]["args"], "version") == "1.2");
  CHECK(R::str(marks[2], "name") == "bare");

  // One track per name: every sample on viztrace's pid, whoever sent it.
  std::map<std::string, std::vector<std::pair<double, double>>> counters;
  for (auto e : run->find("C")) {
    CHECK(R::num(e, "pid") == kViztrace);
    CHECK(R::num(e, "tid") == kViztrace);
    std::string name = R::str(e, "name");
    counters[name].emplace_back(R::ts(e), e["args"][name].get_double().value());
  }
  CHECK(counters["queue"] == std::vector<std::pair<double, double>>{{1.1, 5}, {2.1, 2.5}});
  CHECK(counters["odd \"name\"\n"] == std::vector<std::pair<double, double>>{{3.1, -1e300}});
  CHECK(counters.size() == 2);
  CHECK(run->metadata_name("process_name", kViztrace, kViztrace) == "viztrace");

  auto an = run.annotations();
  CHECK(R::num(an, "marks") == 3);
  CHECK(R::num(an, "counter_samples") == 3);
}

TEST_CASE("report: spans, marks and counters reach the Perfetto report as in the JSON") {
  Stream c = session();
  Stream m(kApp, kApp, 1), w(kApp, 3001, 1);
  m.proc_start(T0 + 200, kViztrace, {"app"}, "/bin/app", "/");
  w.thread_start(T0 + 500);
  w.span_begin(T0 + 1000, "step");
  w.span_begin(T0 + 1200, "substep");
  w.span_end(T0 + 1300, {"rows=12"});
  w.span_end(T0 + 1400);
  w.span_begin(T0 + 1500, "cut short");
  w.thread_exit(T0 + 2000);
  m.mark(T0 + 2500, "here", {"k=v"});
  m.mark(T0 + 2600, "everywhere", {}, true);
  m.counter(T0 + 2700, "depth", 3);
  m.counter(T0 + 2800, "depth", 0.5);
  m.exit(T0 + 3000, 0);
  c.reap(T0 + 3100, kApp, 0);
  TempDir dir;
  std::string path = write_spill(dir, interleave({&c, &m, &w}, 2), "r.pftrace");
  DecodedTrace t = decode_pftrace(read_file(path));
  CHECK(t.problems.empty());
  std::vector<std::string> problems;
  auto content = slices_by_track(t, problems);
  CHECK(problems.empty());

  const DecodedTrack *worker = nullptr, *main_thread = nullptr, *global = nullptr, *depth = nullptr;
  for (const DecodedTrack& tr : t.tracks) {
    if (tr.kind == DecodedTrack::Kind::thread && tr.tid == 3001) worker = &tr;
    if (tr.kind == DecodedTrack::Kind::thread && tr.tid == kApp) main_thread = &tr;
    if (tr.kind == DecodedTrack::Kind::named && tr.parent == 0) global = &tr;
    if (tr.kind == DecodedTrack::Kind::counter && tr.name == "depth") depth = &tr;
  }
  REQUIRE(worker);
  REQUIRE(main_thread);
  REQUIRE(global);
  REQUIRE(depth);
  std::vector<std::string> names;
  for (const DecodedSlice& s : content[worker->uuid].slices) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"thread 3001", "step", "substep", "cut short"});
  const auto& slices = content[worker->uuid].slices;
  CHECK(slices[2].depth == 2);
  CHECK(slices[2].args.at("rows") == "12");
  CHECK(slices[3].args.at("unfinished") == "true");
  CHECK(slices[3].end == T0 + 2000);
  REQUIRE(content[main_thread->uuid].instants.size() == 1);
  CHECK(content[main_thread->uuid].instants[0].name == "here");
  CHECK(content[main_thread->uuid].instants[0].args.at("k") == "v");
  bool everywhere = false;
  for (const DecodedEvent& e : content[global->uuid].instants) everywhere |= e.name == "everywhere";
  CHECK(everywhere);
  CHECK(depth->parent == 0);  // trace-wide, not under a process
  std::vector<double> values;
  for (const DecodedEvent& e : t.events)
    if (e.track == depth->uuid && e.type == 4) values.push_back(e.counter);
  CHECK(values == std::vector<double>{3, 0.5});
}

TEST_CASE("annotation args: canonical decimal integers become numbers, the rest texts") {
  TextArgs text;
  NumberArgs number;
  for (const char* item : {"a=1", "b=-0", "c=0", "d=+5", "e=1.5", "f=", "g",
                           "h=9223372036854775807", "i=9223372036854775808", "j= 1", "a=x"})
    viztrace::report::add_annotation_arg(item, text, number);
  CHECK(number == NumberArgs{{"c", 0}, {"h", INT64_MAX}});
  CHECK(text == TextArgs{{"b", "-0"},
                         {"d", "+5"},
                         {"e", "1.5"},
                         {"f", ""},
                         {"g", ""},
                         {"i", "9223372036854775808"},
                         {"j", " 1"},
                         {"a", "x"}});
}
