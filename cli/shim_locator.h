// Finds the preload library relative to viztrace's own executable (bin/../lib/viztrace/), so an
// install can be moved anywhere and the build tree works the same way.
#pragma once

#include <string>

#include "spill/session_dir.h"

namespace viztrace::cli {

// Absolute path of the shim. Throws viztrace::Error naming where it looked.
std::string locate_shim();

// The path to put in LD_PRELOAD: the shim's own, or a link to it inside the session dir when
// its path contains a space or a colon (which LD_PRELOAD cannot express).
std::string preloadable_shim(const std::string& shim, spill::SessionDir& dir);

}  // namespace viztrace::cli
