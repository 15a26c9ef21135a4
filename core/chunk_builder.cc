#include "core/chunk_builder.h"

#include <algorithm>
#include <cstring>

namespace viztrace {
namespace {
constexpr std::size_t kHeader = sizeof(vt_chunk_header);
constexpr std::size_t kRecord = sizeof(vt_record);
constexpr std::size_t pad8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }
}  // namespace

void ChunkBuilder::ensure_room(std::size_t bytes) {
  if (!current_.empty() && current_.size() + bytes > VT_CHUNK_MAX) close_chunk();
  if (current_.empty()) current_.resize(kHeader);
}

void ChunkBuilder::record(std::uint16_t type, std::uint32_t aux, std::uint64_t ts,
                          const void* payload, std::size_t length) {
  std::size_t size = pad8(kRecord + length);
  ensure_room(size);
  vt_record r{type, static_cast<std::uint16_t>(size), aux, ts};
  std::size_t at = current_.size();
  current_.resize(at + size);
  std::memcpy(current_.data() + at, &r, kRecord);
  if (length) std::memcpy(current_.data() + at + kRecord, payload, length);
  ++nrec_;
}

void ChunkBuilder::string(std::uint32_t field, std::string_view bytes, std::uint64_t ts) {
  constexpr std::size_t kMaxPiece = VT_CHUNK_MAX - kHeader - kRecord;
  do {
    ensure_room(kRecord + 8);
    std::size_t room = (VT_CHUNK_MAX - current_.size() - kRecord) & ~std::size_t{7};
    std::size_t piece = std::min({bytes.size(), room, kMaxPiece});
    bool final = piece == bytes.size();
    record(VT_REC_STRING, VT_STR_AUX(field, final, piece), ts, bytes.data(), piece);
    bytes.remove_prefix(piece);
    if (final) break;
  } while (true);
}

void ChunkBuilder::close_chunk() {
  if (current_.empty()) return;
  vt_chunk_header h{};
  h.magic = VT_WIRE_MAGIC;
  h.version = VT_WIRE_VERSION;
  h.kind = VT_KIND_RECORDS;
  h.length = static_cast<std::uint16_t>(current_.size());
  h.pid = pid_;
  h.tid = tid_;
  h.image = image_;
  h.seq = seq_;
  h.nrec = nrec_;
  h.flags = flags_ | (seq_ == 0 ? VT_CHUNK_STREAM_START : 0);
  h.dropped = dropped_;
  std::memcpy(current_.data(), &h, kHeader);
  done_.push_back(std::move(current_));
  current_.clear();
  nrec_ = 0;
  dropped_ = 0;
  ++seq_;
}

std::vector<ChunkBuilder::Chunk> ChunkBuilder::take() {
  close_chunk();
  if (end_ && !done_.empty()) {
    reinterpret_cast<vt_chunk_header*>(done_.back().data())->flags |= VT_CHUNK_STREAM_END;
    end_ = false;
  }
  std::vector<Chunk> out;
  out.swap(done_);
  return out;
}

}  // namespace viztrace
