// viztrace stats and viztrace combine on real files: reports that viztrace run wrote in the
// test, uftrace's Chrome output for a program built with -pg, broken files, and merges.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include "harness.h"
#include "simdjson.h"

using namespace vt_test;

namespace {

// `viztrace stats --json` output, parsed: per name {count, total_ns, self_ns, max_ns}.
struct StatsJson {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::map<std::string, std::map<std::string, std::int64_t>> names;
  std::map<std::int64_t, simdjson::dom::element> processes;

  explicit StatsJson(const std::string& text) {
    INFO(text);
    REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
    for (simdjson::dom::element n : simdjson::dom::array(doc["names"]))
      for (const char* k : {"count", "total_ns", "self_ns", "max_ns"})
        names[std::string(std::string_view(n["name"]))][k] = std::int64_t(n[k]);
    for (simdjson::dom::element p : simdjson::dom::array(doc["processes"]))
      processes[std::int64_t(p["pid"])] = p;
  }
  std::int64_t get(const std::string& name, const char* key) {
    INFO("slice " << name);
    REQUIRE(names.count(name));
    return names[name][key];
  }
};

// A report of a small pipeline, written by the viztrace under test.
void record(const Sandbox& s, const std::string& output, const std::string& script) {
  auto r = s.viztrace({"run", "-q", "-o", output, "--", "sh", "-c", script});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
}

}  // namespace

