// Writes a Timeline in speedscope's file format
// (https://www.speedscope.app/file-format-schema.json; the types in speedscope's
// src/lib/file-format-spec.ts): frames shared by every profile, and a profile per thread, named
// "process (pid) / thread (tid)".
//   With sampled stacks: a "sampled" profile per thread that has samples, each sample a stack
//   of frame indexes (outermost first) weighted by the CPU time it stands for, in ns; a thread
//   whose samples do not all carry that time gets unit "none" and weight 1 each (counts).
//   Consecutive samples of one stack are written once with their weights summed.
//   Without: an "evented" profile per thread that has slices (its process and thread slices,
//   spans, function calls), open and close events in time order, in ns since the trace's
//   origin. Function calls wait in memory until finish(), 24 bytes each.
// speedscope opens it offline: drag and drop at https://www.speedscope.app (nothing is
// uploaded) or `npx speedscope FILE`.
#pragma once

#include <memory>

#include "report/writers/byte_sink.h"
#include "report/writers/trace_writer.h"

namespace viztrace::report {

std::unique_ptr<TraceWriter> make_speedscope_writer(ByteSink& sink);

}  // namespace viztrace::report
