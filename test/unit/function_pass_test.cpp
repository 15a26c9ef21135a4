// FunctionPass: the records of function chunks (as the collector packs them) into slices.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "report/model/function_pass.h"
#include "synthetic_trace.h"

using namespace viztrace::report;

namespace {

constexpr std::uint32_t kPid = 100, kTid = 101, kImage = 7;

struct Recorded {
  std::vector<FunctionSlice> slices;
  FunctionPass::Sink sink() {
    return [this](const FunctionSlice& s) { slices.push_back(s); };
  }
};

vt_fn_record enter(std::uint64_t ts, std::uint64_t addr) { return {ts, addr}; }
vt_fn_record leave(std::uint64_t ts, std::uint64_t addr) { return {ts | VT_FN_EXIT, addr}; }

void feed(FunctionPass& pass, const std::vector<vt_fn_record>& records,
          std::uint8_t clock = VT_CLOCK_MONOTONIC, std::uint32_t tid = kTid) {
  auto chunk = viztrace::test::function_chunk(kPid, tid, kImage, records, clock);
  vt_chunk_header h;
  std::memcpy(&h, chunk.data(), sizeof h);
  pass.chunk(h, chunk.data() + sizeof h);
}

TraceModel model_with_process(std::uint64_t start, std::uint64_t end) {
  TraceModel m;
  Process p;
  p.pid = kPid;
  p.json_pid = kPid;
  p.start = start;
  p.end = end;
  p.images.push_back(Image{});
  m.processes.push_back(p);
  return m;
}

const FunctionSlice* find(const Recorded& r, const FunctionPass& pass, const std::string& name) {
  for (const FunctionSlice& s : r.slices)
    if (pass.name(s.name) == name) return &s;
  return nullptr;
}

}  // namespace

TEST_CASE("function pass: nested calls become slices with depth, self time and totals") {
  TraceModel m = model_with_process(0, 1000);
  ModuleMap modules;
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  feed(pass, {enter(10, 0xa0), enter(20, 0xb0), leave(30, 0xb0), enter(40, 0xb0), leave(45, 0xb0),
              leave(100, 0xa0)});
  pass.finish();
  REQUIRE(r.slices.size() == 3);
  // Each slice goes out when it ends: children first.
  CHECK(pass.name(r.slices[0].name) == "0xb0");
  CHECK(r.slices[0].start == 20);
  CHECK(r.slices[0].end == 30);
  CHECK(r.slices[0].depth == 1);
  CHECK(r.slices[2].start == 10);
  CHECK(r.slices[2].end == 100);
  CHECK(r.slices[2].depth == 0);
  CHECK(r.slices[2].pid == kPid);
  CHECK(r.slices[2].tid == kTid);
  auto top = pass.top(10);
  REQUIRE(top.size() == 2);
  CHECK(pass.name(top[0].name) == "0xa0");
  CHECK(top[0].self_ns == 90 - 15);
  CHECK(top[0].total_ns == 90);
  CHECK(top[1].count == 2);
  CHECK(top[1].self_ns == 15);
  CHECK(pass.counts().calls == 3);
  CHECK(pass.counts().unfinished == 0);
}

TEST_CASE("function pass: a return that skips frames ends them, a return without a call is ignored") {
  TraceModel m = model_with_process(0, 1000);
  ModuleMap modules;
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  // A calls B calls C, C longjmps back into A, which returns.
  feed(pass, {leave(5, 0xff), enter(10, 0xa0), enter(20, 0xb0), enter(30, 0xc0), leave(50, 0xa0)});
  pass.finish();
  REQUIRE(r.slices.size() == 3);
  for (const FunctionSlice& s : r.slices) {
    CHECK(s.end == 50);
    CHECK_FALSE(s.unfinished);
  }
  CHECK(pass.counts().skipped_returns == 2);
  CHECK(pass.counts().unmatched_returns == 1);
}

TEST_CASE("function pass: a clock that steps back on a thread never makes siblings overlap") {
  TraceModel m = model_with_process(0, 1000);
  ModuleMap modules;
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  // A ends at 40; B's entry reads 37 (the clock stepped back 3 ns), its return 45.
  feed(pass, {enter(10, 0xa0), leave(40, 0xa0), enter(37, 0xb0), leave(45, 0xb0)});
  pass.finish();
  REQUIRE(r.slices.size() == 2);
  CHECK(r.slices[0].start == 10);
  CHECK(r.slices[0].end == 40);
  CHECK(r.slices[1].start == 40);
  CHECK(r.slices[1].end == 45);
  CHECK(pass.counts().clock_steps_back == 1);
}

TEST_CASE("function pass: calls open at the end close at the thread's or process's end, unfinished") {
  TraceModel m = model_with_process(0, 500);
  Thread worker;
  worker.tid = 102;
  worker.start = 5;
  worker.end = 300;
  m.processes[0].threads.push_back(worker);
  ModuleMap modules;
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  feed(pass, {enter(10, 0xa0), enter(20, 0xb0)});
  feed(pass, {enter(15, 0xc0)}, VT_CLOCK_MONOTONIC, 102);
  pass.finish();
  REQUIRE(r.slices.size() == 3);
  for (const FunctionSlice& s : r.slices) {
    CHECK(s.unfinished);
    CHECK(s.end == (s.tid == 102 ? 300u : 500u));
  }
  CHECK(pass.counts().unfinished == 3);
}

