// The terminal summary printed after a run: how the command ended, counts, losses, the slowest
// processes and where the report is. One screen; argv is shortened and made safe to print.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "report/model/trace_model.h"

namespace viztrace::report {

// What function tracing adds to the summary.
struct FunctionSummary {
  struct Top {
    std::string name;
    std::uint64_t count = 0, total_ns = 0, self_ns = 0;
    std::string source;  // "file.cpp:12", "" when unknown
  };
  std::uint64_t calls = 0;
  std::vector<Top> top;         // by self time
  std::uint64_t waited_ns = 0;  // traced threads waited this long for the collector
  // Records left out of the report, and why.
  std::uint64_t unreadable_chunks = 0;  // packed chunks that did not unpack
  std::uint64_t unmatched_returns = 0;  // returns with no open call
  std::uint64_t unmapped = 0;           // records whose clock could not be placed
};

// What sampled stacks add to the summary (viztrace run --sample).
struct SampleSummary {
  struct Top {
    std::string name, module, source;  // module: base name; source: "file.c:12"; "" unknown
    std::uint64_t self = 0, total = 0;  // samples
  };
  struct ProcessTop {
    std::string name;
    std::uint32_t pid = 0;
    std::uint64_t samples = 0;
    std::vector<Top> top;
  };
  bool requested = false;
  std::string method;   // "" when sampling could not start
  std::string why_not;  // then why
  std::uint32_t hz = 0;
  std::uint32_t stack_bytes = 0;
  bool user_time_only = false;
  std::uint64_t samples = 0;
  std::uint64_t cut_short = 0, copy_too_small = 0;
  std::vector<Top> top;                // by self samples, of every process
  std::vector<ProcessTop> processes;   // those with the most samples
};

// report_bytes: the report file's size.
std::string format_summary(const TraceModel& model, const std::string& report_path,
                           std::uint64_t report_bytes, const FunctionSummary& functions = {},
                           const SampleSummary& samples = {});

// "850 ns", "12.345 us", "3.210 ms", "1.203 s".
std::string duration_text(std::uint64_t ns);

// argv as a shell would take it back (report/model/shell_words.h), cut to at most `columns`
// characters (ending in "...").
std::string printable_command(const std::vector<std::string>& argv, std::size_t columns);

// A name or a path, control characters and invalid UTF-8 shown as \xNN, cut the same way.
std::string printable_text(std::string_view text, std::size_t columns);

}  // namespace viztrace::report
