// A streaming JSON writer for big reports: appends into one large buffer (std::to_chars, no
// iostreams, no allocation per value) and hands full buffers to a ByteSink. Commas are placed
// automatically; strings are arbitrary bytes and always come out as valid UTF-8 JSON.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "report/writers/byte_sink.h"

namespace viztrace::report {

// Writes v in decimal; returns the end. Needs 20 bytes. Inlined digit pairs: the report writes
// hundreds of millions of numbers, and this is ~2x faster here than an out-of-line to_chars.
inline char* write_decimal(char* out, std::uint64_t v) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  static constexpr std::uint64_t kPow10[] = {1ull,
                                             10ull,
                                             100ull,
                                             1000ull,
                                             10000ull,
                                             100000ull,
                                             1000000ull,
                                             10000000ull,
                                             100000000ull,
                                             1000000000ull,
                                             10000000000ull,
                                             100000000000ull,
                                             1000000000000ull,
                                             10000000000000ull,
                                             100000000000000ull,
                                             1000000000000000ull,
                                             10000000000000000ull,
                                             100000000000000000ull,
                                             1000000000000000000ull,
                                             10000000000000000000ull};
  int bits = 64 - __builtin_clzll(v | 1);
  int digits = (bits * 1233 >> 12) + 1;  // from log10(2^bits): exact or one too many
  if (digits > 1 && v < kPow10[digits - 1]) --digits;
  char* end = out + digits;
  char* p = end;
  while (v >= 100) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * v, 2);
  } else {
    *--p = static_cast<char>('0' + v);
  }
  return end;
}

// Writes v/1000 with exactly three decimals ("1234.567", "0.005"); returns the end. Needs 24
// bytes. Integer arithmetic only: 1234567 ns -> "1234.567" µs, never via a double.
inline char* write_fixed3(char* out, std::uint64_t v) {
  out = write_decimal(out, v / 1000);
  unsigned frac = static_cast<unsigned>(v % 1000);
  out[0] = '.';
  out[1] = static_cast<char>('0' + frac / 100);
  out[2] = static_cast<char>('0' + frac / 10 % 10);
  out[3] = static_cast<char>('0' + frac % 10);
  return out + 4;
}

class JsonWriter {
 public:
  static constexpr std::size_t kDefaultBufferBytes = 1u << 20;
  static constexpr int kMaxDepth = 63;

  explicit JsonWriter(ByteSink& sink, std::size_t buffer_bytes = kDefaultBufferBytes);
  JsonWriter(const JsonWriter&) = delete;

  // Strings escape <, >, & (as \u003c...) and U+2028/U+2029 too, so the JSON is safe inside an
  // HTML <script> element: no "</script" or "<!--" can form.
  void set_script_safe(bool on) { script_safe_ = on; }
  JsonWriter& operator=(const JsonWriter&) = delete;

  // new_line: start the object on a line of its own (one event per line keeps reports greppable).
  void begin_object(bool new_line = false) { open('{', new_line); }
  void end_object() { close('}'); }
  void begin_array() { open('[', false); }
  void end_array() { close(']'); }

  // key is a literal of ours (plain ASCII, nothing to escape).
  void key(std::string_view key) {
    separate();
    reserve(key.size() + 3);
    *pos_++ = '"';
    std::memcpy(pos_, key.data(), key.size());
    pos_ += key.size();
    *pos_++ = '"';
    *pos_++ = ':';
    after_key_ = true;
  }

  // A key from the data, escaped as string() does.
  void text_key(std::string_view bytes) {
    string(bytes);
    reserve(1);
    *pos_++ = ':';
    after_key_ = true;
  }

  void string(std::string_view bytes);
  // The shortest text that reads back as v; null for NaN and infinities (JSON has neither).
  void real(double v);
  void integer(std::int64_t v) {
    separate();
    reserve(24);
    if (v < 0) *pos_++ = '-';
    pos_ = write_decimal(pos_,
                         v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v));
  }
  void unsigned_integer(std::uint64_t v) {
    separate();
    reserve(24);
    pos_ = write_decimal(pos_, v);
  }
  // v/1000 with three decimals: nanoseconds as microseconds, microseconds as milliseconds.
  void fixed3(std::uint64_t v) {
    separate();
    reserve(24);
    pos_ = write_fixed3(pos_, v);
  }
  // One or more complete members rendered in advance (`"ph":"X","pid":12`), for what every
  // event of a thread repeats. The caller guarantees they are valid JSON.
  void raw_members(std::string_view members) {
    separate();
    reserve(members.size());
    std::memcpy(pos_, members.data(), members.size());
    pos_ += members.size();
  }
  // A complete value rendered in advance (an event object); the caller guarantees valid JSON.
  void raw_value(std::string_view value, bool new_line) {
    separate();
    reserve(value.size() + 1);
    if (new_line) *pos_++ = '\n';
    if (value.size() > static_cast<std::size_t>(end_ - pos_)) {  // larger than the buffer
      flush();
      sink_.write(value.data(), value.size());
      flushed_ += value.size();
      return;
    }
    std::memcpy(pos_, value.data(), value.size());
    pos_ += value.size();
  }
  // A value rendered in place, with no copy: the caller writes at most max_bytes at the
  // returned pointer and passes the end to end_raw(). Only for small values: max_bytes must
  // be at most raw_limit().
  char* begin_raw(std::size_t max_bytes, bool new_line) {
    separate();
    reserve(max_bytes + 1);
    if (new_line) *pos_++ = '\n';
    return pos_;
  }
  void end_raw(char* end) { pos_ = end; }
  std::size_t raw_limit() const { return capacity_ / 2; }
  void boolean(bool v) { literal(v ? "true" : "false"); }
  void null() { literal("null"); }

  // Shorthands for one member.
  void member(std::string_view k, std::string_view v) { key(k), string(v); }
  void member(std::string_view k, const char* v) { key(k), string(v); }
  void member(std::string_view k, std::int64_t v) { key(k), integer(v); }
  void member(std::string_view k, int v) { key(k), integer(v); }
  void member(std::string_view k, std::uint32_t v) { key(k), unsigned_integer(v); }
  void member(std::string_view k, std::uint64_t v) { key(k), unsigned_integer(v); }
  void member(std::string_view k, bool v) { key(k), boolean(v); }

  // A line break between tokens (whitespace: the document stays the same).
  void newline() {
    reserve(1);
    *pos_++ = '\n';
  }
  // Hands everything buffered to the sink.
  void flush();
  // Bytes produced so far (before any compression).
  std::uint64_t bytes() const { return flushed_ + static_cast<std::uint64_t>(pos_ - begin_); }

 private:
  void separate() {
    if (after_key_) {
      after_key_ = false;
    } else {
      std::uint64_t bit = std::uint64_t{1} << depth_;
      if (has_items_ & bit) {
        reserve(1);
        *pos_++ = ',';
      }
      has_items_ |= bit;
    }
  }
  void reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - pos_) < n) flush();
  }
  void open(char c, bool new_line);
  void close(char c);
  void literal(std::string_view text);
  void escape_piece(const unsigned char* p, std::size_t n);

  ByteSink& sink_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  char* begin_;
  char* pos_;
  char* end_;
  std::uint64_t flushed_ = 0;
  int depth_ = 0;
  std::uint64_t has_items_ = 0;  // bit d: the container at depth d already has an item
  bool after_key_ = false;
  bool script_safe_ = false;
};

}  // namespace viztrace::report
