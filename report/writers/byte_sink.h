// Where a writer's bytes go: the report file itself, or a compressor in front of it.
#pragma once

#include <cstddef>

namespace viztrace::report {

class ByteSink {
 public:
  // Takes all n bytes or throws viztrace::Error naming the output.
  virtual void write(const char* data, std::size_t n) = 0;

 protected:
  ~ByteSink() = default;
};

}  // namespace viztrace::report
