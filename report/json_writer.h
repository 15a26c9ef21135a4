// A streaming JSON writer for big reports: appends into one large buffer (std::to_chars, no
// iostreams, no allocation per value) and hands full buffers to a ByteSink. Commas are placed
// automatically; strings are arbitrary bytes and always come out as valid UTF-8 JSON.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "report/byte_sink.h"

namespace viztrace::report {

// Writes v/1000 with exactly three decimals ("1234.567", "0.005"); returns the end. Needs 24
// bytes. Integer arithmetic only: 1234567 ns -> "1234.567" µs, never via a double.
inline char* write_fixed3(char* out, std::uint64_t v) {
  out = std::to_chars(out, out + 20, v / 1000).ptr;
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
  JsonWriter& operator=(const JsonWriter&) = delete;

  // new_line: start the object on a line of its own (one event per line keeps reports greppable).
  void begin_object(bool new_line = false) {
    open('{', new_line);
  }
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

  void string(std::string_view bytes);
  void integer(std::int64_t v) {
    separate();
    reserve(24);
    pos_ = std::to_chars(pos_, pos_ + 24, v).ptr;
  }
  void unsigned_integer(std::uint64_t v) {
    separate();
    reserve(24);
    pos_ = std::to_chars(pos_, pos_ + 24, v).ptr;
  }
  // v/1000 with three decimals: nanoseconds as microseconds, microseconds as milliseconds.
  void fixed3(std::uint64_t v) {
    separate();
    reserve(24);
    pos_ = write_fixed3(pos_, v);
  }
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
  std::unique_ptr<char[]> buffer_;
  char* begin_;
  char* pos_;
  char* end_;
  std::uint64_t flushed_ = 0;
  int depth_ = 0;
  std::uint64_t has_items_ = 0;  // bit d: the container at depth d already has an item
  bool after_key_ = false;
};

}  // namespace viztrace::report
