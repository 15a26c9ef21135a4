// viztrace counter NAME VALUE
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "cli/commands.h"
#include "cli/shim_annotations.h"
#include "common/error.h"

namespace viztrace::cli {
namespace {

int counter(const std::vector<std::string>& words) {
  if (words.size() != 2 || words[0].empty())
    throw Error("counter: expected NAME VALUE (viztrace counter NAME VALUE), got " +
                std::to_string(words.size()) + (words.size() == 1 ? " word" : " words"));
  const std::string& text = words[1];
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value))
    throw Error("counter: VALUE '" + text + "' is not a finite number");
  ShimAnnotations shim = ShimAnnotations::find();
  if (shim.counter) shim.counter(words[0].c_str(), value);
  return 0;
}

}  // namespace

Command add_counter_command(CLI::App& app) {
  auto words = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "counter",
      "Record a sample of a counter in a traced run, from a shell script or any program.\n"
      "Usage: viztrace counter NAME VALUE\n"
      "Does nothing outside `viztrace run`; exits 0 (2 for bad usage).");
  cmd->footer(
      "VALUE: a number such as 42, -3, 0.25 or 1e6. The report has one counter track per NAME\n"
      "(the samples of every process together) that steps to VALUE at this moment.\n\n"
      "Examples:\n"
      "  viztrace counter \"tests failed\" 0\n"
      "  viztrace counter free_mb \"$(free -m | awk '/Mem:/ {print $4}')\"\n"
      "  n=0; for f in *.tar; do tar xf \"$f\"; viztrace counter unpacked $((n += 1)); done");
  return {cmd, [words] { return counter(*words); },
          [words](int argc, char** argv) { return take_words("counter", argc, argv, *words); }};
}

}  // namespace viztrace::cli
