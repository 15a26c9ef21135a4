// Reading any Chrome trace: both container forms, strings that look like structure, times and
// ids in every spelling, gzip, and every kind of broken file reported at its byte.
#include "report/readers/trace_reader.h"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <random>

#include "common/error.h"
#include "report/readers/trace_scanner.h"
#include "synthetic_trace.h"

using viztrace::report::TraceEvent;
using viztrace::report::TraceReader;
using viztrace::report::TraceScanner;
using viztrace::report::TraceSyntaxError;
using namespace viztrace::test;

namespace {

// What a visit saw, copied out of the views.
struct Seen {
  std::uint64_t offset;
  std::string text;
  char ph;
  std::string name, cat, arg_name;
  std::int64_t ts, dur, pid, tid;
  bool has_ts, has_dur, has_pid, has_tid, has_cpu;
  std::int64_t utime, stime;
  std::string pid_token, tid_token, ts_token;
};

struct Collector final : TraceReader::Visitor {
  std::vector<Seen> events;
  std::vector<std::pair<std::string, std::string>> members;
  std::vector<std::uint64_t> member_sizes;
  void event(const TraceEvent& e) override {
    events.push_back({e.offset,
                      std::string(e.text),
                      e.ph,
                      std::string(e.name),
                      std::string(e.cat),
                      std::string(e.arg_name),
                      e.ts,
                      e.dur,
                      e.pid,
                      e.tid,
                      e.has_ts,
                      e.has_dur,
                      e.has_pid,
                      e.has_tid,
                      e.has_cpu,
                      e.utime,
                      e.stime,
                      std::string(e.pid_token),
                      std::string(e.tid_token),
                      std::string(e.ts_token)});
  }
  void member(std::string_view key, std::string_view raw, std::uint64_t size) override {
    members.emplace_back(key, raw);
    member_sizes.push_back(size);
  }
  // Samples as "ts pid tid sf weight", frames as "id name category parent".
  std::vector<std::string> samples, frames;
  void sample(const TraceEvent& e) override {
    samples.push_back(std::to_string(e.ts) + " " + (e.has_pid ? std::to_string(e.pid) : "-") +
                      " " + (e.has_tid ? std::to_string(e.tid) : "-") + " " + std::string(e.sf) +
                      " " + (e.has_weight ? std::to_string(e.weight) : "-"));
  }
  void stack_frame(const viztrace::report::TraceStackFrame& f) override {
    frames.push_back(std::string(f.id) + " " + std::string(f.name) + " " + std::string(f.category) +
                     " " + std::string(f.parent));
  }
};

struct Read {
  Collector seen;
  TraceReader::Summary summary;
};

Read read_text(const TempDir& dir, const std::string& json, TraceReader::Options options = {}) {
  std::string path = dir.file("t.json");
  write_file(path, json);
  Read r;
  r.summary = TraceReader::read(path, r.seen, options);
  return r;
}

// The one-line error a broken file gives.
std::string error_of(const TempDir& dir, const std::string& json) {
  std::string path = dir.file("bad.json");
  write_file(path, json);
  Collector c;
  try {
    TraceReader::read(path, c);
  } catch (const viztrace::Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write_gzip(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, data.data(), static_cast<unsigned>(data.size())) ==
          static_cast<int>(data.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// Scanner results: event spans and member keys, or the first error.
struct ScanResult {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> events;
  std::vector<std::string> members;
  std::string error;
  bool operator==(const ScanResult&) const = default;
};

ScanResult scan_in_pieces(const std::string& text, std::size_t piece, bool samples = false) {
  struct Sink final : TraceScanner::Sink {
    ScanResult* r;
    void event(std::uint64_t b, std::uint64_t e) override { r->events.emplace_back(b, e); }
    void member(std::string_view key, std::uint64_t, std::uint64_t, bool) override {
      r->members.emplace_back(key);
    }
    void sample(std::uint64_t b, std::uint64_t e) override {
      r->members.push_back("sample " + std::to_string(b) + "-" + std::to_string(e));
    }
    void stack_frame(std::uint64_t b, std::uint64_t e) override {
      r->members.push_back("frame " + std::to_string(b) + "-" + std::to_string(e));
    }
  } sink;
  ScanResult r;
  sink.r = &r;
  TraceScanner scanner(sink, 0, samples);
  try {
    for (std::size_t i = 0; i < text.size(); i += piece)
      scanner.scan(text.data() + i, std::min(piece, text.size() - i));
    scanner.finish();
  } catch (const TraceSyntaxError& e) {
    r.error = std::to_string(e.offset()) + ": " + e.what();
  }
  return r;
}

}  // namespace

TEST_CASE("object form: metadata before and after traceEvents and tricky strings decoded") {
  TempDir dir;
  Collector c;
  TraceReader::Options o;
  o.capture_limit = 1 << 20;
  auto summary = TraceReader::read(fixture_trace("nested_mixed.json"), c, o);
  CHECK(summary.form == TraceScanner::Form::object);
  CHECK_FALSE(summary.unclosed_array);
  CHECK(summary.events == 13);
  REQUIRE(c.events.size() == 13);
  CHECK(c.events[0].ph == 'M');
  CHECK(c.events[0].arg_name == "demo");
  CHECK(c.events[1].name == "main");
  CHECK(c.events[1].ph == 'B');
  CHECK(c.events[10].name == "a]b}c\"d{e");
  CHECK(c.events[11].name == "caf\xc3\xa9 \xf0\x9f\x98\x80");  // "café 😀" from \u escapes
  // The members, in file order, with their raw text.
  REQUIRE(c.members.size() == 3);
  CHECK(c.members[0].first == "otherData");
  CHECK(c.members[0].second.rfind("{\"note\": \"brackets in strings: ] } [ {", 0) == 0);
  CHECK(c.members[0].second.back() == '}');
  CHECK(c.members[1] == std::pair<std::string, std::string>{"displayTimeUnit", "\"ns\""});
  CHECK(c.members[2].first == "metadata");
  CHECK(c.members[2].second ==
        "{\"tool\": \"hand-written\", \"nested\": {\"a\": [{\"b\": \"]]\"}]}}");
  // Each event's text is exactly its object.
  for (const Seen& s : c.events) {
    CHECK(s.text.front() == '{');
    CHECK(s.text.back() == '}');
  }
}

TEST_CASE("times as integers or fractions or numeric strings are kept to the nanosecond") {
  TempDir dir;
  auto r = read_text(dir, R"([
    {"ph":"X","ts":1234567.891,"dur":0.001,"pid":1,"tid":2},
    {"ph":"X","ts":42,"dur":"2.5","pid":"7","tid":"8"},
    {"ph":"X","ts":"1e3","dur":-1,"pid":1.0,"tid":3},
    {"ph":"B","ts":1700000000000000,"pid":1,"tid":1},
    {"ph":"i","ts":{"not":"a number"},"pid":[1],"tid":null}
  ])");
  const auto& e = r.seen.events;
  REQUIRE(e.size() == 5);
  CHECK(e[0].ts == 1234567891);
  CHECK(e[0].dur == 1);
  CHECK(e[0].pid == 1);
  CHECK(e[0].tid == 2);
  CHECK(e[1].ts == 42000);
  CHECK(e[1].dur == 2500);
  CHECK(e[1].pid == 7);
  CHECK(e[1].tid == 8);
  CHECK(e[1].pid_token == "\"7\"");
  CHECK(e[1].ts_token == "42");
  CHECK(e[2].ts == 1000000);
  CHECK(e[2].dur == -1000);
  CHECK(e[2].pid == 1);
  CHECK(e[3].ts == 1700000000000000000);  // epoch microseconds as integers stay exact
  CHECK_FALSE(e[4].has_ts);
  CHECK_FALSE(e[4].has_pid);
  CHECK_FALSE(e[4].has_tid);
  CHECK_FALSE(e[4].has_dur);
}

TEST_CASE("args: process names and the CPU times of our process spans") {
  TempDir dir;
  auto r = read_text(dir, R"([
    {"args":{"argv":["a","b"],"utime_ms":1.5,"stime_ms":0.25,"name":"ignored here"},"ph":"X","cat":"process","name":"sh","ts":0,"dur":5,"pid":1,"tid":1},
    {"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"main \"thread\""}},
    {"ph":"X","name":"f","ts":0,"dur":1,"pid":1,"tid":1,"args":{"utime_ms":"x"}}
  ])");
  const auto& e = r.seen.events;
  REQUIRE(e.size() == 3);
  CHECK(e[0].cat == "process");
  CHECK(e[0].has_cpu);
  CHECK(e[0].utime == 1500000);
  CHECK(e[0].stime == 250000);
  CHECK(e[1].arg_name == "main \"thread\"");
  CHECK_FALSE(e[2].has_cpu);
}

