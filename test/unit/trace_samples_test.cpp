// Sampled stacks of any Chrome trace (top-level stackFrames and samples) read into a Timeline
// by `viztrace convert`: every spelling the Trace Event Format allows, and hostile files
// (cycles, unknown frames, missing fields, deep chains) counted, never a crash.
#include "report/readers/trace_samples.h"

#include <catch2/catch.hpp>
#include <random>

#include "common/error.h"
#include "report/readers/chrome_json_converter.h"
#include "report/writers/chrome_json_writer.h"
#include "string_sink.h"
#include "synthetic_trace.h"

using viztrace::report::ConvertStats;
using viztrace::report::Timeline;
using viztrace::report::TimelineProcess;
using viztrace::report::TimelineSample;
using viztrace::report::TimelineThread;
using namespace viztrace::test;

namespace {

Timeline convert(const TempDir& dir, const std::string& json, ConvertStats& stats) {
  write_file(dir.file("t.json"), json);
  return viztrace::report::read_chrome_json(dir.file("t.json"), stats);
}

// A stack's frame names, innermost first.
std::vector<std::string> stack_of(const Timeline& tl, std::uint32_t node) {
  std::vector<std::string> names;
  for (; node != 0 && names.size() < 1000000; node = tl.stack_nodes[node].parent)
    names.push_back(tl.names[tl.frames[tl.stack_nodes[node].frame].name]);
  return names;
}

const TimelineThread* thread_of(const Timeline& tl, std::uint32_t pid, std::uint32_t tid) {
  for (const TimelineProcess& p : tl.processes)
    if (p.pid == pid)
      for (const TimelineThread& t : p.threads)
        if (t.tid == tid) return &t;
  return nullptr;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("sampled stacks of any tool: ids as strings or numbers, no parent, weight or pid") {
  TempDir dir;
  ConvertStats stats;
  // Samples before the frames they name, as the spec allows.
  Timeline tl = convert(dir, R"({"samples":[
      {"pid":10,"tid":11,"ts":5,"sf":"3","weight":2.5,"name":"cpu-clock"},
      {"pid":10,"tid":11,"ts":6,"sf":3,"weight":1,"cpu":0},
      {"tid":12,"ts":7.5,"sf":"2"},
      {"tid":77,"ts":8,"sf":1},
      {"pid":10,"tid":11,"ts":4}],
    "traceEvents":[{"ph":"X","name":"run","pid":10,"tid":11,"ts":0,"dur":100},
      {"ph":"M","name":"thread_name","pid":10,"tid":12,"args":{"name":"worker"}}],
    "stackFrames":{"1":{"name":"main","category":"/bin/app"},
      "2":{"name":"work","category":"/bin/app","parent":"1"},
      "3":{"category":"/lib/libx.so","name":"spin","parent":2}}})",
                        stats);
  CHECK(stats.samples == 5);
  CHECK(stats.stack_frames == 3);
  CHECK(stats.samples_unknown_frame + stats.samples_unplaced + stats.broken_frames == 0);
  CHECK(tl.sample_count() == 5);

  const TimelineThread* main = thread_of(tl, 10, 11);
  REQUIRE(main != nullptr);
  REQUIRE(main->samples.size() == 3);
  // By time; the one without sf has no frame known.
  CHECK(main->samples[0].ts == 4000);
  CHECK(main->samples[0].stack == 0);
  CHECK(main->samples[1].ts == 5000);
  CHECK(main->samples[1].weight_ns == 2500);
  CHECK(stack_of(tl, main->samples[1].stack) == Names{"spin", "work", "main"});
  CHECK(main->samples[2].stack == main->samples[1].stack);  // "3" and 3 are one frame
  CHECK(main->samples[2].weight_ns == 1000);
  const auto& spin = tl.frames[tl.stack_nodes[main->samples[1].stack].frame];
  CHECK(tl.names[spin.module] == "/lib/libx.so");

  // Without pid: on the process that has a thread of that tid, else on the pid of its tid.
  const TimelineThread* worker = thread_of(tl, 10, 12);
  REQUIRE(worker != nullptr);
  REQUIRE(worker->samples.size() == 1);
  CHECK(worker->name == "worker");
  CHECK(worker->samples[0].ts == 7500);
  CHECK(worker->samples[0].weight_ns == 0);  // no weight: unknown
  CHECK(stack_of(tl, worker->samples[0].stack) == Names{"work", "main"});
  const TimelineThread* alone = thread_of(tl, 77, 77);
  REQUIRE(alone != nullptr);
  REQUIRE(alone->samples.size() == 1);
  CHECK(stack_of(tl, alone->samples[0].stack) == Names{"main"});
}

