// A relocatable install: `cmake --install build --prefix P` gives P/bin/viztrace, which finds its
// preload library relative to itself from any working directory, and keeps working when P moves
// (even to a path with a space, which LD_PRELOAD cannot express directly).
#include <catch2/catch.hpp>
#include <filesystem>

#include "harness.h"

using namespace vt_test;

TEST_CASE("an installed viztrace works from any directory, and after the prefix moves") {
  Sandbox s;
  auto install = s.command({"cmake", "--install", VIZTRACE_BUILD_DIR, "--prefix", s.path("p1")});
  INFO(install.out << install.err);
  REQUIRE(install.exit_code() == 0);
  std::filesystem::rename(s.path("p1"), s.path("moved prefix"));
  std::filesystem::create_directory(s.path("elsewhere"));
  Options o;
  o.env["VIZTRACE_BIN"] = "";  // not the build tree's binary
  auto r = s.command({s.path("moved prefix/bin/viztrace"), "run", "-q", "-o",
                      s.path("elsewhere/out.json"), "--", "sh", "-c", "cd / && ls >/dev/null"},
                     o);
  REQUIRE(r.exit_code() == 0);
  Report rep = s.report(s.path("elsewhere/out.json"));
  REQUIRE(rep.named("ls").size() == 1);
  CHECK(rep.named("ls")[0].traced);
  CHECK(s.temp_leftovers().empty());
}