TEST_CASE("array form without its closing bracket or with a trailing comma") {
  TempDir dir;
  Collector c;
  auto summary = TraceReader::read(fixture_trace("array_unclosed.json"), c);
  CHECK(summary.form == TraceScanner::Form::array);
  CHECK(summary.unclosed_array);
  REQUIRE(c.events.size() == 3);
  CHECK(c.events[0].name == "x]y");
  CHECK(c.events[0].text ==
        R"({"name":"x]y","ph":"X","ts":0,"dur":10,"pid":2,"tid":2,"args":{"s":"}{][\"\\"}})");
  CHECK(c.events[1].name == "caf\xc3\xa9");

  auto closed = read_text(dir, "[{\"ph\":\"i\",\"ts\":1},\n]\n");
  CHECK_FALSE(closed.summary.unclosed_array);
  CHECK(closed.seen.events.size() == 1);
}

TEST_CASE("empty containers have no events but an empty file is an error") {
  TempDir dir;
  for (const char* json : {"[]", "{}", "{\"traceEvents\":[]}", " [ ] \n", "[", "\xef\xbb\xbf[]",
                           "{\"traceEvents\":[],\"metadata\":{}}"}) {
    INFO(json);
    auto r = read_text(dir, json);
    CHECK(r.seen.events.empty());
    CHECK(r.summary.events == 0);
  }
  CHECK(error_of(dir, "") == dir.file("bad.json") + ": empty file, not a Chrome trace");
  CHECK(error_of(dir, " \n\t") == dir.file("bad.json") + ": empty file, not a Chrome trace");
}

