// Writes Perfetto's native trace format (a `.pftrace`: TracePackets, reference §2) by hand, with
// no protobuf runtime: process and thread TrackDescriptors (a fresh uuid per process
// incarnation, so a reused pid stays apart), TrackEvent slices as SLICE_BEGIN/SLICE_END,
// instants, counters, and debug annotations for args.
//
// One packet sequence per thread: its first packet clears the incremental state and sets the
// defaults (clock, the thread's track), which every later event packet uses. Event packets leave
// out SEQ_NEEDS_INCREMENTAL_STATE: the flag only lets a reader skip packets whose state a ring
// buffer lost, which cannot happen to a file written whole, and it would cost 2 bytes per event.
// Function slices carry no category either (the JSON's "function"): they are the thread tracks'
// slices without one, 2 bytes per call less. Event names are
// interned per sequence, so a name repeated a million times is stored once and costs 1-3 bytes
// per event. Timestamps are CLOCK_MONOTONIC nanoseconds, the trace's clock. A sequence writes
// them either absolute (Encoding::absolute: its defaults name CLOCK_MONOTONIC) or as the delta
// from its previous event (Encoding::incremental: a sequence-scoped incremental clock that a
// ClockSnapshot ties to CLOCK_MONOTONIC), 1-3 bytes instead of 6-8: worth its ~25-byte
// snapshot from about ten events on.
//
// Sampled stacks are Perfetto's profile data: a PerfSample packet per sample (pid, tid, the
// callstack's iid), its callstack, frames, mappings and strings interned on the sequence in the
// packet that first uses them.
//
// Events and samples of one sequence must come in time order (an earlier one is written at the
// last time written); sequences may interleave. Memory: the buffer, plus each open sequence's
// interned names and stacks.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "report/writers/byte_sink.h"
#include "report/writers/proto_encoder.h"
#include "report/model/timeline.h"
#include "report/writers/trace_writer.h"

namespace viztrace::report {

class PerfettoWriter {
 public:
  enum class Encoding { incremental, absolute };
  enum EventType : std::uint32_t { kSliceBegin = 1, kSliceEnd = 2, kInstant = 3, kCounter = 4 };
  using Sequence = std::uint32_t;

  static constexpr std::uint32_t kNoId = UINT32_MAX;
  // Where the code of an event is: shown with the slice ("source.file_name" and
  // "source.line_number" in Perfetto), interned per sequence like names.
  struct SourceLocation {
    std::string_view file;
    std::uint32_t line = 0;
  };

  explicit PerfettoWriter(ByteSink& sink);
  PerfettoWriter(const PerfettoWriter&) = delete;
  PerfettoWriter& operator=(const PerfettoWriter&) = delete;

  // The first packet: CLOCK_MONOTONIC is the trace's clock; realtime_ns (0: unknown) is the
  // wall clock at monotonic_ns. Every timestamp written must be >= monotonic_ns.
  void begin(std::uint64_t monotonic_ns, std::uint64_t realtime_ns);
  // Hands everything buffered to the sink.
  void finish();

  std::uint64_t new_uuid() { return next_uuid_++; }
  // A new packet sequence whose events go to default_track unless told otherwise (0: none, for
  // a sequence without track events).
  Sequence new_sequence(std::uint64_t default_track, Encoding encoding = Encoding::incremental);
  // Forgets a sequence's interned names (its events are all written).
  void end_sequence(Sequence seq);

  // Track descriptors: write each before the events on it.
  void process_track(Sequence seq, std::uint64_t uuid, std::uint32_t pid, std::string_view name);
  void thread_track(Sequence seq, std::uint64_t uuid, std::uint64_t process_uuid, std::uint32_t pid,
                    std::uint32_t tid, std::string_view name);
  // A track of its own (parent 0: top level), for trace-wide events.
  void named_track(Sequence seq, std::uint64_t uuid, std::uint64_t parent_uuid,
                   std::string_view name);
  void counter_track(Sequence seq, std::uint64_t uuid, std::uint64_t parent_uuid,
                     std::string_view name);

  // An event with args: begin_event, then arg_* calls, then end_event. track 0: the sequence's
  // default track. name is ignored for kSliceEnd; category "" writes none. Names and
  // categories are interned; name_id, when given, is a number that stands for name alone (its
  // index in a string table) and spares hashing the string. source (only with a name_id,
  // and the same for every event with that id) is where the named code is.
  void begin_event(Sequence seq, std::uint64_t ts, EventType type, std::string_view name,
                   std::uint64_t track = 0, std::string_view category = {},
                   std::uint32_t name_id = kNoId, const SourceLocation* source = nullptr);
  void end_event();
  void slice_end(Sequence seq, std::uint64_t ts, std::uint64_t track = 0) {
    begin_event(seq, ts, kSliceEnd, {}, track);
    end_event();
  }
  void counter(Sequence seq, std::uint64_t ts, double value, std::uint64_t track = 0);

  // A sampled stack of thread tid of process pid: stack is a node of tl.stack_nodes (0: no frame
  // known, a sample without callstack). What of it seq has not interned yet goes in the same
  // packet: the callstack (frames outermost first), its frames (function, mapping, source), the
  // mappings (one per module path) and the strings.
  void sample(Sequence seq, std::uint64_t ts, std::uint32_t pid, std::uint32_t tid,
              const Timeline& tl, std::uint32_t stack);

