// A minimal protobuf wire-format encoder for the Perfetto writer: appends fields into one growing
// buffer, no protobuf runtime. A submessage reserves one length byte and moves its body only
// when it grows past 127 bytes, so small messages (nearly every trace event) cost no copy and
// the output keeps minimal varints. Strings go out as valid UTF-8: an invalid byte becomes the
// visible text \xNN, as in the JSON report.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "report/model/utf8.h"

namespace viztrace::report {

class ProtoEncoder {
 public:
  static constexpr int kMaxDepth = 16;

  explicit ProtoEncoder(std::size_t capacity = 1u << 20)
      : buffer_(new char[capacity]), capacity_(capacity) {}
  ProtoEncoder(const ProtoEncoder&) = delete;
  ProtoEncoder& operator=(const ProtoEncoder&) = delete;

  // Wire type 0: uint64, int64 (negative: ten bytes, as protobuf does), bool, enums.
  void varint_field(std::uint32_t field, std::uint64_t v) {
    ensure(20);
    put_varint(field << 3 | 0);
    put_varint(v);
  }
  void int_field(std::uint32_t field, std::int64_t v) {
    varint_field(field, static_cast<std::uint64_t>(v));
  }
  // Wire type 1.
  void fixed64_field(std::uint32_t field, std::uint64_t v) {
    ensure(16);
    put_varint(field << 3 | 1);
    std::memcpy(buffer_.get() + size_, &v, 8);  // little-endian host (x86-64, aarch64)
    size_ += 8;
  }
  void double_field(std::uint32_t field, double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    fixed64_field(field, bits);
  }
  // Wire type 2, bytes as they are.
  void bytes_field(std::uint32_t field, std::string_view bytes) {
    ensure(bytes.size() + 20);
    put_varint(field << 3 | 2);
    put_varint(bytes.size());
    std::memcpy(buffer_.get() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
  }
  // Wire type 2, a string field: valid UTF-8 out whatever comes in.
  void text_field(std::uint32_t field, std::string_view bytes) {
    std::size_t escaped = escaped_size(bytes);
    if (escaped == bytes.size()) return bytes_field(field, bytes);
    ensure(escaped + 20);
    put_varint(field << 3 | 2);
    put_varint(escaped);
    put_escaped(bytes);
  }

  // A submessage: fields written until end_nested() are its body.
  void begin_nested(std::uint32_t field) {
    if (depth_ == kMaxDepth) throw std::logic_error("ProtoEncoder: nesting too deep");
    ensure(12);
    put_varint(field << 3 | 2);
    open_[depth_++] = size_;
    buffer_[size_++] = 0;  // the length, if it fits in one byte
  }
  void end_nested() {
    std::size_t at = open_[--depth_];
    std::size_t len = size_ - at - 1;
    if (len < 0x80) {
      buffer_[at] = static_cast<char>(len);
      return;
    }
    std::size_t extra = varint_size(len) - 1;
    ensure(extra);
    std::memmove(buffer_.get() + at + 1 + extra, buffer_.get() + at + 1, len);
    std::size_t end = size_ + extra;
    size_ = at;
    put_varint(len);
    size_ = end;
  }

  const char* data() const { return buffer_.get(); }
  std::size_t size() const { return size_; }
  int depth() const { return depth_; }
  // Forgets the bytes (only between top-level messages).
  void clear() { size_ = 0; }

  static std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    while (v >= 0x80) v >>= 7, ++n;
    return n;
  }

 private:
  void ensure(std::size_t n) {
    if (capacity_ - size_ >= n) return;
    std::size_t capacity = capacity_ * 2 > size_ + n ? capacity_ * 2 : size_ + n;
    std::unique_ptr<char[]> bigger(new char[capacity]);
    std::memcpy(bigger.get(), buffer_.get(), size_);
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }
  void put_varint(std::uint64_t v) {
    char* p = buffer_.get() + size_;
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    size_ = static_cast<std::size_t>(p - buffer_.get());
  }

  // Size of bytes once invalid UTF-8 is escaped (4 bytes per invalid byte).
  static std::size_t escaped_size(std::string_view bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size(), i = 0, out = 0;
    while (i < n) {
      // Eight ASCII bytes at a time: most names and paths are plain ASCII.
      while (n - i >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8, out += 8;
      }
      if (i == n) break;
      std::size_t len = utf8_sequence_length(p + i, n - i);
      out += len ? len : 4;
      i += len ? len : 1;
    }
    return out;
  }
  void put_escaped(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    char* out = buffer_.get() + size_;
    for (std::size_t i = 0, n = bytes.size(); i < n;) {
      std::size_t len = utf8_sequence_length(p + i, n - i);
      if (len > 0) {
        std::memcpy(out, p + i, len);
        out += len, i += len;
      } else {
        *out++ = '\\', *out++ = 'x', *out++ = kHex[p[i] >> 4], *out++ = kHex[p[i] & 15];
        ++i;
      }
    }
    size_ = static_cast<std::size_t>(out - buffer_.get());
  }

  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  std::size_t open_[kMaxDepth];
  int depth_ = 0;
};

}  // namespace viztrace::report
