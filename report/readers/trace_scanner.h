// Finds the top-level pieces of a Chrome trace-event JSON file without parsing them: each event
// of the array form `[ev, ...]` (closing ']' optional, as catapult allows) or of the object
// form's "traceEvents" array, each other member of the object form (metadata), and when asked
// each element of the object form's "samples" array and each member of its "stackFrames"
// object (the Trace Event Format's sampled stacks, as large as the events can be). Fed the file
// in pieces of any size, it keeps a few bytes of state, so a trace of any size scans in constant
// memory. It checks the structure it walks (brackets, commas, strings, escapes, control bytes)
// and reports the first fault with its byte offset; the caller parses the events it finds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace viztrace::report {

// Malformed or truncated input: offset is the byte where it shows, what says how.
class TraceSyntaxError : public std::runtime_error {
 public:
  TraceSyntaxError(std::uint64_t offset, const std::string& what)
      : std::runtime_error(what), offset_(offset) {}
  std::uint64_t offset() const { return offset_; }

 private:
  std::uint64_t offset_;
};

class TraceScanner {
 public:
  enum class Form { unknown, array, object };

  // What the scanner found. Offsets are absolute byte offsets in the input.
  class Sink {
   public:
    // One complete event object: bytes [begin, end).
    virtual void event(std::uint64_t begin, std::uint64_t end) = 0;
    // One complete top-level member of the object form other than "traceEvents": key is its
    // raw (still escaped) text, the value is bytes [begin, end). captured: the value was no
    // longer than the capture limit, so keep_from() kept its bytes until now.
    virtual void member(std::string_view key, std::uint64_t begin, std::uint64_t end,
                        bool captured) = 0;
    // With samples on: one element of "samples" (an object), bytes [begin, end).
    virtual void sample(std::uint64_t begin, std::uint64_t end) { (void)begin, (void)end; }
    // With samples on: one member of "stackFrames", bytes [begin, end) from the '"' of its name
    // to the '}' of its value (an object), so `{` + them + `}` is an object.
    virtual void stack_frame(std::uint64_t begin, std::uint64_t end) { (void)begin, (void)end; }

   protected:
    ~Sink() = default;
  };

  static constexpr int kMaxDepth = 1024;  // simdjson's default: deeper events would not parse

  // capture_limit: member values up to this size are kept for the sink (0: none are).
  // samples: "samples" and "stackFrames" go to Sink::sample and Sink::stack_frame.
  explicit TraceScanner(Sink& sink, std::uint64_t capture_limit = 0, bool samples = false)
      : sink_(sink), capture_limit_(capture_limit), samples_(samples) {}

  // Scans the next n bytes of the input; data[0] is at offset() (pieces come in order).
  // Throws TraceSyntaxError.
  void scan(const char* data, std::size_t n);
  // At the end of the input: throws TraceSyntaxError when the trace is cut short or empty.
  void finish();

  // Offset of the next byte to scan.
  std::uint64_t offset() const { return offset_; }
  // The earliest offset whose bytes the caller must still hold: the start of an event (or
  // captured member) that has begun but not ended; offset() when there is none.
  std::uint64_t keep_from() const;

  Form form() const { return form_; }
  // The array form ended without its closing ']' (tolerated).
  bool unclosed_array() const { return unclosed_array_; }

 private:
  enum class State : std::uint8_t {
    start,                // before the container
    key_or_end,           // object form, after '{': a key or '}'
    next_key,             // object form, after ',': a key
    key,                  // inside a key string
    colon,                // after a key
    value,                // after ':'
    comma_or_end,         // object form, after a member
    events_first,         // after the events' '[': an event or ']'
    events_next,          // after ',': an event (or ']' after a trailing comma)
    events_comma_or_end,  // after an event: ',' or ']'
    frames_key_or_end,    // after stackFrames' '{': a frame's id or '}'
    frames_next_key,      // after ',': a frame's id
    frame_key,            // inside a frame's id
    frame_colon,          // after a frame's id
    frame_value,          // after ':': the frame's object
    frames_comma_or_end,  // after a frame: ',' or '}'
    done,                 // after the container: whitespace only
  };
  // The array whose elements the events states walk.
  enum class Array : std::uint8_t { events, samples };
  enum class Piece : std::uint8_t { none, event, member, frame };

  bool in_events() const;
  std::size_t scan_events_fast(const char* p, std::size_t i, std::size_t n);
  std::size_t scan_structure(const char* p, std::size_t i, std::size_t n);
  std::size_t scan_value(const char* p, std::size_t i, std::size_t n);
  std::size_t scan_scalar(const char* p, std::size_t i, std::size_t n);
  void begin_piece(Piece piece, std::uint64_t at);
  void end_piece(std::uint64_t end);
  void check_escape(char c, std::uint64_t at);
  void check_hex(char c, std::uint64_t at);
  void push(char open, std::uint64_t at);
  void pop(char close, std::uint64_t at);
  [[noreturn]] void fail(std::uint64_t at, const std::string& what) const;

  Sink& sink_;
  std::uint64_t capture_limit_;
  bool samples_;
  std::uint64_t offset_ = 0;  // of the byte at the current scan position
  State state_ = State::start;
  Array array_ = Array::events;
  std::uint64_t frame_begin_ = 0;  // the '"' of the current frame's id
  Form form_ = Form::unknown;
  bool unclosed_array_ = false;

  // The value being scanned (an event or a member value).
  Piece piece_ = Piece::none;
  std::uint64_t piece_begin_ = 0;
  std::string brackets_;         // open brackets of the value, innermost last
  bool in_string_ = false;       // inside a string of the value (or the value is a string)
  bool escape_ = false;          // the previous byte was a backslash inside a string
  std::uint8_t hex_left_ = 0;    // hex digits still due after \u
  bool in_scalar_ = false;       // a number or literal at the top of a member value
  std::string scalar_;           // its text so far (short)
  bool member_dropped_ = false;  // the member value outgrew the capture limit
  std::string key_;              // the current member key, raw
  bool key_escape_ = false;
  bool bom_checked_ = false;
};

}  // namespace viztrace::report
