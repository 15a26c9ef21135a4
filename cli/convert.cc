// viztrace convert IN.json OUT.pftrace|OUT.html|OUT.speedscope.json|OUT.json|OUT.json.gz
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/output_check.h"
#include "common/error.h"
#include "core/signal_guard.h"
#include "report/readers/chrome_json_converter.h"
#include "report/writers/report_output.h"

namespace viztrace::cli {
namespace {

struct ConvertOptions {
  std::string input, output;
  bool quiet = false;
};

int convert(const ConvertOptions& o) {
  check_output_path(o.output);  // an unknown extension too
  const report::ReportFormat& format = report::report_format(o.output);
  SignalGuard::install();
  SignalGuard::set_mode(SignalGuard::Mode::kReporting);  // an interrupt removes the temp file

  report::ConvertStats stats;
  report::ConvertedTrace trace(o.input, stats);
  const std::size_t processes = trace.outline().processes.size();
  report::ReportOutput out(o.output, format);
  if (format.extension == ".pftrace") {
    trace.write_perfetto(out.sink());  // thread by thread: no whole Timeline in memory
  } else {
    const report::Timeline timeline = trace.timeline();
    std::unique_ptr<report::TraceWriter> writer = format.make(out.sink());
    writer->begin(timeline, nullptr);
    writer->finish();
  }
  const std::uint64_t bytes = out.commit();

  if (!o.quiet) {
    const std::string sampled =
        stats.samples ? ", " + std::to_string(stats.samples) + " sampled stacks" : "";
    std::fprintf(stderr,
                 "viztrace: %s -> %s: %llu events read; %llu slices, %llu instants, %llu counter "
                 "values%s, %zu processes (%llu bytes)\n",
                 o.input.c_str(), o.output.c_str(), static_cast<unsigned long long>(stats.events),
                 static_cast<unsigned long long>(stats.slices),
                 static_cast<unsigned long long>(stats.instants),
                 static_cast<unsigned long long>(stats.counter_values), sampled.c_str(), processes,
                 static_cast<unsigned long long>(bytes));
    std::string notes;
    for (const auto& [ph, n] : stats.skipped)
      notes += (notes.empty() ? "" : ", ") + std::to_string(n) + " '" + ph + "'";
    if (!notes.empty()) notes = "skipped " + notes + " events (not carried over)";
    auto note = [&](std::uint64_t n, const char* what) {
      if (n) notes += (notes.empty() ? "" : "; ") + std::to_string(n) + " " + what;
    };
    note(stats.cut, "slices cut to nest in their parent");
    note(stats.unmatched_ends, "E events without a B dropped");
    note(stats.unclosed_begins, "B events never ended (closed at the trace's end)");
    note(stats.samples_unknown_frame, "samples naming no frame of stackFrames left out");
    note(stats.samples_unplaced, "samples without ts, pid or tid left out");
    note(stats.broken_frames, "stack frames whose parent is unknown or in a cycle made outermost");
    if (stats.closed_truncated_array)
      notes += (notes.empty() ? "" : "; ") + std::string("the event array was cut short");
    if (!notes.empty()) std::fprintf(stderr, "viztrace: %s\n", notes.c_str());
  }
  return 0;
}

}  // namespace

Command add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert a Chrome trace-event JSON file (a viztrace report, or any X/B/E/i/C/M events)\n"
      "into Perfetto's native format (.pftrace), a self-contained HTML page (.html),\n"
      "speedscope's format (.speedscope.json), or Chrome JSON again (.json, .json.gz: as\n"
      "viztrace writes it, one event per line).");
  cmd->add_option("input", o->input, "Chrome JSON trace (.json, or .json.gz)")->required();
  cmd->add_option("output", o->output,
                  "What to write: .pftrace, .html, .speedscope.json, .json or .json.gz")
      ->required();
  cmd->add_flag("-q,--quiet", o->quiet, "No summary on stderr");
  cmd->footer(
      "Carried over: slices (X, B/E), instants (i/I), counters (C), process and thread\n"
      "names (M), args, the top-level metadata, and sampled stacks (the top-level\n"
      "stackFrames and samples). Flow, async, sample (P) and object events are skipped\n"
      "(and counted).");
  return {cmd, [o] { return convert(*o); }};
}

}  // namespace viztrace::cli
