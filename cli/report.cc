// viztrace report DIR [-o FILE]
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/function_options.h"
#include "cli/output_check.h"
#include "common/error.h"
#include "core/signal_guard.h"
#include "report/report.h"
#include "spill/orphaned_session.h"
#include "spill/spill_reader.h"

namespace viztrace::cli {
namespace {

struct ReportCommandOptions {
  std::string dir;
  std::string output = "viztrace.json";
  bool quiet = false;
  report::FunctionFilter filter;
};

int report_command(const ReportCommandOptions& o) {
  check_output_path(o.output);
  std::string dir = o.dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!spill::SpillReader::is_spill_dir(dir))
    throw Error(dir + ": no trace data here (expected spill-000000.vzs from run --keep-temp)");
  auto slash = dir.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
  std::string name = slash == std::string::npos ? dir : dir.substr(slash + 1);
  // Holding the session's lock: a running viztrace is still writing there.
  auto claim = spill::OrphanedSession::claim(parent, name);
  if (!claim) throw Error(dir + ": in use by a running viztrace (or not a dir of this user)");
  SignalGuard::install();
  SignalGuard::set_mode(SignalGuard::Mode::kReporting);
  report::ReportOptions ropts;
  ropts.output = o.output;
  ropts.quiet = o.quiet;
  ropts.filter = o.filter;
  report::write_report(dir, ropts);
  return 0;
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Write the report of trace data kept with run --keep-temp.");
  cmd->add_option("dir", o->dir, "The kept dir that run --keep-temp printed")->required();
  cmd->add_option("-o,--output", o->output,
                  "Report file; the format follows the extension: .json, .json.gz, .pftrace "
                  "(Perfetto),\n.html, .speedscope.json (speedscope)")
      ->capture_default_str();
  add_function_filter_options(cmd, o->filter);
  cmd->add_flag("-q,--quiet", o->quiet, "No summary on stderr");
  return {cmd, [o] { return report_command(*o); }};
}

}  // namespace viztrace::cli
