// Reads a Chrome trace-event JSON file (object or array form; gzip-compressed when it ends in
// .gz; an array cut short is closed) into a Timeline, for `viztrace convert`. Carried over:
//   X and B/E slices (name, category, args), i/I/R instants (s:"g" on a trace-wide track, else on
//   the thread), C counters (one track per process, name and arg key: "name key"),
//   process_name/thread_name metadata, and the top-level "metadata"/"otherData" object.
// Slices that do not nest on their thread are cut at the end of the slice enclosing them; E
// events with no open B are dropped, and a B never closed ends with the trace. Flow (s/t/f),
// async (b/e/n, S/T/F/p), sample, object and mark events are skipped and counted per phase.
// A viztrace report's reused pids (pid + k * 4194304) become separate processes with the real pid.
// The whole file is parsed in memory (simdjson DOM): about 3x its size.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "report/model/timeline.h"

namespace viztrace::report {

struct ConvertStats {
  std::uint64_t events = 0;  // trace events read
  std::uint64_t slices = 0, instants = 0, counter_values = 0, metadata = 0;
  std::uint64_t cut = 0;  // slices cut to nest
  std::uint64_t unmatched_ends = 0, unclosed_begins = 0;
  std::map<std::string, std::uint64_t> skipped;  // by phase
  bool closed_truncated_array = false;
};

// Throws viztrace::Error: "cannot read <path>: <reason>" or "<path> is not a Chrome JSON trace:
// ...".
Timeline read_chrome_json(const std::string& path, ConvertStats& stats);

}  // namespace viztrace::report
