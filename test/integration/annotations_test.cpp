// Marks, spans and counters from programs (include/viztrace.h, compiled during the test with no
// library to link) and from shell scripts (`viztrace mark|span|counter`): the same behaviour
// untraced, and in the report the names, args, nesting, threads and counter values they gave.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <set>

#include "harness.h"
#include "simdjson.h"

using namespace vt_test;

namespace {

const std::string kInclude = VIZTRACE_INCLUDE_DIR;
const std::string kSources = ANNOTATED_SOURCE_DIR;
const std::string kExamples = VIZTRACE_EXAMPLES_DIR;

struct SpanEvent {
  std::string name;
  long long pid = 0, tid = 0;
  double ts = 0, dur = 0;
  std::map<std::string, std::string> text;
  std::map<std::string, long long> number;
  bool unfinished = false;
};

struct Mark {
  std::string name, scope;
  long long pid = 0, tid = 0;
  std::map<std::string, std::string> text;
  std::map<std::string, long long> number;
};

struct Annotations {
  std::vector<SpanEvent> spans;                         // by ts
  std::vector<Mark> marks;                              // by ts
  std::map<std::string, std::vector<double>> counters;  // by name: values in ts order
  std::set<long long> counter_pids;
  long long unmatched = -1, unfinished = -1;
};

void read_args(simdjson::dom::element e, std::map<std::string, std::string>& text,
               std::map<std::string, long long>& number) {
  simdjson::dom::object args;
  if (e["args"].get(args)) return;
  for (auto field : args) {
    std::string_view s;
    int64_t n;
    if (!field.value.get(s))
      text[std::string(field.key)] = s;
    else if (!field.value.get(n))
      number[std::string(field.key)] = n;
  }
}

Annotations annotations_of(const Report& rep) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(rep.raw);
  Annotations out;
  std::vector<std::pair<double, std::pair<std::string, double>>> samples;
  for (simdjson::dom::element e : doc["traceEvents"].get_array()) {
    std::string_view ph, cat;
    if (e["ph"].get(ph) || e["cat"].get(cat)) continue;
    if (ph == "X" && cat == "span") {
      SpanEvent s;
      s.name = std::string(std::string_view(e["name"]));
      s.pid = int64_t(e["pid"]);
      s.tid = int64_t(e["tid"]);
      s.ts = double(e["ts"]);
      s.dur = double(e["dur"]);
      read_args(e, s.text, s.number);
      bool unfinished = false;
      if (!e["args"]["unfinished"].get(unfinished)) s.unfinished = unfinished;
      out.spans.push_back(std::move(s));
    } else if (ph == "i" && cat == "mark") {
      Mark m;
      m.name = std::string(std::string_view(e["name"]));
      m.scope = std::string(std::string_view(e["s"]));
      m.pid = int64_t(e["pid"]);
      m.tid = int64_t(e["tid"]);
      read_args(e, m.text, m.number);
      out.marks.push_back(std::move(m));
    } else if (ph == "C" && cat == "counter") {
      std::string name{std::string_view(e["name"])};
      samples.push_back({double(e["ts"]), {name, double(e["args"][name])}});
      out.counter_pids.insert(int64_t(e["pid"]));
    }
  }
  std::stable_sort(out.spans.begin(), out.spans.end(),
                   [](const SpanEvent& a, const SpanEvent& b) { return a.ts < b.ts; });
  std::stable_sort(samples.begin(), samples.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ts, sample] : samples) out.counters[sample.first].push_back(sample.second);
  simdjson::dom::element counts = doc["metadata"]["annotations"];
  out.unmatched = int64_t(counts["unmatched_span_ends"]);
  out.unfinished = int64_t(counts["unfinished_spans"]);
  return out;
}

std::vector<const SpanEvent*> named(const Annotations& a, const std::string& name) {
  std::vector<const SpanEvent*> out;
  for (const SpanEvent& s : a.spans)
    if (s.name == name) out.push_back(&s);
  return out;
}

