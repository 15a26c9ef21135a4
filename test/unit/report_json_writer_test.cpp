// JsonWriter: number formats, escaping of arbitrary bytes, pieces across buffer boundaries.
#include <simdjson.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "report/writers/json_writer.h"
#include "string_sink.h"

using viztrace::report::JsonWriter;
using viztrace::report::write_fixed3;
using viztrace::test::StringSink;

namespace {

std::string fixed3(std::uint64_t v) {
  char buf[32];
  return std::string(buf, write_fixed3(buf, v));
}

// The JSON text of one string value.
std::string json_string(std::string_view bytes,
                        std::size_t buffer = JsonWriter::kDefaultBufferBytes) {
  StringSink sink;
  JsonWriter w(sink, buffer);
  w.string(bytes);
  w.flush();
  return sink.bytes;
}

// What a JSON parser reads back from the JSON text of a string.
std::string parse_string(const std::string& json) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(json);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  return std::string(doc.get_string().value());
}

}  // namespace

TEST_CASE("fixed3 prints thousandths with exactly three decimals, from integers") {
  CHECK(fixed3(0) == "0.000");
  CHECK(fixed3(5) == "0.005");
  CHECK(fixed3(70) == "0.070");
  CHECK(fixed3(1000) == "1.000");
  CHECK(fixed3(1234567) == "1234.567");
  // Beyond 2^53, where a double would lose the last digits.
  CHECK(fixed3(9007199254740993ull) == "9007199254740.993");
  CHECK(fixed3(UINT64_MAX) == "18446744073709551.615");
}

TEST_CASE("fixed3 agrees with integer division at every digit count and at random") {
  auto expected = [](std::uint64_t v) {
    std::string frac = std::to_string(v % 1000);
    return std::to_string(v / 1000) + "." + std::string(3 - frac.size(), '0') + frac;
  };
  std::uint64_t p = 1;
  for (int digits = 1; digits <= 20; ++digits, p *= 10)
    for (std::uint64_t v : {p - 1, p, p + 1, 2 * p - 1, 5 * p + 7, 9 * p + (p - 1)}) {
      INFO(v);
      CHECK(fixed3(v) == expected(v));
    }
  std::uint64_t x = 0x9E3779B97F4A7C15ull;  // xorshift: values of every size
  for (int i = 0; i < 200000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const std::uint64_t v = x >> (x % 64);
    if (fixed3(v) != expected(v)) FAIL("fixed3(" << v << ") = " << fixed3(v));
  }
}

TEST_CASE("write_decimal agrees with std::to_string at every digit-count boundary") {
  auto decimal = [](std::uint64_t v) {
    char buf[32];
    return std::string(buf, viztrace::report::write_decimal(buf, v));
  };
  CHECK(decimal(0) == "0");
  CHECK(decimal(UINT64_MAX) == std::to_string(UINT64_MAX));
  std::uint64_t p = 1;
  for (int digits = 1; digits <= 19; ++digits, p *= 10)
    for (std::uint64_t v : {p - 1, p, p + 1, 2 * p - 1, 9 * p + (p - 1)}) {
      INFO(v);
      CHECK(decimal(v) == std::to_string(v));
    }
  for (std::uint64_t v : {9223372036854775808ull, 9999999999999999999ull, 10000000000000000000ull})
    CHECK(decimal(v) == std::to_string(v));
}

TEST_CASE("JsonWriter places commas and nests objects and arrays") {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_object();
  w.member("a", 1);
  w.key("list");
  w.begin_array();
  w.integer(-5);
  w.integer(INT64_MIN);
  w.unsigned_integer(18446744073709551615ull);
  w.begin_object();
  w.end_object();
  w.begin_array();
  w.end_array();
  w.boolean(true);
  w.null();
  w.fixed3(1500);
  w.end_array();
  w.member("s", "x");
  w.end_object();
  w.flush();
  CHECK(
      sink.bytes ==
      R"({"a":1,"list":[-5,-9223372036854775808,18446744073709551615,{},[],true,null,1.500],"s":"x"})");
  CHECK(w.bytes() == sink.bytes.size());
}

