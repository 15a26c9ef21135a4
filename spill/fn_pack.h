// Function records packed for the spill (VT_KIND_FUNCTIONS_PACKED chunks).
//
// A ring's records are 16 bytes each ({ts, addr}); in the spill they take ~3. Each record is a
// varint head, zigzag(ts - previous ts) << 2 | hit << 1 | exit, then either one byte, the slot
// of its address in a 64-slot table, or (a miss) the address in 8 little-endian bytes, which
// then goes into its slot. The table starts empty in every chunk and the first record's delta
// is from 0, so each chunk decodes on its own. The body is zero-padded to a multiple of 8.
//
// Why: the collector's cost was the kernel's copy of 16 bytes per record into the page cache
// (41% of its samples, ~1.3 GB/s here); when it fell behind, traced threads waited for room.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/wire.h"

namespace viztrace::spill {

class FnPacker {
 public:
  // The most a record can take: a 10-byte head and an 8-byte address.
  static constexpr std::size_t kMaxRecordBytes = 18;

  // Packs into out[0, capacity).
  FnPacker(unsigned char* out, std::size_t capacity) : out_(out), end_(out + capacity) {}

  // Adds a record; false when it might not fit (nothing is written then).
  bool add(const vt_fn_record& r) {
    if (static_cast<std::size_t>(end_ - at_) < kMaxRecordBytes) return false;
    const std::uint64_t ts = r.ts & ~VT_FN_EXIT;
    const std::uint64_t delta = ts - prev_;
    prev_ = ts;
    const std::uint64_t zz =
        (delta << 1) ^ static_cast<std::uint64_t>(static_cast<std::int64_t>(delta) >> 63);
    const unsigned slot = slot_of(r.addr);
    const bool hit = table_[slot] == r.addr;
    const unsigned flags = (hit ? 2u : 0u) | ((r.ts & VT_FN_EXIT) ? 1u : 0u);
    if (zz < (std::uint64_t{1} << 62)) {
      put_varint(zz << 2 | flags);
    } else {  // a step of more than 2^61 ticks: only from a broken clock, but kept exactly
      put_varint(static_cast<unsigned __int128>(zz) << 2 | flags);
    }
    if (hit) {
      *at_++ = static_cast<unsigned char>(slot);
    } else {
      for (int i = 0; i < 8; ++i) *at_++ = static_cast<unsigned char>(r.addr >> (8 * i));
      table_[slot] = r.addr;
    }
    ++count_;
    return true;
  }

  std::size_t records() const { return count_; }
  // Bytes written, zero-padded to a multiple of 8 (the padding must fit in capacity).
  std::size_t finish() {
    while ((at_ - out_) % 8 != 0) *at_++ = 0;
    return static_cast<std::size_t>(at_ - out_);
  }

  static unsigned slot_of(std::uint64_t addr) {
    return static_cast<unsigned>((addr >> 4) ^ (addr >> 10)) & 63u;
  }

 private:
  // 64-bit in the common case, 128-bit for the rare head wider than that.
  template <class Unsigned>
  void put_varint(Unsigned v) {
    while (v >= 0x80) {
      *at_++ = static_cast<unsigned char>(v | 0x80);
      v >>= 7;
    }
    *at_++ = static_cast<unsigned char>(v);
  }

  unsigned char* out_;
  unsigned char* at_ = out_;
  unsigned char* end_;
  std::uint64_t prev_ = 0;
  std::size_t count_ = 0;
  std::uint64_t table_[64] = {};
};

// Calls record(const vt_fn_record&) for each of the nrec records in body[0, length), in order.
// False when the body is malformed (too short, a bad slot, a head longer than 10 bytes): the
// records before the fault have been passed on.
template <class Record>
bool for_each_packed(const unsigned char* body, std::size_t length, std::size_t nrec,
                     Record&& record) {
  const unsigned char* p = body;
  const unsigned char* const end = body + length;
  std::uint64_t table[64] = {};
  std::uint64_t prev = 0;
  for (std::size_t i = 0; i < nrec; ++i) {
    // The head: one or two bytes nearly always; up to 10 (a 64-bit zigzag delta, two flags).
    std::uint64_t zz;
    unsigned flags;
    if (p < end && p[0] < 0x80) {
      zz = p[0] >> 2;
      flags = p[0] & 3u;
      p += 1;
    } else if (end - p >= 2 && p[1] < 0x80) {
      const std::uint64_t v = (p[0] & 0x7fu) | std::uint64_t{p[1]} << 7;
      zz = v >> 2;
      flags = static_cast<unsigned>(v & 3u);
      p += 2;
    } else {
      unsigned __int128 head = 0;
      for (int shift = 0;; shift += 7) {
        if (p == end || shift > 63) return false;
        const unsigned char b = *p++;
        head |= static_cast<unsigned __int128>(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
      }
      zz = static_cast<std::uint64_t>(head >> 2);
      flags = static_cast<unsigned>(head & 3u);
    }
    prev += (zz >> 1) ^ (0 - (zz & 1));
    vt_fn_record r;
    if (flags & 2u) {
      if (p == end || *p >= 64) return false;
      r.addr = table[*p++];
    } else {
      if (end - p < 8) return false;
      r.addr = 0;
      for (int k = 0; k < 8; ++k) r.addr |= std::uint64_t{p[k]} << (8 * k);
      p += 8;
      table[FnPacker::slot_of(r.addr)] = r.addr;
    }
    r.ts = (prev & ~VT_FN_EXIT) | ((flags & 1u) ? VT_FN_EXIT : 0);
    record(r);
  }
  return true;
}

// Unpacks nrec records from body[0, length) into out. False when the body is malformed; out is
// then partly written.
inline bool unpack_fn_records(const unsigned char* body, std::size_t length, std::size_t nrec,
                              vt_fn_record* out) {
  return for_each_packed(body, length, nrec, [&out](const vt_fn_record& r) { *out++ = r; });
}

}  // namespace viztrace::spill
