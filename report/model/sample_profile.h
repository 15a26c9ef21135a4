// The sampled stacks of a run (viztrace run --sample) added to its Timeline: the session dir's
// samples file (spill/sample_file.h) is read, each sample unwound (report/model/unwinder.h)
// and symbolized (report/model/symbolizer.h), and put on its thread, as a node of the
// Timeline's tree of stacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/wire.h"
#include "report/model/module_map.h"
#include "report/model/timeline.h"

namespace viztrace::report {

// Does nothing when the run was not sampled. stats: the collector's counts, null when it did
// not finish (a recovered session); modules: those the processes announced (the shim's timer
// samples are unwound through them). Throws viztrace::Error when the file is of another
// version.
void add_samples(const std::string& spill_dir, const vt_stats* stats, const ModuleMap& modules,
                 Timeline& tl);

// A function's share of the samples.
struct SampledFunction {
  std::uint32_t frame = 0;  // Timeline::frames
  std::uint64_t self = 0;   // samples in which it was the innermost frame
  std::uint64_t total = 0;  // samples in which it was anywhere on the stack
  std::uint64_t self_weight = 0, total_weight = 0;  // the CPU ns those samples stand for
};

// Every function on the stacks of the samples of `process`, or of every process when it is
// null, in no order; and how many samples that was, and their weight.
std::vector<SampledFunction> sampled_functions(const Timeline& tl, const TimelineProcess* process,
                                               std::uint64_t* samples = nullptr,
                                               std::uint64_t* weight = nullptr);

// The n functions with the most self samples (then total) among the samples of `process`, or
// of every process when it is null; and how many samples that was.
std::vector<SampledFunction> top_sampled_functions(const Timeline& tl,
                                                   const TimelineProcess* process, std::size_t n,
                                                   std::uint64_t* samples = nullptr);

// "name  (module)  file:line" parts of a frame, for the summary and stats: the module's base
// name, "" when unknown; the source as "file:line", "" when unknown.
std::string frame_module(const Timeline& tl, const TimelineFrame& frame);
std::string frame_source(const Timeline& tl, const TimelineFrame& frame);

}  // namespace viztrace::report
