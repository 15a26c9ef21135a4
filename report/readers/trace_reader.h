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

   protected:
    ~Visitor() = default;
  };

  struct Options {
    std::uint64_t capture_limit = 0;     // member values up to this many bytes reach member()
    std::size_t block_bytes = 1u << 20;  // read and parse this much at a time
  };

  struct Summary {
    TraceScanner::Form form = TraceScanner::Form::unknown;
    bool unclosed_array = false;  // array form without its closing ']' (tolerated)
    bool gzip = false;
    std::uint64_t events = 0;
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