TEST_CASE("hostile stack frames: cycles, unknown parents and frames, duplicates, no ts or tid") {
  TempDir dir;
  ConvertStats stats;
  Timeline tl = convert(dir, R"({"traceEvents":[],
    "stackFrames":{"a":{"name":"a","parent":"b"},"b":{"name":"b","parent":"a"},
      "s":{"name":"self","parent":"s"},"u":{"name":"orphan","parent":"nowhere"},
      "d":{"name":"first"},"d":{"name":"second"},"n":{"parent":null},
      "x":{"name":"x","parent":"c1"},"c1":{"name":"c1","parent":"c2"},"c2":{"name":"c2","parent":"c1"}},
    "samples":[{"pid":1,"tid":1,"ts":1,"sf":"a"},{"pid":1,"tid":1,"ts":2,"sf":"b"},
      {"pid":1,"tid":1,"ts":3,"sf":"s"},{"pid":1,"tid":1,"ts":4,"sf":"u"},
      {"pid":1,"tid":1,"ts":5,"sf":"d"},{"pid":1,"tid":1,"ts":6,"sf":"n"},
      {"pid":1,"tid":1,"ts":7,"sf":"x"},
      {"pid":1,"tid":1,"ts":8,"sf":"nowhere"},{"pid":1,"tid":1,"ts":9,"sf":""},
      {"pid":1,"tid":1,"sf":"a"},{"ts":10,"sf":"a"},{"pid":1,"tid":1,"ts":11,"sf":{"x":1}},
      {"pid":1,"tid":1,"ts":12,"sf":"a","weight":-5}]})",
                        stats);
  CHECK(stats.stack_frames == 10);
  CHECK(stats.samples_unknown_frame == 1);  // "nowhere"
  CHECK(stats.samples_unplaced == 2);       // no ts; no pid nor tid
  CHECK(stats.broken_frames == 4);          // a-b, s-s and c1-c2 cycles, u's parent
  CHECK(stats.samples == 10);
  const TimelineThread* t = thread_of(tl, 1, 1);
  REQUIRE(t != nullptr);
  REQUIRE(t->samples.size() == 10);
  auto at = [&](std::uint64_t us) {
    for (const TimelineSample& s : t->samples)
      if (s.ts == us * 1000) return stack_of(tl, s.stack);
    FAIL("no sample at " << us);
    return Names{};
  };
  // A cycle is cut where the walk closes it: the frame walked last is outermost.
  CHECK(at(1) == Names{"a", "b"});
  CHECK(at(2) == Names{"b"});
  CHECK(at(3) == Names{"self"});
  CHECK(at(4) == Names{"orphan"});
  CHECK(at(5) == Names{"first"});
  CHECK(at(6) == Names{"(unnamed)"});
  CHECK(at(7) == Names{"x", "c1", "c2"});
  CHECK(at(9).empty());   // an empty sf: no frame known
  CHECK(at(11).empty());  // an sf that is no id at all
  CHECK(t->samples.back().weight_ns == 0);  // a negative weight is unknown
}

TEST_CASE("a chain of 200000 frames resolves without recursion") {
  TempDir dir;
  std::string json = R"({"stackFrames":{"0":{"name":"f0"})";
  const int depth = 200000;
  for (int i = 1; i < depth; ++i)
    json += ",\"" + std::to_string(i) + R"(":{"name":"f)" + std::to_string(i % 10) +
            R"(","parent":")" + std::to_string(i - 1) + "\"}";
  json += R"(},"samples":[{"pid":3,"tid":3,"ts":1,"sf":")" + std::to_string(depth - 1) +
          R"("},{"pid":3,"tid":3,"ts":2,"sf":"5"}]})";
  ConvertStats stats;
  Timeline tl = convert(dir, json, stats);
  const TimelineThread* t = thread_of(tl, 3, 3);
  REQUIRE(t != nullptr);
  REQUIRE(t->samples.size() == 2);
  Names deep = stack_of(tl, t->samples[0].stack);
  REQUIRE(deep.size() == depth);
  CHECK(deep.front() == "f9");
  CHECK(deep.back() == "f0");
  CHECK(stack_of(tl, t->samples[1].stack) == Names{"f5", "f4", "f3", "f2", "f1", "f0"});
  CHECK(tl.stack_nodes.size() == depth + 1);  // the short stack is a prefix: no new node
}

