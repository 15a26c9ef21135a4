// Resolves the facts about one incarnation of a pid (from its start to its reap) into a
// Process: the span, the images (a new one after each exec), threads, and how it ended.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "report/model/lifecycle_fact.h"
#include "report/model/trace_model.h"

namespace viztrace::report {

// The records a process's own stream (one thread of one image) held, from first to last.
struct StreamSpan {
  std::uint32_t tid;
  std::uint64_t first_ts, last_ts;
};

struct Incarnation {
  Process process;                // json_pid is still the real pid; no cpu or memory yet
  std::vector<Instant> instants;  // failed execs; pid is the real one
  // What the process and its reaper counted; the reaper's count includes every child the
  // process waited for. ProcessTable makes the process's own figures out of them.
  std::optional<Usage> exit_usage;    // RUSAGE_SELF when it called exit (the shim's EXIT)
  std::optional<Usage> reaped_usage;  // from the wait4 or wait3 that reaped it
  bool reaped = false;                // a REAP record tells its end (with usage or not)
};

// facts: sorted by (ts, arrival). Empty when they say nothing about the process itself (a lone
// REAP of a process never seen starting).
std::optional<Incarnation> resolve_incarnation(std::uint32_t pid,
                                               const std::vector<const LifecycleFact*>& facts,
                                               const std::vector<StreamSpan>& streams,
                                               const Session& session);

}  // namespace viztrace::report
