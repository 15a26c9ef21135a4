#include "cli/shim_locator.h"

#include <unistd.h>

#include <climits>
#include <cstring>

#include "core/error.h"

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
  std::string path = resolved;
  // The loader splits LD_PRELOAD at spaces and colons.
  if (path.find_first_of(" :") != std::string::npos)
    throw Error("the preload library's path contains a space or a colon, which LD_PRELOAD "
                "cannot express: " + path);
  return path;
}

}  // namespace viztrace::cli
