#include "report/readers/stats_table.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "report/writers/json_writer.h"
#include "report/model/utf8.h"

namespace viztrace::report {
namespace {

// Appends into a string (the JSON output is small: one row per shown name and process).
class StringSink final : public ByteSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(const char* data, std::size_t n) override { out_.append(data, n); }

 private:
  std::string& out_;
};

std::string_view form_name(TraceScanner::Form form) {
  switch (form) {
    case TraceScanner::Form::array:
      return "array";
    case TraceScanner::Form::object:
      return "object";
    default:
      return "none";
  }
}

// Printable on a terminal: control bytes and invalid UTF-8 become '?'.
std::string printable(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  const auto* p = reinterpret_cast<const unsigned char*>(name.data());
  std::size_t n = name.size();
  for (std::size_t i = 0; i < n;) {
    std::size_t len = utf8_sequence_length(p + i, n - i);
    if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
      out.push_back('?');
      ++i;
    } else {
      out.append(name.substr(i, len));
      i += len;
    }
  }
  return out.empty() ? "(no name)" : out;
}

// The names in the view's order, cut to its top.
std::vector<const NameStats*> ordered_names(const TraceStatsResult& stats, const StatsView& view) {
  std::vector<const NameStats*> rows;
  rows.reserve(stats.names.size());
  for (const NameStats& n : stats.names) rows.push_back(&n);
  auto key = [&](const NameStats* n) -> std::int64_t {
    switch (view.sort) {
      case StatsSort::total:
        return n->total;
      case StatsSort::count:
        return static_cast<std::int64_t>(n->count);
      case StatsSort::max:
        return n->max;
      default:
        return n->self;
    }
  };
  auto before = [&](const NameStats* a, const NameStats* b) {
    if (view.sort != StatsSort::name) {
      std::int64_t ka = key(a), kb = key(b);
      if (ka != kb) return ka > kb;
    }
    return a->name < b->name;
  };
  std::size_t shown = view.top == 0 ? rows.size() : std::min(view.top, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(shown), rows.end(),
                    before);
  rows.resize(shown);
  return rows;
}

// Processes by wall time, longest first, cut to the view's top.
std::vector<const ProcessStats*> ordered_processes(const TraceStatsResult& stats,
                                                   const StatsView& view) {
  std::vector<const ProcessStats*> rows;
  for (const ProcessStats& p : stats.processes) rows.push_back(&p);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const ProcessStats* a, const ProcessStats* b) { return a->wall > b->wall; });
  if (view.top != 0 && rows.size() > view.top) rows.resize(view.top);
  return rows;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Sampled functions in the view's order (self: self samples, total: total samples, name; count
// and max order them as self does), cut to limit (0: all). By self, only those with self
// samples: the callers of the hot ones are in the total order.
std::vector<const SampledFunctionStats*> ordered_functions(
    const std::vector<SampledFunctionStats>& functions, const StatsView& view, std::size_t limit) {
  const bool by_self = view.sort != StatsSort::total && view.sort != StatsSort::name;
  std::vector<const SampledFunctionStats*> rows;
  rows.reserve(functions.size());
  for (const SampledFunctionStats& f : functions)
    if (f.self > 0 || !by_self) rows.push_back(&f);
  auto before = [&](const SampledFunctionStats* a, const SampledFunctionStats* b) {
    if (view.sort == StatsSort::total && a->total != b->total) return a->total > b->total;
    if (view.sort != StatsSort::name) {
      if (a->self != b->self) return a->self > b->self;
      if (a->total != b->total) return a->total > b->total;
    }
    if (a->name != b->name) return a->name < b->name;
    return a->module < b->module;
  };
  std::size_t shown = limit == 0 ? rows.size() : std::min(limit, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(shown), rows.end(),
                    before);
  rows.resize(shown);
  return rows;
}

// Rows per process in the per-process part: at most this many, fewer with a smaller --top.
constexpr std::size_t kFunctionsPerProcess = 5;

std::size_t per_process_rows(const StatsView& view) {
  return view.top == 0 ? kFunctionsPerProcess : std::min(view.top, kFunctionsPerProcess);
}

