// Appends chunks to numbered segment files in the session dir, so the collector's memory stays
// flat however long the run. A failed write (full disk, RLIMIT_FSIZE) loses the chunks it held,
// counts them, and writing goes on: the collector must keep draining the FIFO regardless.
//
// A full filesystem costs function calls before it costs processes: the writer holds a reserve
// of disk space (an unnamed file with blocks allocated, freed by the kernel however viztrace
// ends). At the first ENOSPC the reserve becomes the next segment, and from then on function
// chunks, the bulk of any trace, are dropped and counted, so that the lifecycle records
// (processes, their argv and status, viztrace's own records) fit in the blocks kept for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "spill/session_dir.h"
#include "spill/spill_format.h"

namespace viztrace::spill {

class SpillWriter {
 public:
  static constexpr std::size_t kDefaultSegmentBytes = 64u << 20;

  explicit SpillWriter(SessionDir& dir, std::size_t segment_bytes = kDefaultSegmentBytes);
  // Segments numbered from first_segment on (adding to a spill that has that many already).
  SpillWriter(SegmentDir& dir, std::uint32_t first_segment,
              std::size_t segment_bytes = kDefaultSegmentBytes);
  ~SpillWriter();
  SpillWriter(const SpillWriter&) = delete;
  SpillWriter& operator=(const SpillWriter&) = delete;

  // Appends one whole chunk (already validated).
  void append(const void* chunk, std::size_t length);
  // Appends one whole chunk given in pieces (a header, then the records from both ends of a
  // ring), copied once.
  struct Piece {
    const void* data;
    std::size_t length;
  };
  void append(std::initializer_list<Piece> chunk);
  // Writes out what is buffered. Returns false if anything was lost since the last call.
  bool flush();

  std::uint32_t segments() const { return segments_; }
  std::uint64_t lost_chunks() const { return lost_chunks_; }
  // Whether the filesystem ran full and function chunks are being dropped.
  bool scarce() const { return scarce_; }
  std::uint64_t bytes_written() const { return bytes_written_; }
  // errno of the last failure, 0 if none.
  int last_error() const { return last_error_; }

 private:
  bool open_segment();
  bool claim_segment(char (&name)[kSegmentNameMax]);
  void unclaim_segment();
  bool begin_segment(int fd);
  bool write_buffer();
  bool write_once(int& err);
  void hold_reserve();
  // Gives the reserve back and keeps only the lifecycle chunks of the buffer.
  void become_scarce();

  SegmentDir& dir_;
  std::size_t segment_bytes_;
  int fd_ = -1;
  std::uint32_t segments_ = 0;
  std::uint64_t segment_size_ = 0;
  std::vector<unsigned char> buffer_;
  std::size_t buffered_chunks_ = 0;
  struct Buffered {
    std::size_t offset;
    std::size_t length;
    bool bulk;  // function calls
  };
  std::vector<Buffered> chunks_;  // what buffer_ holds
  int reserve_fd_ = -1;
  bool scarce_ = false;
  std::uint64_t lost_chunks_ = 0;
  std::uint64_t bytes_written_ = 0;
  int last_error_ = 0;
  bool lost_since_flush_ = false;
};

}  // namespace viztrace::spill
