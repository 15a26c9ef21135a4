#include "cli/output_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "report/writers/trace_writer.h"

namespace viztrace::cli {

void check_output_path(const std::string& path) {
  if (path.empty()) throw Error("no report path given");
  struct stat st;
  bool exists = stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) throw Error("cannot write " + path + ": Is a directory");
  report::report_format(path);  // throws for an unknown extension
  // /dev/stdout and the like: written in place.
  if (exists && !S_ISREG(st.st_mode)) return;
  // A regular file is replaced by rename: its own mode does not matter; the directory's does.
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (stat(dir.c_str(), &st) != 0)
    throw Error("cannot write " + path + ": " + std::strerror(errno) + " (" + dir + ")");
  if (!S_ISDIR(st.st_mode)) throw Error("cannot write " + path + ": " + dir + " is not a directory");
  if (access(dir.c_str(), W_OK | X_OK) != 0)
    throw Error("cannot write " + path + ": " + std::strerror(errno) + " (" + dir + ")");
}

}  // namespace viztrace::cli