// "41.2%": part of n, to a tenth of a percent.
std::string percent(std::uint64_t part, std::uint64_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%",
                n ? 100.0 * static_cast<double>(part) / static_cast<double>(n) : 0.0);
  return buf;
}

std::string sampled_rows(const std::vector<const SampledFunctionStats*>& rows, std::uint64_t n,
                         const char* indent) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%s%8s %8s %10s %10s  %s\n", indent, "Self%", "Total%", "Self",
                "Total", "Function  (module)");
  out += line;
  for (const SampledFunctionStats* f : rows) {
    std::snprintf(line, sizeof line, "%s%8s %8s %10" PRIu64 " %10" PRIu64 "  ", indent,
                  percent(f->self, n).c_str(), percent(f->total, n).c_str(), f->self, f->total);
    out += line;
    out += printable(f->name);
    if (!f->module.empty())
      out += "  (" + printable(f->module.substr(f->module.rfind('/') + 1)) + ")";
    out += "\n";
  }
  return out;
}

// The sampled stacks' part of the table: the functions of every process, then of the ones with
// the most samples when there are several.
std::string sampled_table(const SampleStats& sm, const StatsView& view) {
  std::string out;
  auto rows = ordered_functions(sm.functions, view, view.top);
  std::string title = view.sort == StatsSort::name    ? "name"
                      : view.sort == StatsSort::total ? "total samples"
                                                      : "self samples";
  out += "\nSampled functions by " + title + " (" + std::to_string(rows.size()) + " of " +
         plural(sm.functions.size(), "function", "functions") + "; " +
         plural(sm.samples, "sample", "samples");
  if (sm.weight > 0)
    out += ", " + format_duration(static_cast<std::int64_t>(sm.weight)) + " of CPU";
  out += "):\n";
  out += sampled_rows(rows, sm.samples, "");
  if (sm.processes_total < 2) return out;
  out += "\nSampled functions of the processes with the most samples (" +
         std::to_string(sm.processes.size()) + " of " + std::to_string(sm.processes_total) + "):\n";
  for (const SampledProcessStats& p : sm.processes) {
    out += "  " + (p.name.empty() ? std::string("-") : printable(p.name)) + ", pid " +
           std::to_string(p.pid) + ": " + plural(p.samples, "sample", "samples") + "\n";
    out +=
        sampled_rows(ordered_functions(p.functions, view, per_process_rows(view)), p.samples, "  ");
  }
  return out;
}

void function_rows_json(JsonWriter& json, const std::vector<const SampledFunctionStats*>& rows) {
  json.begin_array();
  for (const SampledFunctionStats* f : rows) {
    json.begin_object(true);
    json.member("name", f->name);
    json.member("module", f->module);
    json.member("self", f->self);
    json.member("total", f->total);
    json.member("self_weight_ns", f->self_weight);
    json.member("total_weight_ns", f->total_weight);
    json.end_object();
  }
  json.end_array();
}

}  // namespace

std::optional<StatsSort> parse_stats_sort(std::string_view word) {
  for (StatsSort s :
       {StatsSort::self, StatsSort::total, StatsSort::count, StatsSort::max, StatsSort::name})
    if (stats_sort_name(s) == word) return s;
  return std::nullopt;
}

std::string_view stats_sort_name(StatsSort sort) {
  switch (sort) {
    case StatsSort::total:
      return "total";
    case StatsSort::count:
      return "count";
    case StatsSort::max:
      return "max";
    case StatsSort::name:
      return "name";
    default:
      return "self";
  }
}

