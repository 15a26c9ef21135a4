#include "cli/number_options.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace viztrace::cli {
namespace {

// A bound as a refusal shows it: "3600", "0.5" (never the 309 digits of DBL_MAX).
std::string number_text(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", value);
  return buf;
}

}  // namespace

CLI::Option* add_seconds_option(CLI::App* app, const std::string& name, double& target, double max,
                                const std::string& description) {
  return app
      ->add_option_function<std::string>(
          name,
          [name, max, &target](const std::string& text) {
            double value = 0;
            const char* end = text.data() + text.size();
            auto [rest, ec] = std::from_chars(text.data(), end, value);
            if (ec != std::errc() || rest != end || !std::isfinite(value) || value < 0 ||
                value > max)
              throw CLI::ValidationError(
                  name, "'" + text + "' is not a number of seconds from 0 to " + number_text(max));
            target = value;
          },
          description)
      ->type_name("SECONDS");
}

CLI::Option* add_whole_number_option(CLI::App* app, const std::string& name, std::uint64_t& target,
                                     std::uint64_t min, std::uint64_t max,
                                     const std::string& description, const std::string& note) {
  return app
      ->add_option_function<std::string>(
          name,
          [name, min, max, note, &target](const std::string& text) {
            std::uint64_t value = 0;
            const char* end = text.data() + text.size();
            auto [rest, ec] = std::from_chars(text.data(), end, value);
            if (ec != std::errc() || rest != end || text.empty() || value < min || value > max)
              throw CLI::ValidationError(
                  name, "'" + text + "' is not a whole number from " + std::to_string(min) +
                            " to " + std::to_string(max) + (note.empty() ? "" : " (" + note + ")"));
            target = value;
          },
          description)
      ->type_name("N");
}

}  // namespace viztrace::cli
