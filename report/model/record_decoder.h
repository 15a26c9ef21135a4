// Walks the records of wire chunks (common/wire.h). String records are reassembled per stream
// (pid, tid, image) and handed, with the next non-string record of that stream, to a visitor.
// Malformed records end their chunk and are counted; sequence numbers are checked per stream
// (chunks marked VT_CHUNK_UNSEQUENCED are outside the sequence and keep their strings apart).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/wire.h"

namespace viztrace::report {

// The strings that preceded a record in its stream, by VT_STR_* field.
class RecordStrings {
 public:
  static constexpr std::uint32_t kFields = 16;  // VT_STR_* values are below this

  bool has(std::uint32_t field) const { return field < kFields && (present_ >> field & 1u); }
  std::string_view get(std::uint32_t field) const {
    return has(field) ? std::string_view(value_[field]) : std::string_view();
  }

 private:
  friend class RecordDecoder;
  void append(std::uint32_t field, bool final, std::string_view piece);
  void clear() { present_ = 0; }
  void drop_unfinished() { present_ &= final_; }

  std::array<std::string, kFields> value_;
  std::uint32_t present_ = 0;  // bit per field
  std::uint32_t final_ = 0;    // bit per field: its last piece was final, a new piece starts over
};

class RecordVisitor {
 public:
  // record points into the chunk: its payload is the record.size - 16 bytes after it.
  virtual void record(const vt_chunk_header& chunk, const vt_record& record,
                      const RecordStrings& strings) = 0;

 protected:
  ~RecordVisitor() = default;
};

// Copies a record's payload into out; false when the record is too short to hold one.
template <class T>
bool record_payload(const vt_record& record, T& out) {
  if (record.size < sizeof(vt_record) + sizeof(T)) return false;
  std::memcpy(&out, reinterpret_cast<const unsigned char*>(&record) + sizeof(vt_record), sizeof(T));
  return true;
}

struct StreamKey {
  std::uint32_t pid, tid, image;
  bool operator==(const StreamKey&) const = default;
};

struct StreamKeyHash {
  std::size_t operator()(const StreamKey& k) const {
    std::uint64_t h = (std::uint64_t{k.pid} << 32 | k.tid) * 0x9e3779b97f4a7c15ull;
    return static_cast<std::size_t>(h ^ (h >> 29) ^
                                    (std::uint64_t{k.image} * 0xbf58476d1ce4e5b9ull));
  }
};

// What is known about one stream once the spill has been read.
struct StreamInfo {
  bool collector = false;  // written by viztrace itself
  std::uint64_t first_ts = UINT64_MAX;
  std::uint64_t last_ts = 0;
  std::uint64_t records = 0;
};

struct DecodeCounts {
  std::uint64_t chunks = 0;
  std::uint64_t function_chunks = 0;  // VT_KIND_FUNCTIONS_PACKED: left to the function pass
  std::uint64_t function_records = 0;
  std::uint64_t records = 0;          // well-formed records, strings included
  std::uint64_t events = 0;           // well-formed non-string records
  std::uint64_t damaged_chunks = 0;   // chunks cut short by a malformed record
  std::uint64_t damaged_bytes = 0;    // the bytes skipped there
  std::uint64_t dropped_records = 0;  // sum of the chunks' dropped counts
  std::uint64_t seq_gaps = 0;         // chunks missing according to sequence numbers
};

class RecordDecoder {
 public:
  // chunk is followed by chunk.length - 32 body bytes (a chunk the spill reader validated).
  void decode(const vt_chunk_header& chunk, RecordVisitor& visitor);

  const DecodeCounts& counts() const { return counts_; }
  template <class Fn>  // fn(const StreamKey&, const StreamInfo&)
  void for_each_stream(Fn&& fn) const {
    for (const auto& [key, stream] : streams_) fn(key, stream.info);
  }

 private:
  struct Stream {
    StreamInfo info;
    RecordStrings strings;
    std::uint32_t next_seq = 0;
  };
  Stream& stream_of(const vt_chunk_header& chunk);

  std::unordered_map<StreamKey, Stream, StreamKeyHash> streams_;
  RecordStrings reentrant_strings_;  // for VT_CHUNK_UNSEQUENCED chunks
  Stream* last_stream_ = nullptr;    // chunks of one stream often come in a row
  StreamKey last_key_{};
  DecodeCounts counts_;
};

}  // namespace viztrace::report
