#include "report/readers/trace_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "common/error.h"
#include "report/model/utf8.h"
#include "simdjson.h"

namespace viztrace::report {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// The file, decompressed on the fly when it is gzip (zlib reads plain files as they are).
class TraceInput {
 public:
  explicit TraceInput(const std::string& path) : path_(path) {
    int fd = path == "-" ? dup(0) : open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot read " + path);
    file_ = gzdopen(fd, "rb");
    if (!file_) {
      close(fd);
      throw Error("cannot read " + path + ": out of memory");
    }
    gzbuffer(file_, 256u << 10);
  }
  ~TraceInput() { gzclose(file_); }
  TraceInput(const TraceInput&) = delete;
  TraceInput& operator=(const TraceInput&) = delete;

  // Fills up to n bytes; 0 at the end.
  std::size_t read(char* into, std::size_t n) {
    int got = gzread(file_, into, static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30)));
    int err = Z_OK;
    const char* msg = gzerror(file_, &err);
    if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR)) {
      if (err == Z_ERRNO) throw system_error("cannot read " + path_);
      std::string_view what = msg;  // "<fd:3>: invalid code lengths set"
      if (what.rfind("<fd:", 0) == 0 && what.find(": ") != std::string_view::npos)
        what.remove_prefix(what.find(": ") + 2);
      throw Error(path_ + ": corrupt gzip data: " + std::string(what));
    }
    if (got == 0 && err == Z_BUF_ERROR)
      throw Error(path_ + ": truncated gzip data (the compressed stream ends early)");
    return static_cast<std::size_t>(got);
  }
  bool gzip() const { return gzdirect(file_) == 0; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

// What a simdjson error means to someone looking at the file.
std::string describe(error_code e) {
  switch (e) {
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return "invalid number";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
    case simdjson::INCORRECT_TYPE:
      return "invalid value (not a number, string, true, false or null)";
    case simdjson::STRING_ERROR:
    case simdjson::UNCLOSED_STRING:
      return "invalid string (bad \\u escape)";
    case simdjson::TAPE_ERROR:
      return "missing or extra ',', ':' or bracket";
    case simdjson::UTF8_ERROR:
      return "invalid UTF-8";
    case simdjson::UNESCAPED_CHARS:
      return "unescaped control character in a string";
    case simdjson::DEPTH_ERROR:
      return "nested too deeply";
    default:
      return simdjson::error_message(e);
  }
}

// "123", "123.5", "1e3": the number a numeric string holds.
bool parse_number_text(std::string_view s, double& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty() && std::isfinite(out);
}

// µs to ns as Perfetto does: integers exactly, fractions rounded.
bool micros_to_ns(double us, std::int64_t& ns) {
  double v = us * 1000.0;
  if (!std::isfinite(v) || std::fabs(v) > 9.2e18) return false;
  ns = std::llround(v);
  return true;
}

// Checks v in full (simdjson On-Demand only checks what is read) and consumes it.
error_code validate(od::value v) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      od::object o;
      if (auto e = v.get_object().get(o)) return e;
      for (auto f : o) {
        od::field field;
        if (auto e = std::move(f).get(field)) return e;
        if (auto e = validate(field.value())) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array a;
      if (auto e = v.get_array().get(a)) return e;
      for (auto item : a) {
        od::value element;
        if (auto e = std::move(item).get(element)) return e;
        if (auto e = validate(element)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number:
      return v.get_number().error();
    case od::json_type::string:
      return v.get_string().error();
    case od::json_type::boolean:
      return v.get_bool().error();
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::SUCCESS;
}

// A string member; anything else is read (to check it) and leaves out empty.
error_code read_string(od::value v, std::string_view& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type != od::json_type::string) return validate(v);
  return v.get_string().get(out);
}

// A number, or a numeric string: its value, and the exact integer when it is one.
struct Number {
  double value = 0;
  std::int64_t whole = 0;
  bool is_whole = false;
  bool ok = false;  // false: neither (the value was still checked and consumed)
};

error_code read_number(od::value v, Number& n) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return e;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n.whole);
    n.is_whole = ec == std::errc() && end == s.data() + s.size() && !s.empty();
    n.ok = parse_number_text(s, n.value);
    return simdjson::SUCCESS;
  }
  if (type != od::json_type::number) return validate(v);
  od::number number;
  if (auto e = v.get_number().get(number)) return e;
  n.value = number.as_double();
  n.is_whole = number.is_int64();
  if (n.is_whole) n.whole = number.get_int64();
  n.ok = true;
  return simdjson::SUCCESS;
}

