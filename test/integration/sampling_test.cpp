// Sampled stacks (viztrace run --sample): programs without frame pointers unwound through DWARF,
// the executable's and a library's functions with their shares, the same stacks as Perfetto's
// perf samples in a .pftrace, fork children and threads from their start, a short compiler run,
// a run where the kernel refuses to sample (the threads then sample themselves), and a viztrace
// killed or interrupted while sampling; the samples kept by convert, counted by stats, and
// written for speedscope.
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "../unit/proto_decoder.h"
#include "harness.h"
#include "simdjson.h"

using namespace vt_test;
using viztrace::test::DecodedFrame;
using viztrace::test::DecodedSample;
using viztrace::test::DecodedTrace;
using viztrace::test::DecodedTrack;

namespace {

struct Sample {
  long long pid = 0, tid = 0;
  double ts = 0, weight = 0;
  std::vector<std::string> stack;    // innermost first
  std::vector<std::string> modules;  // likewise: each frame's "category"
};

struct Sampled {
  std::vector<Sample> samples;
  std::string method;  // metadata.sampling.method; "" when null
  long long cut_short = 0, lost = 0;
};

Sampled samples_of(const Report& rep) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(rep.raw);
  Sampled out;
  simdjson::dom::element sampling;
  REQUIRE(doc["metadata"]["sampling"].get(sampling) == simdjson::SUCCESS);
  std::string_view method;
  if (!sampling["method"].get(method)) out.method = std::string(method);
  out.cut_short = int64_t(sampling["cut_short"]);
  out.lost = int64_t(sampling["lost"]);
  simdjson::dom::object frames;
  if (doc["stackFrames"].get(frames)) return out;  // no sample at all
  struct Frame {
    std::string name, module, parent;
  };
  std::map<std::string, Frame> by_id;
  for (auto [key, f] : frames) {
    Frame fr;
    fr.name = std::string(std::string_view(f["name"]));
    fr.module = std::string(std::string_view(f["category"]));
    std::string_view parent;
    if (!f["parent"].get(parent)) fr.parent = std::string(parent);
    by_id[std::string(key)] = fr;
  }
  for (simdjson::dom::element e : doc["samples"].get_array()) {
    Sample s;
    s.pid = int64_t(e["pid"]);
    s.tid = int64_t(e["tid"]);
    s.ts = double(e["ts"]);
    s.weight = double(e["weight"]);
    std::string id{std::string_view(e["sf"])};
    for (int depth = 0; !id.empty() && depth < 1000; ++depth) {
      auto it = by_id.find(id);
      REQUIRE(it != by_id.end());
      s.stack.push_back(it->second.name);
      s.modules.push_back(it->second.module);
      id = it->second.parent;
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Share of samples whose innermost frame is `name`, in percent.
double self_share(const std::vector<Sample>& samples, const std::string& name) {
  if (samples.empty()) return 0;
  double n = 0;
  for (const Sample& s : samples) n += !s.stack.empty() && s.stack.front() == name;
  return 100 * n / static_cast<double>(samples.size());
}

// Waits until a running session's samples file holds at least `bytes`.
void await_samples_file(const Sandbox& s, std::uintmax_t bytes) {
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    for (const auto& e : std::filesystem::directory_iterator(s.tmp())) {
      std::error_code ec;
      auto size = std::filesystem::file_size(e.path() / "samples", ec);
      if (!ec && size >= bytes) return;
    }
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    REQUIRE(now.tv_sec - start.tv_sec < 30);
    timespec pause = {0, 10'000'000};  // the file grows every 100 ms at most
    nanosleep(&pause, nullptr);
  }
}

}  // namespace

TEST_CASE("sampled stacks without frame pointers: the hot functions of a program and its library, "
          "their shares, whole stacks") {
  Sandbox s;
  auto r = s.viztrace({"run", "--sample", "--", fixture("sample_hot")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report();
  Sampled sampled = samples_of(rep);
  CHECK(sampled.method == "perf_event");
  CHECK(sampled.lost == 0);
  REQUIRE(sampled.samples.size() > 100);
  const long long pid = rep.target().pid;
  for (const Sample& x : sampled.samples) CHECK(x.pid == pid);
  // exe_spin and lib_spin take all but a few samples, in the split the fixture is made with.
  const double exe = self_share(sampled.samples, "exe_spin");
  const double lib = self_share(sampled.samples, "lib_spin");
  CHECK(exe + lib > 90);
  CHECK(exe == Approx(60).margin(10));
  CHECK(lib == Approx(40).margin(10));
  // Every stack in them is whole: through work() and main() to the program's entry.
  std::size_t whole = 0, in_spin = 0;
  for (const Sample& x : sampled.samples) {
    if (x.stack.empty() || (x.stack[0] != "exe_spin" && x.stack[0] != "lib_spin")) continue;
    ++in_spin;
    if (x.stack.size() >= 4 && x.stack[1] == "work" && x.stack[2] == "main" &&
        x.stack.back() == "_start")
      ++whole;
    if (x.stack[0] == "lib_spin") CHECK(x.modules[0].ends_with("/libsample_lib.so"));
    else CHECK(x.modules[0].ends_with("/sample_hot"));
  }
  CHECK(whole >= in_spin * 95 / 100);
  CHECK(sampled.cut_short <= static_cast<long long>(sampled.samples.size() / 20));
  // The summary names them, with their source.
  // Without privileges, perf_event_paranoid 2 lets the kernel sample user time only.
  CHECK(std::regex_search(r.err, std::regex(R"(sampled stacks \(perf_event, 999 Hz of (user )?CPU time\))")));
  CHECK(r.err.find("exe_spin  (total") != std::string::npos);
  CHECK(r.err.find("sample_hot.c:") != std::string::npos);
  require_clean(s);
}

TEST_CASE("functions inlined where the samples fell are frames of their own, under their caller") {
  Sandbox s;
  auto r = s.viztrace({"run", "--sample", "--", fixture("sample_inline")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Sampled sampled = samples_of(s.report());
  REQUIRE(sampled.samples.size() > 50);
  // Innermost first: mix inlined in step inlined in run_steps (the only real frame of the three).
  const std::vector<std::string> inner = {"demo::Mixer<unsigned long>::mix(unsigned long) const",
                                          "demo::Mixer<unsigned long>::step(unsigned long)",
                                          "demo::run_steps(unsigned long)", "main"};
  std::size_t through_step = 0, in_run_steps = 0;
  for (const Sample& x : sampled.samples) {
    auto at = std::find(x.stack.begin(), x.stack.end(), "demo::run_steps(unsigned long)");
    if (at == x.stack.end()) continue;
    ++in_run_steps;
    CHECK(at + 1 != x.stack.end());
    if (at + 1 != x.stack.end()) CHECK(*(at + 1) == "main");
    if (at != x.stack.begin() && *(at - 1) == inner[1]) ++through_step;
  }
  CHECK(in_run_steps > sampled.samples.size() * 9 / 10);
  // Some instructions of the loop are step's or mix's, and a few its own.
  CHECK(through_step > in_run_steps / 5);
  bool mix_seen = false;
  for (const Sample& x : sampled.samples)
    mix_seen |= x.stack.size() >= 3 && x.stack[0] == inner[0] && x.stack[1] == inner[1] &&
                x.stack[2] == inner[2];
  CHECK(mix_seen);
  require_clean(s);
}

TEST_CASE("a pftrace report holds the sampled stacks as Perfetto's perf samples: the hot "
          "functions with main in their callstacks, on the program's thread") {
  Sandbox s;
  auto r = s.viztrace({"run", "--sample", "-o", "t.pftrace", "--", fixture("sample_hot")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  DecodedTrace t = viztrace::test::decode_pftrace(slurp(s.path("t.pftrace")));
  INFO((t.problems.empty() ? "" : t.problems.front()));
  CHECK(t.problems.empty());
  std::int64_t pid = 0;
  for (const DecodedTrack& tr : t.tracks)
    if (tr.kind == DecodedTrack::Kind::process && tr.name == "sample_hot") pid = tr.pid;
  REQUIRE(pid != 0);
  REQUIRE(t.samples.size() > 100);
  std::size_t hot = 0, whole = 0;
  for (const DecodedSample& x : t.samples) {
    CHECK(x.pid == pid);
    CHECK(x.tid == pid);
    CHECK(x.seq == t.samples.front().seq);
    if (x.frames.empty()) continue;
    const DecodedFrame& inner = x.frames.back();  // frames are outermost first
    if (inner.name != "exe_spin" && inner.name != "lib_spin") continue;
    ++hot;
    if (inner.name == "lib_spin") {
      CHECK(inner.mapping.ends_with("/libsample_lib.so"));
      CHECK(inner.source.find("sample_lib.c:") != std::string::npos);
    } else {
      CHECK(inner.mapping.ends_with("/sample_hot"));
      CHECK(inner.source.find("sample_hot.c:") != std::string::npos);
    }
    auto main = std::find_if(x.frames.begin(), x.frames.end(),
                             [](const DecodedFrame& f) { return f.name == "main"; });
    if (main != x.frames.end() && main + 1 != x.frames.end() && main[1].name == "work") ++whole;
  }
  CHECK(hot >= t.samples.size() * 9 / 10);
  CHECK(whole >= hot * 95 / 100);
  // What was sampled is in the metadata, on the session slice.
  std::vector<std::string> problems;
  bool method = false;
  for (const auto& [uuid, c] : viztrace::test::slices_by_track(t, problems))
    for (const auto& sl : c.slices)
      if (sl.category == "viztrace")
        method = sl.args.count("sampling.method") && sl.args.at("sampling.method") == "perf_event";
  CHECK(method);
  if (!on_path("protoc")) {
    VT_MARK_SKIPPED("protoc is missing: no schema check (scripts/setup --tests installs it)");
  } else {
    // Field numbers and wire types against Perfetto's schema: no unknown field.
    Result typed = s.command({"sh", "-c",
                              "protoc --decode=perfetto.protos.Trace --proto_path=" +
                                  std::string(INTEGRATION_SOURCE_DIR) +
                                  " perfetto_trace_subset.proto < t.pftrace"});
    INFO(typed.err);
    CHECK(typed.exit_code() == 0);
    CHECK(!std::regex_search(typed.out, std::regex(R"((^|\n) *[0-9]+[:{ ])")));
    for (const char* message : {"perf_sample {", "callstacks {", "frames {", "mappings {",
                                "function_names {", "str: \"exe_spin\"", "str: \"main\""})
      CHECK(typed.out.find(message) != std::string::npos);
  }
  require_clean(s);
}

TEST_CASE("a fork child and a second thread are sampled from their start") {
  Sandbox s;
  SECTION("fork") {
    auto r = s.viztrace({"run", "--sample", "--", fixture("sample_hot"), "fork"});
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
    Report rep = s.report();
    auto images = rep.named("sample_hot");
    REQUIRE(images.size() == 2);
    const long long parent = rep.target().pid;
    long long child = 0;
    for (const Process& p : images)
      if (p.pid != parent) child = p.pid;
    REQUIRE(child != 0);
    std::size_t in_child = 0;
    for (const Sample& x : samples_of(rep).samples)
      if (x.pid == child && x.tid == child && has(x.stack, "child_spin") && has(x.stack, "main"))
        ++in_child;
    CHECK(in_child > 100);
  }
  SECTION("thread") {
    auto r = s.viztrace({"run", "--sample", "--", fixture("sample_hot"), "threads"});
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
    Report rep = s.report();
    const long long pid = rep.target().pid;
    std::set<long long> tids;
    std::size_t in_thread = 0;
    for (const Sample& x : samples_of(rep).samples) {
      REQUIRE(x.pid == pid);
      if (x.tid != pid && has(x.stack, "thread_spin") && has(x.stack, "thread_main")) {
        ++in_thread;
        tids.insert(x.tid);
      }
    }
    CHECK(in_thread > 100);
    CHECK(tids.size() == 1);
  }
  require_clean(s);
}

TEST_CASE("a short compiler run is sampled, in its own process") {
  if (!on_path("cc")) VT_SKIP("no cc on PATH");
  Sandbox s;
  s.write_file("unit.c",
               "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
               "int main(void) { puts(\"x\"); return 0; }\n");
  auto r = s.viztrace({"run", "--sample", "--", "cc", "-O2", "-c", "unit.c"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report();
  std::set<long long> compiler;
  for (const Process& p : rep.processes)
    if (p.name == "cc1" || p.exe.ends_with("/cc1")) compiler.insert(p.pid);
  REQUIRE(compiler.size() == 1);
  std::size_t in_compiler = 0;
  for (const Sample& x : samples_of(rep).samples) in_compiler += compiler.count(x.pid);
  CHECK(in_compiler > 0);
  require_clean(s);
}

TEST_CASE("where the kernel refuses to sample, the threads sample themselves, and the summary "
          "says why") {
  Sandbox s;
  // As under a container runtime's seccomp profile.
  // 160 rounds: at the tick's 250 Hz, enough samples (~240) for the shares to hold.
  auto r = s.command({fixture("deny_perf"), viztrace_bin(), "run", "--sample", "--",
                      fixture("sample_hot"), "160"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.err.find("(timer, 999 Hz of CPU time; the kernel would not sample: perf_event_open: "
                   "Operation not permitted") != std::string::npos);
  Report rep = s.report();
  Sampled sampled = samples_of(rep);
  CHECK(sampled.method == "timer");
  CHECK(rep.raw.find("\"why_not\":\"perf_event_open: Operation not permitted") !=
        std::string::npos);
  // A CPU-time timer expires on the scheduler's tick (250 Hz here): fewer samples than 999 Hz.
  REQUIRE(sampled.samples.size() > 30);
  CHECK(self_share(sampled.samples, "exe_spin") == Approx(60).margin(12));
  CHECK(self_share(sampled.samples, "lib_spin") == Approx(40).margin(12));
  std::size_t whole = 0;
  for (const Sample& x : sampled.samples)
    whole += x.stack.size() >= 4 && x.stack[1] == "work" && x.stack[2] == "main";
  CHECK(whole > sampled.samples.size() * 9 / 10);

  // Told to take the kernel's samples only: the command runs unsampled, and the summary says why.
  Options perf_only;
  perf_only.env["VIZTRACE_SAMPLE_METHOD"] = "perf";
  auto unsampled = s.command({fixture("deny_perf"), viztrace_bin(), "run", "--sample", "-o",
                              "none.json", "--", "sh", "-c", "echo still runs"},
                             perf_only);
  INFO(unsampled.err);
  REQUIRE(unsampled.exit_code() == 0);
  CHECK(unsampled.out == "still runs\n");
  CHECK(unsampled.err.find("sampled stacks: none, sampling could not start: perf_event_open: "
                           "Operation not permitted") != std::string::npos);
  Sampled none = samples_of(s.report("none.json"));
  CHECK(none.method.empty());
  CHECK(none.samples.empty());
  // A method that does not exist is refused before anything runs.
  Options bad;
  bad.env["VIZTRACE_SAMPLE_METHOD"] = "magic";
  auto refused = s.viztrace({"run", "--sample", "--", "sh", "-c", "echo ran"}, bad);
  CHECK(refused.exit_code() == 2);
  CHECK(refused.out.empty());
  CHECK(refused.err == "viztrace: VIZTRACE_SAMPLE_METHOD: 'magic' is not auto, perf or timer\n");
  require_clean(s);
}

TEST_CASE("the timer fallback: forks and threads sampled, the program's own SIGPROF handler "
          "and a program that blocks every signal unharmed") {
  Sandbox s;
  Options timer;
  timer.env["VIZTRACE_SAMPLE_METHOD"] = "timer";
  SECTION("fork and thread") {
    for (const char* how : {"fork", "threads"}) {
      auto r = s.viztrace({"run", "--sample", "--", fixture("sample_hot"), how}, timer);
      INFO(how << ": " << r.err);
      REQUIRE(r.exit_code() == 0);
      Report rep = s.report();
      const long long pid = rep.target().pid;
      std::size_t other = 0;
      const std::string fn = std::string(how) == "fork" ? "child_spin" : "thread_spin";
      for (const Sample& x : samples_of(rep).samples)
        other += (std::string(how) == "fork" ? x.pid != pid : x.tid != pid) && has(x.stack, fn);
      CHECK(other > 30);
    }
  }
  SECTION("the program's own SIGPROF") {
    auto r = s.viztrace({"run", "--sample", "--", fixture("sigprof_user")}, timer);
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
    // Its itimer's signals reach its handler, ours do not; it reads back its own handler.
    CHECK(r.out.find("own handler kept, ") != std::string::npos);
    CHECK(r.out.find("ticks ok") != std::string::npos);
    CHECK(samples_of(s.report()).samples.size() > 50);
  }
  SECTION("a program that blocks every signal") {
    auto r = s.viztrace({"run", "--sample", "--", fixture("sigprof_user"), "block"}, timer);
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
    CHECK(r.out == "blocked all, done\n");
  }
  require_clean(s);
}

TEST_CASE("viztrace killed while sampling: recover gives the samples, interrupted: the report "
          "has them") {
  Sandbox s;
  SECTION("SIGKILL, then recover") {
    auto run = s.start_viztrace(
        {"run", "--sample", "--", "sh", "-c", "echo ready; exec " + fixture("sample_hot") + " long"});
    run->wait_for_out("ready");
    await_samples_file(s, 64 << 10);
    auto children = children_of(run->pid());
    REQUIRE(children.size() == 1);
    run->signal(SIGKILL);
    run->finish();
    kill(children[0], SIGKILL);
    await_exit(children[0], 30);
    auto r = s.viztrace({"recover", "-q", "-o", "r.json"});
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
    Sampled sampled = samples_of(s.report("r.json"));
    CHECK(sampled.method == "perf_event");
    std::size_t hot = 0;
    for (const Sample& x : sampled.samples)
      hot += !x.stack.empty() && (x.stack[0] == "exe_spin" || x.stack[0] == "lib_spin");
    CHECK(hot > 10);
  }
  SECTION("Ctrl+C") {
    Options job;
    job.own_group = true;
    auto run = s.start_viztrace(
        {"run", "--sample", "--", "sh", "-c", "echo ready; exec " + fixture("sample_hot") + " long"},
        job);
    run->wait_for_out("ready");
    await_samples_file(s, 64 << 10);
    run->signal_group(SIGINT);
    Result r = run->finish();
    INFO(r.err);
    CHECK(r.signal() == SIGINT);
    Sampled sampled = samples_of(s.report());
    CHECK(sampled.samples.size() > 10);
  }
  require_clean(s);
}

TEST_CASE("an ASan build sampled either way reports its leak and exits as it does untraced") {
  Sandbox s;
  Options o;
  SECTION("perf_event") { o.env["VIZTRACE_SAMPLE_METHOD"] = "perf"; }
  SECTION("timer") { o.env["VIZTRACE_SAMPLE_METHOD"] = "timer"; }
  auto plain = s.command({fixture("asan_leak")});
  auto traced = s.viztrace({"run", "--sample", "--", fixture("asan_leak")}, o);
  INFO(traced.err);
  CHECK(plain.exit_code() == 1);
  CHECK(traced.exit_code() == 1);
  CHECK(traced.out == plain.out);
  CHECK(traced.err.find("SUMMARY: AddressSanitizer: 4242 byte(s) leaked in 1 allocation(s).") !=
        std::string::npos);
  const std::string method = o.env["VIZTRACE_SAMPLE_METHOD"] == "perf" ? "perf_event" : "timer";
  CHECK(samples_of(s.report()).method == method);
  require_clean(s);
}

TEST_CASE("convert keeps a run's sampled stacks: the same samples on the same threads with the "
          "same stacks and weights") {
  Sandbox s;
  auto r = s.viztrace({"run", "-q", "--sample", "--", fixture("sample_hot"), "fork"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  auto c = s.viztrace({"convert", "viztrace.json", "again.json"});
  INFO(c.err);
  REQUIRE(c.exit_code() == 0);
  const Sampled before = samples_of(s.report());
  const Sampled after = samples_of(s.report("again.json"));
  REQUIRE(before.samples.size() > 100);
  CHECK(c.err.find(", " + std::to_string(before.samples.size()) + " sampled stacks, ") !=
        std::string::npos);
  REQUIRE(after.samples.size() == before.samples.size());
  auto key = [](const Sample& x) {
    return std::make_tuple(x.pid, x.tid, x.ts, x.weight, x.stack, x.modules);
  };
  std::vector<decltype(key(before.samples[0]))> a, b;
  for (const Sample& x : before.samples) a.push_back(key(x));
  for (const Sample& x : after.samples) b.push_back(key(x));
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  CHECK(a == b);
  require_clean(s);
}

TEST_CASE("stats of a sampled run names the hot functions with their shares, in text and JSON") {
  Sandbox s;
  auto r = s.viztrace({"run", "-q", "--sample", "--", fixture("sample_hot")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  auto text = s.viztrace({"stats", "viztrace.json"});
  INFO(text.out << text.err);
  REQUIRE(text.exit_code() == 0);
  CHECK(text.out.find("\nSampled functions by self samples (") != std::string::npos);
  // "   59.4%    59.4%        136        136  exe_spin  (sample_hot)"
  auto share = [&](const std::string& function, const std::string& module) {
    auto at = text.out.find("  " + function + "  (" + module + ")\n");
    if (at == std::string::npos) return -1.0;
    auto line = text.out.rfind('\n', at) + 1;
    return std::stod(text.out.substr(line, text.out.find('%', line) - line));
  };
  CHECK(share("exe_spin", "sample_hot") == Approx(60).margin(10));
  CHECK(share("lib_spin", "libsample_lib.so") == Approx(40).margin(10));

  auto json = s.viztrace({"stats", "--json", "viztrace.json"});
  REQUIRE(json.exit_code() == 0);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(json.out);
  const auto count = int64_t(doc["samples"]["count"]);
  REQUIRE(count > 100);
  CHECK(count == static_cast<long long>(samples_of(s.report()).samples.size()));
  std::map<std::string, std::pair<long long, long long>> by_name;  // self, total samples
  long long weight = 0;
  for (simdjson::dom::element f : doc["samples"]["functions"].get_array()) {
    by_name[std::string(std::string_view(f["name"]))] = {int64_t(f["self"]), int64_t(f["total"])};
    if (std::string_view(f["name"]) == "exe_spin") weight = int64_t(f["self_weight_ns"]);
  }
  CHECK(100.0 * by_name["exe_spin"].first / count == Approx(60).margin(10));
  CHECK(100.0 * by_name["lib_spin"].first / count == Approx(40).margin(10));
  CHECK(weight > 0);
  // main is no function's innermost frame: only --sort total lists it, with every hot sample.
  CHECK(by_name.count("main") == 0);
  auto total = s.viztrace({"stats", "--json", "--sort", "total", "--top", "0", "viztrace.json"});
  doc = parser.parse(total.out);
  long long main_total = 0;
  for (simdjson::dom::element f : doc["samples"]["functions"].get_array())
    if (std::string_view(f["name"]) == "main") main_total = int64_t(f["total"]);
  CHECK(main_total >= (by_name["exe_spin"].first + by_name["lib_spin"].first) * 95 / 100);
  require_clean(s);
}

TEST_CASE("a sampled run written as speedscope: a sampled profile of CPU ns per thread, whole "
          "stacks outermost first") {
  Sandbox s;
  auto r = s.viztrace({"run", "--sample", "-o", "t.speedscope.json", "--", fixture("sample_hot")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.err.find("report: t.speedscope.json (") != std::string::npos);
  CHECK(r.err.find("https://www.speedscope.app") != std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(slurp(s.path("t.speedscope.json")));
  CHECK(std::string_view(doc["$schema"]) == "https://www.speedscope.app/file-format-schema.json");
  std::vector<std::string> frames;
  for (simdjson::dom::element f : doc["shared"]["frames"].get_array())
    frames.emplace_back(std::string_view(f["name"]));
  simdjson::dom::array profiles = doc["profiles"];
  REQUIRE(profiles.size() == 1);  // one thread
  simdjson::dom::element p = profiles.at(0);
  CHECK(std::string_view(p["type"]) == "sampled");
  CHECK(std::string_view(p["unit"]) == "nanoseconds");
  CHECK(std::string_view(p["name"]).starts_with("sample_hot ("));
  simdjson::dom::array samples = p["samples"], weights = p["weights"];
  REQUIRE(weights.size() == samples.size());
  std::vector<long long> w;
  long long sum = 0;
  for (std::int64_t x : weights) {
    w.push_back(x);
    sum += x;
  }
  CHECK(int64_t(p["endValue"]) - int64_t(p["startValue"]) == sum);
  REQUIRE(sum > 100'000'000);  // over 100 samples of 1 ms of CPU
  // Shares by weight: consecutive samples of one stack are one entry.
  std::map<std::string, long long> innermost;
  long long through_main = 0;
  std::size_t k = 0;
  for (simdjson::dom::array stack : samples) {
    std::vector<std::string> names;  // outermost first
    for (std::int64_t i : stack) {
      REQUIRE(i >= 0);
      REQUIRE(static_cast<std::size_t>(i) < frames.size());
      names.push_back(frames[static_cast<std::size_t>(i)]);
    }
    REQUIRE(!names.empty());
    innermost[names.back()] += w[k];
    auto main = std::find(names.begin(), names.end(), "main");
    if (main != names.end() && names.front() == "_start" && main + 1 != names.end() &&
        main[1] == "work")
      through_main += w[k];
    ++k;
  }
  const double n = static_cast<double>(sum);
  CHECK(100 * innermost["exe_spin"] / n == Approx(60).margin(10));
  CHECK(100 * innermost["lib_spin"] / n == Approx(40).margin(10));
  CHECK(through_main >= (innermost["exe_spin"] + innermost["lib_spin"]) * 95 / 100);
  require_clean(s);
}
