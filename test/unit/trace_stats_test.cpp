// viztrace stats: self times on hand-written traces with known answers, SliceStack against a
// brute-force answer in every event order writers use, and the table and JSON output.
#include "report/readers/trace_stats.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "report/readers/slice_stack.h"
#include "report/readers/stats_table.h"
#include "simdjson.h"
#include "synthetic_trace.h"

using viztrace::report::format_duration;
using viztrace::report::format_stats_json;
using viztrace::report::format_stats_table;
using viztrace::report::NameStats;
using viztrace::report::ProcessStats;
using viztrace::report::SliceStack;
using viztrace::report::StatsSort;
using viztrace::report::StatsView;
using viztrace::report::TraceStats;
using viztrace::report::TraceStatsResult;
using namespace viztrace::test;

namespace {

const NameStats& name(const TraceStatsResult& r, const std::string& n) {
  for (const NameStats& s : r.names)
    if (s.name == n) return s;
  FAIL("no slice named " << n);
  throw;
}

const ProcessStats& process(const TraceStatsResult& r, std::int64_t pid) {
  for (const ProcessStats& p : r.processes)
    if (p.pid == pid) return p;
  FAIL("no process " << pid);
  throw;
}

// count, total, self, max in µs (the fixtures are written in µs).
void check(const TraceStatsResult& r, const std::string& n, std::uint64_t count, double total,
           double self, double max) {
  INFO(n);
  const NameStats& s = name(r, n);
  CHECK(s.count == count);
  CHECK(s.total == std::llround(total * 1000));
  CHECK(s.self == std::llround(self * 1000));
  CHECK(s.max == std::llround(max * 1000));
}

// Self time per slice, as the sink sees it.
struct SelfTimes final : SliceStack::Sink {
  std::map<SliceStack::NameId, std::pair<std::int64_t, std::int64_t>> seen;  // dur, self
  int duplicates = 0;
  void slice(SliceStack::NameId n, std::int64_t dur, std::int64_t self) override {
    duplicates += seen.count(n);
    seen[n] = {dur, self};
  }
};

// A random properly nested forest on one thread; each node its own name id.
struct Node {
  std::int64_t start, end;
  std::vector<int> children;
  bool begin_end = false;  // written as B/E rather than X
};

struct Forest {
  std::vector<Node> nodes;
  std::vector<int> roots;

  std::int64_t self(int i) const {
    std::int64_t s = nodes[i].end - nodes[i].start;
    for (int c : nodes[i].children) s -= nodes[c].end - nodes[c].start;
    return s;
  }
};

int grow(Forest& f, std::mt19937& rng, std::int64_t start, std::int64_t end, int depth,
         int max_children) {
  int id = static_cast<int>(f.nodes.size());
  f.nodes.push_back({start, end, {}, rng() % 3 == 0});
  if (depth == 0 || end - start < 4) return id;
  int wanted = static_cast<int>(rng() % static_cast<unsigned>(max_children + 1));
  std::int64_t t = start + static_cast<std::int64_t>(rng() % 2);  // children may start with it
  for (int k = 0; k < wanted && t < end; ++k) {
    std::int64_t room = end - t;
    std::int64_t len = static_cast<std::int64_t>(rng() % static_cast<unsigned>(room / 2 + 1));
    int child = grow(f, rng, t, t + len, depth - 1, max_children);
    f.nodes[id].children.push_back(child);
    t += len + static_cast<std::int64_t>(rng() % 3);  // siblings may touch
  }
  return id;
}

Forest random_forest(std::mt19937& rng, int max_children) {
  Forest f;
  std::int64_t t = 0;
  for (int r = 0; r < 5; ++r) {
    std::int64_t len = 1000 + static_cast<std::int64_t>(rng() % 100000);
    f.roots.push_back(grow(f, rng, t, t + len, 5, max_children));
    t += len + static_cast<std::int64_t>(rng() % 2);
  }
  return f;
}

enum class Order { pre_order_x, post_order_x, begin_end, written_as_they_happen };

// Feeds the forest in one of the orders writers use.
void feed(const Forest& f, int i, Order order, SliceStack& stack, SelfTimes& sink) {
  const Node& n = f.nodes[i];
  const auto id = static_cast<SliceStack::NameId>(i);
  // Written as they happen: B at the start, E and X at the end (Chrome's mix).
  bool be = order == Order::begin_end || (order == Order::written_as_they_happen && n.begin_end);
  if (be)
    stack.begin(sink, id, n.start);
  else if (order == Order::pre_order_x)
    stack.complete(sink, id, n.start, n.end - n.start);
  for (int c : n.children) feed(f, c, order, stack, sink);
  if (be)
    stack.end(sink, n.end);
  else if (order != Order::pre_order_x)
    stack.complete(sink, id, n.start, n.end - n.start);
}

// Feeds the whole forest; returns how many slices got a wrong duration or self time.
int wrong_self_times(const Forest& f, Order order, std::size_t max_siblings,
                     SliceStack::Counts& counts) {
  SliceStack stack(max_siblings);
  SelfTimes sink;
  for (int r : f.roots) feed(f, r, order, stack, sink);
  stack.finish(sink, f.nodes.back().end);
  counts = stack.counts();
  CHECK(sink.duplicates == 0);
  REQUIRE(sink.seen.size() == f.nodes.size());
  int wrong = 0;
  for (std::size_t i = 0; i < f.nodes.size(); ++i) {
    const auto [dur, self] = sink.seen[static_cast<SliceStack::NameId>(i)];
    if (dur != f.nodes[i].end - f.nodes[i].start || self != f.self(static_cast<int>(i))) ++wrong;
  }
  return wrong;
}

}  // namespace