TEST_CASE("JsonWriter writes reals that read back exactly, data keys escaped, null for NaN") {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_object();
  w.text_key("q\"\n");
  w.begin_array();
  for (double v : {0.0, -2.5, 0.1, 1e300, -1e-300, 17.0, 1.0 / 3})
    w.real(v);
  w.real(std::nan(""));
  w.real(INFINITY);
  w.end_array();
  w.text_key("k");
  w.real(3);
  w.end_object();
  w.flush();
  CHECK(sink.bytes ==
        R"({"q\"\n":[0,-2.5,0.1,1e+300,-1e-300,17,0.3333333333333333,null,null],"k":3})");
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(sink.bytes);
  CHECK(doc["q\"\n"].at(6).get_double().value() == 1.0 / 3);
}

TEST_CASE("JsonWriter escapes what JSON requires and shows control bytes as \\u00XX") {
  CHECK(json_string("plain text") == R"("plain text")");
  CHECK(json_string("say \"hi\"") == R"("say \"hi\"")");
  CHECK(json_string("C:\\dir") == R"("C:\\dir")");
  CHECK(json_string("a\nb\tc\rd\be\ff") == R"("a\nb\tc\rd\be\ff")");
  CHECK(json_string(std::string("nul\0x", 5)) == R"("nul\u0000x")");
  CHECK(json_string("\x01\x1f\x7f") == R"("\u0001\u001f\u007f")");
  CHECK(json_string("</script>") == R"("</script>")");
}

TEST_CASE("JsonWriter passes valid UTF-8 through and writes each invalid byte as \\xNN") {
  // é (2 bytes), € (3), U+10FFFF (4), 😀 (4): valid, unchanged.
  std::string valid = "caf\xc3\xa9 \xe2\x82\xac \xf4\x8f\xbf\xbf \xf0\x9f\x98\x80";
  CHECK(json_string(valid) == "\"" + valid + "\"");
  CHECK(parse_string(json_string(valid)) == valid);

  CHECK(json_string("\x80") == R"("\\x80")");                             // stray continuation byte
  CHECK(json_string("\xc0\x80") == R"("\\xc0\\x80")");                    // overlong NUL
  CHECK(json_string("\xc1\xbf") == R"("\\xc1\\xbf")");                    // overlong
  CHECK(json_string("\xe0\x80\x80") == R"("\\xe0\\x80\\x80")");           // overlong 3-byte
  CHECK(json_string("\xed\xa0\x80") == R"("\\xed\\xa0\\x80")");           // surrogate U+D800
  CHECK(json_string("\xf4\x90\x80\x80") == R"("\\xf4\\x90\\x80\\x80")");  // > U+10FFFF
  CHECK(json_string("\xf5\xff") == R"("\\xf5\\xff")");
  CHECK(json_string("ok\xe2\x82") == R"("ok\\xe2\\x82")");  // cut short at the end
  CHECK(json_string("\xe2\x82x") == R"("\\xe2\\x82x")");    // cut short by ASCII
  // What a reader gets: the text \xNN, the valid parts untouched.
  CHECK(parse_string(json_string("a\xff\xc3\xa9z")) == "a\\xff\xc3\xa9z");
}

TEST_CASE("JsonWriter keeps long strings whole across buffer flushes") {
  // A small buffer forces many pieces; multi-byte characters land on every possible boundary.
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += (i % 3 == 0) ? "\xe2\x82\xac" : (i % 3 == 1 ? "\xf0\x9f\x98\x80" : "a\"");
  StringSink sink;
  JsonWriter w(sink, 4096);
  w.begin_array();
  w.string(text);
  w.string(text + "\xff");
  w.end_array();
  w.flush();
  CHECK(sink.writes > 3);
  simdjson::dom::parser parser;
  auto doc = parser.parse(sink.bytes);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  auto array = doc.get_array().value();
  CHECK(std::string(array.at(0).get_string().value()) == text);
  CHECK(std::string(array.at(1).get_string().value()) == text + "\\xff");
}
