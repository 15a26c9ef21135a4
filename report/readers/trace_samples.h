// The sampled stacks of a Chrome trace, its top-level "stackFrames" and "samples" (as
// TraceReader::Options::samples visits them), gathered while the file is read and then made
// into a Timeline's frames, tree of stacks and samples. Any tool's spelling is read: ids as
// strings or numbers, a frame without parent (outermost), a sample without weight (0: unknown)
// or without pid (placed by its tid), frames before or after the samples. A sample naming no
// frame of the file, a parent that is unknown or closes a cycle, never crash: they are counted.
// Memory: 24 bytes per sample (kept per thread as the TimelineSamples they become, so nothing
// is copied at the end), one small entry per frame.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "report/model/timeline.h"
#include "report/readers/trace_reader.h"

namespace viztrace::report {

struct TraceSampleCounts {
  std::uint64_t samples = 0;         // kept: handed to resolve()'s place
  std::uint64_t frames = 0;          // stackFrames members read
  std::uint64_t unknown_frame = 0;   // samples whose sf names no frame of the file: left out
  std::uint64_t unplaced = 0;        // samples without ts, or without both pid and tid: left out
  std::uint64_t broken_parents = 0;  // frames whose parent is unknown or closes a cycle: made
                                     // outermost
  std::uint64_t duplicate_ids = 0;   // frames under an id seen before: the first one is kept
};

// The thread a sample names: its pid when it has one, and its tid (the pid when it has none).
struct SampleThread {
  std::int64_t pid = 0, tid = 0;
  bool has_pid = false;
  bool operator==(const SampleThread&) const = default;
};

class TraceSamples {
 public:
  // Names (of frames and modules) are interned into tl as they are read.
  explicit TraceSamples(Timeline& tl) : tl_(tl) {}

  void frame(const TraceStackFrame& frame);
  void sample(const TraceEvent& sample);

  // A thread's samples in file order: ts is the file's time in ns (an int64 in the uint64: the
  // caller places it on its timeline), stack a node of Timeline::stack_nodes (0: no sf).
  using Place =
      std::function<void(const SampleThread& thread, std::vector<TimelineSample>&& samples)>;
  // Adds the frames and stacks of the kept samples to the Timeline and hands each thread's to
  // place. Call once, after reading.
  void resolve(const Place& place);

  const TraceSampleCounts& counts() const { return counts_; }

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;
  enum class State : std::uint8_t { undefined, defined, visiting, done };
  struct Entry {
    std::uint32_t name = 0, module = 0;  // Timeline::names
    std::uint32_t parent = kNone;        // an id index
    std::uint32_t node = 0;              // once done: its node of Timeline::stack_nodes
    State state = State::undefined;
  };
  // Until resolve(), a sample's stack is the index of its sf (kNone: none).
  struct Thread {
    SampleThread where;
    std::vector<TimelineSample> samples;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct ThreadHash {
    std::size_t operator()(const SampleThread& t) const {
      return std::hash<std::int64_t>{}(t.pid * 1000003 ^ t.tid ^ (t.has_pid ? 0 : 1ll << 62));
    }
  };

  std::uint32_t id_index(std::string_view id);
  std::uint32_t thread_index(const SampleThread& t);
  // The stack node of a defined id, its parents first; breaks cycles and unknown parents.
  std::uint32_t node_of(std::uint32_t id);

  Timeline& tl_;
  TraceSampleCounts counts_;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> ids_;
  std::vector<Entry> entries_;  // by id index
  std::vector<Thread> threads_;
  std::unordered_map<SampleThread, std::uint32_t, ThreadHash> thread_ids_;
  std::uint32_t last_thread_ = kNone;
  std::vector<std::uint32_t> path_;  // node_of's walk, innermost first
};

}  // namespace viztrace::report