// ts and dur: µs to ns as Perfetto does, integers exactly and fractions rounded.
error_code read_time(od::value v, std::int64_t& ns, bool& ok) {
  Number n;
  if (auto e = read_number(v, n)) return e;
  constexpr std::int64_t kLimit = INT64_MAX / 1000;
  if (n.is_whole && n.whole > -kLimit && n.whole < kLimit) {
    ns = n.whole * 1000;
    ok = true;
  } else {
    ok = n.ok && micros_to_ns(n.value, ns);
  }
  return simdjson::SUCCESS;
}

error_code read_id(od::value v, std::int64_t& id, bool& ok) {
  Number n;
  if (auto e = read_number(v, n)) return e;
  ok = n.ok && (n.is_whole || std::fabs(n.value) < 9.2e18);
  if (ok) id = n.is_whole ? n.whole : static_cast<std::int64_t>(n.value);
  return simdjson::SUCCESS;
}

// The text of the JSON object that starts at open, which is valid JSON and ends before limit.
std::string_view object_text(const char* open, const char* limit) {
  int depth = 0;
  bool in_string = false;
  for (const char* p = open; p < limit; ++p) {
    if (in_string) {
      if (*p == '\\')
        ++p;
      else if (*p == '"')
        in_string = false;
    } else if (*p == '"') {
      in_string = true;
    } else if (*p == '{' || *p == '[') {
      ++depth;
    } else if ((*p == '}' || *p == ']') && --depth == 0) {
      return {open, static_cast<std::size_t>(p + 1 - open)};
    }
  }
  return {};
}

error_code read_args(od::value v, TraceEvent& ev) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type != od::json_type::object) return validate(v);
  const char* open = v.raw_json_token().data();
  od::object args;
  if (auto e = v.get_object().get(args)) return e;
  Number utime, stime;
  for (auto f : args) {
    od::field field;
    if (auto e = std::move(f).get(field)) return e;
    od::raw_json_string key = field.key();
    error_code e;
    if (key == "name") {
      e = read_string(field.value(), ev.arg_name);
    } else if (key == "utime_ms") {
      e = read_number(field.value(), utime);
    } else if (key == "stime_ms") {
      e = read_number(field.value(), stime);
    } else {
      e = validate(field.value());
    }
    if (e) return e;
  }
  // ms to ns: the µs conversion of a value a thousand times larger.
  ev.args = object_text(open, ev.text.data() + ev.text.size());
  if (utime.ok && stime.ok && utime.value >= 0 && stime.value >= 0)
    ev.has_cpu =
        micros_to_ns(utime.value * 1000, ev.utime) && micros_to_ns(stime.value * 1000, ev.stime);
  return simdjson::SUCCESS;
}

std::string_view token_of(od::value& v) {
  std::string_view t = v.raw_json_token();
  while (!t.empty() &&
         (t.back() == ' ' || t.back() == '\n' || t.back() == '\r' || t.back() == '\t'))
    t.remove_suffix(1);
  return t;
}

// An id that may be a string or a number: the string's content or the number's text.
error_code read_id_text(od::value v, std::string_view& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type != od::json_type::number) return read_string(v, out);
  out = token_of(v);
  return validate(v);
}

error_code decode_frame(od::object& obj, TraceStackFrame& frame) {
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return e;
    od::raw_json_string key = field.key();
    error_code e;
    if (key == "name") {
      e = read_string(field.value(), frame.name);
    } else if (key == "category") {
      e = read_string(field.value(), frame.category);
    } else if (key == "parent") {
      e = read_id_text(field.value(), frame.parent);
    } else {
      e = validate(field.value());
    }
    if (e) return e;
  }
  return simdjson::SUCCESS;
}

error_code decode(od::object& obj, TraceEvent& ev) {
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return e;
    od::raw_json_string key = field.key();
    od::value v = field.value();
    error_code e = simdjson::SUCCESS;
    if (key == "ph") {
      std::string_view ph;
      e = read_string(v, ph);
      ev.ph = ph.empty() ? 0 : ph[0];
    } else if (key == "name") {
      e = read_string(v, ev.name);
    } else if (key == "s") {
      std::string_view scope;
      e = read_string(v, scope);
      ev.scope = scope.empty() ? 0 : scope[0];
    } else if (key == "id") {
      e = read_id_text(v, ev.id);
    } else if (key == "sf") {
      e = read_id_text(v, ev.sf);
    } else if (key == "weight") {
      e = read_time(v, ev.weight, ev.has_weight);
    } else if (key == "cat") {
      e = read_string(v, ev.cat);
    } else if (key == "ts") {
      ev.ts_token = token_of(v);
      e = read_time(v, ev.ts, ev.has_ts);
    } else if (key == "dur") {
      e = read_time(v, ev.dur, ev.has_dur);
    } else if (key == "pid") {
      ev.pid_token = token_of(v);
      e = read_id(v, ev.pid, ev.has_pid);
    } else if (key == "tid") {
      ev.tid_token = token_of(v);
      e = read_id(v, ev.tid, ev.has_tid);
    } else if (key == "args") {
      e = read_args(v, ev);
    } else {
      e = validate(v);
    }
    if (e) return e;
  }
  return simdjson::SUCCESS;
}