  // Debug annotations of the open event; inside an array the key is ignored.
  void arg(std::string_view key, std::string_view text);
  void arg(std::string_view key, std::int64_t v);
  void arg(std::string_view key, bool v);
  void arg_real(std::string_view key, double v);
  void begin_dict_arg(std::string_view key);
  void begin_array_arg(std::string_view key);
  void end_arg();          // closes the dict or array
  void arg(const Arg& a);  // a whole tree

  std::uint64_t bytes() const { return flushed_ + enc_.size(); }
  std::uint64_t packets() const { return packets_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The profile data interned on a sequence: iids by the Timeline's index (0: not yet).
  struct ProfileState {
    std::vector<std::uint32_t> callstacks;  // by stack node
    std::vector<std::uint32_t> frames;      // by frame
    std::vector<std::uint32_t> functions;   // by name
    std::vector<std::uint32_t> mappings;    // by module name (0: the unknown module)
    std::vector<std::uint32_t> sources;     // by file name
    std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> path_parts;
    std::uint32_t callstack_count = 0, frame_count = 0, function_count = 0, mapping_count = 0,
                  source_count = 0;
  };
  struct SequenceState {
    std::uint64_t default_track = 0;
    bool incremental = false;
    std::uint64_t last_ts = 0;             // incremental: what the next delta is from
    std::vector<std::uint32_t> iid_by_id;  // name_id -> iid (0: not interned yet)
    // name_id -> the iid of its source location (0: not interned yet), and how many there are
    std::vector<std::uint32_t> source_iid_by_id;
    std::uint32_t sources = 0;
    std::string last_category;             // the category most recently interned, and its iid
    std::uint64_t last_category_iid = 0;
    std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> names, categories;
    ProfileState profile;
  };

  SequenceState& state(Sequence seq);
  void begin_packet(Sequence seq);
  void end_packet();
  std::uint64_t timestamp(SequenceState& s, std::uint64_t ts);
  // The iid of text in map; fresh tells whether it was new (its string must be written now).
  static std::uint64_t intern(
      std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>>& map,
      std::string_view text, bool& fresh);
  void begin_annotation(std::string_view key);
  void push_context(char c);
  void descriptor_name(std::string_view name);
  // Writes the interned data that stack `stack` (iid) needs and seq's profile lacks.
  void intern_callstack(ProfileState& p, const Timeline& tl, std::uint32_t stack,
                        std::uint32_t iid);

  ByteSink& sink_;
  ProtoEncoder enc_;
  std::deque<SequenceState> sequences_;  // sequence id s is sequences_[s - 1]
  std::uint64_t origin_ = 0;
  std::uint64_t next_uuid_ = 1;
  std::uint64_t flushed_ = 0, packets_ = 0;
  // What the open annotations are nested in: 'e' event, 'd' dict, 'a' array; 0 entries: no event.
  char context_[ProtoEncoder::kMaxDepth] = {};
  int context_depth_ = 0;
  // Scratch of intern_callstack: the stack's nodes, and what it interns anew.
  std::vector<std::uint32_t> chain_, new_frames_, new_functions_, new_mappings_, new_sources_;
  std::vector<std::pair<std::uint64_t, std::string_view>> new_parts_;
};

// The category of a slice of this kind in a .pftrace: function calls and spans are their
// track's own slices and have none (2 bytes per event less).
std::string_view perfetto_category(SliceKind kind);

// Writes a whole Timeline: the trace-wide track "viztrace" (the session slice with the
// metadata, global instants), then per process its track and per thread a sequence with its
// track, slices and instants, then counters, then every thread's samples on one sequence in
// time order (Perfetto makes one profiling session of a sequence: its threads' "callstacks"
// tracks and the flame graph of a selected range). Encoding::incremental: incremental where it
// pays (a sequence of many events), absolute elsewhere; Encoding::absolute: absolute everywhere.
//
// After write(), more events may follow on the timeline's thread tracks, each thread's on a
// sequence of its own (function calls, streamed: Perfetto orders a track's events by time).
class PerfettoTimelineWriter {
 public:
  PerfettoTimelineWriter(const Timeline& timeline, ByteSink& sink,
                         PerfettoWriter::Encoding encoding = PerfettoWriter::Encoding::incremental);
  void write();
  // A new incremental sequence on the track of thread tid of timeline.processes[process],
  // which is described first if the timeline has no such thread.
  PerfettoWriter::Sequence thread_sequence(std::size_t process, std::uint32_t tid);
  PerfettoWriter& writer() { return w_; }
  // Returns the bytes written.
  std::uint64_t finish();

 private:
  void write_samples();

  const Timeline& tl_;
  PerfettoWriter w_;
  PerfettoWriter::Encoding encoding_;
  std::vector<std::uint64_t> process_uuids_;  // by process index
  std::unordered_map<std::uint64_t, std::uint64_t> thread_uuids_;  // (index << 32 | tid) -> uuid
};

// PerfettoTimelineWriter's write() and finish(). Returns the bytes written.
std::uint64_t write_perfetto(
    const Timeline& timeline, ByteSink& sink,
    PerfettoWriter::Encoding encoding = PerfettoWriter::Encoding::incremental);

// The .pftrace format as a TraceWriter: the timeline first, then each thread's function calls on
// a sequence of its own, in time order.
std::unique_ptr<TraceWriter> make_perfetto_writer(ByteSink& sink);

}  // namespace viztrace::report
