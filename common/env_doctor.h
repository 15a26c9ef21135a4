// Puts the shim's variables back into an environment a program passes to exec or spawn, so the
// new image is traced too (a program may build its own envp, or clear its environment).
//
// Everything is written into caller-provided storage: this runs between vfork and exec, where
// nothing may be allocated or locked.
#pragma once

#include <stddef.h>

namespace vt_shim {

constexpr size_t kMoreEntries = 4;

struct EnvValues {
  const char* fifo_entry;  // "VIZTRACE_FIFO=<path>"
  const char* shim_entry;  // "VIZTRACE_SHIM=<path>"
  const char* shim_path;   // the shim's path, as it must appear in LD_PRELOAD
  // Further "NAME=value" entries the new image must see as they are (the function tracer's
  // settings); null slots are unused.
  const char* more[kMoreEntries];
};

struct EnvScratch {
  char** slots;  // room for count(envp) + kExtraSlots pointers
  size_t slot_count;
  char* preload;  // room for the rewritten "LD_PRELOAD=..." entry
  size_t preload_size;
  char* asan;  // room for the rewritten "ASAN_OPTIONS=..." entry
  size_t asan_size;
};

constexpr size_t kExtraSlots = 5 + kMoreEntries;
// Environments with more entries than this are passed on untouched.
constexpr size_t kMaxEnvEntries = 4096;

size_t env_count(char* const* envp) noexcept;

// Returns envp itself when it already carries the shim's variables, otherwise a doctored copy
// built in scratch. Never fails: without enough scratch it returns envp unchanged. An envp
// whose (first) VIZTRACE_FIFO names another session is left alone, unless claim is set: that
// is a viztrace run inside a traced run, starting a session of its own (the launcher claims).
char* const* doctor_env(char* const* envp, const EnvValues& values, EnvScratch& scratch,
                        bool claim = false) noexcept;

// Whether a LD_PRELOAD value (colon- or space-separated) lists path.
bool preload_lists(const char* value, const char* path) noexcept;

}  // namespace vt_shim
