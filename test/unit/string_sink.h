// A ByteSink that keeps everything written to it, for the tests of the writers and sinks.
#pragma once

#include <cstddef>
#include <string>

#include "report/writers/byte_sink.h"

namespace viztrace::test {

struct StringSink final : viztrace::report::ByteSink {
  std::string bytes;
  std::size_t writes = 0;  // calls of write()
  void write(const char* data, std::size_t n) override {
    bytes.append(data, n);
    ++writes;
  }
};

}  // namespace viztrace::test
