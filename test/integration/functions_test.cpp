// Function tracing of -finstrument-functions builds: exact call counts, demangled names, the
// right thread, proper nesting, calls left open by _exit or a crash, the record-time depth
// limit and the report-time filters, fork children, and programs that are not instrumented.
#include <csignal>
#include <cstdio>

#include <algorithm>
#include <fstream>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <sstream>

#include "../unit/proto_decoder.h"
#include "harness.h"
#include "simdjson.h"

using namespace vt_test;
using viztrace::test::decode_pftrace;
using viztrace::test::DecodedEvent;
using viztrace::test::DecodedTrace;

namespace {

struct Call {
  std::string name;
  long long pid = 0, tid = 0;
  double ts = 0, dur = 0;
  bool unfinished = false;
};

std::vector<Call> calls_of(const Report& rep) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(rep.raw);
  std::vector<Call> out;
  for (simdjson::dom::element e : doc["traceEvents"].get_array()) {
    std::string_view cat;
    if (e["cat"].get(cat) || cat != "function") continue;
    Call c;
    c.name = std::string(std::string_view(e["name"]));
    c.pid = int64_t(e["pid"]);
    c.tid = int64_t(e["tid"]);
    c.ts = double(e["ts"]);
    c.dur = double(e["dur"]);
    bool unfinished = false;
    if (!e["args"]["unfinished"].get(unfinished)) c.unfinished = unfinished;
    out.push_back(std::move(c));
  }
  return out;
}

std::map<std::string, int> counts(const std::vector<Call>& calls) {
  std::map<std::string, int> n;
  for (const Call& c : calls) ++n[c.name];
  return n;
}

// Slices of one thread nest: each lies inside the one still open before it. Returns a
// description of the first that does not, "" when all nest.
std::string nesting_problem(std::vector<Call> calls) {
  std::map<std::pair<long long, long long>, std::vector<Call>> by_thread;
  for (Call& c : calls) by_thread[{c.pid, c.tid}].push_back(std::move(c));
  for (auto& [key, list] : by_thread) {
    std::stable_sort(list.begin(), list.end(), [](const Call& a, const Call& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.dur > b.dur;
    });
    std::vector<const Call*> open;
    for (const Call& c : list) {
      // ts and dur are decimal microseconds: a call that ends where the next begins may sum
      // to a hair past it.
      while (!open.empty() && open.back()->ts + open.back()->dur <= c.ts + 0.0005) open.pop_back();
      if (!open.empty() && c.ts + c.dur > open.back()->ts + open.back()->dur + 0.0015) {
        auto at = [](const Call& x) {
          return x.name + " [" + std::to_string(x.ts) + " +" + std::to_string(x.dur) + "]";
        };
        return at(c) + " overlaps " + at(*open.back()) + " on thread " +
               std::to_string(key.second);
      }
      open.push_back(&c);
    }
  }
  return "";
}

// The innermost enclosing call of c on its thread, or null.
const Call* parent_call(const std::vector<Call>& calls, const Call& c) {
  const Call* best = nullptr;
  for (const Call& p : calls) {
    if (&p == &c || p.tid != c.tid || p.pid != c.pid) continue;
    // ts and dur are decimal microseconds: their sums may differ in the last bit.
    if (p.ts <= c.ts && p.ts + p.dur >= c.ts + c.dur - 1e-6 && !(p.ts == c.ts && p.dur == c.dur))
      if (!best || p.dur < best->dur) best = &p;
  }
  return best;
}

// Writes name.c and builds it with -finstrument-functions into ./name.
void build_instrumented(const Sandbox& s, const std::string& name, const std::string& source) {
  s.write_file(name + ".c", source);
  compile(s, {"gcc", "-O1", "-finstrument-functions", "-o", name, name + ".c"});
}

