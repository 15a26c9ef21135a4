// How `viztrace stats` shows a TraceStatsResult: a terminal table, or JSON with stable keys for
// scripts (all times integer nanoseconds; the keys are listed in `viztrace stats --help`).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "report/readers/trace_stats.h"

namespace viztrace::report {

enum class StatsSort { self, total, count, max, name };

struct StatsView {
  StatsSort sort = StatsSort::self;
  std::size_t top = 20;  // rows per table; 0: all
};

// "self" -> StatsSort::self, ...; nullopt for anything else.
std::optional<StatsSort> parse_stats_sort(std::string_view word);
std::string_view stats_sort_name(StatsSort sort);

// The table for a terminal, names made safe to print (control bytes and invalid UTF-8 as '?').
std::string format_stats_table(const TraceStatsResult& stats, const StatsView& view);
// One JSON object, newline-terminated.
std::string format_stats_json(const TraceStatsResult& stats, const StatsView& view);

// A duration for people: "850 ns", "12.345 us", "3.210 ms", "4.000 s".
std::string format_duration(std::int64_t ns);

}  // namespace viztrace::report
