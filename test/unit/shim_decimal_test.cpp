// The shim's decimal formatter: the digits of any unsigned long, NUL-terminated, and their count.
#include <catch2/catch.hpp>
#include <climits>
#include <cstring>
#include <string>

#include "shim/decimal.h"

namespace {

std::string decimal(unsigned long v, std::size_t& digits) {
  char out[32];
  std::memset(out, 'x', sizeof out);
  digits = vt_shim::put_decimal(out, v);
  REQUIRE(digits < sizeof out);
  CHECK(out[digits] == '\0');
  CHECK(out[digits + 1] == 'x');  // nothing written past the NUL
  return std::string(out, digits);
}

}  // namespace

TEST_CASE("shim put_decimal writes the digits of any unsigned long and returns their count") {
  for (unsigned long v : {0ul, 7ul, 10ul, 99ul, 4194304ul, 4294967295ul, 1234567890123ul,
                          ULONG_MAX}) {
    std::size_t digits = 0;
    const std::string text = decimal(v, digits);
    INFO(v);
    CHECK(text == std::to_string(v));
    CHECK(digits == text.size());
  }
}