// The number of the first line of a fixture's source that starts with `start`; 0 if none.
int line_of(const std::string& file, const std::string& start) {
  std::ifstream source(std::string(FIXTURE_SOURCE_DIR) + "/" + file);
  int line = 0;
  for (std::string text; std::getline(source, text);)
    if (++line && text.starts_with(start)) return line;
  return 0;
}

const Call& only(const std::vector<Call>& calls, const std::string& name) {
  const Call* found = nullptr;
  int n = 0;
  for (const Call& c : calls)
    if (c.name == name) found = &c, ++n;
  INFO(name);
  REQUIRE(n == 1);
  return *found;
}

}  // namespace

TEST_CASE("an instrumented program: exact calls, demangled names, threads and nesting") {
  // The TSC (when this machine's is usable) and CLOCK_MONOTONIC take different paths.
  const std::string clock = GENERATE(as<std::string>{}, "auto", "monotonic");
  INFO("--clock " << clock);
  Sandbox s;
  auto r = s.viztrace({"run", "--clock", clock, "--", fixture("fn_demo")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.out == "fn_demo ok\n");
  Report rep = s.report();
  auto calls = calls_of(rep);
  const std::map<std::string, int> expected = {
      {"main", 1},
      {"geo::Box<long>::area(long) const", 3},
      {"geo::Box<double>::area(double) const", 3},
      {"fib(int)", 177},
      {"run_worker(void*)", 2},
      {"worker_loop(int)", 2},
      {"step(int)", 10},
      {"catcher()", 1},
      {"level1()", 1},
      {"level2()", 1},
      {"thrower()", 1},
      {"on_usr1(int)", 1},
      {"in_handler(int)", 1},
      {"plugin_path(char const*)", 1},
      {"call_plugin(char const*)", 1},
      {"plugin_entry", 1},
      {"plugin::helper(int)", 2},
      {"jump_home()", 1},
      {"jumper(__jmp_buf_tag (*) [1])", 1},
      {"deep_jump(__jmp_buf_tag (*) [1])", 1},
  };
  CHECK(counts(calls) == expected);
  CHECK(nesting_problem(calls) == "");
  for (const Call& c : calls) CHECK_FALSE(c.unfinished);

  // On the right threads: the workers' calls on the threads named worker-a and worker-b.
  const Process target = rep.target();
  std::set<std::string> step_threads;
  for (const Call& c : calls) {
    CHECK(c.pid == target.pid);
    CHECK(c.ts >= target.ts);
    CHECK(c.ts + c.dur <= target.ts + target.dur + 0.001);
    if (c.name == "step(int)") step_threads.insert(rep.thread_names.at({c.pid, c.tid}));
    if (c.name == "fib(int)" || c.name == "main") CHECK(c.tid == target.pid);
  }
  CHECK(step_threads == std::set<std::string>{"worker-a", "worker-b"});

  // Parents: an exception unwound through three frames, a longjmp skipped two returns, a
  // signal handler, a function of a library loaded with dlopen.
  CHECK(parent_call(calls, only(calls, "thrower()"))->name == "level2()");
  CHECK(parent_call(calls, only(calls, "level2()"))->name == "level1()");
  CHECK(parent_call(calls, only(calls, "level1()"))->name == "catcher()");
  CHECK(parent_call(calls, only(calls, "deep_jump(__jmp_buf_tag (*) [1])"))->name ==
        "jumper(__jmp_buf_tag (*) [1])");
  CHECK(parent_call(calls, only(calls, "jumper(__jmp_buf_tag (*) [1])"))->name == "jump_home()");
  CHECK(parent_call(calls, only(calls, "in_handler(int)"))->name == "on_usr1(int)");
  CHECK(parent_call(calls, only(calls, "on_usr1(int)"))->name == "main");
  CHECK(parent_call(calls, only(calls, "plugin_entry"))->name == "call_plugin(char const*)");
  for (const Call& c : calls)
    if (c.name == "plugin::helper(int)") CHECK(parent_call(calls, c)->name == "plugin_entry");
  // fib(10) is one tree under main: 177 calls, the deepest 10 below the first.
  const Call& root = *std::min_element(calls.begin(), calls.end(), [](const Call& a, const Call& b) {
    return a.name == "fib(int)" && (b.name != "fib(int)" || a.ts < b.ts);
  });
  CHECK(parent_call(calls, root)->name == "main");

  // The summary names the functions that took the most time.
  CHECK(r.err.find("212 function calls; top functions by self time:") != std::string::npos);
  CHECK(r.err.find("  main  (1 call, total ") != std::string::npos);
  // With the source line of each, from the fixture's DWARF (scripts/setup installs libdw).
  const int main_line = line_of("fn_demo.cpp", "int main(");
  REQUIRE(main_line > 0);
  std::size_t main_at = r.err.find("  main  (1 call, total ");
  REQUIRE(main_at != std::string::npos);
  std::string main_summary = r.err.substr(main_at, r.err.find('\n', main_at) - main_at);
  CHECK(main_summary.ends_with("  fn_demo.cpp:" + std::to_string(main_line)));
  require_clean(s);
}

TEST_CASE("libraries closed and loaded again at one address: each call named from its own") {
  // plugin_cycle loads libcycle_a.so, libcycle_b.so, then libcycle_a.so again, by bare name
  // through its RUNPATH, closing each before the next: the shim's dlopen must leave the
  // caller as it was for the loader to find them there.
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("plugin_cycle")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  // Where each entry point was: the loader gave the second library the first one's place,
  // or this test shows nothing.
  std::istringstream loads(r.out);
  std::vector<std::pair<std::string, std::string>> entries;
  for (std::string which, where; loads >> which >> where;) entries.emplace_back(which, where);
  REQUIRE(entries.size() == 3);
  REQUIRE(entries[0].second == entries[1].second);

  Report rep = s.report();
  auto calls = calls_of(rep);
  const std::map<std::string, int> expected = {
      {"main", 1},          {"run_plugin", 3},    {"cycle_a_entry", 2},
      {"cycle_a_leaf", 10}, {"cycle_b_entry", 1}, {"cycle_b_leaf", 5},
  };
  CHECK(counts(calls) == expected);
  CHECK(nesting_problem(calls) == "");
  std::vector<std::string> entry_order;
  std::sort(calls.begin(), calls.end(), [](const Call& a, const Call& b) { return a.ts < b.ts; });
  for (const Call& c : calls) {
    if (c.name.ends_with("_entry")) entry_order.push_back(c.name);
    if (c.name.ends_with("_leaf"))
      CHECK(parent_call(calls, c)->name == c.name.substr(0, c.name.size() - 4) + "entry");
  }
  CHECK(entry_order == std::vector<std::string>{"cycle_a_entry", "cycle_b_entry", "cycle_a_entry"});
  require_clean(s);
}

TEST_CASE("calls still open at _exit or at a crash end there, marked unfinished") {
  Sandbox s;
  struct Ending {
    const char* flag;
    int status;
    const char* inside;
  };
  for (Ending e : {Ending{"--exit-early", 3, "inside_exit()"},
                   Ending{"--crash", 128 + SIGSEGV, "inside_crash()"}}) {
    INFO(e.flag);
    auto r = s.viztrace({"run", "-q", "-o", "t.json", "--", fixture("fn_demo"), e.flag});
    INFO(r.err);
    CHECK(r.exit_code() == e.status);
    Report rep = s.report("t.json");
    auto calls = calls_of(rep);
    CHECK(counts(calls)["fib(int)"] == 177);
    std::set<std::string> unfinished;
    for (const Call& c : calls)
      if (c.unfinished) unfinished.insert(c.name);
    CHECK(unfinished == std::set<std::string>{"main", e.inside});
    const Process target = rep.target();
    const Call& main = only(calls, "main");
    CHECK(main.ts + main.dur <= target.ts + target.dur + 0.001);
    CHECK(main.ts + main.dur >= only(calls, e.inside).ts);
    CHECK(nesting_problem(calls) == "");
  }
  require_clean(s);
}

TEST_CASE("calls of threads that never published their rings, SIGKILLed, are all there") {
  Sandbox s;
  // Fewer records per thread than the shim writes between two publications: the collector
  // must find them in the rings of the dead process itself.
  s.write_file("sudden.c",
               "#include <pthread.h>\n#include <signal.h>\n#include <unistd.h>\n"
               "static volatile long sink;\n"
               "static pthread_barrier_t ready;\n"
               "__attribute__((noinline)) void on_worker(long i) { sink += i; }\n"
               "__attribute__((noinline)) void on_main(long i) { sink -= i; }\n"
               "void* worker(void* arg) {\n"
               "  for (long i = 0; i < 7; i++) on_worker(i);\n"
               "  pthread_barrier_wait(&ready);\n"
               "  for (;;) pause();\n"
               "  return arg; }\n"
               "int main(void) {\n"
               "  pthread_t t;\n"
               "  pthread_barrier_init(&ready, 0, 2);\n"
               "  pthread_create(&t, 0, worker, 0);\n"
               "  for (long i = 0; i < 5; i++) on_main(i);\n"
               "  pthread_barrier_wait(&ready);\n"
               "  kill(getpid(), SIGKILL);\n"
               "  return 0; }\n");
  compile(s, {"gcc", "-O1", "-finstrument-functions", "-pthread", "-o", "sudden", "sudden.c"});
  auto r = s.viztrace({"run", "-q", "-o", "t.json", "--", "./sudden"});
  INFO(r.err);
  CHECK(r.signal() == SIGKILL);  // as the command ended
  auto calls = calls_of(s.report("t.json"));
  auto n = counts(calls);
  CHECK(n["on_main"] == 5);
  CHECK(n["on_worker"] == 7);
  CHECK(only(calls, "main").unfinished);
  CHECK(only(calls, "worker").unfinished);
  for (const Call& c : calls)
    if (c.name == "on_worker") CHECK(c.tid == only(calls, "worker").tid);
  CHECK(only(calls, "worker").tid != only(calls, "main").tid);
  CHECK(nesting_problem(calls) == "");
  require_clean(s);
}

TEST_CASE("the depth limit while recording, and the filters of the report") {
  Sandbox s;
  auto depth = s.viztrace({"run", "-q", "--max-stack-depth", "1", "-o", "d.json", "--",
                           fixture("fn_demo")});
  INFO(depth.err);
  CHECK(depth.exit_code() == 0);
  // Depth 1: main on the main thread, run_worker on each worker thread.
  CHECK(counts(calls_of(s.report("d.json"))) ==
        std::map<std::string, int>{{"main", 1}, {"run_worker(void*)", 2}});

  auto include = s.viztrace({"run", "-q", "--include", "^fib", "-o", "i.json", "--",
                             fixture("fn_demo")});
  CHECK(counts(calls_of(s.report("i.json"))) == std::map<std::string, int>{{"fib(int)", 177}});

  auto exclude = s.viztrace({"run", "-q", "--exclude", "fib|step|::", "-o", "e.json", "--",
                             fixture("fn_demo")});
  auto excluded = counts(calls_of(s.report("e.json")));
  CHECK(excluded.count("fib(int)") == 0);
  CHECK(excluded.count("plugin::helper(int)") == 0);
  CHECK(excluded["main"] == 1);
  CHECK(excluded["thrower()"] == 1);

  auto slow = s.viztrace({"run", "-q", "--min-duration", "10s", "-o", "m.json", "--",
                          fixture("fn_demo")});
  CHECK(calls_of(s.report("m.json")).empty());

  auto bad = s.viztrace({"run", "-q", "--include", "(", "-o", "b.json", "--", "true"});
  CHECK(bad.exit_code() == 2);
  CHECK(bad.err.find("--include: '(' is not a valid regular expression") != std::string::npos);
  auto bad_time = s.viztrace({"run", "--min-duration", "soon", "--", "true"});
  CHECK(bad_time.exit_code() != 0);
  CHECK(bad_time.err.find("'soon' is not a duration") != std::string::npos);
  require_clean(s);
}

TEST_CASE("the depth limit holds in a child exec'd with an environment of its own") {
  Sandbox s;
  build_instrumented(s, "reexec",
               "#include <string.h>\n#include <unistd.h>\n"
               "static volatile int sink;\n"
               "__attribute__((noinline)) void deep(void) { sink++; }\n"
               "__attribute__((noinline)) void middle(void) { deep(); }\n"
               "int main(int argc, char** argv) {\n"
               "  middle();\n"
               "  if (argc > 1) return 0;\n"
               "  char* args[] = {argv[0], \"child\", 0};\n"
               "  char* env[] = {\"FOO=bar\", 0};\n"
               "  execve(\"/proc/self/exe\", args, env);\n"
               "  return 1; }\n");
  auto r = s.viztrace({"run", "--max-stack-depth", "2", "--", "./reexec"});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  Report rep = s.report();
  auto images = rep.named("reexec");
  REQUIRE(images.size() == 2);  // one pid, the image before and after the exec
  std::map<std::string, int> calls;
  for (const Call& c : calls_of(rep)) ++calls[c.name];
  // Each image: main and middle; deep is past the limit in both.
  CHECK(calls == std::map<std::string, int>{{"main", 2}, {"middle", 2}});
  require_clean(s);
}

TEST_CASE("fork without exec: each process reports only its own calls") {
  Sandbox s;
  build_instrumented(s, "forker",
               "#include <sys/wait.h>\n#include <unistd.h>\n"
               "static volatile int sink;\n"
               "__attribute__((noinline)) void before_fork(void) { sink++; }\n"
               "__attribute__((noinline)) void in_child(int i) { sink += i; }\n"
               "__attribute__((noinline)) void in_parent(int i) { sink -= i; }\n"
               "int main(void) {\n"
               "  for (int i = 0; i < 1000; i++) before_fork();\n"
               "  pid_t pid = fork();\n"
               "  if (pid == 0) { for (int i = 0; i < 3; i++) in_child(i);\n"
               "    execl(\"/bin/true\", \"true\", (char*)0); _exit(1); }\n"
               "  for (int i = 0; i < 2; i++) in_parent(i);\n"
               "  int st; waitpid(pid, &st, 0); return 0; }\n");
  auto r = s.viztrace({"run", "--", "./forker"});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  Report rep = s.report();
  auto calls = calls_of(rep);
  const Process parent = rep.target();
  std::map<std::pair<long long, std::string>, int> by_pid;
  for (const Call& c : calls) ++by_pid[{c.pid, c.name}];
  CHECK(by_pid[{parent.pid, "before_fork"}] == 1000);
  CHECK(by_pid[{parent.pid, "in_parent"}] == 2);
  CHECK(by_pid[{parent.pid, "main"}] == 1);
  CHECK(by_pid[{parent.pid, "in_child"}] == 0);
  auto children = rep.named("true");
  REQUIRE(children.size() == 1);
  long long child = children[0].pid;
  CHECK(by_pid[{child, "in_child"}] == 3);
  CHECK(by_pid[{child, "before_fork"}] == 0);
  CHECK(nesting_problem(calls) == "");
  require_clean(s);
}

TEST_CASE("a program that is not instrumented traces as processes only") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", fixture("plain_demo")});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "plain ok\n");
  CHECK(r.err.find("function call") == std::string::npos);
  Report rep = s.report();
  CHECK(calls_of(rep).empty());
  CHECK(rep.named("true").size() == 1);
  require_clean(s);
}

