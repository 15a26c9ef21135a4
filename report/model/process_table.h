// Builds processes, their images and threads from lifecycle records, and places the spans, marks
// and counters programs added (AnnotationTable). Records of different
// processes arrive interleaved in any order (a child's PROC_START may precede its parent's FORK
// record), so the table keeps every fact per pid and resolves them once the spill has been read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "report/model/annotation_table.h"
#include "report/model/function_pass.h"
#include "report/model/lifecycle_fact.h"
#include "report/model/module_map.h"
#include "report/model/record_decoder.h"
#include "report/model/trace_model.h"

namespace viztrace::report {

// A function record's time: the latest of a chunk of process pid's records.
struct FunctionRecordTime {
  std::uint32_t pid;
  std::uint64_t ts;
};

// Processes whose end is unknown end no earlier than their last function record (a thread's
// ring keeps what it wrote after the process's last lifecycle record reached viztrace).
void end_unfinished_after(const std::vector<FunctionRecordTime>& records, TraceModel& model);

class ProcessTable final : public RecordVisitor {
 public:
  void record(const vt_chunk_header& chunk, const vt_record& record,
              const RecordStrings& strings) override;

  // The model of everything recorded. spill_damaged_bytes: what the spill reader skipped.
  TraceModel resolve(const RecordDecoder& decoder, std::uint64_t spill_damaged_bytes) const;
  // The collector's final counts, handed over in memory: they win over a STATS record, which a
  // full disk may have kept out of the spill.
  void set_collector_stats(const vt_stats& stats) { stats_ = stats; }
  // The collector's final counts: given, or from the spill; none when it was killed.
  const std::optional<vt_stats>& collector_stats() const { return stats_; }

  // What function tracing needs: the modules each process image reported, and the collector's
  // (CLOCK_MONOTONIC, TSC) pairs.
  ModuleMap modules() const { return modules_.modules(); }
  const std::vector<ClockSample>& clock_samples() const { return clock_samples_; }

 private:
  void add(std::uint32_t subject, LifecycleFact&& fact);

  struct SpawnFailure {
    std::uint64_t ts;
    std::uint32_t pid, tid;
    bool from_collector;
    int error;
    std::string path;
    std::vector<std::string> argv;
  };
  struct Signal {
    std::uint64_t ts;
    int signal;
    std::int32_t forwarded_to;
  };

  std::unordered_map<std::uint32_t, std::vector<LifecycleFact>> facts_;  // by subject pid
  Session session_;
  std::optional<vt_stats> stats_;
  std::vector<SpawnFailure> spawn_failures_;
  std::vector<Signal> signals_;
  std::uint64_t order_ = 0;
  ModuleHistory modules_;
  std::vector<ClockSample> clock_samples_;
  AnnotationTable annotations_;
};

}  // namespace viztrace::report
