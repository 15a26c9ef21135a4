// The HTML report's data: one JSON value inside a script element that no string from the trace
// can end or turn into markup, read back intact (invalid UTF-8 as the text \xNN).
#include "report/writers/html_writer.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "string_sink.h"

using viztrace::report::Arg;
using viztrace::report::Timeline;
using viztrace::report::TimelineFrame;
using viztrace::test::StringSink;

namespace {

// The page's data: the text of its JSON script element.
std::string data_of(const std::string& page) {
  const std::string open = "<script id=\"vt-data\" type=\"application/json\">";
  std::size_t begin = page.find(open);
  REQUIRE(begin != std::string::npos);
  begin += open.size();
  std::size_t end = page.find("</script>", begin);
  REQUIRE(end != std::string::npos);
  return page.substr(begin, end - begin);
}

std::size_t script_ends(const std::string& page) {
  std::size_t ends = 0;
  for (std::size_t at = page.find("</script"); at != std::string::npos;
       at = page.find("</script", at + 1))
    ++ends;
  return ends;
}

std::string text(simdjson::dom::element e) { return std::string(e.get_string().value()); }

std::vector<std::uint64_t> numbers(simdjson::dom::element e) {
  std::vector<std::uint64_t> out;
  for (simdjson::dom::element x : e.get_array()) out.push_back(x.get_uint64().value());
  return out;
}

// A sampled frame of `module`, from `file`:`line`.
std::uint32_t frame(Timeline& tl, std::string_view name, std::string_view module,
                    std::string_view file, std::uint32_t line) {
  TimelineFrame f;
  f.name = tl.intern(name);
  f.module = tl.intern(module);
  f.file = tl.intern(file);
  f.line = line;
  return tl.intern_frame(f);
}

void add_samples(viztrace::report::TimelineThread& t, std::uint32_t stack, int n) {
  for (int i = 0; i < n; ++i) t.samples.push_back({1000 + t.samples.size(), stack, 1001001});
}

}  // namespace

TEST_CASE("html: trace strings stay data inside the page, whatever bytes they hold") {
  const std::string hostile =
      "</script><script>alert(1)</script><!-- & \"q\" \\ \x01 bad\xff \xe2\x80\xa8.";
  Timeline tl;
  tl.origin = 1000;
  tl.end = 5000;
  tl.title = hostile;
  tl.metadata.push_back(Arg::of("command", hostile));
  auto& p = tl.processes.emplace_back();
  p.pid = 7;
  p.name = hostile;
  p.argv = {"tool", hostile};
  p.start = 1000;
  p.end = 4000;
  auto& t = p.threads.emplace_back();
  t.tid = 7;
  t.name = hostile;
  auto& s = t.slices.emplace_back();
  s.start = 1500;
  s.end = 3500;
  s.name = tl.intern(hostile);
  s.args.push_back(Arg::array_of("argv", p.argv));
  StringSink sink;
  std::uint64_t written = viztrace::report::write_html(tl, sink);
  REQUIRE(written == sink.bytes.size());
  const std::string& page = sink.bytes;

  std::string data = data_of(page);
  CHECK(data.find_first_of("<>&") == std::string::npos);
  CHECK(data.find("\xe2\x80\xa8") == std::string::npos);
  CHECK(script_ends(page) == 2);  // the data's and the viewer's own

  simdjson::dom::parser parser;
  simdjson::padded_string json(data);
  auto doc = parser.parse(json);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  const std::string expected =
      "</script><script>alert(1)</script><!-- & \"q\" \\ \x01 bad\\xff \xe2\x80\xa8.";
  CHECK(std::string(doc["title"].get_string().value()) == expected);
  simdjson::dom::array strings = doc["strings"].get_array().value();
  std::size_t found = 0;
  for (simdjson::dom::element e : strings) found += std::string(e.get_string().value()) == expected;
  CHECK(found >= 1);
  CHECK(doc["slices"].get_array().size() == 5);  // one slice: 5 numbers
  CHECK(doc["duration"].get_int64().value() == 4000);
}

