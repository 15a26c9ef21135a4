#include <sys/stat.h>

#include "common/error.h"
#include "report/writers/chrome_json_writer.h"
#include "report/writers/html_writer.h"
#include "report/writers/perfetto_writer.h"
#include "report/writers/speedscope_writer.h"
#include "report/writers/trace_writer.h"

namespace viztrace::report {
namespace {

std::unique_ptr<TraceWriter> make_json_writer(ByteSink& sink) {
  return std::make_unique<ChromeJsonWriter>(sink);
}

constexpr ReportFormat kReportFormats[] = {
    {".json", false, make_json_writer},
    {".json.gz", true, make_json_writer},
    {".pftrace", false, make_perfetto_writer},
    {".html", false, make_html_writer},
    {".speedscope.json", false, make_speedscope_writer},
};

}  // namespace

const ReportFormat& report_format(const std::string& path) {
  const ReportFormat* found = nullptr;  // the longest extension that ends the path
  for (const ReportFormat& f : kReportFormats)
    if (path.size() > f.extension.size() && path.ends_with(f.extension) &&
        (!found || f.extension.size() > found->extension.size()))
      found = &f;
  if (found) return *found;
  struct stat st;  // a device, FIFO or terminal (/dev/stdout) gets JSON
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return kReportFormats[0];
  std::string known;
  for (const ReportFormat& f : kReportFormats)
    known += (known.empty() ? "" : &f == std::end(kReportFormats) - 1 ? " or " : ", ") +
             std::string(f.extension);
  throw Error("unknown report format for " + path + ": use " + known);
}

}  // namespace viztrace::report
