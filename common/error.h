// The one exception type viztrace throws outside the shim: a complete, user-facing message
// ("cannot write report.json: No space left on device"), printed once by main as "viztrace: ...".
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace viztrace {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "<what>: <strerror(err)>"
inline Error system_error(const std::string& what, int err = errno) {
  return Error(what + ": " + std::strerror(err));
}

}  // namespace viztrace