std::string format_duration(std::int64_t ns) {
  char buf[48];
  const double v = static_cast<double>(ns);
  const double a = v < 0 ? -v : v;
  if (a < 1e3)
    std::snprintf(buf, sizeof buf, "%" PRId64 " ns", ns);
  else if (a < 1e6)
    std::snprintf(buf, sizeof buf, "%.3f us", v / 1e3);
  else if (a < 1e9)
    std::snprintf(buf, sizeof buf, "%.3f ms", v / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.3f s", v / 1e9);
  return buf;
}

std::string format_stats_table(const TraceStatsResult& stats, const StatsView& view) {
  std::string out;
  char line[256];
  std::uint64_t events = stats.input.events;
  out += stats.path + ": " + plural(events, "event", "events") + " (" +
         std::string(form_name(stats.input.form)) + " form), " +
         plural(stats.processes.size(), "process", "processes") + ", " +
         plural(stats.threads, "thread", "threads");
  if (stats.has_time)
    out += ", " + format_duration(stats.end - stats.start) + " from first to last";
  out += "\n";
  const TraceSampleCounts& sc = stats.sampled.counts;
  if (events == 0 && stats.sampled.samples + sc.unknown_frame + sc.unplaced == 0) {
    out += "No events in this trace.\n";
    return out;
  }

  auto names = ordered_names(stats, view);
  if (names.empty()) {
    out += "\nNo slices (B/E or X events) in this trace.\n";
  } else {
    std::string title = view.sort == StatsSort::name
                            ? "name"
                            : std::string(stats_sort_name(view.sort)) +
                                  (view.sort == StatsSort::count ? "" : " time");
    out += "\nSlices by " + title + " (" + std::to_string(names.size()) + " of " +
           plural(stats.names.size(), "name", "names") + "):\n";
    std::snprintf(line, sizeof line, "%12s %12s %10s %12s  %s\n", "Self", "Total", "Count", "Max",
                  "Name");
    out += line;
    for (const NameStats* n : names) {
      std::snprintf(line, sizeof line, "%12s %12s %10" PRIu64 " %12s  ",
                    format_duration(n->self).c_str(), format_duration(n->total).c_str(), n->count,
                    format_duration(n->max).c_str());
      out += line;
      out += printable(n->name);
      out += "\n";
    }
  }

  auto procs = ordered_processes(stats, view);
  if (!procs.empty()) {
    out += "\nProcesses by wall time (" + std::to_string(procs.size()) + " of " +
           std::to_string(stats.processes.size()) + "):\n";
    std::snprintf(line, sizeof line, "%12s %12s %8s %8s %10s  %s\n", "Wall", "CPU", "Events",
                  "Threads", "PID", "Name");
    out += line;
    for (const ProcessStats* p : procs) {
      std::snprintf(line, sizeof line, "%12s %12s %8" PRIu64 " %8u %10" PRId64 "  ",
                    format_duration(p->wall).c_str(),
                    p->has_cpu ? format_duration(p->utime + p->stime).c_str() : "-", p->events,
                    p->threads, p->pid);
      out += line;
      out += p->name.empty() ? std::string("-") : printable(p->name);
      out += "\n";
    }
  }

  if (stats.sampled.samples > 0) out += sampled_table(stats.sampled, view);

  std::vector<std::string> notes;
  const SliceStack::Counts& c = stats.nesting;
  if (c.unmatched_ends)
    notes.push_back(plural(c.unmatched_ends, "E event", "E events") +
                    " without an open B (ignored)");
  if (c.unclosed_begins)
    notes.push_back(plural(c.unclosed_begins, "B event", "B events") +
                    " never ended (closed at the thread's last timestamp)");
  if (c.improper)
    notes.push_back(plural(c.improper, "slice", "slices") + " overlapping without nesting");
  if (c.approximate)
    notes.push_back(plural(c.approximate, "self time", "self times") + " approximate");
  if (stats.invalid)
    notes.push_back(plural(stats.invalid, "event", "events") +
                    " without ts (or X without dur) ignored");
  if (stats.input.replaced_bytes)
    notes.push_back(
        plural(stats.input.replaced_bytes, "invalid UTF-8 byte", "invalid UTF-8 bytes") +
        " read as '?'");
  if (stats.input.unclosed_array) notes.push_back("the array has no closing ']' (tolerated)");
  if (sc.unknown_frame)
    notes.push_back(plural(sc.unknown_frame, "sample", "samples") +
                    " naming no frame of stackFrames (ignored)");
  if (sc.unplaced)
    notes.push_back(plural(sc.unplaced, "sample", "samples") + " without ts, pid or tid (ignored)");
  if (sc.broken_parents)
    notes.push_back(plural(sc.broken_parents, "stack frame", "stack frames") +
                    " whose parent is unknown or in a cycle (taken as outermost)");
  if (!notes.empty()) {
    out += "\nNotes:\n";
    for (const std::string& n : notes) out += "  " + n + "\n";
  }
  return out;
}

std::string format_stats_json(const TraceStatsResult& stats, const StatsView& view) {
  std::string out;
  StringSink sink(out);
  {
    JsonWriter json(sink, 1 << 16);
    json.begin_object();
    json.member("file", stats.path);
    json.member("form", form_name(stats.input.form));
    json.member("gzip", stats.input.gzip);
    json.member("bytes", stats.input.bytes);
    json.member("events", stats.input.events);
    json.key("phases");
    json.begin_array();
    for (const auto& [ph, count] : stats.phases) {
      json.begin_object();
      json.member("ph", std::string_view(&ph, ph ? 1 : 0));
      json.member("count", count);
      json.end_object();
    }
    json.end_array();
    json.member("start_ns", stats.has_time ? stats.start : std::int64_t{0});
    json.member("end_ns", stats.has_time ? stats.end : std::int64_t{0});
    json.member("threads", stats.threads);
    json.member("sort", stats_sort_name(view.sort));
    json.member("top", static_cast<std::uint64_t>(view.top));
    json.member("names_total", static_cast<std::uint64_t>(stats.names.size()));
    json.key("names");
    json.begin_array();
    for (const NameStats* n : ordered_names(stats, view)) {
      json.begin_object(true);
      json.member("name", n->name);
      json.member("count", n->count);
      json.member("total_ns", n->total);
      json.member("self_ns", n->self);
      json.member("max_ns", n->max);
      json.end_object();
    }
    json.end_array();
    json.member("processes_total", static_cast<std::uint64_t>(stats.processes.size()));
    json.key("processes");
    json.begin_array();
    for (const ProcessStats* p : ordered_processes(stats, view)) {
      json.begin_object(true);
      json.member("pid", p->pid);
      json.member("name", p->name);
      json.member("wall_ns", p->wall);
      json.key("cpu_ns");
      if (p->has_cpu) {
        json.integer(p->utime + p->stime);
      } else {
        json.null();
      }
      json.key("utime_ns");
      if (p->has_cpu) {
        json.integer(p->utime);
      } else {
        json.null();
      }
      json.key("stime_ns");
      if (p->has_cpu) {
        json.integer(p->stime);
      } else {
        json.null();
      }
      json.member("events", p->events);
      json.member("threads", p->threads);
      json.end_object();
    }
    json.end_array();
    const SampleStats& sm = stats.sampled;
    json.key("samples");
    json.begin_object();
    json.member("count", sm.samples);
    json.member("weight_ns", sm.weight);
    json.member("stack_frames", sm.counts.frames);
    json.member("functions_total", static_cast<std::uint64_t>(sm.functions.size()));
    json.key("functions");
    function_rows_json(json, ordered_functions(sm.functions, view, view.top));
    json.member("processes_total", sm.processes_total);
    json.key("processes");
    json.begin_array();
    for (const SampledProcessStats& p : sm.processes) {
      json.begin_object(true);
      json.member("pid", p.pid);
      json.member("name", p.name);
      json.member("samples", p.samples);
      json.member("weight_ns", p.weight);
      json.member("functions_total", static_cast<std::uint64_t>(p.functions.size()));
      json.key("functions");
      function_rows_json(json, ordered_functions(p.functions, view, per_process_rows(view)));
      json.end_object();
    }
    json.end_array();
    json.end_object();
    json.key("problems");
    json.begin_object();
    json.member("unmatched_end", stats.nesting.unmatched_ends);
    json.member("unclosed_begin", stats.nesting.unclosed_begins);
    json.member("improper_nesting", stats.nesting.improper);
    json.member("approximate_self", stats.nesting.approximate);
    json.member("invalid_events", stats.invalid);
    json.member("invalid_utf8_bytes", stats.input.replaced_bytes);
    json.member("unclosed_array", stats.input.unclosed_array);
    json.member("samples_unknown_frame", stats.sampled.counts.unknown_frame);
    json.member("samples_unplaced", stats.sampled.counts.unplaced);
    json.member("stack_frames_broken", stats.sampled.counts.broken_parents);
    json.end_object();
    json.end_object();
    json.newline();
    json.flush();
  }
  return out;
}

}  // namespace viztrace::report