TEST_CASE("nested B/E and X mixed on a thread: self time excludes children only") {
  auto r = TraceStats::of_file(fixture_trace("nested_mixed.json"));
  // main [0,100] holds parse [10,40] (holding lex [12,17], written before it) and eval
  // [50,80] (holding op [55,65]).
  check(r, "main", 1, 100, 40, 100);
  check(r, "parse", 1, 30, 25, 30);
  check(r, "lex", 1, 5, 5, 5);
  check(r, "eval", 1, 30, 20, 30);
  check(r, "op", 1, 10, 10, 10);
  // Thread 2, fractions of a µs: work [0.5,10.75] holds two steps.
  check(r, "work", 1, 10.25, 6.5, 10.25);
  check(r, "step", 2, 3.75, 3.75, 2.25);
  check(r, "a]b}c\"d{e", 1, 1.5, 1.5, 1.5);  // ts, dur and pid as strings
  check(r, "caf\xc3\xa9 \xf0\x9f\x98\x80", 1, 0.001, 0.001, 0.001);
  CHECK(r.names.size() == 9);
  REQUIRE(r.processes.size() == 1);
  CHECK(process(r, 1).name == "demo");
  CHECK(process(r, 1).wall == 100000);
  CHECK(process(r, 1).threads == 2);
  CHECK_FALSE(process(r, 1).has_cpu);
  CHECK(r.threads == 2);
  CHECK(r.start == 0);
  CHECK(r.end == 100000);
  CHECK(r.nesting.unmatched_ends == 0);
  CHECK(r.nesting.unclosed_begins == 0);
  CHECK(r.nesting.improper == 0);
}

TEST_CASE("unmatched E is ignored and counted and an unclosed B ends at the thread's last event") {
  auto r = TraceStats::of_file(fixture_trace("unmatched.json"));
  CHECK(r.nesting.unmatched_ends == 1);
  CHECK(r.nesting.unclosed_begins == 1);
  check(r, "open", 1, 7, 5, 7);  // [2, 9]: 9 is the instant's time
  check(r, "inner", 1, 2, 2, 2);
  CHECK(r.names.size() == 2);  // instants are not slices
}

TEST_CASE("a named E ends the innermost B of its name, and one with no such B is ignored") {
  // uftrace writes an E for a scheduling span that began before its recording did.
  auto r = TraceStats::of_file(fixture_trace("named_ends.json"));
  CHECK(r.nesting.unmatched_ends == 1);
  CHECK(r.nesting.unclosed_begins == 0);
  CHECK(r.nesting.improper == 1);  // leaf was still open when work ended: it ends there too
  check(r, "main", 1, 10, 6, 10);
  check(r, "work", 1, 4, 1, 4);
  check(r, "leaf", 1, 3, 3, 3);
  CHECK(r.names.size() == 3);
}

