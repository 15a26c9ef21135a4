// viztrace's front end: one file per subcommand; every error reaches the user once, here or in
// the subcommand, as "viztrace: <what>: <why>".
#include <cstdio>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "common/error.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  CLI::App app{
      "viztrace: see what a command really did. Runs it, traces every process and thread it\n"
      "starts, and writes a timeline you can open in Perfetto UI or chrome://tracing.\n\n"
      "  viztrace run -- make -j8        trace a build, write viztrace.json\n"
      "  viztrace run -o t.json.gz -- ./test.sh\n"
      "  viztrace span build -- make     (in a traced script: a named slice)\n"};
  app.name("viztrace");
  // A usage error is one line, as every other error: "viztrace: --linger: ... (see ...)".
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    std::string help = "viztrace";
    for (const CLI::App* sub : a->get_subcommands()) help += " " + sub->get_name();
    return "viztrace: " + std::string(e.what()) + " (see " + help + " --help)\n";
  });
  app.require_subcommand(1);
  app.fallthrough();  // global options such as -v also work after the subcommand
  app.set_version_flag("--version", std::string("viztrace ") + VIZTRACE_VERSION);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Print diagnostics of viztrace itself on stderr");

  std::vector<viztrace::cli::Command> commands = {
      viztrace::cli::add_run_command(app),
      viztrace::cli::add_stats_command(app),
      viztrace::cli::add_combine_command(app),
      viztrace::cli::add_report_command(app),
      viztrace::cli::add_recover_command(app),
      viztrace::cli::add_clean_command(app),
      viztrace::cli::add_convert_command(app),
      viztrace::cli::add_mark_command(app),
      viztrace::cli::add_span_command(app),
      viztrace::cli::add_counter_command(app),
  };
  for (auto& command : commands)
    if (command.split) argc = command.split(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : viztrace::cli::kUsageError;
  }
  auto logger = spdlog::stderr_color_st("viztrace");
  logger->set_pattern("viztrace: [%l] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  try {
    for (auto& command : commands)
      if (command.app->parsed()) return command.run();
    return viztrace::cli::kUsageError;
  } catch (const viztrace::Error& e) {
    std::fprintf(stderr, "viztrace: %s\n", e.what());
    return viztrace::cli::kViztraceFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "viztrace: internal error: %s\n", e.what());
    return viztrace::cli::kViztraceFailed;
  }
}