TEST_CASE("samples round-trip through the JSON writer: same threads, times, stacks, weights") {
  TempDir dir;
  ConvertStats stats;
  Timeline first = convert(dir, R"({"traceEvents":[{"ph":"X","name":"p","pid":4,"tid":4,"ts":0,"dur":9}],
    "stackFrames":{"7":{"name":"main","category":"/bin/a"},"8":{"name":"f","category":"[unknown]","parent":"7"}},
    "samples":[{"pid":4,"tid":4,"ts":1.25,"sf":"8","weight":0.999},{"pid":4,"tid":5,"ts":2,"sf":"7","weight":3},
      {"pid":4,"tid":4,"ts":3,"weight":1}]})",
                           stats);
  StringSink json;
  viztrace::report::ChromeJsonWriter writer(json);
  writer.begin(first, nullptr);
  writer.finish();
  write_file(dir.file("again.json"), json.bytes);
  ConvertStats again_stats;
  Timeline again = viztrace::report::read_chrome_json(dir.file("again.json"), again_stats);
  CHECK(again_stats.samples == 3);
  for (auto [pid, tid] : {std::pair{4u, 4u}, std::pair{4u, 5u}}) {
    const TimelineThread* a = thread_of(first, pid, tid);
    const TimelineThread* b = thread_of(again, pid, tid);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    REQUIRE(a->samples.size() == b->samples.size());
    for (std::size_t i = 0; i < a->samples.size(); ++i) {
      CHECK(a->samples[i].ts == b->samples[i].ts);
      CHECK(a->samples[i].weight_ns == b->samples[i].weight_ns);
      CHECK(stack_of(first, a->samples[i].stack) == stack_of(again, b->samples[i].stack));
    }
  }
  const TimelineThread* t = thread_of(again, 4, 4);
  CHECK(t->samples[0].weight_ns == 999);
  CHECK(t->samples[1].stack == 0);
  // A module nobody knew stays unknown.
  CHECK(again.frames[again.stack_nodes[t->samples[0].stack].frame].module == 0);
}

TEST_CASE("damaged sampled traces never crash convert: they convert or give one error") {
  TempDir dir;
  const std::string good = R"({"stackFrames":{"1":{"name":"main","category":"/a"},"2":{"name":"f","parent":"1"},)"
                           R"("3":{"name":"g","parent":2}},"traceEvents":[{"ph":"X","name":"x","pid":1,"tid":1,"ts":0,"dur":5}],)"
                           R"("samples":[{"pid":1,"tid":1,"ts":1,"sf":"3","weight":1},{"tid":2,"ts":2,"sf":2},)"
                           R"({"pid":1,"ts":3,"sf":"1","weight":0.5}]})";
  std::mt19937 rng(77);
  const std::string damage = "\"\\]}[{ ,:x0-.e123";
  int errors = 0, converted = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string bad = good;
    for (int k = 1 + static_cast<int>(rng() % 3); k > 0 && !bad.empty(); --k) {
      std::size_t at = rng() % bad.size();
      if (rng() % 2)
        bad[at] = damage[rng() % damage.size()];
      else
        bad.erase(at, 1 + rng() % 6);
    }
    write_file(dir.file("d.json"), bad);
    ConvertStats stats;
    try {
      Timeline tl = viztrace::report::read_chrome_json(dir.file("d.json"), stats);
      for (const TimelineProcess& p : tl.processes)
        for (const TimelineThread& t : p.threads)
          for (const TimelineSample& s : t.samples) REQUIRE(s.stack < tl.stack_nodes.size());
      ++converted;
    } catch (const viztrace::Error& e) {
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
      ++errors;
    }
  }
  CHECK(errors > 500);
  CHECK(converted > 100);
}