TEST_CASE("html: sampled stacks are written as frames, a tree and self samples per node, only "
          "for processes with samples") {
  Timeline tl;
  tl.origin = 1000;
  tl.end = 9000;
  tl.sampling.requested = true;
  tl.sampling.method = "perf_event";
  tl.sampling.hz = 999;
  tl.sampling.lost = 4;
  tl.sampling.cut_short = 2;
  const std::uint32_t main_f = frame(tl, "main", "/usr/bin/hot", "/src/hot.c", 10);
  const std::uint32_t work_f = frame(tl, "work", "/usr/bin/hot", "/src/hot.c", 20);
  const std::uint32_t exe_f = frame(tl, "exe_spin", "/usr/bin/hot", "/src/hot.c", 30);
  const std::uint32_t lib_f = frame(tl, "lib_spin", "/lib/libx.so", "/src/lib.c", 5);
  const std::uint32_t unused_f = frame(tl, "never_sampled", "/usr/bin/hot", "/src/hot.c", 40);
  const std::uint32_t main_n = tl.intern_stack(0, main_f);
  const std::uint32_t unused_n = tl.intern_stack(main_n, unused_f);
  const std::uint32_t work_n = tl.intern_stack(main_n, work_f);
  const std::uint32_t exe_n = tl.intern_stack(work_n, exe_f);
  const std::uint32_t lib_n = tl.intern_stack(work_n, lib_f);
  (void)unused_n;
  for (std::uint32_t pid : {10u, 20u, 30u}) {
    auto& p = tl.processes.emplace_back();
    p.pid = pid;
    p.name = "p" + std::to_string(pid);
    p.start = 1000;
    p.end = 8000;
    p.threads.emplace_back().tid = pid;
  }
  auto& second = tl.processes[0].threads.emplace_back();
  second.tid = 11;
  add_samples(tl.processes[0].threads[0], exe_n, 3);
  add_samples(second, lib_n, 2);
  add_samples(second, exe_n, 1);
  add_samples(tl.processes[0].threads[0], 0, 1);  // no frame known
  add_samples(tl.processes[2].threads[0], lib_n, 5);
  add_samples(tl.processes[2].threads[0], main_n, 1);

  StringSink sink;
  viztrace::report::write_html(tl, sink);
  std::string data = data_of(sink.bytes);
  simdjson::dom::parser parser;
  simdjson::padded_string json(data);
  simdjson::dom::element doc = parser.parse(json).value();
  simdjson::dom::element samples = doc["samples"].value();
  CHECK(text(samples["method"]) == "perf_event");
  CHECK(samples["hz"].get_uint64().value() == 999);
  CHECK(samples["lost"].get_uint64().value() == 4);
  CHECK(samples["cut_short"].get_uint64().value() == 2);
  std::vector<std::string> strings;
  for (simdjson::dom::element e : doc["strings"].get_array()) strings.push_back(text(e));

  // Frames: name, module's base name, "file:line"; the one no sample reaches is left out.
  std::vector<std::uint64_t> frames = numbers(samples["frames"]);
  REQUIRE(frames.size() == 5 * 4);  // none, main, work, exe_spin, lib_spin
  std::map<std::string, std::pair<std::string, std::string>> frame_by_name;
  for (std::size_t i = 4; i < frames.size(); i += 4)
    frame_by_name[strings.at(frames[i])] = {strings.at(frames[i + 1]), strings.at(frames[i + 2])};
  CHECK(frame_by_name["exe_spin"] == std::pair<std::string, std::string>{"hot", "hot.c:30"});
  CHECK(frame_by_name["lib_spin"] == std::pair<std::string, std::string>{"libx.so", "lib.c:5"});
  CHECK(frame_by_name.count("never_sampled") == 0);

  // Nodes: (id minus parent id, frame), each after its parent; stacks read back as names.
  std::vector<std::uint64_t> nodes = numbers(samples["nodes"]);
  REQUIRE(nodes.size() == 5 * 2);  // the root and four stacks
  std::vector<std::string> stack_of(nodes.size() / 2);
  for (std::size_t i = 1; i < stack_of.size(); ++i) {
    REQUIRE(nodes[2 * i] >= 1);
    REQUIRE(nodes[2 * i] <= i);
    const std::string& parent = stack_of[i - nodes[2 * i]];
    stack_of[i] = (parent.empty() ? "" : parent + ";") + strings.at(frames[4 * nodes[2 * i + 1]]);
  }

  // Per process with samples: its index and self samples per stack.
  std::map<std::uint64_t, std::map<std::string, std::uint64_t>> counts;
  for (simdjson::dom::element p : samples["procs"].get_array()) {
    std::vector<std::uint64_t> v = numbers(p);
    REQUIRE(v.size() % 2 == 1);
    std::uint64_t node = 0;
    for (std::size_t i = 1; i < v.size(); i += 2) {
      node += v[i];
      counts[v[0]][stack_of.at(node)] += v[i + 1];
    }
  }
  using Counts = std::map<std::string, std::uint64_t>;
  CHECK(counts.size() == 2);  // the process without samples has no entry
  CHECK(counts[0] == Counts{{"main;work;exe_spin", 4}, {"main;work;lib_spin", 2}, {"", 1}});
  CHECK(counts[2] == Counts{{"main;work;lib_spin", 5}, {"main", 1}});
}

