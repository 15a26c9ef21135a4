// Writes a TraceModel as Chrome trace-event JSON, object form (DESIGN.md, "Report contract"):
// metadata events, one X per process image and per non-main thread, instants, the spans and
// counters programs added, and top-level metadata. ts/dur are microseconds since the session
// start with exactly three decimals.
#pragma once

#include <string>
#include <vector>

#include "report/writers/json_writer.h"
#include "report/model/trace_model.h"

namespace viztrace::report {

struct FunctionSlice;

class ChromeJsonWriter {
 public:
  explicit ChromeJsonWriter(JsonWriter& json) : json_(json) {}

  // `{"traceEvents":[`: events may follow.
  void begin();
  void write_processes(const TraceModel& model);
  void write_instants(const TraceModel& model);
  // The spans programs marked (X, cat "span") and their counters (C, on viztrace's pid: one
  // track per name, whichever process sent the samples). Needs write_processes first.
  void write_annotations(const TraceModel& model);
  // One function call named `name` (the same text every time for one f.name). Needs
  // write_processes first (it sets the origin).
  void write_function(const FunctionSlice& f, std::string_view name);
  // Closes traceEvents and writes displayTimeUnit and the top-level metadata.
  void end(const TraceModel& model);

 private:
  // Starts an event object with ph, name, pid, tid (and ts unless metadata).
  void begin_event(const char* ph, std::string_view name, std::uint32_t pid, std::uint32_t tid);
  void metadata_event(const char* name, std::uint32_t pid, std::uint32_t tid,
                      std::string_view value);
  void sort_index_event(const char* name, std::uint32_t pid, std::uint32_t tid,
                        std::uint64_t index);
  void span(const char* cat, std::uint64_t start, std::uint64_t end);
  void argv_member(const std::vector<std::string>& argv);
  void exit_status_members(const ExitStatus& status);
  void args_members(const TextArgs& text, const NumberArgs& number);
  // Names viztrace's own pid once, before the first event on it.
  void name_viztrace_process(const TraceModel& model, std::uint32_t pid);

  JsonWriter& json_;
  std::uint64_t origin_ = 0;
  bool viztrace_named_ = false;
  // `"name":"..."` of each function name id, escaped once.
  const std::string& name_member(std::uint32_t id, std::string_view name);
  std::vector<std::string> name_members_;
  std::string scratch_;  // one function event being rendered
  // `,"pid":P,"tid":T,"ts":` of the last function event: a thread's calls come in runs.
  std::uint32_t ids_pid_ = 0, ids_tid_ = 0;
  char ids_[64] = {};
  std::size_t ids_length_ = 0;
};

}  // namespace viztrace::report