TEST_CASE("function calls in the Perfetto and HTML reports") {
  Sandbox s;
  auto pf = s.viztrace({"run", "-q", "-o", "t.pftrace", "--", fixture("fn_demo")});
  INFO(pf.err);
  CHECK(pf.exit_code() == 0);
  auto html = s.viztrace({"run", "-q", "-o", "t.html", "--", fixture("fn_demo")});
  CHECK(html.exit_code() == 0);
  auto bytes = s.command({"cat", "t.pftrace"}).out;
  // Names are interned: each appears once however often it was called.
  for (const char* name : {"geo::Box<long>::area(long) const", "fib(int)", "plugin::helper(int)"}) {
    INFO(name);
    std::size_t first = bytes.find(name);
    CHECK(first != std::string::npos);
    CHECK(bytes.find(name, first + 1) == std::string::npos);
  }
  // Where each function is, from the fixtures' DWARF: interned once per thread like names.
  DecodedTrace t = decode_pftrace(bytes);
  CHECK(t.problems.empty());
  std::map<std::string, std::set<std::string>> sources;  // name -> sources of its slices
  for (const DecodedEvent& e : t.events)
    if (e.type == 1 && !e.category.size()) sources[e.name].insert(e.source);
  const std::string fixtures = FIXTURE_SOURCE_DIR;
  CHECK(sources["main"] ==
        std::set<std::string>{
            fixtures + "/fn_demo.cpp:" + std::to_string(line_of("fn_demo.cpp", "int main("))});
  CHECK(sources["plugin_entry"] ==
        std::set<std::string>{fixtures + "/fn_plugin.cpp:" +
                              std::to_string(line_of("fn_plugin.cpp", "extern \"C\""))});
  CHECK(sources["fib(int)"].size() == 1);
  auto page = s.command({"cat", "t.html"}).out;
  CHECK(page.find("fib(int)") != std::string::npos);
  CHECK(page.find("geo::Box<long>::area(long) const") == std::string::npos);  // '<' is escaped
  require_clean(s);
}

