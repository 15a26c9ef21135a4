// Writes a Timeline as one self-contained HTML page (report/writers/html/viewer.html, embedded at build
// time): summary tables, a canvas timeline that zooms, pans and shows details on hover, and a
// flame graph of each process's sampled stacks. No network access, nothing outside the file.
//
// The data sits once in a <script type="application/json"> element: a string table and integer
// arrays (slice starts delta-coded per track, in ns). Everything from the trace is a JSON string
// with <, >, &, U+2028 and U+2029 escaped, so no argv or name can end the script element or
// become markup; invalid UTF-8 shows as the text \xNN. The page only ever sets textContent.
#pragma once

#include <cstdint>

#include "report/writers/byte_sink.h"
#include "report/model/timeline.h"
#include "report/writers/trace_writer.h"

namespace viztrace::report {

// Returns the bytes written.
std::uint64_t write_html(const Timeline& timeline, ByteSink& sink);

// The .html format as a TraceWriter: function calls join a copy of the timeline, and the page
// is written at finish().
std::unique_ptr<TraceWriter> make_html_writer(ByteSink& sink);

}  // namespace viztrace::report
