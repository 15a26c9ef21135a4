// viztrace combine A B ... -o OUT: one Chrome trace from several, colliding pids remapped.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/output_check.h"
#include "core/signal_guard.h"
#include "report/readers/trace_combiner.h"

namespace viztrace::cli {
namespace {

struct CombineCliOptions {
  std::vector<std::string> inputs;
  std::string output;
  bool align = false;
  bool quiet = false;
};

int combine_command(const CombineCliOptions& o) {
  report::TraceCombiner::check_output_name(o.output);
  check_output_path(o.output);
  // An interrupt while writing removes the temporary output and ends us by that signal.
  SignalGuard::install();
  SignalGuard::set_mode(SignalGuard::Mode::kReporting);
  report::CombineOptions options;
  options.inputs = o.inputs;
  options.output = o.output;
  options.align = o.align;
  report::CombineResult r = report::TraceCombiner(options).run();
  if (!o.quiet)
    std::fprintf(stderr,
                 "viztrace: combined %zu trace%s into %s: %llu events, %llu pid%s remapped\n",
                 o.inputs.size(), o.inputs.size() == 1 ? "" : "s", o.output.c_str(),
                 static_cast<unsigned long long>(r.events),
                 static_cast<unsigned long long>(r.remapped_pids), r.remapped_pids == 1 ? "" : "s");
  return 0;
}

}  // namespace

Command add_combine_command(CLI::App& app) {
  auto o = std::make_shared<CombineCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "combine", "Merge Chrome trace JSON files into one report; pids that collide are remapped.");
  cmd->add_option("inputs", o->inputs, "The traces (.json or .json.gz, array or object form)")
      ->required();
  cmd->add_option("-o,--output", o->output, "The combined report: .json or .json.gz")->required();
  cmd->add_flag("--align", o->align, "Shift each input so that its first event is at time 0");
  cmd->add_flag("-q,--quiet", o->quiet, "No summary line on stderr");
  cmd->footer(
      "A pid that an earlier input already uses becomes pid + k*10000000 (its main thread's\n"
      "tid with it); each process gets one process_labels entry naming its file and original\n"
      "pid (in a combined input, the label it has, with the new move before it when its pid\n"
      "moves again), and the metadata lists the inputs, their remapped pids and their own\n"
      "metadata. Events are otherwise copied as written; an event without tid gets its pid as\n"
      "tid. The output appears only when complete (written under a temporary name, then\n"
      "renamed).\n\n"
      "Examples:\n"
      "  viztrace combine before.json after.json -o both.json --align\n"
      "  viztrace combine shard-*.json.gz -o all.json.gz");
  return {cmd, [o] { return combine_command(*o); }};
}

}  // namespace viztrace::cli
