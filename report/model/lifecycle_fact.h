// One lifecycle record as the process table keeps it: about a process (its subject, not always
// the writer), with the strings that came with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/model/trace_model.h"

namespace viztrace::report {

struct LifecycleFact {
  enum class Kind : std::uint8_t {
    fork,
    spawn,
    proc_start,
    observed,
    exec,
    exec_failed,
    exit,
    reap,
    ended,
    thread_start,
    thread_exit,
    thread_name
  };
  Kind kind{};
  bool from_collector = false;
  std::uint64_t ts = 0;
  std::uint64_t order = 0;   // arrival: orders facts of equal ts (a stream's own order)
  std::uint32_t writer = 0;  // the writing process
  std::uint32_t tid = 0;     // the writing thread (thread_name: the thread named)
  std::uint32_t aux = 0;
  std::uint32_t parent = 0;  // fork/spawn: the writer; proc_start/exec/observed: the ppid told
  std::uint32_t ns_pid = 0;  // proc_start/exec: the writer's pid in its PID namespace (0: ours)
  int status = -1;           // reap: wait status; ended: wait status or -1
  std::optional<Usage> usage;
  std::vector<std::string> argv;
  std::optional<ArgvCut> argv_cut;  // argv is the first part only
  std::string exe, cwd, path, name;

  // A start announcement: after the pid was reaped or ended it means a new process.
  bool is_start() const {
    return kind == Kind::fork || kind == Kind::spawn || kind == Kind::observed ||
           kind == Kind::proc_start;
  }
  bool is_end() const { return kind == Kind::reap || kind == Kind::ended; }
  // Written by the process itself (its own streams), not by a parent or the collector.
  bool is_own() const {
    switch (kind) {
      case Kind::proc_start:
      case Kind::exec:
      case Kind::exec_failed:
      case Kind::exit:
      case Kind::thread_start:
      case Kind::thread_exit:
      case Kind::thread_name:
        return true;
      default:
        return false;
    }
  }
};

}  // namespace viztrace::report
