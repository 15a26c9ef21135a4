#include "report/readers/trace_scanner.h"

#include <array>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace viztrace::report {
namespace {

bool is_space(unsigned char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// Bytes that may stand outside strings inside a value: whitespace, structure, numbers and the
// letters of true/false/null. Anything else there is garbage, reported where it is.
constexpr std::array<bool, 256> kValueByte = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view(" \n\r\t{}[],:0123456789+-.eEtrufalsn")) t[c] = true;
  return t;
}();

bool is_scalar_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '+' || c == '.';
}

bool is_escape(unsigned char c) {
  return c != 0 &&
         std::string_view("\"\\/bfnrtu").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// JSON's number grammar, or one of the three literals.
bool valid_scalar(std::string_view s) {
  if (s == "true" || s == "false" || s == "null") return true;
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// Index of the first '"', '\\' or control byte in p[i, n), or n: the end of a string's plain
// run. Sixteen bytes at a time where SSE2 is there (every x86-64): most of a trace is strings.
std::size_t string_run_end(const char* p, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1f);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v));  // unsigned v <= 0x1f
    int mask = _mm_movemask_epi8(special);
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c == '"' || c == '\\' || c < 0x20) break;
  }
  return i;
}

// Bit masks of one 64-byte block (bit k: byte k), for the fast path through traceEvents.
struct BlockMasks {
  std::uint64_t quote = 0, backslash = 0, control = 0;
  std::uint64_t bracket = 0;  // '{' '}' '[' ']', plus 'Y' '_' 'y' DEL (see below)
};

BlockMasks block_masks(const char* p) {
  BlockMasks m;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1f);
  // '[' 0x5b, ']' 0x5d, '{' 0x7b, '}' 0x7d: without bits 0x26 all four are 0x59. So are 'Y',
  // '_', 'y' and DEL, which cannot stand outside a string: the caller checks the byte.
  const __m128i fold = _mm_set1_epi8(static_cast<char>(0xd9));
  const __m128i bracket = _mm_set1_epi8(0x59);
  for (int k = 0; k < 4; ++k) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    auto bits = [&](__m128i hit) {
      return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(hit))) << (16 * k);
    };
    m.quote |= bits(_mm_cmpeq_epi8(v, quote));
    m.backslash |= bits(_mm_cmpeq_epi8(v, backslash));
    m.control |= bits(_mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v));  // unsigned v <= 0x1f
    m.bracket |= bits(_mm_cmpeq_epi8(_mm_and_si128(v, fold), bracket));
  }
#else
  for (int k = 0; k < 64; ++k) {
    const auto c = static_cast<unsigned char>(p[k]);
    const std::uint64_t bit = std::uint64_t{1} << k;
    if (c == '"') m.quote |= bit;
    if (c == '\\') m.backslash |= bit;
    if (c < 0x20) m.control |= bit;
    if ((c & 0xd9) == 0x59) m.bracket |= bit;
  }
#endif
  return m;
}

// Bit k set when an odd number of bits at or below k are: inside-string marks from quotes.
std::uint64_t prefix_xor(std::uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

// The bytes a backslash escapes (runs of backslashes escape in pairs); carry: the block's first
// byte is escaped on entry, and the next block's on exit. simdjson's stage-1 method.
std::uint64_t escaped_bytes(std::uint64_t backslash, std::uint64_t& carry) {
  constexpr std::uint64_t kEven = 0x5555555555555555ull;
  backslash &= ~carry;
  const std::uint64_t follows_escape = backslash << 1 | carry;
  const std::uint64_t odd_starts = backslash & ~kEven & ~follows_escape;
  std::uint64_t even_sequences;
  carry = __builtin_add_overflow(odd_starts, backslash, &even_sequences) ? 1 : 0;
  return (kEven ^ (even_sequences << 1)) & follows_escape;
}

std::string shown(unsigned char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
}

}  // namespace

void TraceScanner::fail(std::uint64_t at, const std::string& what) const {
  throw TraceSyntaxError(at, what);
}

// The byte after a backslash; after \u, four hex digits follow.
void TraceScanner::check_escape(char c, std::uint64_t at) {
  if (!is_escape(static_cast<unsigned char>(c))) fail(at, "invalid escape \\" + std::string(1, c));
  if (c == 'u') hex_left_ = 4;
}

void TraceScanner::check_hex(char c, std::uint64_t at) {
  if (!is_hex(static_cast<unsigned char>(c)))
    fail(at, "invalid \\u escape: " + shown(static_cast<unsigned char>(c)) + " is not a hex digit");
  --hex_left_;
}