const SpanEvent& only(const Annotations& a, const std::string& name) {
  auto found = named(a, name);
  INFO(name);
  REQUIRE(found.size() == 1);
  return *found[0];
}

// Whether inner lies within outer on the same thread (µs decimals may differ in the last bit).
bool inside(const SpanEvent& inner, const SpanEvent& outer) {
  return inner.pid == outer.pid && inner.tid == outer.tid && inner.ts >= outer.ts &&
         inner.ts + inner.dur <= outer.ts + outer.dur + 0.002;
}

// The libraries a program needs, from its dynamic section.
std::string needed(const Sandbox& s, const std::string& program) {
  auto r = s.command({"readelf", "-d", program});
  REQUIRE(r.exit_code() == 0);
  std::string out;
  std::size_t at = 0;
  while ((at = r.out.find("(NEEDED)", at)) != std::string::npos) {
    std::size_t open = r.out.find('[', at), close = r.out.find(']', open);
    out += r.out.substr(open + 1, close - open - 1) + " ";
    at = close;
  }
  return out;
}

std::string bin_dir() {
  std::string bin = viztrace_bin();
  return bin.substr(0, bin.rfind('/'));
}

// The C program's report, whichever way it was built.
void check_annotated_c(const Report& rep) {
  const Process target = rep.target();
  Annotations a = annotations_of(rep);
  CHECK(a.unmatched == 0);
  CHECK(a.unfinished == 0);

  const SpanEvent& setup = only(a, "setup");
  CHECK(setup.pid == target.pid);
  CHECK(setup.tid == target.pid);  // the main thread
  CHECK(setup.dur >= 400);

  // Workers: 2 jobs each, with 2 and 3 parts in every job, on their named threads.
  std::map<std::string, int> jobs, parts;
  for (const SpanEvent& s : a.spans) {
    if (s.name != "job" && s.name != "part") continue;
    CHECK(s.pid == target.pid);
    CHECK(s.tid != target.pid);
    const std::string& thread = rep.thread_names.at({s.pid, s.tid});
    (s.name == "job" ? jobs : parts)[thread]++;
    if (s.name == "part") {
      int parents = 0;
      for (const SpanEvent* job : named(a, "job")) parents += inside(s, *job);
      CHECK(parents == 1);  // nested in exactly one job of its own thread
    }
  }
  CHECK(jobs == std::map<std::string, int>{{"worker-a", 2}, {"worker-b", 2}});
  CHECK(parts == std::map<std::string, int>{{"worker-a", 4}, {"worker-b", 6}});

  // The handler's own span, and the span it ended.
  const SpanEvent& waiting = only(a, "await-signal");
  const SpanEvent& handler = only(a, "in-handler");
  CHECK(waiting.tid == target.pid);
  CHECK(inside(handler, waiting));
  CHECK_FALSE(waiting.unfinished);

  REQUIRE(a.marks.size() == 1);
  CHECK(a.marks[0].name == "checkpoint");
  CHECK(a.marks[0].scope == "t");
  CHECK(a.marks[0].pid == target.pid);
  CHECK(a.marks[0].tid == target.pid);
  CHECK(a.marks[0].text == std::map<std::string, std::string>{{"phase", "warm"}});
  CHECK(a.marks[0].number == std::map<std::string, long long>{{"items", 3}});

  CHECK(a.counters == std::map<std::string, std::vector<double>>{{"queue", {3, 2, 1, 0}}});
}

}  // namespace

