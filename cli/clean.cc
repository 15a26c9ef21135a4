// viztrace clean [--dry-run] [--kept]
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "spill/orphaned_session.h"
#include "spill/session_dir.h"

namespace viztrace::cli {
namespace {

struct CleanOptions {
  bool dry_run = false;
  bool kept = false;
};

int clean(const CleanOptions& o) {
  std::string root = spill::SessionDir::default_temp_root();
  int found = 0, failed = 0;
  using Kind = spill::OrphanedSession::Kind;
  for (Kind kind : {Kind::session, Kind::unfinished, Kind::kept}) {
    if (kind == Kind::kept && !o.kept) continue;
    for (auto& s : spill::OrphanedSession::claim_all(root, kind)) {
      ++found;
      std::size_t n = s.entries();
      if (o.dry_run) {
        std::printf("would remove %s (%zu file%s)\n", s.path().c_str(), n, n == 1 ? "" : "s");
        continue;
      }
      std::string problem;
      if (s.sweep(&problem)) {
        std::printf("removed %s (%zu file%s)\n", s.path().c_str(), n, n == 1 ? "" : "s");
      } else {
        ++failed;
        std::fprintf(stderr, "viztrace: cannot remove %s: left %s\n", s.path().c_str(),
                     problem.c_str());
      }
    }
  }
  if (found == 0) std::printf("nothing to clean in %s\n", root.c_str());
  return failed ? kViztraceFailed : 0;
}

}  // namespace

Command add_clean_command(CLI::App& app) {
  auto o = std::make_shared<CleanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "clean",
      "Remove what viztrace sessions that were killed (SIGKILL, power loss) left in the temp dir\n"
      "($TMPDIR, else /tmp). Only dirs of this user whose viztrace is gone are touched (one\n"
      "killed while it made its dir: once a minute old); every viztrace run does this at its\n"
      "start anyway.");
  cmd->add_flag("-n,--dry-run", o->dry_run, "Only list what would be removed");
  cmd->add_flag("--kept", o->kept, "Also remove trace data kept with run --keep-temp");
  return {cmd, [o] { return clean(*o); }};
}

}  // namespace viztrace::cli
