// Tests that cannot run here (a program missing, no permission to mount) say why and are
// counted by ctest as skipped, never as passed: the runner's main (test/catch_main.cpp) exits
// with kSkipExitCode when a test skipped and nothing failed.
#pragma once

#include <catch2/catch.hpp>

namespace vt_test {

constexpr int kSkipExitCode = 77;  // SKIP_RETURN_CODE of every discovered test

inline bool& skipped() {
  static bool skipped = false;
  return skipped;
}

}  // namespace vt_test

// Marks the running test skipped with a reason (what it ran so far still has to pass).
#define VT_MARK_SKIPPED(why)     \
  do {                           \
    WARN("SKIPPED: " << why);    \
    ::vt_test::skipped() = true; \
  } while (false)

// Skips the rest of the running test.
#define VT_SKIP(why)      \
  do {                    \
    VT_MARK_SKIPPED(why); \
    return;               \
  } while (false)