TEST_CASE("broken files give one line naming the file and the byte and the fault") {
  TempDir dir;
  const std::string p = dir.file("bad.json") + ": invalid JSON at byte ";
  // Cut short: inside an event, inside the object form, inside a metadata value.
  CHECK(error_of(dir, R"([{"ph":"X","ts":1},{"ph":"X","na)") ==
        p + "32: the file ends inside the event that starts at byte 19 (truncated trace?)");
  CHECK(error_of(dir, R"({"traceEvents":[{"ph":"X"})") ==
        p + "26: the file ends inside traceEvents (truncated trace?)");
  CHECK(error_of(dir, R"({"traceEvents":[],"metadata":{"a":1)") ==
        p + "35: the file ends inside the value of \"metadata\" (truncated trace?)");
  CHECK(error_of(dir, R"({"traceEvents":[]   )") ==
        p + "20: the file ends before the closing '}' (truncated trace?)");
  // Structure.
  CHECK(error_of(dir, "nope") == p + "0: not a Chrome trace: expected '[' or '{', found 'n'");
  CHECK(error_of(dir, R"([{"a":1} {"b":2}])") ==
        p + "9: expected ',' or ']' after an event, found '{'");
  CHECK(error_of(dir, R"([{"a":1},,{"b":2}])") == p + "9: expected an event object, found ','");
  CHECK(error_of(dir, R"([{"a":1}, 5])") == p + "10: expected an event object, found '5'");
  CHECK(error_of(dir, R"([{"a":[1}])") == p + "8: '}' closes a '['");
  CHECK(error_of(dir, R"([{"a":1}] x)") == p + "10: unexpected 'x' after the end of the trace");
  CHECK(error_of(dir, R"({"traceEvents":{}})") == p + "15: traceEvents is not an array");
  CHECK(error_of(dir, R"({"traceEvents":[] "x":1})") ==
        p + "18: expected ',' or '}' after a member, found '\"'");
  CHECK(error_of(dir, R"({"traceEvents":[],"m":[1,@]})") == p + "25: unexpected '@'");
  CHECK(error_of(dir, R"({"traceEvents":[],"m":tru})") == p + "22: invalid value 'tru'");
  // Strings.
  CHECK(error_of(dir, "[{\"name\":\"a\tb\"}]") ==
        p + "11: unescaped control character in a string");
  CHECK(error_of(dir, R"([{"name":"a\qb"}])") == p + "12: invalid escape \\q");
  // Values inside events, found by simdjson, also where viztrace would not look.
  CHECK(error_of(dir, R"([{"ph":"X","args":{"deep":[1,{"x":tru}]}}])") ==
        p + "34: invalid value (not a number, string, true, false or null)");
  CHECK(error_of(dir, R"([{"ph":"X","ts":1.2.3}])") == p + "16: invalid number");
  CHECK(error_of(dir, R"([{"ph":"X" "ts":1}])") == p + "11: missing or extra ',', ':' or bracket");
  CHECK(error_of(dir, R"([{"ph":"X","name":"\u12"}])") ==
        p + "23: invalid \\u escape: '\"' is not a hex digit");
  CHECK(error_of(dir, R"({"m\u00zz":1})") == p + "7: invalid \\u escape: 'z' is not a hex digit");
  // A lone surrogate: simdjson finds it, at the end of the string.
  CHECK(error_of(dir, R"([{"ph":"X","name":"\ud800"}])") ==
        p + "26: invalid string (bad \\u escape)");
}

