// Integers as decimal text, for the paths the shim builds (/proc/self/fd/<fd>, fn-<pid>-<tid>-...):
// no libc formatting, which may take locks or allocate, and nothing of libstdc++.
#pragma once

#include <stddef.h>

namespace vt_shim {

// Writes v in decimal at out, then a NUL; returns the digits written (1 to 20). out needs room
// for 21 bytes.
__attribute__((no_instrument_function)) inline size_t put_decimal(char* out, unsigned long v) {
  char digits[20];
  size_t n = 0;
  do digits[n++] = static_cast<char>('0' + v % 10);
  while ((v /= 10) != 0);
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
  return n;
}

}  // namespace vt_shim
