// The Perfetto writer: the protobuf encoder, the .pftrace decoded back and compared with the
// JSON report of the same spill (slices, names, nesting, per-thread order, args), interning,
// both timestamp encodings, sampled stacks as perf samples, and `convert` (JSON -> Timeline ->
// .pftrace) giving the same trace.
#include "report/writers/perfetto_writer.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <tuple>

#include "proto_decoder.h"
#include "report/readers/chrome_json_converter.h"
#include "report/writers/chrome_json_writer.h"
#include "report/writers/html_writer.h"
#include "report/model/process_table.h"
#include "report/writers/proto_encoder.h"
#include "report/model/record_decoder.h"
#include "report/report.h"
#include "spill/spill_reader.h"
#include "string_sink.h"
#include "synthetic_trace.h"

using viztrace::report::Arg;
using viztrace::report::PerfettoWriter;
using viztrace::report::ProtoEncoder;
using viztrace::report::ReportOptions;
using viztrace::report::SliceKind;
using viztrace::report::Timeline;
using viztrace::report::write_report;
using namespace viztrace::test;
using R = ParsedReport;

namespace {

constexpr std::uint64_t T0 = 9'000'000'000;
constexpr std::int32_t kViztrace = 1000;
constexpr std::int64_t kReuse = 4194304;

// A session with a process tree, an exec chain, a reused pid, named threads, a failed spawn,
// signals and hostile strings.
std::vector<Stream::Chunk> scenario() {
  Stream c(kViztrace, kViztrace, 1, VT_CHUNK_COLLECTOR);
  const std::vector<std::string> hostile = {"tool", "</script><script>alert(1)</script>",
                                            "quote\"back\\slash", "bad\xff\xfe utf8",
                                            "caf\xc3\xa9\xe2\x80\xa8"};
  c.session(T0, 1700000000123456789ull, 2000, kViztrace, {"sh", "-c", "build"}, "/work");
  c.spawn(T0 + 100'000, 2000, "/bin/sh", {"sh", "-c", "build"});
  Stream sh(2000, 2000, 1);
  sh.proc_start(T0 + 200'000, kViztrace, {"sh", "-c", "build"}, "/bin/sh", "/work");
  Stream first(5000, 5000, 0x51), one(5000, 5000, 0x53), second(5000, 5000, 0x52),
      worker(5000, 5001, 0x52), helper(5000, 5002, 0x52);
  sh.fork(T0 + 1'000'000, 5000);
  first.proc_start(T0 + 1'000'100, 2000, {"sh"}, "/bin/sh", "/work", VT_PROC_FORKED);
  first.exec(T0 + 1'100'000, "/bin/one", {"one", "x"});
  one.proc_start(T0 + 1'200'000, 2000, {"one", "x"}, "/bin/one", "/work");
  one.exit(T0 + 2'000'000, 0);
  sh.reap(T0 + 2'100'000, 5000, 0);
  sh.spawn(T0 + 3'000'000, 5000, "/usr/bin/tool", hostile);  // the pid came round again
  second.proc_start(T0 + 2'999'000, 2000, hostile, "/usr/bin/t\xffol", "/work");
  worker.thread_start(T0 + 3'500'000);
  worker.thread_name(T0 + 3'510'000, 5001, "worker-\x01");
  worker.spawn(T0 + 3'550'000, 0, "/usr/bin/nope", {"nope", "-x"}, 0, ENOENT);
  worker.thread_exit(T0 + 3'600'000);
  helper.thread_start(T0 + 3'520'000);
  helper.thread_exit(T0 + 3'580'000);
  c.signal(T0 + 3'700'000, SIGINT, 2000);
  second.exit(T0 + 4'000'000, 3);
  sh.reap(T0 + 4'100'000, 5000, 3 << 8);
  sh.exit(T0 + 5'000'000, 0);
  c.reap(T0 + 5'100'000, 2000, 0);
  return interleave({&c, &sh, &first, &one, &second, &worker, &helper}, 7);
}

// One slice as both formats can tell it: times in ns from the session start.
using SliceKey = std::tuple<std::string, std::string, std::int64_t, std::int64_t>;
// (real pid, tid, the thread's slices in order, its instants' names in order)
using ThreadKey =
    std::tuple<std::int64_t, std::int64_t, std::vector<SliceKey>, std::vector<std::string>>;

std::int64_t json_ns(double us) {
  return std::llround(us * 1000);
}

std::vector<ThreadKey> json_threads(const ParsedReport& r) {
  std::map<std::pair<std::int64_t, std::int64_t>, ThreadKey> by;
  for (auto e : r.find("X")) {
    auto k = std::make_pair(R::num(e, "pid"), R::num(e, "tid"));
    ThreadKey& t = by[k];
    std::get<0>(t) = k.first % kReuse;
    std::get<1>(t) = k.second % kReuse;
    // Function slices carry no category in a pftrace.
    std::string cat = R::str(e, "cat");
    if (cat == "function") cat.clear();
    std::get<2>(t).emplace_back(R::str(e, "name"), cat, json_ns(R::ts(e)),
                                json_ns(R::dur(e)));
  }
  for (auto e : r.find("i")) {
    if (R::str(e, "s") == "g") continue;
    auto k = std::make_pair(R::num(e, "pid"), R::num(e, "tid"));
    ThreadKey& t = by[k];
    std::get<0>(t) = k.first % kReuse;
    std::get<1>(t) = k.second % kReuse;
    std::get<3>(t).push_back(R::str(e, "name"));
  }
  std::vector<ThreadKey> out;
  for (auto& [k, t] : by) out.push_back(t);
  std::sort(out.begin(), out.end());
  return out;
}

struct Pftrace {
  DecodedTrace trace;
  std::map<std::uint64_t, TrackContent> content;
  std::vector<std::string> nesting_problems;
  std::uint64_t origin = 0;  // the session slice's start

  explicit Pftrace(std::string_view bytes) : trace(decode_pftrace(bytes)) {
    content = slices_by_track(trace, nesting_problems);
    for (const auto& [uuid, c] : content)
      for (const DecodedSlice& s : c.slices)
        if (s.category == "viztrace") origin = s.start;
  }
  std::vector<ThreadKey> threads() const {
    std::vector<ThreadKey> out;
    for (const auto& [uuid, c] : content) {
      const DecodedTrack* t = trace.track(uuid);
      if (!t || t->kind != DecodedTrack::Kind::thread) continue;
      ThreadKey k;
      std::get<0>(k) = t->pid;
      std::get<1>(k) = t->tid;
      for (const DecodedSlice& s : c.slices)
        std::get<2>(k).emplace_back(s.name, s.category, static_cast<std::int64_t>(s.start - origin),
                                    static_cast<std::int64_t>(s.end - s.start));
      for (const DecodedEvent& e : c.instants) std::get<3>(k).push_back(e.name);
      out.push_back(std::move(k));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The slices of the thread track (pid, tid); several when the pid was reused.
  std::vector<const TrackContent*> of(std::int64_t pid, std::int64_t tid) const {
    std::vector<const TrackContent*> out;
    for (const auto& [uuid, c] : content) {
      const DecodedTrack* t = trace.track(uuid);
      if (t && t->kind == DecodedTrack::Kind::thread && t->pid == pid && t->tid == tid)
        out.push_back(&c);
    }
    return out;
  }
  const TrackContent* named(const std::string& name) const {
    for (const auto& [uuid, c] : content) {
      const DecodedTrack* t = trace.track(uuid);
      if (t && t->kind == DecodedTrack::Kind::named && t->name == name) return &c;
    }
    return nullptr;
  }
};

std::string report_of(const TempDir& dir, const std::vector<Stream::Chunk>& chunks,
                      const std::string& name) {
  SyntheticSpill spill(dir);
  spill.add(chunks);
  ReportOptions o;
  o.output = dir.file(name);
  o.quiet = true;
  write_report(spill.dir(), o);
  return read_file(o.output);
}

void require_clean(const DecodedTrace& t, const std::vector<std::string>& more = {}) {
  std::vector<std::string> all = t.problems;
  all.insert(all.end(), more.begin(), more.end());
  INFO((all.empty() ? std::string() : all.front()));
  REQUIRE(all.empty());
}

}  // namespace

TEST_CASE("ProtoEncoder: minimal varints, nested lengths past 127 bytes, UTF-8 made valid") {
  ProtoEncoder enc(16);  // small: growing is exercised too
  enc.varint_field(1, 0);
  enc.varint_field(2, 300);
  enc.int_field(3, -1);
  enc.begin_nested(4);
  enc.bytes_field(1, std::string(200, 'x'));  // the body outgrows its one length byte
  enc.begin_nested(2);
  enc.varint_field(1, 7);
  enc.end_nested();
  enc.end_nested();
  enc.text_field(5, "ok\xff\xc3\xa9\xed\xa0\x80");
  enc.double_field(6, 1.5);
  std::string_view bytes(enc.data(), enc.size());
  CHECK(bytes.substr(0, 5) == std::string_view("\x08\x00\x10\xac\x02", 5));
  auto fields = decode_message(bytes);
  REQUIRE(fields.size() == 6);
  CHECK(fields[1].value == 300);
  CHECK(fields[2].value == UINT64_MAX);  // int64 -1: ten bytes, as protobuf encodes it
  CHECK(fields[3].bytes.size() == 3 + 200 + 4);
  CHECK(bytes.substr(bytes.find('\x22'), 3) ==
        std::string_view("\x22\xcf\x01", 3));  // 207: 2 bytes
  auto inner = decode_message(fields[3].bytes);
  REQUIRE(inner.size() == 2);
  CHECK(inner[0].bytes == std::string(200, 'x'));
  CHECK(decode_message(inner[1].bytes)[0].value == 7);
  CHECK(fields[4].bytes == "ok\\xff\xc3\xa9\\xed\\xa0\\x80");
  CHECK(detail::as_double(fields[5].value) == 1.5);
}

TEST_CASE("pftrace and JSON reports of one spill: same slices, names, nesting, order, args") {
  TempDir dir;
  auto chunks = scenario();
  ParsedReport json(report_of(dir, chunks, "r.json"));
  std::string bytes = report_of(dir, chunks, "r.pftrace");
  Pftrace pf(bytes);
  require_clean(pf.trace, pf.nesting_problems);
  CHECK(pf.trace.primary_clock == 3u);  // CLOCK_MONOTONIC

  // Every thread: the same slices (name, category, start, duration) in the same order.
  auto from_json = json_threads(json);
  auto from_pf = pf.threads();
  CHECK(from_pf == from_json);
  std::size_t slices = 0;
  for (const auto& t : from_json) slices += std::get<2>(t).size();
  CHECK(slices == json.find("X").size());
  CHECK(slices >= 6);

  // The reused pid: two process tracks, the thread under the second one.
  std::vector<const DecodedTrack*> procs5000;
  for (const DecodedTrack& t : pf.trace.tracks)
    if (t.kind == DecodedTrack::Kind::process && t.pid == 5000) procs5000.push_back(&t);
  REQUIRE(procs5000.size() == 2);
  CHECK(procs5000[0]->uuid != procs5000[1]->uuid);
  CHECK(procs5000[0]->name == "one");
  CHECK(procs5000[1]->name == "t\\xffol");  // the file exec'd, invalid byte visible
  for (const DecodedTrack& t : pf.trace.tracks)
    if (t.kind == DecodedTrack::Kind::thread && t.tid == 5001) {
      CHECK(t.parent == procs5000[1]->uuid);
      CHECK(t.name == "worker-\x01");
    }

  // Args: the image of the reused pid, hostile argv and all, as in the JSON.
  auto tool = pf.of(5000, 5000);
  REQUIRE(tool.size() == 2);
  const TrackContent* second = tool[0]->slices.front().name == "t\\xffol" ? tool[0] : tool[1];
  const auto& args = second->slices.front().args;
  auto jtool = json.find("X", "process", 5000 + kReuse).at(0);
  std::vector<std::string> jargv = R::strings(jtool["args"]["argv"].value());
  REQUIRE(jargv.size() == 5);
  for (std::size_t i = 0; i < jargv.size(); ++i)
    CHECK(args.at("argv[" + std::to_string(i) + "]") == jargv[i]);
  CHECK(args.at("argv[3]") == "bad\\xff\\xfe utf8");  // invalid bytes visible as \xNN in both
  CHECK(args.at("exe") == R::str(jtool["args"], "exe"));
  CHECK(args.at("exit_code") == "3");
  CHECK(args.at("pid") == "5000");
  CHECK(args.at("ppid") == "2000");
  CHECK(args.at("started_by") == "spawn");
  CHECK(args.at("traced") == "true");

  // Global instants on the trace-wide track, inside the session slice with the metadata.
  const TrackContent* global = pf.named("viztrace");
  REQUIRE(global);
  REQUIRE(global->slices.size() == 1);
  const auto& meta = global->slices[0].args;
  CHECK(meta.at("command[2]") == "build");
  CHECK(meta.at("events") == std::to_string(R::num(json.metadata(), "events")));
  CHECK(meta.at("exit_status.exit_code") == "0");
  CHECK(meta.at("lost.seq_gaps") == "0");
  REQUIRE(global->instants.size() == 1);
  CHECK(global->instants[0].name == "viztrace got SIGINT");
  CHECK(global->instants[0].args.at("forwarded_to") == "2000");
  auto jsig = json.find("i", "", kViztrace).at(0);
  CHECK(static_cast<std::int64_t>(global->instants[0].ts - pf.origin) == json_ns(R::ts(jsig)));

  // The failed spawn, on the worker's track.
  auto worker = pf.of(5000, 5001);
  REQUIRE(worker.size() == 1);
  REQUIRE(worker[0]->instants.size() == 1);
  CHECK(worker[0]->instants[0].name == "spawn failed: nope");
  CHECK(worker[0]->instants[0].args.at("error") == "ENOENT");

  // Smaller than the JSON even here, where argv strings and per-thread setup dominate.
  CHECK(bytes.size() < json.text().size());
}


TEST_CASE("pftrace and JSON reports of function calls: same slices, nesting, unfinished, filters") {
  TempDir dir;
  auto chunks = function_scenario(T0, kViztrace);
  for (std::uint64_t min_ns : {0, 700, 50'000}) {
    INFO("--min-duration " << min_ns << " ns");
    auto report = [&](const std::string& name) {
      SyntheticSpill spill(dir);
      spill.add(chunks);
      ReportOptions o;
      o.output = dir.file(name);
      o.quiet = true;
      o.filter.min_duration_ns = min_ns;
      write_report(spill.dir(), o);
      return read_file(o.output);
    };
    ParsedReport json(report("f.json"));
    Pftrace pf(report("f.pftrace"));
    require_clean(pf.trace, pf.nesting_problems);
    // The JSON has each call when it returned, the pftrace when it began: compare by start,
    // outermost first.
    auto by_start = [](std::vector<ThreadKey> threads) {
      for (ThreadKey& t : threads)
        std::sort(std::get<2>(t).begin(), std::get<2>(t).end(),
                  [](const SliceKey& a, const SliceKey& b) {
                    return std::make_tuple(std::get<2>(a), -std::get<3>(a), std::get<0>(a)) <
                           std::make_tuple(std::get<2>(b), -std::get<3>(b), std::get<0>(b));
                  });
      return threads;
    };
    auto from_json = by_start(json_threads(json));
    auto from_pf = by_start(pf.threads());
    REQUIRE(from_pf.size() == from_json.size());
    for (std::size_t i = 0; i < from_json.size(); ++i) {
      INFO("thread " << std::get<1>(from_json[i]));
      CHECK(std::get<1>(from_pf[i]) == std::get<1>(from_json[i]));
      CHECK(std::get<2>(from_pf[i]) == std::get<2>(from_json[i]));
      CHECK(std::get<3>(from_pf[i]) == std::get<3>(from_json[i]));
    }
    std::size_t calls = 0;
    for (auto e : json.find("X"))
      if (R::str(e, "cat") == "function") ++calls;
    CHECK(calls == (min_ns == 0 ? 9u + 51u : min_ns == 700 ? 7u + 31u : 2u + 1u));
    // The calls left open are marked in both.
    std::size_t unfinished_json = 0, unfinished_pf = 0;
    for (auto e : json.find("X")) {
      bool u = false;
      if (!e["args"]["unfinished"].get(u) && u) ++unfinished_json;
    }
    for (const auto& [uuid, c] : pf.content)
      for (const DecodedSlice& s : c.slices)
        if (s.args.count("unfinished") && s.args.at("unfinished") == "true") ++unfinished_pf;
    CHECK(unfinished_json == 2);  // main's last call and the worker's
    CHECK(unfinished_pf == unfinished_json);
    // Each thread's calls sit inside the thread's own slice, on its track.
    for (const TrackContent* t : pf.of(3000, 3001)) {
      REQUIRE_FALSE(t->slices.empty());
      CHECK(t->slices.front().category == "thread");
      for (std::size_t i = 1; i < t->slices.size(); ++i) CHECK(t->slices[i].depth >= 1);
    }
  }
}

TEST_CASE("pftrace interning: each name stored once per sequence, a few bytes per event") {
  Timeline tl;
  tl.origin = T0;
  auto& p = tl.processes.emplace_back();
  p.pid = 42;
  p.name = "prog";
  const char* names[] = {"main", "parse(std::string_view)", "eval(Node const&)", "lookup"};
  for (std::uint32_t tid : {42u, 43u}) {
    auto& t = p.threads.emplace_back();
    t.tid = tid;
    t.name = "t" + std::to_string(tid);
    std::uint64_t at = T0 + 1000;
    for (int i = 0; i < 25000; ++i) {  // main > parse > eval > lookup, 100k slices per thread
      std::uint64_t s = at;
      for (int d = 0; d < 4; ++d) {
        auto& sl = t.slices.emplace_back();
        sl.start = s + d * 10;
        sl.end = s + 400 - d * 10;
        sl.name = tl.intern(names[d]);
        sl.kind = SliceKind::function;
      }
      at += 500;
    }
    auto& mark = t.instants.emplace_back();
    mark.ts = T0 + 5000;
    mark.name = tl.intern("mark");
    mark.args = {Arg::of("n", 1)};
  }
  tl.end = T0 + 13'000'000;
  REQUIRE(tl.normalize() == 0);

  for (auto encoding :
       {PerfettoWriter::Encoding::incremental, PerfettoWriter::Encoding::absolute}) {
    StringSink sink;
    std::uint64_t written = viztrace::report::write_perfetto(tl, sink, encoding);
    CHECK(written == sink.bytes.size());
    Pftrace pf(sink.bytes);
    require_clean(pf.trace, pf.nesting_problems);
    std::size_t begins = 0;
    for (const auto& e : pf.trace.events) begins += e.type == 1;
    CHECK(begins == 200000);
    for (const auto& [seq, copies] : pf.trace.interned_copies)
      for (const auto& [name, n] : copies) {
        INFO(name);
        CHECK(n == 1);
      }
    CHECK(pf.trace.interned_copies.size() == 2);  // one sequence per thread
    for (const auto& [uuid, c] : pf.content) {
      if (c.slices.empty()) continue;
      CHECK(c.slices[3].name == "lookup");
      CHECK(c.slices[3].depth == 3);
      CHECK(c.slices[3].start == T0 + 1030);
      CHECK(c.slices[3].end == T0 + 1370);
      CHECK(c.slices.back().end == T0 + 1000 + 24999 * 500 + 370);
      REQUIRE(c.instants.size() == 1);
      CHECK(c.instants[0].args.at("n") == "1");
    }
    double per_slice = static_cast<double>(sink.bytes.size()) / 200000;
    INFO("bytes per slice (BEGIN+END): " << per_slice);
    if (encoding == PerfettoWriter::Encoding::incremental)
      CHECK(per_slice < 30);
    else
      CHECK(per_slice < 45);
  }
}

namespace {

struct ExpectedSample {
  std::uint64_t ts;
  std::int64_t pid, tid;
  std::vector<DecodedFrame> frames;  // outermost first
};

// A program sampled on two threads and a second process: frames of an executable and a library
// (paths sharing their first parts), one without module and source, stacks sharing their outer
// frames, a sample without frames. Returns what the pftrace must tell of each sample.
std::vector<ExpectedSample> add_samples(Timeline& tl, int repeats) {
  auto frame = [&](const char* name, const char* module, const char* file, std::uint32_t line) {
    viztrace::report::TimelineFrame f;
    f.name = tl.intern(name);
    if (module) f.module = tl.intern(module);
    if (file) f.file = tl.intern(file), f.line = line;
    return tl.intern_frame(f);
  };
  const std::string prog = "/opt/app/bin/prog", lib = "/opt/app/lib/libspin.so";
  const DecodedFrame start{"_start", prog, ""}, main{"main", prog, "prog.c:10"},
      work{"work", prog, "prog.c:20"}, spin{"lib_spin", lib, "spin.c:3"},
      unknown{"[unknown]", "", ""};
  const std::uint32_t f_start = frame("_start", prog.c_str(), nullptr, 0),
                      f_main = frame("main", prog.c_str(), "prog.c", 10),
                      f_work = frame("work", prog.c_str(), "prog.c", 20),
                      f_spin = frame("lib_spin", lib.c_str(), "spin.c", 3),
                      f_unknown = frame("[unknown]", nullptr, nullptr, 0);
  auto stack = [&](std::initializer_list<std::uint32_t> frames) {  // outermost first
    std::uint32_t node = 0;
    for (std::uint32_t f : frames) node = tl.intern_stack(node, f);
    return node;
  };
  const std::uint32_t in_spin = stack({f_start, f_main, f_work, f_spin}),
                      in_work = stack({f_start, f_main, f_work}),
                      in_unknown = stack({f_start, f_main, f_unknown});
  tl.processes.reserve(2);  // the threads below are held by reference
  auto& p = tl.processes.emplace_back();
  p.pid = 100;
  p.name = "prog";
  p.threads.reserve(2);
  auto& main_thread = p.threads.emplace_back();
  main_thread.tid = 100;
  auto& worker = p.threads.emplace_back();
  worker.tid = 101;
  auto& q = tl.processes.emplace_back();
  q.pid = 200;
  q.name = "other";
  auto& other = q.threads.emplace_back();
  other.tid = 200;
  std::vector<ExpectedSample> expected;
  auto sample = [&](viztrace::report::TimelineThread& t, std::int64_t pid, std::uint64_t ts,
                    std::uint32_t node, std::vector<DecodedFrame> frames) {
    t.samples.push_back({ts, node, 1'000'000});
    expected.push_back({ts, pid, t.tid, std::move(frames)});
  };
  sample(other, 200, T0 + 300, 0, {});
  sample(other, 200, T0 + 700, in_spin, {start, main, work, spin});
  for (int i = 0; i < repeats; ++i) {
    const std::uint64_t at = T0 + 1000 + 1'000'000 * std::uint64_t(i);
    if (i % 2)
      sample(main_thread, 100, at, in_spin, {start, main, work, spin});
    else
      sample(main_thread, 100, at, in_work, {start, main, work});
    sample(worker, 100, at + 500, in_unknown, {start, main, unknown});
  }
  std::sort(expected.begin(), expected.end(),
            [](const ExpectedSample& a, const ExpectedSample& b) { return a.ts < b.ts; });
  return expected;
}

}  // namespace

TEST_CASE("pftrace samples: perf samples on their threads, interned callstacks of the right "
          "frames, mappings and sources, the sampling in the metadata") {
  Timeline tl;
  tl.origin = T0;
  tl.end = T0 + 2'000'000'000;
  std::vector<ExpectedSample> expected = add_samples(tl, 1000);
  // The session slice was made before the sampling's counts were known.
  tl.metadata = {Arg::dict_of("sampling", {Arg::of("method", "perf_event"), Arg::of("hz", 999)})};
  tl.global.name = "viztrace";
  auto& session = tl.global.slices.emplace_back();
  session.start = T0;
  session.end = tl.end;
  session.name = tl.intern("viztrace run");
  session.kind = SliceKind::session;
  REQUIRE(tl.normalize() == 0);

  for (auto encoding :
       {PerfettoWriter::Encoding::incremental, PerfettoWriter::Encoding::absolute}) {
    StringSink sink;
    viztrace::report::write_perfetto(tl, sink, encoding);
    Pftrace pf(sink.bytes);
    require_clean(pf.trace, pf.nesting_problems);
    const auto& samples = pf.trace.samples;
    REQUIRE(samples.size() == expected.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
      INFO("sample " << i);
      CHECK(samples[i].ts == expected[i].ts);
      CHECK(samples[i].pid == expected[i].pid);
      CHECK(samples[i].tid == expected[i].tid);
      CHECK(samples[i].frames == expected[i].frames);
      CHECK(samples[i].seq == samples[0].seq);  // one sequence: one profiling session
    }
    CHECK(samples[0].callstack == 0);  // no frame known: no callstack
    // Everything interned once, in the packet that first needs it, the path parts shared.
    REQUIRE(pf.trace.profile_copies.size() == 1);
    const auto& copies = pf.trace.profile_copies.begin()->second;
    for (const auto& [what, n] : copies) {
      INFO(what);
      CHECK(n == 1);
    }
    CHECK(copies.count("path:opt"));
    CHECK(copies.count("mapping:/opt/app/lib/libspin.so"));
    CHECK(copies.count("mapping:"));  // the unknown module's
    CHECK(copies.count("source:prog.c"));
    std::size_t frames = 0, callstacks = 0;
    for (const auto& [what, n] : copies) {
      frames += what.starts_with("frame:");
      callstacks += what.starts_with("callstack:");
    }
    CHECK(frames == 5);
    CHECK(callstacks == 3);
    // The metadata as it stands at the end, on the session slice.
    const TrackContent* trace_wide = pf.named("viztrace");
    REQUIRE(trace_wide);
    REQUIRE(trace_wide->slices.size() == 1);
    CHECK(trace_wide->slices[0].args.at("sampling.method") == "perf_event");
    CHECK(trace_wide->slices[0].args.at("sampling.hz") == "999");
    // A sample whose stack is known costs a few bytes.
    Timeline bare = tl;
    for (auto& p : bare.processes)
      for (auto& t : p.threads) t.samples.clear();
    StringSink without;
    viztrace::report::write_perfetto(bare, without, encoding);
    const double per_sample =
        double(sink.bytes.size() - without.bytes.size()) / double(samples.size());
    INFO("bytes per sample: " << per_sample);
    CHECK(per_sample < (encoding == PerfettoWriter::Encoding::incremental ? 19 : 22));
  }
}

TEST_CASE("pftrace: an event out of time order on its sequence is written at the last time") {
  StringSink sink;
  PerfettoWriter w(sink);
  w.begin(T0, 0);
  auto uuid = w.new_uuid();
  auto seq = w.new_sequence(uuid);
  w.named_track(seq, uuid, 0, "t");
  w.begin_event(seq, T0 + 100, PerfettoWriter::kInstant, "a");
  w.end_event();
  w.begin_event(seq, T0 + 50, PerfettoWriter::kInstant, "b");
  w.end_event();
  w.counter(seq, T0 + 200, 2.5, uuid);
  w.finish();
  DecodedTrace t = decode_pftrace(sink.bytes);
  require_clean(t);
  REQUIRE(t.events.size() == 3);
  CHECK(t.events[1].ts == T0 + 100);
  CHECK(t.events[2].counter == 2.5);
  CHECK_THROWS(w.arg("x", std::int64_t{1}));  // no event open
}

namespace {

// convert's own .pftrace path: the outline, then the slices streamed thread by thread.
Pftrace streamed_pftrace(const std::string& path) {
  viztrace::report::ConvertStats stats;
  viztrace::report::ConvertedTrace trace(path, stats);
  StringSink sink;
  trace.write_perfetto(sink);
  return Pftrace(sink.bytes);
}

}  // namespace

TEST_CASE("convert: a JSON report becomes the same pftrace as the report written directly") {
  TempDir dir;
  auto chunks = scenario();
  Pftrace direct(report_of(dir, chunks, "r.pftrace"));
  report_of(dir, chunks, "r.json");
  viztrace::report::ConvertStats stats;
  Timeline tl = viztrace::report::read_chrome_json(dir.file("r.json"), stats);
  StringSink sink;
  viztrace::report::write_perfetto(tl, sink);
  Pftrace converted(sink.bytes);
  require_clean(converted.trace, converted.nesting_problems);
  CHECK(stats.skipped.empty());
  CHECK(stats.cut == 0);

  CHECK(converted.threads() == direct.threads());
  // Args of every slice on thread tracks are the same too.
  auto args_of = [](const Pftrace& pf) {
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& [uuid, c] : pf.content)
      for (const DecodedSlice& s : c.slices) out.push_back(s.args);
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(args_of(converted) == args_of(direct));
  Pftrace streamed = streamed_pftrace(dir.file("r.json"));
  require_clean(streamed.trace, streamed.nesting_problems);
  CHECK(streamed.threads() == direct.threads());
  CHECK(args_of(streamed) == args_of(direct));
  const TrackContent* g = converted.named("viztrace");
  REQUIRE(g);
  REQUIRE(g->instants.size() == 1);
  CHECK(g->instants[0].name == "viztrace got SIGINT");
  std::size_t pids5000 = 0;
  for (const DecodedTrack& t : converted.trace.tracks)
    pids5000 += t.kind == DecodedTrack::Kind::process && t.pid == 5000;
  CHECK(pids5000 == 2);  // the reused pid, back to its real number, still two processes
}

TEST_CASE("convert: B/E, counters, global instants, misnesting and skipped phases") {
  TempDir dir;
  write_file(dir.file("t.json"), R"([
    {"ph":"M","name":"process_name","pid":7,"tid":7,"args":{"name":"app"}},
    {"ph":"M","name":"thread_name","pid":7,"tid":8,"args":{"name":"io"}},
    {"ph":"B","name":"outer","pid":7,"tid":8,"ts":10,"args":{"a":1}},
    {"ph":"X","name":"inner","pid":7,"tid":8,"ts":11,"dur":100,"args":{"deep":{"x":[1,2.5,"s",true,null]}}},
    {"ph":"E","pid":7,"tid":8,"ts":20,"args":{"b":"two"}},
    {"ph":"E","pid":7,"tid":8,"ts":21},
    {"ph":"C","name":"mem","pid":7,"ts":12,"args":{"rss":100,"heap":7.5}},
    {"ph":"C","name":"mem","pid":7,"ts":15,"args":{"rss":150}},
    {"ph":"i","name":"global mark","pid":7,"tid":7,"ts":13,"s":"g"},
    {"ph":"I","name":"thread mark","pid":7,"tid":8,"ts":14},
    {"ph":"s","name":"flow","id":1,"cat":"c","pid":7,"tid":8,"ts":12},
    {"ph":"b","name":"async","id":2,"cat":"c","pid":7,"tid":8,"ts":12},
    {"ph":"B","name":"open","pid":7,"tid":7,"ts":30},
  )");  // a crashed writer's array: no closing bracket
  viztrace::report::ConvertStats stats;
  Timeline tl = viztrace::report::read_chrome_json(dir.file("t.json"), stats);
  CHECK(stats.closed_truncated_array);
  CHECK(stats.slices == 3);
  CHECK(stats.instants == 2);
  CHECK(stats.counter_values == 3);
  CHECK(stats.unmatched_ends == 1);
  CHECK(stats.unclosed_begins == 1);
  CHECK(stats.cut == 1);  // inner outlived outer
  CHECK(stats.skipped == std::map<std::string, std::uint64_t>{{"b", 1}, {"s", 1}});
  StringSink sink;
  viztrace::report::write_perfetto(tl, sink);
  Pftrace pf(sink.bytes);
  require_clean(pf.trace, pf.nesting_problems);
  auto io = pf.of(7, 8);
  REQUIRE(io.size() == 1);
  REQUIRE(io[0]->slices.size() == 2);
  CHECK(io[0]->slices[0].name == "outer");
  CHECK(io[0]->slices[0].args.at("a") == "1");
  CHECK(io[0]->slices[0].args.at("b") == "two");  // E's args join the slice
  CHECK(io[0]->slices[1].name == "inner");
  CHECK(io[0]->slices[1].depth == 1);
  CHECK(io[0]->slices[1].end == io[0]->slices[0].end);  // cut at its parent's end
  CHECK(io[0]->slices[1].args.at("deep.x[1]") == "2.5");
  CHECK(io[0]->slices[1].args.at("deep.x[2]") == "s");
  CHECK(io[0]->instants.at(0).name == "thread mark");
  std::map<std::string, std::vector<double>> counters;
  for (const DecodedEvent& e : pf.trace.events)
    if (e.type == 4) counters[pf.trace.track(e.track)->name].push_back(e.counter);
  CHECK(counters["mem rss"] == std::vector<double>{100, 150});
  CHECK(counters["mem heap"] == std::vector<double>{7.5});
  REQUIRE(pf.named("global"));
  CHECK(pf.named("global")->instants.at(0).name == "global mark");
  bool app = false;
  for (const DecodedTrack& t : pf.trace.tracks)
    app |= t.kind == DecodedTrack::Kind::process && t.name == "app";
  CHECK(app);
  Pftrace streamed = streamed_pftrace(dir.file("t.json"));
  require_clean(streamed.trace, streamed.nesting_problems);
  CHECK(streamed.threads() == pf.threads());
  REQUIRE(streamed.of(7, 8).size() == 1);
  CHECK(streamed.of(7, 8)[0]->slices[0].args == io[0]->slices[0].args);
  CHECK(streamed.of(7, 8)[0]->slices[1].args == io[0]->slices[1].args);
}

// Sizes and speeds of the report formats; run with: unit_tests "[bench]" (hidden otherwise).
namespace {

struct CountingSink final : viztrace::report::ByteSink {
  std::uint64_t bytes = 0;
  void write(const char*, std::size_t n) override { bytes += n; }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

template <class F>
std::pair<std::uint64_t, double> measure(F&& write) {
  double best = 1e9;
  std::uint64_t bytes = 0;
  for (int round = 0; round < 3; ++round) {
    CountingSink sink;
    auto t = std::chrono::steady_clock::now();
    write(sink);
    best = std::min(best, seconds_since(t));
    bytes = sink.bytes;
  }
  return {bytes, best};
}

void print_row(const char* format, std::uint64_t bytes, double secs, std::uint64_t events,
               std::uint64_t json_bytes) {
  std::printf(
      "  %-22s %12llu bytes  %7.1f bytes/event  %6.2fx smaller than JSON  %7.2f M events/s\n",
      format, static_cast<unsigned long long>(bytes), static_cast<double>(bytes) / events,
      static_cast<double>(json_bytes) / static_cast<double>(bytes), events / secs / 1e6);
}

}  // namespace

TEST_CASE("report formats: bytes per event and write speed, JSON vs pftrace vs HTML",
          "[.][bench]") {
  using namespace viztrace::report;
  SECTION("a spill of a build: processes, threads, failed spawns, from the spill's model") {
    const int kProcesses = 20000;
    TempDir dir;
    SyntheticSpill spill(dir);
    Stream c(kViztrace, kViztrace, 1, VT_CHUNK_COLLECTOR);
    c.session(T0, 1700000000123456789ull, 2000, kViztrace, {"make", "-j8"}, "/home/user/project");
    c.spawn(T0 + 1000, 2000, "/usr/bin/make", {"make", "-j8"});
    Stream make(2000, 2000, 1);
    make.proc_start(T0 + 2000, kViztrace, {"make", "-j8"}, "/usr/bin/make", "/home/user/project");
    spill.add(c.chunks());
    std::uint64_t at = T0 + 10'000;
    for (int i = 0; i < kProcesses; ++i) {
      auto pid = static_cast<std::int32_t>(3000 + i);
      std::string file = "src/module_" + std::to_string(i % 500) + "/file_" + std::to_string(i);
      std::vector<std::string> argv = {"cc",        "-c",        "-O2", "-Wall",
                                       "-Iinclude", file + ".c", "-o",  "obj/" + file + ".o"};
      make.spawn(at, pid, "/usr/bin/cc", argv);
      Stream child(static_cast<std::uint32_t>(pid), static_cast<std::uint32_t>(pid), 1);
      child.proc_start(at + 500, 2000, argv, "/usr/bin/cc", "/home/user/project");
      if (i % 10 == 0) {
        Stream worker(static_cast<std::uint32_t>(pid), static_cast<std::uint32_t>(pid) + 100000, 1);
        worker.thread_start(at + 1000);
        worker.thread_name(at + 1100, static_cast<std::uint32_t>(pid) + 100000, "cc-worker");
        worker.thread_exit(at + 50'000);
        spill.add(worker.chunks());
      }
      if (i % 50 == 0) child.spawn(at + 2000, 0, "/usr/bin/as", {"as", "-o", "x.o"}, 0, ENOENT);
      child.exit(at + 90'000, 0, vt_usage{80'000, 5'000, 12'000});
      make.reap(at + 91'000, pid, 0);
      spill.add(child.chunks());
      at += 60'000;
    }
    make.exit(at + 100'000, 0);
    c.reap(at + 110'000, 2000, 0);
    spill.add(make.chunks());
    spill.add(c.chunks());

    RecordDecoder decoder;
    ProcessTable table;
    viztrace::spill::SpillReader reader(spill.dir());
    reader.for_each([&](const vt_chunk_header& chunk) { decoder.decode(chunk, table); });
    TraceModel model = table.resolve(decoder, reader.damaged_bytes());
    Timeline tl = timeline_from_model(model);
    const std::uint64_t events = tl.slice_count() + tl.instant_count();
    auto json = measure([&](CountingSink& sink) {
      const Timeline trace = timeline_from_model(model);
      ChromeJsonWriter chrome(sink);
      chrome.begin(trace, nullptr);
      chrome.finish();
    });
    auto pf =
        measure([&](CountingSink& sink) { write_perfetto(timeline_from_model(model), sink); });
    auto pfa = measure([&](CountingSink& sink) {
      write_perfetto(timeline_from_model(model), sink, PerfettoWriter::Encoding::absolute);
    });
    auto html = measure([&](CountingSink& sink) { write_html(timeline_from_model(model), sink); });
    std::printf("%d processes, %llu spill records, %llu report events (slices + instants):\n",
                kProcesses, static_cast<unsigned long long>(model.events),
                static_cast<unsigned long long>(events));
    print_row("JSON", json.first, json.second, events, json.first);
    print_row("pftrace", pf.first, pf.second, events, json.first);
    print_row("pftrace (absolute ts)", pfa.first, pfa.second, events, json.first);
    print_row("HTML", html.first, html.second, events, json.first);
    CHECK(pf.first * 3 < json.first * 2);  // strings (argv, paths) dominate here
  }
  SECTION("function slices (what -finstrument-functions will stream), writers alone") {
    const int kThreads = 4, kPerThread = 250000;
    std::vector<std::string> names;
    for (int i = 0; i < 200; ++i)
      names.push_back("ns::Parser::parse_" + std::to_string(i) + "(std::string_view, int)");
    Timeline tl;
    tl.origin = T0;
    auto& p = tl.processes.emplace_back();
    p.pid = 4242;
    p.name = "interp";
    std::mt19937 rng(1);
    for (int t = 0; t < kThreads; ++t) {
      auto& th = p.threads.emplace_back();
      th.tid = 4242 + static_cast<std::uint32_t>(t);
      th.name = "t" + std::to_string(t);
      std::uint64_t at = T0 + 1000;
      for (int i = 0; i < kPerThread; i += 4) {  // a call 4 deep, each 40-300 ns apart
        std::uint64_t s = at;
        for (int d = 0; d < 4; ++d) {
          auto& sl = th.slices.emplace_back();
          sl.start = s + d * 40;
          sl.end = s + 1200 - d * 40;
          sl.name = tl.intern(names[rng() % names.size()]);
          sl.kind = SliceKind::function;
        }
        at += 1300 + rng() % 200;
      }
    }
    tl.end = T0 + 1'000'000'000;
    tl.normalize();
    const std::uint64_t events = tl.slice_count();
    // JSON as ChromeJsonWriter writes X events: one object per line.
    auto json = measure([&](CountingSink& sink) {
      JsonWriter w(sink);
      w.begin_object();
      w.key("traceEvents");
      w.begin_array();
      for (const auto& th : p.threads)
        for (const auto& s : th.slices) {
          w.begin_object(true);
          w.member("ph", "X");
          w.member("name", std::string_view(tl.names[s.name]));
          w.member("pid", p.pid);
          w.member("tid", th.tid);
          w.member("cat", "function");
          w.key("ts");
          w.fixed3(s.start - tl.origin);
          w.key("dur");
          w.fixed3(s.end - s.start);
          w.end_object();
        }
      w.end_array();
      w.end_object();
      w.flush();
    });
    auto pf = measure([&](CountingSink& sink) { write_perfetto(tl, sink); });
    auto pfa = measure(
        [&](CountingSink& sink) { write_perfetto(tl, sink, PerfettoWriter::Encoding::absolute); });
    auto html = measure([&](CountingSink& sink) { write_html(tl, sink); });
    std::printf("%llu function slices on %d threads, 200 names of ~40 characters:\n",
                static_cast<unsigned long long>(events), kThreads);
    print_row("JSON", json.first, json.second, events, json.first);
    print_row("pftrace", pf.first, pf.second, events, json.first);
    print_row("pftrace (absolute ts)", pfa.first, pfa.second, events, json.first);
    print_row("HTML", html.first, html.second, events, json.first);
    CHECK(pf.first * 4 < json.first);
  }
}
