// The shim's direct system calls: they behave as the libc calls they stand in for.
#include <time.h>

#include <catch2/catch.hpp>
#include <cstdint>

#include "common/sys.h"

namespace {

std::uint64_t monotonic() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

TEST_CASE("sys::ppoll leaves its timeout as it was, so a second call waits as long") {
  // The kernel writes the time left into the timeout it is handed: a nap reused in a loop
  // would wait once and then return at once every time after.
  const struct timespec nap = {0, 2'000'000};
  struct timespec copy = nap;
  const std::uint64_t start = monotonic();
  CHECK(vt_shim::sys::ppoll<void, struct timespec>(nullptr, 0, &copy) == 0);
  CHECK(vt_shim::sys::ppoll<void, struct timespec>(nullptr, 0, &copy) == 0);
  const std::uint64_t took = monotonic() - start;
  CHECK(copy.tv_sec == nap.tv_sec);
  CHECK(copy.tv_nsec == nap.tv_nsec);
  CHECK(took >= 4'000'000);
}
