// The terminal summary printed after a run: how the command ended, counts, losses, the slowest
// processes and where the report is. One screen; argv is shortened and made safe to print.
#pragma once

#include <cstdint>
#include <string>

#include "report/trace_model.h"

namespace viztrace::report {

// report_bytes: the report file's size.
std::string format_summary(const TraceModel& model, const std::string& report_path,
                           std::uint64_t report_bytes);

// argv joined by spaces, control characters and invalid UTF-8 shown as \xNN, cut to at most
// `columns` characters (ending in "...").
std::string printable_command(const std::vector<std::string>& argv, std::size_t columns);

}  // namespace viztrace::report
