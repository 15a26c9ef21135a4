// Allocation-free encoder of wire chunks, over a buffer on the caller's stack.
//
// A Stream is one writer's (pid, tid, image) sequence. ChunkWriter fills one chunk at a time
// and hands each full chunk to the sink as a single write, so every chunk lands atomically.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

namespace vt_shim {

struct Stream {
  uint32_t pid;
  uint32_t tid;
  uint32_t image;
  uint32_t seq;      // next chunk's sequence number
  uint32_t dropped;  // records lost since the last chunk that got through
};

// Where finished chunks go. Returns false when the chunk was not delivered.
typedef bool (*ChunkSink)(const void* chunk, size_t length, void* context);

// Capacity is the largest chunk it builds (at most VT_CHUNK_MAX, a multiple of 8). Lifecycle
// records use a small one: every stack page a new process touches costs a page fault.
class ChunkWriter {
 public:
  ChunkWriter(unsigned char* buffer, size_t capacity) noexcept : buf_(buffer), cap_(capacity) {}
  ChunkWriter(unsigned char* buffer, size_t capacity, Stream& stream, ChunkSink sink,
              void* context, bool unsequenced) noexcept
      : buf_(buffer), cap_(capacity) {
    start(stream, sink, context, unsequenced);
  }
  ~ChunkWriter() { flush(); }
  // Targets a stream; what follows goes to sink. unsequenced: see VT_CHUNK_UNSEQUENCED.
  void start(Stream& stream, ChunkSink sink, void* context, bool unsequenced) noexcept {
    stream_ = &stream;
    sink_ = sink;
    context_ = context;
    unsequenced_ = unsequenced;
  }
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  void record(uint16_t type, uint32_t aux, uint64_t ts, const void* payload = nullptr,
              size_t length = 0) noexcept;
  // A string record (split into pieces across chunks when long).
  void string(uint32_t field, const char* bytes, size_t length, uint64_t ts) noexcept;
  // argv-style: every element followed by its NUL, at most max_bytes in all. An ARGV cut short
  // is followed by a VT_STR_ARGV_CUT string that says what it left out.
  void string_list(uint32_t field, const char* const* list, uint64_t ts,
                   size_t max_bytes = 1u << 20) noexcept;
  // Space-separated words (as in "a=1 b=2") written argv-style: each word followed by its
  // NUL. Words that would take the string past max_bytes are left out.
  void string_words(uint32_t field, const char* text, uint64_t ts,
                    size_t max_bytes = 1u << 20) noexcept;
  // Marks the next chunk written as the last of its stream.
  void end_stream() noexcept { end_ = true; }
  // Sends what is pending.
  void flush() noexcept;

 private:
  bool room(size_t bytes) const noexcept { return length_ + bytes <= cap_; }
  void ensure(size_t bytes) noexcept;
  // String pieces are written incrementally; these open, extend and close one.
  void piece_open(uint32_t field, uint64_t ts) noexcept;
  void piece_append(const char* bytes, size_t length) noexcept;
  void piece_close(bool final) noexcept;

  Stream* stream_ = nullptr;
  ChunkSink sink_ = nullptr;
  void* context_ = nullptr;
  bool unsequenced_ = false;
  bool end_ = false;
  size_t length_ = sizeof(vt_chunk_header);
  uint16_t nrec_ = 0;
  // The open string piece: offset of its record header, field and ts (0 when none is open).
  size_t piece_at_ = 0;
  uint32_t piece_field_ = 0;
  uint64_t piece_ts_ = 0;
  unsigned char* buf_;
  size_t cap_;
};

// A ChunkWriter with its buffer inside.
template <size_t Capacity>
class ChunkWriterN : public ChunkWriter {
  static_assert(Capacity <= VT_CHUNK_MAX && Capacity % 8 == 0 && Capacity >= 256, "capacity");

 public:
  ChunkWriterN() noexcept : ChunkWriter(storage_, Capacity) {}
  ChunkWriterN(Stream& stream, ChunkSink sink, void* context, bool unsequenced) noexcept
      : ChunkWriter(storage_, Capacity, stream, sink, context, unsequenced) {}
  ~ChunkWriterN() { flush(); }  // while storage_ is still ours

 private:
  alignas(8) unsigned char storage_[Capacity];
};

}  // namespace vt_shim
