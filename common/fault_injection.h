// Test-only fault injection: VIZTRACE_TEST_FAULT=<phase>-<how> makes viztrace crash on purpose
// at a given phase ("session": while its dir is being created; "collect": in the collector's
// loop right after the command ended, with its data partly spilled; "report": while the report
// is half written), by abort() ("abort"), a real invalid memory access ("segv") or SIGKILL
// ("kill"), so the tests can prove that the temp files are swept however viztrace itself dies.
#pragma once

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace viztrace {

inline void inject_fault(const char* phase) {
  static const char* wanted = std::getenv("VIZTRACE_TEST_FAULT");
  if (!wanted) return;
  std::string p(phase);
  if (wanted == p + "-abort") std::abort();
  if (wanted == p + "-kill") raise(SIGKILL);
  if (wanted == p + "-segv") {
    volatile std::uintptr_t nowhere = 16;  // not provably null: a real fault, not a trap
    *reinterpret_cast<volatile int*>(nowhere) = 1;
  }
}

}  // namespace viztrace
