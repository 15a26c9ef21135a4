#include "report/report.h"

#include <sys/stat.h>

#include <optional>

#include "core/error.h"
#include "core/fault_injection.h"
#include "report/chrome_json_writer.h"
#include "report/gzip_sink.h"
#include "report/html_writer.h"
#include "report/output_file.h"
#include "report/perfetto_writer.h"
#include "report/process_table.h"
#include "report/record_decoder.h"
#include "report/summary.h"
#include "spill/spill_reader.h"

namespace viztrace::report {
namespace {

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
  ByteSink& sink = gzip ? static_cast<ByteSink&>(*gz) : file;
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

  if (format == ReportFormat::pftrace) {
    write_perfetto(timeline_from_model(model), sink);
  } else if (format == ReportFormat::html) {
    write_html(timeline_from_model(model), sink);
  } else {
    chrome.write_processes(model);
    chrome.write_instants(model);
    chrome.end(model);
  }
  if (gz) gz->finish();
  file.commit();

  if (!options.quiet && options.summary_to) {
    std::string text = format_summary(model, options.output, file.bytes_written());
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
