// The model of a run that every report format renders (report/writers/trace_writer.h): processes
// with their threads, each thread's slices (properly nested) and instants, counters, and args as
// small trees. Built from a TraceModel (timeline_from_model: the one place where a process's,
// image's, thread's or the session's args are made, so a new field reaches every format by one
// change there) or from any Chrome JSON trace (report/readers), so `viztrace run` and `viztrace
// convert` write the same formats. Function calls of a run are not in it: they stream from the
// spill to the writers (TraceWriter::call). Times are nanoseconds on one clock: CLOCK_MONOTONIC
// for a run, the JSON's own µs×1000 for a converted trace.
//
// New kinds of data go here, where every writer sees them: per thread (beside slices and
// instants, e.g. sampled stacks), per process (e.g. the files it read and wrote) or trace-wide
// (e.g. flows between slices), each with its rendering in every writer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "report/model/trace_model.h"

namespace viztrace::report {

// One argument of an event: a scalar, an array (items without keys) or a dict (items with keys).
struct Arg {
  // fixed3: integer / 1000, shown with exactly three decimals where the format has text
  // (milliseconds from microseconds: "utime_ms":12.340).
  enum class Kind : std::uint8_t { null, boolean, integer, real, fixed3, text, array, dict };
  Kind kind = Kind::null;
  std::string key;
  std::int64_t integer = 0;  // boolean: 0 or 1; fixed3: thousandths
  double real = 0;
  std::string text;
  std::vector<Arg> items;

  static Arg of(std::string key, std::string_view text);
  static Arg of(std::string key, const char* text) {
    return of(std::move(key), std::string_view(text));
  }
  static Arg of(std::string key, std::int64_t v);
  static Arg of(std::string key, int v) { return of(std::move(key), std::int64_t{v}); }
  static Arg of(std::string key, std::uint32_t v) { return of(std::move(key), std::int64_t{v}); }
  static Arg of(std::string key, bool v);
  static Arg real_of(std::string key, double v);
  static Arg fixed3_of(std::string key, std::uint64_t thousandths);
  static Arg null_of(std::string key);
  // The value as a double (integer, real, fixed3, boolean); 0 for the others.
  double number() const;
  static Arg array_of(std::string key, const std::vector<std::string>& texts);
  static Arg dict_of(std::string key, std::vector<Arg> items);
};
using Args = std::vector<Arg>;

enum class SliceKind : std::uint8_t { process, thread, function, span, session };

// The category a slice of this kind has in a report: "process", "thread", "function", "span",
// "viztrace" (the session).
const char* category_name(SliceKind kind);

struct TimelineSlice {
  std::uint64_t start = 0, end = 0;
  std::uint32_t name = 0;  // index into Timeline::names
  SliceKind kind = SliceKind::span;
  Args args;
};

struct TimelineInstant {
  std::uint64_t ts = 0;
  std::uint32_t name = 0;
  std::string category;  // "viztrace": made by viztrace, "mark": by the program; "" unknown
  // A trace-wide instant (Timeline::global) keeps who made it: trace pid and tid, 0 unknown.
  std::uint32_t pid = 0, tid = 0;
  Args args;
};

struct TimelineCounter {
  std::string name;
  std::vector<std::pair<std::uint64_t, double>> points;  // (ts, value), by ts
};

// A frame of a sampled stack: a function (or "module+0xoff" where no symbol covers the
// address) of an ELF file, with where DWARF says the function is.
struct TimelineFrame {
  std::uint32_t name = 0;    // Timeline::names
  std::uint32_t module = 0;  // Timeline::names: the ELF file's path; 0: unknown
  std::uint32_t file = 0;    // Timeline::names: the function's source file; 0: unknown
  std::uint32_t line = 0;    // its first line; 0: unknown
  bool inlined = false;      // inlined into the frame below it: it has no frame of its own
  bool operator==(const TimelineFrame&) const = default;
};

// The sampled stacks as a tree (Timeline::stack_nodes): node i is `frame` called from node
// `parent`. Node 0 is the root and has no frame; a stack is the node of its innermost frame.
struct StackNode {
  std::uint32_t parent = 0;
  std::uint32_t frame = 0;  // index into Timeline::frames
};

struct TimelineSample {
  std::uint64_t ts = 0;
  std::uint32_t stack = 0;      // Timeline::stack_nodes; 0: no frame known
  std::uint64_t weight_ns = 0;  // the CPU time it stands for
};

// How a run's stacks were sampled (viztrace run --sample), and what was lost.
struct SamplingInfo {
  bool requested = false;
  std::string method;       // "perf_event"; "" when sampling could not start
  std::string why_not;      // when it could not start
  std::uint32_t hz = 0;
  std::uint32_t stack_bytes = 0;  // the most user stack a sample copied
  bool user_time_only = false;    // time in the kernel was not sampled
  std::uint64_t samples = 0;      // in the report
  std::uint64_t lost = 0;         // taken and not recorded: a full ring or temp filesystem
  std::uint64_t cut_short = 0;    // unwinding stopped before the outermost frame
  std::uint64_t copy_too_small = 0;  // of those, because the stack copy ended first
  std::uint64_t unplaced = 0;     // of no process the report knows
  std::uint64_t bytes = 0;        // of sampled data the run recorded
};

struct TimelineThread {
  std::uint32_t tid = 0;
  std::string name;
  std::vector<TimelineSlice> slices;      // by start; each nests in the one open before it
  std::vector<TimelineInstant> instants;  // by ts
  std::vector<TimelineSample> samples;    // by ts
};

struct TimelineProcess {
  std::uint32_t pid = 0;   // the real pid (a reused pid is another TimelineProcess)
  // Its pid in a JSON report: pid, or pid + k * 4194304 for the k-th reuse of the pid; 0: pid.
  std::uint32_t trace_pid = 0;
  std::uint32_t ppid = 0;  // 0: unknown
  std::string name;
  std::uint64_t start = 0, end = 0;
  std::vector<std::string> argv;        // of its last program
  std::string status;                   // "exit 0", "SIGSEGV (core dumped)", "" when unknown
  bool is_target = false;               // the command viztrace ran
  std::vector<TimelineThread> threads;  // the main thread (tid == pid) first
  std::vector<TimelineCounter> counters;

