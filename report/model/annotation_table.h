// Spans, marks and counters that programs add (include/viztrace.h) and `viztrace mark|span|
// counter`: kept while the spill is read, then matched and placed once the processes are known.
//
// Spans match per writing thread (pid, tid, image) in time order, so a span ended from a signal
// handler, whose chunk may arrive before the one it interrupted, still pairs with its begin. An
// end without an open span is ignored and counted; spans still open when their thread ends (or,
// on the main thread, when the program ends or execs) are closed there and marked unfinished.
// Spans are kept inside their thread's or program's slice, so that they nest.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/wire.h"
#include "report/model/record_decoder.h"
#include "report/model/trace_model.h"

namespace viztrace::report {

class AnnotationTable {
 public:
  // Takes a SPAN_BEGIN, SPAN_END, MARK or COUNTER record of a traced process; false for others.
  bool record(const vt_chunk_header& chunk, const vt_record& record, const RecordStrings& strings);

  // The process that had real pid `pid` at ts (else the nearest one), or null.
  using ProcessAt = std::function<const Process*(std::uint32_t pid, std::uint64_t ts)>;
  // Fills model.spans, adds marks to model.instants (unsorted), fills model.counters and
  // model.annotations.
  void resolve(const ProcessAt& process_at, TraceModel& model) const;

 private:
  struct Event {
    std::uint16_t type;
    std::uint32_t aux;
    std::uint64_t ts, order;
    std::uint32_t pid, tid, image;
    double value;      // COUNTER
    std::string name;  // NAME
    std::string args;  // ARGS, items NUL-terminated
  };
  std::vector<Event> events_;
};

// Adds one "key=value" item to args: a value that is a decimal integer (in canonical form, such
// as "-12" but not "012") becomes a number, any other a text. A key given again replaces the
// earlier value; an item without '=' is a key with an empty text.
void add_annotation_arg(std::string_view item, TextArgs& text, NumberArgs& number);

}  // namespace viztrace::report
