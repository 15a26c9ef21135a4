// Reads any Chrome trace-event JSON file (ours, VizTracer's, uftrace's, a browser's) in one
// streaming pass and in bounded memory: blocks of the file (gzip or plain, told by content) go
// through a TraceScanner, which finds the events; the events of each block are parsed together
// with simdjson On-Demand, in place in the block buffer. Memory is the block buffer, simdjson's
// index of one block and the largest single event, whatever the file's size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "report/readers/trace_scanner.h"

namespace viztrace::report {

// One event, decoded as far as viztrace's tools need. The views are valid during the visit only.
struct TraceEvent {
  std::uint64_t offset = 0;  // of its '{' in the (uncompressed) input
  std::string_view text;     // the event's JSON text
  char ph = 0;               // first byte of "ph"; 0 when missing
  std::string_view name, cat;
  // Times in ns: ts and dur are µs in the file, integer or fraction or numeric string, read as
  // Perfetto does (llround(v * 1000)) so nanosecond decimals survive.
  std::int64_t ts = 0, dur = 0;
  bool has_ts = false, has_dur = false;
  std::int64_t pid = 0, tid = 0;  // integers or numeric strings
  bool has_pid = false, has_tid = false;
  std::string_view args;      // the args object's JSON text; empty when missing or no object
  char scope = 0;             // first byte of "s" (instants: g, p, t); 0 when missing
  std::string_view id;        // "id": a string's content or a number's text
  std::string_view arg_name;  // args.name (process_name and thread_name metadata)
  // args.utime_ms and args.stime_ms, which our process spans carry, in ns.
  std::int64_t utime = 0, stime = 0;
  bool has_cpu = false;
  // The raw tokens of pid, tid and ts inside text (empty when missing), for rewriting.
  std::string_view pid_token, tid_token, ts_token;
  // Of a sample (the top-level "samples"): sf, the id of its innermost stack frame (a string's
  // content or a number's text; empty when missing), and weight, µs in the file, in ns.
  std::string_view sf;
  std::int64_t weight = 0;
  bool has_weight = false;
};

// One member of the top-level "stackFrames" object: a node of the tree of stacks, its id the
// member's name. category is the module by convention; parent "" for an outermost frame. The
// views are valid during the visit only.
struct TraceStackFrame {
  std::uint64_t offset = 0;  // of its id's '"' in the (uncompressed) input
  std::string_view id, name, category, parent;
};

class TraceReader {
 public:
  class Visitor {
   public:
    virtual void event(const TraceEvent& event) = 0;
    // A top-level member of the object form other than traceEvents, in file order with the
    // events: key is its raw (escaped) name; raw its JSON text, or empty when the value is
    // longer than Options::capture_limit; size its length in bytes.
    virtual void member(std::string_view key, std::string_view raw, std::uint64_t size) {
      (void)key, (void)raw, (void)size;
    }
    // With Options::samples: each element of the object form's "samples" array, decoded as an
    // event is (ts, pid, tid, name) plus sf and weight, and each member of "stackFrames".
    virtual void sample(const TraceEvent& sample) { (void)sample; }
    virtual void stack_frame(const TraceStackFrame& frame) { (void)frame; }

   protected:
    ~Visitor() = default;
  };

  struct Options {
    std::uint64_t capture_limit = 0;     // member values up to this many bytes reach member()
    std::size_t block_bytes = 1u << 20;  // read and parse this much at a time
    // "samples" (an array) and "stackFrames" (an object) go to sample() and stack_frame() one
    // element at a time, in bounded memory, instead of to member().
    bool samples = false;
  };

  struct Summary {
    TraceScanner::Form form = TraceScanner::Form::unknown;
    bool unclosed_array = false;  // array form without its closing ']' (tolerated)
    bool gzip = false;
    std::uint64_t events = 0;
    std::uint64_t samples = 0, stack_frames = 0;  // with Options::samples
    std::uint64_t bytes = 0;           // of JSON (after decompression)
    std::uint64_t replaced_bytes = 0;  // invalid UTF-8 bytes read as '?'
  };

  // Reads path ("-": standard input) once and visits every event and member. Every event is
  // checked as JSON in full. Throws viztrace::Error with one line: "cannot read <path>: <why>",
  // "<path>: invalid JSON at byte <N>: <what>", "<path>: corrupt gzip data: <what>".
  static Summary read(const std::string& path, Visitor& visitor, const Options& options);
  static Summary read(const std::string& path, Visitor& visitor) {
    return read(path, visitor, Options{});
  }
};

}  // namespace viztrace::report