TEST_CASE("X written as they end (VizTracer and Chrome): children before parents") {
  auto r = TraceStats::of_file(fixture_trace("post_order.json"));
  check(r, "root", 1, 10, 6, 10);
  check(r, "m", 1, 4, 2, 4);
  check(r, "c1", 1, 1, 1, 1);
  check(r, "c2", 1, 1, 1, 1);
  check(r, "d0", 1, 3, 2, 3);  // another thread, interleaved
  check(r, "d1", 1, 1, 1, 1);
}

TEST_CASE("array form without its closing bracket") {
  auto r = TraceStats::of_file(fixture_trace("array_unclosed.json"));
  CHECK(r.input.unclosed_array);
  check(r, "x]y", 1, 10, 7, 10);
  check(r, "caf\xc3\xa9", 1, 3, 3, 3);
}

TEST_CASE("our reports: process spans give wall and CPU time per process") {
  auto r = TraceStats::of_file(fixture_trace("ours.json"));
  const ProcessStats& sh = process(r, 100);
  CHECK(sh.name == "sh");
  CHECK(sh.wall == 1000000);
  CHECK(sh.has_cpu);
  CHECK(sh.utime == 500000);
  CHECK(sh.stime == 250000);
  const ProcessStats& ls = process(r, 101);
  CHECK(ls.name == "ls");    // process_name metadata, not the first image's "sh"
  CHECK(ls.wall == 350000);  // the fork image and the exec image, end to end
  CHECK(ls.utime + ls.stime == 250000);
  CHECK(ls.threads == 2);
  check(r, "sh", 2, 1050, 1050, 1000);
  check(r, "helper", 1, 100, 100, 100);
}

TEST_CASE("SliceStack: exact self times for random trees in every writer's order") {
  std::mt19937 rng(7);
  int approximated = 0;
  for (int round = 0; round < 60; ++round) {
    Forest f = random_forest(rng, 6);
    INFO("round " << round << ", " << f.nodes.size() << " slices");
    for (Order order : {Order::pre_order_x, Order::post_order_x, Order::begin_end,
                        Order::written_as_they_happen}) {
      INFO("order " << static_cast<int>(order));
      SliceStack::Counts counts;
      CHECK(wrong_self_times(f, order, SliceStack::kMaxSiblings, counts) == 0);
      CHECK(counts.approximate == 0);
      CHECK(counts.improper == 0);
      // A tiny limit packs a post-order frontier into runs: exact, or else counted.
      int wrong = wrong_self_times(f, order, 8, counts);
      CHECK(counts.improper == 0);
      if (order == Order::pre_order_x || order == Order::begin_end) CHECK(wrong == 0);
      if (wrong > 0) CHECK(counts.approximate > 0);
      approximated += counts.approximate > 0;
    }
  }
  CHECK(approximated > 0);  // the tiny limit did bite
}

TEST_CASE("SliceStack: a parent written after many children claims packed runs whole") {
  // One root with 10000 children, written after them (post-order) and before them.
  for (bool post : {true, false}) {
    SliceStack stack(64);
    SelfTimes sink;
    if (!post) stack.complete(sink, 0, 0, 100000);
    for (int i = 0; i < 10000; ++i)
      stack.complete(sink, static_cast<SliceStack::NameId>(i + 1), 5 + 10 * i, 5);
    if (post) stack.complete(sink, 0, 0, 100000);
    CHECK(stack.depth() <= 65);  // bounded while it ran
    stack.finish(sink, 100000);
    CHECK(sink.seen.at(0).second == 100000 - 10000 * 5);
    CHECK(sink.seen.size() == 10001);
    CHECK(stack.counts().approximate == 0);
  }
}

