// The .pftrace and .html reports of real runs, and `viztrace convert`: the protobuf decodes
// cleanly and tells the same processes as the JSON; the HTML page renders in headless Chromium
// (no console errors, the processes in the DOM, pixels in the timeline, hover and zoom work),
// hostile argv shows as text, and a million events stay responsive. Browser tests are skipped
// with a warning when chromium is not installed (scripts/setup --tests installs it).
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "../unit/proto_decoder.h"
#include "harness.h"
#include "simdjson.h"

using namespace vt_test;
using viztrace::test::decode_pftrace;
using viztrace::test::DecodedTrace;
using viztrace::test::DecodedTrack;

namespace {

std::string find_program(const char* name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return "";
}

std::string chromium() {
  static const std::string bin = [] {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
      if (std::string p = find_program(name); !p.empty()) return p;
    return std::string();
  }();
  return bin;
}

// Headless Chromium on a local file, with its own profile, temp dir and home inside the sandbox
// (the sandbox's TMPDIR must stay empty). extra: --dump-dom or --screenshot=...
Result browse(const Sandbox& s, const std::string& file, const std::string& fragment,
              const std::vector<std::string>& extra) {
  static int n = 0;
  std::string profile = s.path("chromium-" + std::to_string(++n));
  std::filesystem::create_directories(profile + "/tmp");
  std::vector<std::string> argv = {chromium(),
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--enable-logging=stderr",
                                   "--v=0",
                                   "--user-data-dir=" + profile,
                                   "--window-size=1200,800"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("file://" + s.path(file) + fragment);
  Options o;
  o.env = {{"TMPDIR", profile + "/tmp"}, {"HOME", profile}};
  o.timeout_s = 180;
  return s.command(argv, o);
}

// The attributes our script leaves on <body>: data-vt-ready, data-vt-errors, ...
std::map<std::string, std::string> body_data(const std::string& dom) {
  std::map<std::string, std::string> out;
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("<body([^>]*)>"))) return out;
  std::string attrs = m[1];
  std::regex attr(R"re(data-vt-([a-z-]+)="([^"]*)")re");
  for (auto it = std::sregex_iterator(attrs.begin(), attrs.end(), attr);
       it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = (*it)[2];
  return out;
}

// What the page logged to the console (uncaught exceptions, CSP violations, console.error):
// the viewer logs nothing, so any line is a problem.
std::vector<std::string> console_errors(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find(":CONSOLE") != std::string::npos) out.push_back(line);
  return out;
}

// The DOM of the page after its script ran, checked for errors.
std::map<std::string, std::string> render(const Sandbox& s, const std::string& file,
                                          std::string* dom = nullptr) {
  Result r = browse(s, file, "#vt-selftest", {"--dump-dom"});
  INFO(r.err.substr(0, 3000));
  REQUIRE(r.exit_code() == 0);
  auto data = body_data(r.out);
  CHECK(data["ready"] == "1");
  CHECK(data.count("errors") == 0);
  INFO(data["errors"]);
  auto console = console_errors(r.err);
  INFO((console.empty() ? "" : console.front()));
  CHECK(console.empty());
  if (dom) *dom = r.out;
  return data;
}

// An 8-bit RGB or RGBA PNG (what Chromium's screenshots are), decoded with zlib.
struct Image {
  std::uint32_t width = 0, height = 0, channels = 0;
  std::vector<unsigned char> pixels;  // rows of width * channels bytes
  const unsigned char* at(std::uint32_t x, std::uint32_t y) const {
    return &pixels[(static_cast<std::size_t>(y) * width + x) * channels];
  }
};

Image read_png(const std::string& bytes) {
  Image img;
  REQUIRE(bytes.size() > 8);
  REQUIRE(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  auto be32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at]) << 24 |
                                      static_cast<unsigned char>(bytes[at + 1]) << 16 |
                                      static_cast<unsigned char>(bytes[at + 2]) << 8 |
                                      static_cast<unsigned char>(bytes[at + 3]));
  };
  std::string idat;
  int color = -1;
  for (std::size_t at = 8; at + 8 <= bytes.size();) {
    std::uint32_t len = be32(at);
    std::string type = bytes.substr(at + 4, 4);
    REQUIRE(at + 12 + len <= bytes.size());
    if (type == "IHDR") {
      img.width = be32(at + 8);
      img.height = be32(at + 12);
      REQUIRE(bytes[at + 16] == 8);  // bit depth
      color = static_cast<unsigned char>(bytes[at + 17]);
      REQUIRE(bytes[at + 20] == 0);  // not interlaced
    } else if (type == "IDAT") {
      idat += bytes.substr(at + 8, len);
    }
    at += 12 + len;
  }
  REQUIRE((color == 2 || color == 6));
  img.channels = color == 2 ? 3 : 4;
  const std::size_t stride = static_cast<std::size_t>(img.width) * img.channels;
  std::vector<unsigned char> raw((stride + 1) * img.height);
  uLongf raw_len = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()),
                     idat.size()) == Z_OK);
  REQUIRE(raw_len == raw.size());
  img.pixels.resize(stride * img.height);
  const std::size_t bpp = img.channels;
  for (std::uint32_t y = 0; y < img.height; ++y) {
    unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* in = &raw[y * (stride + 1) + 1];
    unsigned char* out = &img.pixels[y * stride];
    const unsigned char* up = y ? &img.pixels[(y - 1) * stride] : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      int a = i >= bpp ? out[i - bpp] : 0, b = up ? up[i] : 0,
          c = (up && i >= bpp) ? up[i - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) / 2;
          break;
        case 4: {
          int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          FAIL("bad PNG filter " << int(filter));
      }
      out[i] = static_cast<unsigned char>(in[i] + pred);
    }
  }
  return img;
}