TEST_CASE("html: a run whose sampling could not start says why, and has no stacks") {
  Timeline tl;
  tl.sampling.requested = true;
  tl.sampling.why_not = "perf_event_open: Operation not permitted";
  StringSink sink;
  viztrace::report::write_html(tl, sink);
  simdjson::dom::parser parser;
  simdjson::padded_string json(data_of(sink.bytes));
  simdjson::dom::element samples = parser.parse(json)["samples"].value();
  CHECK(text(samples["method"]).empty());
  CHECK(text(samples["why_not"]) == "perf_event_open: Operation not permitted");
  CHECK(samples["procs"].get_array().size() == 0);

  Timeline unsampled;
  StringSink none;
  viztrace::report::write_html(unsampled, none);
  simdjson::padded_string plain(data_of(none.bytes));
  CHECK(parser.parse(plain)["samples"].error() == simdjson::NO_SUCH_FIELD);
}

TEST_CASE("html: hostile frame names, modules and sources stay data inside the page") {
  const std::string hostile =
      "std::vector<int, a<b>&c>::f</script><script>alert(1)</script><!-- \xe2\x80\xa8 \xff";
  Timeline tl;
  tl.sampling.requested = true;
  tl.sampling.method = "perf_event";
  const std::uint32_t f = frame(tl, hostile, "/lib/<x>&.so", "/src/<!--.cc", 7);
  const std::uint32_t node = tl.intern_stack(0, f);
  auto& p = tl.processes.emplace_back();
  p.pid = 5;
  p.name = "p";
  add_samples(p.threads.emplace_back(), node, 2);
  StringSink sink;
  viztrace::report::write_html(tl, sink);
  CHECK(script_ends(sink.bytes) == 2);  // the data's and the viewer's own
  std::string data = data_of(sink.bytes);
  CHECK(data.find_first_of("<>&") == std::string::npos);
  CHECK(data.find("\xe2\x80\xa8") == std::string::npos);
  simdjson::dom::parser parser;
  simdjson::padded_string json(data);
  simdjson::dom::element doc = parser.parse(json).value();
  std::vector<std::string> strings;
  for (simdjson::dom::element e : doc["strings"].get_array()) strings.push_back(text(e));
  std::vector<std::uint64_t> frames = numbers(doc["samples"]["frames"]);
  REQUIRE(frames.size() == 8);
  CHECK(strings.at(frames[4]) ==
        "std::vector<int, a<b>&c>::f</script><script>alert(1)</script><!-- \xe2\x80\xa8 \\xff");
  CHECK(strings.at(frames[5]) == "<x>&.so");
  CHECK(strings.at(frames[6]) == "<!--.cc:7");
}