TEST_CASE("SliceStack: a loop of calls written before its caller costs at most one run") {
  // VizTracer's shape: <module> runs 100 imports, then main, which calls f 20000 times; all
  // written as they end. With 64 waiting entries allowed, main starts inside a packed run.
  SliceStack stack(64);
  SelfTimes sink;
  std::int64_t t = 0;
  SliceStack::NameId id = 3;
  for (int i = 0; i < 100; ++i, t += 10) stack.complete(sink, id++, t, 8);
  const std::int64_t main_start = t;
  t += 1;
  for (int i = 0; i < 20000; ++i, t += 10) stack.complete(sink, id++, t, 7);
  stack.complete(sink, 1, main_start, t - main_start);  // main
  stack.complete(sink, 0, 0, t + 5);                    // <module>
  stack.finish(sink, t + 5);
  const std::int64_t main_self = (t - main_start) - 20000 * 7;
  const std::int64_t module_self = (t + 5) - 100 * 8 - (t - main_start);
  // Packed runs here hold at most 8 * 20100 / 64 + 1 = 2513 calls of 7 ns.
  CHECK(sink.seen.at(1).second >= main_self);
  CHECK(sink.seen.at(1).second <= main_self + 2513 * 7);
  CHECK(sink.seen.at(0).second <= module_self);
  CHECK(sink.seen.at(0).second >= module_self - 2513 * 8);
  CHECK(stack.counts().approximate >= 1);
  CHECK(sink.seen.size() == 20102);
}

TEST_CASE("SliceStack: overlapping slices are counted and never crash or give negative self time") {
  std::mt19937 rng(99);
  for (int round = 0; round < 200; ++round) {
    SliceStack stack(8);
    SelfTimes sink;
    int names = 0;
    for (int k = 0; k < 300; ++k) {
      std::int64_t ts = static_cast<std::int64_t>(rng() % 1000);
      switch (rng() % 3) {
        case 0:
          stack.begin(sink, static_cast<SliceStack::NameId>(names++), ts);
          break;
        case 1:
          stack.end(sink, ts);
          break;
        default:
          stack.complete(sink, static_cast<SliceStack::NameId>(names++), ts,
                         static_cast<std::int64_t>(rng() % 200));
      }
    }
    stack.finish(sink, 1000);
    CHECK(stack.depth() == 0);
    for (const auto& [id, ds] : sink.seen) {
      CHECK(ds.second >= 0);
      CHECK(ds.second <= ds.first);
    }
  }
}

namespace {

// A B and an X that start together, in either order, under an ancestor written first; the B
// ends at b_end. Names: 0 ancestor [10, 40], 1 the X [20, 34], 2 the B.
void tie(bool b_first, std::int64_t b_end, SelfTimes& sink, SliceStack& stack) {
  stack.complete(sink, 0, 10, 30);
  if (b_first) stack.begin(sink, 2, 20);
  stack.complete(sink, 1, 20, 14);
  if (!b_first) stack.begin(sink, 2, 20);
  stack.end(sink, b_end, 2);
  stack.finish(sink, 40);
}

}  // namespace

TEST_CASE("SliceStack: a B and an X starting together nest by their ends, in either order") {
  for (bool b_first : {false, true}) {
    INFO("B first: " << b_first);
    {  // the B ends first: the X holds it
      SliceStack stack;
      SelfTimes sink;
      tie(b_first, 25, sink, stack);
      CHECK(sink.seen.at(0) == std::pair<std::int64_t, std::int64_t>{30, 16});
      CHECK(sink.seen.at(1) == std::pair<std::int64_t, std::int64_t>{14, 9});
      CHECK(sink.seen.at(2) == std::pair<std::int64_t, std::int64_t>{5, 5});
      CHECK(stack.counts().approximate == 0);
      CHECK(stack.counts().improper == 0);
    }
    {  // the X ends first: the B holds it
      SliceStack stack;
      SelfTimes sink;
      tie(b_first, 38, sink, stack);
      CHECK(sink.seen.at(0) == std::pair<std::int64_t, std::int64_t>{30, 12});
      CHECK(sink.seen.at(1) == std::pair<std::int64_t, std::int64_t>{14, 14});
      CHECK(sink.seen.at(2) == std::pair<std::int64_t, std::int64_t>{18, 4});
      CHECK(stack.counts().approximate == 0);
      CHECK(stack.counts().improper == 0);
    }
  }
}

