// UTF-8 validation shared by the JSON writer and the terminal summary: traced programs hand us
// arbitrary bytes (argv, paths, thread names), and both outputs must stay valid and readable.
#pragma once

#include <cstddef>

namespace viztrace::report {

// Length (1..4) of the well-formed UTF-8 sequence at p[0..n), or 0 when p[0] does not start one
// (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, or cut short).
inline std::size_t utf8_sequence_length(const unsigned char* p, std::size_t n) {
  unsigned char b = p[0];
  if (b < 0x80) return 1;
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    unsigned char lo = b == 0xe0 ? 0xa0 : 0x80;  // 0xe0 0x80..0x9f would be overlong
    unsigned char hi = b == 0xed ? 0x9f : 0xbf;  // 0xed 0xa0..0xbf are surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    unsigned char lo = b == 0xf0 ? 0x90 : 0x80;  // overlong below U+10000
    unsigned char hi = b == 0xf4 ? 0x8f : 0xbf;  // beyond U+10FFFF
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// Length of the printable character at p[0..n), or 0 for a byte a terminal must not be sent
// as it is: C0 and C1 control characters (terminals obey both), DEL, and invalid UTF-8.
inline std::size_t printable_length(const unsigned char* p, std::size_t n) {
  if (p[0] < 0x20 || p[0] == 0x7f) return 0;
  if (p[0] == 0xc2 && n > 1 && p[1] < 0xa0) return 0;  // U+0080..U+009F
  return utf8_sequence_length(p, n);
}

}  // namespace viztrace::report
