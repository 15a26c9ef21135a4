// The HTML report's data: one JSON value inside a script element that no string from the trace
// can end or turn into markup, read back intact (invalid UTF-8 as the text \xNN).
#include "report/writers/html_writer.h"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <string>

#include "string_sink.h"

using viztrace::report::Arg;
using viztrace::report::Timeline;
using viztrace::test::StringSink;

TEST_CASE("html: trace strings stay data inside the page, whatever bytes they hold") {
  const std::string hostile =
      "</script><script>alert(1)</script><!-- & \"q\" \\ \x01 bad\xff \xe2\x80\xa8.";
  Timeline tl;
  tl.origin = 1000;
  tl.end = 5000;
  tl.title = hostile;
  tl.metadata.push_back(Arg::of("command", hostile));
  auto& p = tl.processes.emplace_back();
  p.pid = 7;
  p.name = hostile;
  p.argv = {"tool", hostile};
  p.start = 1000;
  p.end = 4000;
  auto& t = p.threads.emplace_back();
  t.tid = 7;
  t.name = hostile;
  auto& s = t.slices.emplace_back();
  s.start = 1500;
  s.end = 3500;
  s.name = tl.intern(hostile);
  s.args.push_back(Arg::array_of("argv", p.argv));
  StringSink sink;
  std::uint64_t written = viztrace::report::write_html(tl, sink);
  REQUIRE(written == sink.bytes.size());
  const std::string& page = sink.bytes;

  const std::string open = "<script id=\"vt-data\" type=\"application/json\">";
  std::size_t begin = page.find(open);
  REQUIRE(begin != std::string::npos);
  begin += open.size();
  std::size_t end = page.find("</script>", begin);
  REQUIRE(end != std::string::npos);
  std::string data = page.substr(begin, end - begin);
  CHECK(data.find_first_of("<>&") == std::string::npos);
  CHECK(data.find("\xe2\x80\xa8") == std::string::npos);
  std::size_t ends = 0;
  for (std::size_t at = page.find("</script"); at != std::string::npos;
       at = page.find("</script", at + 1))
    ++ends;
  CHECK(ends == 2);  // the data's and the viewer's own

  simdjson::dom::parser parser;
  simdjson::padded_string json(data);
  auto doc = parser.parse(json);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  const std::string expected =
      "</script><script>alert(1)</script><!-- & \"q\" \\ \x01 bad\\xff \xe2\x80\xa8.";
  CHECK(std::string(doc["title"].get_string().value()) == expected);
  simdjson::dom::array strings = doc["strings"].get_array().value();
  std::size_t found = 0;
  for (simdjson::dom::element e : strings) found += std::string(e.get_string().value()) == expected;
  CHECK(found >= 1);
  CHECK(doc["slices"].get_array().size() == 5);  // one slice: 5 numbers
  CHECK(doc["duration"].get_int64().value() == 4000);
}