// Pixels of the process slices' blue (#3b82f6) in the timeline, right of the 220px gutter.
std::size_t slice_pixels(const Image& img) {
  std::size_t n = 0;
  for (std::uint32_t y = 0; y < img.height; ++y)
    for (std::uint32_t x = 225; x < img.width; ++x) {
      const unsigned char* p = img.at(x, y);
      if (std::abs(p[0] - 0x3b) < 12 && std::abs(p[1] - 0x82) < 12 && std::abs(p[2] - 0xf6) < 12)
        ++n;
    }
  return n;
}

bool have_chromium() {
  if (!chromium().empty()) return true;
  VT_MARK_SKIPPED("chromium is missing: no browser checks (scripts/setup --tests installs it)");
  return false;
}

}  // namespace

TEST_CASE("pftrace report of a real run: clean protobuf, the same processes as the JSON report") {
  Sandbox s;
  const std::vector<std::string> cmd = {"sh", "-c", "echo hi | cat >/dev/null; sleep 0.01; exit 3"};
  std::vector<std::string> args = {"run", "-q", "-o", "t.pftrace", "--"};
  args.insert(args.end(), cmd.begin(), cmd.end());
  Result r = s.viztrace(args);
  INFO(r.err);
  CHECK(r.exit_code() == 3);
  std::string bytes = slurp(s.path("t.pftrace"));
  REQUIRE(!bytes.empty());
  DecodedTrace t = decode_pftrace(bytes);
  INFO((t.problems.empty() ? "" : t.problems.front()));
  CHECK(t.problems.empty());
  std::vector<std::string> problems;
  auto content = viztrace::test::slices_by_track(t, problems);
  CHECK(problems.empty());
  std::multiset<std::string> names;
  bool target_status = false;
  for (const auto& [uuid, c] : content)
    for (const auto& sl : c.slices)
      if (sl.category == "process") {
        names.insert(sl.name);
        if (sl.args.count("target")) target_status = sl.args.at("exit_code") == "3";
      }
  CHECK(names.count("sh") >= 1);  // and the forks of the pipeline, until they exec
  CHECK(names.count("cat") == 1);
  CHECK(names.count("sleep") == 1);
  CHECK(target_status);
  std::size_t process_tracks = 0;
  for (const DecodedTrack& tr : t.tracks) process_tracks += tr.kind == DecodedTrack::Kind::process;
  CHECK(process_tracks >= 3);
  if (find_program("protoc").empty())
    VT_MARK_SKIPPED("protoc is missing: no schema check (scripts/setup --tests installs it)");
  else {
    Result raw = s.command({"sh", "-c", "protoc --decode_raw < t.pftrace"});
    CHECK(raw.exit_code() == 0);  // framing as protoc sees it
    CHECK(raw.out.find("\"sleep\"") != std::string::npos);
    // Field numbers and wire types against Perfetto's schema (the part we write), for short
    // sequences (absolute times) and long ones (an incremental clock): no unknown field.
    std::string many = "[";
    for (int i = 0; i < 50; ++i)
      many += std::string(i ? "," : "") +
              R"({"ph":"X","name":"f","cat":"function","pid":1,"tid":1,"ts":)" +
              std::to_string(i * 2) + R"(,"dur":1,"args":{"i":)" + std::to_string(i) + "}}";
    s.write_file("many.json", many + "]");
    REQUIRE(s.viztrace({"convert", "-q", "many.json", "many.pftrace"}).exit_code() == 0);
    std::string proto_dir = INTEGRATION_SOURCE_DIR;
    for (const char* file : {"t.pftrace", "many.pftrace"}) {
      INFO(file);
      Result typed = s.command({"sh", "-c",
                                "protoc --decode=perfetto.protos.Trace --proto_path=" + proto_dir +
                                    " perfetto_trace_subset.proto < " + file});
      INFO(typed.err);
      CHECK(typed.exit_code() == 0);
      CHECK(!std::regex_search(typed.out, std::regex(R"((^|\n) *[0-9]+[:{ ])")));
      CHECK(typed.out.find("track_event {") != std::string::npos);
    }
  }
  require_clean(s);
}