void TraceScanner::scan(const char* data, std::size_t n) {
  std::size_t i = 0;
  if (!bom_checked_) {
    bom_checked_ = true;
    if (n >= 3 && static_cast<unsigned char>(data[0]) == 0xef &&
        static_cast<unsigned char>(data[1]) == 0xbb && static_cast<unsigned char>(data[2]) == 0xbf)
      i = 3;  // a UTF-8 byte order mark, as some Windows tools write
  }
  while (i < n) {
    std::size_t end = n;
    if (n - i >= 64 && in_events()) {
      if (hex_left_ == 0) {
        std::size_t next = scan_events_fast(data, i, n);
        if (next != i) {
          i = next;
          continue;
        }
      }
      end = i + 64;  // a block with a fault, or the rest of a \u escape: byte by byte
    }
    while (i < end) {
      if (piece_ == Piece::none)
        i = scan_structure(data, i, end);
      else if (in_scalar_)
        i = scan_scalar(data, i, end);
      else
        i = scan_value(data, i, end);
    }
  }
  offset_ += n;
  if (piece_ == Piece::member && offset_ - piece_begin_ > capture_limit_) member_dropped_ = true;
}

std::uint64_t TraceScanner::keep_from() const {
  if (piece_ == Piece::event) return piece_begin_;
  if (piece_ == Piece::frame || state_ == State::frame_key || state_ == State::frame_colon ||
      state_ == State::frame_value)
    return frame_begin_;
  if (piece_ == Piece::member && !member_dropped_) return piece_begin_;
  return offset_;
}

bool TraceScanner::in_events() const {
  return piece_ == Piece::event ||
         (piece_ == Piece::none && (state_ == State::events_first || state_ == State::events_next ||
                                    state_ == State::events_comma_or_end));
}

// Inside traceEvents, 64 bytes at a time: masks find the strings, and only the brackets outside
// them are visited; the bytes between events go through scan_structure. Same state as the
// byte-by-byte path, so either can take over at any byte. Returns where it stopped: less than
// a block left, the end of traceEvents, or a block with a fault for the byte-by-byte path.
std::size_t TraceScanner::scan_events_fast(const char* p, std::size_t i, std::size_t n) {
  while (n - i >= 64 && in_events()) {
    const BlockMasks m = block_masks(p + i);
    std::uint64_t carry = escape_ ? 1 : 0;
    const std::uint64_t escaped = escaped_bytes(m.backslash, carry);
    const std::uint64_t in_string =
        prefix_xor(m.quote & ~escaped) ^ (in_string_ ? ~std::uint64_t{0} : 0);
    // A fault in a string: the byte-by-byte path reports the first fault of the block.
    if (m.control & in_string) return i;
    for (std::uint64_t e = escaped; e; e &= e - 1) {
      const std::size_t k = i + static_cast<std::size_t>(__builtin_ctzll(e));
      if (!is_escape(static_cast<unsigned char>(p[k]))) return i;
      if (p[k] == 'u') {  // four hex digits, which may lie past the block (not past n)
        if (n - k <= 4) return i;
        for (std::size_t h = 1; h <= 4; ++h)
          if (!is_hex(static_cast<unsigned char>(p[k + h]))) return i;
      }
    }
    const std::size_t end = i + 64;
    std::size_t pos = i;
    for (std::uint64_t b = m.bracket & ~in_string; b; b &= b - 1) {
      const std::size_t k = i + static_cast<std::size_t>(__builtin_ctzll(b));
      if (piece_ == Piece::none) {  // between events: separators, then '{' or the closing ']'
        while (pos <= k) pos = scan_structure(p, pos, k + 1);
        if (!in_events()) {
          in_string_ = escape_ = false;
          return pos;
        }
        continue;
      }
      const char c = p[k];
      if (c == '{' || c == '[') {
        push(c, offset_ + k);
      } else if (c == '}' || c == ']') {
        pop(c, offset_ + k);
        if (brackets_.empty()) end_piece(offset_ + k + 1);
      }  // else a false hit outside a string: simdjson rejects it with the event
      pos = k + 1;
    }
    if (piece_ == Piece::none)
      while (pos < end) pos = scan_structure(p, pos, end);
    in_string_ = (in_string >> 63) != 0;
    escape_ = carry != 0;
    i = end;
  }
  return i;
}

