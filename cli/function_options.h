// The report-time options for function calls, shared by run, report and recover.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "report/model/function_pass.h"

namespace viztrace::cli {

// --min-duration, --include, --exclude.
void add_function_filter_options(CLI::App* app, report::FunctionFilter& filter);

// "250ns", "2us", "1.5ms", "3s" (a bare number is microseconds) in nanoseconds; nullopt when
// the text is not a duration.
std::optional<std::uint64_t> parse_duration(const std::string& text);

}  // namespace viztrace::cli
