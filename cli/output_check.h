// Refuses a report path that cannot work before the target starts, so nobody loses a long run
// to a typo: unknown extension, missing directory, a directory as the file, no permission.
#pragma once

#include <string>

namespace viztrace::cli {

// Throws viztrace::Error("cannot write <path>: <reason>").
void check_output_path(const std::string& path);

}  // namespace viztrace::cli
