// What the report says of each process, in every format (JSON, pftrace, HTML): its own CPU time
// and peak memory, not its children's; where a process whose end nobody saw ends; the name it
// has on the timeline; and an argv too long to keep.
#include <signal.h>
#include <simdjson.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../unit/proto_decoder.h"
#include "harness.h"

using namespace vt_test;

namespace {

// A process slice as any format tells it; args flattened as the pftrace decoder does
// ("argv[0]", "argv_truncated.bytes_left_out"), every value as text.
struct Slice {
  std::string name;
  double start_us = 0, end_us = 0;  // from the session start
  std::map<std::string, std::string> args;

  long long pid() const { return std::stoll(args.at("pid")); }
  bool has(const std::string& key) const { return args.count(key) > 0; }
  double number(const std::string& key) const { return std::stod(args.at(key)); }
  bool flag(const std::string& key) const { return has(key) && args.at(key) == "true"; }
};

void flatten(simdjson::dom::element e, const std::string& key,
             std::map<std::string, std::string>& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT:
      for (auto [k, v] : simdjson::dom::object(e))
        flatten(v, key.empty() ? std::string(k) : key + "." + std::string(k), out);
      break;
    case simdjson::dom::element_type::ARRAY: {
      std::size_t i = 0;
      for (simdjson::dom::element v : simdjson::dom::array(e))
        flatten(v, key + "[" + std::to_string(i++) + "]", out);
      break;
    }
    case simdjson::dom::element_type::STRING:
      out[key] = std::string(std::string_view(e));
      break;
    case simdjson::dom::element_type::BOOL:
      out[key] = bool(e) ? "true" : "false";
      break;
    case simdjson::dom::element_type::INT64:
      out[key] = std::to_string(std::int64_t(e));
      break;
    case simdjson::dom::element_type::UINT64:
      out[key] = std::to_string(std::uint64_t(e));
      break;
    case simdjson::dom::element_type::DOUBLE: {
      std::ostringstream text;
      text.precision(17);
      text << double(e);
      out[key] = text.str();
      break;
    }
    default:
      out[key] = "";
  }
}

std::vector<Slice> json_processes(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  std::vector<Slice> out;
  for (simdjson::dom::element e : doc["traceEvents"].get_array()) {
    std::string_view cat;
    if (e["cat"].get(cat) != simdjson::SUCCESS || cat != "process") continue;
    Slice s;
    s.name = std::string(std::string_view(e["name"]));
    s.start_us = double(e["ts"]);
    s.end_us = s.start_us + double(e["dur"]);
    flatten(e["args"], "", s.args);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Slice> pftrace_processes(const std::string& bytes) {
  viztrace::test::DecodedTrace t = viztrace::test::decode_pftrace(bytes);
  INFO((t.problems.empty() ? "" : t.problems.front()));
  REQUIRE(t.problems.empty());
  std::vector<std::string> problems;
  auto tracks = viztrace::test::slices_by_track(t, problems);
  REQUIRE(problems.empty());
  // Times from the session slice's start, as the JSON has them.
  std::uint64_t origin = UINT64_MAX;
  for (const auto& [uuid, c] : tracks)
    for (const auto& sl : c.slices)
      if (sl.name == "viztrace run") origin = std::min(origin, sl.start);
  REQUIRE(origin != UINT64_MAX);
  std::vector<Slice> out;
  for (const auto& [uuid, c] : tracks)
    for (const auto& sl : c.slices) {
      if (sl.category != "process") continue;
      Slice s;
      s.name = sl.name;
      s.start_us = static_cast<double>(sl.start - origin) / 1000;
      s.end_us = static_cast<double>(sl.end - origin) / 1000;
      s.args = sl.args;
      out.push_back(std::move(s));
    }
  return out;
}

// The report of one run in every format: the JSON written by `run`, the others by `report` from
// the same kept trace data.
struct Reports {
  Result run;
  std::vector<Slice> json, pftrace;
  std::string json_text, html;
  std::string summary;     // what `viztrace report` printed
  double duration_us = 0;  // the session's, from the JSON's metadata

  // The slices of each format in turn, with the format's name.
  std::vector<std::pair<const char*, const std::vector<Slice>*>> formats() const {
    return {{"json", &json}, {"pftrace", &pftrace}};
  }
};

Reports run_in_all_formats(const Sandbox& s, std::vector<std::string> args, const Options& o = {}) {
  Reports r;
  args.insert(args.begin(), {"run", "-q", "--keep-temp", "-o", "r.json"});
  r.run = s.viztrace(args, o);
  const std::string marker = "kept the trace data in ";
  std::size_t at = r.run.err.find(marker);
  INFO(r.run.err);
  REQUIRE(at != std::string::npos);
  at += marker.size();
  const std::string kept = r.run.err.substr(at, r.run.err.find(' ', at) - at);
  for (const char* out : {"r.pftrace", "r.html"}) {
    Result rep = s.viztrace({"report", kept, "-o", out});
    INFO(rep.err);
    REQUIRE(rep.exit_code() == 0);
    r.summary = rep.err;
  }
  REQUIRE(s.viztrace({"clean", "--kept"}).exit_code() == 0);
  r.json_text = slurp(s.path("r.json"));
  r.json = json_processes(r.json_text);
  r.pftrace = pftrace_processes(slurp(s.path("r.pftrace")));
  r.html = slurp(s.path("r.html"));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(r.json_text).get(doc) == simdjson::SUCCESS);
  r.duration_us = double(doc["metadata"]["duration_ms"]) * 1000;
  return r;
}

// The one slice whose args satisfy pred; fails the test when there is not exactly one.
template <class Pred>
const Slice& only(const std::vector<Slice>& slices, Pred pred, const char* what) {
  const Slice* found = nullptr;
  int n = 0;
  for (const Slice& s : slices)
    if (pred(s)) found = &s, ++n;
  INFO(what);
  REQUIRE(n == 1);
  return *found;
}

double cpu_ms(const Slice& s) {
  return s.number("utime_ms") + s.number("stime_ms");
}

}  // namespace

