// The subcommands, one file each. Each add_*_command registers its options on app and returns
// what runs it when the user chose it.
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <vector>

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

// Where the subcommand is in argv: the first word after viztrace's global options (all flags),
// or argc when there is none. Splits look only there, never at a command's own words.
inline int subcommand_index(int argc, char** argv) {
  int i = 1;
  while (i < argc && argv[i][0] == '-') ++i;
  return i;
}

// A split for subcommands whose words are all positional (`viztrace mark NAME key=-1`): when
// `name` is the subcommand, takes every word after it into words (a first "--" is dropped) and
// leaves CLI11 only a first -h/--help. Returns the new argc.
inline int take_words(const std::string& name, int argc, char** argv,
                      std::vector<std::string>& words) {
  int i = subcommand_index(argc, argv);
  if (i == argc || name != argv[i]) return argc;
  int first = i + 1;
  if (first < argc && (std::strcmp(argv[first], "-h") == 0 ||
                       std::strcmp(argv[first], "--help") == 0))
    return argc;
  if (first < argc && std::strcmp(argv[first], "--") == 0) ++first;
  words.assign(argv + first, argv + argc);
  return i + 1;
}

Command add_run_command(CLI::App& app);
Command add_stats_command(CLI::App& app);
Command add_combine_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_recover_command(CLI::App& app);
Command add_clean_command(CLI::App& app);
Command add_convert_command(CLI::App& app);
Command add_mark_command(CLI::App& app);
Command add_span_command(CLI::App& app);
Command add_counter_command(CLI::App& app);

}  // namespace viztrace::cli