TEST_CASE("convert: a JSON report becomes a pftrace with the same processes and slices") {
  Sandbox s;
  Result r = s.viztrace({"run", "-q", "-o", "t.json", "--", "sh", "-c", "true; ls >/dev/null"});
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report("t.json");
  Result c = s.viztrace({"convert", "t.json", "t.pftrace"});
  INFO(c.err);
  REQUIRE(c.exit_code() == 0);
  CHECK(c.err.find("slices") != std::string::npos);
  DecodedTrace t = decode_pftrace(slurp(s.path("t.pftrace")));
  CHECK(t.problems.empty());
  std::vector<std::string> problems;
  auto content = viztrace::test::slices_by_track(t, problems);
  CHECK(problems.empty());
  std::multiset<std::string> from_pf, from_json;
  for (const auto& [uuid, ct] : content)
    for (const auto& sl : ct.slices)
      if (sl.category == "process") from_pf.insert(sl.name + " " + sl.args.at("pid"));
  for (const Process& p : rep.processes)
    from_json.insert(p.name + " " + std::to_string(p.pid % 4194304));
  CHECK(from_pf == from_json);
  // Back to JSON through the same writer as `run`: the same processes, a valid report.
  Result back = s.viztrace({"convert", "-q", "t.json", "back.json"});
  INFO(back.err);
  REQUIRE(back.exit_code() == 0);
  Report again = s.report("back.json");
  std::multiset<std::string> from_back;
  for (const Process& p : again.processes)
    from_back.insert(p.name + " " + std::to_string(p.pid % 4194304));
  CHECK(from_back == from_json);
  Result unknown = s.viztrace({"convert", "t.json", "t.txt"});
  CHECK(unknown.exit_code() == 2);
  CHECK(unknown.err.find("use .json, .json.gz, .pftrace, .html or .speedscope.json") !=
        std::string::npos);
  Result missing = s.viztrace({"convert", "nope.json", "x.pftrace"});
  CHECK(missing.exit_code() == 2);
  CHECK(missing.err.find("nope.json") != std::string::npos);
  require_clean(s);
}

namespace {

// Per evented profile of a speedscope file: the names of the frames it opens, in order.
std::map<std::string, std::vector<std::string>> speedscope_opens(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(text);
  std::vector<std::string> frames;
  for (simdjson::dom::element f : doc["shared"]["frames"].get_array())
    frames.emplace_back(std::string_view(f["name"]));
  std::map<std::string, std::vector<std::string>> out;
  for (simdjson::dom::element p : doc["profiles"].get_array()) {
    CHECK(std::string_view(p["type"]) == "evented");
    auto& opened = out[std::string(std::string_view(p["name"]))];
    for (simdjson::dom::element e : p["events"].get_array())
      if (std::string_view(e["type"]) == "O")
        opened.push_back(frames.at(static_cast<std::size_t>(int64_t(e["frame"]))));
  }
  return out;
}

}  // namespace