TEST_CASE("SliceStack: an open B holds what starts after it, and its children move with a swap") {
  // B d [20, 30] starts with X p [20, 26]; x [22, 24] comes inside both, y [27, 29] after p.
  for (bool b_first : {false, true}) {
    INFO("B first: " << b_first);
    SliceStack stack;
    SelfTimes sink;
    if (b_first) stack.begin(sink, 0, 20);
    stack.complete(sink, 1, 20, 6);
    if (!b_first) stack.begin(sink, 0, 20);
    stack.complete(sink, 2, 22, 2);
    stack.complete(sink, 3, 27, 2);
    stack.end(sink, 30, 0);
    stack.finish(sink, 30);
    CHECK(sink.seen.at(0) == std::pair<std::int64_t, std::int64_t>{10, 2});
    CHECK(sink.seen.at(1) == std::pair<std::int64_t, std::int64_t>{6, 4});
    CHECK(sink.seen.at(2) == std::pair<std::int64_t, std::int64_t>{2, 2});
    CHECK(sink.seen.at(3) == std::pair<std::int64_t, std::int64_t>{2, 2});
    CHECK(stack.counts().approximate == 0);
    CHECK(stack.counts().improper == 0);
  }
}

TEST_CASE("table: sorted and cut as asked with printable names and notes for oddities") {
  TraceStatsResult r;
  r.path = "t.json";
  r.input.events = 7;
  r.input.form = viztrace::report::TraceScanner::Form::array;
  r.has_time = true;
  r.end = 2500000000;
  r.names = {
      {"b", 3, 9000, 1000, 5000}, {"a", 1, 2000, 2000, 2000}, {"c\x1b[31m", 10, 100, 50, 10}};
  r.processes = {{12, "make", 2500000000, true, 1000000, 500000, 7, 1}};
  r.threads = 1;
  r.nesting.unmatched_ends = 2;
  StatsView view;
  std::string t = format_stats_table(r, view);
  CHECK(t.find("t.json: 7 events (array form), 1 process, 1 thread, 2.500 s from first to last") ==
        0);
  CHECK(t.find("Slices by self time (3 of 3 names):") != std::string::npos);
  auto a = t.find("  a\n"), b = t.find("  b\n"), c = t.find("  c?[31m\n");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);  // the escape byte is not sent to the terminal
  CHECK(a < b);
  CHECK(b < c);
  CHECK(t.find("    2.000 us     2.000 us          1     2.000 us  a\n") != std::string::npos);
  CHECK(t.find("     2.500 s     1.500 ms        7        1         12  make\n") !=
        std::string::npos);
  CHECK(t.find("2 E events without an open B (ignored)") != std::string::npos);

  view.sort = StatsSort::count;
  view.top = 2;
  t = format_stats_table(r, view);
  CHECK(t.find("Slices by count (2 of 3 names):") != std::string::npos);
  CHECK(t.find("  c?[31m\n") < t.find("  b\n"));
  CHECK(t.find("  a\n") == std::string::npos);

  view.sort = StatsSort::name;
  view.top = 0;
  t = format_stats_table(r, view);
  CHECK(t.find("  a\n") < t.find("  b\n"));
  CHECK(format_duration(999) == "999 ns");
  CHECK(format_duration(1500) == "1.500 us");
  CHECK(format_duration(61000000000) == "61.000 s");
}

TEST_CASE("stats JSON has stable keys and integer nanoseconds and null CPU when unknown") {
  auto r = TraceStats::of_file(fixture_trace("nested_mixed.json"));
  StatsView view;
  view.sort = StatsSort::total;
  view.top = 2;
  std::string text = format_stats_json(r, view);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["form"]) == "object");
  CHECK(int64_t(doc["events"]) == 13);
  CHECK(std::string_view(doc["sort"]) == "total");
  CHECK(int64_t(doc["names_total"]) == 9);
  simdjson::dom::array names = doc["names"];
  REQUIRE(names.size() == 2);
  CHECK(std::string_view(names.at(0)["name"]) == "main");
  CHECK(int64_t(names.at(0)["total_ns"]) == 100000);
  CHECK(int64_t(names.at(0)["self_ns"]) == 40000);
  CHECK(int64_t(names.at(0)["count"]) == 1);
  CHECK(int64_t(names.at(0)["max_ns"]) == 100000);
  simdjson::dom::array procs = doc["processes"];
  REQUIRE(procs.size() == 1);
  CHECK(int64_t(procs.at(0)["pid"]) == 1);
  CHECK(int64_t(procs.at(0)["wall_ns"]) == 100000);
  CHECK(procs.at(0)["cpu_ns"].is_null());
  CHECK(int64_t(doc["problems"]["unmatched_end"]) == 0);
  CHECK(bool(doc["problems"]["unclosed_array"]) == false);
  int phases = 0;
  for (auto p : simdjson::dom::array(doc["phases"]))
    phases += static_cast<int>(int64_t(p["count"]));
  CHECK(phases == 13);
}