TEST_CASE(
    "a C program using viztrace.h runs alike untraced and shows its spans, marks and counters") {
  Sandbox s;
  compile(s, {"cc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-I" + kInclude, "-o",
              "annotated", kSources + "/annotated.c"});
  CHECK(needed(s, s.path("annotated")).find("viztrace") == std::string::npos);

  auto plain = s.command({"./annotated"});
  REQUIRE(plain.exit_code() == 0);
  CHECK(plain.out == "annotated: ok, errno kept\n");

  auto r = s.viztrace({"run", "-q", "--", "./annotated"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == plain.out);
  check_annotated_c(s.report());
  require_clean(s);
}

TEST_CASE("a C program built without PIE finds the shim through dlsym") {
  Sandbox s;
  // Non-PIC code in a non-PIE executable: the linker resolves an undefined weak reference to 0
  // for good, so the header looks the shim up at start-up instead.
  compile(s, {"cc", "-O2", "-fno-pie", "-no-pie", "-pthread", "-I" + kInclude, "-o", "annotated",
              kSources + "/annotated.c"});
  auto relocs = s.command({"readelf", "-rW", "annotated"});
  CHECK(relocs.out.find("viztrace_shim") == std::string::npos);  // nothing left to bind
  CHECK(needed(s, s.path("annotated")).find("viztrace") == std::string::npos);

  auto plain = s.command({"./annotated"});
  REQUIRE(plain.exit_code() == 0);
  auto r = s.viztrace({"run", "-q", "--", "./annotated"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == plain.out);
  check_annotated_c(s.report());
  require_clean(s);
}

TEST_CASE("a C++ program: RAII spans, one left by an exception, threads and a shared library") {
  Sandbox s;
  compile(s, {"cc", "-O2", "-fPIC", "-shared", "-I" + kInclude, "-o", "libannotated.so",
              kSources + "/annotated_lib.c"});
  compile(s, {"c++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread",
              "-I" + kInclude, "-o", "annotated++", kSources + "/annotated.cpp", "-L.",
              "-lannotated", "-Wl,-rpath," + s.dir()});
  CHECK(needed(s, s.path("annotated++")).find("viztrace") == std::string::npos);

  auto plain = s.command({"./annotated++"});
  REQUIRE(plain.exit_code() == 0);
  CHECK(plain.out == "annotated++: ok\n");
  auto r = s.viztrace({"run", "-q", "--", "./annotated++"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == plain.out);

  Report rep = s.report();
  const Process target = rep.target();
  Annotations a = annotations_of(rep);
  CHECK(a.unmatched == 0);
  CHECK(a.unfinished == 0);
  for (const SpanEvent& sp : a.spans) CHECK(sp.pid == target.pid);
  CHECK(inside(only(a, "config"), only(a, "startup")));
  CHECK(only(a, "startup").tid == target.pid);
  // The exception left both scopes: both spans ended, nested.
  CHECK(inside(only(a, "doomed"), only(a, "attempt")));
  REQUIRE(a.marks.size() == 1);
  CHECK(a.marks[0].name == "caught");
  CHECK(a.marks[0].text.at("what") == "boom");
  const SpanEvent& caught_after = only(a, "attempt");
  (void)caught_after;

  std::map<std::string, int> steps;
  for (const SpanEvent* task : named(a, "task")) {
    const std::string& thread = rep.thread_names.at({task->pid, task->tid});
    for (const SpanEvent* step : named(a, "step"))
      if (inside(*step, *task)) steps[thread]++;
  }
  CHECK(steps == std::map<std::string, int>{{"cpp-a", 2}, {"cpp-b", 3}});

  // The shared library's spans and counter, on the main thread.
  auto lib = named(a, "lib work");
  REQUIRE(lib.size() == 2);
  for (const SpanEvent* sp : lib) CHECK(sp->tid == target.pid);
  CHECK(a.counters ==
        std::map<std::string, std::vector<double>>{{"lib calls", {1, 2}}, {"ratio", {0.25}}});
  require_clean(s);
}

TEST_CASE("a CI script using viztrace mark, span and counter behaves the same outside viztrace") {
  Sandbox s;
  s.write_file("ci.sh",
               "#!/bin/sh\n"
               "set -e\n"
               "viztrace mark 'ci start' branch=main 'msg=hello world' attempt=1\n"
               "viztrace span build -- sh -c 'echo building'\n"
               "viztrace counter warnings 7\n"
               "viztrace span flaky -- sh -c 'echo flaky; exit 3' || echo \"flaky failed: $?\"\n"
               "viztrace span killed -- sh -c 'kill -TERM $$' || echo \"killed: $?\"\n"
               "viztrace counter warnings -2.5\n"
               "viztrace mark 'ci done'\n"
               "viztrace span deploy -- sh -c 'exit 4'\n"
               "echo unreachable\n",
               true);
  Options o;
  o.env["PATH"] = bin_dir() + ":" + std::getenv("PATH");
  const std::string expected_out = "building\nflaky\nflaky failed: 3\nkilled: 143\n";

  auto plain = s.command({"./ci.sh"}, o);
  CHECK(plain.exit_code() == 4);  // set -e: the failing span stops the script
  CHECK(plain.out == expected_out);
  CHECK(access(s.path("viztrace.json").c_str(), F_OK) != 0);  // no report without viztrace run
  require_clean(s);

  auto r = s.viztrace({"run", "-q", "--", "./ci.sh"}, o);
  INFO(r.err);
  CHECK(r.exit_code() == 4);
  CHECK(r.out == expected_out);
  CHECK(r.err == plain.err);  // what the shell said ("Terminated"), nothing more

  Report rep = s.report();
  Annotations a = annotations_of(rep);
  CHECK(a.unmatched == 0);
  CHECK(a.unfinished == 0);
  std::vector<std::string> names;
  for (const SpanEvent& sp : a.spans) names.push_back(sp.name);
  CHECK(names == std::vector<std::string>{"build", "flaky", "killed", "deploy"});
  // Each on the track of its `viztrace span` process, over the command it ran.
  for (const SpanEvent& sp : a.spans) {
    INFO(sp.name);
    const Process* span_process = rep.find_pid(sp.pid);
    REQUIRE(span_process);
    CHECK(span_process->argv.at(1) == "span");
    CHECK(span_process->argv.at(2) == sp.name);
    CHECK(sp.tid == sp.pid);
    int children = 0;
    for (const Process& p : rep.processes)
      if (p.ppid == sp.pid && p.argv.size() > 0 && p.argv[0] == "sh") {
        ++children;
        CHECK(p.ts >= sp.ts - 0.002);
        CHECK(p.ts + p.dur <= sp.ts + sp.dur + 0.002);
      }
    CHECK(children == 1);
  }
  CHECK(a.spans[0].number == std::map<std::string, long long>{{"exit_code", 0}});
  CHECK(a.spans[1].number == std::map<std::string, long long>{{"exit_code", 3}});
  CHECK(a.spans[2].number == std::map<std::string, long long>{{"signal", 15}});
  CHECK(a.spans[2].text == std::map<std::string, std::string>{{"signal_name", "SIGTERM"}});
  CHECK(a.spans[3].number == std::map<std::string, long long>{{"exit_code", 4}});

  REQUIRE(a.marks.size() == 2);
  CHECK(a.marks[0].name == "ci start");
  CHECK(a.marks[0].scope == "g");  // a moment of the whole run
  CHECK(a.marks[0].text ==
        std::map<std::string, std::string>{{"branch", "main"}, {"msg", "hello world"}});
  CHECK(a.marks[0].number == std::map<std::string, long long>{{"attempt", 1}});
  CHECK(a.marks[1].name == "ci done");
  CHECK(a.marks[1].scope == "g");

  // One track for the counter, though two processes sent its samples.
  CHECK(a.counters == std::map<std::string, std::vector<double>>{{"warnings", {7, -2.5}}});
  CHECK(a.counter_pids.size() == 1);

  // The Perfetto report has them too.
  auto pf = s.viztrace({"run", "-q", "-o", "ci.pftrace", "--", "./ci.sh"}, o);
  CHECK(pf.exit_code() == 4);
  auto bytes = s.command({"cat", "ci.pftrace"});
  for (const char* name : {"build", "flaky", "killed", "deploy", "ci start", "ci done", "warnings"})
    CHECK(bytes.out.find(name) != std::string::npos);
  require_clean(s);
}

TEST_CASE("viztrace mark, span and counter refuse bad usage in one line with status 2") {
  Sandbox s;
  const std::vector<std::vector<std::string>> bad = {{"mark"},
                                                     {"mark", ""},
                                                     {"mark", "x", "novalue"},
                                                     {"mark", "x", "=v"},
                                                     {"counter"},
                                                     {"counter", "x"},
                                                     {"counter", "x", "abc"},
                                                     {"counter", "x", "1", "2"},
                                                     {"counter", "x", "nan"},
                                                     {"counter", "x", "1e999"},
                                                     {"span"},
                                                     {"span", "x"},
                                                     {"span", "--", "true"}};
  for (const auto& args : bad) {
    auto r = s.viztrace(args);
    INFO(args.front() << " with " << args.size() - 1 << " args: " << r.err);
    CHECK(r.exit_code() == 2);
    CHECK(r.err.rfind("viztrace: " + args.front() + ": ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.out == "");
  }
  // Good usage outside a traced run: nothing to record, status 0 (the span: the command's).
  CHECK(s.viztrace({"mark", "x", "a=1", "b=c d", "-e=-1"}).exit_code() == 0);
  CHECK(s.viztrace({"counter", "temperature", "-5.5"}).exit_code() == 0);
  CHECK(s.viztrace({"counter", "--", "x", "-1"}).exit_code() == 0);
  auto ok = s.viztrace({"span", "x", "--", "sh", "-c", "echo hi; exit 7"});
  CHECK(ok.exit_code() == 7);
  CHECK(ok.out == "hi\n");
  // The command starts with the signal dispositions and mask it would have had without us.
  const std::vector<std::string> sigs = {"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"};
  std::vector<std::string> span_sigs = {"span", "sigs", "--"};
  span_sigs.insert(span_sigs.end(), sigs.begin(), sigs.end());
  auto direct = s.command(sigs);
  REQUIRE(direct.exit_code() == 0);
  CHECK(s.viztrace(span_sigs).out == direct.out);
  auto missing = s.viztrace({"span", "x", "--", "./no-such-program"});
  CHECK(missing.exit_code() == 127);
  CHECK(missing.err.find("viztrace: span: cannot run ./no-such-program") == 0);
  auto help = s.viztrace({"span", "--help"});
  CHECK(help.exit_code() == 0);
  CHECK(help.out.find("viztrace span build -- make") != std::string::npos);
  require_clean(s);
}

TEST_CASE("the installed example annotate.c compiles and shows what its comment says") {
  Sandbox s;
  compile(s, {"cc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-I" + kInclude, "-o",
              "annotate", kExamples + "/annotate.c"});
  auto r = s.viztrace({"run", "-q", "--", "./annotate"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "annotate: 3 steps done\n");
  Report rep = s.report();
  Annotations a = annotations_of(rep);
  CHECK(named(a, "load").size() == 1);
  CHECK(named(a, "work").size() == 1);
  CHECK(named(a, "step").size() == 3);
  for (const SpanEvent* step : named(a, "step")) CHECK(inside(*step, only(a, "work")));
  CHECK(rep.thread_names.at({only(a, "work").pid, only(a, "work").tid}) == "worker");
  REQUIRE(a.marks.size() == 1);
  CHECK(a.marks[0].text.at("phase") == "warm");
  CHECK(a.marks[0].number.at("items") == 3);
  CHECK(a.counters.at("queue depth") == std::vector<double>{3, 2, 1, 0});
  require_clean(s);
}
