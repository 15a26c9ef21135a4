// Encodes records into wire chunks on viztrace's side: the collector's own records and the test
// suite's synthetic traces. (The shim has its own allocation-free encoder.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/wire.h"

namespace viztrace {

class ChunkBuilder {
 public:
  using Chunk = std::vector<unsigned char>;

  ChunkBuilder(std::uint32_t pid, std::uint32_t tid, std::uint32_t image,
               std::uint8_t flags = 0)
      : pid_(pid), tid_(tid), image_(image), flags_(flags) {}

  // A string record, split into pieces when it does not fit one chunk.
  void string(std::uint32_t field, std::string_view bytes, std::uint64_t ts);
  void record(std::uint16_t type, std::uint32_t aux, std::uint64_t ts, const void* payload = nullptr,
              std::size_t length = 0);
  template <class T>
  void record(std::uint16_t type, std::uint32_t aux, std::uint64_t ts, const T& payload) {
    record(type, aux, ts, &payload, sizeof payload);
  }
  // Records dropped before the next chunk (goes into its header).
  void add_dropped(std::uint32_t n) { dropped_ += n; }
  // Marks the last chunk handed out by the next take() as the end of the stream.
  void end_stream() { end_ = true; }

  // The finished chunks, in order; sequence numbers continue across calls.
  std::vector<Chunk> take();

 private:
  void close_chunk();
  void ensure_room(std::size_t bytes);

  std::uint32_t pid_, tid_, image_;
  std::uint8_t flags_;
  std::uint32_t seq_ = 0;
  std::uint32_t dropped_ = 0;
  bool end_ = false;
  Chunk current_;
  std::uint16_t nrec_ = 0;
  std::vector<Chunk> done_;
};

}  // namespace viztrace
