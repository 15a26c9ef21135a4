#include "report/report.h"

#include <sys/stat.h>

#include <optional>

#include "core/error.h"
#include "core/fault_injection.h"
#include "report/chrome_json_writer.h"
#include "report/gzip_sink.h"
#include "report/output_file.h"
#include "report/process_table.h"
#include "report/record_decoder.h"
#include "report/summary.h"
#include "spill/spill_reader.h"

namespace viztrace::report {
namespace {

// ".json": false, ".json.gz": true, anything else: an error naming the path.
bool is_gzip_report(const std::string& path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() > suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".json.gz")) return true;
  if (ends_with(".json")) return false;
  struct stat st;  // a device, FIFO or terminal (/dev/stdout) gets JSON
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return false;
  throw Error("unknown report format for " + path + ": use .json or .json.gz");
}

}  // namespace

ReportResult write_report(const std::string& spill_dir, const ReportOptions& options) {
  const bool gzip = is_gzip_report(options.output);
  // Open the output first: an unwritable path fails before a long pass over the spill.
  OutputFile file(options.output);
  std::optional<GzipSink> gz;
  if (gzip) gz.emplace(file, options.output);
  ByteSink& sink = gzip ? static_cast<ByteSink&>(*gz) : file;
  JsonWriter json(sink);
  ChromeJsonWriter chrome(json);
  chrome.begin();
  inject_fault("report");

  RecordDecoder decoder;
  ProcessTable table;
  spill::SpillReader reader(spill_dir);
  reader.for_each([&](const vt_chunk_header& chunk) { decoder.decode(chunk, table); });
  TraceModel model = table.resolve(decoder, reader.damaged_bytes());

  chrome.write_processes(model);
  chrome.write_instants(model);
  chrome.end(model);
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