TEST_CASE("function pass: TSC ticks land on the monotonic clock through the sampled pairs") {
  TraceModel m = model_with_process(0, 1'000'000'000);
  ModuleMap modules;
  Recorded r;
  // 3 ticks per ns from tick 30,000 at 10,000 ns.
  std::vector<ClockSample> clock = {{10'000, 30'000}, {1'010'000, 3'030'000}, {510'000, 1'530'000}};
  FunctionPass pass(m, modules, clock, {}, r.sink());
  feed(pass, {enter(15'000, 0xa0), enter(30'003, 0xb0), leave(3'030'000, 0xb0),
              leave(3'000'000'000, 0xa0)},
       VT_CLOCK_TSC);
  pass.finish();
  REQUIRE(r.slices.size() == 2);
  CHECK(r.slices[0].start == 10'001);
  CHECK(r.slices[0].end == 1'010'000);
  CHECK(r.slices[1].start == 5'000);  // before the first pair: mapped backwards
  CHECK(r.slices[1].end == 1'000'000'000);

  // Without two pairs TSC ticks cannot be placed: counted, never guessed.
  Recorded none;
  FunctionPass unmapped(m, modules, {{10'000, 30'000}}, {}, none.sink());
  feed(unmapped, {enter(40'000, 0xa0), leave(50'000, 0xa0)}, VT_CLOCK_TSC);
  unmapped.finish();
  CHECK(none.slices.empty());
  CHECK(unmapped.counts().unmapped == 2);
}

TEST_CASE("function pass: filters hide calls but keep them in their callers' self time") {
  TraceModel m = model_with_process(0, 1000);
  ModuleMap modules;
  FunctionFilter filter;
  filter.exclude = "^0xb";
  filter.min_duration_ns = 5;
  Recorded r;
  FunctionPass pass(m, modules, {}, filter, r.sink());
  feed(pass, {enter(10, 0xa0), enter(20, 0xb0), leave(60, 0xb0), enter(70, 0xc0), leave(72, 0xc0),
              leave(100, 0xa0)});
  pass.finish();
  REQUIRE(r.slices.size() == 1);
  CHECK(pass.name(r.slices[0].name) == "0xa0");
  CHECK(find(r, pass, "0xb0") == nullptr);
  CHECK(pass.counts().calls == 3);
  CHECK(pass.counts().shown == 1);
  CHECK(pass.top(1)[0].self_ns == 90 - 40 - 2);

  FunctionFilter include;
  include.include = "c0$";
  Recorded only_c;
  FunctionPass pass_c(m, modules, {}, include, only_c.sink());
  feed(pass_c, {enter(10, 0xa0), enter(70, 0xc0), leave(72, 0xc0), leave(100, 0xa0)});
  pass_c.finish();
  REQUIRE(only_c.slices.size() == 1);
  CHECK(pass_c.name(only_c.slices[0].name) == "0xc0");

  FunctionFilter bad;
  bad.include = "([";
  CHECK_THROWS_WITH(FunctionPass(m, modules, {}, bad, r.sink()),
                    Catch::StartsWith("include pattern '([' is not a valid regular expression"));
}

TEST_CASE("function pass: names come from the module that holds the address") {
  TraceModel m = model_with_process(0, 1000);
  // A module that is not a readable ELF file: the fallback names it and the offset.
  ModuleHistory history;
  history.add(image_key(kPid, kImage), 5,
              Module{0x400000, 0x401000, 0x402000, "/nonexistent/libx.so"});
  const ModuleMap modules = history.modules();
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  feed(pass, {enter(10, 0x401234), leave(20, 0x401234), enter(30, 0x900000), leave(40, 0x900000)});
  pass.finish();
  REQUIRE(r.slices.size() == 2);
  CHECK(pass.name(r.slices[0].name) == "libx.so+0x1234");
  CHECK(pass.name(r.slices[1].name) == "0x900000");
}

namespace {

// What FunctionEvents receives, per thread handle, and the slices it makes.
struct Ordered final : FunctionEvents {
  struct Event {
    std::uint64_t ts;
    bool begin;
    std::uint32_t name;
    bool unfinished;
  };
  std::vector<std::pair<std::uint32_t, std::uint32_t>> threads;  // handle - 1 -> (pid, tid)
  std::vector<std::vector<Event>> events;                        // by handle - 1

  std::uint32_t thread(std::uint32_t pid, std::uint32_t tid) override {
    threads.emplace_back(pid, tid);
    events.emplace_back();
    return static_cast<std::uint32_t>(threads.size());
  }
  void begin(std::uint32_t h, std::uint64_t ts, std::uint32_t name) override {
    events.at(h - 1).push_back({ts, true, name, false});
  }
  void end(std::uint32_t h, std::uint64_t ts, bool unfinished) override {
    events.at(h - 1).push_back({ts, false, 0, unfinished});
  }
  // The slices as (tid, start, end, name, unfinished, depth); problems when out of order.
  using Key = std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::uint32_t, bool,
                         std::uint32_t>;
  std::vector<Key> slices(std::vector<std::string>& problems) const {
    std::vector<Key> out;
    for (std::size_t h = 0; h < events.size(); ++h) {
      std::vector<Event> open;
      std::uint64_t last = 0;
      for (const Event& e : events[h]) {
        if (e.ts < last) problems.push_back("time goes back");
        last = e.ts;
        if (e.begin) {
          open.push_back(e);
          continue;
        }
        if (open.empty()) {
          problems.push_back("end without begin");
          continue;
        }
        out.emplace_back(threads[h].second, open.back().ts, e.ts, open.back().name, e.unfinished,
                         static_cast<std::uint32_t>(open.size() - 1));
        open.pop_back();
      }
      if (!open.empty()) problems.push_back("begin without end");
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

TEST_CASE("function pass: time-ordered events make the same slices as the sink, filters and all") {
  TraceModel m = model_with_process(0, 1'000'000'000);
  ModuleMap modules;
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    FunctionFilter filter;
    if (round % 4 == 1) filter.min_duration_ns = 50;
    if (round % 4 == 2) filter.exclude = "^0xb";
    if (round % 4 == 3) filter.min_duration_ns = 200, filter.include = "0x[ab]";
    INFO("round " << round << " min " << filter.min_duration_ns);
    Recorded r;
    Ordered ordered;
    FunctionPass pass(m, modules, {}, filter, r.sink());
    pass.set_events(&ordered);
    for (std::uint32_t tid : {kTid, kTid + 1}) {
      // Random calls: deep and shallow, short and long, a longjmp now and then, some left open.
      std::vector<vt_fn_record> recs;
      std::vector<std::uint64_t> stack;
      std::uint64_t ts = 1000;
      for (int i = 0; i < 400; ++i) {
        ts += 1 + rng() % 120;
        unsigned dice = rng() % 10;
        if (stack.empty() || (dice < 5 && stack.size() < 12)) {
          std::uint64_t addr = 0xa0 + 0x10 * (rng() % 5);
          stack.push_back(addr);
          recs.push_back(enter(ts, addr));
        } else if (dice == 9 && stack.size() > 2) {
          stack.resize(stack.size() - 2);  // returns from the frame 2 below the top
          recs.push_back(leave(ts, stack.back()));
          stack.pop_back();
        } else {
          recs.push_back(leave(ts, stack.back()));
          stack.pop_back();
        }
      }
      for (std::size_t at = 0; at < recs.size(); at += 100)  // several chunks
        feed(pass,
             std::vector<vt_fn_record>(recs.begin() + at,
                                       recs.begin() + std::min(recs.size(), at + 100)),
             VT_CLOCK_MONOTONIC, tid);
    }
    pass.finish();
    std::vector<Ordered::Key> from_sink;
    for (const FunctionSlice& s : r.slices)
      from_sink.emplace_back(s.tid, s.start, s.end, s.name, s.unfinished, s.depth);
    std::sort(from_sink.begin(), from_sink.end());
    std::vector<std::string> problems;
    auto from_events = ordered.slices(problems);
    CHECK(problems.empty());
    CHECK(from_events.size() == from_sink.size());
    CHECK(from_events.size() == pass.counts().shown);
    CHECK(pass.counts().shown > 0);
    // Depth differs where a hidden caller does not count in the ordered stream: compare
    // everything else.
    auto strip = [](std::vector<Ordered::Key> v) {
      for (auto& k : v) std::get<5>(k) = 0;
      std::sort(v.begin(), v.end());
      return v;
    };
    CHECK(strip(from_events) == strip(from_sink));
    REQUIRE(ordered.threads.size() == 2);
    CHECK(ordered.threads[0].first == kPid);
  }
}

TEST_CASE("function pass: an address that held two libraries in turn is named by the time") {
  TraceModel m = model_with_process(0, 1000);
  ModuleHistory history;
  const std::uint64_t key = image_key(kPid, kImage);
  history.add(key, 100, Module{0x400000, 0x401000, 0x402000, "/nonexistent/liba.so"});
  history.add(key, 300, Module{0x400000, 0x401000, 0x402000, "/nonexistent/libb.so"});
  const ModuleMap modules = history.modules();
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  feed(pass, {enter(10, 0x401234), leave(20, 0x401234), enter(400, 0x401234), leave(410, 0x401234),
              enter(420, 0x401234), leave(430, 0x401234)});
  pass.finish();
  REQUIRE(r.slices.size() == 3);
  CHECK(pass.name(r.slices[0].name) == "liba.so+0x1234");
  CHECK(pass.name(r.slices[1].name) == "libb.so+0x1234");
  CHECK(pass.name(r.slices[2].name) == "libb.so+0x1234");
}