TEST_CASE("stats on a report of viztrace run: processes with wall and CPU time") {
  Sandbox s;
  record(s, "r.json", "ls / | wc -l >/dev/null; sleep 0.05; exit 0");
  auto r = s.viztrace({"stats", "r.json"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("r.json: ") == 0);
  CHECK(r.out.find("(object form)") != std::string::npos);
  CHECK(r.out.find("Slices by self time") != std::string::npos);
  CHECK(r.out.find("Processes by wall time") != std::string::npos);
  for (const char* name : {"  ls\n", "  wc\n", "  sleep\n"})
    CHECK(r.out.find(name) != std::string::npos);

  auto j = s.viztrace({"stats", "--json", "--top", "0", "--sort", "total", "r.json"});
  REQUIRE(j.exit_code() == 0);
  StatsJson stats(j.out);
  Report rep = s.report("r.json");
  std::set<long long> pids;  // one per process, whatever it exec'd
  for (const Process& p : rep.processes) pids.insert(p.pid);
  CHECK(std::int64_t(stats.doc["processes_total"]) == static_cast<std::int64_t>(pids.size()));
  const Process target = rep.target();
  REQUIRE(stats.processes.count(target.pid));
  simdjson::dom::element sh = stats.processes[target.pid];
  CHECK(std::string_view(sh["name"]) == "sh");
  CHECK(std::int64_t(sh["wall_ns"]) == std::llround(target.dur * 1000));
  CHECK(std::int64_t(sh["cpu_ns"]) > 0);
  CHECK(std::int64_t(sh["cpu_ns"]) == std::int64_t(sh["utime_ns"]) + std::int64_t(sh["stime_ns"]));
  // sleep ran 50 ms: its process span, its slice and its wall time say so.
  CHECK(stats.get("sleep", "count") == 1);
  CHECK(stats.get("sleep", "total_ns") >= 50000000);
  CHECK(stats.get("sleep", "self_ns") == stats.get("sleep", "total_ns"));
  CHECK(std::string_view(stats.doc["sort"]) == "total");
  require_clean(s);
}

TEST_CASE("stats on uftrace dump --chrome of a program built with gcc -pg") {
  if (!on_path("uftrace") || !on_path("gcc")) {
    VT_SKIP("uftrace or gcc is missing (scripts/setup --tests installs them)");
  }
  Sandbox s;
  s.write_file(
      "prog.c",
      "#include <stdio.h>\n"
      "int leaf(int x) { return x * 2; }\n"
      "int mid(int x) { int s = 0; for (int i = 0; i < 3; i++) s += leaf(x + i); return s; }\n"
      "int main(void) { printf(\"%d\\n\", mid(1) + mid(2)); return 0; }\n");
  compile(s, {"gcc", "-pg", "-O0", "-o", "prog", "prog.c"});
  auto rec = s.command({"uftrace", "record", "./prog"});
  INFO(rec.err);
  REQUIRE(rec.exit_code() == 0);
  auto dump = s.command({"uftrace", "dump", "--chrome"});
  REQUIRE(dump.exit_code() == 0);
  s.write_file("u.json", dump.out);

  auto r = s.viztrace({"stats", "--json", "--top", "0", "u.json"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  StatsJson stats(r.out);
  CHECK(std::string_view(stats.doc["form"]) == "object");
  CHECK(stats.get("main", "count") == 1);
  CHECK(stats.get("mid", "count") == 2);
  CHECK(stats.get("leaf", "count") == 6);
  CHECK(stats.get("leaf", "self_ns") == stats.get("leaf", "total_ns"));
  // Every leaf runs inside a mid, and main calls the mids and printf.
  CHECK(stats.get("mid", "self_ns") ==
        stats.get("mid", "total_ns") - stats.get("leaf", "total_ns"));
  CHECK(stats.get("main", "self_ns") == stats.get("main", "total_ns") -
                                            stats.get("mid", "total_ns") -
                                            stats.get("printf", "total_ns"));
  CHECK(stats.get("main", "max_ns") == stats.get("main", "total_ns"));
  // uftrace's scheduler events can end without a begin (the program was switched out before
  // recording started, or under load): exactly those are unmatched, counted from the dump.
  std::int64_t lone_ends = 0;
  {
    simdjson::dom::parser parser;
    simdjson::dom::element udoc = parser.parse(dump.out);
    std::map<std::string, std::int64_t> open;
    for (simdjson::dom::element e : udoc["traceEvents"].get_array()) {
      std::string_view ph, name;
      if (e["ph"].get(ph) || e["name"].get(name)) continue;
      if (ph == "B") ++open[std::string(name)];
      if (ph == "E" && open[std::string(name)]-- == 0) ++lone_ends, open[std::string(name)] = 0;
    }
  }
  CHECK(std::int64_t(stats.doc["problems"]["unmatched_end"]) == lone_ends);
  CHECK(std::int64_t(stats.doc["problems"]["unclosed_begin"]) == 0);
  // uftrace writes no tid: the process's main thread takes its events.
  CHECK(std::int64_t(stats.doc["threads"]) == 1);

  auto table = s.viztrace({"stats", "u.json"});
  CHECK(table.exit_code() == 0);
  CHECK(table.out.find("  leaf\n") != std::string::npos);
  require_clean(s);
}

TEST_CASE("stats on broken files exits 2 with one line naming the file and the byte") {
  Sandbox s;
  record(s, "r.json", "true");
  std::string report = s.report("r.json").raw;
  std::size_t cut = report.find("\"cat\":\"process\"");
  REQUIRE(cut != std::string::npos);
  s.write_file("cut.json", report.substr(0, cut));
  std::size_t event_start = report.rfind('{', cut);
  s.write_file("empty.json", "");
  s.write_file("garbage.json", "[{\"ph\":\"X\",\"ts\":1} {\"ph\":\"X\"}]");
  s.write_file("badvalue.json", "{\"traceEvents\":[{\"ph\":\"X\",\"args\":{\"ok\":fals}}]}");
  s.write_file("notjson.json", "hello");
  s.write_file("badgz.json.gz", std::string("\x1f\x8b\x08\x00garbage here", 16));
  const std::map<std::string, std::string> expected = {
      {"cut.json", "viztrace: cut.json: invalid JSON at byte " + std::to_string(cut) +
                       ": the file ends inside the event that starts at byte " +
                       std::to_string(event_start) + " (truncated trace?)\n"},
      {"empty.json", "viztrace: empty.json: empty file, not a Chrome trace\n"},
      {"garbage.json",
       "viztrace: garbage.json: invalid JSON at byte 19: expected ',' or ']' after an event, "
       "found '{'\n"},
      {"badvalue.json",
       "viztrace: badvalue.json: invalid JSON at byte 39: invalid value (not a number, string, "
       "true, false or null)\n"},
      {"notjson.json",
       "viztrace: notjson.json: invalid JSON at byte 0: not a Chrome trace: expected '[' or '{', "
       "found 'h'\n"},
      {"missing.json", "viztrace: cannot read missing.json: No such file or directory\n"},
  };
  for (const auto& [file, message] : expected) {
    INFO(file);
    auto r = s.viztrace({"stats", file});
    CHECK(r.exit_code() == 2);
    CHECK(r.err == message);
    CHECK(r.out.empty());
  }
  auto gz = s.viztrace({"stats", "badgz.json.gz"});
  CHECK(gz.exit_code() == 2);
  CHECK(gz.err == "viztrace: badgz.json.gz: corrupt gzip data: invalid code lengths set\n");
  CHECK(std::count(gz.err.begin(), gz.err.end(), '\n') == 1);

  // Valid but empty traces: an empty table, not an error.
  for (const char* json : {"[]", "{}", "[\n"}) {
    s.write_file("none.json", json);
    auto r = s.viztrace({"stats", "none.json"});
    CHECK(r.exit_code() == 0);
    CHECK(r.out.find("none.json: 0 events") == 0);
    CHECK(r.out.find("No events in this trace.") != std::string::npos);
  }
  auto usage = s.viztrace({"stats", "--sort", "speed", "r.json"});
  CHECK(usage.exit_code() == 2);
  require_clean(s);
}

TEST_CASE("stats reads gzip reports and standard input") {
  Sandbox s;
  record(s, "r.json.gz", "ls >/dev/null");
  auto gz = s.viztrace({"stats", "--json", "r.json.gz"});
  INFO(gz.err);
  REQUIRE(gz.exit_code() == 0);
  StatsJson from_gz(gz.out);
  CHECK(bool(from_gz.doc["gzip"]));
  CHECK(from_gz.get("ls", "count") == 1);

  Options o;
  o.stdin_data = s.report("r.json.gz").raw;
  auto in = s.viztrace({"stats", "--json", "-"}, o);
  REQUIRE(in.exit_code() == 0);
  StatsJson from_stdin(in.out);
  CHECK(from_stdin.get("ls", "total_ns") == from_gz.get("ls", "total_ns"));
  CHECK(std::int64_t(from_stdin.doc["events"]) == std::int64_t(from_gz.doc["events"]));
  require_clean(s);
}

TEST_CASE("combine two reports into one valid report with colliding pids remapped") {
  Sandbox s;
  record(s, "a.json", "ls / >/dev/null");
  record(s, "b.json.gz", "echo hi | cat >/dev/null");
  // a.json twice: every pid of the second copy collides.
  auto r = s.viztrace({"combine", "a.json", "b.json.gz", "a.json", "-o", "all.json"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  CHECK(r.err.find("viztrace: combined 3 traces into all.json:") == 0);

  Report a = s.report("a.json");
  Report b = s.report("b.json.gz");
  Report all = s.report("all.json");  // parses, and every event has integer pid and tid
  CHECK(all.processes.size() == 2 * a.processes.size() + b.processes.size());
  std::set<long long> pids_a, pids_b;
  for (const Process& p : a.processes) pids_a.insert(p.pid);
  for (const Process& p : b.processes) pids_b.insert(p.pid);
  // The harness reads args.pid (the original pid); the event pid is the remapped one.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(all.raw).get(doc) == simdjson::SUCCESS);
  std::map<long long, int> spans_per_pid;
  std::map<long long, std::string> labels;
  for (simdjson::dom::element e : simdjson::dom::array(doc["traceEvents"])) {
    std::string_view cat, name;
    long long pid = std::int64_t(e["pid"]);
    if (e["cat"].get(cat) == simdjson::SUCCESS && cat == "process") {
      ++spans_per_pid[pid];
      long long original = std::int64_t(e["args"]["pid"]);
      CHECK((pid == original || pid == original + 10000000));
    }
    if (e["name"].get(name) == simdjson::SUCCESS && name == "process_labels")
      labels[pid] = std::string(std::string_view(e["args"]["labels"]));
  }
  for (long long pid : pids_a) {
    CHECK(spans_per_pid.count(pid));
    CHECK(spans_per_pid.count(pid + 10000000));
    CHECK(labels[pid] == "a.json");
    CHECK(labels[pid + 10000000] == "a.json (pid " + std::to_string(pid) + ")");
  }
  for (long long pid : pids_b) CHECK(labels[pid] == "b.json.gz");
  // The metadata lists the inputs, their remapped pids and their own metadata.
  simdjson::dom::array inputs = doc["metadata"]["inputs"];
  REQUIRE(inputs.size() == 3);
  CHECK(std::string_view(inputs.at(1)["file"]) == "b.json.gz");
  CHECK(simdjson::dom::array(inputs.at(0)["remapped_pids"]).size() == 0);
  CHECK(simdjson::dom::array(inputs.at(2)["remapped_pids"]).size() == pids_a.size());
  CHECK(std::string_view(inputs.at(2)["members"]["metadata"]["viztrace_version"]).size() > 0);

  // Still a report by the contract: metadata beside the events, and the slices of each track
  // nest (none crosses the end of the one it started in, within the 1 ns rounding of ts).
  CHECK(doc["metadata"].is_object());
  std::map<std::pair<long long, long long>, std::vector<std::pair<double, double>>> tracks;
  for (simdjson::dom::element e : simdjson::dom::array(doc["traceEvents"])) {
    std::string_view ph = e["ph"];
    if (ph != "X") continue;
    double ts = e["ts"], dur = e["dur"];
    CHECK(dur >= 0);
    tracks[{std::int64_t(e["pid"]), std::int64_t(e["tid"])}].push_back({ts, dur});
  }
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first < y.first : x.second > y.second;
    });
    std::vector<double> open_ends;
    for (const auto& [ts, dur] : slices) {
      while (!open_ends.empty() && open_ends.back() <= ts + 1e-6) open_ends.pop_back();
      INFO("pid " << track.first << " tid " << track.second << " slice at " << ts);
      if (!open_ends.empty()) CHECK(ts + dur <= open_ends.back() + 2.5e-3);
      open_ends.push_back(ts + dur);
    }
  }
  // And stats reads the result: a's processes counted twice.
  auto st = s.viztrace({"stats", "--json", "all.json"});
  REQUIRE(st.exit_code() == 0);
  StatsJson stats(st.out);
  CHECK(stats.get("ls", "count") == 2);
  require_clean(s);
}

TEST_CASE("combine of a file with itself, and of its result, gives each process one label") {
  Sandbox s;
  record(s, "a.json", "ls / | wc -l >/dev/null");
  // Each pid's process_labels texts, and the number of events.
  struct Labels {
    std::map<long long, std::vector<std::string>> of;
    std::size_t events = 0;
  };
  auto labels = [&](const std::string& file) {
    Report rep = s.report(file);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(rep.raw).get(doc) == simdjson::SUCCESS);
    Labels out;
    for (simdjson::dom::element e : simdjson::dom::array(doc["traceEvents"])) {
      ++out.events;
      std::string_view name;
      if (e["name"].get(name) == simdjson::SUCCESS && name == "process_labels")
        out.of[std::int64_t(e["pid"])].push_back(
            std::string(std::string_view(e["args"]["labels"])));
    }
    return out;
  };
  auto combine = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all = {"combine", "-q"};
    all.insert(all.end(), args.begin(), args.end());
    auto r = s.viztrace(all);
    INFO(r.err);
    REQUIRE(r.exit_code() == 0);
  };
  std::set<long long> pids;
  for (const Process& p : s.report("a.json").processes) pids.insert(p.pid);
  REQUIRE(pids.size() == 3);
  const long long k = 10000000;
  using Texts = std::vector<std::string>;

  combine({"a.json", "a.json", "-o", "c1.json"});
  Labels c1 = labels("c1.json");
  CHECK(c1.of.size() == 2 * pids.size());
  for (long long pid : pids) {
    CHECK(c1.of[pid] == Texts{"a.json"});
    CHECK(c1.of[pid + k] == Texts{"a.json (pid " + std::to_string(pid) + ")"});
  }
  // The labels of c1 are kept, not added to: a process moved again says so in its one label.
  combine({"c1.json", "c1.json", "-o", "c2.json"});
  Labels c2 = labels("c2.json");
  CHECK(c2.of.size() == 4 * pids.size());
  for (long long pid : pids) {
    std::string p = std::to_string(pid), pk = std::to_string(pid + k);
    CHECK(c2.of[pid] == Texts{"a.json"});
    CHECK(c2.of[pid + k] == Texts{"a.json (pid " + p + ")"});
    CHECK(c2.of[pid + 2 * k] == Texts{"c1.json (pid " + p + "), a.json"});
    CHECK(c2.of[pid + 3 * k] == Texts{"c1.json (pid " + pk + "), a.json (pid " + p + ")"});
  }
  // A combined file alone comes out as it went in.
  combine({"c2.json", "-o", "c3.json"});
  Labels c3 = labels("c3.json");
  CHECK(c3.events == c2.events);
  CHECK(c3.of == c2.of);
  require_clean(s);
}

