#include "report/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "common/fault_injection.h"
#include "report/writers/chrome_json_writer.h"
#include "report/model/function_pass.h"
#include "report/writers/gzip_sink.h"
#include "report/writers/html_writer.h"
#include "report/writers/output_file.h"
#include "report/writers/perfetto_writer.h"
#include "report/model/process_table.h"
#include "report/progress.h"
#include "report/model/record_decoder.h"
#include "report/writers/summary.h"
#include "report/writers/threaded_sink.h"
#include "report/model/timeline.h"
#include "spill/spill_reader.h"

namespace viztrace::report {
namespace {

constexpr std::size_t kTopFunctions = 5;

// A function call as a slice of its thread in the timeline the Perfetto and HTML writers take.
void add_function_slice(Timeline& tl, const std::unordered_map<std::uint32_t, std::size_t>& procs,
                        std::vector<std::uint32_t>& names, const FunctionPass& pass,
                        const FunctionSlice& f) {
  auto it = procs.find(f.pid);
  if (it == procs.end() || it->second >= tl.processes.size()) return;
  TimelineProcess& tp = tl.processes[it->second];
  auto t = std::find_if(tp.threads.begin(), tp.threads.end(),
                        [&](const TimelineThread& x) { return x.tid == f.tid; });
  if (t == tp.threads.end()) {
    t = tp.threads.emplace(tp.threads.end());
    t->tid = f.tid;
    t->name = "thread " + std::to_string(f.tid);
  }
  if (names.size() <= f.name) names.resize(f.name + 1, UINT32_MAX);
  if (names[f.name] == UINT32_MAX) names[f.name] = tl.intern(pass.name(f.name));
  TimelineSlice& s = t->slices.emplace_back();
  s.start = std::max(f.start, tl.origin);  // timeline times are absolute, as the model's
  s.end = std::max(f.end, tl.origin);
  s.name = names[f.name];
  s.kind = SliceKind::function;
  if (f.unfinished) s.args.push_back(Arg::of("unfinished", true));
}

// Function calls streamed onto the thread tracks of a Perfetto report, in time order per thread.
class PerfettoCalls final : public FunctionEvents {
 public:
  PerfettoCalls(PerfettoTimelineWriter& out, const Timeline& tl,
                const std::unordered_map<std::uint32_t, std::size_t>& procs,
                const FunctionPass& pass)
      : out_(out), w_(out.writer()), tl_(tl), procs_(procs), pass_(pass) {}

  std::uint32_t thread(std::uint32_t pid, std::uint32_t tid) override {
    auto it = procs_.find(pid);
    if (it == procs_.end() || it->second >= tl_.processes.size()) return 0;  // dropped
    return out_.thread_sequence(it->second, tid);
  }
  void begin(std::uint32_t seq, std::uint64_t ts, std::uint32_t name) override {
    if (seq == 0) return;
    const PerfettoWriter::SourceLocation source{pass_.source_file(name), pass_.source_line(name)};
    w_.begin_event(seq, std::max(ts, tl_.origin), PerfettoWriter::kSliceBegin, pass_.name(name), 0,
                   {}, name, &source);
    w_.end_event();
  }
  void end(std::uint32_t seq, std::uint64_t ts, bool unfinished) override {
    if (seq == 0) return;
    w_.begin_event(seq, std::max(ts, tl_.origin), PerfettoWriter::kSliceEnd, {});
    if (unfinished) w_.arg("unfinished", true);
    w_.end_event();
  }

 private:
  PerfettoTimelineWriter& out_;
  PerfettoWriter& w_;
  const Timeline& tl_;
  const std::unordered_map<std::uint32_t, std::size_t>& procs_;
  const FunctionPass& pass_;
};

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
    if ((chunk.kind != VT_KIND_FUNCTIONS && chunk.kind != VT_KIND_FUNCTIONS_PACKED) ||
        !pids.count(chunk.pid))
      return;
    const auto* body = reinterpret_cast<const unsigned char*>(&chunk) + sizeof chunk;
    if (std::uint64_t ts = last_record_ns(chunk, body, clock)) last.push_back({chunk.pid, ts});
  });
  end_unfinished_after(last, model);
}

}  // namespace

ReportFormat report_format(const std::string& path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() > suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".json.gz")) return ReportFormat::json_gz;
  if (ends_with(".json")) return ReportFormat::json;
  if (ends_with(".pftrace")) return ReportFormat::pftrace;
  if (ends_with(".html")) return ReportFormat::html;
  struct stat st;  // a device, FIFO or terminal (/dev/stdout) gets JSON
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return ReportFormat::json;
  throw Error("unknown report format for " + path + ": use .json, .json.gz, .pftrace or .html");
}