TEST_CASE("errors past the first block are at their true offset") {
  TempDir dir;
  std::string json = "[";
  for (int i = 0; i < 20000; ++i)
    json += R"({"ph":"X","name":"f","ts":1,"dur":2,"pid":1,"tid":1},)";
  const std::size_t bad = json.size() + 23;  // at the nul
  json += R"({"ph":"X","ts":1,"dur":nul,"pid":1}])";
  TraceReader::Options small;
  small.block_bytes = 4096;
  std::string path = dir.file("big.json");
  write_file(path, json);
  for (const TraceReader::Options& o : {TraceReader::Options{}, small}) {
    Collector c;
    try {
      TraceReader::read(path, c, o);
      FAIL("no error");
    } catch (const viztrace::Error& e) {
      CHECK(std::string(e.what()) ==
            path + ": invalid JSON at byte " + std::to_string(bad) +
                ": invalid value (not a number, string, true, false or null)");
    }
    if (o.block_bytes == 4096) CHECK(c.events.size() > 19900);  // visited until the fault
  }
}

TEST_CASE("an event larger than the block grows the buffer and large metadata is not kept") {
  TempDir dir;
  std::string huge(3 << 20, 'x');
  std::string json =
      R"({"metadata":{"blob":")" + huge + R"("},"traceEvents":[{"ph":"X","name":"a"},)" +
      R"({"ph":"X","name":"big","args":{"s":")" + huge + R"("}},{"ph":"X","name":"b"}]})";
  TraceReader::Options o;
  o.block_bytes = 4096;
  o.capture_limit = 1000;
  auto r = read_text(dir, json, o);
  REQUIRE(r.seen.events.size() == 3);
  CHECK(r.seen.events[1].name == "big");
  CHECK(r.seen.events[1].text.size() == huge.size() + 39);
  CHECK(r.seen.events[2].name == "b");
  REQUIRE(r.seen.members.size() == 1);
  CHECK(r.seen.members[0].first == "metadata");
  CHECK(r.seen.members[0].second.empty());  // over the capture limit
  CHECK(r.seen.member_sizes[0] == huge.size() + 11);
}

TEST_CASE("invalid UTF-8 is read as '?' and counted") {
  TempDir dir;
  auto r = read_text(dir, "[{\"ph\":\"X\",\"name\":\"a\xff\xc3\"},{\"name\":\"\xc3\xa9\"}]");
  REQUIRE(r.seen.events.size() == 2);
  CHECK(r.seen.events[0].name == "a??");
  CHECK(r.seen.events[1].name == "\xc3\xa9");
  CHECK(r.summary.replaced_bytes == 2);
}

TEST_CASE("gzip input is recognised by its content and a cut gzip stream is an error") {
  TempDir dir;
  std::string json = "{\"traceEvents\":[";
  for (int i = 0; i < 5000; ++i)
    json += std::string(i ? "," : "") + R"({"ph":"X","name":"n)" + std::to_string(i % 7) +
            R"(","ts":)" + std::to_string(i) + R"(,"dur":1,"pid":1,"tid":1})";
  json += "]}";
  std::string gz = dir.file("t.json.gz");
  write_gzip(gz, json);
  std::string plain_named_gz = dir.file("plain.json.gz");
  write_file(plain_named_gz, json);
  for (const std::string& path : {gz, plain_named_gz}) {
    Collector c;
    auto summary = TraceReader::read(path, c);
    CHECK(summary.gzip == (path == gz));
    CHECK(c.events.size() == 5000);
    CHECK(c.events[4999].ts == 4999000);
  }
  std::string bytes = read_file(gz);
  std::string cut = dir.file("cut.json.gz");
  write_file(cut, bytes.substr(0, bytes.size() / 2));
  Collector c;
  CHECK_THROWS_WITH(TraceReader::read(cut, c),
                    cut + ": truncated gzip data (the compressed stream ends early)");
  CHECK_THROWS_WITH(TraceReader::read(dir.file("missing.json"), c),
                    "cannot read " + dir.file("missing.json") + ": No such file or directory");
}

