// FunctionPass: records of VT_KIND_FUNCTIONS chunks into slices.
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "report/function_pass.h"

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
  vt_chunk_header h = {};
  h.magic = VT_WIRE_MAGIC;
  h.version = VT_WIRE_VERSION;
  h.kind = VT_KIND_FUNCTIONS;
  h.pid = kPid;
  h.tid = tid;
  h.image = kImage;
  h.nrec = static_cast<std::uint16_t>(records.size());
  h.length = static_cast<std::uint16_t>(sizeof h + records.size() * sizeof(vt_fn_record));
  h.reserved = clock;
  std::vector<unsigned char> body(records.size() * sizeof(vt_fn_record));
  if (!records.empty()) std::memcpy(body.data(), records.data(), body.size());
  pass.chunk(h, body.data());
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
                    Catch::Contains("--include '([' is not a valid regular expression"));
}

TEST_CASE("function pass: names come from the module that holds the address") {
  TraceModel m = model_with_process(0, 1000);
  ModuleMap modules;
  // A module that is not a readable ELF file: the fallback names it and the offset.
  modules[image_key(kPid, kImage)].push_back(Module{0x400000, 0x401000, 0x402000, "/nonexistent/libx.so"});
  Recorded r;
  FunctionPass pass(m, modules, {}, {}, r.sink());
  feed(pass, {enter(10, 0x401234), leave(20, 0x401234), enter(30, 0x900000), leave(40, 0x900000)});
  pass.finish();
  REQUIRE(r.slices.size() == 2);
  CHECK(pass.name(r.slices[0].name) == "libx.so+0x1234");
  CHECK(pass.name(r.slices[1].name) == "0x900000");
  CHECK(pass.name_member(r.slices[0].name) == R"("name":"libx.so+0x1234")");
}
