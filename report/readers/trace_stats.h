// What `viztrace stats` measures in any Chrome trace: per slice name the count, total, self and
// longest time; per process the wall time and, where the trace has it, CPU time; and where the
// trace has sampled stacks, each function's self and total samples, overall and in the
// processes with the most samples. One streaming pass; the state is these aggregates plus one
// SliceStack per thread, and 24 bytes per sample (report/readers/trace_samples.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "report/model/timeline.h"
#include "report/readers/slice_stack.h"
#include "report/readers/trace_reader.h"
#include "report/readers/trace_samples.h"

namespace viztrace::report {

// Times are ns.
struct NameStats {
  std::string name;
  std::uint64_t count = 0;
  std::int64_t total = 0, self = 0, max = 0;
};

struct ProcessStats {
  std::int64_t pid = 0;
  std::string name;       // process_name metadata, else its first cat:"process" span
  std::int64_t wall = 0;  // its cat:"process" spans end to end, else first to last event
  bool has_cpu = false;   // the trace gives args.utime_ms / args.stime_ms
  std::int64_t utime = 0, stime = 0;
  std::uint64_t events = 0;  // events with a timestamp (metadata not counted)
  std::uint32_t threads = 0;
};

// A function of the sampled stacks (report/model/sample_profile.h: SampledFunction).
struct SampledFunctionStats {
  std::string name;
  std::string module;  // as the trace names it (its stack frame's category); "" unknown
  std::uint64_t self = 0, total = 0;                // samples
  std::uint64_t self_weight = 0, total_weight = 0;  // ns of CPU time (0 when not given)
};

struct SampledProcessStats {
  std::int64_t pid = 0;
  std::string name;  // as ProcessStats names it
  std::uint64_t samples = 0, weight = 0;
  std::vector<SampledFunctionStats> functions;  // every function on its stacks, no order
};

struct SampleStats {
  static constexpr std::size_t kProcesses = 5;  // processes kept, those with the most samples

  std::uint64_t samples = 0, weight = 0;  // ns
  TraceSampleCounts counts;
  std::vector<SampledFunctionStats> functions;  // every function on a stack, no order
  std::uint64_t processes_total = 0;            // processes with samples
  std::vector<SampledProcessStats> processes;   // most samples first, at most kProcesses
};

struct TraceStatsResult {
  std::string path;
  TraceReader::Summary input;
  std::vector<std::pair<char, std::uint64_t>> phases;  // events per "ph", in ph order
  bool has_time = false;
  std::int64_t start = 0, end = 0;  // first and last timestamp (an X counts to its end)
  std::vector<NameStats> names;     // every name, in no particular order
  std::vector<ProcessStats> processes;
  std::uint64_t threads = 0;
  SliceStack::Counts nesting;  // summed over threads
  std::uint64_t invalid = 0;   // B/E/X without ts, X without a valid dur: ignored
  SampleStats sampled;
};

class TraceStats final : public TraceReader::Visitor, private SliceStack::Sink {
 public:
  void event(const TraceEvent& e) override;
  void sample(const TraceEvent& e) override { samples_.sample(e); }
  void stack_frame(const TraceStackFrame& f) override { samples_.frame(f); }
  // Closes what is still open and hands out the result.
  TraceStatsResult finish(const std::string& path, const TraceReader::Summary& input);

  // Reads path and measures it. Throws viztrace::Error.
  static TraceStatsResult of_file(const std::string& path);

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct ThreadKey {
    std::int64_t pid, tid;
    bool operator==(const ThreadKey&) const = default;
  };
  struct ThreadKeyHash {
    std::size_t operator()(const ThreadKey& k) const {
      return std::hash<std::int64_t>{}(k.pid * 1000003 ^ k.tid);
    }
  };
  struct Thread {
    SliceStack slices;
    std::int64_t last = INT64_MIN;
  };
  struct Process {
    ProcessStats stats;
    bool named_by_metadata = false;
    std::int64_t first = INT64_MAX, last = INT64_MIN;            // any event
    std::int64_t span_first = INT64_MAX, span_last = INT64_MIN;  // cat:"process" spans
  };

  void slice(SliceStack::NameId name, std::int64_t dur, std::int64_t self) override;
  SliceStack::NameId name_id(std::string_view name);
  SliceStack::NameId end_name(std::string_view name) const;
  static constexpr SliceStack::NameId kNeverBegun = SliceStack::kAnyName - 1;
  Process& process(std::int64_t pid);
  Thread& thread(Process& process, std::int64_t pid, std::int64_t tid);
  SampleStats sample_stats(const std::vector<ProcessStats>& processes);

  std::uint64_t phases_[256] = {};
  std::unordered_map<std::string, SliceStack::NameId, StringHash, std::equal_to<>> name_ids_;
  std::vector<NameStats> names_;
  std::unordered_map<std::int64_t, Process> processes_;
  std::unordered_map<ThreadKey, Thread, ThreadKeyHash> threads_;
  Thread* last_thread_ = nullptr;  // most events follow one of the same thread
  ThreadKey last_key_{};
  bool has_time_ = false;
  std::int64_t start_ = INT64_MAX, end_ = INT64_MIN;
  std::uint64_t invalid_ = 0;
  Timeline sampled_;  // the frames and stacks of the samples, and the processes they are of
  TraceSamples samples_{sampled_};
};

}  // namespace viztrace::report
