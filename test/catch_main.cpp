#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "test/skip.h"

int main(int argc, char** argv) {
  int failed = Catch::Session().run(argc, argv);
  return failed == 0 && vt_test::skipped() ? vt_test::kSkipExitCode : failed;
}
