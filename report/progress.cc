#include "report/progress.h"

#include <time.h>
#include <unistd.h>

namespace viztrace::report {
namespace {

constexpr double kRedrawS = 0.25;
constexpr double kFirstDrawS = 1.0;  // short reports never draw
constexpr double kWorthALineS = 2.0;

}  // namespace

double Progress::now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Progress::Progress(std::FILE* out, std::uint64_t total, const char* what)
    : out_(out), tty_(out && isatty(fileno(out))), total_(total), what_(what) {
  start_ = last_ = now_s();
}

void Progress::update(std::uint64_t done) {
  if (!tty_) return;
  double t = now_s();
  if (t - last_ < kRedrawS || t - start_ < kFirstDrawS) return;
  last_ = t;
  double rate = static_cast<double>(done) / (t - start_);
  double left = rate > 0 && total_ > done ? static_cast<double>(total_ - done) / rate : 0;
  std::fprintf(out_, "\r\033[Kviztrace: writing %s: %llu of ~%llu (%.1f M/s), %.0f s left",
               what_, static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total_), rate / 1e6, left);
  std::fflush(out_);
  drawn_ = true;
}

void Progress::finish(std::uint64_t done) {
  if (!out_) return;
  double t = now_s() - start_;
  if (drawn_) {
    std::fputs("\r\033[K", out_);
  } else if (tty_ || t < kWorthALineS) {
    return;
  }
  if (t >= kWorthALineS || drawn_)
    std::fprintf(out_, "viztrace: wrote %llu %s in %.1f s (%.1f M/s)\n",
                 static_cast<unsigned long long>(done), what_, t,
                 t > 0 ? static_cast<double>(done) / t / 1e6 : 0.0);
  std::fflush(out_);
}

}  // namespace viztrace::report