// One token of the container: a bracket, a comma, a key, or the first byte of a value.
std::size_t TraceScanner::scan_structure(const char* p, std::size_t i, std::size_t n) {
  const auto c = static_cast<unsigned char>(p[i]);
  const std::uint64_t at = offset_ + i;
  if (state_ == State::key || state_ == State::frame_key) {
    for (; i < n; ++i) {
      const auto k = static_cast<unsigned char>(p[i]);
      if (hex_left_ > 0) {
        check_hex(p[i], offset_ + i);
      } else if (key_escape_) {
        check_escape(p[i], offset_ + i);
        key_escape_ = false;
      } else if (k == '\\') {
        key_escape_ = true;
      } else if (k == '"') {
        state_ = state_ == State::key ? State::colon : State::frame_colon;
        return i + 1;
      } else if (k < 0x20) {
        fail(offset_ + i, "unescaped control character in a string");
      }
      if (state_ == State::key && key_.size() < 256) key_.push_back(p[i]);
    }
    return n;
  }
  if (is_space(c)) return i + 1;
  switch (state_) {
    case State::start:
      if (c == '[') {
        form_ = Form::array;
        state_ = State::events_first;
        return i + 1;
      }
      if (c == '{') {
        form_ = Form::object;
        state_ = State::key_or_end;
        return i + 1;
      }
      fail(at, "not a Chrome trace: expected '[' or '{', found " + shown(c));
    case State::key_or_end:
      if (c == '}') {
        state_ = State::done;
        return i + 1;
      }
      [[fallthrough]];
    case State::next_key:
      if (c != '"') fail(at, "expected a member name in quotes, found " + shown(c));
      key_.clear();
      state_ = State::key;
      return i + 1;
    case State::colon:
      if (c != ':') fail(at, "expected ':' after a member name, found " + shown(c));
      state_ = State::value;
      return i + 1;
    case State::value:
      if (key_ == "traceEvents") {
        if (c != '[') fail(at, "traceEvents is not an array");
        array_ = Array::events;
        state_ = State::events_first;
        return i + 1;
      }
      if (samples_ && key_ == "samples" && c == '[') {
        array_ = Array::samples;
        state_ = State::events_first;
        return i + 1;
      }
      if (samples_ && key_ == "stackFrames" && c == '{') {
        state_ = State::frames_key_or_end;
        return i + 1;
      }
      begin_piece(Piece::member, at);
      if (c == '{' || c == '[') {
        push(static_cast<char>(c), at);
        return i + 1;
      }
      if (c == '"') {
        in_string_ = true;
        return i + 1;
      }
      if (c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) {
        in_scalar_ = true;
        scalar_.clear();
        return i;
      }
      piece_ = Piece::none;
      fail(at, "expected a value, found " + shown(c));
    case State::comma_or_end:
      if (c == ',') {
        state_ = State::next_key;
      } else if (c == '}') {
        state_ = State::done;
      } else {
        fail(at, "expected ',' or '}' after a member, found " + shown(c));
      }
      return i + 1;
    case State::events_first:
    case State::events_next:
      if (c == '{') {
        begin_piece(Piece::event, at);
        push('{', at);
        return i + 1;
      }
      if (c == ']') {  // also after a trailing comma, which catapult tolerates too
        state_ = form_ == Form::array ? State::done : State::comma_or_end;
        return i + 1;
      }
      fail(at, std::string(array_ == Array::samples ? "expected a sample object, found "
                                                    : "expected an event object, found ") +
                   shown(c));
    case State::events_comma_or_end:
      if (c == ',') {
        state_ = State::events_next;
      } else if (c == ']') {
        state_ = form_ == Form::array ? State::done : State::comma_or_end;
      } else {
        fail(at,
             std::string(array_ == Array::samples ? "expected ',' or ']' after a sample, found "
                                                  : "expected ',' or ']' after an event, found ") +
                 shown(c));
      }
      return i + 1;
    case State::frames_key_or_end:
      if (c == '}') {
        state_ = State::comma_or_end;
        return i + 1;
      }
      [[fallthrough]];
    case State::frames_next_key:
      if (c != '"') fail(at, "expected a stack frame's id in quotes, found " + shown(c));
      frame_begin_ = at;
      state_ = State::frame_key;
      return i + 1;
    case State::frame_colon:
      if (c != ':') fail(at, "expected ':' after a stack frame's id, found " + shown(c));
      state_ = State::frame_value;
      return i + 1;
    case State::frame_value:
      if (c != '{') fail(at, "expected a stack frame object, found " + shown(c));
      begin_piece(Piece::frame, at);
      push('{', at);
      return i + 1;
    case State::frames_comma_or_end:
      if (c == ',') {
        state_ = State::frames_next_key;
      } else if (c == '}') {
        state_ = State::comma_or_end;
      } else {
        fail(at, "expected ',' or '}' after a stack frame, found " + shown(c));
      }
      return i + 1;
    case State::done:
      fail(at, "unexpected " + shown(c) + " after the end of the trace");
    case State::key:
    case State::frame_key:
      break;
  }
  return i + 1;
}

