// The report step: one streaming pass over a session's spill, the report written atomically
// (Chrome trace-event JSON, optionally gzip-compressed), and the summary printed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "common/wire.h"
#include "report/model/function_pass.h"

namespace viztrace::report {

struct ReportOptions {
  std::string output;  // report path; format by extension: .json, .json.gz, .pftrace, .html
  bool quiet = false;  // no summary
  std::FILE* summary_to = stderr;
  // The collector's final counts when the report is written by the process that collected:
  // complete even when a full disk kept them out of the spill.
  std::optional<vt_stats> collector_stats;
  // Which function calls the report shows.
  FunctionFilter filter;
};

// What main needs afterwards.
struct ReportResult {
  std::uint64_t processes = 0, threads = 0, events = 0;
  std::uint64_t lost = 0;      // records and chunks lost, plus damaged spots: 0 means nothing lost
  bool target_known = false;   // a reaper or pidfd told how the target ended
  int target_wait_status = 0;  // raw wait status of the target when target_known
};

// Reads the spill in spill_dir, writes options.output atomically (an existing file there stays
// untouched if anything fails) and prints the summary. Throws viztrace::Error with a one-line
// message: "cannot write <output>: <reason>", "unknown report format for <output>: ...", or
// the spill reader's.
ReportResult write_report(const std::string& spill_dir, const ReportOptions& options);

}  // namespace viztrace::report
