// Progress of writing a large report. On a terminal: one line redrawn a few times a second
// (events done, rate, time left). Elsewhere (CI logs): nothing while it runs, one line at the
// end when it took long enough to wonder about.
#pragma once

#include <cstdint>
#include <cstdio>

namespace viztrace::report {

class Progress {
 public:
  // out: where to write (null: nowhere); total: events expected (an estimate is fine).
  Progress(std::FILE* out, std::uint64_t total, const char* what);
  void update(std::uint64_t done);
  void finish(std::uint64_t done);

 private:
  static double now_s();
  std::FILE* out_;
  bool tty_;
  std::uint64_t total_;
  const char* what_;
  double start_, last_;
  bool drawn_ = false;
};

}  // namespace viztrace::report
