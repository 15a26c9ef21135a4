#include "report/model/record_decoder.h"

#include <algorithm>

namespace viztrace::report {

void RecordStrings::append(std::uint32_t field, bool final, std::string_view piece) {
  std::uint32_t bit = 1u << field;
  if (!(present_ & bit) || (final_ & bit))
    value_[field].assign(piece);
  else
    value_[field].append(piece);
  present_ |= bit;
  final_ = final ? (final_ | bit) : (final_ & ~bit);
}

RecordDecoder::Stream& RecordDecoder::stream_of(const vt_chunk_header& chunk) {
  StreamKey key{chunk.pid, chunk.tid, chunk.image};
  if (last_stream_ && key == last_key_) return *last_stream_;
  auto [it, inserted] = streams_.try_emplace(key);
  Stream& s = it->second;
  if (inserted) {
    s.info.collector = (chunk.flags & VT_CHUNK_COLLECTOR) != 0;
    s.next_seq = 0;  // chunks before the first one we see are missing
  }
  last_stream_ = &s;  // unordered_map never moves its elements
  last_key_ = key;
  return s;
}

void RecordDecoder::decode(const vt_chunk_header& chunk, RecordVisitor& visitor) {
  ++counts_.chunks;
  counts_.dropped_records += chunk.dropped;
  if (chunk.kind == VT_KIND_FUNCTIONS_PACKED) {
    ++counts_.function_chunks;
    counts_.function_records += chunk.nrec;
    return;
  }
  Stream& s = stream_of(chunk);
  // A chunk written re-entrantly (from a signal handler) is outside the stream's sequence and
  // carries its own strings: the interrupted code may have pieces of a string pending.
  const bool unsequenced = (chunk.flags & VT_CHUNK_UNSEQUENCED) != 0;
  RecordStrings& strings = unsequenced ? reentrant_strings_ : s.strings;
  if (unsequenced) {
    reentrant_strings_.clear();
  } else {
    if (chunk.flags & VT_CHUNK_STREAM_START) {
      s.strings.clear();
    } else if (chunk.seq != s.next_seq) {
      if (chunk.seq > s.next_seq) counts_.seq_gaps += chunk.seq - s.next_seq;
      s.strings.drop_unfinished();  // their missing pieces were in the lost chunks
    }
    s.next_seq = chunk.seq + 1;
  }

  const auto* p = reinterpret_cast<const unsigned char*>(&chunk) + sizeof(vt_chunk_header);
  std::size_t left = chunk.length - sizeof(vt_chunk_header);
  while (left > 0) {
    const auto* rec = reinterpret_cast<const vt_record*>(p);
    if (left < sizeof(vt_record) || rec->size < sizeof(vt_record) || rec->size % 8 != 0 ||
        rec->size > left) {
      ++counts_.damaged_chunks;
      counts_.damaged_bytes += left;
      return;
    }
    if (rec->type == VT_REC_STRING) {
      std::uint32_t len = VT_STR_LEN(rec->aux);
      if (len > rec->size - sizeof(vt_record)) {
        ++counts_.damaged_chunks;
        counts_.damaged_bytes += left;
        return;
      }
      std::uint32_t field = VT_STR_FIELD(rec->aux);
      if (field < RecordStrings::kFields)  // a field from a newer shim is skipped
        strings.append(field, VT_STR_IS_FINAL(rec->aux),
                       {reinterpret_cast<const char*>(p + sizeof(vt_record)), len});
    } else {
      if (rec->type != VT_REC_SAMPLE) ++counts_.events;  // samples are counted as samples
      visitor.record(chunk, *rec, strings);
      strings.clear();
    }
    ++counts_.records;
    ++s.info.records;
    s.info.first_ts = std::min(s.info.first_ts, rec->ts);
    s.info.last_ts = std::max(s.info.last_ts, rec->ts);
    p += rec->size;
    left -= rec->size;
  }
}

}  // namespace viztrace::report
