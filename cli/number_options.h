// Options that take a number, checked as the command line is read: a value out of range, not
// finite or not a number at all is refused in one line that names the option and the range.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"

namespace viztrace::cli {

// A decimal number of seconds from 0 to max (finite: no nan, no inf).
CLI::Option* add_seconds_option(CLI::App* app, const std::string& name, double& target,
                                double max, const std::string& description);

// A whole number from min to max, written in decimal digits only. note, when not empty, is
// added to the refusal (what the option does without a value, say).
CLI::Option* add_whole_number_option(CLI::App* app, const std::string& name,
                                     std::uint64_t& target, std::uint64_t min, std::uint64_t max,
                                     const std::string& description, const std::string& note = "");

}  // namespace viztrace::cli
