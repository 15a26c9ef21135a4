#include "report/report.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_set>

#include "common/fault_injection.h"
#include "report/model/function_pass.h"
#include "report/model/process_table.h"
#include "report/model/record_decoder.h"
#include "report/model/sample_profile.h"
#include "report/model/timeline.h"
#include "report/progress.h"
#include "report/writers/report_output.h"
#include "report/writers/summary.h"
#include "report/writers/trace_writer.h"
#include "spill/spill_reader.h"

namespace viztrace::report {
namespace {

constexpr std::size_t kTopFunctions = 5;
constexpr std::size_t kBusiestProcesses = 3;
constexpr std::size_t kTopPerProcess = 3;

// Processes whose end nobody told last at least until their last function record: one more
// pass over the spill, taking the last record of each function chunk of those processes only.
void end_unfinished_after_calls(const std::string& spill_dir,
                                const std::vector<ClockSample>& clock_samples, TraceModel& model) {
  std::unordered_set<std::uint32_t> pids;
  for (const Process& p : model.processes)
    if (p.end_unknown) pids.insert(p.pid);
  if (pids.empty()) return;
  const RecordClock clock(clock_samples);
  std::vector<FunctionRecordTime> last;
  spill::SpillReader reader(spill_dir);
  reader.for_each([&](const vt_chunk_header& chunk) {
    if (chunk.kind != VT_KIND_FUNCTIONS_PACKED || !pids.count(chunk.pid)) return;
    const auto* body = reinterpret_cast<const unsigned char*>(&chunk) + sizeof chunk;
    if (std::uint64_t ts = last_record_ns(chunk, body, clock)) last.push_back({chunk.pid, ts});
  });
  end_unfinished_after(last, model);
}


// The lifecycle records of the spill as the model of the run.
TraceModel decode_spill(const std::string& spill_dir, const ReportOptions& options,
                        RecordDecoder& decoder, ProcessTable& table) {
  spill::SpillReader reader(spill_dir);
  reader.for_each([&](const vt_chunk_header& chunk) { decoder.decode(chunk, table); });
  if (options.collector_stats) table.set_collector_stats(*options.collector_stats);
  TraceModel model = table.resolve(decoder, reader.damaged_bytes());
  if (decoder.counts().function_chunks > 0)
    end_unfinished_after_calls(spill_dir, table.clock_samples(), model);
  return model;
}

// The function chunks of the spill, a second pass, through the function pass to the writer.
void stream_function_calls(const std::string& spill_dir, std::uint64_t records_in_spill,
                           FunctionPass& pass, const ReportOptions& options) {
  // Two records per call.
  Progress progress(options.quiet ? nullptr : options.summary_to, records_in_spill / 2,
                    "function calls");
  std::uint64_t records = 0;
  spill::SpillReader(spill_dir).for_each([&](const vt_chunk_header& chunk) {
    if (chunk.kind != VT_KIND_FUNCTIONS_PACKED) return;
    pass.chunk(chunk, reinterpret_cast<const unsigned char*>(&chunk) + sizeof chunk);
    records += chunk.nrec;
    if ((records & 0xffff) < chunk.nrec) progress.update(records / 2);
  });
  pass.finish();
  progress.finish(pass.counts().calls);
}

// What the sampled stacks add to the summary: the top functions of the run, and of the
// processes that took the most samples.
SampleSummary sample_summary(const Timeline& trace) {
  SampleSummary out;
  const SamplingInfo& info = trace.sampling;
  out.requested = info.requested;
  if (!info.requested) return out;
  out.method = info.method;
  out.why_not = info.why_not;
  out.hz = info.hz;
  out.samples = info.samples;
  out.cut_short = info.cut_short;
  out.copy_too_small = info.copy_too_small;
  out.stack_bytes = info.stack_bytes;
  out.user_time_only = info.user_time_only;
  auto tops = [&](const TimelineProcess* p, std::size_t n, std::uint64_t& samples) {
    std::vector<SampleSummary::Top> top;
    for (const SampledFunction& f : top_sampled_functions(trace, p, n, &samples)) {
      const TimelineFrame& frame = trace.frames[f.frame];
      top.push_back({trace.names[frame.name], frame_module(trace, frame),
                     frame_source(trace, frame), f.self, f.total});
    }
    return top;
  };
  std::uint64_t all = 0;
  out.top = tops(nullptr, kTopFunctions, all);
  std::vector<std::pair<std::uint64_t, const TimelineProcess*>> busiest;
  for (const TimelineProcess& p : trace.processes) {
    std::uint64_t n = 0;
    for (const TimelineThread& t : p.threads) n += t.samples.size();
    if (n > 0) busiest.push_back({n, &p});
  }
  std::sort(busiest.begin(), busiest.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  // Per process only when there is more than one to tell apart.
  if (busiest.size() > 1) {
    busiest.resize(std::min<std::size_t>(busiest.size(), kBusiestProcesses));
    for (const auto& [n, p] : busiest) {
      std::uint64_t samples = 0;
      std::vector<SampleSummary::Top> top = tops(p, kTopPerProcess, samples);
      out.processes.push_back({p->name, p->pid, samples, std::move(top)});
    }
  }
  return out;
}

void print_summary(const TraceModel& model, const Timeline& trace, const FunctionPass& pass,
                   const ReportOptions& options, std::uint64_t bytes) {
  FunctionSummary functions;
  functions.calls = pass.counts().calls;
  for (const FunctionTotals& t : pass.top(kTopFunctions))
    functions.top.push_back({pass.name(t.name), t.count, t.total_ns, t.self_ns,
                             pass.source(t.name)});
  if (options.collector_stats) functions.waited_ns = options.collector_stats->fn_waited_ns;
  functions.unreadable_chunks = pass.counts().malformed_chunks;
  functions.unmatched_returns = pass.counts().unmatched_returns;
  functions.unmapped = pass.counts().unmapped;
  std::string text = format_summary(model, options.output, bytes, functions,
                                    sample_summary(trace));
  std::fputs(text.c_str(), options.summary_to);
  std::fflush(options.summary_to);
}

ReportResult result_of(const TraceModel& model) {
  ReportResult result;
  result.processes = model.processes.size();
  result.threads = model.thread_count();
  result.events = model.events;
  result.lost = model.lost.total();
  if (model.target && model.processes[*model.target].wait_status) {
    result.target_known = true;
    result.target_wait_status = *model.processes[*model.target].wait_status;
  }
  return result;
}

}  // namespace

ReportResult write_report(const std::string& spill_dir, const ReportOptions& options) {
  const ReportFormat& format = report_format(options.output);
  // Open the output first: an unwritable path fails before a long pass over the spill.
  ReportOutput out(options.output, format);
  RecordDecoder decoder;
  ProcessTable table;
  TraceModel model = decode_spill(spill_dir, options, decoder, table);
  Timeline trace = timeline_from_model(model);
  const std::optional<vt_stats>& stats = table.collector_stats();
  const ModuleMap modules = table.modules();
  add_samples(spill_dir, stats ? &*stats : nullptr, modules, trace);
  model.lost.samples_lost = trace.sampling.lost;

  std::unique_ptr<TraceWriter> writer = format.make(out.sink());
  FunctionPass::Sink calls;
  if (!writer->call_events()) calls = [&](const FunctionSlice& f) { writer->call(f); };
  FunctionPass pass(model, modules, table.clock_samples(), options.filter, std::move(calls));
  pass.set_events(writer->call_events());
  writer->begin(trace, &pass);
  inject_fault("report");
  if (decoder.counts().function_chunks > 0)
    stream_function_calls(spill_dir, decoder.counts().function_records, pass, options);
  writer->finish();
  const std::uint64_t bytes = out.commit();

  if (!options.quiet && options.summary_to) print_summary(model, trace, pass, options, bytes);
  return result_of(model);
}

}  // namespace viztrace::report