TEST_CASE("viztrace dying of a signal sweeps the function rings of its session too") {
  Sandbox s;
  // Calls functions until its parent (viztrace) is gone.
  build_instrumented(s, "loop",
               "#include <stdio.h>\n#include <unistd.h>\n"
               "static volatile long sink;\n"
               "__attribute__((noinline)) void tick(int i) { sink += i; }\n"
               "int main(void) {\n"
               "  pid_t parent = getppid();\n"
               "  for (int i = 0; i < 1000; i++) tick(i);\n"
               "  puts(\"ready\"); fflush(stdout);\n"
               "  while (getppid() == parent) { tick(1); usleep(1000); }\n"
               "  return 0; }\n");
  auto run = s.start_viztrace({"run", "--", "./loop"});
  run->wait_for_out("ready\n");
  // The ring is there while it runs.
  auto rings = s.command({"sh", "-c", "ls \"$0\"/viztrace-*/ | grep -c '^fn-'", s.tmp()});
  CHECK(rings.out == "1\n");
  run->signal(SIGSEGV);
  Result r = run->finish();
  CHECK(r.signal() == SIGSEGV);
  require_clean(s);
}

TEST_CASE("an instrumented program whose viztrace was killed runs on without waiting for it") {
  Sandbox s;
  // After viztrace is gone: 2 million calls, many times what a thread's ring holds.
  build_instrumented(s, "orphan",
               "#include <stdio.h>\n#include <unistd.h>\n"
               "static volatile long sink;\n"
               "__attribute__((noinline)) void tick(long i) { sink += i; }\n"
               "int main(void) {\n"
               "  pid_t parent = getppid();\n"
               "  tick(0);\n"
               "  puts(\"ready\"); fflush(stdout);\n"
               "  while (getppid() == parent) usleep(1000);\n"
               "  for (long i = 0; i < 2000000; i++) tick(i);\n"
               "  FILE* f = fopen(\"done\", \"w\"); fputs(\"done\\n\", f); fclose(f);\n"
               "  return 0; }\n");
  auto run = s.start_viztrace({"run", "--", "./orphan"});
  run->wait_for_out("ready\n");
  auto children = children_of(run->pid());
  REQUIRE(children.size() == 1);
  run->signal(SIGKILL);
  run->finish();
  await_exit(children[0], 30);
  CHECK(s.command({"cat", "done"}).out == "done\n");
  // The killed session (its rings included) is what `clean` is for.
  auto clean = s.viztrace({"clean"});
  CHECK(clean.exit_code() == 0);
  require_clean(s);
}