TEST_CASE("scanner: the block path and the byte path agree on events and on faults") {
  // Strings full of backslash runs, quotes and brackets, at every alignment.
  std::mt19937 rng(12345);
  const std::vector<std::string> pieces = {"\\\\",    "\\\"", "]",        "}",   "{", "[",
                                           "\\u00e9", "a",    "\\\\\\\"", "\\n", " ", "\xc3\xa9"};
  std::string json = "{\"otherData\":{\"x\":\"]\"},\"traceEvents\":[\n";
  for (int i = 0; i < 400; ++i) {
    std::string s;
    for (int k = static_cast<int>(rng() % 40); k > 0; --k) s += pieces[rng() % pieces.size()];
    json += (i ? ",\n" : "") + std::string(R"({"name":")") + s + R"(","args":{"a":[1,{"b":")" + s +
            R"("}]},"ph":"X"})";
  }
  json += "],\"metadata\":{\"m\":[\"}\"]}}";
  const ScanResult whole = scan_in_pieces(json, json.size());
  REQUIRE(whole.error.empty());
  CHECK(whole.events.size() == 400);
  CHECK(whole.members == std::vector<std::string>{"otherData", "metadata"});
  for (std::size_t piece : {1u, 7u, 63u, 64u, 65u, 1000u})
    CHECK(scan_in_pieces(json, piece) == whole);

  // Damaged copies: whatever the fault, both paths report the same one at the same byte.
  const std::string damage = "\"\\]}[{\x01\x1f ,:x";
  int faults = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bad = json;
    for (int k = 1 + static_cast<int>(rng() % 2); k > 0; --k)
      bad[rng() % bad.size()] = damage[rng() % damage.size()];
    ScanResult a = scan_in_pieces(bad, bad.size());
    ScanResult b = scan_in_pieces(bad, 1);
    INFO("round " << round);
    REQUIRE(a == b);
    faults += !a.error.empty();
  }
  CHECK(faults > 1000);
}

TEST_CASE("damaged traces never crash the reader: they parse or give one error") {
  TempDir dir;
  std::string good = read_file(fixture_trace("nested_mixed.json"));
  std::mt19937 rng(2024);
  const std::string damage = "\"\\]}[{\x01 ,:x0-.e\xff\xc3";
  int errors = 0;
  for (int round = 0; round < 1500; ++round) {
    std::string bad = good;
    for (int k = 1 + static_cast<int>(rng() % 3); k > 0; --k) {
      std::size_t at = rng() % bad.size();
      switch (rng() % 3) {
        case 0:
          bad[at] = damage[rng() % damage.size()];
          break;
        case 1:
          bad.erase(at, 1 + rng() % 8);
          break;
        default:
          bad.resize(at);  // cut short
      }
      if (bad.empty()) break;
    }
    std::string path = dir.file("d.json");
    write_file(path, bad);
    Collector c;
    TraceReader::Options o;
    o.block_bytes = 64 + rng() % 512;
    try {
      TraceReader::read(path, c, o);
    } catch (const viztrace::Error& e) {
      std::string what = e.what();
      CHECK(what.find('\n') == std::string::npos);
      CHECK(what.rfind(path + ": ", 0) == 0);
      ++errors;
    }
  }
  CHECK(errors > 500);
}

TEST_CASE("samples and stackFrames reach the visitor one by one when asked, members otherwise") {
  TempDir dir;
  // Every spelling: ids as numbers or strings, escapes in ids, no parent, null parent.
  std::string json = R"({"stackFrames":{"1":{"name":"main","category":"/bin/a"},)"
                     R"("2":{"parent":1,"name":"f","extra":[1,{"x":"}"}]},"a\"b":{"name":"q","parent":null}},)"
                     R"("traceEvents":[{"ph":"X","name":"e","ts":1,"dur":1}],)"
                     R"("samples":[{"pid":1,"tid":2,"ts":1.5,"sf":"2","weight":0.25},{"tid":3,"ts":2,"sf":7},)"
                     R"({"ts":"3","sf":"a\"b","name":"cpu"}],"metadata":{"m":1}})";
  TraceReader::Options o;
  o.capture_limit = 1 << 20;
  SECTION("not asked: members, as combine keeps them") {
    auto r = read_text(dir, json, o);
    CHECK(r.seen.samples.empty());
    CHECK(r.seen.frames.empty());
    REQUIRE(r.seen.members.size() == 3);
    CHECK(r.seen.members[0].first == "stackFrames");
    CHECK(r.seen.members[1].first == "samples");
    CHECK(r.summary.samples == 0);
  }
  SECTION("asked") {
    o.samples = true;
    for (std::size_t block : {std::size_t{1} << 20, std::size_t{4096}}) {
      o.block_bytes = block;
      auto r = read_text(dir, json, o);
      CHECK(r.seen.frames ==
            std::vector<std::string>{"1 main /bin/a ", "2 f  1", "a\"b q  "});
      CHECK(r.seen.samples ==
            std::vector<std::string>{"1500 1 2 2 250", "2000 - 3 7 -", "3000 - - a\"b -"});
      REQUIRE(r.seen.events.size() == 1);
      REQUIRE(r.seen.members.size() == 1);
      CHECK(r.seen.members[0].first == "metadata");
      CHECK(r.summary.events == 1);
      CHECK(r.summary.samples == 3);
      CHECK(r.summary.stack_frames == 3);
    }
  }
}

