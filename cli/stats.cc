// viztrace stats [options] FILE: per-name and per-process times of any Chrome trace JSON, and
// the functions of its sampled stacks.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/number_options.h"
#include "common/error.h"
#include "report/readers/stats_table.h"
#include "report/readers/trace_stats.h"

namespace viztrace::cli {
namespace {

struct StatsOptions {
  std::string file;
  std::string sort = "self";
  std::uint64_t top = 20;
  bool json = false;
};

int stats_command(const StatsOptions& o) {
  report::StatsView view;
  view.sort = *report::parse_stats_sort(o.sort);  // CLI11 checked the word
  view.top = static_cast<std::size_t>(o.top);
  report::TraceStatsResult stats = report::TraceStats::of_file(o.file);
  std::string text =
      o.json ? report::format_stats_json(stats, view) : report::format_stats_table(stats, view);
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
    throw system_error("cannot write to standard output");
  return 0;
}

}  // namespace

Command add_stats_command(CLI::App& app) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stats",
      "Summarise any Chrome trace JSON (viztrace's, VizTracer's, uftrace's, a browser's):\n"
      "count, total, self and max time per slice name; wall and CPU time per process;\n"
      "the functions of its sampled stacks by self and total samples.");
  cmd->add_option("file", o->file, "The trace (- for standard input)")->required();
  cmd->add_option("--sort", o->sort,
                  "Order of the tables: self, total, count, max or name (sampled functions: count "
                  "and max order as self)")
      ->check(CLI::IsMember({"self", "total", "count", "max", "name"}))
      ->capture_default_str();
  add_whole_number_option(cmd, "--top", o->top, 0, 1'000'000, "Rows per table (0: all)")
      ->default_str("20");
  cmd->add_flag("--json", o->json, "Print JSON for scripts instead of tables (keys below)");
  cmd->footer(
      "Reads the array and the object form, .json or .json.gz (told by content), of any size\n"
      "in little memory. Self time is a slice's time minus its child slices on the same thread.\n"
      "CPU time comes from viztrace reports (the utime/stime of each process).\n\n"
      "Slices are B/E pairs and X events, nested per thread whatever order the file lists them\n"
      "in. An E ends the innermost open B of its name (any name if it has none), as Perfetto\n"
      "reads it; an E without such a B is ignored, and a B never ended is closed at its\n"
      "thread's last timestamp; both are counted under Notes.\n"
      "Sampled stacks are the top-level stackFrames and samples (viztrace run --sample, and\n"
      "any tool writing them): a function's self samples are those it was the innermost frame\n"
      "of, its total those it was anywhere on the stack in; shares are of all samples, or of\n"
      "the process's. Ordered by self samples, only functions with some are listed (--sort\n"
      "total lists their callers too). The processes with the most samples (at most 5) get\n"
      "their own rows (at most 5 each).\n"
      "An empty file or broken JSON is an error naming the byte offset; [] and {} have no "
      "events.\n\n"
      "--json prints one object; times are integer nanoseconds:\n"
      "  file, form (\"array\"|\"object\"), gzip, bytes, events, phases [{ph, count}],\n"
      "  start_ns, end_ns, threads, sort, top, names_total,\n"
      "  names [{name, count, total_ns, self_ns, max_ns}]  (sorted, cut to --top),\n"
      "  processes_total, processes [{pid, name, wall_ns, cpu_ns, utime_ns, stime_ns, events,\n"
      "  threads}]  (by wall time; cpu fields null when unknown),\n"
      "  samples {count, weight_ns, stack_frames, functions_total,\n"
      "  functions [{name, module, self, total, self_weight_ns, total_weight_ns}]  (sorted, cut\n"
      "  to --top), processes_total, processes [{pid, name, samples, weight_ns, functions_total,\n"
      "  functions}]}  (self and total: sample counts; weights: the CPU ns the samples stand\n"
      "  for, 0 when the trace does not say),\n"
      "  problems {unmatched_end, unclosed_begin, improper_nesting, approximate_self,\n"
      "  invalid_events, invalid_utf8_bytes, unclosed_array, samples_unknown_frame,\n"
      "  samples_unplaced, stack_frames_broken}\n\n"
      "Examples:\n"
      "  viztrace stats viztrace.json\n"
      "  viztrace stats --sort total --top 50 trace.json.gz\n"
      "  uftrace dump --chrome | viztrace stats -");
  return {cmd, [o] { return stats_command(*o); }};
}

}  // namespace viztrace::cli