// One pass over one file: reads blocks into a window, scans them for events, and parses the
// events of each block as one array in place: the byte before the first event becomes '[' and
// the byte after the last one ']' (both restored), so nothing is copied.
class ReadSession final : public TraceScanner::Sink {
 public:
  ReadSession(const std::string& path, TraceReader::Visitor& visitor,
              const TraceReader::Options& options)
      : path_(path),
        visitor_(visitor),
        input_(path),
        scanner_(*this, options.capture_limit, options.samples),
        capacity_(std::max<std::size_t>(options.block_bytes, 4096)) {
    allocate(capacity_);
  }

  TraceReader::Summary run() {
    try {
      for (;;) {
        if (length_ > capacity_ / 2) grow();
        std::size_t got = input_.read(window() + length_, capacity_ - length_);
        if (got == 0) break;
        scanner_.scan(window() + length_, got);
        length_ += got;
        flush();
        compact();
      }
      if (scanner_.form() == TraceScanner::Form::unknown)
        throw Error(path_ + ": empty file, not a Chrome trace");
      scanner_.finish();
      flush();
    } catch (const TraceSyntaxError& e) {
      fail(e.offset(), e.what());
    }
    summary_.form = scanner_.form();
    summary_.unclosed_array = scanner_.unclosed_array();
    summary_.bytes = scanner_.offset();
    summary_.gzip = input_.gzip();
    return summary_;
  }

  void event(std::uint64_t begin, std::uint64_t end) override { add(Kind::event, begin, end); }
  void sample(std::uint64_t begin, std::uint64_t end) override { add(Kind::sample, begin, end); }
  void stack_frame(std::uint64_t begin, std::uint64_t end) override {
    add(Kind::frame, begin, end);
  }

  void member(std::string_view key, std::uint64_t begin, std::uint64_t end,
              bool captured) override {
    flush();  // the events before it are visited first
    std::string_view raw;
    if (captured) raw = {at(begin), static_cast<std::size_t>(end - begin)};
    visitor_.member(key, raw, end - begin);
  }

 private:
  enum class Kind : std::uint8_t { event, sample, frame };
  struct Span {
    std::uint64_t begin, end;
  };

  // A batch holds pieces of one kind: those of another are visited first.
  void add(Kind kind, std::uint64_t begin, std::uint64_t end) {
    if (kind != kind_) flush();
    kind_ = kind;
    batch_.push_back({begin, end});
  }

  // The window starts one byte into the buffer, so the byte before any event can become '['.
  char* window() { return buffer_.get() + 1; }
  char* at(std::uint64_t offset) { return window() + (offset - base_); }

  void allocate(std::size_t capacity) {
    auto buffer = std::make_unique<char[]>(capacity + 2 + simdjson::SIMDJSON_PADDING);
    if (buffer_) std::memcpy(buffer.get() + 1, window(), length_);
    buffer_ = std::move(buffer);
    capacity_ = capacity;
  }
  void grow() { allocate(capacity_ * 2); }

  // Drops what the scanner no longer needs.
  void compact() {
    std::uint64_t keep = scanner_.keep_from();
    std::size_t drop = static_cast<std::size_t>(keep - base_);
    if (drop == 0) return;
    std::memmove(window(), window() + drop, length_ - drop);
    length_ -= drop;
    base_ = keep;
  }

  [[noreturn]] void fail(std::uint64_t offset, const std::string& what) {
    throw Error(path_ + ": invalid JSON at byte " + std::to_string(offset) +
                (input_.gzip() ? " (uncompressed)" : "") + ": " + what);
  }

  // Where simdjson stopped, as a file offset (or fallback when it cannot tell).
  std::uint64_t error_offset(od::document& doc, std::uint64_t fallback) {
    const char* location = nullptr;
    if (doc.current_location().get(location) != simdjson::SUCCESS) return fallback;
    if (location < window() || location > window() + capacity_) return fallback;
    return base_ + static_cast<std::uint64_t>(location - window());
  }

