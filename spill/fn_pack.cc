#include "spill/fn_pack.h"

namespace viztrace::spill {

bool unpack_fn_records(const unsigned char* body, std::size_t length, std::size_t nrec,
                       vt_fn_record* out) {
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
    const std::uint64_t delta = (zz >> 1) ^ (0 - (zz & 1));
    prev += delta;
    std::uint64_t addr;
    if (flags & 2u) {
      if (p == end || *p >= 64) return false;
      addr = table[*p++];
    } else {
      if (end - p < 8) return false;
      addr = 0;
      for (int k = 0; k < 8; ++k) addr |= std::uint64_t{p[k]} << (8 * k);
      p += 8;
      table[FnPacker::slot_of(addr)] = addr;
    }
    out[i].ts = (prev & ~VT_FN_EXIT) | ((flags & 1u) ? VT_FN_EXIT : 0);
    out[i].addr = addr;
  }
  return true;
}

}  // namespace viztrace::spill
