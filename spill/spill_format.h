// On-disk layout of the spill: numbered segment files in the session dir, each a small header
// followed by whole wire chunks (common/wire.h) exactly as they arrived, in arrival order.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace viztrace::spill {

inline constexpr char kSegmentMagic[8] = {'V', 'Z', 'S', 'P', 'I', 'L', 'L', '1'};
inline constexpr std::uint32_t kMaxSegments = 100000;
inline constexpr std::size_t kSegmentNameMax = 32;

struct SegmentHeader {
  char magic[8];
  std::uint32_t wire_version;
  std::uint32_t reserved;
};
static_assert(sizeof(SegmentHeader) == 16);

// "spill-000042.vzs"; async-signal-safe (no allocation), so cleanup handlers can use it.
inline void segment_name(std::uint32_t index, char (&out)[kSegmentNameMax]) {
  char digits[7] = "000000";
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + index % 10);
    index /= 10;
  }
  const char* parts[] = {"spill-", digits, ".vzs"};
  std::size_t n = 0;
  for (const char* p : parts)
    for (; *p; ++p) out[n++] = *p;
  out[n] = '\0';
}

inline std::string segment_name(std::uint32_t index) {
  char buf[kSegmentNameMax];
  segment_name(index, buf);
  return buf;
}

}  // namespace viztrace::spill

#include "common/wire.h"

namespace viztrace::spill {

// Whether a chunk header is well-formed (its body may not have arrived yet).
inline bool valid_chunk_header(const vt_chunk_header& h) {
  return h.magic == VT_WIRE_MAGIC && h.version == VT_WIRE_VERSION &&
         (h.kind == VT_KIND_RECORDS || h.kind == VT_KIND_FUNCTIONS_PACKED) &&
         h.length >= sizeof(vt_chunk_header) && h.length <= VT_CHUNK_MAX && h.length % 8 == 0 &&
         h.pid != 0;
}

// Whether the bytes at p hold a whole well-formed chunk within `available` bytes: a valid
// header whose records (headers only) exactly fill it.
inline bool valid_chunk(const void* p, std::size_t available) {
  if (available < sizeof(vt_chunk_header)) return false;
  vt_chunk_header h;
  std::memcpy(&h, p, sizeof h);
  if (!valid_chunk_header(h) || h.length > available) return false;
  if (h.kind == VT_KIND_FUNCTIONS_PACKED)  // 2 to 18 bytes a record, then padding
    return h.length - sizeof h >= 2 * std::size_t{h.nrec} &&
           h.length - sizeof h <= 18 * std::size_t{h.nrec} + 7;
  const auto* bytes = static_cast<const unsigned char*>(p);
  std::size_t off = sizeof h, n = 0;
  while (off < h.length) {
    if (h.length - off < sizeof(vt_record)) return false;
    vt_record r;
    std::memcpy(&r, bytes + off, sizeof r);
    if (r.size < sizeof(vt_record) || r.size % 8 != 0 || r.size > h.length - off) return false;
    off += r.size;
    ++n;
  }
  return n == h.nrec;
}

}  // namespace viztrace::spill
