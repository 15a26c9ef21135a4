// The shim's annotation functions (shim/annotations.cc), as `viztrace mark|span|counter`
// reach them. Inside a traced run the shim is preloaded into every process of the tree, this
// viztrace included: the marks, spans and counters are written as this process's own records.
// Outside one the functions are null and the commands record nothing.
#pragma once

#include <string>
#include <vector>

namespace viztrace::cli {

struct ShimAnnotations {
  void (*span_begin)(const char* name) = nullptr;
  void (*span_end_args)(const char* const* args) = nullptr;  // "key=value" list
  void (*global_mark)(const char* name, const char* const* args) = nullptr;
  void (*counter)(const char* name, double value) = nullptr;

  // Looks the functions up in the process (dlsym(RTLD_DEFAULT)).
  static ShimAnnotations find();
};

// Checks "key=value" words given on the command line; throws viztrace::Error naming the command
// and the first word that is not one.
void check_key_values(const char* command, const std::vector<std::string>& words);

// The words as a null-terminated list that points into them.
std::vector<const char*> c_list(const std::vector<std::string>& words);

}  // namespace viztrace::cli
