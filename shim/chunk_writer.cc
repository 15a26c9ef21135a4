#include "shim/chunk_writer.h"

#include <string.h>

namespace vt_shim {
namespace {
constexpr size_t kHeader = sizeof(vt_chunk_header);
constexpr size_t kRecord = sizeof(vt_record);
constexpr size_t pad8(size_t n) { return (n + 7) & ~size_t{7}; }
}  // namespace

void ChunkWriter::flush() noexcept {
  if (piece_at_) piece_close(false);
  if (nrec_ == 0 || !stream_) {
    length_ = kHeader;
    nrec_ = 0;
    return;
  }
  vt_chunk_header h;
  memset(&h, 0, sizeof h);
  h.magic = VT_WIRE_MAGIC;
  h.version = VT_WIRE_VERSION;
  h.kind = VT_KIND_RECORDS;
  h.length = static_cast<uint16_t>(length_);
  h.pid = stream_->pid;
  h.tid = stream_->tid;
  h.image = stream_->image;
  h.seq = unsequenced_ ? 0 : stream_->seq;
  h.nrec = nrec_;
  h.dropped = stream_->dropped;
  uint8_t flags = 0;
  if (unsequenced_) flags |= VT_CHUNK_UNSEQUENCED;
  else if (stream_->seq == 0) flags |= VT_CHUNK_STREAM_START;
  if (end_) flags |= VT_CHUNK_STREAM_END;
  h.flags = flags;
  memcpy(buf_, &h, sizeof h);
  if (sink_(buf_, length_, context_)) {
    stream_->dropped = 0;
    if (!unsequenced_) ++stream_->seq;  // a lost chunk is counted as dropped, not as a gap
  } else {
    stream_->dropped += nrec_;
  }
  length_ = kHeader;
  nrec_ = 0;
}

void ChunkWriter::ensure(size_t bytes) noexcept {
  if (!room(bytes)) flush();
}

void ChunkWriter::record(uint16_t type, uint32_t aux, uint64_t ts, const void* payload,
                         size_t length) noexcept {
  if (piece_at_) piece_close(false);
  size_t size = pad8(kRecord + length);
  if (size > cap_ - kHeader) return;
  ensure(size);
  vt_record r;
  r.type = type;
  r.size = static_cast<uint16_t>(size);
  r.aux = aux;
  r.ts = ts;
  memcpy(buf_ + length_, &r, kRecord);
  if (length) memcpy(buf_ + length_ + kRecord, payload, length);
  memset(buf_ + length_ + kRecord + length, 0, size - kRecord - length);
  length_ += size;
  ++nrec_;
}

void ChunkWriter::piece_open(uint32_t field, uint64_t ts) noexcept {
  ensure(kRecord + 8);
  piece_at_ = length_;
  piece_field_ = field;
  piece_ts_ = ts;
  length_ += kRecord;
}

void ChunkWriter::piece_append(const char* bytes, size_t length) noexcept {
  while (length > 0) {
    if (!piece_at_) piece_open(piece_field_, piece_ts_);
    // Leave room for padding: the piece's record must stay within the chunk once padded.
    size_t space = (cap_ - length_) & ~size_t{7};
    if (space == 0) {
      uint32_t field = piece_field_;
      uint64_t ts = piece_ts_;
      piece_close(false);
      flush();
      piece_open(field, ts);
      continue;
    }
    size_t n = length < space ? length : space;
    memcpy(buf_ + length_, bytes, n);
    length_ += n;
    bytes += n;
    length -= n;
  }
}

void ChunkWriter::piece_close(bool final) noexcept {
  size_t data = length_ - piece_at_ - kRecord;
  size_t padded = pad8(data);
  memset(buf_ + length_, 0, padded - data);
  length_ = piece_at_ + kRecord + padded;
  vt_record r;
  r.type = VT_REC_STRING;
  r.size = static_cast<uint16_t>(kRecord + padded);
  r.aux = VT_STR_AUX(piece_field_, final, data);
  r.ts = piece_ts_;
  memcpy(buf_ + piece_at_, &r, kRecord);
  piece_at_ = 0;
  ++nrec_;
}

void ChunkWriter::string(uint32_t field, const char* bytes, size_t length, uint64_t ts) noexcept {
  if (piece_at_) piece_close(false);
  piece_field_ = field;
  piece_ts_ = ts;
  piece_open(field, ts);
  piece_append(bytes, length);
  if (!piece_at_) piece_open(field, ts);
  piece_close(true);
}

void ChunkWriter::string_list(uint32_t field, const char* const* list, uint64_t ts,
                              size_t max_bytes) noexcept {
  if (piece_at_) piece_close(false);
  piece_field_ = field;
  piece_ts_ = ts;
  piece_open(field, ts);
  size_t total = 0;
  for (; list && *list; ++list) {
    size_t n = strlen(*list) + 1;
    if (total + n > max_bytes) break;
    piece_append(*list, n);
    total += n;
  }
  if (!piece_at_) piece_open(field, ts);
  piece_close(true);
  if (field != VT_STR_ARGV || !list || !*list) return;
  vt_argv_cut cut = {0, 0};
  for (; *list; ++list) {
    ++cut.arguments;
    cut.bytes += strlen(*list) + 1;
  }
  string(VT_STR_ARGV_CUT, reinterpret_cast<const char*>(&cut), sizeof cut, ts);
}

void ChunkWriter::string_words(uint32_t field, const char* text, uint64_t ts,
                               size_t max_bytes) noexcept {
  if (piece_at_) piece_close(false);
  piece_field_ = field;
  piece_ts_ = ts;
  piece_open(field, ts);
  size_t total = 0;
  const char* p = text;
  while (p && *p) {
    while (*p == ' ') ++p;
    const char* word = p;
    while (*p && *p != ' ') ++p;
    size_t n = static_cast<size_t>(p - word);
    if (n == 0) break;
    if (total + n + 1 > max_bytes) break;
    piece_append(word, n);
    piece_append("", 1);
    total += n + 1;
  }
  if (!piece_at_) piece_open(field, ts);
  piece_close(true);
}

}  // namespace vt_shim
