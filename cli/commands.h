// The subcommands, one file each. Each add_*_command registers its options on app and returns
// what runs it when the user chose it.
#pragma once

#include <functional>

#include "CLI/CLI.hpp"

namespace viztrace::cli {

// viztrace's own exit statuses. A target that failed always decides the status instead.
inline constexpr int kUsageError = 2;
inline constexpr int kViztraceFailed = 2;

struct Command {
  CLI::App* app;
  std::function<int()> run;
  // Optional: takes the words that are not viztrace's (a command to run) out of argv before
  // CLI11 sees them; returns the new argc.
  std::function<int(int argc, char** argv)> split = nullptr;
};

Command add_run_command(CLI::App& app);
Command add_stats_command(CLI::App& app);
Command add_combine_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_recover_command(CLI::App& app);
Command add_clean_command(CLI::App& app);
Command add_convert_command(CLI::App& app);

}  // namespace viztrace::cli
