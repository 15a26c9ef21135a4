// The report's file, written atomically: bytes go to "<path>.tmp-XXXXXX" beside it, which the
// cleanup registry removes on any ending, and commit() renames it into place. Until then an
// existing file at path stays untouched; a failure anywhere removes the temporary file. A
// device, FIFO or terminal given as path (/dev/stdout) is written in place.
#pragma once

#include <cstdint>
#include <string>

#include "report/writers/byte_sink.h"

namespace viztrace::report {

class OutputFile final : public ByteSink {
 public:
  // Creates the temporary file (mode 0666 & ~umask). Throws "cannot write <path>: <reason>".
  explicit OutputFile(std::string path);
  ~OutputFile();  // removes the temporary file unless committed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const char* data, std::size_t n) override;
  // Closes the file (checking close's result) and renames it to path.
  void commit();

  const std::string& path() const { return path_; }
  std::uint64_t bytes_written() const { return bytes_written_; }

 private:
  [[noreturn]] void fail(int err);
  void discard();

  std::string path_;
  std::string target_path_;  // path_, or the file a symbolic link at path_ points to
  std::string temp_path_;
  bool in_place_ = false;    // path_ is a device, FIFO or terminal: written directly
  int fd_ = -1;
  int slot_ = -1;  // CleanupRegistry file slot
  bool done_ = false;
  std::uint64_t bytes_written_ = 0;
};

}  // namespace viztrace::report