TEST_CASE("a thread whose ring is full naps for a stopped viztrace, and the summary says how long") {
  Sandbox s;
  // 3 million calls once `go` exists: 6 million records, many times what a ring holds.
  build_instrumented(s, "stalled",
               "#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\n"
               "static volatile long sink;\n"
               "__attribute__((noinline)) void tick(long i) { sink += i; }\n"
               "__attribute__((no_instrument_function)) static long long now(void) {\n"
               "  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);\n"
               "  return t.tv_sec * 1000000000LL + t.tv_nsec; }\n"
               "int main(void) {\n"
               "  tick(0);\n"
               "  puts(\"ready\"); fflush(stdout);\n"
               "  while (access(\"go\", F_OK) != 0) usleep(1000);\n"
               "  long long t0 = now();\n"
               "  for (long i = 0; i < 3000000; i++) tick(i);\n"
               "  printf(\"took %lld ns\\n\", now() - t0); fflush(stdout);\n"
               "  return 0; }\n");
  auto run = s.start_viztrace({"run", "--", "./stalled"});
  run->wait_for_out("ready\n");
  // viztrace stopped: the ring fills, the thread waits for room (up to a second), then drops.
  run->signal(SIGSTOP);
  s.write_file("go", "");
  run->wait_for_out(" ns\n");
  run->signal(SIGCONT);
  Result r = run->finish();
  INFO(r.out);
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  long long took_ns = 0;
  REQUIRE(std::sscanf(r.out.c_str() + r.out.find("took "), "took %lld ns", &took_ns) == 1);
  // The wait reported is the time the thread spent waiting: at least the second it allows
  // itself, and never more than the loop it waited in took.
  const std::string said = "traced threads waited ";
  auto at = r.err.find(said);
  REQUIRE(at != std::string::npos);
  double value = 0;
  char unit[8] = {};
  REQUIRE(std::sscanf(r.err.c_str() + at + said.size(), "%lf %7s", &value, unit) == 2);
  const double scale = std::string(unit) == "s" ? 1e9 : std::string(unit) == "ms" ? 1e6 : 1e3;
  const double waited_ns = value * scale;
  CHECK(waited_ns >= 1e9);
  CHECK(waited_ns <= static_cast<double>(took_ns));
  CHECK(r.err.find("nothing lost") == std::string::npos);
  require_clean(s);
}

TEST_CASE("recover finds the calls a killed viztrace had not collected yet") {
  Sandbox s;
  build_instrumented(s, "late",
               "#include <stdio.h>\n#include <unistd.h>\n"
               "static volatile long sink;\n"
               "__attribute__((noinline)) void early(long i) { sink += i; }\n"
               "__attribute__((noinline)) void after_kill(long i) { sink -= i; }\n"
               "int main(void) {\n"
               "  pid_t parent = getppid();\n"
               "  for (long i = 0; i < 10; i++) early(i);\n"
               "  puts(\"ready\"); fflush(stdout);\n"
               "  while (getppid() == parent) usleep(1000);\n"
               "  for (long i = 0; i < 1000; i++) after_kill(i);\n"
               "  return 0; }\n");
  auto run = s.start_viztrace({"run", "--", "./late"});
  run->wait_for_out("ready\n");
  kill_then_recover(s, *run);
  auto calls = calls_of(s.report("r.json"));
  auto n = counts(calls);
  CHECK(n["early"] == 10);
  CHECK(n["after_kill"] == 1000);
  CHECK(nesting_problem(calls) == "");
  require_clean(s);
}
