// Reads a Chrome trace-event JSON file for `viztrace convert`, in one streaming pass through
// TraceReader (object or array form, an array left unclosed, gzip, invalid UTF-8 read as '?').
// Carried over:
//   X and B/E slices (name, category, args), i/I/R instants (s:"g" on a trace-wide track, else on
//   the thread), C counters (one track per process, name and arg key: "name key"),
//   process_name/thread_name metadata, the top-level "metadata"/"otherData" object, and the
//   sampled stacks ("stackFrames" and "samples", report/readers/trace_samples.h) on their
//   threads.
// B/E pair as `viztrace stats` and Perfetto pair them: a named E ends the innermost open B of its
// name and the B's opened inside it; an E with no such B is dropped and counted; a B never
// closed ends with the trace. Slices that do not nest on their thread are cut at the end of the
// slice enclosing them. Flow (s/t/f), async (b/e/n, S/T/F/p), sample (P), object and mark events
// are skipped and counted per phase. A viztrace report's reused pids (pid + k * 4194304) become
// separate processes with the real pid.
//
// Memory: each slice is kept in 24 bytes (name interned, each distinct args object stored once
// as its JSON text), each instant in 16, each sample in 24; args become Arg trees only as they
// are written. The
// .pftrace writer gets the slices thread by thread, so the whole Timeline never exists then.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "report/model/timeline.h"
#include "report/writers/byte_sink.h"

namespace viztrace::report {

struct ConvertStats {
  std::uint64_t events = 0;  // trace events read
  std::uint64_t slices = 0, instants = 0, counter_values = 0, metadata = 0;
  std::uint64_t samples = 0, stack_frames = 0;  // samples kept, stackFrames members read
  // Samples left out: naming no frame of the file, or without ts or any of pid and tid.
  std::uint64_t samples_unknown_frame = 0, samples_unplaced = 0;
  std::uint64_t broken_frames = 0;  // frames made outermost: parent unknown or in a cycle
  std::uint64_t cut = 0;  // slices cut to nest
  std::uint64_t unmatched_ends = 0, unclosed_begins = 0;
  std::map<std::string, std::uint64_t> skipped;  // by phase
  bool closed_truncated_array = false;
};

// A Chrome trace read for conversion. Throws viztrace::Error with one line naming the file, as
// TraceReader::read does.
class ConvertedTrace {
 public:
  ConvertedTrace(const std::string& path, ConvertStats& stats);
  ~ConvertedTrace();
  ConvertedTrace(const ConvertedTrace&) = delete;
  ConvertedTrace& operator=(const ConvertedTrace&) = delete;

  // The processes, threads, names, instants and counters; thread slices are not in it.
  const Timeline& outline() const;
  // The whole Timeline, every slice with its args (for the HTML writer). Call once.
  Timeline timeline();
  // Writes a .pftrace: the outline, then each thread's slices on its track. Returns the bytes.
  std::uint64_t write_perfetto(ByteSink& sink);

 private:
  struct Store;
  std::unique_ptr<Store> store_;
};

// ConvertedTrace(path, stats).timeline().
Timeline read_chrome_json(const std::string& path, ConvertStats& stats);

}  // namespace viztrace::report
