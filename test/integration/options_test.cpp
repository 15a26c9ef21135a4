// Options: every value is checked when the command line is read, before a command starts or a
// trace is read, and a bad one is refused with one line naming the option and what it takes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "harness.h"

using namespace vt_test;
namespace fs = std::filesystem;

namespace {

// The refusal: status 2, one line "viztrace: <option>...", short enough to read.
void check_refused(const Result& r, const std::string& option) {
  INFO(r.err);
  CHECK(r.exit_code() == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("viztrace: " + option, 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.size() < 200);
}

// `viztrace run <option> <value> -- touch ran`: refused, and touch never ran.
void check_run_refused(const Sandbox& s, const std::string& option, const std::string& value) {
  INFO(option << " " << value);
  auto r = s.viztrace({"run", "-o", "r.json", option, value, "--", "touch", "ran"});
  check_refused(r, option);
  CHECK_FALSE(fs::exists(s.path("ran")));
  CHECK_FALSE(fs::exists(s.path("r.json")));
}

}  // namespace

TEST_CASE("an invalid --include or --exclude regex is refused before the command starts") {
  Sandbox s;
  auto [option, pattern] = GENERATE(std::make_pair("--include", "main("),
                                    std::make_pair("--exclude", "[a-"),
                                    std::make_pair("--include", "*x"));
  check_run_refused(s, option, pattern);
  auto r = s.viztrace({"run", "-o", "r.json", option, pattern, "--", "touch", "ran"});
  CHECK(r.err.find("not a valid regular expression") != std::string::npos);
  CHECK(r.err.find(std::string("'") + pattern + "'") != std::string::npos);

  // recover and report share the option: the kept trace stays for another try.
  leave_orphan(s);
  auto left = s.temp_leftovers();
  check_refused(s.viztrace({"recover", "-o", "rec.json", option, pattern}), option);
  CHECK_FALSE(fs::exists(s.path("rec.json")));
  CHECK(s.temp_leftovers() == left);
  check_refused(s.viztrace({"report", s.tmp() + "/" + left[0], option, pattern}), option);
  CHECK(s.viztrace({"recover", "-q", "-o", "rec.json"}).exit_code() == 0);
  CHECK(fs::exists(s.path("rec.json")));
  require_clean(s);
}

TEST_CASE("numbers out of range are refused in one short line before the command starts") {
  Sandbox s;
  SECTION("--linger: finite seconds up to an hour") {
    for (const char* value : {"nan", "inf", "-inf", "1e9", "3600.5", "-1", "1e309", "2s", ""})
      check_run_refused(s, "--linger", value);
    auto r = s.viztrace({"run", "-o", "r.json", "--linger", "nan", "--", "touch", "ran"});
    CHECK(r.err.find("from 0 to 3600") != std::string::npos);
    for (const char* value : {"0", "0.25", "3600"}) {
      INFO(value);
      CHECK(s.viztrace({"run", "-q", "--linger", value, "--", "true"}).exit_code() == 0);
    }
  }
  SECTION("--max-stack-depth: a whole number from 1") {
    for (const char* value : {"0", "-1", "x", "1.5", "99999999999", "1e3"})
      check_run_refused(s, "--max-stack-depth", value);
    auto r = s.viztrace({"run", "--max-stack-depth", "0", "--", "touch", "ran"});
    CHECK(r.err.find("from 1 to") != std::string::npos);
    CHECK(r.err.find("no limit") != std::string::npos);
    CHECK(s.viztrace({"run", "-q", "--max-stack-depth", "1", "--", "true"}).exit_code() == 0);
  }
  SECTION("stats --top: a count") {
    REQUIRE(s.viztrace({"run", "-q", "-o", "r.json", "--", "true"}).exit_code() == 0);
    for (const char* value : {"-1", "x", "1e3", "99999999999999999999"}) {
      INFO(value);
      check_refused(s.viztrace({"stats", "--top", value, "r.json"}), "--top");
    }
    CHECK(s.viztrace({"stats", "--top", "0", "r.json"}).exit_code() == 0);
  }
  require_clean(s);
}

TEST_CASE("a duration that is not one is refused before the command starts") {
  Sandbox s;
  for (const char* value : {"nan", "inf", "5x", "-1us", "1e300s", "", "ms"})
    check_run_refused(s, "--min-duration", value);
  auto r = s.viztrace({"run", "--min-duration", "5x", "--", "true"});
  CHECK(r.err.find("like 250ns, 2us, 1.5ms, 3s") != std::string::npos);
  CHECK(s.viztrace({"run", "-q", "--min-duration", "1.5ms", "--", "true"}).exit_code() == 0);
  require_clean(s);
}

TEST_CASE("an unknown word for --clock or --sort is refused before anything runs") {
  Sandbox s;
  check_run_refused(s, "--clock", "tsc");
  auto r = s.viztrace({"run", "--clock", "tsc", "--", "true"});
  CHECK(r.err.find("auto") != std::string::npos);
  CHECK(r.err.find("monotonic") != std::string::npos);
  REQUIRE(s.viztrace({"run", "-q", "-o", "r.json", "--", "true"}).exit_code() == 0);
  check_refused(s.viztrace({"stats", "--sort", "fastest", "r.json"}), "--sort");
  require_clean(s);
}

TEST_CASE("an output path that cannot work is refused by every subcommand before it starts") {
  Sandbox s;
  REQUIRE(s.viztrace({"run", "-q", "-o", "r.json", "--", "true"}).exit_code() == 0);
  leave_orphan(s);
  auto left = s.temp_leftovers();
  auto refused = [&](const std::vector<std::string>& args) {
    auto r = s.viztrace(args);
    INFO(r.err);
    CHECK(r.exit_code() == 2);
    CHECK(r.err.find("cannot write missing/out.") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  refused({"recover", "-o", "missing/out.json"});
  CHECK(s.temp_leftovers() == left);  // the trace is still there to recover
  refused({"report", s.tmp() + "/" + left[0], "-o", "missing/out.json"});
  refused({"combine", "r.json", "r.json", "-o", "missing/out.json"});
  refused({"convert", "r.json", "missing/out.html"});
  CHECK_FALSE(fs::exists(s.path("missing")));
  CHECK(s.viztrace({"clean"}).exit_code() == 0);
  require_clean(s);
}
