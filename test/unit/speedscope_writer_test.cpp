// The .speedscope.json format: the structure speedscope's importer relies on (frame indexes in
// range, as many weights as samples, stacks outermost first, evented profiles balanced and in
// time order), sampled profiles from sampled stacks, evented ones from slices and function calls.
#include "report/writers/speedscope_writer.h"

#include <catch2/catch.hpp>
#include <map>

#include "report/report.h"
#include "simdjson.h"
#include "string_sink.h"
#include "synthetic_trace.h"

using viztrace::report::SliceKind;
using viztrace::report::Timeline;
using viztrace::report::TimelineFrame;
using viztrace::report::TimelineProcess;
using viztrace::report::TimelineSlice;
using viztrace::report::TimelineThread;
using namespace viztrace::test;

namespace {

constexpr std::uint64_t T0 = 9'000'000'000;
constexpr std::int32_t kViztrace = 1000;

struct Frame {
  std::string name, file;
  std::int64_t line = 0;
};

struct Profile {
  std::string type, name, unit;
  std::int64_t start = 0, end = 0;
  std::vector<std::vector<std::string>> samples;  // frame names, outermost first
  std::vector<std::int64_t> weights;
  std::vector<std::string> opened;  // names of the frames opened, in order
};

struct File {
  std::vector<Frame> frames;
  std::vector<Profile> profiles;
  std::int64_t active = 0;
  std::string name, exporter;
};

// Parses a speedscope file and checks what speedscope's importer relies on.
File parse(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  File f;
  CHECK(std::string_view(doc["$schema"]) == "https://www.speedscope.app/file-format-schema.json");
  f.exporter = std::string(std::string_view(doc["exporter"]));
  f.name = std::string(std::string_view(doc["name"]));
  f.active = int64_t(doc["activeProfileIndex"]);
  for (simdjson::dom::element fr : doc["shared"]["frames"].get_array()) {
    Frame frame;
    frame.name = std::string(std::string_view(fr["name"]));
    std::string_view file;
    if (!fr["file"].get(file)) frame.file = std::string(file);
    std::int64_t line = 0;
    if (!fr["line"].get(line)) frame.line = line;
    f.frames.push_back(frame);
  }
  const auto frames = static_cast<std::int64_t>(f.frames.size());
  for (simdjson::dom::element p : doc["profiles"].get_array()) {
    Profile pr;
    pr.type = std::string(std::string_view(p["type"]));
    pr.name = std::string(std::string_view(p["name"]));
    pr.unit = std::string(std::string_view(p["unit"]));
    pr.start = int64_t(p["startValue"]);
    pr.end = int64_t(p["endValue"]);
    CHECK(pr.start <= pr.end);
    if (pr.type == "sampled") {
      for (simdjson::dom::element stack : p["samples"].get_array()) {
        std::vector<std::string> names;
        for (std::int64_t i : stack.get_array()) {
          REQUIRE(i >= 0);
          REQUIRE(i < frames);
          names.push_back(f.frames[static_cast<std::size_t>(i)].name);
        }
        CHECK(!names.empty());
        pr.samples.push_back(names);
      }
      std::int64_t sum = 0;
      for (std::int64_t w : p["weights"].get_array()) {
        CHECK(w > 0);
        pr.weights.push_back(w);
        sum += w;
      }
      REQUIRE(pr.weights.size() == pr.samples.size());
      CHECK(pr.end - pr.start == sum);
    } else {
      REQUIRE(pr.type == "evented");
      std::vector<std::int64_t> open;
      std::int64_t last = pr.start;
      for (simdjson::dom::element e : p["events"].get_array()) {
        const std::int64_t at = int64_t(e["at"]), frame = int64_t(e["frame"]);
        REQUIRE(frame >= 0);
        REQUIRE(frame < frames);
        CHECK(at >= last);  // non-decreasing, from startValue
        last = at;
        if (std::string_view(e["type"]) == "O") {
          open.push_back(frame);
          pr.opened.push_back(f.frames[static_cast<std::size_t>(frame)].name);
        } else {
          REQUIRE(std::string_view(e["type"]) == "C");
          REQUIRE(!open.empty());
          CHECK(open.back() == frame);  // closes the innermost open frame
          open.pop_back();
        }
      }
      CHECK(open.empty());
      CHECK(last <= pr.end);
    }
    f.profiles.push_back(pr);
  }
  CHECK(f.active < static_cast<std::int64_t>(f.profiles.size()) + (f.profiles.empty() ? 1 : 0));
  return f;
}

std::string write(const Timeline& tl) {
  StringSink sink;
  auto writer = viztrace::report::make_speedscope_writer(sink);
  writer->begin(tl, nullptr);
  writer->finish();
  return sink.bytes;
}

// A stack from names (outermost first), each frame of module "/bin/app".
std::uint32_t stack(Timeline& tl, const std::vector<std::string>& names) {
  std::uint32_t node = 0;
  for (const std::string& n : names) {
    TimelineFrame f;
    f.name = tl.intern(n);
    f.module = tl.intern("/bin/app");
    node = tl.intern_stack(node, tl.intern_frame(f));
  }
  return node;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("speedscope: a sampled profile per thread with samples, stacks outermost first, runs "
          "of one stack merged") {
  Timeline tl;
  tl.title = "app --fast";
  tl.origin = 100;
  TimelineFrame hot;
  hot.name = tl.intern("hot");
  hot.module = tl.intern("/lib/libhot.so");
  hot.file = tl.intern("/src/hot.c");
  hot.line = 7;
  const std::uint32_t work = stack(tl, {"main", "work"});
  const std::uint32_t in_hot = tl.intern_stack(work, tl.intern_frame(hot));
  TimelineProcess& app = tl.processes.emplace_back();
  app.pid = 10;
  app.name = "app";
  TimelineThread& main = app.threads.emplace_back();
  main.tid = 10;
  main.name = "app";
  main.slices.push_back(TimelineSlice{100, 900, tl.intern("app"), SliceKind::process, {}});
  main.samples = {{200, in_hot, 1000}, {300, work, 2000}, {400, 0, 500}};
  TimelineThread& worker = app.threads.emplace_back();
  worker.tid = 11;
  worker.name = "worker";
  // One sample without its CPU time: the thread's weights are counts.
  worker.samples = {{250, in_hot, 1000}, {350, in_hot, 0}, {450, work, 1000}, {550, work, 1000}};
  app.threads.emplace_back().tid = 12;  // no samples: no profile
  tl.processes.emplace_back().pid = 20;

  File f = parse(write(tl));
  CHECK(f.name == "app --fast");
  CHECK(f.exporter.rfind("viztrace ", 0) == 0);
  REQUIRE(f.profiles.size() == 2);
  const Profile& p = f.profiles[0];
  CHECK(p.type == "sampled");
  CHECK(p.name == "app (10) / app (10)");
  CHECK(p.unit == "nanoseconds");
  CHECK(p.start == 0);
  CHECK(p.end == 3500);
  CHECK(p.samples == std::vector<Names>{{"main", "work", "hot"}, {"main", "work"}, {"[unknown]"}});
  CHECK(p.weights == std::vector<std::int64_t>{1000, 2000, 500});
  const Profile& w = f.profiles[1];
  CHECK(w.name == "app (10) / worker (11)");
  CHECK(w.unit == "none");
  // Consecutive samples of one stack: one entry, weights summed.
  CHECK(w.samples == std::vector<Names>{{"main", "work", "hot"}, {"main", "work"}});
  CHECK(w.weights == std::vector<std::int64_t>{2, 2});
  CHECK(f.active == 1);  // the most samples (before merging)
  // One frame per function, its source where known, else its module.
  std::map<std::string, Frame> by_name;
  for (const Frame& fr : f.frames) {
    CHECK(by_name.count(fr.name) == 0);
    by_name[fr.name] = fr;
  }
  CHECK(by_name["hot"].file == "/src/hot.c");
  CHECK(by_name["hot"].line == 7);
  CHECK(by_name["work"].file == "/bin/app");
  CHECK(by_name["work"].line == 0);
}

TEST_CASE("speedscope: without samples, each thread's slices as an evented profile, nested") {
  Timeline tl;
  tl.origin = 1000;
  TimelineProcess& p = tl.processes.emplace_back();
  p.pid = 7;
  p.name = "tool";
  TimelineThread& t = p.threads.emplace_back();
  t.tid = 7;
  t.name = "tool";
  // Out of order, one overlapping its parent's end (cut there), one before the origin (at 0).
  t.slices = {TimelineSlice{1500, 1800, tl.intern("b"), SliceKind::span, {}},
              TimelineSlice{1000, 2000, tl.intern("tool"), SliceKind::process, {}},
              TimelineSlice{1700, 2500, tl.intern("c"), SliceKind::span, {}},
              TimelineSlice{1500, 1500, tl.intern("zero"), SliceKind::span, {}},
              TimelineSlice{500, 900, tl.intern("early"), SliceKind::span, {}}};
  p.threads.emplace_back().tid = 8;  // nothing on it: no profile
  File f = parse(write(tl));
  REQUIRE(f.profiles.size() == 1);
  const Profile& e = f.profiles[0];
  CHECK(e.type == "evented");
  CHECK(e.name == "tool (7) / tool (7)");
  CHECK(e.unit == "nanoseconds");
  CHECK(e.start == 0);
  CHECK(e.end == 1000);
  CHECK(e.opened == Names{"tool", "early", "b", "zero", "c"});  // early: at 0, in tool
}

TEST_CASE("speedscope: an empty trace is a valid file with no profile") {
  Timeline tl;
  File f = parse(write(tl));
  CHECK(f.profiles.empty());
  CHECK(f.frames.empty());
}


TEST_CASE("speedscope report of a run's function calls: evented profiles, calls inside their "
          "process and thread slices") {
  TempDir dir;
  SyntheticSpill spill(dir);
  spill.add(function_scenario(T0, kViztrace));
  viztrace::report::ReportOptions o;
  o.output = dir.file("r.speedscope.json");
  o.quiet = true;
  viztrace::report::write_report(spill.dir(), o);
  File f = parse(read_file(o.output));
  REQUIRE(f.profiles.size() == 2);
  const Profile& main = f.profiles[0];
  const Profile& worker = f.profiles[1];
  CHECK(main.type == "evented");
  CHECK(main.name == "calc (3000) / calc (3000)");
  CHECK(worker.name.rfind("calc (3000) / ", 0) == 0);
  CHECK(worker.name.ends_with(" (3001)"));
  // The process slice opens first; every call of the thread is opened once.
  REQUIRE(main.opened.size() == 1 + 9);
  CHECK(main.opened[0] == "calc");
  CHECK(worker.opened.size() == 1 + 1 + 50);  // the thread slice, a, 50 b
  CHECK(f.active == 0);                         // the longest
}
