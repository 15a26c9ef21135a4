// Reads back the chunks of a spill in the order they were written, through one 1 MiB buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "common/wire.h"

namespace viztrace::spill {

class SpillReader {
 public:
  // dir holds spill-000000.vzs, spill-000001.vzs, ...
  explicit SpillReader(std::string dir) : dir_(std::move(dir)) {}

  // Calls fn for every chunk; `chunk` points at the header, followed by length-32 body bytes.
  // Throws viztrace::Error when the dir has no segment at all, a segment cannot be read, or a
  // segment was written in another wire version.
  // Damaged bytes (a torn tail after a crash) are skipped and counted.
  void for_each(const std::function<void(const vt_chunk_header& chunk)>& fn);

  std::uint32_t segments_read() const { return segments_read_; }
  std::uint64_t damaged_bytes() const { return damaged_bytes_; }
  std::uint64_t bytes_read() const { return bytes_read_; }

  // Whether dir looks like a spill (has a first segment).
  static bool is_spill_dir(const std::string& dir);

 private:
  std::string dir_;
  std::uint32_t segments_read_ = 0;
  std::uint64_t damaged_bytes_ = 0;
  std::uint64_t bytes_read_ = 0;
};

}  // namespace viztrace::spill