  std::uint32_t json_pid() const { return trace_pid ? trace_pid : pid; }
};

struct Timeline {
  std::uint64_t origin = 0, end = 0;  // the trace's first and last moment
  std::uint64_t realtime_ns = 0;      // wall clock at origin (0: unknown)
  std::string title;                  // what the trace is of, for the HTML title
  std::string status;                 // how the traced command ended ("" when unknown)
  std::uint64_t lost = 0;             // records and chunks lost (LossCounts::total)
  std::vector<std::string> names = {""};
  std::vector<TimelineProcess> processes;  // by start
  TimelineThread global;                   // trace-wide: the session slice, global instants
  std::vector<TimelineCounter> counters;   // trace-wide: the counters programs sent
  Args metadata;                           // the JSON report's top-level metadata
  // Sampled stacks: frames (0 is unused) and the tree of stacks, shared by every thread.
  std::vector<TimelineFrame> frames = {TimelineFrame{}};
  std::vector<StackNode> stack_nodes = {StackNode{}};
  SamplingInfo sampling;

  // The index of name in names, adding it when new.
  std::uint32_t intern(std::string_view name);
  // The index of frame in frames, adding it when new.
  std::uint32_t intern_frame(const TimelineFrame& frame);
  // The node of `frame` called from node `parent`, adding it when new.
  std::uint32_t intern_stack(std::uint32_t parent, std::uint32_t frame);
  std::uint64_t sample_count() const;
  // Sorts every thread's slices and instants and makes slices nest: a slice that outlives the
  // one enclosing it is cut at its parent's end. Returns how many slices were cut.
  std::uint64_t normalize();
  std::uint64_t slice_count() const;
  std::uint64_t instant_count() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> index_;
  std::unordered_map<std::uint64_t, std::uint32_t> frame_index_;  // by name and module
  std::unordered_map<std::uint64_t, std::uint32_t> stack_index_;  // by parent and frame
};

// Sorts one thread's slices by start (parents first, stable) and makes them nest: a slice that
// outlives the one enclosing it is cut at that one's end. Any slice type with start and end.
// Returns how many were cut.
template <class Slice>
std::uint64_t sort_and_nest(std::vector<Slice>& slices) {
  auto by_start = [](const Slice& a, const Slice& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  };
  // Mostly sorted already; stable_sort would allocate even then.
  if (!std::is_sorted(slices.begin(), slices.end(), by_start))
    std::stable_sort(slices.begin(), slices.end(), by_start);
  std::uint64_t cut = 0;
  std::vector<decltype(Slice::end)> open;  // ends of the enclosing slices
  for (Slice& s : slices) {
    if (s.end < s.start) s.end = s.start;
    while (!open.empty() && open.back() <= s.start) open.pop_back();  // ended: a sibling
    if (!open.empty() && s.end > open.back()) {
      s.end = open.back();
      ++cut;
    }
    open.push_back(s.end);
  }
  return cut;
}

// Timeline::processes by their json pid (TimelineProcess::json_pid), for writers that place
// function calls.
std::unordered_map<std::uint32_t, std::size_t> processes_by_json_pid(const Timeline& tl);

// The report's content (processes, images, threads, instants, spans, counters, session
// metadata) as a Timeline, with the same names and args as the JSON report.
Timeline timeline_from_model(const TraceModel& model);

// "exit 3", "SIGKILL", "SIGSEGV (core dumped)", or "" when unknown.
std::string exit_status_text(const ExitStatus& status);

}  // namespace viztrace::report
