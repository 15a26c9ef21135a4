// The JSON report of a synthetic spill, written by write_report and parsed, for the report tests.
#pragma once

#include <memory>
#include <vector>

#include "report/report.h"
#include "synthetic_trace.h"

namespace viztrace::test {

struct ReportRun {
  TempDir dir;
  viztrace::report::ReportResult result;
  std::unique_ptr<ParsedReport> report;

  explicit ReportRun(const std::vector<Stream::Chunk>& chunks) {
    SyntheticSpill spill(dir);
    spill.add(chunks);
    viztrace::report::ReportOptions o;
    o.output = dir.file("r.json");
    o.quiet = true;
    result = viztrace::report::write_report(spill.dir(), o);
    report = std::make_unique<ParsedReport>(read_file(o.output));
  }
  const ParsedReport& operator*() const { return *report; }
  const ParsedReport* operator->() const { return report.get(); }
};

}  // namespace viztrace::test
