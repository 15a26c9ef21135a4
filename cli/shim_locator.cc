#include "cli/shim_locator.h"

#include <unistd.h>

#include <climits>
#include <cstring>

#include "common/error.h"
#include "spill/session_dir.h"

namespace viztrace::cli {

std::string locate_shim() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw system_error("cannot find viztrace's own path (/proc/self/exe)");
  std::string exe(self, static_cast<std::size_t>(n));
  std::string bin = exe.substr(0, exe.rfind('/'));
  std::string shim = bin + "/../" VIZTRACE_SHIM_SUBDIR "/" VIZTRACE_SHIM_NAME;
  char resolved[PATH_MAX];
  if (!realpath(shim.c_str(), resolved) || access(resolved, R_OK) != 0)
    throw system_error("cannot find the preload library " + shim);
  return resolved;
}

std::string preloadable_shim(const std::string& shim, spill::SessionDir& dir) {
  // The loader splits LD_PRELOAD at spaces and colons: reach such a path through a link.
  if (shim.find_first_of(" :") == std::string::npos) return shim;
  std::string link = dir.link_shim(shim);
  if (link.find_first_of(" :") != std::string::npos)
    throw Error("cannot preload " + shim + ": its path and the temp dir " + dir.path() +
                " both contain a space or a colon, which LD_PRELOAD cannot express");
  return link;
}

}  // namespace viztrace::cli