ReportResult write_report(const std::string& spill_dir, const ReportOptions& options) {
  const ReportFormat format = report_format(options.output);
  const bool gzip = format == ReportFormat::json_gz;
  const bool json_format = format == ReportFormat::json || gzip;
  // Open the output first: an unwritable path fails before a long pass over the spill.
  OutputFile file(options.output);
  std::optional<GzipSink> gz;
  if (gzip) gz.emplace(file, options.output);
  // Compression runs on a thread of its own, beside the formatting. (Plain output is written
  // from the writers' own buffers: handing them over would cost a copy that the write saves.)
  std::optional<ThreadedSink> threaded;
  if (gzip) threaded.emplace(*gz);
  ByteSink& sink = threaded ? static_cast<ByteSink&>(*threaded) : file;
  JsonWriter json(sink);
  ChromeJsonWriter chrome(json);
  if (json_format) chrome.begin();
  inject_fault("report");

  RecordDecoder decoder;
  ProcessTable table;
  spill::SpillReader reader(spill_dir);
  reader.for_each([&](const vt_chunk_header& chunk) { decoder.decode(chunk, table); });
  if (options.collector_stats) table.set_collector_stats(*options.collector_stats);
  TraceModel model = table.resolve(decoder, reader.damaged_bytes());
  if (decoder.counts().function_chunks > 0)
    end_unfinished_after_calls(spill_dir, table.clock_samples(), model);

  // Function calls: a second pass over the spill, streamed into the JSON writer and onto the
  // Perfetto report's thread tracks (after the rest of the timeline); the HTML writer takes them
  // into its timeline.
  std::optional<Timeline> timeline;
  std::optional<PerfettoTimelineWriter> perfetto;
  if (!json_format) timeline = timeline_from_model(model);
  if (format == ReportFormat::pftrace) {
    timeline->normalize();
    perfetto.emplace(*timeline, sink);
    perfetto->write();
  }
  if (json_format) {
    chrome.write_processes(model);
    chrome.write_instants(model);
    chrome.write_annotations(model);
  }
  std::unordered_map<std::uint32_t, std::size_t> by_json_pid;
  for (std::size_t i = 0; i < model.processes.size(); ++i)
    by_json_pid.emplace(model.processes[i].json_pid, i);
  std::vector<std::uint32_t> timeline_names;  // function name id -> timeline name id
  FunctionPass* pass_ptr = nullptr;
  FunctionPass::Sink slices;
  if (json_format)
    slices = [&](const FunctionSlice& f) {
      chrome.write_function(f, pass_ptr->name(f.name));
    };
  else if (format == ReportFormat::html)
    slices = [&](const FunctionSlice& f) {
      add_function_slice(*timeline, by_json_pid, timeline_names, *pass_ptr, f);
    };
  const ModuleMap modules = table.modules();
  FunctionPass pass(model, modules, table.clock_samples(), options.filter, std::move(slices));
  pass_ptr = &pass;
  std::optional<PerfettoCalls> calls;
  if (perfetto) {
    calls.emplace(*perfetto, *timeline, by_json_pid, pass);
    pass.set_events(&*calls);
  }
  if (decoder.counts().function_chunks > 0) {
    // Two records per call.
    Progress progress(options.quiet ? nullptr : options.summary_to,
                      decoder.counts().function_records / 2, "function calls");
    spill::SpillReader functions(spill_dir);
    std::uint64_t records = 0;
    functions.for_each([&](const vt_chunk_header& chunk) {
      if (chunk.kind != VT_KIND_FUNCTIONS && chunk.kind != VT_KIND_FUNCTIONS_PACKED) return;
      pass.chunk(chunk, reinterpret_cast<const unsigned char*>(&chunk) + sizeof chunk);
      records += chunk.nrec;
      if ((records & 0xffff) < chunk.nrec) progress.update(records / 2);
    });
    pass.finish();
    progress.finish(pass.counts().calls);
  }
  if (perfetto) {
    perfetto->finish();
  } else if (format == ReportFormat::html) {
    timeline->normalize();
    write_html(*timeline, sink);
  } else {
    chrome.end(model);
  }
  if (threaded) threaded->finish();
  if (gz) gz->finish();
  file.commit();

  if (!options.quiet && options.summary_to) {
    FunctionSummary functions;
    functions.calls = pass.counts().calls;
    for (const FunctionTotals& t : pass.top(kTopFunctions))
      functions.top.push_back({pass.name(t.name), t.count, t.total_ns, t.self_ns,
                               pass.source(t.name)});
    if (options.collector_stats) functions.waited_ns = options.collector_stats->fn_waited_ns;
    functions.unreadable_chunks = pass.counts().malformed_chunks;
    functions.unmatched_returns = pass.counts().unmatched_returns;
    functions.unmapped = pass.counts().unmapped;
    std::string text = format_summary(model, options.output, file.bytes_written(), functions);
    std::fputs(text.c_str(), options.summary_to);
    std::fflush(options.summary_to);
  }

  ReportResult result;
  result.processes = model.processes.size();
  result.threads = model.thread_count();
  result.events = model.events;
  result.lost = model.lost.total();
  if (model.target) {
    const Process& target = model.processes[*model.target];
    if (target.wait_status) {
      result.target_known = true;
      result.target_wait_status = *target.wait_status;
    }
  }
  return result;
}

}  // namespace viztrace::report