TEST_CASE("speedscope of a run without samples, from report and from convert: the same "
          "evented profiles of function calls") {
  Sandbox s;
  Result run = s.viztrace({"run", "-q", "-o", "f.speedscope.json", "--keep-temp", "--",
                           fixture("fn_demo")});
  INFO(run.err);
  REQUIRE(run.exit_code() == 0);
  auto left = s.temp_leftovers();
  REQUIRE(left.size() == 1);
  const std::string kept = s.tmp() + "/" + left[0];
  // The same trace data as JSON, then converted: the calls come from the JSON's slices.
  REQUIRE(s.viztrace({"report", "-q", kept, "-o", "f.json"}).exit_code() == 0);
  REQUIRE(s.viztrace({"clean", "--kept"}).exit_code() == 0);
  Result conv = s.viztrace({"convert", "-q", "f.json", "c.speedscope.json"});
  INFO(conv.err);
  REQUIRE(conv.exit_code() == 0);
  auto direct = speedscope_opens(slurp(s.path("f.speedscope.json")));
  auto converted = speedscope_opens(slurp(s.path("c.speedscope.json")));
  REQUIRE(direct.size() == 3);  // main and two workers
  CHECK(direct == converted);
  const auto& main = direct.begin()->second;
  CHECK(main.front() == "fn_demo");  // its process slice
  CHECK(std::count(main.begin(), main.end(), "fib(int)") > 1);
  require_clean(s);
}

TEST_CASE("convert nests slices as stats does: an E ends the innermost B of its name") {
  Sandbox s;
  // E work ends work and leaf (still open inside it); X p and B d start together, d ends first.
  s.write_file("t.json", R"([
{"ph":"B","name":"main","pid":1,"tid":1,"ts":0},
{"ph":"B","name":"work","pid":1,"tid":1,"ts":2},
{"ph":"B","name":"leaf","pid":1,"tid":1,"ts":4},
{"ph":"E","name":"work","pid":1,"tid":1,"ts":6},
{"ph":"E","name":"nothing open","pid":1,"tid":1,"ts":7},
{"ph":"X","name":"p","pid":1,"tid":1,"ts":20,"dur":14},
{"ph":"B","name":"d","pid":1,"tid":1,"ts":20},
{"ph":"E","name":"d","pid":1,"tid":1,"ts":25},
{"ph":"E","name":"main","pid":1,"tid":1,"ts":40}])");
  Result c = s.viztrace({"convert", "t.json", "t.pftrace"});
  INFO(c.err);
  REQUIRE(c.exit_code() == 0);
  CHECK(c.err.find("1 E events without a B dropped") != std::string::npos);
  DecodedTrace t = decode_pftrace(slurp(s.path("t.pftrace")));
  REQUIRE(t.problems.empty());
  std::vector<std::string> problems;
  auto content = viztrace::test::slices_by_track(t, problems);
  CHECK(problems.empty());
  // Self time per name from the converted slices: duration minus the direct children's.
  std::map<std::string, std::int64_t> from_pftrace;
  for (const auto& [uuid, track] : content) {
    const auto& sl = track.slices;
    for (std::size_t i = 0; i < sl.size(); ++i) {
      std::int64_t self = static_cast<std::int64_t>(sl[i].end - sl[i].start);
      for (std::size_t j = i + 1; j < sl.size() && sl[j].depth > sl[i].depth; ++j)
        if (sl[j].depth == sl[i].depth + 1)
          self -= static_cast<std::int64_t>(sl[j].end - sl[j].start);
      from_pftrace[sl[i].name] += self;
    }
  }
  Result st = s.viztrace({"stats", "--json", "t.json"});
  REQUIRE(st.exit_code() == 0);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(st.out).get(doc) == simdjson::SUCCESS);
  std::map<std::string, std::int64_t> from_stats;
  for (simdjson::dom::element n : simdjson::dom::array(doc["names"]))
    from_stats[std::string(std::string_view(n["name"]))] = std::int64_t(n["self_ns"]);
  CHECK(from_pftrace == from_stats);
  CHECK(from_stats == std::map<std::string, std::int64_t>{
                          {"main", 22000}, {"work", 2000}, {"leaf", 2000}, {"p", 9000},
                          {"d", 5000}});
  require_clean(s);
}

