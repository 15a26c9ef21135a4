#include "report/writers/json_writer.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "report/model/utf8.h"

namespace viztrace::report {
namespace {

// Bytes that go out as they are: printable ASCII except the two JSON must escape.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// The same, in script-safe mode: without <, > and &.
constexpr std::array<bool, 256> kPlainInScript = [] {
  std::array<bool, 256> t = kPlain;
  t['<'] = t['>'] = t['&'] = false;
  return t;
}();

constexpr char kHex[] = "0123456789abcdef";

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;

// Whether any of the 8 bytes in w is not plain: < 0x20, 0x7f and above, '"' or '\\'. (Bit
// tricks from "Bit Twiddling Hacks": a byte equal to b makes (x ^ b) have a zero byte.)
inline bool needs_care(std::uint64_t w) {
  auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHighs; };
  std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
  return ((w | below_space) & kHighs) || has_zero(w ^ (kOnes * '"')) ||
         has_zero(w ^ (kOnes * '\\')) || has_zero(w ^ (kOnes * 0x7f));
}
inline bool needs_care_in_script(std::uint64_t w) {
  auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHighs; };
  return needs_care(w) || has_zero(w ^ (kOnes * '<')) || has_zero(w ^ (kOnes * '>')) ||
         has_zero(w ^ (kOnes * '&'));
}
constexpr std::size_t kWorstExpansion = 6;  // a control byte becomes \u00XX

}  // namespace

JsonWriter::JsonWriter(ByteSink& sink, std::size_t buffer_bytes)
    : sink_(sink),
      capacity_(std::max<std::size_t>(buffer_bytes, 4096)),
      buffer_(std::make_unique_for_overwrite<char[]>(capacity_)),
      begin_(buffer_.get()),
      pos_(begin_),
      end_(begin_ + capacity_) {}

void JsonWriter::flush() {
  if (pos_ == begin_) return;
  std::size_t n = static_cast<std::size_t>(pos_ - begin_);
  pos_ = begin_;  // before write(): a throwing sink must not see these bytes again
  sink_.write(begin_, n);
  flushed_ += n;
}

void JsonWriter::open(char c, bool new_line) {
  separate();
  if (depth_ >= kMaxDepth) throw std::logic_error("JsonWriter: nesting too deep");
  reserve(2);
  if (new_line) *pos_++ = '\n';
  *pos_++ = c;
  ++depth_;
  has_items_ &= ~(std::uint64_t{1} << depth_);
}

void JsonWriter::close(char c) {
  --depth_;
  reserve(1);
  *pos_++ = c;
}

void JsonWriter::literal(std::string_view text) {
  separate();
  reserve(text.size());
  std::memcpy(pos_, text.data(), text.size());
  pos_ += text.size();
}

void JsonWriter::real(double v) {
  if (!std::isfinite(v)) return literal("null");
  separate();
  reserve(32);
  pos_ = std::to_chars(pos_, pos_ + 32, v).ptr;
}

void JsonWriter::string(std::string_view bytes) {
  separate();
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  if (n * kWorstExpansion + 2 <= static_cast<std::size_t>(end_ - pos_)) {  // the usual case
    *pos_++ = '"';
    escape_piece(p, n);
    *pos_++ = '"';
    return;
  }
  reserve(1);
  *pos_++ = '"';
  // Escape in pieces that fit the buffer even at the worst expansion.
  std::size_t piece_max = static_cast<std::size_t>(end_ - begin_) / kWorstExpansion - 8;
  while (n > 0) {
    std::size_t piece = std::min(n, piece_max);
    if (piece < n) {  // cut before a sequence's lead byte, so a valid character stays whole
      std::size_t cut = piece;
      for (int k = 0; k < 3 && cut > 0 && (p[cut] & 0xc0) == 0x80; ++k) --cut;
      if (cut > 0 && (p[cut] & 0xc0) != 0x80) piece = cut;
    }
    reserve(piece * kWorstExpansion);
    escape_piece(p, piece);
    p += piece;
    n -= piece;
  }
  reserve(1);
  *pos_++ = '"';
}

void JsonWriter::escape_piece(const unsigned char* p, std::size_t n) {
  char* out = pos_;
  std::size_t i = 0;
  while (i < n) {
    // Eight plain bytes at a time: most names and paths are plain ASCII.
    while (n - i >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (!(script_safe_ ? needs_care_in_script(w) : needs_care(w))) {
        std::memcpy(out, &w, 8);
        out += 8;
        i += 8;
      } else {
        break;
      }
    }
    if (i == n) break;
    unsigned char c = p[i];
    if ((script_safe_ ? kPlainInScript : kPlain)[c]) {
      *out++ = static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      std::size_t len = utf8_sequence_length(p + i, n - i);
      if (script_safe_ && len == 3 && c == 0xe2 && p[i + 1] == 0x80 &&
          (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {  // line breaks to old JavaScript parsers
        std::memcpy(out, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
        out += 6;
        i += 3;
      } else if (len > 0) {
        std::memcpy(out, p + i, len);
        out += len;
        i += len;
      } else {  // an invalid byte, shown visibly as the text \xNN
        std::memcpy(out, "\\\\x", 3);
        out[3] = kHex[c >> 4];
        out[4] = kHex[c & 15];
        out += 5;
        ++i;
      }
      continue;
    }
    *out++ = '\\';
    switch (c) {
      case '"':
        *out++ = '"';
        break;
      case '\\':
        *out++ = '\\';
        break;
      case '\n':
        *out++ = 'n';
        break;
      case '\t':
        *out++ = 't';
        break;
      case '\r':
        *out++ = 'r';
        break;
      case '\b':
        *out++ = 'b';
        break;
      case '\f':
        *out++ = 'f';
        break;
      default:  // other control characters and DEL
        std::memcpy(out, "u00", 3);
        out[3] = kHex[c >> 4];
        out[4] = kHex[c & 15];
        out += 5;
    }
    ++i;
  }
  pos_ = out;
}

}  // namespace viztrace::report
