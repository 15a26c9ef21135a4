// Writes a Timeline as Chrome trace-event JSON, object form (DESIGN.md, "Report contract"):
// metadata events naming and ordering processes and threads, one X per slice (cat: "process",
// "thread", "span", "function"), instants, counters, then the function calls streamed from the
// spill, and the top-level metadata. ts/dur are microseconds since the trace's origin with
// exactly three decimals. Function calls are rendered in one piece each, straight into the
// JSON writer's buffer: a report may hold hundreds of millions of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/writers/json_writer.h"
#include "report/writers/trace_writer.h"

namespace viztrace::report {

class ChromeJsonWriter final : public TraceWriter {
 public:
  explicit ChromeJsonWriter(ByteSink& sink) : json_(sink) {}

  void begin(const Timeline& trace, const FunctionPass* names) override;
  void call(const FunctionSlice& f) override { write_function(f, names_->name(f.name)); }
  void finish() override;

  // One function call named `name` (the same text every time for one f.name).
  void write_function(const FunctionSlice& f, std::string_view name);

 private:
  // Starts an event object with ph, name, pid, tid.
  void begin_event(const char* ph, std::string_view name, std::uint32_t pid, std::uint32_t tid);
  void metadata_event(const char* name, std::uint32_t pid, std::uint32_t tid,
                      std::string_view value);
  void sort_index_event(const char* name, std::uint32_t pid, std::uint32_t tid,
                        std::uint64_t index);
  void time_member(const char* key, std::uint64_t ts);  // µs since the origin
  void arg_value(const Arg& a);
  void args_members(const Args& args);
  void write_process(const TimelineProcess& p, std::uint64_t sort_index);
  void write_instants();
  void write_samples();
  void write_counters(const std::vector<TimelineCounter>& counters, std::uint32_t pid);
  // `"name":"..."` of each function name id, escaped once.
  const std::string& name_member(std::uint32_t id, std::string_view name);

  JsonWriter json_;
  const Timeline* trace_ = nullptr;
  const FunctionPass* names_ = nullptr;
  std::uint64_t origin_ = 0;
  std::vector<std::string> name_members_;
  std::string scratch_;  // one function event being rendered
  // `,"pid":P,"tid":T,"ts":` of the last function event: a thread's calls come in runs.
  std::uint32_t ids_pid_ = 0, ids_tid_ = 0;
  char ids_[64] = {};
  std::size_t ids_length_ = 0;
};

}  // namespace viztrace::report
