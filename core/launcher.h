// Starts the target: fork, then exec with the shim preloaded and the session in the environment.
// The target stays in viztrace's process group (the terminal's foreground group), so Ctrl+C and
// terminal reads work exactly as without viztrace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace viztrace {

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0] is looked up along PATH
  std::string shim_path;
  std::string fifo_path;
  // "NAME=value" entries for the target, replacing any of the same name in ours.
  std::vector<std::string> extra_env;
};

struct Launched {
  pid_t pid = -1;
  std::uint64_t ts = 0;    // CLOCK_MONOTONIC just before fork
  std::string path;        // the executable found for argv[0]
  std::uint32_t exe_flags; // VT_EXE_* of that file
};

// The environment the target gets: ours plus the shim's variables (LD_PRELOAD appended to any
// the user has, ASAN_OPTIONS extended so sanitizer builds accept a preload library).
std::vector<std::string> target_environment(char** environ_in, const std::string& shim_path,
                                            const std::string& fifo_path);

// Forks and execs. Throws viztrace::Error when the program cannot be run (not found, not
// executable), after the child is gone; the error carries the shell's status (127 or 126).
Launched launch(const LaunchSpec& spec);

class LaunchError : public std::exception {
 public:
  LaunchError(std::string message, int status) : message_(std::move(message)), status_(status) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int status() const { return status_; }

 private:
  std::string message_;
  int status_;
};

std::uint64_t monotonic_ns();

}  // namespace viztrace
