// Finds the preload library relative to viztrace's own executable (bin/../lib/viztrace/), so an
// install can be moved anywhere and the build tree works the same way.
#pragma once

#include <string>

namespace viztrace::cli {

// Absolute path of the shim. Throws viztrace::Error naming where it looked.
std::string locate_shim();

}  // namespace viztrace::cli
