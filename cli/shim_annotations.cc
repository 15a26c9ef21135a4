#include "cli/shim_annotations.h"

#include <dlfcn.h>

#include "common/error.h"

namespace viztrace::cli {
namespace {

template <class T>
void find(T& slot, const char* name) {
  slot = reinterpret_cast<T>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

ShimAnnotations ShimAnnotations::find() {
  ShimAnnotations s;
  cli::find(s.span_begin, "viztrace_shim_span_begin");
  cli::find(s.span_end_args, "viztrace_shim_span_end_args");
  cli::find(s.global_mark, "viztrace_shim_global_mark");
  cli::find(s.counter, "viztrace_shim_counter");
  return s;
}

void check_key_values(const char* command, const std::vector<std::string>& words) {
  for (const std::string& w : words) {
    std::size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(std::string(command) + ": '" + w + "' is not key=value");
  }
}

std::vector<const char*> c_list(const std::vector<std::string>& words) {
  std::vector<const char*> out;
  for (const std::string& w : words) out.push_back(w.c_str());
  out.push_back(nullptr);
  return out;
}

}  // namespace viztrace::cli