TEST_CASE("html report renders in headless chromium: tables, timeline pixels, hover") {
  Sandbox s;
  Result r = s.viztrace({"run", "-q", "-o", "r.html", "--", "sh", "-c",
                         "sleep 0.05 & echo hello | cat >/dev/null; wait"});
  REQUIRE(r.exit_code() == 0);
  std::string html = slurp(s.path("r.html"));
  CHECK(html.find("http://") == std::string::npos);  // nothing to fetch
  CHECK(html.find("https://") == std::string::npos);
  if (!have_chromium()) return require_clean(s);
  std::string dom;
  auto data = render(s, "r.html", &dom);
  for (const char* process : {"sleep 0.05", "cat", "sh -c sleep 0.05"}) {
    INFO(process);
    CHECK(dom.find(std::string(">") + process) != std::string::npos);  // a table cell
  }
  CHECK(std::stoi(data["drawn"]) > 0);
  CHECK(data["tip"].find("argv: sh -c") != std::string::npos);  // hovering the command's slice
  CHECK(data["tip"].find("exit_code: 0") != std::string::npos);

  Result shot = browse(s, "r.html", "", {"--screenshot=" + s.path("r.png")});
  INFO(shot.err.substr(0, 2000));
  REQUIRE(shot.exit_code() == 0);
  Image img = read_png(slurp(s.path("r.png")));
  CHECK(img.width == 1200);
  CHECK(slice_pixels(img) > 1000);  // the process slices were drawn
  require_clean(s);
}

TEST_CASE("html report with hostile argv renders it as text") {
  Sandbox s;
  const std::vector<std::string> hostile = {"</script><script>document.title='pwned'</script>",
                                            "<!--",
                                            "\"quote'",
                                            "bad\xff\xfe",
                                            "a\xe2\x80\xa8z",
                                            "<img src=x onerror=alert(2)>",
                                            "&amp;"};
  std::vector<std::string> args = {"run", "-q", "-o", "h.html", "--", "/bin/true"};
  args.insert(args.end(), hostile.begin(), hostile.end());
  REQUIRE(s.viztrace(args).exit_code() == 0);
  std::string html = slurp(s.path("h.html"));
  // Only the page's own two script elements end; the data cannot close one.
  std::size_t ends = 0;
  for (std::size_t at = html.find("</script"); at != std::string::npos;
       at = html.find("</script", at + 1))
    ++ends;
  CHECK(ends == 2);
  CHECK(html.find("<!--\"") == std::string::npos);
  CHECK(html.find("\xff") == std::string::npos);  // invalid UTF-8 never reaches the file
  if (!have_chromium()) return require_clean(s);
  std::string dom;
  auto data = render(s, "h.html", &dom);
  CHECK(dom.find("<img") == std::string::npos);
  CHECK(dom.find("&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;") !=
        std::string::npos);
  CHECK(dom.find("&lt;img src=x onerror=alert(2)&gt;") != std::string::npos);
  CHECK(dom.find("bad\\xff\\xfe") != std::string::npos);
  CHECK(dom.find("<title>viztrace: /bin/true") != std::string::npos);
  require_clean(s);
}

