// What every report format implements, and the table that picks one by the output's extension.
//
// A writer gets the model of the run (a Timeline: processes, threads, their slices, instants,
// counters and args) in begin(), then the function calls as they stream from the spill, then
// finish(). write_report (report/report.cc) and `viztrace convert` drive every format the same
// way, so a new format is one class implementing TraceWriter and one entry in kReportFormats
// (report/writers/report_formats.cc).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "report/model/function_pass.h"
#include "report/model/timeline.h"
#include "report/writers/byte_sink.h"

namespace viztrace::report {

class TraceWriter {
 public:
  virtual ~TraceWriter() = default;

  // The run without its function calls. names: the names and sources of the calls that follow
  // (nullptr: none follow); both stay valid until finish().
  virtual void begin(const Timeline& trace, const FunctionPass* names) = 0;
  // A call that returned (json pid, real tid): each thread's calls in the order they return.
  virtual void call(const FunctionSlice& f) { (void)f; }
  // A writer that needs each thread's calls in time order (begin and end) takes them here
  // instead of through call(); nullptr: it does not.
  virtual FunctionEvents* call_events() { return nullptr; }
  // Writes what is left into the sink.
  virtual void finish() = 0;
};

struct ReportFormat {
  std::string_view extension;  // ".json.gz"
  bool gzip;                   // the writer's bytes are compressed on their way out
  std::unique_ptr<TraceWriter> (*make)(ByteSink& sink);
};

// The format of an output path by its extension (a device, FIFO or terminal such as /dev/stdout
// gets JSON). Throws viztrace::Error("unknown report format for <path>: use .json, ...").
const ReportFormat& report_format(const std::string& path);

}  // namespace viztrace::report