namespace {

// Two processes' sampled stacks: in app, hot (under work) takes 3 of 6 samples, work, cold and
// a recursive rec one each; in tool, spin takes both. One sample without pid (placed by its
// tid), one naming no frame, one without ts.
constexpr const char* kSampled = R"({"traceEvents":[
  {"ph":"M","name":"process_name","pid":1,"tid":1,"args":{"name":"app"}},
  {"ph":"M","name":"process_name","pid":2,"tid":2,"args":{"name":"tool"}},
  {"ph":"X","name":"run","pid":1,"tid":1,"ts":0,"dur":50},
  {"ph":"X","name":"run","pid":2,"tid":2,"ts":0,"dur":50}],
 "stackFrames":{"1":{"name":"main","category":"/bin/app"},"2":{"name":"work","category":"/bin/app","parent":"1"},
  "3":{"name":"hot","category":"/lib/libhot.so","parent":"2"},"4":{"name":"cold","category":"/bin/app","parent":"1"},
  "5":{"name":"rec","category":"/bin/app","parent":"1"},"6":{"name":"rec","category":"/bin/app","parent":"5"},
  "10":{"name":"main2","category":"/bin/tool"},"11":{"name":"spin","category":"/bin/tool","parent":10}},
 "samples":[{"pid":1,"tid":1,"ts":1,"sf":"3","weight":2},{"pid":1,"tid":1,"ts":2,"sf":"3","weight":2},
  {"pid":1,"tid":1,"ts":3,"sf":"3","weight":2},{"pid":1,"tid":1,"ts":4,"sf":"2","weight":1},
  {"pid":1,"tid":1,"ts":5,"sf":"4","weight":1},{"pid":1,"tid":1,"ts":6,"sf":"6","weight":1},
  {"pid":2,"tid":2,"ts":7,"sf":11,"weight":3},{"tid":2,"ts":8,"sf":"11","weight":3},
  {"pid":1,"tid":1,"ts":9,"sf":"99"},{"pid":1,"tid":1,"sf":"3"}]})";

}  // namespace

TEST_CASE("stats of sampled stacks: functions by self and total samples, overall and per process") {
  TempDir dir;
  write_file(dir.file("s.json"), kSampled);
  auto r = TraceStats::of_file(dir.file("s.json"));
  CHECK(r.sampled.samples == 8);
  CHECK(r.sampled.weight == 15000);
  CHECK(r.sampled.processes_total == 2);
  StatsView view;
  std::string t = format_stats_table(r, view);
  INFO(t);
  CHECK(t.find("\nSampled functions by self samples (5 of 7 functions; 8 samples, 15.000 us of "
               "CPU):\n"
               "   Self%   Total%       Self      Total  Function  (module)\n"
               "   37.5%    37.5%          3          3  hot  (libhot.so)\n"
               "   25.0%    25.0%          2          2  spin  (tool)\n"
               "   12.5%    50.0%          1          4  work  (app)\n"
               "   12.5%    12.5%          1          1  cold  (app)\n"
               "   12.5%    12.5%          1          1  rec  (app)\n") != std::string::npos);
  CHECK(t.find("\nSampled functions of the processes with the most samples (2 of 2):\n"
               "  app, pid 1: 6 samples\n"
               "     Self%   Total%       Self      Total  Function  (module)\n"
               "     50.0%    50.0%          3          3  hot  (libhot.so)\n") !=
        std::string::npos);
  CHECK(t.find("  tool, pid 2: 2 samples\n"
               "     Self%   Total%       Self      Total  Function  (module)\n"
               "    100.0%   100.0%          2          2  spin  (tool)\n") != std::string::npos);
  CHECK(t.find("1 sample naming no frame of stackFrames (ignored)") != std::string::npos);
  CHECK(t.find("1 sample without ts, pid or tid (ignored)") != std::string::npos);

  view.sort = StatsSort::total;
  view.top = 3;
  t = format_stats_table(r, view);
  CHECK(t.find("Sampled functions by total samples (3 of 7 functions; 8 samples, 15.000 us of "
               "CPU):\n"
               "   Self%   Total%       Self      Total  Function  (module)\n"
               "    0.0%    75.0%          0          6  main  (app)\n"
               "   12.5%    50.0%          1          4  work  (app)\n"
               "   37.5%    37.5%          3          3  hot  (libhot.so)\n") != std::string::npos);
}

