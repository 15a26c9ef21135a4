// A report file as its format wants it: written atomically (OutputFile), and for .json.gz
// compressed on a thread of its own beside the formatting. (Plain output is written from the
// writers' own buffers: handing them to a thread would cost a copy that the write saves.)
#pragma once

#include <optional>
#include <string>

#include "report/writers/gzip_sink.h"
#include "report/writers/output_file.h"
#include "report/writers/threaded_sink.h"
#include "report/writers/trace_writer.h"

namespace viztrace::report {

class ReportOutput {
 public:
  // Creates the temporary file. Throws "cannot write <path>: <reason>".
  ReportOutput(const std::string& path, const ReportFormat& format) : file_(path) {
    if (!format.gzip) return;
    gz_.emplace(file_, path);
    threaded_.emplace(*gz_);
  }
  ByteSink& sink() { return threaded_ ? static_cast<ByteSink&>(*threaded_) : file_; }
  // Flushes everything and renames the file into place. Returns the bytes written.
  std::uint64_t commit() {
    if (threaded_) threaded_->finish();
    if (gz_) gz_->finish();
    file_.commit();
    return file_.bytes_written();
  }

 private:
  OutputFile file_;
  std::optional<GzipSink> gz_;
  std::optional<ThreadedSink> threaded_;
};

}  // namespace viztrace::report
