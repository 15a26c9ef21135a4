// Compresses into another sink as a gzip file (deflate level 1: fast, and JSON shrinks ~10x).
#pragma once

#include <zlib.h>

#include <memory>
#include <string>

#include "report/writers/byte_sink.h"

namespace viztrace::report {

class GzipSink final : public ByteSink {
 public:
  // name is the output's path, for error messages.
  GzipSink(ByteSink& out, std::string name);
  ~GzipSink();
  GzipSink(const GzipSink&) = delete;
  GzipSink& operator=(const GzipSink&) = delete;

  void write(const char* data, std::size_t n) override;
  // Writes the rest of the stream and the gzip trailer; no write may follow.
  void finish();

 private:
  void deflate_into_out(int flush);

  ByteSink& out_;
  std::string name_;
  z_stream stream_{};
  std::unique_ptr<char[]> buffer_;
};

}  // namespace viztrace::report