  // Replaces each byte that is not part of valid UTF-8 with '?'.
  std::uint64_t sanitize_utf8(char* begin, char* end) {
    std::uint64_t replaced = 0;
    auto* p = reinterpret_cast<unsigned char*>(begin);
    auto* e = reinterpret_cast<unsigned char*>(end);
    while (p < e) {
      if (*p < 0x80) {
        ++p;
        continue;
      }
      std::size_t n = utf8_sequence_length(p, static_cast<std::size_t>(e - p));
      if (n == 0) {
        *p++ = '?';
        ++replaced;
      } else {
        p += n;
      }
    }
    return replaced;
  }

  // Parses and visits the pieces found so far: events and samples as one array, stack frames
  // (from the '"' of the first id) as one object.
  void flush() {
    if (batch_.empty()) return;
    char* first = at(batch_.front().begin);
    char* last = at(batch_.back().end);
    const char saved_open = first[-1], saved_close = *last;
    first[-1] = kind_ == Kind::frame ? '{' : '[';
    *last = kind_ == Kind::frame ? '}' : ']';
    struct Restore {
      char* first;
      char* last;
      char open, close;
      ~Restore() {
        first[-1] = open;
        *last = close;
      }
    } restore{first, last, saved_open, saved_close};
    const std::size_t length = static_cast<std::size_t>(last + 1 - (first - 1));
    const std::size_t room = static_cast<std::size_t>(buffer_.get() + capacity_ + 2 +
                                                      simdjson::SIMDJSON_PADDING - (first - 1));
    simdjson::padded_string_view json(first - 1, length, room);
    od::document doc;
    error_code e = parser_.iterate(json).get(doc);
    if (e == simdjson::UTF8_ERROR) {
      summary_.replaced_bytes += sanitize_utf8(first, last);
      e = parser_.iterate(json).get(doc);
    }
    if (e) fail(batch_.front().begin, describe(e));
    const std::size_t k = kind_ == Kind::frame ? visit_frames(doc) : visit_events(doc);
    if (k != batch_.size()) fail(batch_.front().begin, "internal error: events lost in a block");
    if (kind_ == Kind::event)
      summary_.events += k;
    else if (kind_ == Kind::sample)
      summary_.samples += k;
    else
      summary_.stack_frames += k;
    batch_.clear();
  }

  // The batch's events or samples, parsed as one array; returns how many.
  std::size_t visit_events(od::document& doc) {
    error_code e;
    od::array events;
    if ((e = doc.get_array().get(events))) fail(batch_.front().begin, describe(e));
    std::size_t k = 0;
    for (auto item : events) {
      const std::uint64_t begin = k < batch_.size() ? batch_[k].begin : batch_.back().end;
      od::object obj;
      if ((e = std::move(item).get_object().get(obj))) fail(error_offset(doc, begin), describe(e));
      if (k >= batch_.size()) fail(begin, "internal error: more events than the scanner found");
      TraceEvent ev;
      ev.offset = begin;
      ev.text = {at(begin), static_cast<std::size_t>(batch_[k].end - begin)};
      if ((e = decode(obj, ev))) fail(error_offset(doc, begin), describe(e));
      if (kind_ == Kind::sample)
        visitor_.sample(ev);
      else
        visitor_.event(ev);
      ++k;
    }
    return k;
  }

  // The batch's stack frames, parsed as one object; returns how many.
  std::size_t visit_frames(od::document& doc) {
    error_code e;
    od::object frames;
    if ((e = doc.get_object().get(frames))) fail(batch_.front().begin, describe(e));
    std::size_t k = 0;
    for (auto member : frames) {
      const std::uint64_t begin = k < batch_.size() ? batch_[k].begin : batch_.back().end;
      od::field field;
      TraceStackFrame frame;
      od::object obj;
      if ((e = std::move(member).get(field)) || (e = field.unescaped_key().get(frame.id)) ||
          (e = field.value().get_object().get(obj)))
        fail(error_offset(doc, begin), describe(e));
      if (k >= batch_.size()) fail(begin, "internal error: more frames than the scanner found");
      frame.offset = begin;
      if ((e = decode_frame(obj, frame))) fail(error_offset(doc, begin), describe(e));
      visitor_.stack_frame(frame);
      ++k;
    }
    return k;
  }

  const std::string& path_;
  TraceReader::Visitor& visitor_;
  TraceInput input_;
  TraceScanner scanner_;
  od::parser parser_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t length_ = 0;  // bytes in the window
  std::uint64_t base_ = 0;  // offset of window()[0]
  std::vector<Span> batch_;
  Kind kind_ = Kind::event;  // of the pieces in batch_
  TraceReader::Summary summary_;
};

}  // namespace

TraceReader::Summary TraceReader::read(const std::string& path, Visitor& visitor,
                                       const Options& options) {
  ReadSession session(path, visitor, options);
  return session.run();
}

}  // namespace viztrace::report
