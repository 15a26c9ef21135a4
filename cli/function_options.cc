#include "cli/function_options.h"

#include <charconv>
#include <cmath>

namespace viztrace::cli {

std::optional<std::uint64_t> parse_duration(const std::string& text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || rest == begin || !(value >= 0) || std::isinf(value)) return std::nullopt;
  std::string_view unit(rest, static_cast<std::size_t>(end - rest));
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us" || unit.empty()) scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else return std::nullopt;
  double ns = value * scale;
  if (ns > 1.8e19) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(ns));
}

namespace {

// Compiled as the command line is read, so that a typo never costs a whole run.
void add_regex_option(CLI::App* app, const std::string& name, std::string& target,
                      const std::string& description) {
  app->add_option_function<std::string>(
         name,
         [name, &target](const std::string& text) {
           try {
             report::function_name_regex(text);
           } catch (const std::regex_error& e) {
             throw CLI::ValidationError(name, report::function_pattern_problem(text, e));
           }
           target = text;
         },
         description)
      ->type_name("REGEX");
}

}  // namespace

void add_function_filter_options(CLI::App* app, report::FunctionFilter& filter) {
  app->add_option_function<std::string>(
         "--min-duration",
         [&filter](const std::string& text) {
           auto ns = parse_duration(text);
           if (!ns)
             throw CLI::ValidationError("--min-duration",
                                        "'" + text + "' is not a duration (like 250ns, 2us, 1.5ms, 3s)");
           filter.min_duration_ns = *ns;
         },
         "Functions: leave out calls shorter than this (250ns, 2us, 1.5ms, 3s)")
      ->type_name("TIME");
  add_regex_option(app, "--include", filter.include,
                   "Functions: only names that match this regular expression (ECMAScript)");
  add_regex_option(app, "--exclude", filter.exclude,
                   "Functions: leave out names that match this regular expression");
}

}  // namespace viztrace::cli