// Inside an event or member value: strings, escapes and brackets until the value closes.
std::size_t TraceScanner::scan_value(const char* p, std::size_t i, std::size_t n) {
  while (i < n) {
    if (in_string_) {
      if (hex_left_ > 0) {
        check_hex(p[i], offset_ + i);
        ++i;
        continue;
      }
      if (escape_) {
        check_escape(p[i], offset_ + i);
        escape_ = false;
        ++i;
        continue;
      }
      const std::size_t j = string_run_end(p, i, n);
      if (j == n) return n;
      const char c = p[j];
      i = j + 1;
      if (c == '"') {
        in_string_ = false;
        if (brackets_.empty()) {  // a member value that is one string
          end_piece(offset_ + i);
          return i;
        }
      } else if (c == '\\') {
        escape_ = true;
      } else {
        fail(offset_ + j, "unescaped control character in a string");
      }
      continue;
    }
    const auto c = static_cast<unsigned char>(p[i]);
    switch (c) {
      case '"':
        in_string_ = true;
        break;
      case '{':
      case '[':
        push(static_cast<char>(c), offset_ + i);
        break;
      case '}':
      case ']':
        pop(static_cast<char>(c), offset_ + i);
        if (brackets_.empty()) {
          end_piece(offset_ + i + 1);
          return i + 1;
        }
        break;
      default:  // simdjson checks the rest of an event; a member or frame gets this check first
        if (piece_ != Piece::event && !kValueByte[c]) fail(offset_ + i, "unexpected " + shown(c));
        break;
    }
    ++i;
  }
  return n;
}

// A number or literal that is a whole member value: it ends at the first byte not its own.
std::size_t TraceScanner::scan_scalar(const char* p, std::size_t i, std::size_t n) {
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (!is_scalar_byte(c)) {
      if (!valid_scalar(scalar_)) fail(piece_begin_, "invalid value '" + scalar_ + "'");
      in_scalar_ = false;
      end_piece(offset_ + i);
      return i;
    }
    if (scalar_.size() >= 64) fail(piece_begin_, "invalid value '" + scalar_ + "...'");
    scalar_.push_back(static_cast<char>(c));
  }
  return n;
}

void TraceScanner::begin_piece(Piece piece, std::uint64_t at) {
  piece_ = piece;
  piece_begin_ = at;
  member_dropped_ = capture_limit_ == 0;
}

void TraceScanner::end_piece(std::uint64_t end) {
  const Piece piece = piece_;
  piece_ = Piece::none;
  if (piece == Piece::event) {
    state_ = State::events_comma_or_end;
    if (array_ == Array::samples)
      sink_.sample(piece_begin_, end);
    else
      sink_.event(piece_begin_, end);
  } else if (piece == Piece::frame) {
    state_ = State::frames_comma_or_end;
    sink_.stack_frame(frame_begin_, end);
  } else {
    state_ = State::comma_or_end;
    bool captured = !member_dropped_ && end - piece_begin_ <= capture_limit_;
    sink_.member(key_, piece_begin_, end, captured);
  }
}

void TraceScanner::push(char open, std::uint64_t at) {
  if (brackets_.size() >= static_cast<std::size_t>(kMaxDepth))
    fail(at, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
  brackets_.push_back(open);
}

void TraceScanner::pop(char close, std::uint64_t at) {
  if (brackets_.back() != (close == '}' ? '{' : '['))
    fail(at, std::string("'") + close + "' closes a '" + brackets_.back() + "'");
  brackets_.pop_back();
}

void TraceScanner::finish() {
  const std::uint64_t at = offset_;
  if (piece_ == Piece::event)
    fail(at, std::string("the file ends inside the ") +
                 (array_ == Array::samples ? "sample" : "event") + " that starts at byte " +
                 std::to_string(piece_begin_) + " (truncated trace?)");
  if (in_scalar_) {  // a scalar member value at the very end: the object is still open anyway
    piece_ = Piece::none;
    in_scalar_ = false;
  }
  if (piece_ == Piece::member)
    fail(at, "the file ends inside the value of \"" + key_ + "\" (truncated trace?)");
  switch (state_) {
    case State::start:
      fail(at, "empty file, not a Chrome trace");
    case State::done:
      return;
    case State::events_first:
    case State::events_next:
    case State::events_comma_or_end:
      if (form_ == Form::array) {
        unclosed_array_ = true;
        return;
      }
      fail(at, std::string("the file ends inside ") +
                   (array_ == Array::samples ? "samples" : "traceEvents") + " (truncated trace?)");
    case State::frames_key_or_end:
    case State::frames_next_key:
    case State::frame_key:
    case State::frame_colon:
    case State::frame_value:
    case State::frames_comma_or_end:
      fail(at, "the file ends inside stackFrames (truncated trace?)");
    default:
      fail(at, "the file ends before the closing '}' (truncated trace?)");
  }
}

}  // namespace viztrace::report