TEST_CASE("combine --align starts every input at zero and failures leave no output behind") {
  Sandbox s;
  record(s, "a.json", "sleep 0.02");
  s.write_file("late.json", R"([{"ph":"X","name":"late","ts":5000000.5,"dur":2,"pid":7},)"
                            R"({"ph":"M","name":"process_name","pid":7,"args":{"name":"tool"}}])");
  auto r = s.viztrace({"combine", "--align", "a.json", "late.json", "-o", "aligned.json.gz"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  Report out = s.report("aligned.json.gz");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(out.raw).get(doc) == simdjson::SUCCESS);
  double first_ours = 1e300;
  bool late_seen = false;
  for (simdjson::dom::element e : simdjson::dom::array(doc["traceEvents"])) {
    std::string_view ph = e["ph"], name;
    if (ph == "M") continue;
    double ts = e["ts"];
    if (e["name"].get(name) == simdjson::SUCCESS && name == "late") {
      late_seen = true;
      CHECK(ts == 0.0);
      CHECK(std::int64_t(e["tid"]) == 7);  // a missing tid becomes the pid
    } else {
      first_ours = std::min(first_ours, ts);
    }
  }
  CHECK(late_seen);
  CHECK(first_ours == 0.0);
  CHECK(std::int64_t(doc["metadata"]["inputs"].at(1)["shift_ns"]) == 5000000500);

  // A broken input: an error naming it, no output, no temporary file.
  s.write_file("broken.json", "[{\"ph\":\"X\",\"ts\":1},{\"ph\"");
  auto bad = s.viztrace({"combine", "a.json", "broken.json", "-o", "never.json"});
  CHECK(bad.exit_code() == 2);
  CHECK(bad.err.rfind("viztrace: broken.json: invalid JSON at byte 24: ", 0) == 0);
  for (const auto& e : std::filesystem::directory_iterator(s.dir()))
    CHECK(e.path().filename().string().find("never.json") == std::string::npos);
  auto no_ext = s.viztrace({"combine", "a.json", "-o", "out.txt"});
  CHECK(no_ext.exit_code() == 2);
  CHECK(no_ext.err == "viztrace: combine writes JSON: use .json or .json.gz for out.txt\n");
  auto html = s.viztrace({"combine", "a.json", "-o", "out.html"});
  CHECK(html.exit_code() == 2);
  CHECK(html.err == "viztrace: combine writes JSON: use .json or .json.gz for out.html\n");
  auto speedscope = s.viztrace({"combine", "a.json", "-o", "out.speedscope.json"});
  CHECK(speedscope.exit_code() == 2);
  CHECK(speedscope.err ==
        "viztrace: combine writes JSON: use .json or .json.gz for out.speedscope.json\n");
  require_clean(s);
}

TEST_CASE("combine gives the events without pid of each input that input's pid 0, remapped") {
  Sandbox s;
  // Viewers and stats read a missing pid as 0: each file has one process without a pid.
  s.write_file("a.json", R"([{"ph":"X","name":"a","ts":0,"dur":5,"tid":1},
{"ph":"M","name":"process_name","args":{"name":"first"}}])");
  s.write_file("b.json", R"({"traceEvents":[{"ph":"X","name":"b","ts":1,"dur":3,"tid":1},
{"ph":"i","name":"mark","ts":2},{"ph":"X","name":"c","ts":1,"dur":1,"pid":0,"tid":0}, {}]})");
  auto r = s.viztrace({"combine", "-q", "a.json", "b.json", "-o", "all.json"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string text = slurp(s.path("all.json"));
  INFO(text);
  REQUIRE(parser.parse(text).get(doc) == simdjson::SUCCESS);
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> where;  // name -> pid, tid
  std::map<std::int64_t, std::string> labels;
  for (simdjson::dom::element e : simdjson::dom::array(doc["traceEvents"])) {
    std::string_view name;
    std::int64_t pid = -1, tid = -1;
    if (e["name"].get(name) != simdjson::SUCCESS) name = {};  // missing: each stays as set
    if (e["pid"].get(pid) != simdjson::SUCCESS) pid = -1;
    if (e["tid"].get(tid) != simdjson::SUCCESS) tid = -1;
    if (name == "process_labels")
      labels[pid] = std::string(std::string_view(e["args"]["labels"]));
    else
      where[std::string(name)] = {pid, tid};
  }
  const std::int64_t k = 10000000;
  CHECK(where["a"] == std::pair<std::int64_t, std::int64_t>{-1, 1});  // the first input's as is
  CHECK(where["process_name"] == std::pair<std::int64_t, std::int64_t>{-1, -1});
  CHECK(where["b"] == std::pair<std::int64_t, std::int64_t>{k, 1});
  CHECK(where["mark"] == std::pair<std::int64_t, std::int64_t>{k, k});  // given a tid as well
  CHECK(where["c"] == std::pair<std::int64_t, std::int64_t>{k, k});     // pid 0 of b.json too
  CHECK(where[""] == std::pair<std::int64_t, std::int64_t>{k, k});
  CHECK(labels[0] == "a.json");
  CHECK(labels[k] == "b.json (pid 0)");
  // stats agrees: two processes, one per input.
  auto st = s.viztrace({"stats", "--json", "all.json"});
  REQUIRE(st.exit_code() == 0);
  StatsJson stats(st.out);
  CHECK(stats.processes.size() == 2);
  CHECK(stats.processes.count(0));
  CHECK(stats.processes.count(k));
  require_clean(s);
}