TEST_CASE("a parent that waited for a busy child shows its own CPU time, not the child's") {
  Sandbox s;
  // The child burns CPU in a shell loop; the parent only waits for it. In the second run the
  // parent is killed before it could tell its own usage: only the reaper's count is left, which
  // includes the child's.
  for (const char* end : {"exit 0", "kill -9 $$"}) {
    INFO(end);
    const std::string burn = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done";
    Reports r =
        run_in_all_formats(s, {"sh", "-c", "sh -c '" + burn + "; exit 5'; " + std::string(end)});
    for (auto [format, slices] : r.formats()) {
      INFO(format);
      const Slice& parent = only(
          *slices, [](const Slice& x) { return x.flag("target"); }, "parent");
      const Slice& child = only(
          *slices, [](const Slice& x) { return x.has("exit_code") && x.number("exit_code") == 5; },
          "child");
      CHECK(child.args.at("ppid") == parent.args.at("pid"));
      REQUIRE(child.has("utime_ms"));
      CHECK(cpu_ms(child) > 100);
      REQUIRE(parent.has("utime_ms"));
      CHECK(cpu_ms(parent) < cpu_ms(child) / 4);
      // The subtree's total is there too, labelled as such.
      REQUIRE(parent.has("utime_ms_with_children"));
      CHECK(parent.number("utime_ms_with_children") + parent.number("stime_ms_with_children") >=
            cpu_ms(child));
      CHECK_FALSE(child.has("utime_ms_with_children"));  // it waited for nobody
    }
    CHECK(r.html.find("utime_ms_with_children") != std::string::npos);
  }
  require_clean(s);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST_CASE("a parent that reaped a child using 64 MB does not show the child's peak memory") {
  Sandbox s;
  for (const char* end : {"exit 0", "kill -9 $$"}) {
    INFO(end);
    Reports r = run_in_all_formats(
        s, {"sh", "-c", "/usr/bin/python3 -c 'b = b\"x\" * (64 << 20)'; " + std::string(end)});
    for (auto [format, slices] : r.formats()) {
      INFO(format);
      const Slice& parent = only(
          *slices, [](const Slice& x) { return x.flag("target"); }, "parent");
      const Slice& child = only(
          *slices, [](const Slice& x) { return x.name == "python3"; }, "child");
      REQUIRE(child.has("max_rss_kb"));
      CHECK(child.number("max_rss_kb") >= 64 * 1024);
      // Its own peak, or nothing when only a count that includes the child's is known. Linux
      // keeps a peak across fork and exec: the target starts at viztrace's own, which an
      // AddressSanitizer build makes tens of MB.
      if (parent.has("max_rss_kb") && !kSanitized) CHECK(parent.number("max_rss_kb") < 16 * 1024);
      if (std::string(end) == "exit 0") CHECK(parent.has("max_rss_kb"));
    }
  }
  require_clean(s);
}

TEST_CASE("a daemon left running past --linger lasts to the end of the run, marked unfinished") {
  Sandbox s;
  Reports r = run_in_all_formats(s, {"--linger", "0.3", "sh", "-c", "(sleep 30 &); exit 0"});
  CHECK(r.run.exit_code() == 0);
  long long daemon_pid = 0;
  for (auto [format, slices] : r.formats()) {
    INFO(format);
    const Slice& sh = only(
        *slices, [](const Slice& x) { return x.flag("target"); }, "target");
    const Slice& daemon = only(
        *slices, [](const Slice& x) { return x.name == "sleep"; }, "daemon");
    daemon_pid = daemon.pid();
    CHECK(daemon.flag("unfinished"));
    CHECK_FALSE(sh.flag("unfinished"));
    // viztrace waited --linger for it after the command ended: the run ended then, and so
    // does what is known of the daemon.
    CHECK(daemon.end_us - sh.end_us >= 250'000);
    CHECK(daemon.end_us == Approx(r.duration_us).margin(1));
  }
  CHECK(r.html.find("unfinished: true") != std::string::npos);
  REQUIRE(daemon_pid > 0);
  kill(static_cast<pid_t>(daemon_pid), SIGKILL);
  await_exit(static_cast<pid_t>(daemon_pid));
  require_clean(s);
}

TEST_CASE("a process alive when viztrace was killed ends at its last call in recover's report") {
  Sandbox s;
  s.write_file("late.c",
               "#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\n"
               "static volatile long sink;\n"
               "__attribute__((noinline)) void before(long i) { sink += i; }\n"
               "__attribute__((noinline)) void after_kill(long i) {\n"
               "  struct timespec t = {0, 100000}; nanosleep(&t, 0); sink -= i; }\n"
               "int main(void) {\n"
               "  pid_t parent = getppid();\n"
               "  for (long i = 0; i < 10; i++) before(i);\n"
               "  puts(\"ready\"); fflush(stdout);\n"
               "  while (getppid() == parent) usleep(1000);\n"
               "  for (long i = 0; i < 300; i++) after_kill(i);\n"
               "  return 0; }\n");
  compile(s, {"gcc", "-O1", "-finstrument-functions", "-o", "late", "late.c"});
  auto run = s.start_viztrace({"run", "--", "./late"});
  run->wait_for_out("ready\n");
  kill_then_recover(s, *run);
  std::string text = slurp(s.path("r.json"));
  const std::vector<Slice> processes = json_processes(text);
  const Slice& late = only(
      processes, [](const Slice& x) { return x.name == "late"; }, "late");
  CHECK(late.flag("unfinished"));
  // Its calls after the kill took 300 x 0.1 ms at least, and the process holds them all.
  double last_call_end = 0, first_call = 1e300;
  simdjson::dom::parser parser;
  for (simdjson::dom::element e : parser.parse(text)["traceEvents"].get_array()) {
    std::string_view cat;
    if (e["cat"].get(cat) != simdjson::SUCCESS || cat != "function") continue;
    if (std::string_view(e["name"]) != "after_kill") continue;
    first_call = std::min(first_call, double(e["ts"]));
    last_call_end = std::max(last_call_end, double(e["ts"]) + double(e["dur"]));
  }
  REQUIRE(last_call_end - first_call >= 30'000);
  CHECK(late.end_us >= last_call_end);
  require_clean(s);
}

TEST_CASE(
    "a script is named after itself as the kernel names it, and binaries and sh -c keep their "
    "names") {
  Sandbox s;
  s.write_file("my-tool", "#!/bin/sh\necho tool\n", true);
  // It forks: the child runs the same program, and has the same name (the kernel's comm is
  // inherited through fork).
  s.write_file("my-py-tool",
               "#!/usr/bin/python3\nimport os\npid = os.fork()\nif pid == 0:\n  os._exit(0)\n"
               "os.waitpid(pid, 0)\nprint('py')\n",
               true);
  Reports r = run_in_all_formats(
      s, {"sh", "-c", "./my-tool && ./my-py-tool && /bin/true && ls / >/dev/null; exit 4"});
  CHECK(r.run.out == "tool\npy\n");
  for (auto [format, slices] : r.formats()) {
    INFO(format);
    const Slice& sh = only(
        *slices, [](const Slice& x) { return x.flag("target"); }, "target");
    CHECK(sh.name == "sh");
    // argv stays as the kernel passed it: the interpreter, then the script.
    auto runs = [](const char* script) {
      return [script](const Slice& x) {
        return x.args.count("argv[1]") && x.args.at("argv[1]") == script;
      };
    };
    const Slice& tool = only(*slices, runs("./my-tool"), "my-tool");
    CHECK(tool.name == "my-tool");
    CHECK(tool.args.at("argv[0]") == "/bin/sh");
    int py_images = 0;
    for (const Slice& py : *slices) {
      if (!runs("./my-py-tool")(py)) continue;
      ++py_images;
      INFO(py.args.at("started_by"));
      CHECK(py.name == "my-py-tool");
      CHECK(py.args.at("argv[0]") == "/usr/bin/python3");
    }
    CHECK(py_images == 2);  // the script, and its fork child
    only(
        *slices, [](const Slice& x) { return x.name == "true"; }, "true");
    only(
        *slices, [](const Slice& x) { return x.name == "ls"; }, "ls");
  }
  // The command viztrace runs, and the name of its process's track.
  Result direct = s.viztrace({"run", "-q", "-o", "direct.json", "--", "./my-tool"});
  CHECK(direct.exit_code() == 0);
  Report rep = s.report("direct.json");
  CHECK(rep.target().name == "my-tool");
  CHECK(rep.raw.find(R"("name":"process_name","pid":)" + std::to_string(rep.target().pid) +
                     R"(,"tid":)" + std::to_string(rep.target().pid) +
                     R"(,"args":{"name":"my-tool"})") != std::string::npos);
  require_clean(s);
}

TEST_CASE("an argv too long to keep is cut where it fits, and the cut is told") {
  Sandbox s;
  // 20,000 arguments of 100 bytes (NULs included) are more than the 2 MB execve allows with
  // the usual 8 MB stack limit: a larger one lets the kernel take them (ARG_MAX is a quarter).
  struct rlimit old;
  REQUIRE(getrlimit(RLIMIT_STACK, &old) == 0);
  struct rlimit big = old;
  big.rlim_cur = 32u << 20;
  if (old.rlim_max != RLIM_INFINITY && old.rlim_max < big.rlim_cur) {
    WARN("the stack limit cannot be raised to 32 MB: skipped");
    return;
  }
  REQUIRE(setrlimit(RLIMIT_STACK, &big) == 0);
  struct Restore {
    rlimit limit;
    ~Restore() { setrlimit(RLIMIT_STACK, &limit); }
  } restore{old};

  std::vector<std::string> args;
  for (int i = 0; i < 20000; ++i) {
    std::string a = std::to_string(i) + ":";
    args.push_back(a + std::string(99 - a.size(), 'x'));
  }
  SECTION("the command viztrace runs keeps every argument") {
    std::vector<std::string> cmd = {"run", "-q", "--", "/bin/true"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    Result r = s.viztrace(cmd);
    INFO(r.err.substr(0, 2000));
    REQUIRE(r.exit_code() == 0);
    Report rep = s.report();
    const Process target = rep.target();
    REQUIRE(target.argv.size() == args.size() + 1);
    CHECK(std::equal(args.begin(), args.end(), target.argv.begin() + 1));
    CHECK(rep.raw.find("argv_truncated") == std::string::npos);
  }
  SECTION("a program run by a traced one keeps what fits, and says what was left out") {
    std::vector<std::string> cmd = {"sh", "-c", "/bin/true \"$@\"; exit 0", "sh"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    Reports r = run_in_all_formats(s, cmd);
    INFO(r.run.err.substr(0, 2000));
    REQUIRE(r.run.exit_code() == 0);
    for (auto [format, slices] : r.formats()) {
      INFO(format);
      const Slice& sh = only(
          *slices, [](const Slice& x) { return x.flag("target"); }, "sh");
      CHECK(sh.has("argv[20003]"));  // the command, whole
      CHECK_FALSE(sh.has("argv_truncated.arguments_left_out"));
      const Slice& t = only(
          *slices, [](const Slice& x) { return x.name == "true"; }, "true");
      std::size_t kept = 0;
      while (t.has("argv[" + std::to_string(kept) + "]")) ++kept;
      REQUIRE(kept > 1000);  // what fits: about 1 MB of it
      REQUIRE(kept < args.size());
      CHECK(t.args.at("argv[0]") == "/bin/true");
      for (std::size_t i = 1; i < kept; ++i)
        if (t.args.at("argv[" + std::to_string(i) + "]") != args[i - 1]) FAIL("argv " << i);
      REQUIRE(t.has("argv_truncated.arguments_left_out"));
      CHECK(t.number("argv_truncated.arguments_left_out") == double(args.size() + 1 - kept));
      CHECK(t.number("argv_truncated.bytes_left_out") == double((args.size() + 1 - kept) * 100));
    }
    CHECK(r.html.find("argv_truncated") != std::string::npos);
    // The summary does not say that nothing was lost.
    CHECK(r.summary.find("nothing lost") == std::string::npos);
    CHECK(r.summary.find("argv") != std::string::npos);
  }
  require_clean(s);
}
