// viztrace mark NAME [key=value...]
#include <memory>

#include "cli/commands.h"
#include "cli/shim_annotations.h"
#include "common/error.h"

namespace viztrace::cli {
namespace {

int mark(const std::vector<std::string>& words) {
  if (words.empty() || words[0].empty())
    throw Error("mark: no NAME given (viztrace mark NAME [key=value...])");
  std::vector<std::string> args(words.begin() + 1, words.end());
  check_key_values("mark", args);
  ShimAnnotations shim = ShimAnnotations::find();
  if (shim.global_mark) shim.global_mark(words[0].c_str(), c_list(args).data());
  return 0;
}

}  // namespace

Command add_mark_command(CLI::App& app) {
  auto words = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd =
      app.add_subcommand("mark",
                         "Mark a moment of a traced run, from a shell script or any program.\n"
                         "Usage: viztrace mark NAME [key=value...]\n"
                         "Does nothing outside `viztrace run`; exits 0 (2 for bad usage).");
  cmd->footer(
      "The report shows a global instant NAME (a line across the whole timeline, cat \"mark\")\n"
      "with the key=value pairs as its args: values that are decimal integers become numbers,\n"
      "others strings. A value may hold spaces and '=' (quote it for the shell).\n\n"
      "Examples:\n"
      "  viztrace mark \"tests start\"\n"
      "  viztrace mark deployed version=1.4.2 \"by=ci bot\" attempt=2\n"
      "  viztrace run -- sh -c './build.sh && viztrace mark built && ./test.sh'");
  return {cmd, [words] { return mark(*words); },
          [words](int argc, char** argv) { return take_words("mark", argc, argv, *words); }};
}

}  // namespace viztrace::cli
