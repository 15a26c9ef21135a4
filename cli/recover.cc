// viztrace recover [-o FILE]
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/function_options.h"
#include "core/fn_rings.h"
#include "cli/output_check.h"
#include "common/error.h"
#include "core/signal_guard.h"
#include "report/report.h"
#include "spill/orphaned_session.h"
#include "spill/session_dir.h"

namespace viztrace::cli {
namespace {

struct RecoverOptions {
  std::string output = "viztrace.json";
  bool quiet = false;
  report::FunctionFilter filter;
};

int recover(const RecoverOptions& o) {
  check_output_path(o.output);
  std::string root = spill::SessionDir::default_temp_root();
  for (auto& session : spill::OrphanedSession::claim_all(root)) {
    if (!session.has_spill()) continue;
    SignalGuard::install();
    SignalGuard::set_mode(SignalGuard::Mode::kReporting);
    if (!o.quiet)
      std::fprintf(stderr, "viztrace: recovering the trace left in %s\n", session.path().c_str());
    // Function calls still in the rings of traced threads join the spill first.
    rescue_rings(session.path());
    report::ReportOptions ropts;
    ropts.output = o.output;
    ropts.quiet = o.quiet;
    ropts.filter = o.filter;
    report::write_report(session.path(), ropts);  // throws: the dir stays for another try
    std::string problem;
    if (!session.sweep(&problem))
      std::fprintf(stderr, "viztrace: cannot remove %s: left %s\n", session.path().c_str(),
                   problem.c_str());
    return 0;
  }
  if (!o.quiet) std::fprintf(stderr, "viztrace: no trace to recover in %s\n", root.c_str());
  return 0;
}

}  // namespace

Command add_recover_command(CLI::App& app) {
  auto o = std::make_shared<RecoverOptions>();
  CLI::App* cmd = app.add_subcommand(
      "recover",
      "Write the report of the newest trace whose viztrace was killed before it could (SIGKILL,\n"
      "a cancelled CI job), then remove that trace data. Exits 0 when there is nothing to\n"
      "recover, so it can run in a CI step that always runs.");
  cmd->add_option("-o,--output", o->output,
                  "Report file; the format follows the extension: .json, .json.gz, .pftrace "
                  "(Perfetto),\n.html, .speedscope.json (speedscope)")
      ->capture_default_str();
  add_function_filter_options(cmd, o->filter);
  cmd->add_flag("-q,--quiet", o->quiet, "No messages or summary on stderr");
  return {cmd, [o] { return recover(*o); }};
}

}  // namespace viztrace::cli