TEST_CASE("stats JSON of sampled stacks: integer sample counts and CPU ns, cut and sorted") {
  TempDir dir;
  write_file(dir.file("s.json"), kSampled);
  auto r = TraceStats::of_file(dir.file("s.json"));
  StatsView view;
  view.top = 2;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string text = format_stats_json(r, view);
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  simdjson::dom::element s = doc["samples"];
  CHECK(int64_t(s["count"]) == 8);
  CHECK(int64_t(s["weight_ns"]) == 15000);
  CHECK(int64_t(s["stack_frames"]) == 8);
  CHECK(int64_t(s["functions_total"]) == 7);
  simdjson::dom::array fs = s["functions"];
  REQUIRE(fs.size() == 2);
  CHECK(std::string_view(fs.at(0)["name"]) == "hot");
  CHECK(std::string_view(fs.at(0)["module"]) == "/lib/libhot.so");
  CHECK(int64_t(fs.at(0)["self"]) == 3);
  CHECK(int64_t(fs.at(0)["total"]) == 3);
  CHECK(int64_t(fs.at(0)["self_weight_ns"]) == 6000);
  CHECK(int64_t(fs.at(0)["total_weight_ns"]) == 6000);
  CHECK(int64_t(s["processes_total"]) == 2);
  simdjson::dom::array ps = s["processes"];
  REQUIRE(ps.size() == 2);
  CHECK(int64_t(ps.at(0)["pid"]) == 1);
  CHECK(std::string_view(ps.at(0)["name"]) == "app");
  CHECK(int64_t(ps.at(0)["samples"]) == 6);
  CHECK(int64_t(ps.at(0)["weight_ns"]) == 9000);
  CHECK(int64_t(ps.at(1)["pid"]) == 2);  // its sample without pid too
  CHECK(int64_t(ps.at(1)["samples"]) == 2);
  CHECK(int64_t(doc["problems"]["samples_unknown_frame"]) == 1);
  CHECK(int64_t(doc["problems"]["samples_unplaced"]) == 1);
  CHECK(int64_t(doc["problems"]["stack_frames_broken"]) == 0);

  view.sort = StatsSort::total;
  REQUIRE(parser.parse(format_stats_json(r, view)).get(doc) == simdjson::SUCCESS);
  fs = doc["samples"]["functions"];
  CHECK(std::string_view(fs.at(0)["name"]) == "main");
  CHECK(int64_t(fs.at(0)["self"]) == 0);
  CHECK(int64_t(fs.at(0)["total"]) == 6);
  CHECK(int64_t(fs.at(0)["total_weight_ns"]) == 9000);
  // Recursion counts once in a function's total.
  view.sort = StatsSort::name;
  view.top = 0;
  REQUIRE(parser.parse(format_stats_json(r, view)).get(doc) == simdjson::SUCCESS);
  for (auto f : simdjson::dom::array(doc["samples"]["functions"]))
    if (std::string_view(f["name"]) == "rec") CHECK(int64_t(f["total"]) == 1);

  // A trace without samples has the keys all the same.
  auto plain = TraceStats::of_file(fixture_trace("nested_mixed.json"));
  REQUIRE(parser.parse(format_stats_json(plain, view)).get(doc) == simdjson::SUCCESS);
  CHECK(int64_t(doc["samples"]["count"]) == 0);
  CHECK(simdjson::dom::array(doc["samples"]["functions"]).size() == 0);
  CHECK(format_stats_table(plain, view).find("Sampled") == std::string::npos);
}