TEST_CASE("many samples and frames across blocks, and broken ones at their byte") {
  TempDir dir;
  std::string json = R"({"traceEvents":[],"stackFrames":{)";
  for (int i = 0; i < 5000; ++i)
    json += (i ? ",\n" : "") + std::string("\"") + std::to_string(i) + R"(": {"name":"f)" +
            std::to_string(i) + R"(","category":"m{]\"x"})";
  json += R"(}, "samples":[)";
  for (int i = 0; i < 20000; ++i)
    json += (i ? "," : "") + std::string(R"({"pid":1,"tid":1,"ts":)") + std::to_string(i) +
            R"(,"sf":")" + std::to_string(i % 5000) + R"(","weight":1})";
  json += "]}";
  TraceReader::Options o;
  o.samples = true;
  o.block_bytes = 4096;
  auto r = read_text(dir, json, o);
  REQUIRE(r.seen.frames.size() == 5000);
  CHECK(r.seen.frames[4999] == "4999 f4999 m{]\"x ");
  REQUIRE(r.seen.samples.size() == 20000);
  CHECK(r.seen.samples[19999] == "19999000 1 1 4999 1000");
  // The scanner's block path and byte path agree on them too.
  const ScanResult whole = scan_in_pieces(json, json.size(), true);
  CHECK(whole.members.size() == 25000);
  for (std::size_t piece : {1u, 63u, 64u, 1000u}) CHECK(scan_in_pieces(json, piece, true) == whole);

  auto error = [&](const std::string& text) {
    std::string path = dir.file("bad.json");
    write_file(path, text);
    Collector c;
    try {
      TraceReader::read(path, c, o);
    } catch (const viztrace::Error& e) {
      return std::string(e.what()).substr(path.size() + 2);
    }
    return std::string("(no error)");
  };
  CHECK(error(R"({"samples":[1]})") == "invalid JSON at byte 12: expected a sample object, found '1'");
  CHECK(error(R"({"samples":[{"ts":1} {}]})") ==
        "invalid JSON at byte 21: expected ',' or ']' after a sample, found '{'");
  CHECK(error(R"({"stackFrames":{"1":2}})") ==
        "invalid JSON at byte 20: expected a stack frame object, found '2'");
  CHECK(error(R"({"stackFrames":{1:{}}})") ==
        "invalid JSON at byte 16: expected a stack frame's id in quotes, found '1'");
  CHECK(error(R"({"stackFrames":{"1" {}}})") ==
        "invalid JSON at byte 20: expected ':' after a stack frame's id, found '{'");
  CHECK(error(R"({"stackFrames":{"1":{"name":x}}})") ==
        "invalid JSON at byte 28: unexpected 'x'");
  CHECK(error(R"({"stackFrames":{"1":{}})") ==
        "invalid JSON at byte 23: the file ends before the closing '}' (truncated trace?)");
  CHECK(error(R"({"stackFrames":{"1":{"name":"a")") ==
        "invalid JSON at byte 31: the file ends inside stackFrames (truncated trace?)");
  CHECK(error(R"({"samples":[{"ts":1},)") ==
        "invalid JSON at byte 21: the file ends inside samples (truncated trace?)");
  CHECK(error(R"({"samples":[{"ts":1)") ==
        "invalid JSON at byte 19: the file ends inside the sample that starts at byte 12 "
        "(truncated trace?)");
  // Other values under those names are members, as before.
  CHECK(error(R"({"samples":{"a":1},"stackFrames":[],"traceEvents":[]})") == "(no error)");
}