TEST_CASE("html report of a million events stays responsive") {
  Sandbox s;
  // A Chrome JSON trace: 4 threads, calls 4 deep, 1,000,000 function slices.
  {
    std::ofstream out(s.path("big.json"));
    out << "{\"traceEvents\":[\n"
        << R"({"ph":"M","name":"process_name","pid":77,"tid":77,"args":{"name":"interp"}})";
    char buf[256];
    for (int t = 0; t < 4; ++t) {
      long long at = 0;
      for (int i = 0; i < 250000; i += 4, at += 1500)
        for (int d = 0; d < 4; ++d) {
          int n = std::snprintf(buf, sizeof buf,
                                ",\n{\"ph\":\"X\",\"name\":\"ns::f%d(int)\",\"pid\":77,\"tid\":%d,"
                                "\"cat\":\"function\",\"ts\":%lld.%03d,\"dur\":%d.%03d}",
                                (i / 4 * 7 + d) % 300, 77 + t, (at + d * 40) / 1000,
                                static_cast<int>((at + d * 40) % 1000), (1200 - d * 80) / 1000,
                                (1200 - d * 80) % 1000);
          out.write(buf, n);
        }
    }
    out << "\n]}\n";
  }
  Options slow;
  slow.timeout_s = 300;
  Result c = s.viztrace({"convert", "big.json", "big.html"}, slow);
  INFO(c.err);
  REQUIRE(c.exit_code() == 0);
  CHECK(c.err.find("1000000 slices") != std::string::npos);
  auto json_size = std::filesystem::file_size(s.path("big.json"));
  auto html_size = std::filesystem::file_size(s.path("big.html"));
  CHECK(html_size * 5 < json_size);
  if (!have_chromium()) return require_clean(s);
  auto data = render(s, "big.html");
  REQUIRE(data.count("worst-frame-ms"));
  double worst = std::stod(data["worst-frame-ms"]);
  WARN("1M events: first frame " << data["frame-ms"] << " ms, slowest of 40 zoom/pan frames "
                                 << worst << " ms, " << data["drawn"] << " rectangles");
  CHECK(worst < 500);  // level of detail: bounded by pixels, not events
  CHECK(std::stoi(data["drawn"]) < 40000);
  require_clean(s);
}

TEST_CASE("html report of a sampled run draws a flame graph of its hot functions, with hover, "
          "zoom and search") {
  Sandbox s;
  Result r = s.viztrace({"run", "-q", "--sample", "-o", "r.html", "--", fixture("sample_hot")});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  if (!have_chromium()) return require_clean(s);
  std::string dom;
  auto data = render(s, "r.html", &dom);
  // The frames labelled on the canvas, one a line: the program's whole stack down to the leaves.
  std::set<std::string> labels;
  std::istringstream lines(data["flame-labels"]);
  for (std::string line; std::getline(lines, line);) labels.insert(line);
  INFO(data["flame-labels"]);
  for (const char* name : {"exe_spin", "lib_spin", "work", "main"}) {
    INFO(name);
    CHECK(labels.count(name) == 1);
  }
  for (const char* name : {"exe_spin", "lib_spin"}) {  // the table of top functions by self samples
    INFO(name);
    CHECK(dom.find(std::string("<td class=\"cmd\" title=\"") + name + "\">" + name + "</td>") !=
          std::string::npos);
  }
  CHECK(dom.find("Hz (perf_event)") != std::string::npos);
  CHECK(dom.find("no sample lost") != std::string::npos);
  // Hovering the frame with the most self samples: exe_spin, in the executable, with its source.
  const std::string tip = data["flame-tip"];
  INFO(tip);
  CHECK(tip.starts_with("exe_spin sample_hot · sample_hot.c:"));
  CHECK(tip.find("self: ") != std::string::npos);
  CHECK(tip.find("total: ") != std::string::npos);
  // Zoomed into its caller: work fills the width, its callees below.
  CHECK(data["flame-zoomed"].starts_with("zoomed into work ("));
  CHECK(data["flame-zoomed"].find("\nlib_spin") != std::string::npos);
  // Searching "spin": both hot functions, nearly every sample.
  std::smatch m;
  const std::string match = data["flame-match"];
  INFO(match);
  REQUIRE(std::regex_match(match, m, std::regex(R"(matching: \d+ samples? \(([\d.]+)%\))")));
  CHECK(std::stod(m[1]) > 90);

  // Where the kernel refuses to sample, the page says why, and shows what the threads sampled.
  Result denied = s.command({fixture("deny_perf"), viztrace_bin(), "run", "-q", "--sample", "-o",
                             "denied.html", "--", fixture("sample_hot")});
  INFO(denied.err);
  REQUIRE(denied.exit_code() == 0);
  std::string denied_dom;
  auto denied_data = render(s, "denied.html", &denied_dom);
  CHECK(denied_dom.find("The kernel would not sample: perf_event_open: Operation not permitted") !=
        std::string::npos);
  CHECK(denied_dom.find(" Hz (timer)") != std::string::npos);
  CHECK(denied_data["flame-labels"].find("exe_spin") != std::string::npos);
  require_clean(s);
}
